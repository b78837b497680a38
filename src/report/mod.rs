//! The shared vocabulary at the bottom of the crate: outcomes, the stable list of reason
//! codes, the report and evidence types every stage fills in, the JSON error object and the
//! error classes. It imports no other module of the crate; every other module may import it.

internal_mod! {
    error;
    evidence;
    outcome;
    photo;
    rounding;
    time;
    video;
}

pub use error::{Classify, ErrorClass, ErrorObject};
pub use evidence::{
    ActionEvent, AvSync, Baseline, DigitLikelihood, FacesReport, IdentityReport, PhraseLikelihood,
    PosePoint, SpeechSegmentSync, SyncTrace, WordLikelihood,
};
pub use outcome::{Outcome, Reason, ReasonCode};
pub use photo::{Inspection, PhotoBreakdown, PhotoMeasurements, PhotoReport};
pub use time::rfc3339;
pub use video::{
    ActionsEvidence, ChallengeReport, ChallengeType, Evidence, MediaReport, PerformedAction,
    Timings, TokenMatch, VerifyReport, VoiceEvidence,
};
