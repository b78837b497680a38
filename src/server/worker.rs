//! Job workers: claim a pending check from the store, fetch its media into a temporary file,
//! run the engine on a blocking thread while renewing the lease, store the result (and queue
//! its webhook) — once. A worker that dies leaves its lease to run out; another worker then
//! claims the check again, up to its attempt limit. A worker told to stop (SIGTERM) claims
//! nothing more, lets running jobs finish within its grace period, and hands the rest back to
//! the queue at once, without counting the attempt.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::views::webhook_payload;
use crate::control::Cancel;
use crate::engine::{Engine, EngineError};
use crate::report::ErrorClass;
use crate::store::media::{MediaError, MediaStore};
use crate::store::{now_ms, ClaimedCheck, JobFailure, LiveVideoRecord, Store};

/// How workers behave.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// A claimed job's lease; renewed every third of it while the job runs.
    pub lease: Duration,
    /// Wait between polls when the queue is empty (a new check in this process wakes the
    /// workers at once).
    pub poll: Duration,
    /// Longest one job may run before it is stopped (and failed as `timeout`).
    pub job_timeout: Duration,
    /// Where media is copied for decoding.
    pub tmp_dir: PathBuf,
    /// This process's name in the `worker` column and the log.
    pub name: String,
    /// At shutdown, how long a running job may go on to finish; after it the job is stopped
    /// and handed back to the queue at once (not left to its lease).
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    /// Defaults: 60 s lease, 1 s poll, 10 min job limit, the system temporary folder, 10 s
    /// shutdown grace.
    pub fn new(name: String) -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            job_timeout: Duration::from_secs(600),
            tmp_dir: std::env::temp_dir(),
            name,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The failure of a job whose record or media is gone (deleted or redacted): not retried.
fn gone(what: &str) -> JobFailure {
    JobFailure::new(
        ErrorClass::NotFound,
        format!("the {what} was deleted or redacted before the check ran"),
    )
}

/// The failure of a job the store or media store let down: retried.
fn store_failure(e: &dyn std::fmt::Display) -> JobFailure {
    JobFailure::new(ErrorClass::Internal, format!("store: {e}"))
}

/// The Live Video object a stored record stands for (the JSON the verifier parses), with
/// the time its issued challenges were drawn, when it was uploaded with some.
fn live_video_object(record: &LiveVideoRecord, issued_at: Option<&str>) -> serde_json::Value {
    let mut object = serde_json::json!({
        "id": record.id,
        "clientId": record.client_id,
        "language": record.language,
        "challenges": record.challenges,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "mirrored": record.mirrored,
    });
    if let Some(t) = issued_at {
        object["challengeIssuedAt"] = t.into();
    }
    object
}

/// A process-unique worker name: host, pid and a random suffix.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &crate::store::new_id()[..6]
    )
}

/// Runs jobs.
#[derive(Debug)]
pub struct JobRunner {
    store: Store,
    media: MediaStore,
    engine: Arc<Engine>,
    config: WorkerConfig,
}

impl JobRunner {
    /// A runner over a store, a media store and an engine.
    pub fn new(store: Store, media: MediaStore, engine: Arc<Engine>, config: WorkerConfig) -> Self {
        Self {
            store,
            media,
            engine,
            config,
        }
    }

    /// How its workers behave.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The store jobs are claimed from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts `count` worker loops; they stop when `stop` turns true (finishing the job in
    /// hand).
    pub fn spawn(
        self: &Arc<Self>,
        count: usize,
        wake: Arc<Notify>,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..count {
            let runner = self.clone();
            let wake = wake.clone();
            let stop = stop.clone();
            let id = format!("{}/{i}", self.config.name);
            set.spawn(async move { runner.work(id, wake, stop).await });
        }
        set
    }

