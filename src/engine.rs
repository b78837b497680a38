//! The inference side of the service: the models loaded once per process, on first need, and
//! shared by every job — whisper only for Live Videos, the vision models for Live Photos and
//! actions, one copy of each —, and the two jobs it runs: verify a Live Video, inspect a Live
//! Photo, answering check results as JSON. A model that fails to load is tried again after a
//! pause (`LazyModel`), so the process recovers once the models are fixed. Blocking; callers
//! run it on a blocking thread.
//!
//! An isolated engine (`Engine::isolated`, what `serve` and `worker` use) runs every job that
//! touches native code (FFmpeg, ONNX Runtime, whisper.cpp) in a runner process (see
//! `isolation` and `runner`) whose death fails only that job; the runner itself holds an
//! in-process engine and answers [`EngineJob`]s with [`Engine::run_here`].
//!
//! Without the `service` feature only the runner uses the engine (in process), so the
//! isolated side and the service's jobs are unused there.
#![cfg_attr(not(feature = "service"), allow(dead_code))]

use crate::report::{Classify, ErrorClass, Outcome};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control::Cancel;
use crate::decode::{DecodeConfig, DecodeError, MediaDecoder, MediaInfo};
use crate::isolation::{IsolationError, RunnerCommand, RunnerPool};
use crate::live_photo::{inspect_photo, PhotoError};
use crate::models::lazy::{LazyModel, RETRY_AFTER};
use crate::models::ModelsDir;
use crate::pipeline::{load_vision, SharedVision, Verifier, VerifierConfig};
use crate::vision::analyzer::VisionModels;

/// Why a job produced no result: what the caller can do about it (its class) and what went
/// wrong. It crosses the runner pipe as JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct EngineError {
    /// What the caller can do about it (whether the job is retried, the API status).
    pub class: ErrorClass,
    /// What went wrong, for a person.
    pub message: String,
    /// The input at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl EngineError {
    /// An error of this class.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            param: None,
        }
    }

    /// Our own failure (retried).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, message)
    }

    /// A module error, keeping its class and param.
    pub fn of<E: Classify + ?Sized>(e: &E) -> Self {
        Self {
            class: e.class(),
            message: e.to_string(),
            param: e.param(),
        }
    }
}

impl Classify for EngineError {
    fn class(&self) -> ErrorClass {
        self.class
    }

    fn param(&self) -> Option<String> {
        self.param.clone()
    }
}

impl From<IsolationError> for EngineError {
    fn from(e: IsolationError) -> Self {
        Self::of(&e)
    }
}

/// A job for an engine, as a runner process receives it (JSON, tagged by `job`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum EngineJob {
    /// Verify `media` against a Live Video object (JSON text): a check result.
    VerifyVideo {
        /// The Live Video object.
        live_video: String,
        /// The media file.
        media: PathBuf,
    },
    /// A photo check's result.
    PhotoCheck {
        /// The image.
        image: PathBuf,
        /// Whether the liveness inspection counts.
        perform_liveness: bool,
    },
    /// A photo's inspections (at upload).
    InspectPhoto {
        /// The image.
        image: PathBuf,
        /// Whether the liveness inspection counts.
        perform_liveness: bool,
    },
    /// Opens an upload with FFmpeg: what the container says (`MediaInfo`).
    ProbeVideo {
        /// The media file.
        media: PathBuf,
    },
}

/// Runner processes of an isolated engine: one pool for checks (as many idle runners as
/// workers), one for the short jobs of uploads (probing, photo inspection).
#[derive(Debug)]
struct Runners {
    checks: RunnerPool,
    uploads: RunnerPool,
    job_timeout: Duration,
}

/// Models and configuration, loaded on first use and shared.
#[derive(Debug)]
pub struct Engine {
    models: ModelsDir,
    config: VerifierConfig,
    verifier: LazyModel<Arc<Verifier>>,
    vision: SharedVision,
    runners: Option<Runners>,
}

/// Settings of an isolated engine's runner processes.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// How to start a runner (`liveness runner --models DIR --threads N`).
    pub command: RunnerCommand,
    /// Idle runners kept for checks (the number of workers).
    pub checks: usize,
    /// Idle runners kept for uploads.
    pub uploads: usize,
    /// Longest a job may run in a runner before it is cancelled (and killed after a grace).
    pub job_timeout: Duration,
}

impl Engine {
    /// Whether the model files this engine needs are present with their manifest sizes (no
    /// hashing: a readiness probe's check).
    pub fn models_present(&self) -> Result<(), crate::models::ModelError> {
        self.models.present(self.config.whisper_weights)
    }

    /// An engine reading models from `models` (nothing is loaded yet).
    pub fn new(models: ModelsDir, config: VerifierConfig) -> Self {
        Self::with_retry_after(models, config, RETRY_AFTER)
    }

