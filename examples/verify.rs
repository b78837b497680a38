//! Load the models once, then verify several recordings, each against its Live Video object,
//! printing each verdict. Only the library's public API.
//!
//! ```sh
//! cargo run --release --example verify -- VIDEO LIVE_VIDEO.json [VIDEO LIVE_VIDEO.json ...]
//! ```
//!
//! Models come from `$LIVENESS_MODELS`, else `./models` (what `scripts/setup.sh` installs).
//! Exit status: 0 when every file got a verdict, else the exit code of the last error's class.

use std::path::Path;
use std::process::ExitCode;

use liveness::{ChallengeType, Classify, ModelsDir, Verifier, VerifierConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || !args.len().is_multiple_of(2) {
        eprintln!("usage: verify VIDEO LIVE_VIDEO.json [VIDEO LIVE_VIDEO.json ...]");
        return ExitCode::from(64);
    }
    let verifier = match Verifier::load_all(&ModelsDir::locate(None), VerifierConfig::default()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cannot load the models: {e}");
            return ExitCode::from(e.class().exit_code() as u8);
        }
    };
    let mut status = ExitCode::SUCCESS;
    for pair in args.chunks(2) {
        let (video, json) = (Path::new(&pair[0]), Path::new(&pair[1]));
        let verdict = std::fs::read_to_string(json)
            .map_err(|e| format!("{}: {e}", json.display()))
            .and_then(|text| {
                let live_video = verifier
                    .parse_live_video(&text)
                    .map_err(|e| format!("{}: {}", e.class().error_type(), e))?;
                verifier.verify(video, &live_video).map_err(|e| {
                    status = ExitCode::from(e.class().exit_code() as u8);
                    format!("{}: {}", e.class().error_type(), e)
                })
            });
        match verdict {
            Ok(report) => {
                println!(
                    "{}: {} (score {:.2}, {:.2} s)",
                    video.display(),
                    report.outcome.as_str(),
                    report.score,
                    report.timings.total_seconds
                );
                for c in &report.challenges {
                    let reasons: Vec<&str> = c.reasons.iter().map(|r| r.code.as_str()).collect();
                    println!(
                        "  {} {:?}: {} {}",
                        match c.kind {
                            ChallengeType::Voice => "voice",
                            ChallengeType::Actions => "actions",
                        },
                        c.value,
                        c.outcome.as_str(),
                        reasons.join(" ")
                    );
                }
            }
            Err(message) => {
                println!("{}: error {message}", video.display());
                if status == ExitCode::SUCCESS {
                    status = ExitCode::from(65);
                }
            }
        }
    }
    status
}
