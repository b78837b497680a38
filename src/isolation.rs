//! Crash isolation: native inference (whisper.cpp, ONNX Runtime, FFmpeg) runs in a child
//! process, so that an abort or a segfault inside it costs one job, never the service, a
//! worker or an audit. Two shapes:
//! - a long-lived `Runner`: this executable started again as `liveness runner`, taking one
//!   JSON request per line on its stdin and answering one JSON line; it keeps its models
//!   loaded between jobs, and when it dies the job in hand fails with
//!   [`IsolationError::Died`] and the next job starts a fresh one (`RunnerPool` keeps
//!   a few idle ones);
//! - a one-shot fork ([`run_forked`]) for a command that checks one file and exits.
//!
//! In either child, file descriptor 1 is pointed at stderr, so whatever native code prints
//! on stdout (ggml prints a debugger's backtrace there when it aborts) never mixes with the
//! answers.

use crate::report::{Classify, ErrorClass};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use serde_json::Value;

use crate::control::Cancel;

/// How long a child may take to stop after it was asked to cancel before it is killed.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// Why a job sent to a child process has no answer.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    /// The child process could not be started.
    #[error("cannot start the runner process {program}: {message}")]
    Spawn {
        /// The executable.
        program: String,
        /// Why.
        message: String,
    },
    /// The child process died while it worked (a native abort or segfault, or it was
    /// killed); another job gets a fresh one.
    #[error("the runner process died while working on it ({status})")]
    Died {
        /// How it ended, e.g. `killed by signal 6 (SIGABRT)`.
        status: String,
    },
    /// The child process answered something that is not the protocol.
    #[error("the runner process answered out of protocol: {0}")]
    Protocol(String),
    /// The child process did not stop within `CANCEL_GRACE` (10 s) of being cancelled and was
    /// killed.
    #[error("the runner process did not stop within {0:.0} s of being cancelled and was killed")]
    Unresponsive(f64),
}

/// How a child process ended, in words.
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => describe_signal(sig),
        None => "ended".into(),
    }
}

/// `killed by signal N (NAME)`.
fn describe_signal(sig: i32) -> String {
    let name = match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    };
    format!("killed by signal {sig} ({name})")
}

/// How to start a runner process.
#[derive(Debug, Clone)]
pub struct RunnerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl RunnerCommand {
    /// This very executable with `args` (for `liveness runner ...`).
    pub fn this_executable(args: Vec<OsString>) -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args,
        })
    }
}

/// A started child and the thread reading its answers.
#[derive(Debug)]
struct Live {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<std::io::Result<String>>,
}

/// A supervised child process that runs one JSON request at a time; started on first use and
/// again after it dies.
#[derive(Debug)]
pub(crate) struct Runner {
    command: RunnerCommand,
    live: Option<Live>,
}

/// How often a waiting parent looks at its cancel flag.
const POLL: Duration = Duration::from_millis(20);

impl Runner {
    /// A runner that starts `command` when it first has work.
    pub fn new(command: RunnerCommand) -> Self {
        Self {
            command,
            live: None,
        }
    }

    /// The process id of the running child, if one is running.
    #[cfg(test)]
    fn pid(&self) -> Option<u32> {
        self.live.as_ref().map(|l| l.child.id())
    }

    fn start(&mut self) -> Result<&mut Live, IsolationError> {
        if self.live.is_none() {
            let spawn_error = |e: std::io::Error| IsolationError::Spawn {
                program: self.command.program.display().to_string(),
                message: e.to_string(),
            };
            let mut child = Command::new(&self.command.program)
                .args(&self.command.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(spawn_error)?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(IsolationError::Protocol("no pipes to the child".into()));
            };
            let (tx, answers) = bounded(1);
            std::thread::Builder::new()
                .name("runner-answers".into())
                .spawn(move || {
                    for line in BufReader::new(stdout).lines() {
                        let failed = line.is_err();
                        if tx.send(line).is_err() || failed {
                            break;
                        }
                    }
                })
                .map_err(spawn_error)?;
            self.live = Some(Live {
                child,
                stdin,
                answers,
            });
        }
        Ok(self.live.as_mut().expect("started above"))
    }

