//! Speech-to-text with whisper-rs: the model context is loaded once and shared; each call makes
//! its own decoding state. The language is always given (auto-detection misfires on short
//! clips), no prompt is used (a prompt holding the expected answer would let a spoof pass),
//! and the encoder window is sized to the speech instead of whisper's fixed 30 s.

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use super::vad::speech_span;
use crate::decode::AUDIO_RATE;

/// Errors from speech recognition.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The model file could not be loaded.
    #[error("cannot load whisper model {path}: {message}")]
    Load {
        /// Model path.
        path: String,
        /// whisper's words.
        message: String,
    },
    /// Inference failed.
    #[error("speech recognition failed: {0}")]
    Inference(String),
}

/// One recognised segment, in media time.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Text.
    pub text: String,
}

/// The recognised speech of one audio buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// All segments' text joined.
    pub text: String,
    /// Segments with media times.
    pub segments: Vec<Segment>,
    /// Media time where the analysed speech span starts (None when no speech was found).
    pub speech_start: Option<f64>,
    /// Media time where it ends.
    pub speech_end: Option<f64>,
}

/// Whisper encoder positions per second of audio (1500 for 30 s).
const POSITIONS_PER_SECOND: f64 = 50.0;

/// A loaded whisper model. Cheap to share behind an `Arc`; `transcribe` may run concurrently.
pub struct Transcriber {
    ctx: WhisperContext,
    threads: usize,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("threads", &self.threads)
            .finish()
    }
}

impl Transcriber {
    /// Loads a ggml whisper model.
    pub fn load(path: &Path, threads: usize) -> Result<Self, AsrError> {
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| AsrError::Load {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            ctx,
            threads: threads.max(1),
        })
    }

    /// Transcribes 16 kHz mono audio whose first sample is at media time `offset`, in
    /// `language` (a whisper language code such as `en`). Only the detected speech span is
    /// decoded; an empty transcript comes back when there is no speech.
    pub fn transcribe(
        &self,
        audio: &[f32],
        offset: f64,
        language: &str,
    ) -> Result<Transcript, AsrError> {
        let Some(span) = speech_span(audio, AUDIO_RATE) else {
            return Ok(Transcript::default());
        };
        let speech = &audio[span.start..span.end];
        let rate = f64::from(AUDIO_RATE);
        let span_start = offset + span.start as f64 / rate;
        let seconds = speech.len() as f64 / rate;
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| AsrError::Inference(e.to_string()))?;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(Some(language));
        params.set_detect_language(false);
        params.set_translate(false);
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        if seconds < 28.0 {
            // Encoder window sized to the speech plus a margin, in multiples of 64 positions.
            let positions = ((seconds + 1.0) * POSITIONS_PER_SECOND).ceil() as i32;
            let positions = ((positions + 63) / 64 * 64).clamp(128, 1500);
            params.set_audio_ctx(positions);
            params.set_single_segment(true);
        }
        // whisper needs at least 1 s of input; pad short speech with silence.
        let min = AUDIO_RATE as usize + AUDIO_RATE as usize / 10;
        let padded;
        let input: &[f32] = if speech.len() < min {
            let mut v = speech.to_vec();
            v.resize(min, 0.0);
            padded = v;
            &padded
        } else {
            speech
        };
        state
            .full(params, input)
            .map_err(|e| AsrError::Inference(e.to_string()))?;
        let mut segments = Vec::new();
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| AsrError::Inference(e.to_string()))?
                .trim()
                .to_string();
            if text.is_empty() {
                continue;
            }
            segments.push(Segment {
                start: span_start + seg.start_timestamp() as f64 / 100.0,
                end: (span_start + seg.end_timestamp() as f64 / 100.0).min(span_start + seconds),
                text,
            });
        }
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            segments,
            speech_start: Some(span_start),
            speech_end: Some(span_start + seconds),
        })
    }
}
