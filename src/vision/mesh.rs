//! MediaPipe's 468-point face mesh (192x192 input) on a square crop around a detected face,
//! rotated so that the eyes are level, as MediaPipe's face landmark graph does.

use std::path::Path;

use super::detector::Detection;
use super::image::{sample_roi, RgbView, Roi};
use super::runtime::OnnxModel;
use super::VisionError;

/// Model input side.
const INPUT: usize = 192;
/// Landmarks in the mesh.
pub const LANDMARKS: usize = 468;
/// How much larger than the detection box the crop is.
const ROI_SCALE: f32 = 1.5;

/// A 3D landmark in image pixels (z: depth relative to the face centre, same scale as x, smaller
/// is nearer the camera).
pub type Point3 = [f32; 3];

/// The mesh of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    /// 468 landmarks in image pixels.
    pub points: Vec<Point3>,
    /// Face presence probability 0..1 reported by the model.
    pub presence: f32,
    /// The crop the mesh was computed on.
    pub roi: Roi,
}

/// The crop MediaPipe uses for a detection: the box enlarged 1.5x, squared, rotated to level
/// the eyes.
pub fn roi_for(det: &Detection) -> Roi {
    let (rx, ry) = det.keypoints[0];
    let (lx, ly) = det.keypoints[1];
    Roi {
        cx: det.cx,
        cy: det.cy,
        side: det.w.max(det.h) * ROI_SCALE,
        angle: (ly - ry).atan2(lx - rx),
    }
}

/// The face mesh model.
#[derive(Debug)]
pub struct FaceMesh {
    model: OnnxModel,
}

impl FaceMesh {
    /// Loads the converted `face_landmark.onnx`.
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, VisionError> {
        Ok(Self {
            model: OnnxModel::load(runtime, model)?,
        })
    }

    /// Output sums on a fixed input (see `OnnxModel::fingerprint`).
    pub fn fingerprint(&self) -> Result<Vec<f64>, VisionError> {
        self.model.fingerprint(INPUT)
    }

    /// Computes the mesh inside `roi`.
    pub fn run(
        &self,
        img: &RgbView,
        roi: Roi,
        scratch: &mut Vec<f32>,
    ) -> Result<Mesh, VisionError> {
        sample_roi(img, &roi, INPUT, 1.0, 0.0, scratch);
        let outputs = self.model.run(scratch, [1, 3, INPUT, INPUT])?;
        let coords = outputs
            .iter()
            .find(|o| o.len() == LANDMARKS * 3)
            .ok_or_else(|| VisionError::Inference("face mesh: no landmark output".into()))?;
        let presence = outputs
            .iter()
            .find(|o| o.len() == 1)
            .map(|o| 1.0 / (1.0 + (-o[0]).exp()))
            .unwrap_or(0.0);
        let scale = roi.side / INPUT as f32;
        let points = coords
            .chunks_exact(3)
            .map(|p| {
                let (x, y) = roi.to_image(p[0] / INPUT as f32, p[1] / INPUT as f32);
                [x, y, p[2] * scale]
            })
            .collect();
        Ok(Mesh {
            points,
            presence,
            roi,
        })
    }
}
