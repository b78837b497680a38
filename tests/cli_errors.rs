//! Bad input through the real binary: each case is a typed JSON error with its exit code, or a
//! `rejected` verdict, never a panic and never `clear`.

mod common;

use std::path::Path;
use std::process::Command;

fn run(video: &Path, live_video: &Path) -> (i32, serde_json::Value, String) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    run_with(video, live_video, &models, &[])
}

/// A models folder at `dir` linking the installed model files whose names `keep` accepts.
fn models_folder(dir: &Path, keep: impl Fn(&str) -> bool) -> std::path::PathBuf {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    std::fs::create_dir(dir).unwrap();
    for f in std::fs::read_dir(&installed).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if keep(&name) {
            let target = std::fs::canonicalize(&f).unwrap();
            std::os::unix::fs::symlink(target, dir.join(&name)).unwrap();
        }
    }
    dir.to_path_buf()
}

fn run_with(
    video: &Path,
    live_video: &Path,
    models: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_liveness"))
        .args([
            "verify",
            video.to_str().unwrap(),
            "--live-video",
            live_video.to_str().unwrap(),
            "--format",
            "json",
            "--models",
        ])
        .arg(models)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

const VOICE: &str =
    r#"{"id":"lv","language":"en-GB","challenges":[{"type":"voice","value":["7","9","1","7"]}]}"#;

#[test]
fn bad_videos_and_bad_live_videos_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lv = dir.path().join("lv.json");
    std::fs::write(&lv, VOICE).unwrap();

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let (code, json, _) = run(&empty, &lv);
    assert_eq!(
        (code, json["type"].as_str()),
        (65, Some("invalid_media")),
        "{json}"
    );

    // A recital no recording could satisfy (450 digits once made whisper abort the process):
    // refused before any work, with the limit named.
    let long = dir.path().join("long.json");
    std::fs::write(
        &long,
        format!(
            r#"{{"id":"lv","language":"en-GB","challenges":[{{"type":"voice","value":{:?}}}]}}"#,
            vec!["7"; 450]
        ),
    )
    .unwrap();
    let (code, json, _) = run(&empty, &long);
    assert_eq!(
        (code, json["type"].as_str()),
        (65, Some("limit_exceeded")),
        "{json}"
    );
    assert!(
        json["message"].as_str().unwrap().contains("limit reached"),
        "{json}"
    );
    assert!(
        json["param"].as_str().unwrap().starts_with("challenges"),
        "{json}"
    );

    // Media limits protect the machine: frames over 8192 pixels a side, more than 16 audio
    // channels. Each is refused as limit_exceeded with param video, before decoding.
    let wide = dir.path().join("wide.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=9000x32:d=0.2:r=5",
        "-c:v",
        "ffv1",
        wide.to_str().unwrap(),
    ]);
    let channels = dir.path().join("channels.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=64x64:d=0.5:r=5",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-filter_complex",
        "[1]pan=24c|c0=c0[a]",
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-t",
        "0.5",
        "-c:v",
        "ffv1",
        "-c:a",
        "pcm_s16le",
        channels.to_str().unwrap(),
    ]);
    // Ten minutes and a second of video, refused from what its container declares (the
    // time limit is media 600 s), without decoding it.
    let long_video = dir.path().join("long.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=16x16:d=601:r=1",
        "-c:v",
        "ffv1",
        long_video.to_str().unwrap(),
    ]);
    for (file, what) in [
        (&wide, "9000x32"),
        (&channels, "24 audio channels"),
        (&long_video, "601 s long; the limit is 600 s"),
    ] {
        let (code, json, _) = run(file, &lv);
        assert_eq!(
            (code, json["type"].as_str(), json["param"].as_str()),
            (65, Some("limit_exceeded"), Some("video")),
            "{json}"
        );
        assert!(json["message"].as_str().unwrap().contains(what), "{json}");
    }

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "meeting notes, not a video\n".repeat(100)).unwrap();
    let (code, json, _) = run(&text, &lv);
    assert_eq!(
        (code, json["type"].as_str()),
        (65, Some("invalid_media")),
        "{json}"
    );

    let (code, json, _) = run(&dir.path().join("missing.mp4"), &lv);
    assert_eq!(
        (code, json["type"].as_str()),
        (66, Some("resource_not_found")),
        "{json}"
    );

    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\"id\": \"x\", \"language\": ").unwrap();
    let (code, json, _) = run(&empty, &bad_json);
    assert_eq!(
        (code, json["type"].as_str()),
        (65, Some("invalid_request")),
        "{json}"
    );

    let klingon = dir.path().join("tlh.json");
    std::fs::write(&klingon, VOICE.replace("en-GB", "tlh")).unwrap();
    let (code, json, _) = run(&empty, &klingon);
    assert_eq!(code, 65);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("unsupported language"),
        "{json}"
    );

    let (code, json, _) = run(&empty, &dir.path().join("nope.json"));
    assert_eq!(
        (code, json["type"].as_str()),
        (66, Some("resource_not_found")),
        "{json}"
    );
}

