//! Decoded pictures turned into packed RGB24 of the size the vision stage reads.
//!
//! A picture that keeps its size is converted in one swscale pass. A 4:2:0 picture (what
//! video codecs give) that shrinks is scaled in 4:2:0 first (swscale's vectorised planar
//! scalers) and then converted at the new size (its vectorised unscaled YUV to RGB
//! converter): asked to scale straight into RGB24, swscale takes its per-pixel C output path
//! instead, which cost 1.5 ms of a 512x512 frame's 2 ms (decoding included) on this machine,
//! against 0.3 ms for the two passes. The two give values within a level or two of each other
//! (they round the chroma at a different step). Other layouts (4:2:2, 4:4:4, RGB, grey: stills
//! and rare video) shrink in one pass, so that no colour detail is dropped.

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{self, Flags};
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;

/// Scales and converts one picture format and size to packed RGB24 at one output size.
pub(crate) struct RgbScaler {
    source: (Pixel, u32, u32),
    passes: Passes,
    out: frame::Video,
}

enum Passes {
    /// One pass: the conversion, and the scaling of a picture that is not 4:2:0.
    Convert(scaling::Context),
    /// A 4:2:0 picture that shrinks: scaled in 4:2:0, then converted.
    ShrinkThenConvert {
        shrink: scaling::Context,
        yuv: frame::Video,
        convert: scaling::Context,
    },
}

impl RgbScaler {
    /// A scaler from `format` at `width` x `height` to RGB24 at `out_w` x `out_h`.
    pub(crate) fn new(
        format: Pixel,
        width: u32,
        height: u32,
        out_w: u32,
        out_h: u32,
    ) -> Result<Self, ffmpeg::Error> {
        let passes = if (out_w, out_h) == (width, height) || !subsampled_both_ways(format) {
            Passes::Convert(scaling::Context::get(
                format,
                width,
                height,
                Pixel::RGB24,
                out_w,
                out_h,
                Flags::BILINEAR,
            )?)
        } else {
            let middle = intermediate(format);
            Passes::ShrinkThenConvert {
                shrink: scaling::Context::get(
                    format,
                    width,
                    height,
                    middle,
                    out_w,
                    out_h,
                    Flags::BILINEAR,
                )?,
                yuv: frame::Video::empty(),
                convert: scaling::Context::get(
                    middle,
                    out_w,
                    out_h,
                    Pixel::RGB24,
                    out_w,
                    out_h,
                    Flags::BILINEAR,
                )?,
            }
        };
        Ok(Self {
            source: (format, width, height),
            passes,
            out: frame::Video::empty(),
        })
    }

    /// Whether this scaler reads pictures of `format` at `width` x `height`.
    pub(crate) fn reads(&self, format: Pixel, width: u32, height: u32) -> bool {
        self.source == (format, width, height)
    }

    /// `picture` as packed RGB24 rows (no padding): (width, height, bytes).
    pub(crate) fn run(
        &mut self,
        picture: &frame::Video,
    ) -> Result<(u32, u32, Vec<u8>), ffmpeg::Error> {
        match &mut self.passes {
            Passes::Convert(convert) => convert.run(picture, &mut self.out)?,
            Passes::ShrinkThenConvert {
                shrink,
                yuv,
                convert,
            } => {
                shrink.run(picture, yuv)?;
                convert.run(yuv, &mut self.out)?;
            }
        }
        Ok((self.out.width(), self.out.height(), packed_rows(&self.out)))
    }
}

