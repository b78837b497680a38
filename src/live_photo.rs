//! Live Photo inspections on a still image (JPEG, PNG, anything FFmpeg reads as one picture):
//! faces analysis (exactly one face), facial obstructions (the face mesh's confidence that the
//! whole face is visible; texture in the mouth and eye regions, relative to how lit the face
//! is — a hand or a band over them is flat —; a plain band across the eye strip; eyes open;
//! a face too dark to judge is `attention`), facial orientation (near-frontal) and liveness.
//! No passive anti-spoofing model ships in a registry package this project can use, so
//! liveness is always `attention` ("passive liveness model not installed"), and a photo is
//! never `clear` overall.

use crate::report::{Classify, ErrorClass};
use crate::report::{
    Inspection, Outcome, PhotoBreakdown, PhotoMeasurements, PhotoReport, Reason, ReasonCode,
};
use std::path::Path;

use crossbeam_channel::bounded;

use crate::decode::{DecodeConfig, DecodeError, Frame, MediaDecoder};
use crate::report::rounding::{round3, round_to};
use crate::vision::analyzer::{FrameAnalyzer, VisionModels};
use crate::vision::image::{luminance_spread, RgbView, Roi};
use crate::vision::VisionError;

/// Longest side the photo is analysed at.
const PHOTO_MAX_SIDE: u32 = 640;
/// Main face narrower than this share of the shorter side is too small.
const MIN_FACE_SHARE: f64 = 0.12;
/// Mesh face-presence at or above which the whole face counts as visible.
const VISIBLE: f32 = 0.9;
/// ... below which it is covered or cut off.
const COVERED: f32 = 0.5;
/// Lit-skin luminance (0..255: the upper quartile over the middle of the face) under which the
/// face is too dark to judge what covers it (`attention`). Measured here: 200 frames of the
/// real clips 95 and up; the same faces darkened to a quarter 37-48, to an eighth 19-24.
const MIN_FACE_LUMINANCE: f32 = 30.0;
/// The texture measures below are luminance spreads (0..255) divided by the lit-skin
/// luminance, so that a dim photo does not read as a covered one (a spread scales with the
/// exposure; at a quarter of its brightness a real mouth measured 4.2 against a limit of 8).
///
/// Mouth contrast under which the mouth region is flat: covered. 200 real frames: 0.077 and
/// up (a closed mouth); a skin-coloured patch over it: 0.
const MIN_MOUTH_CONTRAST: f32 = 0.03;
/// Contrast of the more textured eye region under which the eyes are covered (a plain band
/// across them). 200 real frames: 0.125 and up (eyes shut too); skin-coloured bands over the
/// eyes of 12 faces: 0.001-0.054 for 10 of them, the 2 others 0.08 and 0.11 (the mesh put the
/// eyes beside the band). A band of another colour can make the mesh put the eyes on its edge,
/// whose contrast reads as texture: `eye_band` catches those.
const MIN_EYE_CONTRAST: f32 = 0.06;
/// The eyes' outer corners in the mesh: the eye strip spans them.
const OUTER_EYE_CORNERS: (usize, usize) = (33, 263);
/// The eye strip is sampled in rows from this far above to this far below the line through the
/// outer eye corners, in shares of the corners' distance (brows to cheekbones).
const EYE_STRIP_HALF_HEIGHT: f32 = 0.3;
/// Rows and samples per row across the strip (from corner to corner, 5% in from each).
const EYE_STRIP_ROWS: usize = 48;
const EYE_STRIP_COLUMNS: usize = 32;
/// Luminance range (10th to 90th percentile) across the strip, as a share of the lit-skin
/// luminance, under which a row is flat (never less than `FLAT_ROW_FLOOR` luminance levels,
/// for dark faces). Measured here on 12 real faces: the flattest row anywhere in the strip 8
/// levels (0.05; a smooth forehead or cheek), rows through the eyes 25 and more; rows crossing
/// a plain band drawn over the eyes 0 to 3 levels. On 200 frames of all the real clips no row
/// within reach of the eye line was flat even at twice this share.
const FLAT_ROW: f32 = 0.033;
const FLAT_ROW_FLOOR: f32 = 2.0;
/// A run of flat rows at least this tall (share of the corners' distance), reaching to within
/// `EYE_BAND_REACH` of the eye line, is a band over the eyes. Real faces here: no flat row at
/// all; bands of 0.4 of the distance, black, grey, white or skin-coloured, on or 0.12 above or
/// below the eyes: 0.25 to 0.40.
const MIN_EYE_BAND: f32 = 0.12;
const EYE_BAND_REACH: f32 = 0.1;
/// Each eye's corners in the mesh.
const EYE_CORNERS: [(usize, usize); 2] = [(33, 133), (362, 263)];
/// Mouth corners in the mesh.
const MOUTH_CORNERS: (usize, usize) = (61, 291);
/// Openness of the more open eye under which the eyes are shut (eye-contour model: about 0.35
/// to 0.45 open, 0.15 to 0.18 shut, measured here).
const EYES_SHUT: f32 = 0.22;
/// Yaw and roll (degrees) within which a face is frontal, and beyond which it is turned away.
const FRONTAL: f32 = 20.0;
const TURNED: f32 = 35.0;

