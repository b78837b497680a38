//! The HTTP service (`liveness serve`) and the job worker (`liveness worker`): ComplyCube-style
//! Live Videos, Live Photos and Checks over a `Store` (SQLite by default, PostgreSQL to scale
//! out) and a `MediaStore`. Inference never runs on the async threads: jobs go to
//! `JobRunner`s, which run the engine on blocking threads.

internal_mod! {
    api;
    auth;
    error;
    http;
    limits;
    log;
    metrics;
    openapi;
    probes;
    service;
    state;
    upload;
    views;
    webhooks;
    worker;
}

pub use http::ClientTimeouts;
pub use limits::RateLimit;
pub use log::init as init_logging;
pub use webhooks::{verify_signature, WebhookConfig};
pub use worker::{worker_name, WorkerConfig};

pub(crate) use state::AppState;

use crate::report::{Classify, ErrorClass};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Notify, Semaphore};

use crate::actions::ActionVocabulary;
use crate::engine::{Engine, Isolation};
use crate::models::ModelsDir;
use crate::pipeline::VerifierConfig;
use crate::speech::normalize::LanguagePacks;
use crate::store::media::{MediaError, MediaStore};
use crate::store::{Store, StoreError};
use error::ApiError;
use worker::JobRunner;

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The media location.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// Files, sockets.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// Built-in data (language packs, action vocabulary) failed to load.
    #[error("built-in data: {0}")]
    Data(String),
    /// Options that do not fit together.
    #[error("{0}")]
    Config(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let context = context.into();
    move |source| ServiceError::Io { context, source }
}

/// Limits and behaviour of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest video upload in bytes.
    pub max_video_bytes: u64,
    /// Largest photo upload in bytes.
    pub max_photo_bytes: u64,
    /// Longest video accepted, seconds (container duration).
    pub max_video_seconds: f64,
    /// Attempts a check gets before it is `failed`.
    pub max_attempts: i64,
    /// Where uploads are spooled before they are checked and stored.
    pub tmp_dir: PathBuf,
    /// How long issued challenges stay valid.
    pub challenge_ttl: std::time::Duration,
    /// Refuse Live Video uploads that bring their own `challenges` (only issued ones).
    pub require_issued_challenges: bool,
    /// Requests a second per API key (None: unlimited).
    pub rate_limit: Option<limits::RateLimit>,
    /// Uploads one account may have in flight at once (0: unlimited).
    pub max_uploads_in_flight: usize,
}

impl ApiConfig {
    /// Defaults: 100 MB videos up to 120 s, 10 MB photos, 3 attempts, issued challenges
    /// valid for 300 s, uploads may bring their own challenges, no rate limit, 32 uploads in
    /// flight per account.
    pub fn new(tmp_dir: PathBuf) -> Self {
        Self {
            max_video_bytes: 100 << 20,
            max_photo_bytes: 10 << 20,
            max_video_seconds: 120.0,
            max_attempts: 3,
            tmp_dir,
            challenge_ttl: std::time::Duration::from_secs(300),
            require_issued_challenges: false,
            rate_limit: None,
            max_uploads_in_flight: 32,
        }
    }
}

/// The router: `/v1/...`, `/v1/openapi.json`, `/health`, the probes and `/metrics`; unknown
/// routes and methods answer in the API's error shape. Every request is counted in the
/// metrics by its route.
pub(crate) fn router(state: AppState) -> Router {
    let probes = probes::router(probes::Probes {
        store: state.store.clone(),
        media: state.media.clone(),
        engine: state.engine.clone(),
    });
    let upload_limit = state
        .config
        .max_video_bytes
        .max(state.config.max_photo_bytes)
        + (1 << 20);
    Router::new()
        .route(
            "/v1/liveVideos",
            post(api::create_live_video).get(api::list_live_videos),
        )
        .route(
            "/v1/liveVideos/{id}",
            get(api::get_live_video).delete(api::delete_live_video),
        )
        .route(
            "/v1/liveVideos/{id}/download",
            get(api::download_live_video),
        )
        .route("/v1/liveVideos/{id}/redact", post(api::redact_live_video))
        .route(
            "/v1/livePhotos",
            post(api::create_live_photo).get(api::list_live_photos),
        )
        .route(
            "/v1/livePhotos/{id}",
            get(api::get_live_photo).delete(api::delete_live_photo),
        )
        .route(
            "/v1/livePhotos/{id}/download",
            get(api::download_live_photo),
        )
        .route("/v1/livePhotos/{id}/redact", post(api::redact_live_photo))
        .route("/v1/challenges", post(api::create_challenge))
        .route("/v1/challenges/{id}", get(api::get_challenge))
        .route("/v1/checks", post(api::create_check).get(api::list_checks))
        .route("/v1/checks/{id}", get(api::get_check))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/health", get(api::health))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(upload_limit as usize))
        .with_state(state)
        .merge(probes)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(log::request_id))
}

