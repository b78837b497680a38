//! Process-level controls every stage shares: the flag that stops a verification early, and
//! the crash drill that lets a test make a stage abort the way a failed native assertion does.

use std::path::Path;
use std::sync::Arc;

/// A flag a caller sets to stop a verification early (decode stops at the next packet,
/// whisper at its next step); the verification then ends with `pipeline::VerifyError::Cancelled`.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A flag not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the verification to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether it was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The shared flag itself, for stages that poll it (the decoder, whisper's abort
    /// callback).
    pub fn flag(&self) -> &Arc<std::sync::atomic::AtomicBool> {
        &self.0
    }
}

/// Environment variable arming the crash drill, for tests and operators: a comma-separated
/// list of `STAGE:SHA256` (stage `probe`, `verify` or `photo`); processing a file with that
/// sha256 at that stage aborts the process, as a failed whisper.cpp assertion does. Unset in
/// normal use.
pub const CRASH_DRILL_ENV: &str = "LIVENESS_CRASH_DRILL";

/// Aborts the process when [`CRASH_DRILL_ENV`] names `stage` with `path`'s sha256; does
/// nothing (and reads nothing) when the variable is unset or names another stage.
pub fn crash_drill(stage: &str, path: &Path) {
    let Ok(drill) = std::env::var(CRASH_DRILL_ENV) else {
        return;
    };
    let targets: Vec<String> = drill
        .split(',')
        .filter_map(|d| d.trim().split_once(':'))
        .filter(|(s, _)| *s == stage)
        .map(|(_, sha)| sha.to_ascii_lowercase())
        .collect();
    if targets.is_empty() {
        return;
    }
    let Ok(sha) = crate::models::sha256_file(path) else {
        return;
    };
    if targets.contains(&sha) {
        eprintln!(
            "liveness: crash drill: aborting at {stage} on {}",
            path.display()
        );
        std::process::abort();
    }
}
