//! The report of one inspected Live Photo: ComplyCube's four inspections and the
//! measurements behind them.

use serde::{Deserialize, Serialize};

use super::outcome::{Outcome, Reason};

/// One inspection's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// Outcome of this inspection.
    pub outcome: Outcome,
    /// Why it is not `clear`.
    pub reasons: Vec<Reason>,
}

/// The four inspections, ComplyCube's breakdown of a photo check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoBreakdown {
    /// Exactly one face, large enough.
    pub face_analysis: Inspection,
    /// Eyes, nose and mouth visible.
    pub facial_obstruction: Inspection,
    /// Near-frontal.
    pub facial_orientation: Inspection,
    /// A live person, not a spoof.
    pub liveness: Inspection,
}

/// Measurements behind the inspections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoMeasurements {
    /// Picture width and height as analysed (scaled to at most 640 a side, upright).
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Width of the picture as it is seen, from its file's header (JPEG and PNG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_width: Option<u32>,
    /// Height of the picture as it is seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_height: Option<u32>,
    /// The JPEG's EXIF orientation, applied before the inspections (6 and 8: quarter turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<u8>,
    /// Faces found.
    pub faces: usize,
    /// Main face width over the picture's shorter side.
    pub face_size: Option<f64>,
    /// The face mesh's probability that the whole face is visible.
    pub face_visibility: Option<f64>,
    /// Lit-skin luminance of the face (0..255: upper quartile over its middle); the texture
    /// measures are judged relative to it.
    pub face_luminance: Option<f64>,
    /// Luminance spread of the mouth region (0..255; a covered mouth is flat).
    pub mouth_texture: Option<f64>,
    /// Luminance spread of the more textured eye region (0..255; covered eyes are flat).
    pub eye_texture: Option<f64>,
    /// Height of the plain band found across the eyes, as a share of the distance between the
    /// outer eye corners (0 for none; real eyes, brows and the nose bridge are never flat).
    pub eye_band: Option<f64>,
    /// Head yaw, pitch and roll in degrees (pitch is not judged on a single still: its
    /// neutral value depends on the face and the camera height).
    pub yaw: Option<f64>,
    /// Pitch.
    pub pitch: Option<f64>,
    /// Openness of the more open eye (eye-contour model; about 0.4 open, under 0.2 shut).
    pub eyes: Option<f64>,
    /// Roll.
    pub roll: Option<f64>,
}

/// The result of inspecting one Live Photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoReport {
    /// Worst of the four inspections.
    pub outcome: Outcome,
    /// Per inspection.
    pub breakdown: PhotoBreakdown,
    /// What was measured.
    pub measurements: PhotoMeasurements,
}