/// Where the service keeps things.
#[derive(Debug, Clone)]
pub struct Locations {
    /// Database URL (`sqlite://...` or `postgres://...`).
    pub database: String,
    /// Media URL (`file:///...` or `s3://...`), or None to use the one the database names.
    pub media: Option<String>,
    /// Folder for temporary files.
    pub tmp_dir: PathBuf,
}

impl Locations {
    /// The defaults under a data folder: `DIR/liveness.db`, `DIR/media`, `DIR/tmp`; a given
    /// database or media URL replaces the default.
    pub fn in_data_dir(
        dir: &Path,
        database: Option<String>,
        media: Option<String>,
    ) -> Result<Self, ServiceError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(io(format!("resolving {}", dir.display())))?;
        let tmp_dir = dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(io("creating the tmp folder"))?;
        let database =
            database.unwrap_or_else(|| format!("sqlite://{}", dir.join("liveness.db").display()));
        let media = media.or_else(|| {
            // A shared server database names its media place; an embedded one defaults here.
            (!database.starts_with("postgres"))
                .then(|| url::Url::from_directory_path(dir.join("media")).ok())
                .flatten()
                .map(|u| u.to_string())
        });
        Ok(Self {
            database,
            media,
            tmp_dir,
        })
    }
}

/// Opens the store and the media place: a given media URL is recorded in the database (so
/// that `liveness worker --database URL` finds it); otherwise the recorded one is used.
pub(crate) async fn open_storage(loc: &Locations) -> Result<(Store, MediaStore), ServiceError> {
    let store = Store::open(&loc.database).await?;
    let url = match &loc.media {
        Some(url) => {
            store.set_setting("media_url", url).await?;
            url.clone()
        }
        None => store.setting("media_url").await?.ok_or_else(|| {
            ServiceError::Config(
                "no media location: pass --media URL (or start `liveness serve` once with it)"
                    .into(),
            )
        })?,
    };
    Ok((store, MediaStore::open(&url)?))
}

/// An API key made by [`create_key`]: the key itself is shown once and stored only as a hash.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key, `live_` and 64 hex digits: the client sends it as `Authorization: Bearer`.
    pub key: String,
    /// The account it belongs to (a new one unless one was named).
    pub account_id: String,
    /// The secret that signs this key's webhooks, when a webhook URL was given.
    pub webhook_secret: Option<String>,
}

/// Creates an API key in the store at `locations` (`liveness keys create`): in a new account
/// unless `account_id` names one, with webhooks to `webhook_url` (http or https) if given.
pub async fn create_key(
    locations: &Locations,
    account_id: Option<&str>,
    webhook_url: Option<&str>,
) -> Result<NewKey, ServiceError> {
    if let Some(url) = webhook_url {
        url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ServiceError::Config(format!("--webhook {url:?} is not an http(s) URL"))
            })?;
    }
    let store = Store::open(&locations.database).await?;
    let (key, record) = store.create_key(account_id, webhook_url).await?;
    Ok(NewKey {
        key,
        account_id: record.account_id,
        webhook_secret: record.webhook_secret,
    })
}

/// Options of `liveness serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Time limits that close slow and idle clients.
    pub timeouts: http::ClientTimeouts,
    /// Runner processes for checks and uploads (None: in this process, without crash
    /// isolation).
    pub isolation: Option<Isolation>,
    /// Storage.
    pub locations: Locations,
    /// Models folder.
    pub models: ModelsDir,
    /// In-process workers (0: leave jobs to `liveness worker` processes).
    pub workers: usize,
    /// Verifier settings (threads).
    pub verifier: VerifierConfig,
    /// API limits.
    pub api: ApiConfig,
    /// Worker timings.
    pub worker: WorkerConfig,
    /// Webhook retries.
    pub webhooks: WebhookConfig,
}

/// A shutdown signal: Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// What `serve` and `worker` run beside their main task: job workers and a webhook sender.
struct Background {
    stop: watch::Sender<bool>,
    workers: tokio::task::JoinSet<()>,
    hooks: tokio::task::JoinHandle<()>,
    grace: Duration,
}

