//! Batch audits: verify a folder (or manifest) of recorded videos with the library, on a
//! bounded worker pool, appending each result to `results.jsonl` as soon as it is known, then
//! writing `summary.json` and a self-contained `report.html`. Re-running the same command skips what is done. One video's failure
//! or panic never stops the batch; the job queue holds paths, never decoded data.

internal_mod! {
    input;
    report;
    results;
    summary;
    thumbs;
}

use crate::report::{Classify, ErrorClass, ErrorObject, Evidence, VerifyReport};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::bounded;
use serde::{Deserialize, Serialize};

use self::input::{read_input, AuditJob, InputFailure};
use self::results::{for_each_line, input_sha256, ResultLine, ResultsFile, Thumbnail};
use self::summary::{summarise, AuditSummary, VideoRecord};
use crate::control::Cancel;
use crate::isolation::{Runner, RunnerCommand, CANCEL_GRACE};
use crate::pipeline::Verifier;
use crate::report::rounding::round3;

/// Errors that stop an audit (a single video's failure never does).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The input cannot be read.
    #[error(transparent)]
    Input(#[from] InputFailure),
    /// The models cannot be loaded.
    #[error("models unavailable: {0}")]
    Unavailable(String),
    /// The output folder or its files cannot be written.
    #[error("cannot write the audit output in {path}: {message}")]
    Output {
        /// The output folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Classify for AuditError {
    fn class(&self) -> ErrorClass {
        match self {
            AuditError::Input(e) => e.class(),
            AuditError::Unavailable(_) => ErrorClass::ModelUnavailable,
            AuditError::Output { .. } => ErrorClass::Output,
        }
    }
}

/// Where an audit's verifications run.
#[derive(Debug)]
pub enum Executor<'a> {
    /// In this process, with a loaded verifier: a native crash ends the audit.
    InProcess(&'a Verifier),
    /// Each worker in its own runner process (`liveness runner`, see `isolation`): a video
    /// that kills its runner gets an `internal_error` line and the next video a fresh runner.
    Isolated(RunnerCommand),
}

/// One video for a runner process: what [`run_job`] needs (JSON, `"job": "auditVideo"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditRequest {
    /// The Live Video's id.
    pub id: String,
    /// The video file.
    pub video: PathBuf,
    /// The Live Video object, as JSON text.
    pub live_video: String,
    /// sha256 of the inputs (recorded in the results line).
    pub input_sha256: String,
    /// Where thumbnails go.
    pub thumbs_dir: PathBuf,
    /// Time limit, seconds.
    pub timeout_seconds: Option<f64>,
}

/// The `job` tag of an [`AuditRequest`].
pub(crate) const AUDIT_JOB: &str = "auditVideo";

/// Runs an [`AuditRequest`] here (in a runner process): its results line.
pub(crate) fn run_request(verifier: &Verifier, request: AuditRequest) -> ResultLine {
    let job = AuditJob {
        id: request.id,
        video: request.video,
        live_video: request.live_video,
    };
    run_job(
        verifier,
        &job,
        request.input_sha256,
        &request.thumbs_dir,
        request
            .timeout_seconds
            .map(std::time::Duration::from_secs_f64),
    )
}

/// A results line with an error and no report.
fn error_line(
    job: &AuditJob,
    sha: String,
    class: ErrorClass,
    message: String,
    seconds: f64,
) -> ResultLine {
    ResultLine {
        live_video_id: job.id.clone(),
        video: job.video.display().to_string(),
        input_sha256: sha,
        report: None,
        error: Some(ErrorObject::of(class, message, None)),
        seconds: round3(seconds),
        thumbnails: Vec::new(),
    }
}

