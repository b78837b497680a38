//! The report of one verified Live Video: a verdict per challenge with its evidence, the media
//! as decoded, the faces analysis and the stage timings.

use serde::{Deserialize, Serialize};

use super::evidence::{
    ActionEvent, AvSync, Baseline, DigitLikelihood, FacesReport, PhraseLikelihood, PosePoint,
};
use super::outcome::{Outcome, Reason};

/// One expected token aligned with what was heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenMatch {
    /// The expected token (normalised), absent for an extra heard token.
    pub expected: Option<String>,
    /// The heard token (normalised), absent for a missing one.
    pub heard: Option<String>,
    /// Similarity 0..1 between them.
    pub similarity: f64,
    /// Whether this pair counts as a match.
    pub matched: bool,
}

/// Evidence for a voice challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VoiceEvidence {
    /// Whisper's transcript of the speech.
    pub transcript: String,
    /// Language whisper was told.
    pub asr_language: String,
    /// Normalised expected tokens.
    pub expected_tokens: Vec<String>,
    /// Normalised heard tokens.
    pub heard_tokens: Vec<String>,
    /// Alignment of expected against heard.
    pub matches: Vec<TokenMatch>,
    /// Media time where speech starts (seconds), if any was found.
    pub start: Option<f64>,
    /// Media time where speech ends (seconds).
    pub end: Option<f64>,
    /// For phrases: how likely whisper finds the expected phrase given the audio, next to its
    /// free reading (absent for digit recitals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<PhraseLikelihood>,
    /// For digit recitals the text did not clear: each expected digit force-decoded against
    /// the most likely other digit at its place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digit_likelihood: Vec<DigitLikelihood>,
    /// The verdict on the words alone, before lip sync is weighed in (the challenge's own
    /// outcome is never better than this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_outcome: Option<Outcome>,
    /// Whether the voice comes from the mouth on screen (absent when no frames were compared,
    /// for example without a video stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub av_sync: Option<AvSync>,
}

/// One requested action and the event that performed it, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformedAction {
    /// The action asked for (canonical name).
    pub action: String,
    /// The event matched to it, in order; None when it was not performed (in order).
    pub event: Option<ActionEvent>,
}

/// Evidence for an actions challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionsEvidence {
    /// Each requested action, in order, with its event.
    pub performed: Vec<PerformedAction>,
    /// Every event of the requested actions found in the video.
    pub events: Vec<ActionEvent>,
    /// The person's neutral state the recognisers measured from.
    pub baseline: Option<Baseline>,
    /// Head pose and face signals relative to the baseline, 10 points a second.
    pub pose_trace: Vec<PosePoint>,
}

/// Evidence for a challenge: what a reviewer can check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evidence {
    /// Voice challenge evidence.
    Voice(Box<VoiceEvidence>),
    /// Actions challenge evidence.
    Actions(Box<ActionsEvidence>),
    /// Nothing was analysed (for example, a capability not available).
    None {},
}

/// The verdict for one challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeReport {
    /// Challenge type.
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    /// Challenge values as given (actions resolved to canonical names).
    pub value: Vec<String>,
    /// Verdict.
    pub outcome: Outcome,
    /// Confidence 0..1 that the challenge was met.
    pub score: f64,
    /// Why the verdict is not `clear`, or notes on a `clear` one.
    pub reasons: Vec<Reason>,
    /// What supports the verdict.
    pub evidence: Evidence,
}

/// Where the time of one verification went, in seconds. The stages run on their own
/// threads at the same time (the picture is decoded and analysed while the speech is
/// recognised), so the stage figures can add up to more than `totalSeconds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timings {
    /// Loading models for this verification (the first one of a process pays for them;
    /// later ones find them loaded, 0).
    pub load_seconds: f64,
    /// Decoding the sound track and the frames (the decoders' working time, less their
    /// waits for a slower consumer).
    pub decode_seconds: f64,
    /// Analysing frames: face detection, mesh, eyes, identity, lips.
    pub vision_seconds: f64,
    /// Speech recognition: whisper's free reading of the speech.
    pub asr_seconds: f64,
    /// Likelihoods: scoring the challenges' texts against the speech and the digit-grammar
    /// reading (0 when the free reading was decisive).
    pub likelihood_seconds: f64,
    /// Wall time of the whole verification, model loading included.
    pub total_seconds: f64,
}

/// The media as decoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaReport {
    /// Decoded duration in seconds.
    pub duration_seconds: f64,
    /// Source width.
    pub width: Option<u32>,
    /// Source height.
    pub height: Option<u32>,
    /// Average frame rate.
    pub fps: Option<f64>,
    /// Whether an audio track was decoded.
    pub has_audio: bool,
    /// Whether a video track was decoded.
    pub has_video: bool,
    /// Video frames decoded.
    pub video_frames: u64,
    /// Container format.
    pub container: String,
    /// Video codec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    /// Audio codec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// When the container says the recording was made (its `creation_time`, as written);
    /// absent when it does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
}

/// The result of verifying one Live Video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// The Live Video's id.
    pub live_video_id: String,
    /// Its client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Its language.
    pub language: String,
    /// Worst of the challenge outcomes.
    pub outcome: Outcome,
    /// Lowest challenge score.
    pub score: f64,
    /// One verdict per challenge, in the given order.
    pub challenges: Vec<ChallengeReport>,
    /// What was decoded.
    pub media: MediaReport,
    /// Faces analysis of the video (present when its frames were analysed, that is when it
    /// has actions challenges). It feeds the overall outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<FacesReport>,
    /// How long each stage took.
    pub timings: Timings,
}

/// Kind of challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChallengeType {
    /// Recite the values (digits or words) in the Live Video's language.
    Voice,
    /// Perform the listed head and face movements, in order.
    Actions,
}