/// Errors of a photo inspection.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The image cannot be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The vision stage failed.
    #[error(transparent)]
    Vision(#[from] VisionError),
    /// The file holds no picture.
    #[error("{0}: no picture in the file")]
    NoPicture(String),
}

impl Inspection {
    fn clear() -> Self {
        Self {
            outcome: Outcome::Clear,
            reasons: Vec::new(),
        }
    }

    fn flag(&mut self, outcome: Outcome, code: ReasonCode, message: impl Into<String>) {
        self.outcome = self.outcome.worst(outcome);
        self.reasons.push(Reason::new(code, message));
    }
}

/// Reads the first picture of an image (or video) file.
/// A photo's picture, upright, and what its file says about it.
struct Picture {
    /// The decoded picture (scaled to at most `PHOTO_MAX_SIDE`), turned upright.
    frame: Frame,
    /// Width and height of the picture as it is seen (after its EXIF orientation).
    source: Option<(u32, u32)>,
    /// The JPEG's EXIF orientation, when it has one.
    orientation: Option<u8>,
}

/// Bytes read from a photo's start to find its header and EXIF segment.
const PHOTO_HEADER_BYTES: usize = 1 << 20;

/// Decodes the first picture of a photo file, refusing one whose header declares more than
/// the frame limits before any pixel is decoded, and turning it upright by its EXIF
/// orientation.
fn first_picture(path: &Path) -> Result<Picture, PhotoError> {
    let start =
        crate::sniff::read_start(path, PHOTO_HEADER_BYTES).map_err(|e| DecodeError::NotFound {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let declared = crate::sniff::image_dimensions(&start);
    if let Some((w, h)) = declared {
        if w.max(h) > crate::decode::MAX_FRAME_SIDE
            || u64::from(w) * u64::from(h) > crate::decode::MAX_FRAME_PIXELS
        {
            return Err(DecodeError::LimitReached {
                path: path.to_path_buf(),
                message: format!(
                    "picture size {w}x{h}; the limit is {} pixels a side and {} megapixels",
                    crate::decode::MAX_FRAME_SIDE,
                    crate::decode::MAX_FRAME_PIXELS / 1_000_000
                ),
            }
            .into());
        }
    }
    let orientation = crate::sniff::jpeg_orientation(&start);
    let frame = decode_first_frame(path)?;
    let turn = orientation.unwrap_or(1);
    let frame = upright(frame, turn);
    let source = declared.map(|(w, h)| if turn >= 5 { (h, w) } else { (w, h) });
    Ok(Picture {
        frame,
        source,
        orientation,
    })
}

/// The frame turned as EXIF orientation `o` says (1: as stored; 2, 4: mirrored; 3: half a
/// turn; 5, 7: transposed; 6: a quarter turn clockwise; 8: counter-clockwise).
fn upright(frame: Frame, o: u8) -> Frame {
    if !(2..=8).contains(&o) {
        return frame;
    }
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (ow, oh) = if o >= 5 { (h, w) } else { (w, h) };
    let mut rgb = vec![0u8; frame.rgb.len()];
    for v in 0..oh {
        for u in 0..ow {
            let (x, y) = match o {
                2 => (w - 1 - u, v),
                3 => (w - 1 - u, h - 1 - v),
                4 => (u, h - 1 - v),
                5 => (v, u),
                6 => (v, h - 1 - u),
                7 => (w - 1 - v, h - 1 - u),
                _ => (w - 1 - v, u),
            };
            let (src, dst) = ((y * w + x) * 3, (v * ow + u) * 3);
            rgb[dst..dst + 3].copy_from_slice(&frame.rgb[src..src + 3]);
        }
    }
    Frame {
        pts: frame.pts,
        width: ow as u32,
        height: oh as u32,
        rgb,
    }
}

/// Decodes a picture file's first frame.
fn decode_first_frame(path: &Path) -> Result<Frame, PhotoError> {
    let (tx, rx) = bounded::<Frame>(1);
    let config = DecodeConfig {
        frame_max_side: PHOTO_MAX_SIDE,
        audio: false,
        ..DecodeConfig::default()
    };
    let p = path.to_path_buf();
    let decoding = std::thread::spawn(move || -> Result<(), DecodeError> {
        let decoder = MediaDecoder::open(&p, config)?;
        decoder.run(Some(tx), None).map(|_| ())
    });
    let first = rx.recv().ok();
    drop(rx);
    let decoded = decoding.join().unwrap_or_else(|_| {
        Err(DecodeError::NoStreams {
            path: path.to_path_buf(),
        })
    });
    match (first, decoded) {
        (Some(f), _) => Ok(f),
        (None, Err(e)) => Err(e.into()),
        (None, Ok(())) => Err(PhotoError::NoPicture(path.display().to_string())),
    }
}

/// The tallest run of flat rows (see `FLAT_ROW`; `lit` is the lit-skin luminance) across the
/// eye strip between the outer eye corners `a` and `b` that reaches to within
/// `EYE_BAND_REACH` of the eye line, as a share of the corners' distance; 0 when there is none.
fn eye_band(img: &RgbView, a: [f32; 3], b: [f32; 3], lit: f32) -> f32 {
    let flat_range = (FLAT_ROW * lit).max(FLAT_ROW_FLOOR);
    let roi = Roi::spanning(a, b, 1.0, 2.0);
    let row_height = 2.0 * EYE_STRIP_HALF_HEIGHT / EYE_STRIP_ROWS as f32;
    let mut row = Vec::with_capacity(EYE_STRIP_COLUMNS);
    let mut best = 0.0f32;
    let mut run: Option<(f32, f32)> = None;
    for j in 0..=EYE_STRIP_ROWS {
        // Offset of the row from the eye line, in shares of the corners' distance.
        let offset = -EYE_STRIP_HALF_HEIGHT + (j as f32 + 0.5) * row_height;
        let flat = j < EYE_STRIP_ROWS && {
            row.clear();
            row.extend((0..EYE_STRIP_COLUMNS).map(|i| {
                let u = 0.05 + 0.9 * (i as f32 + 0.5) / EYE_STRIP_COLUMNS as f32;
                let (x, y) = roi.to_image(u, 0.5 + offset);
                img.luminance(x, y)
            }));
            row.sort_by(f32::total_cmp);
            row[EYE_STRIP_COLUMNS * 9 / 10] - row[EYE_STRIP_COLUMNS / 10] < flat_range
        };
        match (flat, run) {
            (true, None) => run = Some((offset, offset)),
            (true, Some((first, _))) => run = Some((first, offset)),
            (false, Some((first, last))) => {
                let reaches = first <= EYE_BAND_REACH && last >= -EYE_BAND_REACH;
                if reaches {
                    best = best.max(last - first + row_height);
                }
                run = None;
            }
            (false, None) => {}
        }
    }
    best
}

/// Upper-quartile luminance (0..255) over the middle half of the face mesh's extent, both ways:
/// the lit skin, whatever covers part of it.
fn lit_skin_luminance(img: &RgbView, points: &[[f32; 3]]) -> f32 {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let n = 16;
    let mut values: Vec<f32> = (0..n * n)
        .map(|k| {
            let u = 0.25 + 0.5 * ((k % n) as f32 + 0.5) / n as f32;
            let v = 0.25 + 0.5 * ((k / n) as f32 + 0.5) / n as f32;
            img.luminance(x0 + u * (x1 - x0), y0 + v * (y1 - y0))
        })
        .collect();
    values.sort_by(f32::total_cmp);
    values[values.len() * 3 / 4]
}

/// Flags a region as covered (`covered`: the reason's words) when its texture over the
/// lit-skin luminance `lit` (None: not judged) is under `min_contrast`.
fn flag_flat(
    obstruction: &mut Inspection,
    texture: Option<f32>,
    lit: Option<f32>,
    min_contrast: f32,
    covered: &str,
) {
    if let (Some(t), Some(lit)) = (texture, lit) {
        if t / lit < min_contrast {
            obstruction.flag(
                Outcome::Rejected,
                ReasonCode::FaceObstructed,
                format!("{covered} (no texture: contrast {:.3})", t / lit),
            );
        }
    }
}

/// Inspects one photo.
pub fn inspect_photo(models: &VisionModels, path: &Path) -> Result<PhotoReport, PhotoError> {
    crate::control::crash_drill("photo", path);
    let picture = first_picture(path)?;
    let frame = &picture.frame;
    let img = RgbView::new(frame.width as usize, frame.height as usize, &frame.rgb)
        .ok_or_else(|| PhotoError::NoPicture(path.display().to_string()))?;
    let o = FrameAnalyzer::new(models, true).analyze(&img, 0.0)?;
    let short_side = img.width.min(img.height) as f64;
    let detected = o.faces.clone().unwrap_or_default();
    let face_size = detected
        .iter()
        .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
        .map(|b| f64::from(b.w) / short_side);

    let mut faces = Inspection::clear();
    match detected.len() {
        0 => faces.flag(
            Outcome::Rejected,
            ReasonCode::NoFace,
            "no face in the photo",
        ),
        1 => {}
        n => faces.flag(
            Outcome::Rejected,
            ReasonCode::MultipleFaces,
            format!("{n} faces in the photo"),
        ),
    }
    if face_size.is_some_and(|s| s < MIN_FACE_SHARE) {
        faces.flag(
            Outcome::Attention,
            ReasonCode::FaceTooSmall,
            format!(
                "the face spans {:.0}% of the photo",
                face_size.unwrap_or(0.0) * 100.0
            ),
        );
    }

    let mut obstruction = Inspection::clear();
    match o.main_presence {
        None => obstruction.flag(Outcome::Rejected, ReasonCode::NoFace, "no face to inspect"),
        Some(p) if p < COVERED => obstruction.flag(
            Outcome::Rejected,
            ReasonCode::FaceObstructed,
            format!("the face is covered or cut off (visibility {p:.2})"),
        ),
        Some(p) if p < VISIBLE => obstruction.flag(
            Outcome::Attention,
            ReasonCode::FacePartlyObstructed,
            format!("parts of the face may be covered (visibility {p:.2})"),
        ),
        Some(_) => {}
    }
    // What covers part of a face the mesh still sees whole: plain regions where the mouth and
    // eyes should be. Judged relative to how lit the face is, and not at all on a face too dark
    // to tell (`attention`).
    let face_luminance = o
        .mesh
        .as_ref()
        .map(|mesh| lit_skin_luminance(&img, &mesh.points));
    if let Some(l) = face_luminance.filter(|&l| l < MIN_FACE_LUMINANCE) {
        obstruction.flag(
            Outcome::Attention,
            ReasonCode::FaceTooDark,
            format!("the face is too dark to see whether it is covered (luminance {l:.0})"),
        );
    }
    let judged = match (face_luminance, o.main_presence) {
        (Some(l), Some(p)) if l >= MIN_FACE_LUMINANCE && p >= COVERED => Some(l),
        _ => None,
    };
    // The mesh places a mouth even under a hand: a flat mouth region is a covered one.
    let mouth_texture = o.mesh.as_ref().map(|mesh| {
        let (a, b) = MOUTH_CORNERS;
        let roi = Roi::spanning(mesh.points[a], mesh.points[b], 1.0, 2.0);
        luminance_spread(&img, &roi, 24)
    });
    flag_flat(
        &mut obstruction,
        mouth_texture,
        judged,
        MIN_MOUTH_CONTRAST,
        "the mouth looks covered",
    );
    // Likewise the eyes: the models place eyes under a band across them.
    let eye_texture = o.mesh.as_ref().map(|mesh| {
        EYE_CORNERS
            .iter()
            .map(|&(a, b)| {
                let roi = Roi::spanning(mesh.points[a], mesh.points[b], 1.0, 2.0);
                luminance_spread(&img, &roi, 16)
            })
            .fold(0.0f32, f32::max)
    });
    flag_flat(
        &mut obstruction,
        eye_texture,
        judged,
        MIN_EYE_CONTRAST,
        "the eyes look covered",
    );
    // The mesh may also put the eyes beside a band (on a black band's edge, where the
    // contrast reads as texture): rows across the whole eye strip that are flat are a band.
    let eye_band = o.mesh.as_ref().zip(face_luminance).map(|(mesh, lit)| {
        eye_band(
            &img,
            mesh.points[OUTER_EYE_CORNERS.0],
            mesh.points[OUTER_EYE_CORNERS.1],
            lit,
        )
    });
    if let (Some(b), Some(_)) = (eye_band, judged) {
        if b >= MIN_EYE_BAND {
            obstruction.flag(
                Outcome::Rejected,
                ReasonCode::FaceObstructed,
                format!(
                    "a plain band covers the eyes ({:.0}% of the eye strip is flat)",
                    b / (2.0 * EYE_STRIP_HALF_HEIGHT) * 100.0
                ),
            );
        }
    }
    if let Some(s) = o.main {
        if s.eyes < EYES_SHUT {
            obstruction.flag(
                Outcome::Attention,
                ReasonCode::EyesClosed,
                format!("the eyes look shut (openness {:.2})", s.eyes),
            );
        }
    }

    let mut orientation = Inspection::clear();
    match o.main {
        None => orientation.flag(
            Outcome::Rejected,
            ReasonCode::NoFace,
            "no face whose orientation can be measured",
        ),
        Some(s) => {
            let worst = s.yaw.abs().max(s.roll.abs());
            if worst > TURNED {
                orientation.flag(
                    Outcome::Rejected,
                    ReasonCode::FaceNotFrontal,
                    format!(
                        "the head is turned (yaw {:.0}°, roll {:.0}°)",
                        s.yaw, s.roll
                    ),
                );
            } else if worst > FRONTAL {
                orientation.flag(
                    Outcome::Attention,
                    ReasonCode::FaceNotFrontal,
                    format!(
                        "the head is not quite frontal (yaw {:.0}°, roll {:.0}°)",
                        s.yaw, s.roll
                    ),
                );
            }
        }
    }

    let mut liveness = Inspection::clear();
    liveness.flag(
        Outcome::Attention,
        ReasonCode::PassiveLivenessUnavailable,
        "passive liveness model not installed",
    );

    let signals = o.main;
    let r1 = |v: f32| round_to(f64::from(v), 1);
    let breakdown = PhotoBreakdown {
        face_analysis: faces,
        facial_obstruction: obstruction,
        facial_orientation: orientation,
        liveness,
    };
    let outcome = [
        &breakdown.face_analysis,
        &breakdown.facial_obstruction,
        &breakdown.facial_orientation,
        &breakdown.liveness,
    ]
    .iter()
    .fold(Outcome::Clear, |acc, i| acc.worst(i.outcome));
    Ok(PhotoReport {
        outcome,
        breakdown,
        measurements: PhotoMeasurements {
            width: img.width,
            height: img.height,
            source_width: picture.source.map(|s| s.0),
            source_height: picture.source.map(|s| s.1),
            orientation: picture.orientation,
            faces: detected.len(),
            face_size: face_size.map(round3),
            face_visibility: o.main_presence.map(|p| round3(f64::from(p))),
            face_luminance: face_luminance.map(r1),
            mouth_texture: mouth_texture.map(r1),
            eye_texture: eye_texture.map(r1),
            eye_band: eye_band.map(|b| round_to(f64::from(b), 2)),
            yaw: signals.map(|s| r1(s.yaw)),
            pitch: signals.map(|s| r1(s.pitch)),
            roll: signals.map(|s| r1(s.roll)),
            eyes: signals.map(|s| round3(f64::from(s.eyes))),
        },
    })
}

impl Classify for PhotoError {
    fn class(&self) -> ErrorClass {
        match self {
            PhotoError::Decode(e) => e.class(),
            PhotoError::Vision(e) => e.class(),
            PhotoError::NoPicture(_) => ErrorClass::InvalidMedia,
        }
    }

    fn param(&self) -> Option<String> {
        (self.class() == ErrorClass::LimitReached).then(|| "image".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_orientations_turn_the_picture_upright() {
        // 3 wide, 2 tall: pixel values are their index in the stored picture.
        let stored = Frame {
            pts: 0.0,
            width: 3,
            height: 2,
            rgb: (0u8..6).flat_map(|i| [i, i, i]).collect(),
        };
        let px = |f: &Frame| -> Vec<u8> { f.rgb.chunks(3).map(|c| c[0]).collect() };
        // Stored:  0 1 2 / 3 4 5.
        let cw = upright(stored.clone(), 6);
        assert_eq!((cw.width, cw.height), (2, 3));
        assert_eq!(px(&cw), [3, 0, 4, 1, 5, 2]);
        let ccw = upright(stored.clone(), 8);
        assert_eq!(px(&ccw), [2, 5, 1, 4, 0, 3]);
        assert_eq!(px(&upright(stored.clone(), 3)), [5, 4, 3, 2, 1, 0]);
        assert_eq!(px(&upright(stored.clone(), 2)), [2, 1, 0, 5, 4, 3]);
        assert_eq!(px(&upright(stored.clone(), 4)), [3, 4, 5, 0, 1, 2]);
        assert_eq!(px(&upright(stored.clone(), 5)), [0, 3, 1, 4, 2, 5]);
        assert_eq!(px(&upright(stored.clone(), 7)), [5, 2, 4, 1, 3, 0]);
        assert_eq!(px(&upright(stored.clone(), 1)), px(&stored));
    }

    /// A 200 x 200 picture with texture everywhere (a checker of 3-pixel cells), optionally
    /// with rows `band` painted one grey.
    fn picture(band: Option<std::ops::Range<usize>>) -> Vec<u8> {
        let mut data = Vec::with_capacity(200 * 200 * 3);
        for y in 0..200 {
            for x in 0..200 {
                let v = if band.as_ref().is_some_and(|b| b.contains(&y)) {
                    90
                } else if (x / 3 + y / 3) % 2 == 0 {
                    60
                } else {
                    180
                };
                data.extend([v, v, v]);
            }
        }
        data
    }

    #[test]
    fn a_flat_band_across_the_eye_line_is_measured_and_texture_is_not() {
        // Outer eye corners 100 px apart on row 100: the strip spans rows 70 to 130.
        let (a, b) = ([50.0, 100.0, 0.0], [150.0, 100.0, 0.0]);
        let textured = picture(None);
        let img = RgbView::new(200, 200, &textured).unwrap();
        assert_eq!(eye_band(&img, a, b, 150.0), 0.0);
        // A band over rows 85..115 (0.3 of the corners' distance) on the eye line.
        let banded = picture(Some(85..115));
        let img = RgbView::new(200, 200, &banded).unwrap();
        let h = eye_band(&img, a, b, 150.0);
        assert!((0.25..=0.35).contains(&h), "{h}");
        // A band resting just above the eye line still reaches it.
        let above = picture(Some(70..96));
        let img = RgbView::new(200, 200, &above).unwrap();
        assert!(eye_band(&img, a, b, 150.0) >= MIN_EYE_BAND);
        // A flat stretch high on the forehead, far from the eyes, is not a band over them.
        let forehead = picture(Some(60..82));
        let img = RgbView::new(200, 200, &forehead).unwrap();
        assert_eq!(eye_band(&img, a, b, 150.0), 0.0);
    }
}
