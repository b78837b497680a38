//! Helpers for the service tests: run `liveness serve` / `liveness worker` as real processes
//! (their stderr collected), a private PostgreSQL cluster on loopback, and a small blocking
//! API client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::Value;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_liveness")
}

/// The checkout's models folder.
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A running `liveness` process whose stderr is kept.
pub struct Proc {
    child: Child,
    /// Everything it wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    /// `http://ADDR` for a server.
    pub base: String,
}

/// `liveness` without the configuration the test runner's environment may hold
/// (`DATABASE_URL`, `LIVENESS_DATA`, ...: every flag of serve and worker reads one), so that a
/// test's processes run with the flags the test gives them and nothing else.
pub fn command() -> Command {
    let mut c = Command::new(bin());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let kept = [
            "LIVENESS_LOG",
            "LIVENESS_CRASH_DRILL",
            "LIVENESS_CACHE",
            "LIVENESS_MODELS",
            "LIVENESS_WHISPER_WEIGHTS",
        ];
        if name == "DATABASE_URL"
            || name.starts_with("AWS_")
            || (name.starts_with("LIVENESS_") && !kept.contains(&name.as_ref()))
        {
            c.env_remove(name.as_ref());
        }
    }
    c
}

impl Proc {
    /// Starts `liveness ARGS`; for `serve`, waits until it listens.
    pub fn start(args: &[&str]) -> Proc {
        Self::start_with_env(args, &[])
    }

