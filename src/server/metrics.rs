//! Metrics in the Prometheus text format (`GET /metrics` on `serve`, and on a `worker` given
//! `--listen`): counters and histograms kept by this process, and the queue's gauges read
//! from the database when scraped (they are the same whichever process answers).
//!
//! One registry per process ([`global`]): HTTP requests by route, method and status with
//! latency histograms by route; checks created, completed (by type and outcome) and failed
//! (by type and error type); job run time by stage; lease reclaims and releases; webhook
//! deliveries and failures; model load time; requests refused by the rate limits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::store::{now_ms, Store};

/// Upper bounds (seconds) of the request latency buckets.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds (seconds) of the job and stage time buckets.
const JOB_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// A histogram: counts per bucket (not cumulative), sum and count.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// One metric's series: label values to a counter or a histogram.
#[derive(Debug)]
struct Family<T> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, T>>,
}

impl<T> Family<T> {
    const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn with<R>(&self, values: &[&str], make: impl FnOnce() -> T, f: impl FnOnce(&mut T) -> R) -> R {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        f(series.entry(key).or_insert_with(make))
    }

    fn label_text(&self, values: &[String], extra: Option<(&str, String)>) -> String {
        let mut parts: Vec<String> = self
            .labels
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            parts.push(format!("{k}=\"{v}\""));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(","))
        }
    }
}

impl Family<f64> {
    fn add(&self, values: &[&str], by: f64) {
        self.with(values, || 0.0, |c| *c += by);
    }

    fn render(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        if self.labels.is_empty() && series.is_empty() {
            let _ = writeln!(out, "{} 0", self.name);
        }
        for (values, v) in series.iter() {
            let _ = writeln!(out, "{}{} {}", self.name, self.label_text(values, None), v);
        }
    }
}

impl Family<Histogram> {
    fn observe(&self, values: &[&str], bounds: &'static [f64], value: f64) {
        self.with(values, || Histogram::new(bounds), |h| h.observe(value));
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (values, h) in series.iter() {
            let mut cumulative = 0;
            for (bound, n) in h.bounds.iter().zip(&h.counts) {
                cumulative += n;
                let labels = self.label_text(values, Some(("le", bound.to_string())));
                let _ = writeln!(out, "{}_bucket{labels} {cumulative}", self.name);
            }
            let labels = self.label_text(values, Some(("le", "+Inf".into())));
            let _ = writeln!(out, "{}_bucket{labels} {}", self.name, h.count);
            let labels = self.label_text(values, None);
            let _ = writeln!(out, "{}_sum{labels} {}", self.name, h.sum);
            let _ = writeln!(out, "{}_count{labels} {}", self.name, h.count);
        }
    }
}

