//! Speech-to-text with whisper (whisper.cpp through `speech::whisper_ffi`): the model context is loaded once and shared; each call makes
//! its own decoding state. The language is always given (auto-detection misfires on short
//! clips), no prompt is used (a prompt holding the expected answer would let a spoof pass),
//! and the encoder window is sized to the speech instead of whisper's fixed 30 s. Digit
//! recitals may be decoded under a grammar that admits any digit sequence.

use crate::report::{Classify, ErrorClass};
use std::path::Path;

use super::grammar::Grammar;
use super::vad::speech_span;
use super::whisper_ffi::{DecodeOptions, Scoring, TextScore, WhisperModel};
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
    /// The free reading scored like `scores` (when texts were scored): the reference.
    pub reference: Option<TextScore>,
    /// Likelihood scores of the texts asked for, in order (empty when none were asked for).
    pub scores: Vec<TextScore>,
    /// Seconds of the reading spent scoring those texts (part of the reading's time).
    pub scoring_seconds: f64,
    /// Readings whisper gave up at a temperature because they fell into a repetition loop,
    /// cut as soon as the loop showed (see `whisper_ffi::cut_loops`).
    pub loops_cut: u32,
}

/// Whisper encoder positions per second of audio (1500 for 30 s).
const POSITIONS_PER_SECOND: f64 = 50.0;

/// A loaded whisper model. Cheap to share behind an `Arc`; `transcribe` may run concurrently.
pub struct Transcriber {
    model: WhisperModel,
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
        let model = WhisperModel::load(path).map_err(|e| AsrError::Load {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Self {
            model,
            threads: threads.max(1),
        })
    }

    /// Transcribes 16 kHz mono audio whose first sample is at media time `offset`, in
    /// `language` (a whisper language code such as `en`), optionally constrained by a grammar.
    /// Only the detected speech span is decoded; an empty transcript comes back when there is
    /// no speech.
    pub fn transcribe(
        &self,
        audio: &[f32],
        offset: f64,
        language: &str,
        grammar: Option<&Grammar>,
    ) -> Result<Transcript, AsrError> {
        self.transcribe_with(audio, offset, language, grammar, None, None)
    }

    /// Like `transcribe`, then hands the reading's text to `scoring.texts`, and measures how likely
    /// whisper finds each text it returns given the same audio (forced decoding), next to the
    /// free reading scored the same way. A likelihood is evidence to weigh against the free
    /// reading, never a substitute for it: the free reading is made first and without any
    /// knowledge of the texts. Stops early when `abort` is set (the result is then an
    /// `AsrError::Inference`). Uses the transcriber's threads.
    pub fn transcribe_with(
        &self,
        audio: &[f32],
        offset: f64,
        language: &str,
        grammar: Option<&Grammar>,
        scoring: Option<&Scoring>,
        abort: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Transcript, AsrError> {
        self.transcribe_on(
            self.threads,
            audio,
            offset,
            language,
            grammar,
            scoring,
            abort,
        )
    }

    /// `transcribe_with` on at most `threads` threads (at least one), for a caller that keeps
    /// cores busy with other work meanwhile (whisper's threads wait for each other by spinning,
    /// so more threads than free cores is slower, not faster).
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_on(
        &self,
        threads: usize,
        audio: &[f32],
        offset: f64,
        language: &str,
        grammar: Option<&Grammar>,
        scoring: Option<&Scoring>,
        abort: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Transcript, AsrError> {
        let Some(span) = speech_span(audio, AUDIO_RATE) else {
            return Ok(Transcript::default());
        };
        let speech = &audio[span.start..span.end];
        let rate = f64::from(AUDIO_RATE);
        let span_start = offset + span.start as f64 / rate;
        let seconds = speech.len() as f64 / rate;
        // Encoder window sized to the speech plus a margin, in multiples of 64 positions;
        // the full window for long speech.
        let audio_ctx = if seconds < 28.0 {
            let positions = ((seconds + 1.0) * POSITIONS_PER_SECOND).ceil() as i32;
            ((positions + 63) / 64 * 64).clamp(128, 1500)
        } else {
            0
        };
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
        let options = DecodeOptions {
            threads: threads.clamp(1, self.threads),
            language,
            audio_ctx,
            grammar,
            scoring,
            abort,
        };
        let decoded = self
            .model
            .decode(input, &options)
            .map_err(|e| AsrError::Inference(e.to_string()))?;
        let segments: Vec<Segment> = decoded
            .segments
            .into_iter()
            .filter_map(|(t0, t1, text)| {
                let text = text.trim().to_string();
                (!text.is_empty()).then(|| Segment {
                    start: span_start + t0 as f64 / 100.0,
                    end: (span_start + t1 as f64 / 100.0).min(span_start + seconds),
                    text,
                })
            })
            .collect();
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
            reference: decoded.reference,
            scores: decoded.scores,
            scoring_seconds: decoded.scoring_seconds,
            loops_cut: decoded.loops_cut,
        })
    }
}

impl Classify for AsrError {
    fn class(&self) -> ErrorClass {
        match self {
            AsrError::Load { .. } => ErrorClass::ModelUnavailable,
            AsrError::Inference(_) => ErrorClass::Internal,
        }
    }
}
