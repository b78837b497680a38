//! Probes and metrics for whoever runs the service: `GET /healthz` (the process answers; no
//! dependency is asked), `GET /readyz` (database, media store and model files, each within a
//! few seconds; 503 naming the part that failed) and `GET /metrics` (Prometheus text). None
//! needs a key and none tells more than which part is down: details go to the log.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::metrics;
use crate::engine::Engine;
use crate::store::media::MediaStore;
use crate::store::Store;

/// How long one readiness check may take before its part counts as down.
const CHECK_LIMIT: Duration = Duration::from_secs(3);

/// What the probes look at.
#[derive(Debug, Clone)]
pub struct Probes {
    /// The database.
    pub store: Store,
    /// The media store.
    pub media: MediaStore,
    /// The engine whose model files must be present.
    pub engine: Arc<Engine>,
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// The answer of `/readyz`: each part `ok` or why not (`unreachable`, `timeout`, `missing`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every part is `ok`, else `unready`.
    pub status: String,
    /// The database (a query answered).
    pub database: String,
    /// The media store (a metadata request answered).
    pub media: String,
    /// The model files (present with their manifest sizes).
    pub models: String,
}

/// The routes, with their own state: merged into the API router and served alone by workers.
pub fn router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(probes)
}

/// The process answers (no dependency is asked).
#[utoipa::path(get, path = "/healthz", tag = "Service", security(()),
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Runs one check within [`CHECK_LIMIT`]: `ok`, or the word for what failed (the detail is
/// logged).
async fn part<E: std::fmt::Display>(
    name: &str,
    check: impl std::future::Future<Output = Result<(), E>>,
    failed: &str,
) -> String {
    match tokio::time::timeout(CHECK_LIMIT, check).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => {
            tracing::warn!("readyz: {name}: {e}");
            failed.into()
        }
        Err(_) => {
            tracing::warn!("readyz: {name}: no answer within {CHECK_LIMIT:?}");
            "timeout".into()
        }
    }
}

/// Ready to take work: the database and media store answer and the model files are there.
#[utoipa::path(get, path = "/readyz", tag = "Service", security(()),
    responses(
        (status = 200, description = "Every part answers", body = Readiness),
        (status = 503, description = "A part is down (named in the body)", body = Readiness),
    ))]
pub async fn readyz(State(p): State<Probes>) -> (StatusCode, Json<Readiness>) {
    let engine = p.engine.clone();
    let models = async move {
        tokio::task::spawn_blocking(move || engine.models_present().map_err(|e| e.to_string()))
            .await
            .map_err(|e| e.to_string())?
    };
    let (database, media, models) = tokio::join!(
        part("database", p.store.ping(), "unreachable"),
        part("media", p.media.ping(), "unreachable"),
        part("models", models, "missing"),
    );
    let ready = [&database, &media, &models].iter().all(|s| *s == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "unready" }.into(),
            database,
            media,
            models,
        }),
    )
}

/// Metrics in the Prometheus text format: this process's counters and histograms, and the
/// queue's gauges from the database.
#[utoipa::path(get, path = "/metrics", tag = "Service", security(()),
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        (status = 503, description = "The database did not answer", body = super::error::ErrorBody),
    ))]
pub async fn metrics_text(State(p): State<Probes>) -> Response {
    let mut text = metrics::global().render();
    match metrics::queue_gauges(&p.store).await {
        Ok(gauges) => text.push_str(&gauges),
        Err(e) => return super::error::ApiError::from(e).into_response(),
    }
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE_TEXT)],
        text,
    )
        .into_response()
}