    /// Starts `liveness ARGS` with these environment variables added.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
        Self::start_with_env_in(command(), args, env)
    }

    /// Starts `ARGS` on a prepared [`command`] (say, with its working directory set) with
    /// these environment variables added.
    pub fn start_with_env_in(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start liveness");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut p = Proc {
            child,
            log,
            base: String::new(),
        };
        if args.first() == Some(&"serve") {
            assert!(
                p.wait_log("listening on", Duration::from_secs(30)),
                "serve did not start: {}",
                p.log()
            );
            let log = p.log();
            let addr = log
                .split("listening on ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap()
                .to_string();
            p.base = format!("http://{addr}");
        }
        p
    }

    /// `http://ADDR` where a worker started with `--listen` answers its probes and metrics.
    pub fn probes_base(&mut self) -> String {
        assert!(
            self.wait_log("metrics listening on ", Duration::from_secs(30)),
            "{}",
            self.log()
        );
        let log = self.log();
        let addr = log
            .split("metrics listening on ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .to_string();
        format!("http://{addr}")
    }

    /// The stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until stderr contains `pattern`.
    pub fn wait_log(&mut self, pattern: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.log().contains(pattern) {
                return true;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("process exited with {status}: {}", self.log());
                return self.log().contains(pattern);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn stop(&mut self) {
        unsafe_sigterm(self.child.id());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(40) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

fn unsafe_sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .ok();
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The `file://` media URL of a folder that several processes share (`--media`).
pub fn media_url(dir: &Path) -> String {
    url::Url::from_directory_path(dir).unwrap().to_string()
}

/// Creates an API key with `liveness keys create ARGS` and returns (key, full stdout).
pub fn create_key(args: &[&str]) -> (String, String) {
    let out = command()
        .args(["keys", "create"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text.lines().last().unwrap().trim().to_string();
    (key, text)
}

/// A blocking client for one API key.
#[derive(Clone)]
pub struct Api {
    /// `http://ADDR`.
    pub base: String,
    /// The key sent.
    pub key: String,
    client: Client,
}

/// A response: status and JSON body (Null when none or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body as JSON.
    pub json: Value,
    /// Raw body.
    pub bytes: Vec<u8>,
    /// Content type.
    pub content_type: String,
    /// The request id the server answered in `X-Request-Id`.
    pub request_id: String,
}

impl Api {
    /// A client for `base` with `key`.
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_string(),
            key: key.to_string(),
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    fn answer(r: reqwest::Result<reqwest::blocking::Response>) -> Answer {
        let r = r.expect("request sent");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let request_id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            json,
            bytes,
            content_type,
            request_id,
        }
    }

    /// Any method on a path, with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .client
            .request(method.parse().unwrap(), url)
            .header("Authorization", &self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::answer(req.send())
    }

    /// GET.
    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    /// Uploads a Live Video.
    pub fn upload_video(
        &self,
        file: &Path,
        client_id: &str,
        language: &str,
        challenges: &Value,
    ) -> Answer {
        let form = multipart::Form::new()
            .text("clientId", client_id.to_string())
            .text("language", language.to_string())
            .text("challenges", challenges.to_string())
            .file("video", file)
            .unwrap();
        Self::answer(
            self.client
                .post(format!("{}/v1/liveVideos", self.base))
                .header("Authorization", &self.key)
                .multipart(form)
                .send(),
        )
    }

    /// Uploads a Live Video with the form's text fields as given (say `challengeId`).
    pub fn upload_video_fields(&self, file: &Path, fields: &[(&str, &str)]) -> Answer {
        let mut form = multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let form = form.file("video", file).unwrap();
        Self::answer(
            self.client
                .post(format!("{}/v1/liveVideos", self.base))
                .header("Authorization", &self.key)
                .multipart(form)
                .send(),
        )
    }

    /// Uploads a Live Photo.
    pub fn upload_photo(&self, file: &Path, client_id: &str) -> Answer {
        let form = multipart::Form::new()
            .text("clientId", client_id.to_string())
            .file("photo", file)
            .unwrap();
        Self::answer(
            self.client
                .post(format!("{}/v1/livePhotos", self.base))
                .header("Authorization", &self.key)
                .multipart(form)
                .send(),
        )
    }

    /// Creates a video check.
    pub fn video_check(&self, client_id: &str, live_video_id: &str) -> Answer {
        self.call(
            "POST",
            "/v1/checks",
            Some(&serde_json::json!({"clientId": client_id,
                "type": "liveness_video_check", "liveVideoId": live_video_id})),
        )
    }

    /// Polls a check until it is complete or failed.
    pub fn wait_check(&self, id: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let a = self.get(&format!("/v1/checks/{id}"));
            if a.status == 200 {
                let s = a.json["status"].as_str().unwrap_or("").to_string();
                if s == "complete" || s == "failed" {
                    return a.json;
                }
            }
            assert!(start.elapsed() < limit, "check {id} not done: {:?}", a.json);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A private PostgreSQL cluster on a loopback port, removed on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    port: u16,
}

/// The PostgreSQL server programs, if installed.
fn pg_bindir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// Starts a fresh cluster, or None (with a message) where PostgreSQL is not installed —
    /// which fails under CI, where the test command installs it.
    pub fn start() -> Option<Postgres> {
        let Some(bindir) = pg_bindir() else {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL server not installed (scripts/test.sh installs the Debian package)"
            );
            eprintln!("SKIPPED: PostgreSQL server not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = unsafe_geteuid_is_root();
        if root {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let port = free_port();
        let pg = Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bindir,
            port,
        };
        let data = pg.dir.path().join("data");
        let ok = pg
            .as_postgres(&pg.bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "initdb failed");
        pg.ctl("start");
        Some(pg)
    }

    fn as_postgres(&self, program: &Path) -> Command {
        if unsafe_geteuid_is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let mut c = self.as_postgres(&self.bindir.join("pg_ctl"));
        c.arg("-D").arg(&data).args(["-w", "-m", "fast"]);
        if action != "stop" {
            c.args(["-o", &options])
                .arg("-l")
                .arg(self.dir.path().join("log"));
        }
        let ok = c.arg(action).stdout(Stdio::null()).status().unwrap();
        assert!(ok.success(), "pg_ctl {action} failed");
    }

    /// Stops and starts the server (clients lose their connections).
    pub fn restart(&self) {
        self.ctl("restart");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        self.as_postgres(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok();
    }
}

fn unsafe_geteuid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The GRID clips with their true sentences as voice challenges: (file, challenges).
pub fn grid_jobs(media: &Path) -> Vec<(PathBuf, Value)> {
    crate::common::grid_truth(media)
        .into_iter()
        .map(|(name, sentence)| {
            let words: Vec<&str> = sentence.split_whitespace().collect();
            (
                media.join(&name),
                serde_json::json!([{"type": "voice", "value": words}]),
            )
        })
        .collect()
}

/// Percentile (0..=100) of a list of durations in milliseconds.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank]
}

/// A webhook receiver on loopback: answers 500 to the first request, 200 afterwards, and
/// keeps every request's signature header and body.
/// Requests a webhook receiver got: (signature header, body).
pub type Received = Arc<Mutex<Vec<(String, String)>>>;

pub fn webhook_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut signature) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-liveness-signature:") {
                    signature = line.split_once(':').unwrap().1.trim().to_string();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).ok();
            let mut all = sink.lock().unwrap();
            all.push((signature, String::from_utf8_lossy(&body).to_string()));
            let status = if all.len() == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

/// The value of one series in a Prometheus exposition (the line `NAME{LABELS} VALUE`).
pub fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// How many times each check id appears in lines containing `marker`, over all logs.
pub fn count(logs: &[String], marker: &str) -> std::collections::HashMap<String, usize> {
    let mut n = std::collections::HashMap::new();
    for log in logs {
        for line in log.lines().filter(|l| l.contains(marker)) {
            if let Some(id) = line
                .split("check ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
            {
                *n.entry(id.to_string()).or_insert(0) += 1;
            }
        }
    }
    n
}

/// `liveness serve` on `pg` with this media URL and no in-process workers (the jobs are left
/// to `liveness worker` processes), with these environment variables added.
pub fn pg_serve(pg: &Postgres, media_url: &str, env: &[(&str, &str)]) -> Proc {
    Proc::start_with_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &pg.url,
            "--media",
            media_url,
            "--workers",
            "0",
        ],
        env,
    )
}

/// The arguments of a `liveness worker` on `pg` with the checkout's models and one speech
/// thread, then `extra`.
pub fn pg_worker_args(pg: &Postgres, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["worker", "--database", &pg.url, "--models"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.push(models().display().to_string());
    args.extend(["--threads", "1"].iter().map(|a| a.to_string()));
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// `liveness worker` on `pg` (see [`pg_worker_args`]).
pub fn pg_worker(pg: &Postgres, extra: &[&str]) -> Proc {
    let args = pg_worker_args(pg, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::start(&refs)
}