/// Runs one video in `runner`'s process; its death becomes an `internal_error` line.
fn run_isolated(
    runner: &mut Runner,
    job: &AuditJob,
    sha: String,
    thumbs_dir: &Path,
    timeout: Option<std::time::Duration>,
) -> ResultLine {
    let started = Instant::now();
    let request = AuditRequest {
        id: job.id.clone(),
        video: job.video.clone(),
        live_video: job.live_video.clone(),
        input_sha256: sha.clone(),
        thumbs_dir: thumbs_dir.to_path_buf(),
        timeout_seconds: timeout.map(|t| t.as_secs_f64()),
    };
    let mut value = serde_json::to_value(&request).unwrap_or_default();
    value["job"] = AUDIT_JOB.into();
    // The runner stops a video at its limit itself; the parent steps in only if it does not.
    let deadline = timeout.map(|t| started + t + CANCEL_GRACE);
    let seconds = || started.elapsed().as_secs_f64();
    match runner.call(&value, &Cancel::new(), deadline) {
        Ok(mut answer) => {
            if let Some(line) = answer.get_mut("ok").map(|v| v.take()) {
                return serde_json::from_value(line).unwrap_or_else(|e| {
                    error_line(
                        job,
                        sha,
                        ErrorClass::Internal,
                        format!("unreadable results line from the runner: {e}"),
                        seconds(),
                    )
                });
            }
            // The runner could not verify at all (its models, a bad request): its class.
            let error = &answer["error"];
            let class =
                serde_json::from_value(error["class"].clone()).unwrap_or(ErrorClass::Internal);
            let message = error["message"]
                .as_str()
                .unwrap_or("the runner failed")
                .to_string();
            error_line(job, sha, class, message, seconds())
        }
        Err(e) => error_line(
            job,
            sha,
            ErrorClass::Internal,
            format!("verification crashed its process and was not finished: {e}"),
            seconds(),
        ),
    }
}

/// Starts `count` runners and has each load its models (at once); the first failure is
/// returned.
fn start_runners(command: &RunnerCommand, count: usize) -> Result<Vec<Runner>, AuditError> {
    let mut runners: Vec<Runner> = (0..count).map(|_| Runner::new(command.clone())).collect();
    let load = serde_json::json!({"job": "loadModels"});
    let answers: Vec<Result<serde_json::Value, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = runners
            .iter_mut()
            .map(|r| {
                s.spawn(|| {
                    r.call(&load, &Cancel::new(), None)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("loading panicked".into())))
            .collect()
    });
    for answer in answers {
        let answer = answer.map_err(AuditError::Unavailable)?;
        if let Some(error) = answer.get("error") {
            let message = error["message"].as_str().unwrap_or("models failed to load");
            return Err(AuditError::Unavailable(message.to_string()));
        }
    }
    Ok(runners)
}

/// Settings of one audit.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Videos verified at once.
    pub jobs: usize,
    /// Output folder.
    pub out: PathBuf,
    /// Longest a single video may take; it is then stopped and recorded as a `timeout` error.
    pub timeout_per_video: Option<std::time::Duration>,
}

/// Progress after each finished video.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Videos finished in this run.
    pub done: usize,
    /// Videos this run has to do.
    pub total: usize,
    /// Videos skipped as already done by an earlier run.
    pub skipped: usize,
    /// Outcomes so far in this run (and `error`).
    pub outcomes: BTreeMap<String, usize>,
    /// Seconds since this run started.
    pub elapsed: f64,
}

impl Progress {
    /// Videos per minute so far.
    pub fn rate_per_minute(&self) -> f64 {
        if self.elapsed <= 0.0 {
            0.0
        } else {
            self.done as f64 * 60.0 / self.elapsed
        }
    }

    /// Seconds left at the current rate.
    pub fn eta_seconds(&self) -> Option<f64> {
        (self.done > 0).then(|| (self.total - self.done) as f64 * self.elapsed / self.done as f64)
    }
}

/// A verification stopped by the time limit (seconds).
struct TimedOut(f64);

/// Why one video has no report.
enum JobError {
    /// The library said no.
    Verify(crate::pipeline::VerifyError),
    /// The time limit ran out.
    TimedOut(TimedOut),
}

impl From<crate::pipeline::VerifyError> for JobError {
    fn from(e: crate::pipeline::VerifyError) -> Self {
        Self::Verify(e)
    }
}

impl From<TimedOut> for JobError {
    fn from(t: TimedOut) -> Self {
        Self::TimedOut(t)
    }
}

/// Most thumbnails per video.
const MAX_THUMBNAILS: usize = 6;

