//! The runner process (`liveness runner`): where the service's checks and an audit's videos
//! are verified, apart from the process that hands them out, so that a native crash costs
//! one job (see `isolation`). It answers each request line with `{"ok": ...}` or
//! `{"error": {"class", "message"}}`:
//! - an `EngineJob` (`verifyVideo`, `photoCheck`, `inspectPhoto`, `probeVideo`);
//! - `auditVideo` (an `audit::AuditRequest`): the video's results line;
//! - `loadModels`: loads whisper and the vision models now (an audit checks them up front).

use std::ffi::OsString;
use std::sync::Arc;

use serde_json::Value;

use crate::audit::{run_request, AuditRequest, AUDIT_JOB};
use crate::control::Cancel;
use crate::engine::{encode_answer, Engine, EngineError, EngineJob};
use crate::isolation::{serve_requests, RunnerCommand};
use crate::models::ModelsDir;
use crate::pipeline::VerifierConfig;

/// The `job` tag of the model-loading request.
pub(crate) const LOAD_MODELS_JOB: &str = "loadModels";

/// The command that starts a runner process of this executable with these models and
/// whisper threads.
pub fn runner_command(models: &ModelsDir, asr_threads: usize) -> std::io::Result<RunnerCommand> {
    RunnerCommand::this_executable(vec![
        OsString::from("runner"),
        OsString::from("--models"),
        models.root().as_os_str().to_owned(),
        OsString::from("--threads"),
        OsString::from(asr_threads.max(1).to_string()),
    ])
}

/// Answers one request with `engine`.
pub(crate) fn answer(engine: &Engine, request: Value, cancel: &Cancel) -> Value {
    let internal = |e: serde_json::Error| EngineError::internal(format!("bad request: {e}"));
    let result = match request.get("job").and_then(Value::as_str) {
        Some(AUDIT_JOB) => serde_json::from_value::<AuditRequest>(request)
            .map_err(internal)
            .and_then(|r| {
                let verifier = engine.verifier()?;
                serde_json::to_value(run_request(&verifier, r)).map_err(internal)
            }),
        Some(LOAD_MODELS_JOB) => load_models(engine).map(|_| Value::Null),
        _ => serde_json::from_value::<EngineJob>(request)
            .map_err(internal)
            .and_then(|job| engine.run_here(job, cancel)),
    };
    encode_answer(result)
}

/// Loads whisper and the vision models side by side.
fn load_models(engine: &Engine) -> Result<(), EngineError> {
    std::thread::scope(|s| {
        let vision = s.spawn(|| engine.vision_models().map(|_| ()));
        let whisper = engine.verifier().map(|_| ());
        let vision = vision
            .join()
            .unwrap_or_else(|_| Err(EngineError::internal("loading panicked")));
        whisper.and(vision)
    })
}

/// The runner process's main loop: an in-process engine answering requests on stdin until
/// it closes.
pub fn run(models: ModelsDir, config: VerifierConfig) -> std::io::Result<()> {
    let engine = Arc::new(Engine::new(models, config));
    serve_requests(|request, cancel| answer(&engine, request, cancel))
}
