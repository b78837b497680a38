//! Crash isolation on real GRID recordings: a video whose processing aborts the process (the
//! crash drill, `LIVENESS_CRASH_DRILL=STAGE:SHA256`, aborts exactly as a failed whisper.cpp
//! assertion does) costs that video only. `verify` exits 70 with one JSON error object on
//! stdout; an audit records an `internal_error` line and verifies the others; the service
//! fails that check with `internal_error` after its attempts, completes the others and keeps
//! answering.

mod common;
#[path = "common/service.rs"]
mod service;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use service::{create_key, Api, Proc};

const DRILL: &str = "LIVENESS_CRASH_DRILL";

/// (clip, sentence) of three GRID recordings.
fn clips(media: &Path) -> Vec<(PathBuf, String)> {
    let truth = common::grid_truth(media);
    ["lwbsza", "pwij3p", "sbia1a"]
        .iter()
        .map(|name| {
            let (path, text) = truth
                .iter()
                .find(|(p, _)| p.contains(name))
                .unwrap_or_else(|| panic!("{name} in truth.json"));
            (media.join(path), text.clone())
        })
        .collect()
}

fn sha256(path: &Path) -> String {
    liveness::models::sha256_file(path).unwrap()
}

fn live_video(id: &str, text: &str) -> Value {
    json!({"id": id, "clientId": "c1", "language": "en-GB",
        "challenges": [{"type": "voice", "value": [text]}],
        "createdAt": "2026-11-30T10:00:00.000Z", "updatedAt": "2026-11-30T10:00:00.000Z"})
}

#[test]
fn verify_exits_70_with_a_json_error_when_native_code_aborts() {
    let Some(media) = common::media() else { return };
    let (clip, text) = clips(&media).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let lv = dir.path().join("lv.json");
    std::fs::write(&lv, live_video("lv1", &text).to_string()).unwrap();
    let run = |drill: &str| {
        Command::new(service::bin())
            .args(["verify", clip.to_str().unwrap(), "--live-video"])
            .arg(&lv)
            .args(["--format", "json", "--models"])
            .arg(service::models())
            .env(DRILL, drill)
            .output()
            .unwrap()
    };
    let crashed = run(&format!("verify:{}", sha256(&clip)));
    assert_eq!(crashed.status.code(), Some(70), "{crashed:?}");
    let stdout = String::from_utf8(crashed.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object on stdout: {stdout}"
    );
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["type"], "internal_error");
    assert!(
        error["message"].as_str().unwrap().contains("SIGABRT"),
        "{error}"
    );
    // The drill armed for another file, or another stage, changes nothing.
    let fine = run(&format!(
        "verify:{},photo:{}",
        "0".repeat(64),
        sha256(&clip)
    ));
    assert_eq!(fine.status.code(), Some(0), "{fine:?}");
    let report: Value = serde_json::from_slice(&fine.stdout).unwrap();
    assert!(report["outcome"].is_string(), "{report}");
}

#[test]
fn an_audit_records_the_crash_and_verifies_the_rest() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let clips = clips(&media);
    for (k, (clip, text)) in clips.iter().enumerate() {
        let name = format!("v{k}");
        std::os::unix::fs::symlink(clip, input.join(format!("{name}.mpg"))).unwrap();
        std::fs::write(
            input.join(format!("{name}.json")),
            live_video(&name, text).to_string(),
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    let audit = || {
        Command::new(service::bin())
            .arg("audit")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "2", "--models"])
            .arg(service::models())
            .env(DRILL, format!("verify:{}", sha256(&clips[1].0)))
            .output()
            .unwrap()
    };
    let first = audit();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["videos"], 3, "{summary}");
    assert_eq!(summary["errors"]["internal_error"], 1, "{summary}");
    let verdicts: u64 = summary["outcomes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(verdicts, 2, "{summary}");
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let crashed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["error"].is_object())
        .collect();
    assert_eq!(crashed.len(), 1);
    assert_eq!(crashed[0]["liveVideoId"], "v1");
    assert!(crashed[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SIGABRT"));
    assert!(out.join("report.html").exists());
    // A resumed run gets past it too: nothing left to do, the summary is written again.
    let again = audit();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("results.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn a_check_that_kills_its_runner_fails_alone_and_the_service_goes_on() {
    let Some(media) = common::media() else { return };
    let clips = clips(&media);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let (key, _) = create_key(&["--data", &data]);
    let models = service::models().display().to_string();
    // Armed in the server's environment, which its runners inherit: the second clip's check
    // crashes, the third clip's upload (its probe) crashes.
    let drill = format!(
        "verify:{},probe:{}",
        sha256(&clips[1].0),
        sha256(&clips[2].0)
    );
    std::env::set_var(DRILL, &drill);
    let mut server = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--models",
        &models,
        "--workers",
        "1",
        "--max-attempts",
        "2",
    ]);
    std::env::remove_var(DRILL);
    let api = Api::new(&server.base, &key);
    let crashed_upload = api.upload_video(
        &clips[2].0,
        "c1",
        "en-GB",
        &json!([{"type": "voice", "value": [&clips[2].1]}]),
    );
    assert_eq!(crashed_upload.status, 500, "{:?}", crashed_upload.json);
    assert_eq!(crashed_upload.json["type"], "internal_error");
    let mut checks = Vec::new();
    for (clip, text) in &clips[..2] {
        let up = api.upload_video(
            clip,
            "c1",
            "en-GB",
            &json!([{"type": "voice", "value": [text]}]),
        );
        assert_eq!(up.status, 201, "{:?}", up.json);
        let check = api.video_check("c1", up.json["id"].as_str().unwrap());
        assert_eq!(check.status, 201, "{:?}", check.json);
        checks.push(check.json["id"].as_str().unwrap().to_string());
    }
    let results: Vec<Value> = checks
        .iter()
        .map(|id| api.wait_check(id, Duration::from_secs(180)))
        .collect();
    assert_eq!(results[1]["status"], "failed", "{}", results[1]);
    assert_eq!(
        results[1]["error"]["type"], "internal_error",
        "{}",
        results[1]
    );
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SIGABRT"),
        "{}",
        results[1]
    );
    assert_eq!(results[0]["status"], "complete", "{}", results[0]);
    // The probe and both attempts of the crashing check ran and died; the server never did.
    let log = server.log();
    assert_eq!(
        log.matches("crash drill: aborting at verify").count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("crash drill: aborting at probe").count(),
        1,
        "{log}"
    );
    let again = api.upload_video(
        &clips[0].0,
        "c1",
        "en-GB",
        &json!([{"type": "voice", "value": [&clips[0].1]}]),
    );
    assert_eq!(again.status, 201, "{:?}", again.json);
    assert_eq!(api.get("/v1/liveVideos").status, 200);
    server.stop();
}