/// The moments to show for a report: each matched action's peak, else the middle.
fn thumbnail_moments(report: &VerifyReport) -> Vec<(f64, String)> {
    let mut moments: Vec<(f64, String)> = report
        .challenges
        .iter()
        .filter_map(|c| match &c.evidence {
            Evidence::Actions(a) => Some(a),
            _ => None,
        })
        .flat_map(|a| &a.performed)
        .filter_map(|p| p.event.as_ref().map(|e| (e.peak, p.action.clone())))
        .take(MAX_THUMBNAILS)
        .collect();
    if moments.is_empty() && report.media.has_video {
        moments.push((report.media.duration_seconds / 2.0, "middle".into()));
    }
    moments
}

/// Writes the thumbnails of one report into `dir` (names from a hash of the id, never from
/// the id itself); failures only cost the pictures.
fn write_thumbnails(dir: &Path, job: &AuditJob, report: &VerifyReport) -> Vec<Thumbnail> {
    let moments = thumbnail_moments(report);
    let times: Vec<f64> = moments.iter().map(|m| m.0).collect();
    let Ok(frames) = thumbs::frames_at(&job.video, &times) else {
        return Vec::new();
    };
    let stem = {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(job.id.as_bytes());
        h.iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut out = Vec::new();
    for (k, ((t, label), frame)) in moments.into_iter().zip(frames).enumerate() {
        let file = format!("{stem}-{k}.bmp");
        if std::fs::write(dir.join(&file), thumbs::bmp(&frame)).is_ok() {
            out.push(Thumbnail { t, label, file });
        }
    }
    out
}

/// Verifies one job; never panics (a panic inside verification becomes an error line).
pub(crate) fn run_job(
    verifier: &Verifier,
    job: &AuditJob,
    sha: String,
    thumbs_dir: &Path,
    timeout: Option<std::time::Duration>,
) -> ResultLine {
    let started = Instant::now();
    let cancel = Cancel::new();
    // A watchdog stops the verification when the time limit runs out.
    let (finished, watch) = bounded::<()>(1);
    let watchdog = timeout.map(|limit| {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            if let Err(crossbeam_channel::RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
                cancel.cancel();
            }
        })
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lv = verifier.parse_live_video(&job.live_video)?;
        verifier.verify_cancellable(&job.video, &lv, &cancel)
    }));
    drop(finished);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let outcome = match outcome {
        Ok(Err(crate::pipeline::VerifyError::Cancelled)) => Ok(Err(TimedOut(
            timeout.map_or(0.0, |t| t.as_secs_f64()),
        )
        .into())),
        other => other.map(|r| r.map_err(JobError::from)),
    };
    let (report, error) = match outcome {
        Ok(Ok(r)) => (Some(r), None),
        Ok(Err(JobError::Verify(e))) => (None, Some(e.to_object())),
        Ok(Err(JobError::TimedOut(t))) => (
            None,
            Some(ErrorObject::of(
                ErrorClass::Cancelled,
                format!("verification took longer than {:.1} s and was stopped", t.0),
                None,
            )),
        ),
        Err(_) => (
            None,
            Some(ErrorObject::of(
                ErrorClass::Internal,
                "verification panicked",
                None,
            )),
        ),
    };
    let seconds = round3(started.elapsed().as_secs_f64());
    let thumbnails = report
        .as_ref()
        .map(|r| write_thumbnails(thumbs_dir, job, r))
        .unwrap_or_default();
    ResultLine {
        live_video_id: job.id.clone(),
        video: job.video.display().to_string(),
        input_sha256: sha,
        report,
        error,
        seconds,
        thumbnails,
    }
}

