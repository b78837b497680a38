//! The [`Verifier`]: one video flows once through the stages of the picture in
//! `docs/architecture.md`, each a module here, on their own threads with bounded channels:
//! `audio` (the sound track decoded), `picture` (frames decoded and analysed by the vision
//! stage into a signal trace), `speech` (whisper's readings, judged by
//! `verdict::voice_verdicts`), `recognisers` (action events from the trace); then lip sync,
//! the faces analysis and `verdict::judge`. This file holds the Verifier itself: its models,
//! the threads, cancellation and limits around the stages.

mod audio;
mod picture;
mod priority;
mod recognisers;
mod speech;

use crate::control::Cancel;
use crate::report::{ChallengeType, MediaReport, Timings, VerifyReport};
use crate::report::{Classify, ErrorClass};

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::actions::{ActionVocabulary, VocabularyError};
use crate::av_sync::{lip_spans, measure, SpeechEnvelope};
use crate::decode::{DecodeConfig, DecodeError};
use crate::face_analysis::{faces_report, FramePlan};
use crate::live_video::{LiveVideo, LiveVideoError};
use crate::models::lazy::LazyModel;
use crate::models::{Manifest, ModelError, ModelsDir, WhisperWeights};
use crate::report::rounding::round3;
use crate::speech::asr::{AsrError, Transcriber};
use crate::speech::normalize::{LanguageError, LanguagePacks};
use crate::verdict::{judge, Findings};
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
    /// The whisper model, loaded on first need, is not installed or could not be loaded.
    #[error("speech model unavailable: {0}")]
    SpeechUnavailable(String),
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

/// Refuses a file that is not a video container liveness reads (see `sniff`), as the
/// service does at upload, before FFmpeg guesses what it might be.
fn check_container(path: &Path) -> Result<(), DecodeError> {
    let head = crate::sniff::read_head(path).map_err(|e| DecodeError::NotFound {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if crate::sniff::video(&head).is_some() {
        return Ok(());
    }
    Err(DecodeError::InvalidData {
        path: path.to_path_buf(),
        message: if head.is_empty() {
            "the file is empty".into()
        } else {
            "not a container liveness reads (MP4, QuickTime, WebM, Matroska, MPEG-PS/TS, AVI)"
                .into()
        },
    })
}

/// Tunables of a verification run.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Threads whisper may use.
    pub asr_threads: usize,
    /// Longest side of analysed frames (the face mesh wants detail).
    pub vision_max_side: u32,
    /// Frames fully analysed per second (faces, pose, eyes, identity: 15 keeps every blink).
    pub vision_fps: f64,
    /// Frames whose lips are read per second while speech is heard: lip sync reads the lips'
    /// rates of change, which move with syllables (4 to 8 a second), so every frame of a 25 or
    /// 30 fps video.
    pub sync_fps: f64,
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
    /// Which form of the whisper weights to load.
    pub whisper_weights: WhisperWeights,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            asr_threads: thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
            vision_max_side: 480,
            vision_fps: 15.0,
            sync_fps: 30.0,
            pose_trace_hz: 10.0,
            mirrored: false,
            max_duration_s: 600.0,
            max_audio_s: 120.0,
            frame_queue: 8,
            audio_queue: 32,
            whisper_weights: WhisperWeights::F16,
        }
    }
}

/// Vision models loaded on first use, shareable between a verifier and other users.
pub(crate) type SharedVision = Arc<LazyModel<Arc<VisionModels>>>;

