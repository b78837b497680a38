//! Operating the service, on real processes: the probes (`/healthz`, `/readyz` with a part
//! down), `/metrics` checked by `promtool check metrics` and moving with real traffic, the
//! per-key rate limit and uploads in flight (429 + `Retry-After`), configuration from the
//! environment alone, every flag's variable in `--help`, and a worker that hands its running
//! job back at once on SIGTERM (PostgreSQL, two worker processes).

mod common;
#[path = "common/service.rs"]
mod service;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use service::{create_key, series, Api, Postgres, Proc};

/// `promtool check metrics` on an exposition: its complaints, or None when it is clean.
/// Where promtool is not installed, skipped (CI installs it: scripts/lib.sh).
fn promtool_problems(text: &str) -> Option<String> {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("CI").is_err(),
            "promtool is not installed (scripts/lib.sh installs the Debian package prometheus)"
        );
        eprintln!("SKIPPED promtool: not installed");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (!out.status.success() || !said.trim().is_empty()).then_some(said)
}

/// GET without a key.
fn get(base: &str, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = reqwest::blocking::get(format!("{base}{path}")).unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().unwrap(), headers)
}

#[test]
fn probes_and_metrics_follow_real_traffic() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    // A webhook receiver that refuses the first delivery (500) and takes the retry.
    let (hook_url, hooks) = service::webhook_receiver();
    let (key, _) = create_key(&["--data", data, "--webhook", &hook_url]);
    let models = service::models();
    let mut server = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--workers",
        "1",
        "--models",
        models.to_str().unwrap(),
        "--webhook-retry-seconds",
        "0.2",
    ]);
    let base = server.base.clone();

    let (status, body, _) = get(&base, "/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body, _) = get(&base, "/readyz");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": "ok", "media": "ok", "models": "ok"})
    );

    // Real traffic: a GRID recording, a check on it, a refused request.
    let api = Api::new(&base, &key);
    let (file, challenges) = service::grid_jobs(&media).remove(0);
    let video = api.upload_video(&file, "ops-client", "en", &challenges);
    assert_eq!(video.status, 201, "{:?}", video.json);
    let check = api.video_check("ops-client", video.json["id"].as_str().unwrap());
    assert_eq!(check.status, 201);
    let done = api.wait_check(check.json["id"].as_str().unwrap(), Duration::from_secs(300));
    assert_eq!(done["status"], "complete", "{done}");
    let outcome = done["result"]["outcome"].as_str().unwrap().to_string();
    assert_eq!(api.get("/v1/checks/nope").status, 404);
    // A method HTTP does not define is counted as `other`, never under its own name.
    let odd = reqwest::blocking::Client::new()
        .request(
            reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap(),
            format!("{base}/healthz"),
        )
        .send()
        .unwrap();
    assert_eq!(odd.status().as_u16(), 405);
    let start = Instant::now();
    while hooks.lock().unwrap().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the webhook was retried"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));

    let (status, text, headers) = get(&base, "/metrics");
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    if let Some(problems) = promtool_problems(&text) {
        panic!("promtool check metrics: {problems}\n{text}");
    }
    let value = |s: &str| series(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        value(r#"liveness_http_requests_total{route="/v1/liveVideos",method="POST",status="201"}"#),
        1.0
    );
    assert_eq!(
        value(r#"liveness_http_requests_total{route="/v1/checks/{id}",method="GET",status="404"}"#),
        1.0
    );
    assert!(
        value(r#"liveness_http_request_duration_seconds_count{route="/v1/checks/{id}"}"#) >= 2.0
    );
    assert_eq!(
        value(r#"liveness_checks_created_total{type="liveness_video_check"}"#),
        1.0
    );
    assert_eq!(
        value(&format!(
            r#"liveness_checks_completed_total{{type="liveness_video_check",outcome="{outcome}"}}"#
        )),
        1.0
    );
    for stage in ["job", "decode", "vision", "asr", "likelihood", "total"] {
        assert_eq!(
            value(&format!(
                r#"liveness_job_duration_seconds_count{{stage="{stage}"}}"#
            )),
            1.0,
            "{stage}"
        );
    }
    assert_eq!(value("liveness_model_load_seconds_count"), 1.0);
    assert!(value("liveness_model_load_seconds_sum") > 0.0);
    assert_eq!(value(r#"liveness_queue_depth{state="pending"}"#), 0.0);
    assert_eq!(value(r#"liveness_queue_depth{state="running"}"#), 0.0);
    assert_eq!(value("liveness_queue_oldest_pending_age_seconds"), 0.0);
    assert_eq!(value("liveness_lease_reclaims_total"), 0.0);
    assert_eq!(value("liveness_webhook_failures_total"), 1.0);
    assert_eq!(value("liveness_webhook_deliveries_total"), 1.0);
    // The probes are counted by route too, and a raw id never becomes a label.
    assert!(!text.contains(check.json["id"].as_str().unwrap()));
    assert!(!text.contains("BREWCOFFEE"));
    assert_eq!(
        value(r#"liveness_http_requests_total{route="/healthz",method="other",status="405"}"#),
        1.0
    );
    server.stop();

    // The same data with a models folder that lacks the files: up, but not ready.
    let empty = dir.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let mut bare = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--workers",
        "0",
        "--models",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(get(&bare.base, "/healthz").0, 200);
    let (status, body, _) = get(&bare.base, "/readyz");
    assert_eq!(status, 503, "{body}");
    let unready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(unready["status"], "unready");
    assert_eq!(unready["models"], "missing");
    assert_eq!(unready["database"], "ok");
    assert!(!body.contains(empty.to_str().unwrap()), "no paths: {body}");
    // A check waits in the queue (no workers here): the gauges say so.
    let pending =
        Api::new(&bare.base, &key).video_check("ops-client", video.json["id"].as_str().unwrap());
    assert_eq!(pending.status, 201);
    std::thread::sleep(Duration::from_millis(1100));
    let (_, text, _) = get(&bare.base, "/metrics");
    assert_eq!(
        series(&text, r#"liveness_queue_depth{state="pending"}"#),
        Some(1.0)
    );
    assert!(series(&text, "liveness_queue_oldest_pending_age_seconds").unwrap() >= 1.0);
    bare.stop();
}

/// Sends the head of a multipart upload and a first part of its body, then nothing: an
/// upload in flight until the stream is dropped.
fn slow_upload(base: &str, key: &str) -> std::net::TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let boundary = "slowslowslow";
    let head = format!(
        "POST /v1/liveVideos HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\nslow\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s
}

#[test]
fn limits_and_configuration_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (key, _) = create_key(&["--data", data]);
    let models = service::models();
    // No flags at all: everything from LIVENESS_* variables.
    let mut server = Proc::start_with_env(
        &["serve"],
        &[
            ("LIVENESS_LISTEN", "127.0.0.1:0"),
            ("LIVENESS_DATA", data),
            ("LIVENESS_WORKERS", "0"),
            ("LIVENESS_MODELS", models.to_str().unwrap()),
            ("LIVENESS_RATE_LIMIT", "2/s"),
            ("LIVENESS_MAX_UPLOADS_IN_FLIGHT", "1"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let list = || {
        client
            .get(format!("{}/v1/checks", server.base))
            .header("Authorization", &key)
            .send()
            .unwrap()
    };
    // A bucket of 2 refilled at 2 a second: two pass at once, then about one every half
    // second; what passes is judged against the time the burst took (a loaded machine is
    // slower to send them).
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..6 {
        let r = list();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 && refused.is_none() {
            refused = Some(r);
        }
    }
    let allowed = 2 + (started.elapsed().as_secs_f64() * 2.0).floor() as usize;
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(passed <= allowed, "{statuses:?}, {allowed} allowed");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let refused = refused.unwrap_or_else(|| panic!("none refused: {statuses:?}"));
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().unwrap();
    assert_eq!(body["type"], "rate_limit_exceeded");
    // The probes need no key and are not limited.
    for _ in 0..5 {
        assert_eq!(get(&server.base, "/healthz").0, 200);
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(list().status().as_u16(), 200);

    // One upload in flight per account: a second one is refused until the first ends.
    std::thread::sleep(Duration::from_millis(1100));
    let slow = slow_upload(&server.base, &key);
    std::thread::sleep(Duration::from_millis(300));
    let api = Api::new(&server.base, &key);
    let photo = dir.path().join("p.jpg");
    std::fs::write(&photo, b"not a photo").unwrap();
    let second = api.upload_photo(&photo, "ops-client");
    assert_eq!(second.status, 429, "{:?}", second.json);
    assert_eq!(second.json["type"], "rate_limit_exceeded");
    assert!(second.json["message"]
        .as_str()
        .unwrap()
        .contains("in flight"));
    drop(slow);
    std::thread::sleep(Duration::from_millis(1100));
    let third = api.upload_photo(&photo, "ops-client");
    assert_eq!(
        third.status, 422,
        "the upload is read now: {:?}",
        third.json
    );
    let (_, text, _) = get(&server.base, "/metrics");
    assert!(series(&text, r#"liveness_rate_limited_total{limit="rate"}"#).unwrap() >= 1.0);
    assert_eq!(
        series(
            &text,
            r#"liveness_rate_limited_total{limit="uploads_in_flight"}"#
        ),
        Some(1.0)
    );
    server.stop();

    // Every option of serve and worker names its environment variable in --help.
    for command in ["serve", "worker"] {
        let out = service::command()
            .args([command, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        // Each option's block: from its `--name` line to the next one.
        let mut options: Vec<String> = Vec::new();
        for line in help.lines() {
            let t = line.trim_start();
            if t.starts_with("--") || (t.starts_with('-') && t.contains(", --")) {
                options.push(String::new());
            }
            if let Some(o) = options.last_mut() {
                o.push_str(line);
                o.push('\n');
            }
        }
        options.retain(|o| !o.contains("--help") && !o.contains("--version"));
        assert!(options.len() >= 10, "{help}");
        for option in &options {
            assert!(option.contains("[env: "), "{command}: {option}");
        }
        assert!(help.contains("Example: "), "{help}");
    }
}

#[test]
fn a_stopped_worker_hands_its_job_back_at_once() {
    let Some(media) = common::media() else { return };
    let Some(pg) = Postgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let media_url = service::media_url(&shared.path().join("media"));
    let (key, _) = create_key(&["--database", &pg.url]);
    let mut server = service::pg_serve(&pg, &media_url, &[]);
    let api = Api::new(&server.base, &key);
    // A long recording (a GRID clip eight times over) so that the job is surely running when
    // its worker is told to stop.
    let (file, challenges) = service::grid_jobs(&media).remove(0);
    let long = shared.path().join("long.mp4");
    common::ffmpeg(&[
        "-stream_loop",
        "7",
        "-i",
        file.to_str().unwrap(),
        "-c",
        "copy",
        long.to_str().unwrap(),
    ]);
    let video = api.upload_video(&long, "stop-client", "en", &challenges);
    assert_eq!(video.status, 201, "{:?}", video.json);
    let mut a = service::pg_worker(
        &pg,
        &[
            "--lease-seconds",
            "120",
            "--shutdown-grace",
            "0",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let probes = a.probes_base();
    assert_eq!(get(&probes, "/healthz").0, 200);
    let (status, body, _) = get(&probes, "/readyz");
    assert_eq!(status, 200, "{body}");
    let check = api.video_check("stop-client", video.json["id"].as_str().unwrap());
    let id = check.json["id"].as_str().unwrap().to_string();
    assert!(
        a.wait_log(
            &format!("check {id} attempt 1 started"),
            Duration::from_secs(60)
        ),
        "{}",
        a.log()
    );
    let (_, text, _) = get(&probes, "/metrics");
    assert_eq!(
        series(&text, r#"liveness_queue_depth{state="running"}"#),
        Some(1.0)
    );
    let mut b = service::pg_worker(&pg, &["--lease-seconds", "120"]);
    let stopped = Instant::now();
    a.stop();
    assert!(
        a.log()
            .contains(&format!("check {id} handed back to the queue")),
        "{}",
        a.log()
    );
    assert!(!a.log().contains(&format!("check {id} attempt 1 ->")));
    let done = api.wait_check(&id, Duration::from_secs(100));
    let waited = stopped.elapsed();
    assert_eq!(done["status"], "complete", "{done}");
    // Another worker ran it at once (far within the 120 s lease), as attempt 1 again: a
    // hand-back is not a failure.
    assert!(
        b.log()
            .contains(&format!("check {id} attempt 1 -> complete")),
        "{}",
        b.log()
    );
    assert!(
        waited < Duration::from_secs(60),
        "half the lease: {waited:?}"
    );
    eprintln!(
        "handed back and completed by the other worker {:.1} s after SIGTERM",
        waited.as_secs_f64()
    );
    b.stop();
    server.stop();
}
