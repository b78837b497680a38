//! Outcomes and reasons: the words a verdict is given in.

use serde::{Deserialize, Serialize};

/// A verdict, in ComplyCube's words plus our sharper `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The video proves the challenge was met by a live person.
    Clear,
    /// Undecidable or weak: a person should look.
    Attention,
    /// The challenge was clearly not met.
    Rejected,
}

impl Outcome {
    /// The worse of two outcomes.
    pub fn worst(self, other: Outcome) -> Outcome {
        self.max(other)
    }

    /// ComplyCube's check outcome (`clear` | `attention`): `rejected` maps to `attention`.
    pub fn complycube(self) -> Outcome {
        match self {
            Outcome::Clear => Outcome::Clear,
            _ => Outcome::Attention,
        }
    }

    /// The word as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clear => "clear",
            Outcome::Attention => "attention",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Why an outcome is not `clear` (or a note on how it was reached): the stable,
/// documented list of reason codes. Serialised in snake case (`no_audio_track`); a code is
/// never renamed or given a new meaning, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    // Speech.
    /// The file has no audio track to hear a recital in.
    NoAudioTrack,
    /// Nothing was said, or nothing that could be read.
    SpeechNotDetected,
    /// The digits heard are not the digits asked for.
    DigitsMismatch,
    /// The digits asked for were said, in another order.
    DigitsOutOfOrder,
    /// The recital matches, but not with enough confidence.
    LowConfidenceMatch,
    /// The audio does not support the recital clearly enough.
    UnclearSpeech,
    /// Part of the phrase was heard.
    PhrasePartialMatch,
    /// The phrase heard is not the phrase asked for.
    PhraseMismatch,
    /// Only the first part of a long audio track was analysed.
    AudioTooLong,
    /// A note: the digits were read with a grammar that allows only digit words.
    DigitGrammarReading,
    /// A note: the phrase was supported by scoring it against the audio.
    PhraseLikelihoodSupport,
    /// A note: the digits were supported by scoring them against the audio.
    DigitLikelihoodSupport,
    // Lip sync.
    /// No single face was in view while the recital was spoken.
    NoFaceWhileSpeaking,
    /// The voice does not come from the mouth on screen.
    VoiceNotFromFace,
    /// Whether the voice comes from the face could not be judged.
    LipSyncUnclear,
    // Actions.
    /// An action asked for was not seen.
    ActionNotPerformed,
    /// The actions were performed in another order.
    ActionsOutOfOrder,
    /// An action was seen, but faintly.
    WeakAction,
    /// Action recognition could not run (its models are missing).
    ActionsNotAvailable,
    // Faces analysis (videos and photos).
    /// No face in the video or photo.
    NoFace,
    /// The face left the picture for part of the video.
    FaceNotAlwaysVisible,
    /// More than one face.
    MultipleFaces,
    /// The face is too small to analyse.
    FaceTooSmall,
    /// The face track broke: a jump or a cut.
    FaceTrackBreak,
    /// A still image, not a moving person.
    StaticFace,
    /// Another person appeared.
    FaceChanged,
    /// The file has no picture.
    NoVideoFrames,
    // Live Photo.
    /// Something covers the face.
    FaceObstructed,
    /// Something covers part of the face.
    FacePartlyObstructed,
    /// The face is too dark to inspect.
    FaceTooDark,
    /// The face is not turned to the camera.
    FaceNotFrontal,
    /// The eyes are closed.
    EyesClosed,
    /// The passive liveness model is not installed.
    PassiveLivenessUnavailable,
    // Freshness.
    /// The container says the video was recorded before its challenges were issued.
    RecordedBeforeChallenge,
}

