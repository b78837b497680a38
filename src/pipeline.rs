//! Wires decode, speech and verdicts: one video flows once through bounded channels, the
//! decoder on its own thread, frames and audio consumed by their own threads.

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::actions::recognise::{recognise, ActionEvent};
use crate::actions::trace::{pose_trace, SignalTrace};
use crate::actions::{ActionVocabulary, VocabularyError};
use crate::decode::{
    AudioChunk, DecodeConfig, DecodeError, DecodeStats, Frame, MediaDecoder, MediaInfo, AUDIO_RATE,
};
use crate::face_analysis::{analyse_frames, faces_report};
use crate::live_video::{
    ChallengeReport, ChallengeType, Evidence, LiveVideo, LiveVideoError, MediaReport, Outcome,
    Reason, Timings, VerifyReport,
};
use crate::models::lazy::LazyModel;
use crate::models::{Manifest, ModelError, ModelsDir, WHISPER_BASE};
use crate::rounding::round3;
use crate::speech::asr::{AsrError, Transcriber, Transcript};
use crate::speech::grammar::digit_grammar;
use crate::speech::likelihood::digit_rivals;
use crate::speech::matcher::is_digit_challenge;
use crate::speech::normalize::{LanguageError, LanguagePacks};
use crate::speech::whisper_ffi::Scoring;
use crate::verdict::{
    actions_verdict, digit_likelihood, phrase_likelihood, reconcile_digit_readings, texts_to_score,
    unverified, voice_report, wants_digit_reading, weigh_digit_likelihood, weigh_phrase_likelihood,
};
use crate::vision::analyzer::VisionModels;
use crate::vision::VisionError;

/// Everything that can stop a verification from producing a report.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The Live Video object is invalid.
    #[error(transparent)]
    LiveVideo(#[from] LiveVideoError),
    /// The video cannot be opened or decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A model is missing or corrupt.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Speech recognition failed.
    #[error(transparent)]
    Asr(#[from] AsrError),
    /// The vision models are not installed or could not be loaded.
    #[error("vision models unavailable: {0}")]
    VisionUnavailable(String),
    /// Face analysis failed while running.
    #[error(transparent)]
    Vision(#[from] VisionError),
    /// The shipped challenge data is broken.
    #[error("challenge data: {0}")]
    Data(String),
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
    /// The caller cancelled the verification (a time limit ran out).
    #[error("verification cancelled (time limit)")]
    Cancelled,
}

/// A flag a caller sets to stop a verification early (decode stops at the next packet,
/// whisper at its next step); the verification then ends with `VerifyError::Cancelled`.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A flag not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the verification to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether it was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl From<LanguageError> for VerifyError {
    fn from(e: LanguageError) -> Self {
        VerifyError::LiveVideo(LiveVideoError::Language(e))
    }
}

impl From<VocabularyError> for VerifyError {
    fn from(e: VocabularyError) -> Self {
        VerifyError::Data(e.to_string())
    }
}

/// Tunables of a verification run.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Threads whisper may use.
    pub asr_threads: usize,
    /// Longest side of decoded frames when no action is asked for (frames are only counted).
    pub frame_max_side: u32,
    /// Longest side of frames analysed for actions (the face mesh wants detail).
    pub vision_max_side: u32,
    /// Frames analysed per second for actions (15 keeps every blink).
    pub vision_fps: f64,
    /// Points per second of the pose trace in reports.
    pub pose_trace_hz: f64,
    /// Treat every recording as mirrored (left and right swapped), as a selfie preview is;
    /// a Live Video's own `mirrored` also sets it.
    pub mirrored: bool,
    /// Longest media accepted, in seconds.
    pub max_duration_s: f64,
    /// Most audio kept for recognition, in seconds (memory bound; the rest is ignored).
    pub max_audio_s: f64,
    /// Capacity of the frame channel.
    pub frame_queue: usize,
    /// Capacity of the audio channel.
    pub audio_queue: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            asr_threads: thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
            frame_max_side: 320,
            vision_max_side: 480,
            vision_fps: 15.0,
            pose_trace_hz: 10.0,
            mirrored: false,
            max_duration_s: 600.0,
            max_audio_s: 120.0,
            frame_queue: 8,
            audio_queue: 32,
        }
    }
}

