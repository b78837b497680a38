//! Per-frame face signals from the mesh geometry: head pose, eye openness, mouth opening and
//! mouth width. Ratios use 3D distances so that they do not change when the head turns.

use serde::{Deserialize, Serialize};

use super::mesh::{Mesh, Point3};

// MediaPipe canonical mesh indices.
const FOREHEAD: usize = 10;
/// Below the nose: with the forehead, a rigid pair for pitch (the chin moves with the jaw).
const SUBNASALE: usize = 2;
const CHIN: usize = 152;
/// Cheek contour at the image's left for an unmirrored frontal face (the subject's right).
const CHEEK_SUBJECT_RIGHT: usize = 234;
const CHEEK_SUBJECT_LEFT: usize = 454;
const RIGHT_EYE: [usize; 4] = [33, 133, 159, 145]; // outer, inner, upper lid, lower lid
const LEFT_EYE: [usize; 4] = [263, 362, 386, 374];
const MOUTH_RIGHT: usize = 61;
const MOUTH_LEFT: usize = 291;
const LIP_UPPER_INNER: usize = 13;
const LIP_LOWER_INNER: usize = 14;
/// The inner lip contour, corner to corner along the upper lip, then back along the lower lip.
const INNER_LIPS: [usize; 20] = [
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
];

/// The signals of one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceSignals {
    /// Head yaw in degrees: positive when the face turns towards the image's right (the
    /// subject's own left in an unmirrored recording).
    pub yaw: f32,
    /// Head pitch in degrees: positive when the face tilts up.
    pub pitch: f32,
    /// Head roll in degrees: positive when the head tilts clockwise in the image.
    pub roll: f32,
    /// Eye openness of the more open eye (both must close for a blink). From the mesh lids
    /// here; the analyzer replaces it with the eye-contour model's reading.
    pub eyes: f32,
    /// Mouth opening: inner lip gap over mouth width.
    pub mouth_opening: f32,
    /// Mouth width over face width.
    pub mouth_width: f32,
    /// Area inside the inner lip contour over the squared distance between the outer eye
    /// corners (in the image plane): how open the lips are, from all twenty inner-lip points
    /// rather than one pair, so that it follows speech frame by frame (lip sync reads it).
    #[serde(default)]
    pub lip_area: f32,
}

fn sub(a: Point3, b: Point3) -> Point3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: Point3) -> f32 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn dist(a: Point3, b: Point3) -> f32 {
    norm(sub(a, b))
}

/// The area of a polygon of mesh points in the image plane (shoelace formula).
fn polygon_area(p: &[Point3], ring: &[usize]) -> f32 {
    let twice: f32 = ring
        .iter()
        .zip(ring.iter().cycle().skip(1))
        .map(|(&a, &b)| p[a][0] * p[b][1] - p[b][0] * p[a][1])
        .sum();
    twice.abs() / 2.0
}

fn eye_openness(p: &[Point3], eye: [usize; 4]) -> f32 {
    let width = dist(p[eye[0]], p[eye[1]]);
    if width <= f32::EPSILON {
        return 0.0;
    }
    dist(p[eye[2]], p[eye[3]]) / width
}

/// Computes the signals of a mesh (None when the geometry is degenerate).
pub fn face_signals(mesh: &Mesh) -> Option<FaceSignals> {
    let p = &mesh.points;
    if p.len() < 468 {
        return None;
    }
    // Head axes: across the face (subject's right cheek to left cheek, image left to right
    // when frontal) and down the face (forehead to the base of the nose).
    let across = sub(p[CHEEK_SUBJECT_LEFT], p[CHEEK_SUBJECT_RIGHT]);
    let down = sub(p[SUBNASALE], p[FOREHEAD]);
    let (width, height) = (norm(across), norm(sub(p[CHIN], p[FOREHEAD])));
    if width <= f32::EPSILON || height <= f32::EPSILON || norm(down) <= f32::EPSILON {
        return None;
    }
    // z grows away from the camera: a face turning to the image's right brings its left
    // cheek (image right) further away.
    let yaw = across[2].atan2((across[0] * across[0] + across[1] * across[1]).sqrt());
    // Tilting up brings the nose base nearer the camera than the forehead.
    let pitch = (-down[2]).atan2((down[0] * down[0] + down[1] * down[1]).sqrt());
    let roll = across[1].atan2(across[0]);
    Some(FaceSignals {
        yaw: yaw.to_degrees(),
        pitch: pitch.to_degrees(),
        roll: roll.to_degrees(),
        eyes: eye_openness(p, RIGHT_EYE).max(eye_openness(p, LEFT_EYE)),
        mouth_opening: dist(p[LIP_UPPER_INNER], p[LIP_LOWER_INNER])
            / dist(p[MOUTH_RIGHT], p[MOUTH_LEFT]).max(f32::EPSILON),
        mouth_width: dist(p[MOUTH_RIGHT], p[MOUTH_LEFT]) / width,
        lip_area: {
            let (r, l) = (p[RIGHT_EYE[0]], p[LEFT_EYE[0]]);
            let eyes2 = (l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2);
            polygon_area(p, &INNER_LIPS) / eyes2.max(f32::EPSILON)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_area_of_a_unit_square_in_either_winding() {
        let p = [
            [0.0, 0.0, 5.0],
            [1.0, 0.0, 1.0],
            [1.0, 1.0, 0.0],
            [0.0, 1.0, 2.0],
        ];
        assert!((polygon_area(&p, &[0, 1, 2, 3]) - 1.0).abs() < 1e-6);
        assert!((polygon_area(&p, &[3, 2, 1, 0]) - 1.0).abs() < 1e-6);
        assert_eq!(polygon_area(&p, &[0, 1]), 0.0);
    }
}