impl ReasonCode {
    /// Every code, in the documented order.
    pub const ALL: [ReasonCode; 34] = [
        ReasonCode::NoAudioTrack,
        ReasonCode::SpeechNotDetected,
        ReasonCode::DigitsMismatch,
        ReasonCode::DigitsOutOfOrder,
        ReasonCode::LowConfidenceMatch,
        ReasonCode::UnclearSpeech,
        ReasonCode::PhrasePartialMatch,
        ReasonCode::PhraseMismatch,
        ReasonCode::AudioTooLong,
        ReasonCode::DigitGrammarReading,
        ReasonCode::PhraseLikelihoodSupport,
        ReasonCode::DigitLikelihoodSupport,
        ReasonCode::NoFaceWhileSpeaking,
        ReasonCode::VoiceNotFromFace,
        ReasonCode::LipSyncUnclear,
        ReasonCode::ActionNotPerformed,
        ReasonCode::ActionsOutOfOrder,
        ReasonCode::WeakAction,
        ReasonCode::ActionsNotAvailable,
        ReasonCode::NoFace,
        ReasonCode::FaceNotAlwaysVisible,
        ReasonCode::MultipleFaces,
        ReasonCode::FaceTooSmall,
        ReasonCode::FaceTrackBreak,
        ReasonCode::StaticFace,
        ReasonCode::FaceChanged,
        ReasonCode::NoVideoFrames,
        ReasonCode::FaceObstructed,
        ReasonCode::FacePartlyObstructed,
        ReasonCode::FaceTooDark,
        ReasonCode::FaceNotFrontal,
        ReasonCode::EyesClosed,
        ReasonCode::PassiveLivenessUnavailable,
        ReasonCode::RecordedBeforeChallenge,
    ];

    /// The code as serialised (`no_audio_track`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoAudioTrack => "no_audio_track",
            ReasonCode::SpeechNotDetected => "speech_not_detected",
            ReasonCode::DigitsMismatch => "digits_mismatch",
            ReasonCode::DigitsOutOfOrder => "digits_out_of_order",
            ReasonCode::LowConfidenceMatch => "low_confidence_match",
            ReasonCode::UnclearSpeech => "unclear_speech",
            ReasonCode::PhrasePartialMatch => "phrase_partial_match",
            ReasonCode::PhraseMismatch => "phrase_mismatch",
            ReasonCode::AudioTooLong => "audio_too_long",
            ReasonCode::DigitGrammarReading => "digit_grammar_reading",
            ReasonCode::PhraseLikelihoodSupport => "phrase_likelihood_support",
            ReasonCode::DigitLikelihoodSupport => "digit_likelihood_support",
            ReasonCode::NoFaceWhileSpeaking => "no_face_while_speaking",
            ReasonCode::VoiceNotFromFace => "voice_not_from_face",
            ReasonCode::LipSyncUnclear => "lip_sync_unclear",
            ReasonCode::ActionNotPerformed => "action_not_performed",
            ReasonCode::ActionsOutOfOrder => "actions_out_of_order",
            ReasonCode::WeakAction => "weak_action",
            ReasonCode::ActionsNotAvailable => "actions_not_available",
            ReasonCode::NoFace => "no_face",
            ReasonCode::FaceNotAlwaysVisible => "face_not_always_visible",
            ReasonCode::MultipleFaces => "multiple_faces",
            ReasonCode::FaceTooSmall => "face_too_small",
            ReasonCode::FaceTrackBreak => "face_track_break",
            ReasonCode::StaticFace => "static_face",
            ReasonCode::FaceChanged => "face_changed",
            ReasonCode::NoVideoFrames => "no_video_frames",
            ReasonCode::FaceObstructed => "face_obstructed",
            ReasonCode::FacePartlyObstructed => "face_partly_obstructed",
            ReasonCode::FaceTooDark => "face_too_dark",
            ReasonCode::FaceNotFrontal => "face_not_frontal",
            ReasonCode::EyesClosed => "eyes_closed",
            ReasonCode::PassiveLivenessUnavailable => "passive_liveness_unavailable",
            ReasonCode::RecordedBeforeChallenge => "recorded_before_challenge",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable machine-readable reason with a human sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// What happened, for a person.
    pub message: String,
}

impl Reason {
    /// Builds a reason.
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_as_its_documented_name() {
        for code in ReasonCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            assert_eq!(serde_json::from_value::<ReasonCode>(json).unwrap(), code);
        }
        let mut names: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ReasonCode::ALL.len());
    }
}
