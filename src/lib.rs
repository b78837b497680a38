#![warn(missing_docs)]
//! liveness: verifies ComplyCube-style Live Video challenges (voice and actions) in a recorded
//! selfie video, streaming it once through bounded channels, and inspects Live Photos.
//!
//! # The API a program needs
//!
//! Load a [`Verifier`] once (it holds the whisper model; the vision models load on first
//! use), then verify any number of videos, each against its [`LiveVideo`] object. A
//! [`VerifyReport`] says, per challenge and overall, [`Outcome::Clear`], `Attention` or
//! `Rejected`, with the evidence. Every error implements [`Classify`]: its [`ErrorClass`] says
//! what the caller can do (bad input, missing model, retry later) and gives the JSON error
//! type and the command-line exit code.
//!
//! ```no_run
//! use liveness::{ModelsDir, Verifier, VerifierConfig};
//!
//! let verifier = Verifier::load_all(&ModelsDir::locate(None), VerifierConfig::default())?;
//! let live_video = verifier.parse_live_video(&std::fs::read_to_string("lv.json")?)?;
//! let report = verifier.verify("selfie.mp4".as_ref(), &live_video)?;
//! println!("{}: {}", report.live_video_id, report.outcome.as_str());
//! for challenge in &report.challenges {
//!     println!("  {:?} {}", challenge.value, challenge.outcome.as_str());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A Live Video is checked before any work (languages with a pack, known actions, limits);
//! no model is needed for that:
//!
//! ```
//! use liveness::{ActionVocabulary, Classify, ErrorClass, LanguagePacks, LiveVideo};
//!
//! let packs = LanguagePacks::builtin()?;
//! let actions = ActionVocabulary::builtin()?;
//! let lv = LiveVideo::parse(
//!     r#"{"id": "lv1", "language": "en-GB", "challenges": [
//!         {"type": "voice", "value": ["7", "9", "1", "7"]},
//!         {"type": "actions", "value": ["turnHeadLeft", "blink"]}]}"#,
//!     &packs,
//!     &actions,
//! )?;
//! assert_eq!(lv.challenges.len(), 2);
//!
//! // A language without a pack is the caller's mistake: invalid_request, exit code 65.
//! let err = LiveVideo::parse(
//!     r#"{"id": "lv2", "language": "xx", "challenges": [{"type": "voice", "value": ["1"]}]}"#,
//!     &packs,
//!     &actions,
//! )
//! .unwrap_err();
//! assert_eq!(err.class(), ErrorClass::InvalidRequest);
//! assert_eq!(err.class().error_type(), "invalid_request");
//! assert_eq!(err.class().exit_code(), 65);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Live Photos: [`inspect_photo`] with the vision models ([`Verifier::vision_models`]).
//! Runnable programs: `examples/verify.rs` (load once, verify several files) and
//! `examples/batch.rs` (a worker loop over a folder).
//!
//! Beyond the entry points: [`audit`] runs batch audits over folders, [`challenge_draw`]
//! draws fresh challenges, [`server`] (feature `service`) is the HTTP service and its job
//! workers, [`isolation`] and [`runner`] keep native crashes in child processes, and [`cli`]
//! renders reports as the command line shows them. The stages themselves (decoding, vision,
//! speech, recognisers, verdict rules, stores) are internal (`docs/architecture.md`).

pub use actions::ActionVocabulary;
pub use engine::Isolation;
pub use live_photo::inspect_photo;
pub use live_video::{Challenge, LiveVideo, LiveVideoError};
pub use models::ModelsDir;
pub use pipeline::{Verifier, VerifierConfig, VerifyError};
pub use report::{
    ChallengeReport, ChallengeType, Classify, ErrorClass, ErrorObject, Outcome, PhotoReport,
    Reason, ReasonCode, VerifyReport,
};
pub use speech::normalize::LanguagePacks;
pub use vision::analyzer::VisionModels;

/// Declares one of the crate's internal modules: `pub(crate)`, made public (and
/// hidden from the documentation) only by the `internals` feature, which the crate's own
/// integration tests, benches and fuzz targets turn on to exercise single stages.
macro_rules! internal_mod {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    )*};
}

pub mod audit;
pub mod challenge_draw;
pub mod cli;
pub mod isolation;
pub mod live_photo;
pub mod live_video;
pub mod models;
pub mod pipeline;
pub mod report;
pub mod runner;
#[cfg(feature = "service")]
pub mod server;

/// Entry points for the fuzz targets in `fuzz/` (with the `internals` feature only).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod fuzz_targets;

internal_mod! {
    actions;
    av_sync;
    control;
    decode;
    engine;
    face_analysis;
    sniff;
    speech;
    #[cfg(feature = "service")]
    store;
    verdict;
    vision;
}
