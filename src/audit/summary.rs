//! `summary.json`: counts per outcome, per challenge type and outcome, per reason code, and
//! timing percentiles, computed from the results file (so a resumed audit sums every run).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::input::InputError;
use super::results::ResultLine;
use crate::live_video::ChallengeType;

/// Timing percentiles in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// The summary of an audit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditSummary {
    /// Videos with a result line (verified or failed).
    pub videos: usize,
    /// Videos verified, by overall outcome (`clear`, `attention`, `rejected`).
    pub outcomes: BTreeMap<String, usize>,
    /// Videos that could not be verified, by error type.
    pub errors: BTreeMap<String, usize>,
    /// Challenges by type, then outcome.
    pub challenges: BTreeMap<String, BTreeMap<String, usize>>,
    /// Reason codes over every challenge and faces analysis.
    pub reasons: BTreeMap<String, usize>,
    /// Wall time per video.
    pub seconds: Percentiles,
    /// Input entries that could not run.
    pub input_errors: Vec<InputError>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    (sorted[i] * 1000.0).round() / 1000.0
}

/// Summarises result lines (the last line per id counts) and the input errors.
pub fn summarise(lines: &[ResultLine], input_errors: Vec<InputError>) -> AuditSummary {
    let mut latest: BTreeMap<&str, &ResultLine> = BTreeMap::new();
    for l in lines {
        latest.insert(&l.live_video_id, l);
    }
    let mut s = AuditSummary {
        videos: latest.len(),
        input_errors,
        ..AuditSummary::default()
    };
    let mut times: Vec<f64> = Vec::with_capacity(latest.len());
    for l in latest.values() {
        times.push(l.seconds);
        if let Some(e) = &l.error {
            *s.errors.entry(e.kind.clone()).or_default() += 1;
        }
        let Some(r) = &l.report else { continue };
        *s.outcomes
            .entry(r.outcome.as_str().to_string())
            .or_default() += 1;
        for c in &r.challenges {
            let kind = match c.kind {
                ChallengeType::Voice => "voice",
                ChallengeType::Actions => "actions",
            };
            *s.challenges
                .entry(kind.to_string())
                .or_default()
                .entry(c.outcome.as_str().to_string())
                .or_default() += 1;
            for reason in &c.reasons {
                *s.reasons.entry(reason.code.clone()).or_default() += 1;
            }
        }
        for reason in r.faces.iter().flat_map(|f| &f.reasons) {
            *s.reasons.entry(reason.code.clone()).or_default() += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    s.seconds = Percentiles {
        p50: percentile(&times, 0.5),
        p90: percentile(&times, 0.9),
        p99: percentile(&times, 0.99),
        max: times.last().copied().unwrap_or(0.0),
    };
    s
}
