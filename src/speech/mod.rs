//! Speech: energy trimming, whisper transcription, language packs and matching of what was
//! heard against `voice` challenges.

pub mod asr;
pub mod matcher;
pub mod normalize;
pub mod vad;
