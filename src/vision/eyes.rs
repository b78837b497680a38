//! Eye openness from MediaPipe's iris/eye-contour model (64x64 input) on a crop around each
//! eye taken from the mesh: the mesh's own eyelid points barely move when the eyes close, the
//! dedicated eye contour does (measured here: ~0.04 closed against 0.35-0.41 open).

use std::path::Path;

use super::image::{sample_roi_flipped, RgbView, Roi};
use super::mesh::Mesh;
use super::runtime::OnnxModel;
use super::VisionError;

/// Model input side.
const INPUT: usize = 64;
/// Crop side over eye width (corner to corner).
const CROP_OVER_EYE_WIDTH: f32 = 2.3;
/// Eye contour points at the start of the 71-point output.
const CONTOUR: usize = 16;
/// Mesh eye corners: the subject's right eye (outer, inner), left eye (inner, outer) — each
/// pair ordered image left to right for an upright face.
const RIGHT_EYE_CORNERS: (usize, usize) = (33, 133);
const LEFT_EYE_CORNERS: (usize, usize) = (362, 263);

/// The eye-contour model.
#[derive(Debug)]
pub struct EyeModel {
    model: OnnxModel,
}

impl EyeModel {
    /// Loads the converted `iris_landmark.onnx`.
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, VisionError> {
        Ok(Self {
            model: OnnxModel::load(runtime, model)?,
        })
    }

    /// Output sums on a fixed input (see `OnnxModel::fingerprint`).
    pub fn fingerprint(&self) -> Result<Vec<f64>, VisionError> {
        self.model.fingerprint(INPUT)
    }

    /// Openness of the more open eye, reading the left eye only when the right one is not
    /// clearly open: when the right eye is at least `open_enough`, the more open eye is too,
    /// and the frame cannot be part of a blink (both eyes shut). Halves the cost on most frames.
    pub fn more_open(
        &self,
        img: &RgbView,
        mesh: &Mesh,
        open_enough: f32,
        scratch: &mut Vec<f32>,
    ) -> Result<f32, VisionError> {
        let right = self.eye(img, mesh, RIGHT_EYE_CORNERS, false, scratch)?;
        if open_enough > 0.0 && right >= open_enough {
            return Ok(right);
        }
        let left = self.eye(img, mesh, LEFT_EYE_CORNERS, true, scratch)?;
        Ok(right.max(left))
    }

    fn eye(
        &self,
        img: &RgbView,
        mesh: &Mesh,
        (a, b): (usize, usize),
        mirror: bool,
        scratch: &mut Vec<f32>,
    ) -> Result<f32, VisionError> {
        let roi = Roi::spanning(mesh.points[a], mesh.points[b], CROP_OVER_EYE_WIDTH, 1.0);
        sample_roi_flipped(img, &roi, INPUT, 1.0, 0.0, mirror, scratch);
        let outputs = self.model.run(scratch, [1, 3, INPUT, INPUT])?;
        let contour = outputs
            .iter()
            .find(|o| o.len() == 71 * 3)
            .ok_or_else(|| VisionError::Inference("eye model: no contour output".into()))?;
        Ok(contour_openness(&contour[..CONTOUR * 3]))
    }
}

/// Height over width of an eye contour given as (x, y, z) triples in an upright crop.
pub fn contour_openness(points: &[f32]) -> f32 {
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in points.chunks_exact(3) {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    if x1 - x0 <= f32::EPSILON {
        0.0
    } else {
        (y1 - y0) / (x1 - x0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openness_is_contour_height_over_width() {
        let open = [
            0.0, 10.0, 0.0, 20.0, 5.0, 0.0, 40.0, 10.0, 0.0, 20.0, 15.0, 0.0,
        ];
        assert!((contour_openness(&open) - 0.25).abs() < 1e-6);
        let shut = [0.0, 10.0, 0.0, 40.0, 10.5, 0.0];
        assert!(contour_openness(&shut) < 0.02);
        assert_eq!(contour_openness(&[1.0, 1.0, 0.0]), 0.0);
    }
}