    /// The same, trying a model that failed to load again after `retry_after`.
    pub fn with_retry_after(
        models: ModelsDir,
        config: VerifierConfig,
        retry_after: Duration,
    ) -> Self {
        Self {
            models,
            config,
            verifier: LazyModel::new(retry_after),
            vision: Arc::new(LazyModel::new(retry_after)),
            runners: None,
        }
    }

    /// An engine that runs every job in runner processes (see the module doc).
    pub fn isolated(models: ModelsDir, config: VerifierConfig, isolation: Isolation) -> Self {
        let mut engine = Self::new(models, config);
        engine.runners = Some(Runners {
            checks: RunnerPool::new(isolation.command.clone(), isolation.checks),
            uploads: RunnerPool::new(isolation.command, isolation.uploads),
            job_timeout: isolation.job_timeout,
        });
        engine
    }

    /// Runs `job` in a runner process when isolated, else here.
    fn run(&self, job: EngineJob, cancel: &Cancel) -> Result<serde_json::Value, EngineError> {
        let Some(runners) = &self.runners else {
            return self.run_here(job, cancel);
        };
        let pool = match job {
            EngineJob::VerifyVideo { .. } | EngineJob::PhotoCheck { .. } => &runners.checks,
            EngineJob::InspectPhoto { .. } | EngineJob::ProbeVideo { .. } => &runners.uploads,
        };
        let request =
            serde_json::to_value(&job).map_err(|e| EngineError::internal(e.to_string()))?;
        let deadline = Instant::now() + runners.job_timeout;
        let answer = pool.call(&request, cancel, Some(deadline))?;
        decode_answer(answer)
    }

    /// Runs `job` in this process (what a runner process does with the jobs it receives).
    pub fn run_here(
        &self,
        job: EngineJob,
        cancel: &Cancel,
    ) -> Result<serde_json::Value, EngineError> {
        let internal = |e: serde_json::Error| EngineError::internal(e.to_string());
        match job {
            EngineJob::VerifyVideo { live_video, media } => {
                self.verify_here(&live_video, &media, cancel)
            }
            EngineJob::PhotoCheck {
                image,
                perform_liveness,
            } => {
                let (outcome, report) = self.photo_report(&image, perform_liveness)?;
                Ok(serde_json::json!({"outcome": outcome.complycube(), "breakdown": report}))
            }
            EngineJob::InspectPhoto {
                image,
                perform_liveness,
            } => self
                .photo_report(&image, perform_liveness)
                .map(|(_, report)| report),
            EngineJob::ProbeVideo { media } => {
                crate::control::crash_drill("probe", &media);
                let info = MediaDecoder::open(&media, DecodeConfig::default())
                    .map(|d| d.info().clone())
                    .map_err(|e| about_upload(&e, "video"))?;
                serde_json::to_value(info).map_err(internal)
            }
        }
    }

    /// The verifier (whisper; its vision models are the engine's), loading it the first time.
    pub fn verifier(&self) -> Result<Arc<Verifier>, EngineError> {
        self.verifier
            .get_or_load(|| {
                Verifier::new(&self.models, self.config.clone())
                    .map(|v| Arc::new(v.sharing_vision(self.vision.clone())))
                    .map_err(|e| e.to_string())
            })
            .map_err(|m| {
                EngineError::new(
                    ErrorClass::ModelUnavailable,
                    format!("models unavailable: {m}"),
                )
            })
    }

    /// The vision models alone (a Live Photo needs no whisper), loading them the first time.
    pub fn vision_models(&self) -> Result<Arc<VisionModels>, EngineError> {
        load_vision(&self.vision, self.models.root()).map_err(|m| {
            EngineError::new(
                ErrorClass::ModelUnavailable,
                format!("models unavailable: vision models unavailable: {m}"),
            )
        })
    }

    /// Verifies `media` against a Live Video object (JSON text). The result is the check's
    /// `{outcome, breakdown}`: ComplyCube's `clear`/`attention` and the full report.
    pub fn verify_video(
        &self,
        live_video: String,
        media: &Path,
        cancel: &Cancel,
    ) -> Result<serde_json::Value, EngineError> {
        let job = EngineJob::VerifyVideo {
            live_video,
            media: media.to_path_buf(),
        };
        self.run(job, cancel)
    }

    /// Verifies in this process.
    fn verify_here(
        &self,
        live_video: &str,
        media: &Path,
        cancel: &Cancel,
    ) -> Result<serde_json::Value, EngineError> {
        let verifier = self.verifier()?;
        let live_video = verifier
            .parse_live_video(live_video)
            .map_err(|e| EngineError::of(&e))?;
        let report = verifier
            .verify_cancellable(media, &live_video, cancel)
            .map_err(|e| EngineError::of(&e))?;
        Ok(serde_json::json!({
            "outcome": report.outcome.complycube(),
            "breakdown": report,
        }))
    }

