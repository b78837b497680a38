//! Thumbnails for the audit report: the frames nearest a few moments of a video (the detected
//! action peaks), small, as BMP files (a format every browser shows and that needs no encoder
//! library).

use std::path::Path;

use crossbeam_channel::bounded;

use crate::decode::{DecodeConfig, DecodeError, Frame, MediaDecoder};

/// Longest side of a thumbnail.
pub const THUMB_SIDE: u32 = 160;

/// The decoded frames nearest each of `times` (seconds), in the order of `times`; one pass
/// over the video, keeping only the current best frame per time.
pub fn frames_at(video: &Path, times: &[f64]) -> Result<Vec<Frame>, DecodeError> {
    if times.is_empty() {
        return Ok(Vec::new());
    }
    let (tx, rx) = bounded::<Frame>(4);
    let config = DecodeConfig {
        frame_max_side: THUMB_SIDE,
        max_fps: 15.0,
        audio: false,
        ..DecodeConfig::default()
    };
    let path = video.to_path_buf();
    let decoding = std::thread::spawn(move || {
        MediaDecoder::open(&path, config).and_then(|d| d.run(Some(tx), None))
    });
    let mut best: Vec<Option<Frame>> = vec![None; times.len()];
    for frame in rx.iter() {
        for (slot, t) in best.iter_mut().zip(times) {
            let closer = slot
                .as_ref()
                .is_none_or(|b| (frame.pts - t).abs() < (b.pts - t).abs());
            if closer {
                *slot = Some(frame.clone());
            }
        }
    }
    decoding.join().unwrap_or_else(|_| {
        Err(DecodeError::NoStreams {
            path: video.to_path_buf(),
        })
    })?;
    Ok(best.into_iter().flatten().collect())
}

/// A 24-bit uncompressed BMP of an RGB frame.
pub fn bmp(frame: &Frame) -> Vec<u8> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let row = (w * 3).div_ceil(4) * 4;
    let size = 54 + row * h;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&(w as i32).to_le_bytes());
    out.extend_from_slice(&(h as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0u8; 24]);
    for y in (0..h).rev() {
        let start = out.len();
        for x in 0..w {
            let i = (y * w + x) * 3;
            out.extend_from_slice(&[frame.rgb[i + 2], frame.rgb[i + 1], frame.rgb[i]]);
        }
        out.resize(start + row, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmp_rows_are_padded_bottom_up_bgr() {
        let f = Frame {
            pts: 0.0,
            width: 1,
            height: 2,
            rgb: vec![255, 0, 0, 0, 0, 255],
        };
        let b = bmp(&f);
        assert_eq!(&b[..2], b"BM");
        assert_eq!(b.len(), 54 + 4 * 2);
        // Bottom row (blue) first, as BGR, padded to 4 bytes.
        assert_eq!(&b[54..58], &[255, 0, 0, 0]);
        assert_eq!(&b[58..62], &[0, 0, 255, 0]);
    }
}
