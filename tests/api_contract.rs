//! The OpenAPI document is the contract: schemathesis (an independent, OpenAPI-driven API
//! tester; pinned, in its own venv, set up by `scripts/test.sh`, found through
//! `$LIVENESS_SCHEMATHESIS`) runs every check it has against a real `liveness serve` for a
//! bounded time (examples, coverage and fuzzing phases) and fails on any server error, any
//! schema-valid request refused, any schema-invalid request accepted, any undocumented
//! status or response shape, and any operation answering without a key that documents one.
//!
//! A run whose only errors are schemathesis's own (Hypothesis failing to describe a strategy,
//! "AST constructor recursion depth mismatch", before any request) is not a finding about the
//! server and passes; every failed check and every other error fails.
//!
//! What the schema cannot say, and so is allowed: an upload whose bytes are not a video or
//! photo is a 422, and a Live Video's `language` and `challenges` (a JSON string of
//! challenges) are checked against the language packs and the action vocabulary (400); a
//! multipart form's fields cannot have a wrong JSON type on the wire, so the uploads are not
//! sent "negative" cases (their bad fields are refused in `tests/service_api.rs`).

mod common;
#[path = "common/service.rs"]
mod service;

use std::process::Command;

use service::{create_key, Proc};

/// Per-operation settings: what the uploads may answer to data the schema calls valid.
const CONFIG: &str = r#"
# A redacted object is gone (410), as a missing one is not found (404).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 410, 429]

# Uploads: see the module doc. A multipart form cannot carry a wrong JSON type, so the
# negative cases for its fields (an empty array for a boolean becomes no part at all, that
# is, the default) are not negative on the wire; tests/service_api.rs refuses bad fields.
[[operations]]
include-name = "POST /v1/liveVideos"
checks.positive_data_acceptance.expected-statuses = [201, 400, 401, 404, 410, 413, 422]
checks.negative_data_rejection.expected-statuses = [201, 400, 401, 404, 410, 413, 422]

[[operations]]
include-name = "POST /v1/livePhotos"
checks.positive_data_acceptance.expected-statuses = [201, 400, 401, 404, 410, 413, 422]
checks.negative_data_rejection.expected-statuses = [201, 400, 401, 404, 410, 413, 422]
"#;

#[test]
fn schemathesis_finds_nothing_in_90_seconds() {
    let Some(tool) = std::env::var_os("LIVENESS_SCHEMATHESIS") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs this through scripts/test.sh, which sets LIVENESS_SCHEMATHESIS"
        );
        eprintln!("skipped: LIVENESS_SCHEMATHESIS is not set (scripts/test.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let (key, _) = create_key(&["--data", &data_arg]);
    let mut server = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data_arg,
        "--workers",
        "0",
        "--models",
        &service::models().display().to_string(),
    ]);
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    // Its cache and crash reports go in the temporary folder, not the checkout.
    let out = Command::new(tool)
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/v1/openapi.json", server.base)])
        .args(["-H", &format!("Authorization: {key}")])
        .args(["--checks", "all", "--max-time", "90", "--workers", "2"])
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--suppress-health-check",
            "all",
        ])
        .args(["--seed", "20261130", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success() || only_the_tools_own_error(&report),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!server.log().contains("panicked"), "{}", server.log());
    server.stop();
}

/// Whether a failed run found nothing about the server: no failed check, and its only errors
/// are schemathesis's own "Runtime Error" from Hypothesis describing a strategy ("AST
/// constructor recursion depth mismatch", a bug of the tool seen on about one run in five,
/// raised while it generates cases, before any request). Any failed check, or any other
/// error, still fails the test.
fn only_the_tools_own_error(report: &str) -> bool {
    let Some(summary) = report.split("= SUMMARY =").nth(1) else {
        return false;
    };
    // Each error section of the report: from its "Runtime Error" title to the next section.
    let sections: Vec<&str> = report
        .split("\nRuntime Error\n")
        .skip(1)
        .map(|rest| rest.split("\n___").next().unwrap_or(rest))
        .map(|rest| rest.split("= SUMMARY =").next().unwrap_or(rest))
        .collect();
    // The summary's error lines: only "Runtime Error: N" may be there.
    let errors_listed = summary
        .split("Errors:")
        .nth(1)
        .map(|e| e.split("\n\n").next().unwrap_or(""))
        .unwrap_or("");
    !summary.contains("Failures:")
        && !sections.is_empty()
        && sections
            .iter()
            .all(|s| s.contains("AST constructor recursion depth mismatch"))
        && errors_listed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.contains("Runtime Error"))
}

#[test]
fn the_tools_own_error_is_told_from_a_finding() {
    let tool_bug = "x\nRuntime Error\n\nAST constructor recursion depth mismatch (before=66, \
        after=58)\n=== SUMMARY ===\nTest Phases:\n  🚫 Coverage\n\nErrors:\n  🚫 Runtime Error: 1\n\n\
        Warnings:\n  ⚠️ Missing test data\n";
    assert!(only_the_tools_own_error(tool_bug));
    let finding =
        "x\n=== SUMMARY ===\nFailures:\n  ❌ ST201 Schema-violating request accepted: 1\n";
    assert!(!only_the_tools_own_error(finding));
    let both = format!("{tool_bug}Failures:\n  ❌ Server error: 1\n");
    assert!(!only_the_tools_own_error(&both));
    let other_error =
        "x\nRuntime Error\n\nConnection refused\n=== SUMMARY ===\nErrors:\n  🚫 Runtime Error: 1\n";
    assert!(!only_the_tools_own_error(other_error));
    let other_kind = "x\nRuntime Error\n\nAST constructor recursion depth mismatch\n\
        === SUMMARY ===\nErrors:\n  🚫 Runtime Error: 1\n  🚫 Network Error: 2\n\n";
    assert!(!only_the_tools_own_error(other_kind));
}
