//! Sampling model inputs out of RGB frames: a square region of interest, possibly rotated and
//! partly outside the frame, resampled bilinearly into a planar (NCHW) float tensor.

mod lanes;

/// A borrowed interleaved RGB image.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes, row-major.
    pub data: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// Wraps a buffer, checking its length.
    pub fn new(width: usize, height: usize, data: &'a [u8]) -> Option<Self> {
        (width > 0 && height > 0 && data.len() == width * height * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Bilinear sample of the three channels at (x, y) in pixel coordinates (pixel centres at
    /// +0.5); outside the image reads as black.
    #[inline(always)]
    pub(crate) fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let fx = x - 0.5;
        let fy = y - 0.5;
        // All four neighbours inside (floor(fx) in 0..=width-2, likewise y; false for NaN):
        // the same sums in the same order, without the checks. Truncation is the floor of
        // these non-negative values.
        if fx >= 0.0
            && fy >= 0.0
            && fx < self.width.saturating_sub(1) as f32
            && fy < self.height.saturating_sub(1) as f32
        {
            let (x0, y0) = (fx as usize, fy as usize);
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            let i = (y0 * self.width + x0) * 3;
            let j = i + self.width * 3;
            let (top, bottom) = (&self.data[i..i + 6], &self.data[j..j + 6]);
            let (w00, w10) = ((1.0 - ax) * (1.0 - ay), ax * (1.0 - ay));
            let (w01, w11) = ((1.0 - ax) * ay, ax * ay);
            // 0 + a*w00 is a*w00 exactly (every term is finite and non-negative).
            let channel = |c: usize| {
                f32::from(top[c]) * w00
                    + f32::from(top[3 + c]) * w10
                    + f32::from(bottom[c]) * w01
                    + f32::from(bottom[3 + c]) * w11
            };
            return [channel(0), channel(1), channel(2)];
        }
        let (x0, y0) = (floor(fx), floor(fy));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let (w, h) = (self.width as i64, self.height as i64);
        let mut out = [0f32; 3];
        for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
            let yi = y0 + dy;
            if yi < 0 || yi >= h || wy == 0.0 {
                continue;
            }
            for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
                let xi = x0 + dx;
                if xi < 0 || xi >= w || wx == 0.0 {
                    continue;
                }
                let i = (yi as usize * self.width + xi as usize) * 3;
                let weight = wx * wy;
                out[0] += f32::from(self.data[i]) * weight;
                out[1] += f32::from(self.data[i + 1]) * weight;
                out[2] += f32::from(self.data[i + 2]) * weight;
            }
        }
        out
    }

    /// Luminance (Rec. 601, 0..255) of the bilinear sample at (x, y) (see `sample`).
    #[inline]
    pub(crate) fn luminance(&self, x: f32, y: f32) -> f32 {
        let [r, g, b] = self.sample(x, y);
        0.299 * r + 0.587 * g + 0.114 * b
    }
}

/// `v.floor()` as an integer, without the libm call that `f32::floor` compiles to on baseline
/// x86-64 (it ran once per sampled pixel). Values beyond the i64 range saturate, which the
/// bounds checks then treat as outside the image.
#[inline]
fn floor(v: f32) -> i64 {
    let t = v as i64;
    if (t as f32) > v {
        t - 1
    } else {
        t
    }
}

/// A square region of the image: centre, side and rotation (radians, counter-clockwise as seen
/// in the image, y pointing down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    /// Centre x, pixels.
    pub cx: f32,
    /// Centre y, pixels.
    pub cy: f32,
    /// Side, pixels.
    pub side: f32,
    /// Rotation, radians.
    pub angle: f32,
}

impl Roi {
    /// The square centred between two points, levelled on the line through them, with a side
    /// of `scale` times their distance (in the image plane), at least `min_side`.
    pub fn spanning(a: [f32; 3], b: [f32; 3], scale: f32, min_side: f32) -> Self {
        let width = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        Self {
            cx: (a[0] + b[0]) / 2.0,
            cy: (a[1] + b[1]) / 2.0,
            side: (width * scale).max(min_side),
            angle: (b[1] - a[1]).atan2(b[0] - a[0]),
        }
    }

    /// Maps a point in the ROI's normalised frame (0..1 both ways, upright) to image pixels.
    pub fn to_image(self, u: f32, v: f32) -> (f32, f32) {
        let (dx, dy) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        let (s, c) = self.angle.sin_cos();
        (self.cx + dx * c - dy * s, self.cy + dx * s + dy * c)
    }
}

