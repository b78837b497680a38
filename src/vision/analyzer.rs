//! Per-frame face analysis: detect every face, run the mesh on the main one (the largest), and
//! turn it into signals.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::detector::{Detection, FaceDetector};
use super::eyes::EyeModel;
use super::image::RgbView;
use super::mesh::{roi_for, FaceMesh, Mesh};
use super::signals::{face_signals, FaceSignals};
use super::VisionError;

/// Mesh face-presence probability below which the mesh is not trusted.
const MIN_PRESENCE: f32 = 0.5;

/// The vision models, loaded once and shared (inference is serialised per model).
#[derive(Debug)]
pub struct VisionModels {
    detector: FaceDetector,
    mesh: FaceMesh,
    eyes: EyeModel,
}

/// File names inside the models folder.
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
/// Face detector file.
pub const DETECTOR_FILE: &str = "face_detection_short_range.onnx";
/// Face mesh file.
pub const MESH_FILE: &str = "face_landmark.onnx";
/// Eye contour (iris) model file.
pub const EYES_FILE: &str = "iris_landmark.onnx";

impl VisionModels {
    /// Loads ONNX Runtime and the models from a models folder. `ORT_DYLIB_PATH` overrides the
    /// runtime library's location.
    pub fn load(models: &Path) -> Result<Self, VisionError> {
        let runtime = std::env::var_os("ORT_DYLIB_PATH")
            .filter(|p| !p.is_empty())
            .map(Into::into)
            .unwrap_or_else(|| models.join(RUNTIME_FILE));
        Ok(Self {
            detector: FaceDetector::load(&runtime, &models.join(DETECTOR_FILE))?,
            mesh: FaceMesh::load(&runtime, &models.join(MESH_FILE))?,
            eyes: EyeModel::load(&runtime, &models.join(EYES_FILE))?,
        })
    }
}

impl VisionModels {
    /// Each model's manifest name and output fingerprint (see `OnnxModel::fingerprint`).
    pub fn fingerprints(&self) -> Result<Vec<(&'static str, Vec<f64>)>, VisionError> {
        Ok(vec![
            ("face-detector", self.detector.fingerprint()?),
            ("face-mesh", self.mesh.fingerprint()?),
            ("iris", self.eyes.fingerprint()?),
        ])
    }
}

/// Whether a fingerprint matches the expected one within a relative tolerance of 1e-3.
pub fn fingerprint_matches(actual: &[f64], expected: &[f64]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| (a - e).abs() <= 1e-3 * e.abs().max(1.0))
}

/// A face box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl From<&Detection> for FaceBox {
    fn from(d: &Detection) -> Self {
        Self {
            x: d.cx - d.w / 2.0,
            y: d.cy - d.h / 2.0,
            w: d.w,
            h: d.h,
        }
    }
}

/// What one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameObservation {
    /// Media time, seconds.
    pub t: f64,
    /// Frame width and height.
    pub size: (usize, usize),
    /// Every face found, strongest first.
    pub faces: Vec<FaceBox>,
    /// The main face's box and signals, when its mesh is trusted.
    pub main: Option<(FaceBox, FaceSignals)>,
    /// The face mesh's own probability that a whole face is in the main face's crop (None
    /// without a face): low when the face is covered or cut off.
    pub main_presence: Option<f32>,
    /// The main face's mesh (None without a face).
    pub mesh: Option<Mesh>,
}

/// Analyses the frames of one video with shared models (scratch buffers are its own).
pub struct FrameAnalyzer<'m> {
    models: &'m VisionModels,
    eyes: bool,
    scratch: Vec<f32>,
}

impl<'m> FrameAnalyzer<'m> {
    /// A new analyzer over shared models, reading the eyes with the eye-contour model (about
    /// half the per-frame cost) only when `eyes` is set, that is when a blink is asked for;
    /// otherwise `FaceSignals::eyes` is the mesh's own, coarser reading.
    pub fn new(models: &'m VisionModels, eyes: bool) -> Self {
        Self {
            models,
            eyes,
            scratch: Vec::new(),
        }
    }

    /// Analyses one RGB frame taken at media time `t`.
    pub fn analyze(&mut self, img: &RgbView, t: f64) -> Result<FrameObservation, VisionError> {
        let detections = self.models.detector.detect(img, &mut self.scratch)?;
        let faces: Vec<FaceBox> = detections.iter().map(FaceBox::from).collect();
        let main_det = detections
            .iter()
            .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)));
        let mut main_presence = None;
        let mut main_mesh = None;
        let main = match main_det {
            Some(det) => {
                let mesh = self.models.mesh.run(img, roi_for(det), &mut self.scratch)?;
                main_presence = Some(mesh.presence);
                let trusted = if mesh.presence >= MIN_PRESENCE {
                    match face_signals(&mesh) {
                        Some(mut s) => {
                            if self.eyes {
                                let (right, left) =
                                    self.models.eyes.openness(img, &mesh, &mut self.scratch)?;
                                s.eyes = right.max(left);
                            }
                            Some((FaceBox::from(det), s))
                        }
                        None => None,
                    }
                } else {
                    None
                };
                main_mesh = Some(mesh);
                trusted
            }
            None => None,
        };
        Ok(FrameObservation {
            t,
            size: (img.width, img.height),
            faces,
            main,
            main_presence,
            mesh: main_mesh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_within_a_relative_thousandth() {
        assert!(fingerprint_matches(&[1000.0, -2.0], &[1000.5, -2.0005]));
        assert!(!fingerprint_matches(&[1000.0, -2.0], &[1002.0, -2.0]));
        assert!(!fingerprint_matches(&[1000.0], &[1000.0, 1.0]));
    }
}
