//! MediaPipe's short-range face detector (BlazeFace, 128x128 input): SSD anchors, box and
//! keypoint decoding, and weighted non-maximum suppression, as MediaPipe's face detection graph
//! configures them.

use std::path::Path;

use super::image::{letterbox, RgbView, Roi};
use super::runtime::OnnxModel;
use super::VisionError;

/// Model input side.
const INPUT: usize = 128;
/// Values per anchor: box (4) and six keypoints (x, y).
const COORDS: usize = 16;
/// Lowest face score kept.
pub const MIN_SCORE: f32 = 0.5;
/// Overlap above which detections are merged.
const NMS_IOU: f32 = 0.3;

/// One detected face, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Box centre x.
    pub cx: f32,
    /// Box centre y.
    pub cy: f32,
    /// Box width.
    pub w: f32,
    /// Box height.
    pub h: f32,
    /// Face score 0..1.
    pub score: f32,
    /// Keypoints: the subject's right eye, left eye, nose tip, mouth centre, right ear tragion,
    /// left ear tragion.
    pub keypoints: [(f32, f32); 6],
}

impl Detection {
    /// Intersection over union of two boxes.
    pub fn iou(&self, other: &Detection) -> f32 {
        let ix = (self.cx + self.w / 2.0).min(other.cx + other.w / 2.0)
            - (self.cx - self.w / 2.0).max(other.cx - other.w / 2.0);
        let iy = (self.cy + self.h / 2.0).min(other.cy + other.h / 2.0)
            - (self.cy - self.h / 2.0).max(other.cy - other.h / 2.0);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.w * self.h + other.w * other.h - inter)
    }
}

/// The 896 anchor centres of the short-range model (normalised 0..1): a 16x16 grid with two
/// anchors per cell (stride 8), then an 8x8 grid with six (three stride-16 layers merged).
fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(896);
    for (grid, per_cell) in [(16usize, 2usize), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                let centre = (
                    (x as f32 + 0.5) / grid as f32,
                    (y as f32 + 0.5) / grid as f32,
                );
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

/// The face detector. Thread-safe; inference is serialised per model.
#[derive(Debug)]
pub struct FaceDetector {
    model: OnnxModel,
    anchors: Vec<(f32, f32)>,
}

impl FaceDetector {
    /// Loads the converted `face_detection_short_range.onnx`.
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, VisionError> {
        Ok(Self {
            model: OnnxModel::load(runtime, model)?,
            anchors: anchors(),
        })
    }

    /// Output sums on a fixed input (see `OnnxModel::fingerprint`).
    pub fn fingerprint(&self) -> Result<Vec<f64>, VisionError> {
        self.model.fingerprint(INPUT)
    }

    /// Detects faces in a frame; strongest first.
    pub fn detect(
        &self,
        img: &RgbView,
        scratch: &mut Vec<f32>,
    ) -> Result<Vec<Detection>, VisionError> {
        let roi = letterbox(img, INPUT, 2.0, -1.0, scratch);
        let outputs = self.model.run(scratch, [1, 3, INPUT, INPUT])?;
        let (regressors, scores) = match outputs.as_slice() {
            [a, b] if a.len() == self.anchors.len() * COORDS && b.len() == self.anchors.len() => {
                (a, b)
            }
            [b, a] if a.len() == self.anchors.len() * COORDS && b.len() == self.anchors.len() => {
                (a, b)
            }
            _ => return Err(VisionError::Inference("unexpected detector outputs".into())),
        };
        Ok(decode(regressors, scores, &self.anchors, &roi))
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// Decodes raw outputs into detections in image pixels (through the letterbox `roi`), merged
/// by weighted non-maximum suppression.
fn decode(regressors: &[f32], scores: &[f32], anchors: &[(f32, f32)], roi: &Roi) -> Vec<Detection> {
    let scale = INPUT as f32;
    let to_image = |u: f32, v: f32| roi.to_image(u, v);
    let mut candidates: Vec<Detection> = Vec::new();
    for (i, &(ax, ay)) in anchors.iter().enumerate() {
        let score = sigmoid(scores[i]);
        if score < MIN_SCORE {
            continue;
        }
        let r = &regressors[i * COORDS..(i + 1) * COORDS];
        let (cu, cv) = (r[0] / scale + ax, r[1] / scale + ay);
        let (wu, hv) = (r[2] / scale, r[3] / scale);
        let (cx, cy) = to_image(cu, cv);
        let mut keypoints = [(0.0, 0.0); 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = to_image(r[4 + 2 * k] / scale + ax, r[5 + 2 * k] / scale + ay);
        }
        candidates.push(Detection {
            cx,
            cy,
            w: wu * roi.side,
            h: hv * roi.side,
            score,
            keypoints,
        });
    }
    weighted_nms(candidates)
}

/// MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score.
fn weighted_nms(mut candidates: Vec<Detection>) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (group, rest): (Vec<Detection>, Vec<Detection>) =
            candidates.into_iter().partition(|c| c.iou(&best) > NMS_IOU);
        candidates = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = best.clone();
        if group.len() > 1 && total > 0.0 {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                group.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.cx = avg(&|d| d.cx);
            merged.cy = avg(&|d| d.cy);
            merged.w = avg(&|d| d.w);
            merged.h = avg(&|d| d.h);
            for k in 0..6 {
                merged.keypoints[k] = (avg(&|d| d.keypoints[k].0), avg(&|d| d.keypoints[k].1));
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_match_the_short_range_layout() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], (1.0 / 32.0, 1.0 / 32.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], (1.0 / 16.0, 1.0 / 16.0));
        assert_eq!(a[895], (15.0 / 16.0, 15.0 / 16.0));
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let d = |cx: f32, score: f32| Detection {
            cx,
            cy: 50.0,
            w: 20.0,
            h: 20.0,
            score,
            keypoints: [(cx, 50.0); 6],
        };
        let out = weighted_nms(vec![d(50.0, 0.9), d(52.0, 0.6), d(150.0, 0.7)]);
        assert_eq!(out.len(), 2);
        assert!(out[0].cx > 50.0 && out[0].cx < 52.0);
        assert_eq!(out[1].cx, 150.0);
    }
}
