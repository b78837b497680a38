//! A small worker loop over a folder, with only the library's public API: every `NAME.json`
//! Live Video beside its recording `NAME.mp4` (or `.mov`, `.webm`, `.mkv`) is verified once,
//! and its report (or error object) written to `NAME.result.json`. A second run skips what is
//! done, so a killed run resumes; a file that fails is recorded and the loop goes on.
//!
//! ```sh
//! cargo run --release --example batch -- FOLDER
//! ```
//!
//! (`liveness audit` is the full tool: parallel runner processes, time limits, summary and an
//! HTML report.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use liveness::{Classify, ErrorClass, ErrorObject, ModelsDir, Verifier, VerifierConfig};

/// The recording beside a Live Video JSON file.
fn recording(json: &Path) -> Option<PathBuf> {
    ["mp4", "mov", "webm", "mkv"]
        .iter()
        .map(|ext| json.with_extension(ext))
        .find(|p| p.is_file())
}

/// Writes `text` to `path` whole or not at all (a killed run leaves no half result).
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

fn main() -> ExitCode {
    let Some(folder) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: batch FOLDER");
        return ExitCode::from(64);
    };
    let mut jobs: Vec<PathBuf> = match std::fs::read_dir(&folder) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p.to_string_lossy().ends_with(".result.json")
            })
            .collect(),
        Err(e) => {
            eprintln!("{}: {e}", folder.display());
            return ExitCode::from(66);
        }
    };
    jobs.sort();
    let verifier = match Verifier::load_all(&ModelsDir::locate(None), VerifierConfig::default()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cannot load the models: {e}");
            return ExitCode::from(e.class().exit_code() as u8);
        }
    };
    let (mut done, mut skipped, mut failed) = (0, 0, 0);
    for json in &jobs {
        let result_path = json.with_extension("result.json");
        if result_path.exists() {
            skipped += 1;
            continue;
        }
        let Some(video) = recording(json) else {
            eprintln!("{}: no recording beside it", json.display());
            failed += 1;
            continue;
        };
        // Every failure is recorded as the JSON error object the command line prints.
        let outcome = std::fs::read_to_string(json)
            .map_err(|e| ErrorObject::of(ErrorClass::NotFound, e.to_string(), None))
            .and_then(|text| verifier.parse_live_video(&text).map_err(|e| e.to_object()))
            .and_then(|lv| verifier.verify(&video, &lv).map_err(|e| e.to_object()));
        let (text, line) = match outcome {
            Ok(report) => (
                serde_json::to_string_pretty(&report).unwrap_or_default(),
                report.outcome.as_str().to_string(),
            ),
            Err(error) => {
                failed += 1;
                let text = serde_json::to_string(&error).unwrap_or_default();
                (text.clone(), format!("error {text}"))
            }
        };
        if let Err(e) = write_atomically(&result_path, &text) {
            eprintln!("{}: {e}", result_path.display());
            return ExitCode::from(74);
        }
        done += 1;
        println!("{}: {line}", video.display());
    }
    println!("{done} verified, {skipped} already done, {failed} failed");
    ExitCode::SUCCESS
}
