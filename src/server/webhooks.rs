//! Webhook delivery: completed checks are queued in the store in the same transaction that
//! completes them (so none is lost), then posted by any running process with an
//! HMAC-SHA256 signature, and retried with exponential backoff.
//!
//! Signature header `X-Liveness-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" keyed by the webhook secret>`; the receiver recomputes it and may reject old
//! timestamps to stop replays.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::store::{now_ms, Store};

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Liveness-Signature";

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Wait before the second attempt; doubled after each failure (at most an hour).
    pub retry_base: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: i64,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Wait between polls of an empty queue.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(10),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// The signature header value for a body sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a signature header against a body (constant-time comparison).
pub fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&v1).is_ok()
}

/// Posts due deliveries until `stop` turns true.
pub async fn deliver_loop(store: Store, config: WebhookConfig, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhooks: no HTTP client ({e}); deliveries stay queued");
            return;
        }
    };
    while !*stop.borrow() {
        let lease = (config.timeout.as_millis() as i64) * 3;
        match store.claim_delivery(now_ms(), lease).await {
            Ok(Some(d)) => {
                let timestamp = chrono::Utc::now().timestamp();
                let sent = client
                    .post(&d.url)
                    .header("Content-Type", "application/json")
                    .header(SIGNATURE_HEADER, sign(&d.secret, timestamp, &d.payload))
                    .header("X-Liveness-Delivery", &d.id)
                    .body(d.payload.clone())
                    .send()
                    .await;
                let error = match sent {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status())),
                    Err(e) => Some(e.to_string()),
                };
                super::metrics::global().webhook_attempt(error.is_none());
                let retry_at = error.as_ref().and_then(|_| {
                    (d.attempts < config.max_attempts).then(|| {
                        let factor = 1u32 << (d.attempts - 1).clamp(0, 16) as u32;
                        let wait = (config.retry_base * factor).min(Duration::from_secs(3600));
                        now_ms() + wait.as_millis() as i64
                    })
                });
                if let Err(e) = store
                    .finish_delivery(&d.id, error.as_deref(), retry_at)
                    .await
                {
                    tracing::warn!("webhooks: delivery {} not recorded: {e}", d.id);
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(config.poll) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!("webhooks: claim: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let header = sign("whsec_x", 1_800_000_000, "{\"a\":1}");
        assert!(header.starts_with("t=1800000000,v1="));
        assert!(verify_signature("whsec_x", &header, "{\"a\":1}"));
        assert!(!verify_signature("whsec_x", &header, "{\"a\":2}"));
        assert!(!verify_signature("whsec_y", &header, "{\"a\":1}"));
        assert!(!verify_signature("whsec_x", "v1=00", "{\"a\":1}"));
    }
}