/// The vision models of `vision`, loading them from the models folder `root` if needed; the
/// error is why they could not be loaded.
pub(crate) fn load_vision(vision: &SharedVision, root: &Path) -> Result<Arc<VisionModels>, String> {
    vision.get_or_load(|| {
        VisionModels::load(root)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
}

/// The whisper model, loaded on first use (see `Verifier::on_demand`).
type SharedSpeech = Arc<LazyModel<Arc<Transcriber>>>;

/// Loads the whisper weights `config.whisper_weights` names from a models folder, size-checked
/// against the manifest.
fn load_transcriber(
    models: &ModelsDir,
    config: &VerifierConfig,
) -> Result<Transcriber, VerifyError> {
    let manifest = Manifest::builtin();
    let name = config.whisper_weights.manifest_name();
    let entry = manifest
        .entry(name)
        .ok_or_else(|| VerifyError::Data(format!("manifest lacks {name}")))?;
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
    Transcriber::load(&path, config.asr_threads).map_err(|e| match e {
        AsrError::Load { path, message } => VerifyError::Model(ModelError::Load {
            path: path.into(),
            message,
        }),
        other => VerifyError::Asr(other),
    })
}

/// Runs `load`, with the seconds it took.
fn timed<T>(load: impl FnOnce() -> Result<T, VerifyError>) -> Result<(T, f64), VerifyError> {
    let started = Instant::now();
    load().map(|loaded| (loaded, started.elapsed().as_secs_f64()))
}

/// The verifier: models loaded once, then `verify` any number of videos (also concurrently).
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The whisper model (loaded by `new`, or on first need by `on_demand`).
    speech: SharedSpeech,
    /// The models folder the whisper model is loaded from.
    models: ModelsDir,
    packs: Arc<LanguagePacks>,
    vocabulary: Arc<ActionVocabulary>,
    /// The vision models, loaded on first use; may be shared with other users of the same
    /// models.
    vision: SharedVision,
    config: VerifierConfig,
    /// Seconds spent loading models that no report has counted yet (the first verification
    /// reports them as its `loadSeconds`).
    unreported_load: Arc<UnreportedLoad>,
}

/// Model-loading seconds not yet reported, shared by a verifier's clones.
#[derive(Debug, Default)]
struct UnreportedLoad(std::sync::atomic::AtomicU64);

impl UnreportedLoad {
    fn new(seconds: f64) -> Self {
        Self(seconds.to_bits().into())
    }

    /// The seconds not yet reported, leaving 0.
    fn take(&self) -> f64 {
        f64::from_bits(self.0.swap(0, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Verifier {
    /// Loads the whisper model (the weights `config.whisper_weights` names) from a models
    /// folder, size-checked against the manifest.
    pub fn new(models: &ModelsDir, config: VerifierConfig) -> Result<Self, VerifyError> {
        let started = Instant::now();
        let transcriber = Arc::new(load_transcriber(models, &config)?);
        let mut verifier = Self::on_demand(models, config)?;
        // The cell is empty: the loader is called and cannot fail.
        let _ = verifier.speech.get_or_load(|| Ok(transcriber));
        verifier.unreported_load = Arc::new(UnreportedLoad::new(started.elapsed().as_secs_f64()));
        Ok(verifier)
    }

    /// A verifier that loads each model on first need: the vision models with the first
    /// verification, the whisper model with the first voice challenge (a video without one
    /// never reads its 148 MB), the two at the same time when both are needed. For a process
    /// that verifies one video; a failed load is the first verification's error (exit 69).
    pub fn on_demand(models: &ModelsDir, config: VerifierConfig) -> Result<Self, VerifyError> {
        Ok(Self {
            speech: SharedSpeech::default(),
            models: models.clone(),
            packs: Arc::new(LanguagePacks::builtin()?),
            vocabulary: Arc::new(ActionVocabulary::builtin()?),
            vision: SharedVision::default(),
            config,
            unreported_load: Arc::new(UnreportedLoad::default()),
        })
    }

    /// Like `new`, loading the vision models at the same time on another thread, for a
    /// process about to verify (the two loads overlap instead of adding up). A vision model
    /// that fails to load fails here, as it would on the first verification.
    pub fn load_all(models: &ModelsDir, config: VerifierConfig) -> Result<Self, VerifyError> {
        let started = Instant::now();
        let vision = SharedVision::default();
        let root = models.root().to_path_buf();
        let (verifier, loaded) = thread::scope(|s| {
            let loading = s.spawn(|| load_vision(&vision, &root));
            let verifier = Self::new(models, config);
            let loaded = loading
                .join()
                .unwrap_or_else(|_| Err("loading the vision models panicked".into()));
            (verifier, loaded)
        });
        let mut verifier = verifier?.sharing_vision(vision);
        loaded.map_err(VerifyError::VisionUnavailable)?;
        verifier.unreported_load = Arc::new(UnreportedLoad::new(started.elapsed().as_secs_f64()));
        Ok(verifier)
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
        load_vision(&self.vision, self.models.root()).map_err(VerifyError::VisionUnavailable)
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

    /// The shared transcriber (for benches and tools), loaded if it is not yet.
    pub fn transcriber(&self) -> Result<Arc<Transcriber>, VerifyError> {
        self.speech
            .get_or_load(|| {
                load_transcriber(&self.models, &self.config)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .map_err(VerifyError::SpeechUnavailable)
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
        crate::control::crash_drill("verify", video);
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
        check_container(video)?;
        let wants_voice = live_video
            .challenges
            .iter()
            .any(|c| c.kind == ChallengeType::Voice);
        let decode_config = DecodeConfig {
            frame_max_side: self.config.vision_max_side,
            max_fps: self.config.vision_fps,
            max_duration_s: self.config.max_duration_s,
            cancel: Some(cancel.flag().clone()),
            ..DecodeConfig::default()
        };
        // Every video gets the faces analysis, whatever its challenges: a liveness verdict is
        // about the person on screen. The whisper model is needed for a voice challenge only.
        // Models not loaded yet load here, at the same time as each other and as the voice's
        // audio, which is decoded first: it takes a small fraction of the picture's time, and
        // where the speech is tells the vision stage which frames lip sync needs. The picture
        // is then decoded and analysed on two threads, started as soon as the vision models
        // and the audio are there (whisper's larger model may still be loading), while this
        // thread recognises the speech; with a voice challenge the picture threads run at a
        // lower priority, since speech is then the longer path (`priority`).
        let cores = thread::available_parallelism().map_or(2, |n| n.get());
        let joined = |what: &str| VerifyError::Internal(format!("{what} panicked"));
        let (heard, envelope, vision_load, speech, seen) = thread::scope(|s| {
            let speech_model = wants_voice.then(|| s.spawn(|| timed(|| self.transcriber())));
            let audio_config = decode_config.clone();
            let hearing = wants_voice.then(|| {
                s.spawn(move || {
                    audio::hear(
                        video,
                        audio_config,
                        self.config.audio_queue,
                        self.config.max_audio_s,
                    )
                })
            });
            let vision = timed(|| self.vision_models());
            let heard = hearing
                .map(|h| h.join().unwrap_or_else(|_| Err(joined("the audio pass"))))
                .transpose();
            // Errors leave the scope only once the other threads are done; a whisper model
            // still loading is waited for.
            let ((vision, vision_load), heard) = (vision?, heard?);
            let envelope = heard
                .as_ref()
                .filter(|h| !h.samples.is_empty())
                .map(|h| SpeechEnvelope::new(&h.samples, h.first_pts.unwrap_or(0.0)));
            let plan = FramePlan {
                eyes: self.needs_eyes(live_video),
                full_fps: self.config.vision_fps,
                lip_spans: envelope.as_ref().map(lip_spans).unwrap_or_default(),
            };
            let see_config = DecodeConfig {
                dense_spans: plan.lip_spans.clone(),
                dense_fps: self.config.sync_fps,
                ..decode_config
            };
            let seeing = s.spawn(move || {
                if wants_voice {
                    // Speech is the critical path: the picture pass (this thread and the ones
                    // it spawns) takes the CPU whisper leaves.
                    priority::lower_this_thread(priority::PICTURE_NICE);
                }
                picture::see(video, see_config, self.config.frame_queue, &vision, &plan)
            });
            let speech = speech_model
                .map(|h| h.join().unwrap_or_else(|_| Err(joined("loading whisper"))))
                .transpose()
                .and_then(|model| {
                    let Some((transcriber, load)) = model else {
                        return Ok(None);
                    };
                    // The vision stage keeps one core busy while whisper runs.
                    let run = speech::SpeechRun {
                        transcriber: &transcriber,
                        threads: self.config.asr_threads.min(cores.saturating_sub(1)).max(1),
                        max_audio_s: self.config.max_audio_s,
                        cancel,
                    };
                    let audio = heard
                        .as_ref()
                        .ok_or_else(|| VerifyError::Internal("no audio pass ran".into()))?;
                    let voice = speech::recognise(&run, live_video, pack, audio)?;
                    Ok(Some((voice, load)))
                });
            let seen = seeing
                .join()
                .unwrap_or_else(|_| Err(VerifyError::Internal("frame analysis panicked".into())));
            Ok::<_, VerifyError>((heard, envelope, vision_load, speech, seen))
        })?;
        let seen = seen?;
        // Without a voice challenge: no reports, no speech seconds, no whisper load.
        let ((voice, speech_seconds), whisper_load) = speech?.unwrap_or_default();
        let earlier_load = self.unreported_load.take();
        // The loads ran side by side: the longer one is what the verification waited for.
        let load_seconds = earlier_load + vision_load.max(whisper_load);

        let info = &seen.info;
        let mut media = MediaReport::new(
            info,
            seen.stats
                .decoded_seconds
                .max(heard.as_ref().map_or(0.0, |h| h.decoded_seconds)),
            seen.stats.video_frames,
            heard.as_ref().map_or(0, |h| h.samples.len() as u64),
        );
        if heard.is_none() {
            // Audio was not decoded (no voice challenge); report the stream as it is.
            media.has_audio = info.has_audio;
        }
        let trace = &seen.trace;
        let faces = faces_report(trace);
        // Lip sync: how the lips on screen follow the speech heard.
        let av_sync = envelope.as_ref().map(|e| measure(trace, e));
        let mirrored = self.config.mirrored || live_video.mirrored.unwrap_or(false);
        let (events, baseline, pose) = recognisers::action_events(
            &self.vocabulary,
            live_video,
            trace,
            mirrored,
            self.config.pose_trace_hz,
        );
        let findings = Findings {
            voice,
            av_sync,
            events,
            baseline,
            face_frames: trace.faces().count(),
            pose,
            faces,
            media,
            timings: Timings {
                load_seconds: round3(load_seconds),
                decode_seconds: round3(
                    heard.as_ref().map_or(0.0, |h| h.decode_seconds) + seen.stats.busy_seconds(),
                ),
                vision_seconds: round3(seen.vision_seconds),
                asr_seconds: round3(speech_seconds.asr),
                likelihood_seconds: round3(speech_seconds.likelihood),
                total_seconds: round3(earlier_load + started.elapsed().as_secs_f64()),
            },
        };
        Ok(judge(live_video, findings))
    }
}

/// What the voice pass gathered.
impl Classify for VerifyError {
    fn class(&self) -> ErrorClass {
        match self {
            VerifyError::LiveVideo(e) => e.class(),
            VerifyError::Decode(e) => e.class(),
            VerifyError::Model(e) => e.class(),
            VerifyError::Asr(e) => e.class(),
            VerifyError::VisionUnavailable(_) | VerifyError::SpeechUnavailable(_) => {
                ErrorClass::ModelUnavailable
            }
            VerifyError::Vision(e) => e.class(),
            VerifyError::Data(_) | VerifyError::Internal(_) => ErrorClass::Internal,
            VerifyError::Cancelled => ErrorClass::Cancelled,
        }
    }

    fn param(&self) -> Option<String> {
        match self {
            VerifyError::LiveVideo(e) => e.param(),
            VerifyError::Decode(e) => e.param(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ErrorObject;
    use std::path::PathBuf;

    #[test]
    fn verify_errors_map_to_sysexits_and_typed_objects() {
        let classify = |e: &VerifyError| (e.class().exit_code(), e.to_object());
        let (code, obj) = classify(&VerifyError::LiveVideo(LiveVideoError::NoChallenges));
        assert_eq!((code, obj.kind.as_str()), (65, "invalid_request"));
        let nf = VerifyError::Decode(DecodeError::NotFound {
            path: PathBuf::from("x.mp4"),
            message: "No such file".into(),
        });
        assert_eq!(classify(&nf).0, 66);
        let bad = VerifyError::Decode(DecodeError::InvalidData {
            path: PathBuf::from("x.mp4"),
            message: "truncated".into(),
        });
        assert_eq!(
            classify(&bad),
            (
                65,
                ErrorObject {
                    kind: "invalid_media".into(),
                    message: bad.to_string(),
                    param: None,
                }
            )
        );
        let missing = VerifyError::Model(ModelError::Missing(PathBuf::from("m")));
        assert_eq!(classify(&missing).0, 69);
        let json = serde_json::to_value(classify(&missing).1).unwrap();
        assert_eq!(json["type"], "model_unavailable");
    }
}