    async fn work(&self, id: String, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let mut last_sweep = Instant::now();
        while !*stop.borrow() {
            if last_sweep.elapsed() > self.config.lease {
                last_sweep = Instant::now();
                if let Err(e) = self.store.fail_exhausted(now_ms(), webhook_payload).await {
                    tracing::warn!("worker {id}: sweep: {e}");
                }
            }
            let lease_ms = self.config.lease.as_millis() as i64;
            match self.store.claim_check(&id, now_ms(), lease_ms).await {
                Ok(Some(job)) => self.run(&id, job, stop.clone()).await,
                Ok(None) => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!("worker {id}: claim: {e}");
                    tokio::time::sleep(self.config.poll.max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    async fn run(&self, worker: &str, job: ClaimedCheck, stop: watch::Receiver<bool>) {
        let started = Instant::now();
        let metrics = super::metrics::global();
        if job.reclaimed {
            metrics.lease_reclaimed();
        }
        tracing::info!(
            "worker {worker}: check {} attempt {} started{}",
            job.id,
            job.attempts,
            if job.reclaimed {
                " (its previous worker's lease ran out)"
            } else {
                ""
            }
        );
        let Some(outcome) = self.execute(worker, &job, stop).await else {
            metrics.lease_released();
            return;
        };
        let seconds = started.elapsed().as_secs_f64();
        metrics.job_finished(
            &job.kind,
            outcome.as_ref().map_err(|f| f.kind.as_str()),
            seconds,
        );
        let status = match &outcome {
            Ok(r) => format!("complete {}", r["outcome"].as_str().unwrap_or("?")),
            Err(f) => format!("{} ({})", f.kind, f.message),
        };
        match self.store.complete_check(&job, worker, outcome, webhook_payload).await {
            Ok(true) => tracing::info!(
                "worker {worker}: check {} attempt {} -> {status} in {seconds:.2} s",
                job.id,
                job.attempts,
            ),
            Ok(false) => tracing::warn!(
                "worker {worker}: check {}: lease lost, result dropped (another worker has it)",
                job.id
            ),
            Err(e) => tracing::error!(
                "worker {worker}: check {}: result not stored ({e}); the lease will expire and it runs again",
                job.id
            ),
        }
    }

    /// Runs the job; None when it was handed back at shutdown.
    async fn execute(
        &self,
        worker: &str,
        job: &ClaimedCheck,
        stop: watch::Receiver<bool>,
    ) -> Option<Result<serde_json::Value, JobFailure>> {
        // Fetching the media may take long (a large file, an object store riding out an
        // outage): the lease is renewed meanwhile, as while the job runs.
        match self.renewing(worker, job, self.prepare(job)).await {
            Ok((work, cancel, tmp)) => {
                let result = self.supervise(worker, job, work, &cancel, stop).await;
                drop(tmp);
                result.map(|r| r.map_err(|e| JobFailure::of(&e)))
            }
            Err(failure) => Some(Err(failure)),
        }
    }

    /// Fetches the job's record and media and makes the blocking work that checks it.
    async fn prepare(
        &self,
        job: &ClaimedCheck,
    ) -> Result<(Work, Cancel, tempfile::NamedTempFile), JobFailure> {
        let tmp =
            tempfile::NamedTempFile::new_in(&self.config.tmp_dir).map_err(|e| store_failure(&e))?;
        let path = tmp.path().to_path_buf();
        let engine = self.engine.clone();
        let cancel = Cancel::new();
        let work: Work = match job.kind.as_str() {
            "liveness_video_check" => {
                let record = self
                    .store
                    .live_video_for_job(job)
                    .await
                    .map_err(|e| store_failure(&e))?
                    .ok_or_else(|| gone("Live Video"))?;
                self.fetch(record.media_key.as_deref(), "Live Video", &path)
                    .await?;
                let issued = match &record.challenge_id {
                    Some(id) => self
                        .store
                        .issued_challenge(&record.account_id, id)
                        .await
                        .map_err(|e| store_failure(&e))?,
                    None => None,
                };
                let issued_at = issued.as_ref().map(|c| c.created_at.as_str());
                let cancel = cancel.clone();
                let live_video = live_video_object(&record, issued_at).to_string();
                Box::new(move || engine.verify_video(live_video, &path, &cancel))
            }
            "liveness_photo_check" => {
                let record = self
                    .store
                    .live_photo_for_job(job)
                    .await
                    .map_err(|e| store_failure(&e))?
                    .ok_or_else(|| gone("Live Photo"))?;
                self.fetch(record.media_key.as_deref(), "Live Photo", &path)
                    .await?;
                let perform = record.perform_liveness_check;
                Box::new(move || engine.photo_check(&path, perform))
            }
            other => {
                return Err(JobFailure::new(
                    ErrorClass::InvalidRequest,
                    format!("unknown check type {other:?}"),
                ))
            }
        };
        Ok((work, cancel, tmp))
    }

    /// Copies a record's media into `path`; a redacted record or a missing object fails the
    /// job for good, a store error is retried.
    async fn fetch(
        &self,
        key: Option<&str>,
        what: &str,
        path: &std::path::Path,
    ) -> Result<(), JobFailure> {
        let key = key.ok_or_else(|| gone(what))?;
        self.media
            .get_to_file(key, path)
            .await
            .map_err(|e| match e {
                MediaError::NotFound(_) => gone(what),
                e => store_failure(&e),
            })
    }

    /// Extends the job's lease by a full lease from now. False only when the worker no longer
    /// holds it (another worker took the job over); a store that does not answer is logged
    /// and tried again at the next renewal.
    async fn renew(&self, worker: &str, job: &ClaimedCheck) -> bool {
        let until = now_ms() + self.config.lease.as_millis() as i64;
        match self.store.renew_lease(&job.id, worker, until).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("worker {worker}: lease renewal: {e}");
                true
            }
        }
    }

    /// Awaits `work` while renewing the job's lease every third of it.
    async fn renewing<T>(
        &self,
        worker: &str,
        job: &ClaimedCheck,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let mut work = std::pin::pin!(work);
        let mut tick = tokio::time::interval(self.config.lease / 3);
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tick.tick() => {
                    self.renew(worker, job).await;
                }
            }
        }
    }

