//! Per-key limits: a request rate (a token bucket per API key, `serve --rate-limit N/s`) and
//! the uploads one account may have in flight at once (`serve --max-uploads-in-flight`).
//! Either answers `429 rate_limit_exceeded` with `Retry-After`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::error::ApiError;
use super::metrics;

/// A request rate: `N/s` or `N/min` (N may have a fraction); the bucket holds one second's
/// worth (at least one request), so a key may burst that many at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests a second.
    pub per_second: f64,
}

impl RateLimit {
    /// Tokens a full bucket holds.
    fn burst(&self) -> f64 {
        self.per_second.max(1.0)
    }
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?}: expected a rate such as 10/s or 300/min");
        let (n, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            _ => return Err(bad()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(bad());
        }
        Ok(Self {
            per_second: n / seconds,
        })
    }
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits of one service process (each `serve` process keeps its own counts).
#[derive(Debug)]
pub struct Limits {
    rate: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
    max_uploads: usize,
    uploads: Mutex<HashMap<String, usize>>,
}

/// Keys idle this long have full buckets again and are forgotten.
const IDLE_FORGET_S: f64 = 600.0;

impl Limits {
    /// Limits with this rate per key (none: unlimited) and at most `max_uploads` uploads in
    /// flight per account (0: unlimited).
    pub fn new(rate: Option<RateLimit>, max_uploads: usize) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
            max_uploads,
            uploads: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket, or says when the next one is due.
    pub fn take(&self, key: &str) -> Result<(), ApiError> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() < IDLE_FORGET_S);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: rate.burst(),
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rate.burst());
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / rate.per_second).ceil() as u64;
        metrics::global().rate_limited("rate");
        Err(ApiError::rate_limited(
            format!(
                "this API key is limited to {} requests a second; try again in {wait} s",
                rate.per_second
            ),
            wait,
        ))
    }

    /// A place for one more upload of `account`, held until the permit is dropped.
    pub fn upload(self: &Arc<Self>, account: &str) -> Result<UploadPermit, ApiError> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let n = uploads.entry(account.to_string()).or_insert(0);
        if self.max_uploads > 0 && *n >= self.max_uploads {
            metrics::global().rate_limited("uploads_in_flight");
            return Err(ApiError::rate_limited(
                format!(
                    "this account already has {} uploads in flight; try again when one has finished",
                    self.max_uploads
                ),
                1,
            ));
        }
        *n += 1;
        Ok(UploadPermit {
            limits: self.clone(),
            account: account.to_string(),
        })
    }
}

/// One upload in flight; dropping it frees the place.
#[derive(Debug)]
pub struct UploadPermit {
    limits: Arc<Limits>,
    account: String,
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        let mut uploads = self
            .limits
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = uploads.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                uploads.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("10/s".parse::<RateLimit>().unwrap().per_second, 10.0);
        assert_eq!("120/min".parse::<RateLimit>().unwrap().per_second, 2.0);
        assert_eq!("0.5/s".parse::<RateLimit>().unwrap().per_second, 0.5);
        for bad in ["10", "0/s", "-1/s", "x/s", "10/h", "inf/s", "NaN/s"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_per_key() {
        let limits = Limits::new(Some("3/s".parse().unwrap()), 0);
        for _ in 0..3 {
            limits.take("a").unwrap();
        }
        let e = limits.take("a").unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        assert_eq!(e.body.kind, "rate_limit_exceeded");
        assert_eq!(e.retry_after, Some(1));
        limits.take("b").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        limits.take("a").unwrap();
    }

    #[test]
    fn uploads_in_flight_are_bounded_per_account() {
        let limits = Arc::new(Limits::new(None, 2));
        let a = limits.upload("x").unwrap();
        let _b = limits.upload("x").unwrap();
        assert!(limits.upload("x").is_err());
        let _other = limits.upload("y").unwrap();
        drop(a);
        let _c = limits.upload("x").unwrap();
    }
}