/// A label value as the text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// This process's metrics.
#[derive(Debug)]
pub struct Metrics {
    http_requests: Family<f64>,
    http_seconds: Family<Histogram>,
    checks_created: Family<f64>,
    checks_completed: Family<f64>,
    checks_failed: Family<f64>,
    job_seconds: Family<Histogram>,
    lease_reclaims: Family<f64>,
    lease_releases: Family<f64>,
    webhook_deliveries: Family<f64>,
    webhook_failures: Family<f64>,
    model_load_seconds: Family<Histogram>,
    rate_limited: Family<f64>,
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        Self {
            http_requests: Family::new(
                "liveness_http_requests_total",
                "HTTP requests answered, by route, method and status.",
                &["route", "method", "status"],
            ),
            http_seconds: Family::new(
                "liveness_http_request_duration_seconds",
                "Time to answer an HTTP request (until the response head), by route.",
                &["route"],
            ),
            checks_created: Family::new(
                "liveness_checks_created_total",
                "Checks created through the API, by type.",
                &["type"],
            ),
            checks_completed: Family::new(
                "liveness_checks_completed_total",
                "Checks this process's workers completed, by type and outcome.",
                &["type", "outcome"],
            ),
            checks_failed: Family::new(
                "liveness_checks_failed_total",
                "Check attempts that ended in an error in this process's workers, by type and error type (retried ones included).",
                &["type", "error"],
            ),
            job_seconds: Family::new(
                "liveness_job_duration_seconds",
                "Time a job took, by stage: the whole job (job), and the report's own stages (load, decode, vision, asr, likelihood, total).",
                &["stage"],
            ),
            lease_reclaims: Family::new(
                "liveness_lease_reclaims_total",
                "Checks this process claimed whose previous worker's lease had run out.",
                &[],
            ),
            lease_releases: Family::new(
                "liveness_lease_releases_total",
                "Running checks this process handed back at shutdown for another worker to run.",
                &[],
            ),
            webhook_deliveries: Family::new(
                "liveness_webhook_deliveries_total",
                "Webhook deliveries this process made that the receiver accepted.",
                &[],
            ),
            webhook_failures: Family::new(
                "liveness_webhook_failures_total",
                "Webhook delivery attempts that failed (each retry counts).",
                &[],
            ),
            model_load_seconds: Family::new(
                "liveness_model_load_seconds",
                "Time spent loading models, per load.",
                &[],
            ),
            rate_limited: Family::new(
                "liveness_rate_limited_total",
                "Requests refused with 429, by limit (rate or uploads in flight).",
                &["limit"],
            ),
        }
    }

    /// An HTTP request answered.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http_requests
            .add(&[route, method, &status.to_string()], 1.0);
        self.http_seconds.observe(&[route], HTTP_BUCKETS, seconds);
    }

    /// A check created.
    pub fn check_created(&self, kind: &str) {
        self.checks_created.add(&[kind], 1.0);
    }

    /// A job finished: its kind, its result (a report, with `outcome` and `timings`) or the
    /// error type it failed with, and its whole time.
    pub fn job_finished(&self, kind: &str, result: Result<&serde_json::Value, &str>, seconds: f64) {
        self.job_seconds.observe(&["job"], JOB_BUCKETS, seconds);
        match result {
            Ok(report) => {
                let outcome = report["outcome"].as_str().unwrap_or("unknown");
                self.checks_completed.add(&[kind, outcome], 1.0);
                // A check result carries the report under `breakdown`.
                let timings = report
                    .get("timings")
                    .or_else(|| report.pointer("/breakdown/timings"))
                    .and_then(|t| t.as_object());
                if let Some(timings) = timings {
                    for (name, value) in timings {
                        let (Some(stage), Some(v)) = (name.strip_suffix("Seconds"), value.as_f64())
                        else {
                            continue;
                        };
                        if stage == "load" {
                            if v > 0.0 {
                                self.model_load_seconds.observe(&[], JOB_BUCKETS, v);
                            }
                            continue;
                        }
                        self.job_seconds.observe(&[stage], JOB_BUCKETS, v);
                    }
                }
            }
            Err(error) => self.checks_failed.add(&[kind, error], 1.0),
        }
    }

    /// A claimed check had been another worker's until its lease ran out.
    pub fn lease_reclaimed(&self) {
        self.lease_reclaims.add(&[], 1.0);
    }

    /// A running check was handed back at shutdown.
    pub fn lease_released(&self) {
        self.lease_releases.add(&[], 1.0);
    }

    /// A webhook delivery attempt: accepted or not.
    pub fn webhook_attempt(&self, delivered: bool) {
        if delivered {
            self.webhook_deliveries.add(&[], 1.0);
        } else {
            self.webhook_failures.add(&[], 1.0);
        }
    }

    /// A request refused by a limit (`rate` or `uploads_in_flight`).
    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited.add(&[limit], 1.0);
    }

    /// The exposition of this process's series (no queue gauges).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.http_requests.render(&mut out, "counter");
        self.http_seconds.render(&mut out);
        self.checks_created.render(&mut out, "counter");
        self.checks_completed.render(&mut out, "counter");
        self.checks_failed.render(&mut out, "counter");
        self.job_seconds.render(&mut out);
        self.lease_reclaims.render(&mut out, "counter");
        self.lease_releases.render(&mut out, "counter");
        self.webhook_deliveries.render(&mut out, "counter");
        self.webhook_failures.render(&mut out, "counter");
        self.model_load_seconds.render(&mut out);
        self.rate_limited.render(&mut out, "counter");
        out
    }
}