/// Samples `roi` into a `size` x `size` planar RGB tensor, each value `v / 255 * scale + offset`.
pub fn sample_roi(
    img: &RgbView,
    roi: &Roi,
    size: usize,
    scale: f32,
    offset: f32,
    out: &mut Vec<f32>,
) {
    sample_roi_flipped(img, roi, size, scale, offset, false, out);
}

/// Like `sample_roi`, optionally mirrored left-right (models trained on one eye read the other
/// eye mirrored).
pub fn sample_roi_flipped(
    img: &RgbView,
    roi: &Roi,
    size: usize,
    scale: f32,
    offset: f32,
    mirror: bool,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(3 * size * size, 0.0);
    if size == 0 {
        return;
    }
    let plane = size * size;
    let k = scale / 255.0;
    let grid = CropGrid::new(roi, size, mirror);
    let (red, rest) = out.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    let rows = red
        .chunks_exact_mut(size)
        .zip(green.chunks_exact_mut(size))
        .zip(blue.chunks_exact_mut(size));
    let lanes = lanes::Lanes::new(img, &grid.columns);
    for (j, ((r, g), b)) in rows.enumerate() {
        let row = grid.row(j, k, offset);
        match &lanes {
            // Eight columns at a time where the processor can (the same values).
            Some(lanes) => lanes.row(img, &row, &grid.columns, r, g, b),
            None => row.sample(img, &grid.columns, r, g, b),
        }
    }
}

/// Where a `size` x `size` crop of a region falls in the image: `Roi::to_image`, with the
/// rotation's sine and cosine taken once and each product taken once per column or row (the
/// same values, added in the same order).
struct CropGrid {
    /// Each column's rotated offset from the centre: (dx cos, dx sin).
    columns: Vec<(f32, f32)>,
    roi: Roi,
    sin: f32,
    cos: f32,
    step: f32,
}

impl CropGrid {
    /// The grid of `roi` at `size` columns and rows, mirrored left-right when asked.
    fn new(roi: &Roi, size: usize, mirror: bool) -> Self {
        let step = 1.0 / size as f32;
        let (sin, cos) = roi.angle.sin_cos();
        let columns = (0..size)
            .map(|i| {
                let u = (i as f32 + 0.5) * step;
                let u = if mirror { 1.0 - u } else { u };
                let dx = (u - 0.5) * roi.side;
                (dx * cos, dx * sin)
            })
            .collect();
        Self {
            columns,
            roi: *roi,
            sin,
            cos,
            step,
        }
    }

    /// Row `j`, its values scaled `v * k + offset`.
    fn row(&self, j: usize, k: f32, offset: f32) -> Row {
        let dy = ((j as f32 + 0.5) * self.step - 0.5) * self.roi.side;
        Row {
            cx: self.roi.cx,
            cy: self.roi.cy,
            dy_sin: dy * self.sin,
            dy_cos: dy * self.cos,
            k,
            offset,
        }
    }
}

/// One output row of a crop: where it lies in the image and how its values are scaled.
struct Row {
    cx: f32,
    cy: f32,
    dy_sin: f32,
    dy_cos: f32,
    k: f32,
    offset: f32,
}

impl Row {
    /// Samples the columns `columns` (each column's rotated offset) into `r`, `g`, `b`, one
    /// pixel at a time.
    fn sample(
        &self,
        img: &RgbView,
        columns: &[(f32, f32)],
        r: &mut [f32],
        g: &mut [f32],
        b: &mut [f32],
    ) {
        let pixels = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut());
        for (((r, g), b), (dx_cos, dx_sin)) in pixels.zip(columns) {
            let (x, y) = (self.cx + dx_cos - self.dy_sin, self.cy + dx_sin + self.dy_cos);
            let [sr, sg, sb] = img.sample(x, y);
            *r = sr * self.k + self.offset;
            *g = sg * self.k + self.offset;
            *b = sb * self.k + self.offset;
        }
    }
}

/// Standard deviation of luminance (0..255) over an `n` x `n` grid inside `roi`: how much
/// texture a region has (an eye, with its white, iris and lashes, has plenty; a hand or a
/// bar covering it has little).
pub fn luminance_spread(img: &RgbView, roi: &Roi, n: usize) -> f32 {
    let mut values = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let (x, y) = roi.to_image((i as f32 + 0.5) / n as f32, (j as f32 + 0.5) / n as f32);
            values.push(img.luminance(x, y));
        }
    }
    let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / values.len().max(1) as f32)
        .sqrt()
}

