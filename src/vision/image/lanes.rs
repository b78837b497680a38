//! The bilinear crop eight columns at a time (AVX2, detected at run time), with exactly the
//! values of the one-pixel-at-a-time path: the same products and sums in the same order,
//! multiplies and adds kept apart (no fused multiply-add), the same truncation. A block of
//! eight columns is taken this way only when all its four-neighbourhoods lie inside the image;
//! any other block (at the frame's edge, outside it, not a number) goes one pixel at a time.

use super::{RgbView, Row};

/// The crop's columns laid out for vector loads, for one image.
pub(super) struct Lanes {
    #[cfg(target_arch = "x86_64")]
    dx_cos: Vec<f32>,
    #[cfg(target_arch = "x86_64")]
    dx_sin: Vec<f32>,
}

impl Lanes {
    /// `Some` where the processor has AVX2, the image's sizes match its bytes, and its byte
    /// offsets fit the gathers' 32-bit indices.
    pub(super) fn new(img: &RgbView, columns: &[(f32, f32)]) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let fits = i32::try_from(img.data.len()).is_ok()
                && img.width.checked_mul(img.height).and_then(|n| n.checked_mul(3))
                    == Some(img.data.len())
                && img.width >= 2
                && img.height >= 2
                // The limits are compared as f32: exact up to 2^24.
                && img.width.max(img.height) <= 1 << 24;
            (fits && columns.len() >= 8 && std::arch::is_x86_feature_detected!("avx2")).then(
                || Self {
                    dx_cos: columns.iter().map(|c| c.0).collect(),
                    dx_sin: columns.iter().map(|c| c.1).collect(),
                },
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (img, columns);
            None
        }
    }

    /// Samples one output row into `r`, `g`, `b` (each `columns.len()` long).
    pub(super) fn row(
        &self,
        img: &RgbView,
        row: &Row,
        columns: &[(f32, f32)],
        r: &mut [f32],
        g: &mut [f32],
        b: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            let n = columns.len().min(r.len()).min(g.len()).min(b.len());
            let mut start = 0;
            while start + 8 <= n {
                let end = start + 8;
                // SAFETY: `new` checked AVX2 and that `img.data` holds width * height * 3
                // bytes (at least 2 x 2 pixels) with offsets that fit an i32; the slices
                // passed hold eight values each.
                let inside = unsafe {
                    eight(
                        img,
                        row,
                        &self.dx_cos[start..end],
                        &self.dx_sin[start..end],
                        &mut r[start..end],
                        &mut g[start..end],
                        &mut b[start..end],
                    )
                };
                if !inside {
                    row.sample(
                        img,
                        &columns[start..end],
                        &mut r[start..end],
                        &mut g[start..end],
                        &mut b[start..end],
                    );
                }
                start = end;
            }
            row.sample(
                img,
                &columns[start..],
                &mut r[start..],
                &mut g[start..],
                &mut b[start..],
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        row.sample(img, columns, r, g, b);
    }
}

