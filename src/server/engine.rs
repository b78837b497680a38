//! The inference side of the service: the models loaded once per process, on first need, and
//! shared by every job — whisper only for Live Videos, the vision models for Live Photos and
//! actions, one copy of each —, and the two jobs it runs: verify a Live Video, inspect a Live
//! Photo, answering check results as JSON. A model that fails to load is tried again after a
//! pause (`LazyModel`), so the process recovers once the models are fixed. Blocking; callers
//! run it on a blocking thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::classify;
use crate::live_photo::{inspect_photo, PhotoError};
use crate::live_video::Outcome;
use crate::models::lazy::{LazyModel, RETRY_AFTER};
use crate::models::ModelsDir;
use crate::pipeline::{load_vision, Cancel, SharedVision, Verifier, VerifierConfig, VerifyError};
use crate::store::{JobFailure, LiveVideoRecord};
use crate::vision::analyzer::VisionModels;

/// Why a job produced no result.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input itself is unusable (undecodable media, invalid challenges): retrying will
    /// not help.
    #[error("{0}")]
    Input(String),
    /// Models missing or failing to load: another attempt (on another machine) may work.
    #[error("models unavailable: {0}")]
    Unavailable(String),
    /// The job ran past its time limit or was called off.
    #[error("stopped: {0}")]
    Stopped(String),
    /// Anything else (a bug, an inference failure).
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    /// The stored failure of a job.
    pub fn to_failure(&self) -> JobFailure {
        let (kind, retryable) = match self {
            Self::Input(_) => ("invalid_media", false),
            Self::Unavailable(_) => ("model_unavailable", true),
            Self::Stopped(_) => ("timeout", false),
            Self::Internal(_) => ("internal_error", true),
        };
        JobFailure {
            kind: kind.into(),
            message: self.to_string(),
            retryable,
        }
    }
}

impl From<&VerifyError> for EngineError {
    fn from(e: &VerifyError) -> Self {
        let (_, object) = classify(e);
        match object.kind.as_str() {
            "invalid_request" | "invalid_media" | "resource_not_found" => {
                Self::Input(object.message)
            }
            "model_unavailable" => Self::Unavailable(object.message),
            "timeout" => Self::Stopped(object.message),
            _ => Self::Internal(object.message),
        }
    }
}

/// Models and configuration, loaded on first use and shared.
#[derive(Debug)]
pub struct Engine {
    models: ModelsDir,
    config: VerifierConfig,
    verifier: LazyModel<Arc<Verifier>>,
    vision: SharedVision,
}

impl Engine {
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
            .map_err(EngineError::Unavailable)
    }

    /// The vision models alone (a Live Photo needs no whisper), loading them the first time.
    pub fn vision_models(&self) -> Result<Arc<VisionModels>, EngineError> {
        load_vision(&self.vision, self.models.root())
            .map_err(|m| EngineError::Unavailable(format!("vision models unavailable: {m}")))
    }

    /// Verifies a stored Live Video's media file. The result is the check's
    /// `{outcome, breakdown}`: ComplyCube's `clear`/`attention` and the full report.
    pub fn verify_video(
        &self,
        record: &LiveVideoRecord,
        media: &Path,
        cancel: &Cancel,
    ) -> Result<serde_json::Value, EngineError> {
        let verifier = self.verifier()?;
        let object = serde_json::json!({
            "id": record.id,
            "clientId": record.client_id,
            "language": record.language,
            "challenges": record.challenges,
            "createdAt": record.created_at,
            "updatedAt": record.updated_at,
            "mirrored": record.mirrored,
        });
        let live_video = verifier
            .parse_live_video(&object.to_string())
            .map_err(|e| EngineError::from(&e))?;
        let report = verifier
            .verify_cancellable(media, &live_video, cancel)
            .map_err(|e| EngineError::from(&e))?;
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
        self.photo_report(path, perform_liveness)
            .map(|(_, report)| report)
    }

    /// A photo check's result: `{outcome, breakdown}` with ComplyCube's outcome.
    pub fn photo_check(
        &self,
        path: &Path,
        perform_liveness: bool,
    ) -> Result<serde_json::Value, EngineError> {
        let (outcome, report) = self.photo_report(path, perform_liveness)?;
        Ok(serde_json::json!({"outcome": outcome.complycube(), "breakdown": report}))
    }

    /// The photo's outcome and report (see `inspect_photo`).
    fn photo_report(
        &self,
        path: &Path,
        perform_liveness: bool,
    ) -> Result<(Outcome, serde_json::Value), EngineError> {
        let vision = self.vision_models()?;
        let report = inspect_photo(&vision, path).map_err(|e| match e {
            PhotoError::Decode(_) | PhotoError::NoPicture(_) => EngineError::Input(e.to_string()),
            PhotoError::Vision(_) => EngineError::Internal(e.to_string()),
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
            serde_json::to_value(&report).map_err(|e| EngineError::Internal(e.to_string()))?;
        if !perform_liveness {
            if let Some(breakdown) = value["breakdown"].as_object_mut() {
                breakdown.remove("liveness");
            }
        }
        value["outcome"] = serde_json::json!(outcome);
        Ok((outcome, value))
    }
}