#[test]
fn truncated_and_silent_real_videos() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lv = dir.path().join("lv.json");
    std::fs::write(&lv, VOICE).unwrap();

    // A real mp4 cut to a third: an error or a verdict, never a panic, never clear.
    let real = std::fs::read(media.join("video/faces/WDA_KatieHill_000.mp4")).unwrap();
    for fraction in [3, 50] {
        let cut = dir.path().join(format!("cut{fraction}.mp4"));
        std::fs::write(&cut, &real[..real.len() / fraction]).unwrap();
        let (code, json, _) = run(&cut, &lv);
        if code == 0 {
            assert_ne!(json["outcome"], "clear", "{json}");
        } else {
            assert_eq!(
                (code, json["type"].as_str()),
                (65, Some("invalid_media")),
                "{json}"
            );
        }
    }

    // A video without an audio track, with a voice challenge: rejected, with the reason.
    let (code, json, _) = run(&media.join("video/faces/lp-d13.mp4"), &lv);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["outcome"], "rejected");
    assert_eq!(
        json["challenges"][0]["reasons"][0]["code"],
        "no_audio_track"
    );
    assert_eq!(json["media"]["hasAudio"], false);

    // Speech with no picture (a GRID take's audio alone in an MP4 container), asked for what
    // is said: a verdict (exit 0), rejected: nobody on screen speaks it. The same audio as an
    // MP3, even named .mp4, is not a video container at all: invalid_media, as at upload.
    let said = r#"{"id":"s","language":"en-GB","challenges":[{"type":"voice","value":["lay white by s zero again"]}]}"#;
    let said_lv = dir.path().join("said.json");
    std::fs::write(&said_lv, said).unwrap();
    let grid = media.join("video/grid/lwbsza.mpg");
    let mp3 = dir.path().join("voice-only.mp3");
    common::ffmpeg(&["-i", grid.to_str().unwrap(), "-vn", mp3.to_str().unwrap()]);
    let mp3_named_mp4 = dir.path().join("voice-only-mp3.mp4");
    std::fs::copy(&mp3, &mp3_named_mp4).unwrap();
    for file in [&mp3, &mp3_named_mp4] {
        let (code, json, _) = run(file, &said_lv);
        assert_eq!(
            (code, json["type"].as_str()),
            (65, Some("invalid_media")),
            "{json}"
        );
        assert!(
            json["message"].as_str().unwrap().contains("container"),
            "{json}"
        );
    }
    let name = "voice-only.m4a";
    let audio = dir.path().join(name);
    common::ffmpeg(&["-i", grid.to_str().unwrap(), "-vn", audio.to_str().unwrap()]);
    let (code, json, _) = run(&audio, &said_lv);
    assert_eq!(code, 0, "{name}: {json}");
    assert_eq!(json["outcome"], "rejected", "{name}: {json}");
    assert_eq!(json["media"]["hasVideo"], false, "{name}");
    let voice = &json["challenges"][0];
    assert_eq!(
        voice["evidence"]["speechOutcome"], "clear",
        "{name}: {voice}"
    );
    assert!(
        voice["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "no_face_while_speaking"),
        "{name}: {voice}"
    );
    assert_eq!(json["faces"]["reasons"][0]["code"], "no_video_frames");

    // An action the person never does: a rejected verdict (exit 0), exit 1 when the caller
    // fails on rejected.
    let actions = dir.path().join("actions.json");
    std::fs::write(
        &actions,
        r#"{"id":"a","language":"en","challenges":[{"type":"actions","value":["nod"]}]}"#,
    )
    .unwrap();
    let turns = media.join("video/faces/webcam-turns.mov");
    let (code, json, _) = run(&turns, &actions);
    assert_eq!(code, 0);
    assert_eq!(json["outcome"], "rejected");
    assert_eq!(
        json["challenges"][0]["reasons"][0]["code"],
        "action_not_performed"
    );
    assert_eq!(
        json["media"]["hasAudio"], true,
        "the stream is there, only not decoded"
    );
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let (code, _, _) = run_with(&turns, &actions, &models, &["--fail-on", "rejected"]);
    assert_eq!(code, 1);

    // Vision models missing: actions cannot be verified, a typed error with exit 69.
    let partial = models_folder(&dir.path().join("models"), |name| name == "ggml-base.bin");
    let (code, json, _) = run_with(&turns, &actions, &partial, &[]);
    assert_eq!(
        (code, json["type"].as_str()),
        (69, Some("model_unavailable")),
        "{json}"
    );

    // The whisper model missing: `verify` loads it only for a voice challenge, so actions
    // are verified as with every model there; a voice challenge is a typed error naming it.
    let no_whisper = models_folder(&dir.path().join("models-without-whisper"), |name| {
        !name.starts_with("ggml-")
    });
    let (code, json, _) = run_with(&turns, &actions, &no_whisper, &[]);
    assert_eq!(
        (code, json["outcome"].as_str()),
        (0, Some("rejected")),
        "{json}"
    );
    assert_eq!(json["timings"]["asrSeconds"], 0.0, "{json}");
    let voice = dir.path().join("voice.json");
    std::fs::write(&voice, VOICE).unwrap();
    let (code, json, _) = run_with(&turns, &voice, &no_whisper, &[]);
    assert_eq!(
        (code, json["type"].as_str()),
        (69, Some("model_unavailable")),
        "{json}"
    );
    assert!(
        json["message"].as_str().unwrap().contains("ggml-base.bin"),
        "{json}"
    );
}

