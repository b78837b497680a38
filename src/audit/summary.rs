//! `summary.json`: counts per outcome, per challenge type and outcome, per reason code, and
//! timing percentiles, computed from the results file (so a resumed audit sums every run)
//! through small per-video records, never holding the reports themselves.

use crate::report::ChallengeType;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::input::InputError;
use super::results::ResultLine;
use crate::report::rounding::round3;

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
    round3(sorted[i])
}

/// What the summary and the report's table need of one video: a few words, not the report.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRecord {
    /// Line number of the video's latest line in `results.jsonl`.
    pub line: usize,
    /// Overall outcome, or `error`.
    pub outcome: String,
    /// The error's type, when there is no report.
    pub error: Option<String>,
    /// Overall score.
    pub score: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// (challenge type, outcome) per challenge.
    pub challenges: Vec<(String, String)>,
    /// Reason codes of the challenges and the faces analysis.
    pub reasons: Vec<String>,
}

impl VideoRecord {
    /// The record of one results line.
    pub fn of(line: usize, l: &ResultLine) -> Self {
        let mut r = Self {
            line,
            outcome: "error".into(),
            error: l.error.as_ref().map(|e| e.kind.clone()),
            score: 0.0,
            seconds: l.seconds,
            challenges: Vec::new(),
            reasons: Vec::new(),
        };
        if let Some(report) = &l.report {
            r.outcome = report.outcome.as_str().to_string();
            r.score = report.score;
            for c in &report.challenges {
                let kind = match c.kind {
                    ChallengeType::Voice => "voice",
                    ChallengeType::Actions => "actions",
                };
                r.challenges
                    .push((kind.to_string(), c.outcome.as_str().to_string()));
                r.reasons
                    .extend(c.reasons.iter().map(|x| x.code.to_string()));
            }
            r.reasons.extend(
                report
                    .faces
                    .iter()
                    .flat_map(|f| f.reasons.iter().map(|x| x.code.to_string())),
            );
        }
        r
    }
}

/// Summarises the latest record per video id and the input errors.
pub fn summarise(
    records: &BTreeMap<String, VideoRecord>,
    input_errors: Vec<InputError>,
) -> AuditSummary {
    let mut s = AuditSummary {
        videos: records.len(),
        input_errors,
        ..AuditSummary::default()
    };
    let mut times: Vec<f64> = Vec::with_capacity(records.len());
    for r in records.values() {
        times.push(r.seconds);
        match &r.error {
            Some(kind) => *s.errors.entry(kind.clone()).or_default() += 1,
            None => *s.outcomes.entry(r.outcome.clone()).or_default() += 1,
        }
        for (kind, outcome) in &r.challenges {
            *s.challenges
                .entry(kind.clone())
                .or_default()
                .entry(outcome.clone())
                .or_default() += 1;
        }
        for code in &r.reasons {
            *s.reasons.entry(code.clone()).or_default() += 1;
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