impl Background {
    /// Starts `count` workers over `runner` and the webhook sender.
    fn start(runner: JobRunner, count: usize, wake: Arc<Notify>, hooks: &WebhookConfig) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let store = runner.store().clone();
        let grace = runner.config().shutdown_grace;
        let workers = Arc::new(runner).spawn(count, wake, stop_rx.clone());
        let hooks = tokio::spawn(webhooks::deliver_loop(store, hooks.clone(), stop_rx));
        Self {
            stop,
            workers,
            hooks,
            grace,
        }
    }

    /// Stops claiming jobs; jobs in hand get the shutdown grace to finish, and the rest are
    /// handed back to the queue at once.
    async fn stop(mut self) {
        self.stop.send(true).ok();
        // The workers hand back what is unfinished at the grace; a store that does not
        // answer then is given a few seconds more.
        let _ = tokio::time::timeout(self.grace + Duration::from_secs(10), async {
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        self.hooks.abort();
    }
}

/// Runs the service until Ctrl-C or SIGTERM: the API, `workers` in-process job workers and a
/// webhook sender. Prints `listening on ADDR` once the socket is bound.
pub async fn serve(options: ServeOptions) -> Result<(), ServiceError> {
    let (store, media) = open_storage(&options.locations).await?;
    let engine = Arc::new(make_engine(
        &options.models,
        &options.verifier,
        options.isolation.clone(),
    ));
    let wake = Arc::new(Notify::new());
    let state = AppState {
        store: store.clone(),
        media: media.clone(),
        engine: engine.clone(),
        config: Arc::new(options.api.clone()),
        packs: Arc::new(LanguagePacks::builtin().map_err(|e| ServiceError::Data(e.to_string()))?),
        vocabulary: Arc::new(
            ActionVocabulary::builtin().map_err(|e| ServiceError::Data(e.to_string()))?,
        ),
        wake: wake.clone(),
        blocking: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        limits: Arc::new(limits::Limits::new(
            options.api.rate_limit,
            options.api.max_uploads_in_flight,
        )),
    };
    let background = Background::start(
        JobRunner::new(store.clone(), media, engine, options.worker.clone()),
        options.workers,
        wake,
        &options.webhooks,
    );
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(io(format!("binding {}", options.listen)))?;
    let addr = listener.local_addr().map_err(io("local address"))?;
    tracing::info!(
        "liveness serve: listening on {addr} ({} in-process workers)",
        options.workers
    );
    http::serve(listener, router(state), options.timeouts, shutdown_signal()).await;
    background.stop().await;
    Ok(())
}

/// An engine running jobs in runner processes, or in this process without `isolation`.
fn make_engine(
    models: &ModelsDir,
    verifier: &VerifierConfig,
    isolation: Option<Isolation>,
) -> Engine {
    match isolation {
        Some(i) => Engine::isolated(models.clone(), verifier.clone(), i),
        None => Engine::new(models.clone(), verifier.clone()),
    }
}

/// Options of `liveness worker`.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Runner processes for the checks (None: in this process, without crash isolation).
    pub isolation: Option<Isolation>,
    /// Storage.
    pub locations: Locations,
    /// Models folder.
    pub models: ModelsDir,
    /// Concurrent jobs in this process.
    pub concurrency: usize,
    /// Verifier settings.
    pub verifier: VerifierConfig,
    /// Worker timings.
    pub worker: WorkerConfig,
    /// Webhook retries.
    pub webhooks: WebhookConfig,
    /// Where to answer `/healthz`, `/readyz` and `/metrics` (None: nowhere).
    pub listen: Option<SocketAddr>,
}

/// Runs job workers (and a webhook sender) until Ctrl-C or SIGTERM; with `listen`, also the
/// probes and metrics (printing `listening on ADDR`).
pub async fn run_worker(options: WorkerOptions) -> Result<(), ServiceError> {
    let (store, media) = open_storage(&options.locations).await?;
    let engine = Arc::new(make_engine(
        &options.models,
        &options.verifier,
        options.isolation.clone(),
    ));
    let probes = options.listen.map(|addr| {
        let router = probes::router(probes::Probes {
            store: store.clone(),
            media: media.clone(),
            engine: engine.clone(),
        })
        .layer(axum::middleware::from_fn(metrics::track));
        (addr, router)
    });
    let background = Background::start(
        JobRunner::new(store, media, engine, options.worker.clone()),
        options.concurrency.max(1),
        Arc::new(Notify::new()),
        &options.webhooks,
    );
    tracing::info!(
        "liveness worker {}: running {} job(s) at a time",
        options.worker.name,
        options.concurrency
    );
    match probes {
        Some((addr, router)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(io(format!("binding {addr}")))?;
            let addr = listener.local_addr().map_err(io("local address"))?;
            tracing::info!("liveness worker: probes and metrics listening on {addr}");
            http::serve(
                listener,
                router,
                http::ClientTimeouts::default(),
                shutdown_signal(),
            )
            .await;
        }
        None => shutdown_signal().await,
    }
    background.stop().await;
    Ok(())
}

impl Classify for ServiceError {
    fn class(&self) -> ErrorClass {
        match self {
            ServiceError::Store(e) => e.class(),
            ServiceError::Media(e) => e.class(),
            ServiceError::Io { .. } => ErrorClass::Output,
            ServiceError::Data(_) => ErrorClass::Internal,
            ServiceError::Config(_) => ErrorClass::Usage,
        }
    }
}