/// Vision models loaded on first use, shareable between a verifier and other users.
pub type SharedVision = Arc<LazyModel<Arc<VisionModels>>>;

/// The vision models of `vision`, loading them from the models folder `root` if needed; the
/// error is why they could not be loaded.
pub fn load_vision(vision: &SharedVision, root: &Path) -> Result<Arc<VisionModels>, String> {
    vision.get_or_load(|| {
        VisionModels::load(root)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
}

/// The verifier: models loaded once, then `verify` any number of videos (also concurrently).
#[derive(Debug, Clone)]
pub struct Verifier {
    transcriber: Arc<Transcriber>,
    packs: Arc<LanguagePacks>,
    vocabulary: Arc<ActionVocabulary>,
    /// The models folder (vision models are loaded from it on first need).
    models_root: std::path::PathBuf,
    /// The vision models, loaded the first time an actions challenge needs them (voice-only
    /// work never pays for ONNX Runtime); may be shared with other users of the same models.
    vision: SharedVision,
    config: VerifierConfig,
}

/// What the audio consumer collected.
struct CollectedAudio {
    samples: Vec<f32>,
    first_pts: Option<f64>,
    truncated: bool,
}

impl Verifier {
    /// Loads the whisper model from a models folder (size-checked against the manifest).
    pub fn new(models: &ModelsDir, config: VerifierConfig) -> Result<Self, VerifyError> {
        let manifest = Manifest::builtin();
        let entry = manifest
            .entry(WHISPER_BASE)
            .ok_or_else(|| VerifyError::Data("manifest lacks whisper-base".into()))?;
        let path = models.path_of(entry)?;
        let len = std::fs::metadata(&path).map_err(ModelError::Io)?.len();
        if let Some(size) = entry.size.filter(|s| *s != len) {
            return Err(ModelError::Checksum {
                path,
                expected: entry.sha256.clone().unwrap_or_default(),
                actual: format!("(size {len}, expected {size})"),
            }
            .into());
        }
        let transcriber = Transcriber::load(&path, config.asr_threads).map_err(|e| match e {
            AsrError::Load { path, message } => VerifyError::Model(ModelError::Load {
                path: path.into(),
                message,
            }),
            other => VerifyError::Asr(other),
        })?;
        Ok(Self {
            transcriber: Arc::new(transcriber),
            packs: Arc::new(LanguagePacks::builtin()?),
            vocabulary: Arc::new(ActionVocabulary::builtin()?),
            models_root: models.root().to_path_buf(),
            vision: SharedVision::default(),
            config,
        })
    }

    /// The same verifier taking its vision models from `vision` (loaded from the same models
    /// folder), so that one copy serves it and, say, Live Photo inspections.
    pub fn sharing_vision(mut self, vision: SharedVision) -> Self {
        self.vision = vision;
        self
    }

    /// The vision models, loaded on first use (a failed load is tried again after a pause:
    /// see `LazyModel`).
    pub fn vision_models(&self) -> Result<Arc<VisionModels>, VerifyError> {
        load_vision(&self.vision, &self.models_root).map_err(VerifyError::VisionUnavailable)
    }

    /// Whether any requested action is read from the eyes (a blink).
    fn needs_eyes(&self, live_video: &LiveVideo) -> bool {
        live_video
            .challenges
            .iter()
            .filter(|c| c.kind == ChallengeType::Actions)
            .flat_map(|c| &c.value)
            .filter_map(|a| self.vocabulary.resolve(a))
            .any(|spec| spec.signal == "eyes")
    }

    /// Parses and validates a Live Video object against this verifier's languages and actions.
    pub fn parse_live_video(&self, json: &str) -> Result<LiveVideo, VerifyError> {
        Ok(LiveVideo::parse(json, &self.packs, &self.vocabulary)?)
    }

    /// The shared transcriber (for benches and tools).
    pub fn transcriber(&self) -> &Transcriber {
        &self.transcriber
    }

    /// Verifies one video against its Live Video object.
    pub fn verify(
        &self,
        video: &Path,
        live_video: &LiveVideo,
    ) -> Result<VerifyReport, VerifyError> {
        self.verify_cancellable(video, live_video, &Cancel::new())
    }

    /// `verify` that stops early, with `VerifyError::Cancelled`, once `cancel` is set.
    pub fn verify_cancellable(
        &self,
        video: &Path,
        live_video: &LiveVideo,
        cancel: &Cancel,
    ) -> Result<VerifyReport, VerifyError> {
        let result = self.verify_inner(video, live_video, cancel);
        if cancel.is_cancelled() {
            return Err(VerifyError::Cancelled);
        }
        result
    }

    fn verify_inner(
        &self,
        video: &Path,
        live_video: &LiveVideo,
        cancel: &Cancel,
    ) -> Result<VerifyReport, VerifyError> {
        let started = Instant::now();
        let pack = self.packs.for_tag(&live_video.language)?;
        let wants_voice = live_video
            .challenges
            .iter()
            .any(|c| c.kind == ChallengeType::Voice);
        let vision = if live_video
            .challenges
            .iter()
            .any(|c| c.kind == ChallengeType::Actions)
        {
            Some(self.vision_models()?)
        } else {
            None
        };
        let decode_config = DecodeConfig {
            frame_max_side: if vision.is_some() {
                self.config.vision_max_side
            } else {
                self.config.frame_max_side
            },
            max_fps: if vision.is_some() {
                self.config.vision_fps
            } else {
                0.0
            },
            max_duration_s: self.config.max_duration_s,
            audio: wants_voice,
            cancel: Some(cancel.0.clone()),
            ..DecodeConfig::default()
        };
        let (frame_tx, frame_rx) = bounded::<Frame>(self.config.frame_queue);
        let (audio_tx, audio_rx) = bounded::<AudioChunk>(self.config.audio_queue);
        let max_samples = (self.config.max_audio_s * f64::from(AUDIO_RATE)) as usize;

        let (stats, frames_seen, audio) = thread::scope(|s| {
            // ffmpeg contexts are not Send: the decoder is opened on the thread that runs it.
            let decoding = s.spawn(move || {
                let decoder = MediaDecoder::open(video, decode_config)?;
                let info = decoder.info().clone();
                decoder
                    .run(Some(frame_tx), wants_voice.then_some(audio_tx))
                    .map(|stats| (info, stats))
            });
            let vision_models = vision.clone();
            let eyes = self.needs_eyes(live_video);
            let frames = s.spawn(move || match vision_models {
                Some(models) => {
                    // Keep draining after a failure so that the decoder never blocks.
                    let trace = analyse_frames(&models, frame_rx.iter(), eyes);
                    let drained = frame_rx.iter().count();
                    trace.map(|t| (t.samples.len() as u64 + drained as u64, Some(t)))
                }
                None => Ok((frame_rx.iter().count() as u64, None)),
            });
            let audio = s.spawn(move || {
                let mut c = CollectedAudio {
                    samples: Vec::new(),
                    first_pts: None,
                    truncated: false,
                };
                for chunk in audio_rx.iter() {
                    c.first_pts.get_or_insert(chunk.pts);
                    let room = max_samples.saturating_sub(c.samples.len());
                    if chunk.samples.len() > room {
                        c.truncated = true;
                    }
                    c.samples
                        .extend_from_slice(&chunk.samples[..chunk.samples.len().min(room)]);
                }
                c
            });
            let stats: Result<(MediaInfo, DecodeStats), DecodeError> =
                decoding.join().unwrap_or_else(|_| {
                    Err(DecodeError::NoStreams {
                        path: video.to_path_buf(),
                    })
                });
            let frames = frames
                .join()
                .unwrap_or_else(|_| Err(VisionError::Inference("frame analysis panicked".into())));
            (stats, frames, audio.join().ok())
        });
        let (info, stats) = stats?;
        let (frames_seen, trace) = frames_seen?;
        let decode_seconds = started.elapsed().as_secs_f64();
        let audio = audio.ok_or_else(|| VerifyError::Internal("audio consumer panicked".into()))?;
        let mut media = MediaReport::new(
            &info,
            stats.decoded_seconds,
            frames_seen,
            stats.audio_samples,
        );
        if !wants_voice {
            // Audio was not decoded (no voice challenge); report the stream as it is.
            media.has_audio = info.has_audio;
        }

        // Actions: one pass of recognisers over the trace, shared by every actions challenge.
        let faces = trace.as_ref().map(faces_report);
        let baseline = trace.as_ref().and_then(SignalTrace::baseline);
        let mirrored = self.config.mirrored || live_video.mirrored.unwrap_or(false);
        let (events, pose) = match (&trace, &baseline) {
            (Some(t), Some(b)) => {
                let mut names: Vec<&String> = live_video
                    .challenges
                    .iter()
                    .filter(|c| c.kind == ChallengeType::Actions)
                    .flat_map(|c| &c.value)
                    .collect();
                names.sort();
                names.dedup();
                let events: Vec<ActionEvent> = names
                    .into_iter()
                    .filter_map(|n| self.vocabulary.resolve(n))
                    .flat_map(|spec| recognise(t, b, spec, mirrored))
                    .collect();
                (
                    events,
                    pose_trace(t, b, mirrored, self.config.pose_trace_hz),
                )
            }
            _ => (Vec::new(), Vec::new()),
        };

        let asr_started = Instant::now();
        // Challenges the free reading does not clear have their renderings scored against the
        // same audio (decided once the free reading is known, so clear ones cost nothing).
        let to_score = |heard: &str| texts_to_score(&live_video.challenges, pack, heard);
        let rivals = digit_rivals();
        let scoring = Scoring {
            texts: &to_score,
            rivals: &rivals,
        };
        // One transcript per decoding mode: free text for phrases, digit grammar for digits.
        let mut free_text: Option<Transcript> = None;
        let mut digit_text: Option<Transcript> = None;
        let mut reports: Vec<ChallengeReport> = Vec::with_capacity(live_video.challenges.len());
        for challenge in &live_video.challenges {
            let report = match challenge.kind {
                ChallengeType::Voice if !media.has_audio => unverified(
                    challenge,
                    Outcome::Rejected,
                    Reason::new(
                        "no_audio_track",
                        "the video has no audio track to hear the recital in",
                    ),
                ),
                ChallengeType::Voice => {
                    let start = audio.first_pts.unwrap_or(0.0);
                    if free_text.is_none() {
                        free_text = Some(self.transcriber.transcribe_with(
                            &audio.samples,
                            start,
                            &pack.whisper,
                            None,
                            Some(&scoring),
                            Some(&cancel.0),
                        )?);
                    }
                    let free = free_text.as_ref().expect("set above");
                    let mut r = voice_report(challenge, pack, free);
                    if !is_digit_challenge(&challenge.value) {
                        r = weigh_phrase_likelihood(r, phrase_likelihood(challenge, pack, free));
                    }
                    if wants_digit_reading(challenge, &r) {
                        if digit_text.is_none() {
                            let grammar = digit_grammar(pack);
                            digit_text = Some(self.transcriber.transcribe_with(
                                &audio.samples,
                                start,
                                &pack.whisper,
                                Some(&grammar),
                                None,
                                Some(&cancel.0),
                            )?);
                        }
                        let digits = digit_text.as_ref().expect("set above");
                        let free_complete = match &r.evidence {
                            Evidence::Voice(v) => v.heard_tokens.len() == v.expected_tokens.len(),
                            _ => false,
                        };
                        r = reconcile_digit_readings(challenge, pack, free, r, digits);
                        let places = digit_likelihood(challenge, free);
                        r = weigh_digit_likelihood(challenge, r, places, free_complete);
                    }
                    if audio.truncated && r.outcome == Outcome::Clear {
                        r.outcome = Outcome::Attention;
                        r.reasons.push(Reason::new(
                            "audio_too_long",
                            format!(
                                "only the first {} s of audio were analysed",
                                self.config.max_audio_s
                            ),
                        ));
                    }
                    r
                }
                ChallengeType::Actions => {
                    actions_verdict(challenge, &events, baseline, pose.clone())
                }
            };
            reports.push(report);
        }
        let timings = Timings {
            decode_seconds: round3(decode_seconds),
            asr_seconds: round3(asr_started.elapsed().as_secs_f64()),
            total_seconds: round3(started.elapsed().as_secs_f64()),
        };
        Ok(VerifyReport::new(
            live_video, reports, media, faces, timings,
        ))
    }
}