    /// Inspects a photo: the report as `liveness photo` prints it; without
    /// `perform_liveness` the liveness inspection is left out of the breakdown and the outcome.
    pub fn inspect_photo(
        &self,
        path: &Path,
        perform_liveness: bool,
    ) -> Result<serde_json::Value, EngineError> {
        let job = EngineJob::InspectPhoto {
            image: path.to_path_buf(),
            perform_liveness,
        };
        self.run(job, &Cancel::new())
    }

    /// A photo check's result: `{outcome, breakdown}` with ComplyCube's outcome.
    pub fn photo_check(
        &self,
        path: &Path,
        perform_liveness: bool,
    ) -> Result<serde_json::Value, EngineError> {
        let job = EngineJob::PhotoCheck {
            image: path.to_path_buf(),
            perform_liveness,
        };
        self.run(job, &Cancel::new())
    }

    /// What FFmpeg finds in an uploaded video (it must open; the caller judges the rest).
    pub fn probe_video(&self, path: &Path) -> Result<MediaInfo, EngineError> {
        let job = EngineJob::ProbeVideo {
            media: path.to_path_buf(),
        };
        let value = self.run(job, &Cancel::new())?;
        serde_json::from_value(value).map_err(|e| EngineError::internal(e.to_string()))
    }

    /// The photo's outcome and report (see `inspect_photo`).
    fn photo_report(
        &self,
        path: &Path,
        perform_liveness: bool,
    ) -> Result<(Outcome, serde_json::Value), EngineError> {
        let vision = self.vision_models()?;
        let report = inspect_photo(&vision, path).map_err(|e| match &e {
            PhotoError::Decode(d) => about_upload(d, "image"),
            _ => EngineError::of(&e),
        })?;
        let b = &report.breakdown;
        let outcome = if perform_liveness {
            report.outcome
        } else {
            [
                &b.face_analysis,
                &b.facial_obstruction,
                &b.facial_orientation,
            ]
            .iter()
            .fold(Outcome::Clear, |o, i| o.worst(i.outcome))
        };
        let mut value =
            serde_json::to_value(&report).map_err(|e| EngineError::internal(e.to_string()))?;
        if !perform_liveness {
            if let Some(breakdown) = value["breakdown"].as_object_mut() {
                breakdown.remove("liveness");
            }
        }
        value["outcome"] = serde_json::json!(outcome);
        Ok((outcome, value))
    }
}

/// A decoding error as the uploader of `what` is told it: the reason without the path of the
/// temporary file the service stored the upload under.
fn about_upload(e: &DecodeError, what: &str) -> EngineError {
    let reason = e.reason();
    let (class, message) = match e.class() {
        ErrorClass::InvalidMedia => (e.class(), format!("{what} does not decode: {reason}")),
        ErrorClass::LimitReached => (e.class(), format!("limit reached: {reason}")),
        // The uploader named no file: ours went missing.
        ErrorClass::NotFound => (ErrorClass::Internal, e.to_string()),
        class => (class, e.to_string()),
    };
    EngineError {
        class,
        message,
        param: e.param(),
    }
}

/// A runner's answer: `{"ok": value}` or `{"error": EngineError}`.
pub fn encode_answer(result: Result<serde_json::Value, EngineError>) -> serde_json::Value {
    match result {
        Ok(value) => serde_json::json!({ "ok": value }),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

/// The result in a runner's answer (see [`encode_answer`]).
pub fn decode_answer(mut answer: serde_json::Value) -> Result<serde_json::Value, EngineError> {
    if let Some(value) = answer.get_mut("ok") {
        return Ok(value.take());
    }
    match answer.get_mut("error").map(|e| e.take()) {
        Some(error) => Err(serde_json::from_value(error).unwrap_or_else(|e| {
            EngineError::internal(format!("unreadable error from the runner: {e}"))
        })),
        None => Err(EngineError::internal(
            "the runner's answer has neither ok nor error",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_with_their_error_class() {
        let ok = encode_answer(Ok(serde_json::json!({"outcome": "clear"})));
        assert_eq!(decode_answer(ok).unwrap()["outcome"], "clear");
        let error = EngineError::new(ErrorClass::InvalidMedia, "video does not decode");
        let failed = encode_answer(Err(error.clone()));
        assert_eq!(failed["error"]["class"], "invalidMedia");
        assert_eq!(decode_answer(failed), Err(error));
        let job = EngineJob::PhotoCheck {
            image: "a.jpg".into(),
            perform_liveness: true,
        };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value["job"], "photoCheck");
        assert_eq!(value["performLiveness"], true);
        assert_eq!(serde_json::from_value::<EngineJob>(value).unwrap(), job);
    }
}
