//! Scale-out against a real PostgreSQL server (a private cluster on loopback, started by the
//! test): `serve --workers 0` takes the API, separate `liveness worker` processes run the jobs.
//! Two workers process 50 checks exactly once; a worker killed with SIGKILL mid-job loses
//! nothing (its lease runs out and another worker finishes the check, counting the take-over
//! in its metrics); restarting the API process and the database server mid-run loses nothing.

mod common;
#[path = "common/service.rs"]
mod service;

use std::time::{Duration, Instant};

use serde_json::Value;
use service::{count, create_key, pg_serve, pg_worker, Api, Postgres, Proc};

fn worker(pg: &Postgres, lease: &str) -> Proc {
    pg_worker(pg, &["--lease-seconds", lease])
}

fn wait_all(api: &Api, ids: &[String], limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    ids.iter()
        .map(|id| {
            let left = limit.saturating_sub(start.elapsed());
            api.wait_check(id, left.max(Duration::from_secs(1)))
        })
        .collect()
}

#[test]
fn postgres_workers_share_the_queue_and_survive_kills_and_restarts() {
    let Some(media) = common::media() else { return };
    let Some(pg) = Postgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let media_url = service::media_url(shared.path());
    let (key, _) = create_key(&["--database", &pg.url]);
    let mut server = pg_serve(&pg, &media_url, &[]);
    let api = Api::new(&server.base, &key);
    let jobs = service::grid_jobs(&media);
    let videos: Vec<String> = jobs
        .iter()
        .take(5)
        .map(|(file, challenges)| {
            let r = api.upload_video(file, "pg-client", "en", challenges);
            assert_eq!(r.status, 201, "{:?}", r.json);
            r.json["id"].as_str().unwrap().to_string()
        })
        .collect();
    let submit = |api: &Api, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let r = api.video_check("pg-client", &videos[i % videos.len()]);
                assert_eq!(r.status, 201, "{:?}", r.json);
                r.json["id"].as_str().unwrap().to_string()
            })
            .collect()
    };

    // 1. Two workers, 50 checks: each runs exactly once, both take part.
    let ids = submit(&api, 50);
    let mut a = worker(&pg, "5");
    let mut b = worker(&pg, "5");
    let started = Instant::now();
    let done = wait_all(&api, &ids, Duration::from_secs(600));
    let seconds = started.elapsed().as_secs_f64();
    assert!(done.iter().all(|c| c["status"] == "complete"), "{done:?}");
    let logs = [a.log(), b.log()];
    let runs = count(&logs, "started");
    let completions = count(&logs, "-> complete");
    for id in &ids {
        assert_eq!(runs.get(id), Some(&1), "check {id} started once");
        assert_eq!(completions.get(id), Some(&1), "check {id} completed once");
    }
    let by_a = count(&[a.log()], "-> complete").len();
    let by_b = count(&[b.log()], "-> complete").len();
    assert!(
        by_a > 0 && by_b > 0,
        "both workers took part: {by_a} + {by_b}"
    );
    eprintln!(
        "PostgreSQL: 50 checks by 2 workers in {seconds:.1} s ({by_a} + {by_b}), each run once"
    );

    // 2. SIGKILL a worker mid-job: another finishes the check after the lease runs out.
    b.stop();
    let victim = submit(&api, 1).remove(0);
    assert!(
        a.wait_log(
            &format!("check {victim} attempt 1 started"),
            Duration::from_secs(60)
        ),
        "{}",
        a.log()
    );
    a.kill9();
    let mut c = pg_worker(&pg, &["--lease-seconds", "5", "--listen", "127.0.0.1:0"]);
    let done = api.wait_check(&victim, Duration::from_secs(120));
    assert_eq!(done["status"], "complete", "{done}");
    // The take-over shows in the worker's metrics.
    let probes = c.probes_base();
    let metrics = reqwest::blocking::get(format!("{probes}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        service::series(&metrics, "liveness_lease_reclaims_total"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        c.log()
            .contains(&format!("check {victim} attempt 2 -> complete")),
        "{}",
        c.log()
    );
    assert!(!a.log().contains(&format!("check {victim} attempt 1 ->")));

    // 3. Restart the API process and the database server while 20 checks run: all complete.
    let ids = submit(&api, 20);
    assert!(c.wait_log("attempt 1 started", Duration::from_secs(30)));
    server.kill9();
    pg.restart();
    server = pg_serve(&pg, &media_url, &[]);
    let api = Api::new(&server.base, &key);
    let mut d = worker(&pg, "5");
    let done = wait_all(&api, &ids, Duration::from_secs(600));
    assert!(done.iter().all(|c| c["status"] == "complete"), "{done:?}");
    let logs = [c.log(), d.log()];
    let completions = count(&logs, "-> complete");
    for id in &ids {
        assert!(
            completions.get(id).copied().unwrap_or(0) <= 1,
            "check {id} stored once"
        );
    }
    let listed = api.get("/v1/checks?clientId=pg-client&pageSize=1000");
    assert_eq!(listed.json["totalItems"], 71);
    assert_eq!(api.get("/v1/checks?status=complete").json["totalItems"], 71);
    d.stop();
    c.stop();
}
