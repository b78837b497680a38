//! Load test, bounded and on loopback only: `liveness serve` with the embedded store and 16
//! concurrent clients submitting 200 checks over HTTP (on real GRID recordings) and polling
//! them to completion. Every check completes, none is lost or run twice; the API latency of
//! the non-inference endpoints (p50/p95), the end-to-end throughput and each check's stage
//! timings (from its report, averaged) are printed; every report must carry them.

mod common;
#[path = "common/service.rs"]
mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use service::{create_key, percentile, Api, Proc};

const CHECKS: usize = 200;
const CLIENTS: usize = 16;

#[test]
fn two_hundred_checks_from_sixteen_clients() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let (key, _) = create_key(&["--data", &data]);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = cores.clamp(1, 4).to_string();
    let server = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--models",
        service::models().to_str().unwrap(),
        "--workers",
        &workers,
        "--threads",
        "1",
    ]);
    let api = Api::new(&server.base, &key);
    let jobs = service::grid_jobs(&media);
    let latencies: Arc<Mutex<HashMap<&'static str, Vec<f64>>>> = Arc::default();
    let timed = |name: &'static str, f: &mut dyn FnMut() -> service::Answer| {
        let t = Instant::now();
        let a = f();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        latencies.lock().unwrap().entry(name).or_default().push(ms);
        a
    };
    let videos: Vec<(String, String)> = jobs
        .iter()
        .map(|(file, challenges)| {
            let r = timed("POST /v1/liveVideos", &mut || {
                api.upload_video(file, "load", "en", challenges)
            });
            assert_eq!(r.status, 201, "{:?}", r.json);
            (
                r.json["id"].as_str().unwrap().to_string(),
                file.display().to_string(),
            )
        })
        .collect();

    let started = Instant::now();
    // Each completed check: its id, its video and its report's stage timings.
    let ids: Arc<Mutex<Vec<(String, String, serde_json::Value)>>> = Arc::default();
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let api = api.clone();
            let ids = ids.clone();
            let videos = &videos;
            let timed = &timed;
            scope.spawn(move || {
                let mine: Vec<usize> = (client..CHECKS).step_by(CLIENTS).collect();
                let mut pending = Vec::new();
                for i in mine {
                    let video = &videos[i % videos.len()].0;
                    let r = timed("POST /v1/checks", &mut || api.video_check("load", video));
                    assert_eq!(r.status, 201, "{:?}", r.json);
                    pending.push((r.json["id"].as_str().unwrap().to_string(), video.clone()));
                }
                while !pending.is_empty() {
                    std::thread::sleep(Duration::from_millis(250));
                    pending.retain(|(id, video)| {
                        let r = timed("GET /v1/checks/{id}", &mut || {
                            api.get(&format!("/v1/checks/{id}"))
                        });
                        assert_eq!(r.status, 200);
                        assert_eq!(r.json["liveVideoId"].as_str(), Some(video.as_str()));
                        match r.json["status"].as_str() {
                            Some("complete") => {
                                let timings = r.json.pointer("/result/breakdown/timings");
                                let timings = timings.cloned().unwrap_or_default();
                                ids.lock()
                                    .unwrap()
                                    .push((id.clone(), video.clone(), timings));
                                false
                            }
                            Some("pending") => true,
                            other => panic!("check {id} ended {other:?}: {:?}", r.json),
                        }
                    });
                    timed("GET /v1/checks?pageSize=100", &mut || {
                        api.get("/v1/checks?pageSize=100")
                    });
                    assert!(
                        started.elapsed() < Duration::from_secs(1500),
                        "load test too slow"
                    );
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let ids = ids.lock().unwrap().clone();
    let mut unique: Vec<&String> = ids.iter().map(|(id, _, _)| id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), CHECKS);
    assert_eq!(unique.len(), CHECKS, "no duplicate check ids");
    let listed = api.get("/v1/checks?status=complete&pageSize=1000");
    assert_eq!(listed.json["totalItems"], CHECKS as i64);
    // Each check ran once.
    let log = server.log();
    let runs = log.lines().filter(|l| l.contains(" started")).count();
    let completions = log.lines().filter(|l| l.contains("-> complete")).count();
    assert_eq!((runs, completions), (CHECKS, CHECKS));

    // Where a check's time went: each report's own stage timings, averaged (seconds of the
    // stage's wall time inside its worker; speech runs on one core beside the picture pass).
    let mut stages: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
    for (id, _, timings) in &ids {
        let timings = timings.as_object().unwrap_or_else(|| {
            panic!("check {id} has no timings: {timings}");
        });
        for (name, value) in timings {
            let entry = stages.entry(name.clone()).or_default();
            entry.0 += value
                .as_f64()
                .unwrap_or_else(|| panic!("check {id}: {name} is not a number: {value}"));
            entry.1 += 1;
        }
    }
    assert!(stages
        .get("totalSeconds")
        .is_some_and(|(sum, n)| *n == CHECKS && *sum > 0.0));

    eprintln!(
        "load: {CHECKS} checks from {CLIENTS} clients, {workers} in-process workers, {cores} cores: \
         all complete in {seconds:.1} s = {:.1} checks/min",
        CHECKS as f64 / seconds * 60.0
    );
    let means: Vec<String> = stages
        .iter()
        .map(|(name, (sum, n))| format!("{name} {:.3}", sum / *n as f64))
        .collect();
    eprintln!("  mean stage seconds per check: {}", means.join(", "));
    let mut all = latencies.lock().unwrap().clone();
    let mut names: Vec<&'static str> = all.keys().copied().collect();
    names.sort();
    for name in names {
        let v = all.get_mut(name).unwrap();
        let n = v.len();
        eprintln!(
            "  {name:<30} n={n:<5} p50 {:>7.1} ms  p95 {:>7.1} ms",
            percentile(v, 50.0),
            percentile(v, 95.0)
        );
    }
}
