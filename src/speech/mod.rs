//! Speech: energy trimming, whisper transcription (optionally grammar-constrained), language
//! packs and matching of what was heard against `voice` challenges.

pub mod asr;
pub mod grammar;
pub mod likelihood;
pub mod matcher;
pub mod normalize;
pub mod vad;
pub mod whisper_ffi;