    /// Kills the child (if any) and says how it ended.
    fn bury(&mut self, kill: bool) -> String {
        let Some(mut live) = self.live.take() else {
            return "not running".into();
        };
        drop(live.stdin);
        if kill {
            let _ = live.child.kill();
        }
        // A child whose stdout closed is ending: give it a moment before killing it.
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match live.child.try_wait() {
                Ok(Some(status)) => return describe_status(&status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = live.child.kill();
                    return live
                        .child
                        .wait()
                        .map(|s| describe_status(&s))
                        .unwrap_or_else(|e| format!("lost: {e}"));
                }
            }
        }
    }

    /// Sends `request` and waits for the answer. When `stop` is set or `deadline` passes, the
    /// child is asked to cancel (it then answers early, usually with its own error); one that
    /// has not answered [`CANCEL_GRACE`] later is killed.
    pub fn call(
        &mut self,
        request: &Value,
        stop: &Cancel,
        deadline: Option<Instant>,
    ) -> Result<Value, IsolationError> {
        let mut line = request.to_string();
        line.push('\n');
        let live = self.start()?;
        if live.stdin.write_all(line.as_bytes()).is_err() || live.stdin.flush().is_err() {
            let status = self.bury(false);
            return Err(IsolationError::Died { status });
        }
        let mut cancelled_at: Option<Instant> = None;
        loop {
            let live = self.live.as_mut().expect("started above");
            match live.answers.recv_timeout(POLL) {
                Ok(Ok(answer)) => {
                    return serde_json::from_str(&answer).map_err(|e| {
                        self.bury(true);
                        IsolationError::Protocol(format!("{e}: {answer:.200}"))
                    })
                }
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                    let status = self.bury(false);
                    return Err(IsolationError::Died { status });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let due = stop.is_cancelled() || deadline.is_some_and(|d| Instant::now() > d);
                    match cancelled_at {
                        None if due => {
                            cancelled_at = Some(Instant::now());
                            let _ = live.stdin.write_all(b"{\"cancel\":true}\n");
                            let _ = live.stdin.flush();
                        }
                        Some(at) if at.elapsed() > CANCEL_GRACE => {
                            self.bury(true);
                            return Err(IsolationError::Unresponsive(CANCEL_GRACE.as_secs_f64()));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Closing stdin ends an idle child; one still working is killed.
        self.bury(false);
    }
}

/// Runners shared by threads: a call takes an idle one (or starts one) and puts it back
/// after, keeping at most `keep` idle.
#[derive(Debug)]
#[cfg_attr(not(feature = "service"), allow(dead_code))] // only the service's engine pools runners
pub(crate) struct RunnerPool {
    command: RunnerCommand,
    keep: usize,
    idle: Mutex<Vec<Runner>>,
}

#[cfg_attr(not(feature = "service"), allow(dead_code))]
impl RunnerPool {
    /// A pool starting `command`, keeping up to `keep` idle runners.
    pub fn new(command: RunnerCommand, keep: usize) -> Self {
        Self {
            command,
            keep: keep.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `request` on an idle runner (see [`Runner::call`]).
    pub fn call(
        &self,
        request: &Value,
        stop: &Cancel,
        deadline: Option<Instant>,
    ) -> Result<Value, IsolationError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut runner = taken.unwrap_or_else(|| Runner::new(self.command.clone()));
        let answer = runner.call(request, stop, deadline);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.keep {
                idle.push(runner);
            }
        }
        answer
    }
}

/// Makes file descriptor 1 point at stderr and returns the original stdout for the answers.
fn answers_channel() -> std::io::Result<File> {
    // SAFETY: plain descriptor calls; the new descriptor is owned by the returned File.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(File::from_raw_fd(fd))
    }
}

/// The child's side of [`Runner`]: reads requests from stdin and answers each with
/// `handle(request, cancel)` on the original stdout, one line each, until stdin closes. A
/// `{"cancel":true}` line sets the cancel flag of the request in hand; stdin closing (the
/// parent gone) sets it too.
pub(crate) fn serve_requests(
    mut handle: impl FnMut(Value, &Cancel) -> Value,
) -> std::io::Result<()> {
    let mut out = answers_channel()?;
    let current = Arc::new(Mutex::new(Cancel::new()));
    let (tx, requests) = bounded::<(Value, Cancel)>(1);
    let reader_current = current.clone();
    std::thread::Builder::new()
        .name("runner-requests".into())
        .spawn(move || {
            let cancel_current = || {
                if let Ok(c) = reader_current.lock() {
                    c.cancel();
                }
            };
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("liveness runner: a request line is not JSON; ignored");
                    continue;
                };
                if value.get("cancel").is_some() {
                    cancel_current();
                    continue;
                }
                let cancel = Cancel::new();
                if let Ok(mut c) = reader_current.lock() {
                    *c = cancel.clone();
                }
                if tx.send((value, cancel)).is_err() {
                    break;
                }
            }
            cancel_current();
        })?;
    for (request, cancel) in requests.iter() {
        let mut answer = handle(request, &cancel).to_string();
        answer.push('\n');
        out.write_all(answer.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

/// How a forked child ended.
#[derive(Debug)]
pub enum Forked {
    /// It exited with this status and wrote this.
    Exited {
        /// Its exit status.
        code: i32,
        /// What it wrote for the parent.
        output: Vec<u8>,
    },
    /// It was killed (a native abort or segfault) after writing this.
    Killed {
        /// How it ended, e.g. `killed by signal 6 (SIGABRT)`.
        status: String,
        /// What it wrote before.
        output: Vec<u8>,
    },
}

/// Runs `work` in a forked child that writes its output to the given writer and returns its
/// exit status; the parent collects both. The child's stdout is pointed at stderr.
///
/// Call it only while the process has one thread (at the start of `main`): a forked child
/// of a threaded process may inherit locks held by threads that do not exist in it.
pub fn run_forked(work: impl FnOnce(&mut File) -> i32) -> std::io::Result<Forked> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the two descriptors, owned below by Files.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptors were just created and are owned by nothing else.
    let (mut read_end, write_end) =
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: the caller runs this while single-threaded (documented above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        drop(read_end);
        let mut out = write_end;
        // SAFETY: descriptor duplication only.
        if unsafe { libc::dup2(2, 1) } < 0 {
            // SAFETY: as below.
            unsafe { libc::_exit(crate::report::ErrorClass::Internal.exit_code()) };
        }
        let code = work(&mut out);
        let _ = out.flush();
        drop(out);
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut output = Vec::new();
    let read = read_end.read_to_end(&mut output);
    let mut status = 0i32;
    // SAFETY: waits for the child forked above.
    let waited = loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    if waited < 0 {
        return Err(std::io::Error::last_os_error());
    }
    read?;
    let status = ExitStatus::from_raw(status);
    Ok(match status.code() {
        Some(code) => Forked::Exited { code, output },
        None => Forked::Killed {
            status: describe_status(&status),
            output,
        },
    })
}

impl Classify for IsolationError {
    fn class(&self) -> ErrorClass {
        match self {
            // No runner could be started (no memory, no executable): try again later.
            IsolationError::Spawn { .. } => ErrorClass::ServiceUnavailable,
            IsolationError::Died { .. }
            | IsolationError::Protocol(_)
            | IsolationError::Unresponsive(_) => ErrorClass::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named() {
        assert_eq!(
            describe_status(&ExitStatus::from_raw(libc::SIGABRT)),
            "killed by signal 6 (SIGABRT)"
        );
        assert_eq!(
            describe_status(&ExitStatus::from_raw(3 << 8)),
            "exit status 3"
        );
    }

    fn shell(script: &str) -> Runner {
        Runner::new(RunnerCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
        })
    }

    #[test]
    fn a_runner_answers_and_a_dead_one_is_started_again() {
        // Answers each line with {"n":…}; dies (SIGABRT) on a request saying so.
        let mut r = shell(
            r#"n=0; while read -r line; do n=$((n+1)); case "$line" in *die*) kill -ABRT $$;; esac; echo "{\"n\":$n}"; done"#,
        );
        let never = Cancel::new();
        let ask = |r: &mut Runner, v: Value| r.call(&v, &never, None);
        assert_eq!(ask(&mut r, serde_json::json!({"a":1})).unwrap()["n"], 1);
        assert_eq!(ask(&mut r, serde_json::json!({"a":2})).unwrap()["n"], 2);
        let first = r.pid();
        match ask(&mut r, serde_json::json!({"die":true})) {
            Err(IsolationError::Died { status }) => assert!(status.contains("SIGABRT"), "{status}"),
            other => panic!("expected a death, got {other:?}"),
        }
        assert_eq!(r.pid(), None);
        // The next call starts a fresh child, counting from 1 again.
        assert_eq!(ask(&mut r, serde_json::json!({"a":3})).unwrap()["n"], 1);
        assert_ne!(r.pid(), first);
    }

    #[test]
    fn a_child_that_ignores_cancel_is_killed_after_the_grace() {
        let mut r = shell("read -r line; sleep 60");
        let stop = Cancel::new();
        stop.cancel();
        let started = Instant::now();
        let answer = r.call(&serde_json::json!({}), &stop, None);
        assert!(
            matches!(answer, Err(IsolationError::Unresponsive(_))),
            "{answer:?}"
        );
        let took = started.elapsed();
        assert!(took >= CANCEL_GRACE && took < CANCEL_GRACE + Duration::from_secs(5));
    }

    #[test]
    fn garbage_on_the_answer_channel_is_a_protocol_error() {
        let mut r = shell("read -r line; echo 'not json'; sleep 60");
        let answer = r.call(&serde_json::json!({}), &Cancel::new(), None);
        assert!(
            matches!(answer, Err(IsolationError::Protocol(_))),
            "{answer:?}"
        );
    }

    #[test]
    fn a_forked_child_is_seen_to_die() {
        // The test harness is threaded; this child only writes and aborts, touching no lock.
        match run_forked(|out| {
            let _ = out.write_all(b"partial");
            std::process::abort()
        })
        .unwrap()
        {
            Forked::Killed { status, output } => {
                assert!(status.contains("SIGABRT"));
                assert_eq!(output, b"partial");
            }
            other => panic!("{other:?}"),
        }
        match run_forked(|out| {
            let _ = out.write_all(b"{}");
            3
        })
        .unwrap()
        {
            Forked::Exited { code, output } => {
                assert_eq!((code, output.as_slice()), (3, &b"{}"[..]))
            }
            other => panic!("{other:?}"),
        }
    }
}