/// An RGB24 frame's rows without their padding.
fn packed_rows(rgb: &frame::Video) -> Vec<u8> {
    let (stride, data) = (rgb.stride(0), rgb.data(0));
    let row = rgb.width() as usize * 3;
    let mut packed = Vec::with_capacity(row * rgb.height() as usize);
    for y in 0..rgb.height() as usize {
        packed.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    packed
}

/// Whether `format` carries its chroma at half resolution or less both ways (4:2:0 and the
/// like): scaled in 4:2:0, such a picture keeps all the colour detail it had. Others (4:2:2,
/// 4:4:4, RGB, grey: stills, rare video) are scaled in one pass, as before.
fn subsampled_both_ways(format: Pixel) -> bool {
    format
        .descriptor()
        .is_some_and(|d| d.nb_components() >= 3 && d.log2_chroma_w() >= 1 && d.log2_chroma_h() >= 1)
}

/// The 4:2:0 layout a picture is scaled in: full-range ("JPEG") sources keep their range.
fn intermediate(format: Pixel) -> Pixel {
    match format {
        Pixel::YUVJ420P => Pixel::YUVJ420P,
        _ => Pixel::YUV420P,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` x `h` YUV 4:2:0 picture with smooth gradients and a sharp coloured edge.
    fn picture(format: Pixel, w: u32, h: u32) -> frame::Video {
        let mut f = frame::Video::new(format, w, h);
        for plane in 0..3 {
            let (pw, ph) = (f.plane_width(plane) as usize, f.plane_height(plane) as usize);
            let stride = f.stride(plane);
            let data = f.data_mut(plane);
            for y in 0..ph {
                for x in 0..pw {
                    let v = match plane {
                        0 => (x * 200 / pw + y * 40 / ph) as u8 + 16,
                        1 if x > pw / 2 => 200,
                        1 => 60,
                        _ => (y * 180 / ph) as u8 + 40,
                    };
                    data[y * stride + x] = v;
                }
            }
        }
        f
    }

    fn one_pass(f: &frame::Video, ow: u32, oh: u32) -> Vec<u8> {
        let mut ctx = scaling::Context::get(
            f.format(),
            f.width(),
            f.height(),
            Pixel::RGB24,
            ow,
            oh,
            Flags::BILINEAR,
        )
        .unwrap();
        let mut out = frame::Video::empty();
        ctx.run(f, &mut out).unwrap();
        packed_rows(&out)
    }

    #[test]
    fn a_shrunk_picture_matches_swscales_one_pass_within_a_few_levels() {
        crate::decode::init_ffmpeg();
        for format in [Pixel::YUV420P, Pixel::YUVJ420P, Pixel::YUVA420P] {
            let src = picture(format, 720, 1280);
            let mut scaler = RgbScaler::new(format, 720, 1280, 270, 480).unwrap();
            assert!(scaler.reads(format, 720, 1280));
            assert!(!scaler.reads(format, 720, 1278));
            let (w, h, rgb) = scaler.run(&src).unwrap();
            assert_eq!((w, h, rgb.len()), (270, 480, 270 * 480 * 3));
            let reference = one_pass(&src, 270, 480);
            let diffs: Vec<u32> = rgb
                .iter()
                .zip(&reference)
                .map(|(a, b)| u32::from(a.abs_diff(*b)))
                .collect();
            let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
            // Away from the chroma edge the two agree to a level or two.
            assert!(mean < 1.5, "{format:?}: mean difference {mean}");
            let rows_off_edge = diffs
                .chunks(270 * 3)
                .map(|row| row[..100 * 3].iter().max().copied().unwrap_or(0))
                .max()
                .unwrap();
            assert!(rows_off_edge <= 6, "{format:?}: {rows_off_edge}");
        }
    }

    #[test]
    fn a_picture_that_keeps_its_size_or_its_chroma_is_converted_as_before() {
        crate::decode::init_ffmpeg();
        let src = picture(Pixel::YUV420P, 360, 288);
        let mut scaler = RgbScaler::new(Pixel::YUV420P, 360, 288, 360, 288).unwrap();
        let (w, h, rgb) = scaler.run(&src).unwrap();
        assert_eq!((w, h), (360, 288));
        assert_eq!(rgb, one_pass(&src, 360, 288));
        // 4:2:2, 4:4:4 and RGB sources shrink in one pass: no colour detail is dropped.
        for format in [Pixel::YUV422P, Pixel::YUV444P, Pixel::YUVJ422P] {
            let src = picture(format, 720, 1280);
            let mut scaler = RgbScaler::new(format, 720, 1280, 270, 480).unwrap();
            assert_eq!(scaler.run(&src).unwrap().2, one_pass(&src, 270, 480), "{format:?}");
        }
        let mut rgb_src = frame::Video::new(Pixel::RGB24, 640, 480);
        let stride = rgb_src.stride(0);
        for (i, v) in rgb_src.data_mut(0).iter_mut().enumerate() {
            *v = ((i % stride) * 7 / 5 + i / stride) as u8;
        }
        let mut scaler = RgbScaler::new(Pixel::RGB24, 640, 480, 480, 360).unwrap();
        assert_eq!(scaler.run(&rgb_src).unwrap().2, one_pass(&rgb_src, 480, 360));
    }
}