#[test]
fn corrupted_real_videos_never_panic() {
    use rand::{Rng, SeedableRng};
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lv = dir.path().join("lv.json");
    std::fs::write(&lv, VOICE).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for source in [
        "video/grid/lbax4n.mpg",
        "video/faces/webcam-turns.mov",
        "video/faces/lp-d5.mp4",
    ] {
        let original = std::fs::read(media.join(source)).unwrap();
        for round in 0..3 {
            let mut bytes = original.clone();
            for _ in 0..(50 << round) {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] = rng.gen();
            }
            let path = dir.path().join(format!("corrupt-{round}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            // `run` asserts no panic and a JSON answer; the code is a verdict or invalid_media.
            let (code, json, _) = run(&path, &lv);
            assert!(
                code == 0 || (code == 65 && json["type"] == "invalid_media"),
                "{source}: {code} {json}"
            );
        }
    }
}

/// `--whisper-weights q8_0` reads a real GRID take with the 8-bit weights as the f16 ones
/// read it; a folder without those weights is `model_unavailable` naming the file; an
/// unknown choice is a usage error.
#[test]
fn the_8_bit_whisper_weights_are_selectable() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lv = dir.path().join("lv.json");
    std::fs::write(
        &lv,
        r#"{"id":"lv","language":"en-GB","challenges":[{"type":"voice","value":["set blue with e five now"]}]}"#,
    )
    .unwrap();
    let clip = media.join("video/grid/sbwe5n.mpg");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut heard = Vec::new();
    for weights in ["f16", "q8_0"] {
        let (code, json, stderr) = run_with(&clip, &lv, &models, &["--whisper-weights", weights]);
        assert_eq!(code, 0, "{weights}: {json} {stderr}");
        let voice = &json["challenges"][0]["evidence"];
        assert_eq!(voice["speechOutcome"], "clear", "{weights}: {json}");
        heard.push(voice["transcript"].as_str().unwrap().to_string());
    }
    assert_eq!(heard[0], heard[1]);

    // Stage timings: a fresh process pays for loading its models; a clip with a voice and
    // a face spends time in every stage; the stages overlap, each within the total.
    let (_, json, _) = run_with(&clip, &lv, &models, &[]);
    let t = &json["timings"];
    let seconds = |k: &str| {
        t[k].as_f64()
            .unwrap_or_else(|| panic!("timings.{k}: {json}"))
    };
    for stage in [
        "loadSeconds",
        "decodeSeconds",
        "visionSeconds",
        "asrSeconds",
    ] {
        assert!(seconds(stage) > 0.0, "{stage}: {t}");
        assert!(seconds(stage) <= seconds("totalSeconds"), "{stage}: {t}");
    }
    assert!(seconds("likelihoodSeconds") >= 0.0, "{t}");
    assert!(
        seconds("loadSeconds") + seconds("visionSeconds").max(seconds("asrSeconds"))
            <= seconds("totalSeconds") + 0.05,
        "{t}"
    );

    // A models folder holding only the f16 weights.
    let only_f16 = models_folder(&dir.path().join("models"), |name| {
        name != "ggml-base-q8_0.bin"
    });
    let (code, json, _) = run_with(&clip, &lv, &only_f16, &["--whisper-weights", "q8_0"]);
    assert_eq!(
        (code, json["type"].as_str()),
        (69, Some("model_unavailable")),
        "{json}"
    );
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("ggml-base-q8_0.bin"),
        "{json}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_liveness"))
        .args(["verify", "x.mp4", "--live-video", "lv.json"])
        .env("LIVENESS_WHISPER_WEIGHTS", "q4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

/// `challenge new` prints a Live Video with freshly drawn challenges that `verify` accepts
/// and verifies as given (a GRID recording does not say these digits: never clear); two
/// calls draw different objects; a bad request is a JSON error.
#[test]
fn challenge_new_prints_a_live_video_that_verify_accepts() {
    let Some(media) = common::media() else { return };
    let new = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_liveness"))
            .args(["challenge", "new"])
            .args(args)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), json)
    };
    let (code, lv) = new(&["--language", "en-GB", "--client-id", "client-7"]);
    assert_eq!(code, 0, "{lv}");
    assert_eq!(lv["language"], "en-GB");
    assert_eq!(lv["clientId"], "client-7");
    assert_eq!(lv["id"].as_str().unwrap().len(), 24);
    let digits = lv["challenges"][0]["value"].as_array().unwrap();
    assert_eq!(
        (lv["challenges"][0]["type"].as_str(), digits.len()),
        (Some("voice"), 4)
    );
    let actions = lv["challenges"][1]["value"].as_array().unwrap();
    assert_eq!(
        (lv["challenges"][1]["type"].as_str(), actions.len()),
        (Some("actions"), 2)
    );
    let (_, other) = new(&["--language", "en-GB"]);
    assert_ne!(lv["id"], other["id"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lv.json");
    std::fs::write(&path, lv.to_string()).unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let (code, report, stderr) =
        run_with(&media.join("video/grid/sbwe5n.mpg"), &path, &models, &[]);
    assert_eq!(code, 0, "{report} {stderr}");
    assert_eq!(report["liveVideoId"], lv["id"]);
    assert_eq!(
        report["challenges"][0]["value"],
        lv["challenges"][0]["value"]
    );
    assert_eq!(
        report["challenges"][1]["value"],
        lv["challenges"][1]["value"]
    );
    assert_ne!(report["outcome"], "clear", "{report}");

    let (code, err) = new(&["--language", "xx"]);
    assert_eq!(
        (code, err["type"].as_str()),
        (65, Some("invalid_request")),
        "{err}"
    );
    let (code, err) = new(&["--language", "fr", "--digits", "11"]);
    assert_eq!(code, 65, "{err}");
    assert!(err["message"].as_str().unwrap().contains("digits"), "{err}");
    let (code, only) = new(&["--language", "de", "--digits", "6", "--actions", "0"]);
    assert_eq!(code, 0);
    assert_eq!(only["challenges"].as_array().unwrap().len(), 1);
}

/// Freshness: the same real recording, remuxed with a container `creation_time` an hour
/// before its challenges were issued, is `attention` with `recorded_before_challenge` where
/// it was `clear`; without that metadata (or within the clock skew) there is no such reason.
#[test]
fn a_recording_older_than_its_challenges_is_never_clear() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let remux = |name: &str, creation_time: Option<&str>| {
        let out = dir.path().join(name);
        common::remux(&media.join("video/grid/lwbsza.mpg"), &out, creation_time);
        out
    };
    let old = remux("old.mp4", Some("2026-11-30T09:00:00Z"));
    let skewed = remux("skewed.mp4", Some("2026-11-30T09:59:30Z"));
    let bare = remux("bare.mp4", None);
    let lv = dir.path().join("lv.json");
    std::fs::write(
        &lv,
        r#"{"id":"fresh","language":"en-GB","challengeIssuedAt":"2026-11-30T10:00:00Z",
            "challenges":[{"type":"voice","value":["lay","white","by","s","zero","again"]}]}"#,
    )
    .unwrap();
    let codes = |json: &serde_json::Value| -> Vec<String> {
        json["challenges"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect()
    };
    let (code, json, stderr) = run_with(&bare, &lv, &models, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["outcome"], "clear", "{json}");
    assert!(json["media"].get("recordedAt").is_none(), "{json}");
    let (_, json, _) = run_with(&skewed, &lv, &models, &[]);
    assert_eq!(json["outcome"], "clear", "30 s of clock skew: {json}");
    let (_, json, _) = run_with(&old, &lv, &models, &[]);
    assert_eq!(json["outcome"], "attention", "{json}");
    assert_eq!(codes(&json), ["recorded_before_challenge"], "{json}");
    assert_eq!(json["media"]["recordedAt"], "2026-11-30T09:00:00.000000Z");
    // The same Live Video without an issue time: the metadata alone says nothing.
    std::fs::write(
        &lv,
        r#"{"id":"fresh","language":"en-GB",
            "challenges":[{"type":"voice","value":["lay","white","by","s","zero","again"]}]}"#,
    )
    .unwrap();
    let (_, json, _) = run_with(&old, &lv, &models, &[]);
    assert_eq!(json["outcome"], "clear", "{json}");
    // An issue time that is not a time is refused.
    std::fs::write(
        &lv,
        r#"{"id":"x","language":"en","challengeIssuedAt":"yesterday",
            "challenges":[{"type":"voice","value":["1","2","3"]}]}"#,
    )
    .unwrap();
    let (code, json, _) = run_with(&old, &lv, &models, &[]);
    assert_eq!(
        (code, json["type"].as_str()),
        (65, Some("invalid_request")),
        "{json}"
    );
}