/// A `n` x `n` luminance thumbnail of the whole image (0..255).
pub fn thumbnail(img: &RgbView, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let x = (i as f32 + 0.5) / n as f32 * img.width as f32;
            let y = (j as f32 + 0.5) / n as f32 * img.height as f32;
            out.push(img.luminance(x, y));
        }
    }
    out
}

/// Letterboxes the whole image into a `size` x `size` planar tensor (aspect kept, black bars);
/// returns the ROI used, so that model coordinates map back with `Roi::to_image`.
pub fn letterbox(img: &RgbView, size: usize, scale: f32, offset: f32, out: &mut Vec<f32>) -> Roi {
    let roi = Roi {
        cx: img.width as f32 / 2.0,
        cy: img.height as f32 / 2.0,
        side: img.width.max(img.height) as f32,
        angle: 0.0,
    };
    sample_roi(img, &roi, size, scale, offset, out);
    roi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_maps_corners_and_rotates_about_its_centre() {
        let roi = Roi {
            cx: 50.0,
            cy: 40.0,
            side: 20.0,
            angle: 0.0,
        };
        assert_eq!(roi.to_image(0.0, 0.0), (40.0, 30.0));
        assert_eq!(roi.to_image(1.0, 1.0), (60.0, 50.0));
        let quarter = Roi {
            angle: std::f32::consts::FRAC_PI_2,
            ..roi
        };
        let (x, y) = quarter.to_image(1.0, 0.5);
        assert!((x - 50.0).abs() < 1e-4 && (y - 50.0).abs() < 1e-4);
    }

    #[test]
    fn sampling_reads_pixels_and_pads_with_black() {
        // A 4x2 image, red 200 everywhere, letterboxed into 4x4: rows 0 and 3 fall outside.
        let data: Vec<u8> = (0..8).flat_map(|_| [200u8, 0, 0]).collect();
        let img = RgbView::new(4, 2, &data).unwrap();
        let mut out = Vec::new();
        let roi = letterbox(&img, 4, 1.0, 0.0, &mut out);
        assert_eq!(roi.side, 4.0);
        assert_eq!(out.len(), 3 * 16);
        let red = |i: usize, j: usize| out[j * 4 + i];
        assert_eq!(red(0, 0), 0.0);
        assert!((red(1, 1) - 200.0 / 255.0).abs() < 1e-6);
        assert!((red(2, 2) - 200.0 / 255.0).abs() < 1e-6);
        assert_eq!(red(3, 3), 0.0);
        // Green is zero everywhere; scale and offset apply: -1..1 for the detector.
        assert!(out[16..32].iter().all(|v| *v == 0.0));
        letterbox(&img, 4, 2.0, -1.0, &mut out);
        assert_eq!(out[0], -1.0);
        assert!(RgbView::new(2, 2, &data[..6]).is_none());
        // The fields are public: a view built without `new`, even empty, reads as black.
        for (width, height) in [(0, 0), (1, 1), (0, 5)] {
            let bare = RgbView {
                width,
                height,
                data: &data[..3 * width * height],
            };
            // One pixel: its share of the bilinear weights (0.8 * 0.9); none: black.
            let want = if width == 1 { [200.0 * 0.8 * 0.9, 0.0, 0.0] } else { [0.0; 3] };
            let got = bare.sample(0.7, 0.6);
            assert!((got[0] - want[0]).abs() < 1e-3 && got[1..] == want[1..], "{got:?}");
        }
    }

    /// The bilinear sample as first written (every neighbour checked): the fast path must give
    /// exactly the same numbers, so that no model input changes.
    fn reference_sample(img: &RgbView, x: f32, y: f32) -> [f32; 3] {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - x0, fy - y0);
        let mut out = [0f32; 3];
        for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
            for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
                let (xi, yi) = (x0 as i64 + dx, y0 as i64 + dy);
                if xi < 0 || yi < 0 || xi >= img.width as i64 || yi >= img.height as i64 {
                    continue;
                }
                if wx == 0.0 || wy == 0.0 {
                    continue;
                }
                let i = (yi as usize * img.width + xi as usize) * 3;
                for (c, o) in out.iter_mut().enumerate() {
                    *o += f32::from(img.data[i + c]) * (wx * wy);
                }
            }
        }
        out
    }

    #[test]
    fn roi_crops_give_exactly_the_per_pixel_mapping_values() {
        let (w, h) = (61, 47);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 89 % 253) as u8).collect();
        let img = RgbView::new(w, h, &data).unwrap();
        let rois = [
            Roi { cx: 30.2, cy: 20.7, side: 33.3, angle: 0.0 },
            Roi { cx: 25.0, cy: 30.0, side: 41.9, angle: 0.37 },
            // Partly outside the frame.
            Roi { cx: 5.5, cy: 44.0, side: 30.0, angle: -1.2 },
        ];
        let size = 17;
        for roi in &rois {
            for mirror in [false, true] {
                let mut out = Vec::new();
                sample_roi_flipped(&img, roi, size, 2.0, -1.0, mirror, &mut out);
                for j in 0..size {
                    for i in 0..size {
                        let step = 1.0 / size as f32;
                        let u = (i as f32 + 0.5) * step;
                        let u = if mirror { 1.0 - u } else { u };
                        let (x, y) = roi.to_image(u, (j as f32 + 0.5) * step);
                        let want = reference_sample(&img, x, y).map(|v| v * (2.0 / 255.0) - 1.0);
                        let at = j * size + i;
                        let got = [out[at], out[size * size + at], out[2 * size * size + at]];
                        assert_eq!(got, want, "{roi:?} mirror {mirror} at {i},{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn crops_eight_columns_at_a_time_give_exactly_the_one_pixel_values() {
        // A frame-sized image with real-looking texture; crops of the models' sizes (and one
        // that leaves a remainder), level, rotated, mirrored, at and beyond the edges.
        let (w, h) = (480, 270);
        let data: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i * 2_654_435_761_usize) >> 13) as u8 / 2 + (i % (w * 3) / 12) as u8)
            .collect();
        let img = RgbView::new(w, h, &data).unwrap();
        let columns = [(0.0f32, 0.0f32); 8];
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            lanes::Lanes::new(&img, &columns).is_some(),
            std::arch::is_x86_feature_detected!("avx2")
        );
        // A view too wide for exact f32 limits, or whose sizes do not match its bytes (its
        // fields are public), is never gathered from.
        let long: Vec<u8> = vec![0; (1 << 24) * 2 * 3 + 6];
        let too_wide = RgbView::new((1 << 24) + 1, 2, &long).unwrap();
        assert!(lanes::Lanes::new(&too_wide, &columns).is_none());
        for (width, height) in [(w, h + 1), (w + 1, h), (usize::MAX / 2, 6)] {
            let wrong = RgbView { width, height, data: &data };
            assert!(lanes::Lanes::new(&wrong, &columns).is_none(), "{width}x{height}");
        }
        let mut checked = 0;
        for (n, size) in [192, 64, 224, 21].into_iter().enumerate() {
            for step in 0..24 {
                let t = (step * 7 + n) as f32;
                let roi = Roi {
                    cx: -40.0 + t * 23.7,
                    cy: -20.0 + (t * 13.3) % 320.0,
                    side: 60.0 + (t * 31.0) % 260.0,
                    angle: (t * 0.41) % 6.3 - 3.15,
                };
                for mirror in [false, true] {
                    let mut out = Vec::new();
                    sample_roi_flipped(&img, &roi, size, 1.0, 0.0, mirror, &mut out);
                    let grid = CropGrid::new(&roi, size, mirror);
                    let plane = size * size;
                    for j in 0..size {
                        let row = grid.row(j, 1.0 / 255.0, 0.0);
                        let (mut r, mut g, mut b) = (vec![0.0; size], vec![0.0; size], vec![0.0; size]);
                        row.sample(&img, &grid.columns, &mut r, &mut g, &mut b);
                        let at = j * size;
                        assert_eq!(&out[at..at + size], &r[..], "{roi:?} {mirror} row {j}");
                        assert_eq!(&out[plane + at..plane + at + size], &g[..]);
                        assert_eq!(&out[2 * plane + at..2 * plane + at + size], &b[..]);
                        checked += size;
                    }
                }
            }
        }
        assert!(checked > 2_000_000, "{checked}");
    }

    #[test]
    fn the_fast_bilinear_path_gives_exactly_the_reference_values() {
        let (w, h) = (37, 23);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 97 % 251) as u8).collect();
        let img = RgbView::new(w, h, &data).unwrap();
        for k in 0..4000 {
            let x = (k % 89) as f32 * 0.457 - 1.3;
            let y = (k / 89) as f32 * 0.561 - 1.1;
            assert_eq!(img.sample(x, y), reference_sample(&img, x, y), "at {x},{y}");
        }
    }
}
