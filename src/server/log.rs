//! Logging for the service: `tracing` events with levels on stderr, and a request id on every
//! HTTP request (the client's `X-Request-Id` when it sends a sensible one, else a new one),
//! answered in the `X-Request-Id` header and attached to every event logged while the request
//! is handled, so that a client's report can be found in the log.

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use tracing::Instrument;

/// The environment variable holding the log filter (`tracing_subscriber::EnvFilter` syntax,
/// for example `info` or `liveness=debug`); `info` when unset.
pub const LOG_ENV: &str = "LIVENESS_LOG";

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-given request id kept.
const MAX_REQUEST_ID: usize = 64;

/// Sends log events to stderr (with colours only on a terminal), filtered by `LIVENESS_LOG` (as `RUST_LOG`).
/// Does nothing when a subscriber is already installed.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The client's request id when it is 1 to 64 characters of letters, digits, `-`, `_`, `.`
/// (anything else could forge log lines); otherwise none.
fn client_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let fine = !text.is_empty()
        && text.len() <= MAX_REQUEST_ID
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    fine.then(|| text.to_string())
}

/// A new request id: 16 hex digits.
fn new_request_id() -> String {
    format!("{:016x}", rand::thread_rng().next_u64())
}

/// Middleware: gives the request its id, handles it inside a span carrying the id, method
/// and path, logs its status and time, and answers the id in `X-Request-Id`.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = client_request_id(request.headers().get(REQUEST_ID)).unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, ms, "request failed");
        } else {
            tracing::info!(status, ms, "request answered");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_client_request_ids_are_kept() {
        let id = |s: &str| client_request_id(Some(&HeaderValue::from_str(s).unwrap()));
        assert_eq!(id("abc-123_x.y"), Some("abc-123_x.y".into()));
        assert_eq!(id(""), None);
        assert_eq!(id("two words"), None);
        assert_eq!(id("a;b"), None);
        assert_eq!(id(&"a".repeat(65)), None);
        assert_eq!(client_request_id(None), None);
        let fresh = new_request_id();
        assert_eq!(fresh.len(), 16);
        assert_ne!(fresh, new_request_id());
    }
}
