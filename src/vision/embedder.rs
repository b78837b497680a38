//! Face identity: a face descriptor (1,024 numbers, from the `faceres` model of the Human
//! library) of the face aligned on five mesh landmarks (eye centres, nose tip, mouth corners)
//! to the usual face-recognition template, scaled to the model's 224x224 input. Descriptors of
//! the same person point the same way (cosine near 1); of different people, much less so.

use std::path::Path;

use super::image::RgbView;
use super::mesh::Mesh;
use super::runtime::OnnxModel;
use super::VisionError;

/// Input side of the model.
pub const INPUT: usize = 224;
/// Length of the descriptor.
pub const DESCRIPTOR: usize = 1024;

/// The template below is for a 112-pixel face; the model's input is this many times larger.
const TEMPLATE_SCALE: f32 = INPUT as f32 / 112.0;

/// Where the five points sit in a 112x112 aligned face (image-left eye, image-right eye,
/// nose tip, image-left and image-right mouth corner).
const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Mesh indices of the image-left eye's corners, the image-right eye's, the nose tip and the
/// mouth corners (MediaPipe's 468-point topology).
const LEFT_EYE: [usize; 2] = [33, 133];
const RIGHT_EYE: [usize; 2] = [362, 263];
const NOSE_TIP: usize = 1;
const MOUTH: [usize; 2] = [61, 291];

/// The five alignment points of a mesh, in image pixels.
pub fn five_points(mesh: &Mesh) -> [[f32; 2]; 5] {
    let p = |i: usize| [mesh.points[i][0], mesh.points[i][1]];
    let mid = |[a, b]: [usize; 2]| {
        let (pa, pb) = (p(a), p(b));
        [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0]
    };
    [
        mid(LEFT_EYE),
        mid(RIGHT_EYE),
        p(NOSE_TIP),
        p(MOUTH[0]),
        p(MOUTH[1]),
    ]
}

/// The similarity transform (rotation, uniform scale, translation) taking `src` closest to
/// `dst` in the least-squares sense: `(a, b, tx, ty)` with `x' = a x - b y + tx`,
/// `y' = b x + a y + ty`.
pub fn similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> (f32, f32, f32, f32) {
    let n = src.len() as f32;
    let mean = |pts: &[[f32; 2]]| {
        let s = pts
            .iter()
            .fold([0.0f32; 2], |acc, p| [acc[0] + p[0], acc[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut dot, mut cross, mut norm) = (0.0f32, 0.0f32, 0.0f32);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - ms[0], s[1] - ms[1]);
        let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        norm += sx * sx + sy * sy;
    }
    let (a, b) = if norm > 0.0 {
        (dot / norm, cross / norm)
    } else {
        (1.0, 0.0)
    };
    (
        a,
        b,
        md[0] - (a * ms[0] - b * ms[1]),
        md[1] - (b * ms[0] + a * ms[1]),
    )
}

/// Cosine similarity of two embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The face-embedding model.
#[derive(Debug)]
pub struct FaceEmbedder {
    model: OnnxModel,
}

impl FaceEmbedder {
    /// Loads the converted `face_embedder.onnx` (Human's `faceres`).
    pub fn load(runtime: &Path, model: &Path) -> Result<Self, VisionError> {
        Ok(Self {
            model: OnnxModel::load(runtime, model)?,
        })
    }

    /// Output sums on a fixed input (see `OnnxModel::fingerprint`).
    pub fn fingerprint(&self) -> Result<Vec<f64>, VisionError> {
        self.model.fingerprint(INPUT)
    }

    /// The descriptor of the face a mesh outlines, aligned to the template; the model reads
    /// pixel values 0..255 (measured: on 0..1 its outputs barely depend on the face, and its
    /// gender head answers at random).
    pub fn embed(
        &self,
        img: &RgbView,
        mesh: &Mesh,
        scratch: &mut Vec<f32>,
    ) -> Result<Vec<f32>, VisionError> {
        let template = TEMPLATE.map(|[x, y]| [x * TEMPLATE_SCALE, y * TEMPLATE_SCALE]);
        let (a, b, tx, ty) = similarity(&five_points(mesh), &template);
        // Each template pixel is read from the image through the inverse transform.
        let det = a * a + b * b;
        if det <= f32::EPSILON {
            return Err(VisionError::Inference("degenerate face alignment".into()));
        }
        let plane = INPUT * INPUT;
        scratch.clear();
        scratch.resize(3 * plane, 0.0);
        for v in 0..INPUT {
            for u in 0..INPUT {
                let (dx, dy) = (u as f32 + 0.5 - tx, v as f32 + 0.5 - ty);
                let x = (a * dx + b * dy) / det;
                let y = (-b * dx + a * dy) / det;
                let rgb = img.sample(x, y);
                for (c, value) in rgb.iter().enumerate() {
                    scratch[c * plane + v * INPUT + u] = *value;
                }
            }
        }
        let out = self.model.run(scratch, [1, 3, INPUT, INPUT])?;
        out.into_iter()
            .find(|e| e.len() == DESCRIPTOR)
            .ok_or_else(|| VisionError::Inference("face embedder: no descriptor output".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_rotation_scale_and_shift() {
        let (angle, scale, shift): (f32, f32, [f32; 2]) = (0.3, 0.5, [10.0, -4.0]);
        let (s, c) = angle.sin_cos();
        let src = [
            [0.0, 0.0],
            [10.0, 0.0],
            [5.0, 7.0],
            [1.0, 12.0],
            [9.0, 12.0],
        ];
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                [
                    scale * (c * p[0] - s * p[1]) + shift[0],
                    scale * (s * p[0] + c * p[1]) + shift[1],
                ]
            })
            .collect();
        let (a, b, tx, ty) = similarity(&src, &dst);
        assert!((a - scale * c).abs() < 1e-4 && (b - scale * s).abs() < 1e-4);
        assert!((tx - shift[0]).abs() < 1e-3 && (ty - shift[1]).abs() < 1e-3);
        assert!((cosine(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
    }
}
