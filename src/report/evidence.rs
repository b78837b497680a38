//! The evidence the stages produce for a reviewer: action events and the pose trace, the
//! person's resting pose, audio-visual synchrony, the faces analysis and the speech
//! likelihoods. The stages own how each is computed (their `impl` blocks live with them);
//! the shapes live here, with every other part of the report.

use serde::{Deserialize, Serialize};

use super::outcome::{Outcome, Reason};

/// One recognised action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionEvent {
    /// Canonical action name.
    pub action: String,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Time of the largest deviation, seconds.
    pub peak: f64,
    /// Largest deviation in the action's direction (degrees for pose, a ratio otherwise).
    pub amplitude: f64,
    /// amplitude / the recogniser's `strong`, capped at 1; at most half (weak) for events
    /// held shorter than the recogniser's `min_duration`.
    pub confidence: f64,
}

/// The person's neutral state, estimated robustly over the whole trace: the median head pose
/// and eye openness (turns and blinks are brief or one-sided), and the lower quartile of mouth
/// width and opening (a neutral mouth is the narrower, closed one; a smile held at the start
/// would spoil a baseline taken from the first frames only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Yaw, degrees.
    pub yaw: f32,
    /// Pitch, degrees.
    pub pitch: f32,
    /// Eye openness.
    pub eyes: f32,
    /// Mouth width over face width.
    pub mouth_width: f32,
    /// Mouth opening over mouth width.
    pub mouth_opening: f32,
}

/// One point of the reviewer's pose trace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PosePoint {
    /// Media time, seconds.
    pub t: f64,
    /// Yaw deviation, degrees (+ subject's left).
    pub yaw: f32,
    /// Pitch deviation, degrees (+ up).
    pub pitch: f32,
    /// Eye closure (0 open as usual, 1 shut).
    pub eyes: f32,
    /// Mouth widening.
    pub smile: f32,
    /// Mouth opening above baseline.
    pub mouth: f32,
}

/// Audio-visual synchrony evidence for a recital (all times in media seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AvSync {
    /// The audio-video offset at which lips and voice agree best within what real recordings
    /// show (`PLAUSIBLE_OFFSET`); positive: the voice comes later than the lips.
    pub offset_seconds: Option<f64>,
    /// How well the lips follow the voice at that offset: correlation of their rates of
    /// change, -1..1 (None: nothing to compare).
    pub agreement: Option<f64>,
    /// How far that agreement is beyond chance for this much speech (Fisher z times the square
    /// root of the independent samples): about 1 for a voice and a mouth that do not belong
    /// together.
    pub strength: Option<f64>,
    /// The offset over the whole search (±1.6 s) with the best agreement.
    pub best_offset_seconds: Option<f64>,
    /// The agreement there.
    pub best_agreement: Option<f64>,
    /// Its strength.
    pub best_strength: Option<f64>,
    /// Seconds of voiced audio.
    pub speech_seconds: f64,
    /// Share of the voiced frames with one face whose lips could be read.
    pub face_share: f64,
    /// Median width of that face over the frame's shorter side while speech is heard.
    pub face_size: Option<f64>,
    /// Share of those frames where the head is turned more than 35° away.
    pub turned_share: f64,
    /// Share of the voiced frames in which the lips were open beyond their rest.
    pub mouth_active_share: f64,
    /// Share of the frames in pauses (within the analysed stretch) with the lips open beyond
    /// their rest.
    pub pause_active_share: Option<f64>,
    /// How far the lips move while speech is heard: the spread (10th to 90th percentile) of
    /// the lip opening over voiced frames.
    pub mouth_movement: Option<f64>,
    /// Frames compared.
    pub frames_used: usize,
    /// Each stretch of speech.
    pub segments: Vec<SpeechSegmentSync>,
    /// Lip opening against speech energy, for a reviewer's plot.
    pub trace: SyncTrace,
}

/// The faces analysis of a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacesReport {
    /// `clear` when exactly one face, large enough, is seen throughout.
    pub outcome: Outcome,
    /// Why not `clear`.
    pub reasons: Vec<Reason>,
    /// Frames analysed.
    pub frames_analysed: usize,
    /// Frames where the detector ran (the face is tracked in between); the face counts below
    /// are over these.
    pub frames_detected: usize,
    /// Frames with exactly one face.
    pub frames_with_one_face: usize,
    /// Frames with no face.
    pub frames_without_face: usize,
    /// Frames with more than one face.
    pub frames_with_several_faces: usize,
    /// Median main-face width over the frame's shorter side.
    pub face_size: f64,
    /// Times where the face track broke (a jump or a cut).
    pub track_breaks: Vec<f64>,
    /// The main face's identity through the video (absent when no near-frontal face was
    /// embedded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityReport>,
    /// Median frame-to-frame picture change (0..255 luminance, 32x32 thumbnail).
    pub motion: Option<f64>,
}

/// Whether the face stayed the same person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityReport {
    /// Near-frontal faces compared.
    pub samples: usize,
    /// Lowest cosine similarity to the first face.
    pub min_similarity: f64,
    /// When the face became (or may have become) another person's (None: it did not).
    pub changed_at: Option<f64>,
    /// The later face is clearly not the first one's person.
    pub clearly_other: bool,
}

/// One expected digit, force-decoded, against the most likely other digit at its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigitLikelihood {
    /// The expected digit.
    pub expected: String,
    /// Its log-probability at its place.
    pub logprob: f64,
    /// The most likely other digit there.
    pub rival: String,
    /// That digit's log-probability.
    pub rival_logprob: f64,
}

/// One word of a scored text with its summed token log-probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WordLikelihood {
    /// The word as whisper writes it.
    pub word: String,
    /// Sum of its tokens' natural-log probabilities.
    pub logprob: f64,
}

/// The likelihood evidence of one expected phrase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhraseLikelihood {
    /// The rendering of the phrase that scored best.
    pub rendering: String,
    /// Its total log-likelihood (end of text included).
    pub logprob: f64,
    /// The free reading's total log-likelihood under the same prompt.
    pub free_logprob: f64,
    /// Per expected word.
    pub words: Vec<WordLikelihood>,
}

/// What was measured in one stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechSegmentSync {
    /// Start, media seconds.
    pub start: f64,
    /// End, media seconds.
    pub end: f64,
    /// Share of its voiced frames with one face whose lips could be read.
    pub face_share: f64,
    /// Share of its voiced frames in which the lips were open beyond their rest.
    pub mouth_active_share: f64,
    /// Agreement of lips and voice inside this segment at the chosen offset (None: too few
    /// frames).
    pub agreement: Option<f64>,
}

/// The reviewer's picture: lip opening and speech energy over time, both scaled to 0..1, the
/// speech shifted by the chosen offset so that agreeing rises line up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SyncTrace {
    /// Media times of the frames, seconds.
    pub t: Vec<f64>,
    /// Lip opening, 0 (the least seen) to 1 (the most); null where no face was read.
    pub mouth: Vec<Option<f64>>,
    /// Speech energy at `t + offsetSeconds`, 0 (background) to 1 (loudest speech).
    pub speech: Vec<f64>,
}