/// Runs an audit of `input` into `config.out`, calling `progress` after each video.
pub fn run_audit(
    executor: &Executor,
    input: &Path,
    config: &AuditConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<AuditSummary, AuditError> {
    let out_err = |e: std::io::Error| AuditError::Output {
        path: config.out.clone(),
        message: e.to_string(),
    };
    let input = read_input(input)?;
    std::fs::create_dir_all(&config.out).map_err(out_err)?;
    let results_path = config.out.join("results.jsonl");
    let thumbs_dir = config.out.join("thumbs");
    std::fs::create_dir_all(&thumbs_dir).map_err(out_err)?;
    let (mut results, done) = ResultsFile::open(&results_path).map_err(out_err)?;

    // Hash inputs up front (streamed): what is already done is skipped.
    let mut todo: Vec<(AuditJob, String)> = Vec::new();
    let mut skipped = 0;
    let mut unreadable: Vec<ResultLine> = Vec::new();
    for job in input.jobs {
        match input_sha256(&job.video, &job.live_video) {
            Ok(sha) if done.contains(&(job.id.clone(), sha.clone())) => skipped += 1,
            Ok(sha) => todo.push((job, sha)),
            Err(e) => {
                let class = if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorClass::NotFound
                } else {
                    ErrorClass::InvalidMedia
                };
                let message = format!("{}: {e}", job.video.display());
                unreadable.push(error_line(&job, String::new(), class, message, 0.0));
            }
        }
    }
    let started = Instant::now();
    let mut state = Progress {
        total: todo.len() + unreadable.len(),
        skipped,
        ..Progress::default()
    };
    progress(&state);
    let mut record = |line: ResultLine,
                      results: &mut ResultsFile,
                      state: &mut Progress|
     -> Result<(), AuditError> {
        results.append(&line).map_err(out_err)?;
        let key = match (&line.report, &line.error) {
            (Some(r), _) => r.outcome.as_str().to_string(),
            _ => "error".to_string(),
        };
        *state.outcomes.entry(key).or_default() += 1;
        state.done += 1;
        state.elapsed = started.elapsed().as_secs_f64();
        progress(state);
        Ok(())
    };
    for line in unreadable {
        record(line, &mut results, &mut state)?;
    }

    let workers = config.jobs.max(1).min(todo.len().max(1));
    let mut runners: Vec<Option<Runner>> = match executor {
        Executor::Isolated(command) if !todo.is_empty() => start_runners(command, workers)?
            .into_iter()
            .map(Some)
            .collect(),
        _ => (0..workers).map(|_| None).collect(),
    };
    let (job_tx, job_rx) = bounded::<(AuditJob, String)>(workers * 2);
    let (done_tx, done_rx) = bounded::<ResultLine>(workers * 2);
    std::thread::scope(|s| -> Result<(), AuditError> {
        s.spawn(move || {
            for job in todo {
                if job_tx.send(job).is_err() {
                    break;
                }
            }
        });
        for mut runner in runners.drain(..) {
            let (rx, tx) = (job_rx.clone(), done_tx.clone());
            let thumbs_dir = &thumbs_dir;
            s.spawn(move || {
                for (job, sha) in rx.iter() {
                    let timeout = config.timeout_per_video;
                    let line = match (executor, runner.as_mut()) {
                        (_, Some(r)) => run_isolated(r, &job, sha, thumbs_dir, timeout),
                        (Executor::InProcess(v), None) => {
                            run_job(v, &job, sha, thumbs_dir, timeout)
                        }
                        (Executor::Isolated(_), None) => {
                            let message = "no runner process".to_string();
                            error_line(&job, sha, ErrorClass::Internal, message, 0.0)
                        }
                    };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for line in done_rx.iter() {
            record(line, &mut results, &mut state)?;
        }
        Ok(())
    })?;

    // Read the results back line by line: the latest line per video counts (a resumed audit
    // sums every run), and only a few words per video stay in memory.
    drop(results);
    let mut index: BTreeMap<String, VideoRecord> = BTreeMap::new();
    for_each_line(&results_path, |n, l| {
        index.insert(l.live_video_id.clone(), VideoRecord::of(n, &l));
    })
    .map_err(out_err)?;
    let summary = summarise(&index, input.errors);
    let text =
        serde_json::to_string_pretty(&summary).map_err(|e| out_err(std::io::Error::other(e)))?;
    std::fs::write(config.out.join("summary.json"), text + "\n").map_err(out_err)?;
    let html = std::fs::File::create(config.out.join("report.html")).map_err(out_err)?;
    let mut html = std::io::BufWriter::new(html);
    report::write_report(&results_path, &index, &summary, &thumbs_dir, &mut html)
        .and_then(|_| std::io::Write::flush(&mut html))
        .map_err(out_err)?;
    Ok(summary)
}
