//! Shared helpers for the integration tests: where the real media are, one verifier per test
//! binary, WAV reading and writing, and assembling real videos with the ffmpeg CLI.
#![allow(dead_code)]

use liveness::report::{ChallengeReport, Evidence, Outcome};

use liveness::models::ModelsDir;
use liveness::pipeline::{Verifier, VerifierConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The shared real media folder, or None (with a message) when it is absent.
pub fn media() -> Option<PathBuf> {
    let dir = std::env::var_os("LIVENESS_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media"));
    if dir.join("truth.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: real media not found at {} (set LIVENESS_MEDIA)",
            dir.display()
        );
        None
    }
}

/// The models folder of this checkout.
pub fn models_dir() -> ModelsDir {
    ModelsDir::locate(Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")))
}

/// One verifier (whisper loaded once) for the whole test binary, with the whisper weights
/// `LIVENESS_WHISPER_WEIGHTS` names (`f16` by default, `q8_0` to compare the 8-bit weights on
/// the same evaluations).
pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let weights = match std::env::var("LIVENESS_WHISPER_WEIGHTS") {
            Ok(word) => liveness::models::WhisperWeights::parse(&word)
                .unwrap_or_else(|| panic!("LIVENESS_WHISPER_WEIGHTS={word}: use f16 or q8_0")),
            Err(_) => liveness::models::WhisperWeights::F16,
        };
        let config = VerifierConfig {
            whisper_weights: weights,
            ..VerifierConfig::default()
        };
        Verifier::new(&models_dir(), config)
            .expect("models installed (run scripts/setup.sh or scripts/test.sh)")
    })
}

/// Reads a 16-bit PCM mono WAV file: (sample rate, samples).
pub fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[0..4], b"RIFF", "{}", path.display());
    let mut pos = 12;
    let (mut rate, mut channels, mut bits) = (0u32, 0u16, 0u16);
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &b[pos + 8..(pos + 8 + len).min(b.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            bits = u16::from_le_bytes([body[14], body[15]]);
        } else if id == b"data" {
            assert_eq!((channels, bits), (1, 16), "{}", path.display());
            let samples = body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (rate, samples);
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// Writes 16-bit PCM mono WAV.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend(b"RIFF");
    b.extend((36 + data_len).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend((rate * 2).to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    for s in samples {
        b.extend(s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// Runs ffmpeg (quiet, overwrite) and panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("the ffmpeg CLI is installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Muxes `audio` under the (looped) video track of `video`, as H.264 + AAC in MP4, cut to the
/// audio's length.
pub fn mux(video: &Path, audio: &Path, out: &Path) {
    ffmpeg(&[
        "-stream_loop",
        "-1",
        "-i",
        video.to_str().unwrap(),
        "-i",
        audio.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        out.to_str().unwrap(),
    ]);
}

/// Re-encodes `video` as H.264 + AAC in MP4 without its metadata, with a container
/// `creation_time` when one is given (what freshness reads).
pub fn remux(video: &Path, out: &Path, creation_time: Option<&str>) {
    let stamp = creation_time.map(|t| format!("creation_time={t}"));
    let mut args = vec!["-i", video.to_str().unwrap(), "-map_metadata", "-1"];
    args.extend(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]);
    if let Some(stamp) = &stamp {
        args.extend(["-metadata", stamp]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
}

/// The GRID transcripts from truth.json: (relative path, sentence).
pub fn grid_truth(media: &Path) -> Vec<(String, String)> {
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(media.join("truth.json")).unwrap()).unwrap();
    let mut v: Vec<(String, String)> = truth["grid"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

/// Takes the frame at `at` seconds of a clip, through an optional ffmpeg filter.
pub fn still(clip: &Path, at: &str, filter: Option<&str>, out: &Path) {
    let mut args = vec![
        "-y",
        "-ss",
        at,
        "-i",
        clip.to_str().unwrap(),
        "-frames:v",
        "1",
    ];
    if let Some(f) = filter {
        args.extend(["-vf", f]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
}

/// The verdict a voice challenge's words got on their own, before lip sync is weighed in (the
/// challenge's outcome when there is none): what the speech recognition tests measure.
pub fn speech_outcome(c: &ChallengeReport) -> Outcome {
    match &c.evidence {
        Evidence::Voice(v) => v.speech_outcome.unwrap_or(c.outcome),
        _ => c.outcome,
    }
}
