//! The service engine's model loading, on the real models: a Live Photo needs the vision
//! models only (no whisper), one copy of them serves photos and videos alike, and a model that
//! failed to load is tried again after the pause instead of failing every later job until the
//! process restarts.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use liveness::engine::{Engine, EngineError};
use liveness::models::ModelsDir;
use liveness::pipeline::VerifierConfig;
use liveness::report::ErrorClass;
use liveness::vision::analyzer::{
    DETECTOR_FILE, EMBEDDER_FILE, EYES_FILE, MESH_FILE, RUNTIME_FILE,
};

/// Links one installed model file into `dir`.
fn link(installed: &Path, dir: &Path, file: &str) {
    std::os::unix::fs::symlink(installed.join(file), dir.join(file)).unwrap();
}

#[test]
fn photos_need_no_whisper_and_a_failed_load_is_tried_again() {
    let Some(media) = common::media() else { return };
    let installed = common::models_dir().root().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    // Every model but whisper.
    for file in [
        "manifest.toml",
        RUNTIME_FILE,
        DETECTOR_FILE,
        MESH_FILE,
        EYES_FILE,
        EMBEDDER_FILE,
    ] {
        link(&installed, dir.path(), file);
    }
    let pause = Duration::from_millis(1500);
    let engine = Engine::with_retry_after(
        ModelsDir::locate(Some(dir.path())),
        VerifierConfig::default(),
        pause,
    );

    // A real face still: inspected without whisper.
    let still = dir.path().join("face.jpg");
    common::still(&media.join("video/faces/lp-d7.mp4"), "1", None, &still);
    let check = engine.photo_check(&still, true).expect("photo checked");
    assert_eq!(check["outcome"], "attention", "{check}");
    assert_eq!(
        check["breakdown"]["breakdown"]["faceAnalysis"]["outcome"],
        "clear"
    );

    // Whisper is missing: videos cannot be verified, and the failure is answered as such.
    match engine.verifier() {
        Err(EngineError {
            class: ErrorClass::ModelUnavailable,
            message,
            ..
        }) => assert!(message.contains("ggml"), "{message}"),
        other => panic!("expected the verifier to be unavailable, got {other:?}"),
    }
    // Installed meanwhile: within the pause the failure still stands, after it the load is
    // tried again and succeeds, without a new engine.
    link(&installed, dir.path(), "ggml-base.bin");
    assert!(matches!(
        engine.verifier(),
        Err(EngineError {
            class: ErrorClass::ModelUnavailable,
            ..
        })
    ));
    std::thread::sleep(pause + Duration::from_millis(100));
    let verifier = engine.verifier().expect("loaded once whisper is there");

    // One copy of the vision models serves the photo inspections and the verifier.
    let for_photos = engine.vision_models().unwrap();
    let for_videos = verifier.vision_models().unwrap();
    assert!(Arc::ptr_eq(&for_photos, &for_videos));
}

/// The installed models are the manifest's: `liveness models check` (sha256 of the whisper
/// files, each vision model run on a fixed input against the manifest's output sums) passes.
/// The set-up runs it too, and a rewrite that changes a model's outputs without its
/// fingerprint (or the other way round) would stop a fresh machine's set-up.
#[test]
fn the_installed_models_pass_models_check() {
    let models = common::models_dir().root().to_path_buf();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveness"))
        .args(["models", "check", "--models"])
        .arg(&models)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "models check failed:\n{text}");
    assert!(
        text.lines().all(|l| l.starts_with("ok ")) && text.contains("iris runs"),
        "{text}"
    );
}