    /// Runs the blocking work while renewing the lease; stops it when the lease is lost or the
    /// time limit passes. When `stop` turns true the job has the shutdown grace to finish;
    /// after it the job is cancelled and handed back to the queue at once (None).
    async fn supervise(
        &self,
        worker: &str,
        job: &ClaimedCheck,
        work: Work,
        cancel: &Cancel,
        mut stop: watch::Receiver<bool>,
    ) -> Option<Result<serde_json::Value, EngineError>> {
        let deadline = Instant::now() + self.config.job_timeout;
        let mut handle = tokio::task::spawn_blocking(work);
        let mut tick = tokio::time::interval(self.config.lease / 3);
        tick.tick().await;
        let grace = self.config.shutdown_grace;
        let mut release_at = (*stop.borrow()).then(|| Instant::now() + grace);
        loop {
            let release = async {
                match release_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                joined = &mut handle => {
                    return Some(joined.unwrap_or_else(|e| Err(EngineError::internal(format!("job panicked: {e}")))));
                }
                changed = stop.changed(), if release_at.is_none() => {
                    if changed.is_err() || *stop.borrow() {
                        tracing::info!(
                            "worker {worker}: stopping; check {} has {grace:?} to finish",
                            job.id
                        );
                        release_at = Some(Instant::now() + grace);
                    }
                }
                _ = release => {
                    cancel.cancel();
                    match self.store.release_check(&job.id, worker).await {
                        Ok(true) => tracing::info!(
                            "worker {worker}: check {} handed back to the queue (shutdown)",
                            job.id
                        ),
                        Ok(false) => tracing::warn!(
                            "worker {worker}: check {}: lease already lost at shutdown",
                            job.id
                        ),
                        Err(e) => tracing::warn!(
                            "worker {worker}: check {}: not handed back ({e}); its lease will run out",
                            job.id
                        ),
                    }
                    return None;
                }
                _ = tick.tick() => {
                    if Instant::now() > deadline {
                        cancel.cancel();
                    }
                    if !self.renew(worker, job).await {
                        cancel.cancel();
                    }
                }
            }
        }
    }
}

/// A job's blocking work.
type Work = Box<dyn FnOnce() -> Result<serde_json::Value, EngineError> + Send>;