/// The queue's gauges, read from the store: checks waiting (pending), running, and the age of
/// the oldest waiting one (0 when none).
pub async fn queue_gauges(store: &Store) -> Result<String, crate::store::StoreError> {
    let queue = store.queue_state().await?;
    let oldest = queue
        .oldest_pending_created_at
        .as_deref()
        .and_then(crate::report::time::parse_rfc3339_ms)
        .map_or(0.0, |t| ((now_ms() - t).max(0)) as f64 / 1000.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP liveness_queue_depth Checks in the queue, by state (pending: waiting for a worker; running: claimed).\n# TYPE liveness_queue_depth gauge\nliveness_queue_depth{{state=\"pending\"}} {}\nliveness_queue_depth{{state=\"running\"}} {}",
        queue.pending, queue.running
    );
    let _ = writeln!(
        out,
        "# HELP liveness_queue_oldest_pending_age_seconds Age of the oldest check waiting for a worker (0 when none).\n# TYPE liveness_queue_oldest_pending_age_seconds gauge\nliveness_queue_oldest_pending_age_seconds {oldest}"
    );
    Ok(out)
}

/// The content type of the text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Middleware: counts every request by its route pattern (`/v1/checks/{id}`, never the raw
/// path: ids would make a series each), method (`other` for any but GET, POST, PUT, PATCH,
/// DELETE, HEAD and OPTIONS) and status, with its time.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    // Clients choose the method: any other name would make a series each.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    global().http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::new();
        m.http_request("/v1/checks/{id}", "GET", 200, 0.003);
        m.http_request("/v1/checks/{id}", "GET", 200, 7.0);
        m.http_request("/v1/checks/{id}", "GET", 200, 99.0);
        m.check_created("weird\"type\n");
        let text = m.render();
        assert!(text.contains(
            "liveness_http_requests_total{route=\"/v1/checks/{id}\",method=\"GET\",status=\"200\"} 3"
        ));
        assert!(text.contains(
            "liveness_http_request_duration_seconds_bucket{route=\"/v1/checks/{id}\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "liveness_http_request_duration_seconds_bucket{route=\"/v1/checks/{id}\",le=\"10\"} 2"
        ));
        assert!(text.contains(
            "liveness_http_request_duration_seconds_bucket{route=\"/v1/checks/{id}\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("liveness_checks_created_total{type=\"weird\\\"type\\n\"} 1"));
    }

    #[test]
    fn a_report_feeds_outcome_stages_and_load_time() {
        let m = Metrics::new();
        let report = serde_json::json!({"outcome": "clear", "breakdown": {"timings": {
            "loadSeconds": 1.5, "decodeSeconds": 0.2, "asrSeconds": 0.6, "totalSeconds": 1.0}}});
        m.job_finished("liveness_video_check", Ok(&report), 2.0);
        m.job_finished("liveness_video_check", Err("timeout"), 600.0);
        let text = m.render();
        assert!(text.contains(
            "liveness_checks_completed_total{type=\"liveness_video_check\",outcome=\"clear\"} 1"
        ));
        assert!(text.contains(
            "liveness_checks_failed_total{type=\"liveness_video_check\",error=\"timeout\"} 1"
        ));
        assert!(text.contains("liveness_job_duration_seconds_count{stage=\"asr\"} 1"));
        assert!(text.contains("liveness_job_duration_seconds_count{stage=\"job\"} 2"));
        assert!(text.contains("liveness_model_load_seconds_sum 1.5"));
        assert!(!text.contains("stage=\"load\""));
    }
}