/// Eight columns of one row; false (nothing written) when any of their neighbourhoods is not
/// wholly inside the image.
///
/// # Safety
/// AVX2 must be available; `img.data` must hold `width * height * 3` bytes, `width` and
/// `height` at least 2, its length must fit an i32; every slice must hold eight values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn eight(
    img: &RgbView,
    row: &Row,
    dx_cos: &[f32],
    dx_sin: &[f32],
    r: &mut [f32],
    g: &mut [f32],
    b: &mut [f32],
) -> bool {
    use std::arch::x86_64::*;
    debug_assert!(dx_cos.len() == 8 && dx_sin.len() == 8 && r.len() == 8);
    debug_assert!(g.len() == 8 && b.len() == 8);
    let splat = _mm256_set1_ps;
    let dc = _mm256_loadu_ps(dx_cos.as_ptr());
    let ds = _mm256_loadu_ps(dx_sin.as_ptr());
    // x = cx + dx_cos - dy_sin, y = cy + dx_sin + dy_cos, as `Row::sample` adds them.
    let x = _mm256_sub_ps(_mm256_add_ps(splat(row.cx), dc), splat(row.dy_sin));
    let y = _mm256_add_ps(_mm256_add_ps(splat(row.cy), ds), splat(row.dy_cos));
    let fx = _mm256_sub_ps(x, splat(0.5));
    let fy = _mm256_sub_ps(y, splat(0.5));
    // `RgbView::sample`'s fast path: 0 <= fx < width - 1 and 0 <= fy < height - 1 (false
    // for NaN), the limits converted as it converts them.
    let zero = _mm256_setzero_ps();
    let inside = _mm256_and_ps(
        _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(fx, zero),
            _mm256_cmp_ps::<_CMP_GE_OQ>(fy, zero),
        ),
        _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_LT_OQ>(fx, splat((img.width - 1) as f32)),
            _mm256_cmp_ps::<_CMP_LT_OQ>(fy, splat((img.height - 1) as f32)),
        ),
    );
    if _mm256_movemask_ps(inside) != 0xff {
        return false;
    }
    // Non-negative and below the limits: truncation is the floor, as `fx as usize` there.
    let x0 = _mm256_cvttps_epi32(fx);
    let y0 = _mm256_cvttps_epi32(fy);
    let ax = _mm256_sub_ps(fx, _mm256_cvtepi32_ps(x0));
    let ay = _mm256_sub_ps(fy, _mm256_cvtepi32_ps(y0));
    let one = splat(1.0);
    let (bx, by) = (_mm256_sub_ps(one, ax), _mm256_sub_ps(one, ay));
    let (w00, w10) = (_mm256_mul_ps(bx, by), _mm256_mul_ps(ax, by));
    let (w01, w11) = (_mm256_mul_ps(bx, ay), _mm256_mul_ps(ax, ay));
    // Byte offsets of each top-left neighbour and of the pixel below it. The right-hand
    // neighbours are read as the 4 bytes starting one byte before them (shifted down by 8
    // below), so that no read passes the last pixel of the image.
    let width3 = _mm256_set1_epi32((img.width * 3) as i32);
    let three = _mm256_set1_epi32(3);
    let top = _mm256_mullo_epi32(
        _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(img.width as i32)), x0),
        three,
    );
    let bottom = _mm256_add_epi32(top, width3);
    let two = _mm256_set1_epi32(2);
    let base = img.data.as_ptr() as *const i32;
    let tl = _mm256_i32gather_epi32::<1>(base, top);
    let tr = _mm256_srli_epi32::<8>(_mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(top, two)));
    let bl = _mm256_i32gather_epi32::<1>(base, bottom);
    let br =
        _mm256_srli_epi32::<8>(_mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(bottom, two)));
    let (k, offset) = (splat(row.k), splat(row.offset));
    let weights = [w00, w10, w01, w11];
    let pixels = [tl, tr, bl, br];
    _mm256_storeu_ps(r.as_mut_ptr(), channel::<0>(pixels, weights, k, offset));
    _mm256_storeu_ps(g.as_mut_ptr(), channel::<8>(pixels, weights, k, offset));
    _mm256_storeu_ps(b.as_mut_ptr(), channel::<16>(pixels, weights, k, offset));
    true
}

/// One channel (the byte at `SHIFT` bits) of eight bilinear samples, scaled:
/// `(((tl * w00 + tr * w10) + bl * w01) + br * w11) * k + offset`.
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn channel<const SHIFT: i32>(
    pixels: [std::arch::x86_64::__m256i; 4],
    weights: [std::arch::x86_64::__m256; 4],
    k: std::arch::x86_64::__m256,
    offset: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let byte = _mm256_set1_epi32(0xff);
    let mut sum = _mm256_setzero_ps();
    for (i, (p, w)) in pixels.into_iter().zip(weights).enumerate() {
        let value = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32::<SHIFT>(p), byte));
        let term = _mm256_mul_ps(value, w);
        // The first term alone, as the one-pixel path starts from it (0 + a is a, but -0.0
        // would not survive the addition).
        sum = if i == 0 { term } else { _mm256_add_ps(sum, term) };
    }
    _mm256_add_ps(_mm256_mul_ps(sum, k), offset)
}
