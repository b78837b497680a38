//! Batch audits: verify a folder (or manifest) of recorded videos with the library, on a
//! bounded worker pool, appending each result to `results.jsonl` as soon as it is known, then
//! writing `summary.json`. Re-running the same command skips what is done. One video's failure
//! or panic never stops the batch; the job queue holds paths, never decoded data.

pub mod input;
pub mod results;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::bounded;
use serde::{Deserialize, Serialize};

use self::input::{read_input, AuditJob, InputFailure};
use self::results::{done_keys, input_sha256, ResultLine, ResultsFile};
use self::summary::{summarise, AuditSummary};
use crate::cli::{classify, ErrorObject};
use crate::pipeline::Verifier;

/// Errors that stop an audit (a single video's failure never does).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The input cannot be read.
    #[error(transparent)]
    Input(#[from] InputFailure),
    /// The output folder or its files cannot be written.
    #[error("cannot write the audit output in {path}: {message}")]
    Output {
        /// The output folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Settings of one audit.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Videos verified at once.
    pub jobs: usize,
    /// Output folder.
    pub out: PathBuf,
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

/// Verifies one job; never panics (a panic inside verification becomes an error line).
fn run_job(verifier: &Verifier, job: &AuditJob, sha: String) -> ResultLine {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lv = verifier.parse_live_video(&job.live_video)?;
        verifier.verify(&job.video, &lv)
    }));
    let (report, error) = match outcome {
        Ok(Ok(r)) => (Some(r), None),
        Ok(Err(e)) => (None, Some(classify(&e).1)),
        Err(_) => (
            None,
            Some(ErrorObject {
                kind: "internal_error".into(),
                message: "verification panicked".into(),
            }),
        ),
    };
    ResultLine {
        live_video_id: job.id.clone(),
        video: job.video.display().to_string(),
        input_sha256: sha,
        report,
        error,
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// Runs an audit of `input` into `config.out`, calling `progress` after each video.
pub fn run_audit(
    verifier: &Verifier,
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
    let (mut results, mut lines) = ResultsFile::open(&results_path).map_err(out_err)?;
    let done = done_keys(&lines);

    // Hash inputs up front (streamed): what is already done is skipped.
    let mut todo: Vec<(AuditJob, String)> = Vec::new();
    let mut skipped = 0;
    let mut unreadable: Vec<ResultLine> = Vec::new();
    for job in input.jobs {
        match input_sha256(&job.video, &job.live_video) {
            Ok(sha) if done.contains(&(job.id.clone(), sha.clone())) => skipped += 1,
            Ok(sha) => todo.push((job, sha)),
            Err(e) => unreadable.push(ResultLine {
                live_video_id: job.id.clone(),
                video: job.video.display().to_string(),
                input_sha256: String::new(),
                report: None,
                error: Some(ErrorObject {
                    kind: if e.kind() == std::io::ErrorKind::NotFound {
                        "resource_not_found".into()
                    } else {
                        "invalid_media".into()
                    },
                    message: format!("{}: {e}", job.video.display()),
                }),
                seconds: 0.0,
            }),
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
                      lines: &mut Vec<ResultLine>,
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
        lines.push(line);
        progress(state);
        Ok(())
    };
    for line in unreadable {
        record(line, &mut results, &mut lines, &mut state)?;
    }

    let workers = config.jobs.max(1);
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
        for _ in 0..workers {
            let (rx, tx) = (job_rx.clone(), done_tx.clone());
            s.spawn(move || {
                for (job, sha) in rx.iter() {
                    if tx.send(run_job(verifier, &job, sha)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for line in done_rx.iter() {
            record(line, &mut results, &mut lines, &mut state)?;
        }
        Ok(())
    })?;

    let summary = summarise(&lines, input.errors);
    let text =
        serde_json::to_string_pretty(&summary).map_err(|e| out_err(std::io::Error::other(e)))?;
    std::fs::write(config.out.join("summary.json"), text + "\n").map_err(out_err)?;
    Ok(summary)
}
