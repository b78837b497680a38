//! `liveness serve` with the embedded store (SQLite + media folder), run as a real process:
//! the Live Video → Check flow on real GRID recordings with a signed webhook that is retried,
//! download / redact / delete, account isolation, limits and bad input, Live Photos, and the
//! OpenAPI document checked against the routes that answer.

mod common;
#[path = "common/service.rs"]
mod service;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use service::{create_key, webhook_receiver, Api, Proc};

fn data_args(dir: &Path) -> Vec<String> {
    vec!["--data".into(), dir.display().to_string()]
}

fn serve(dir: &Path, extra: &[&str]) -> Proc {
    let mut args: Vec<String> = vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(data_args(dir));
    args.extend(["--models".into(), service::models().display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::start(&refs)
}

fn key_for(dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = data_args(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    create_key(&refs)
}

#[test]
fn live_video_checks_download_redact_delete_and_webhook() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, hooks) = webhook_receiver();
    let (key, printed) = key_for(dir.path(), &["--webhook", &hook_url]);
    assert!(key.starts_with("live_") && key.len() > 60, "{printed}");
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("webhook secret: "))
        .unwrap()
        .to_string();
    let server = serve(dir.path(), &["--webhook-retry-seconds", "0.2"]);
    let api = Api::new(&server.base, &key);

    // A recording whose voice lip sync shows to come from its face (tests/av_sync_eval.rs).
    let clip = media.join("video/grid/lwbsza.mpg");
    let truth = json!([{"type": "voice", "value": ["lay", "white", "by", "s", "zero", "again"]}]);
    let up = api.upload_video(&clip, "client-1", "en-GB", &truth);
    assert_eq!(up.status, 201, "{:?}", up.json);
    let id = up.json["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(up.json["contentType"], "video/mpeg");
    assert_eq!(up.json["duration"], 3.0);
    assert_eq!(api.get(&format!("/v1/liveVideos/{id}")).json, up.json);

    // The true sentence clears; another sentence on the same recording does not.
    let check = api.video_check("client-1", &id);
    assert_eq!(check.status, 201, "{:?}", check.json);
    assert_eq!(check.json["status"], "pending");
    let check_id = check.json["id"].as_str().unwrap().to_string();
    let done = api.wait_check(&check_id, Duration::from_secs(120));
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["result"]["outcome"], "clear", "{done}");
    let evidence = &done["result"]["breakdown"]["challenges"][0]["evidence"];
    let transcript = evidence["transcript"].as_str().unwrap().to_string();
    assert!(
        !evidence["transcript"].as_str().unwrap().is_empty(),
        "{evidence}"
    );
    // The breakdown carries the lip sync that cleared it, and the faces analysis.
    assert!(
        evidence["avSync"]["strength"].as_f64().unwrap() >= 3.5,
        "{evidence}"
    );
    assert_eq!(evidence["speechOutcome"], "clear");
    assert_eq!(done["result"]["breakdown"]["faces"]["outcome"], "clear");

    let other =
        json!([{"type": "voice", "value": ["place", "green", "with", "q", "one", "again"]}]);
    let impostor = api.upload_video(&clip, "client-1", "en", &other);
    let impostor_check = api.video_check("client-1", impostor.json["id"].as_str().unwrap());
    let done2 = api.wait_check(
        impostor_check.json["id"].as_str().unwrap(),
        Duration::from_secs(120),
    );
    assert_eq!(done2["result"]["outcome"], "attention", "{done2}");
    assert_ne!(done2["result"]["breakdown"]["outcome"], "clear");

    // The webhook: first answered 500, retried, signed with the key's secret.
    let start = std::time::Instant::now();
    while hooks.lock().unwrap().len() < 3 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = hooks.lock().unwrap().clone();
    // The delivery refused with 500 (the first request) came again and was accepted.
    let refused = &got.first().expect("a webhook arrived").1;
    let attempts = got.iter().filter(|(_, b)| b == refused).count();
    assert!(attempts >= 2, "the refused webhook was retried: {got:?}");
    assert!(
        got.iter().any(|(_, b)| b.contains(&check_id)),
        "the first check was notified: {got:?}"
    );
    for (signature, body) in &got {
        assert!(liveness::server::verify_signature(&secret, signature, body));
        assert!(!liveness::server::verify_signature(
            "whsec_other",
            signature,
            body
        ));
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["type"], "check.complete");
        assert_eq!(payload["data"]["status"], "complete");
    }

    // Download gives the bytes back.
    let down = api.get(&format!("/v1/liveVideos/{id}/download"));
    assert_eq!(down.status, 200);
    assert_eq!(down.content_type, "video/mpeg");
    assert_eq!(down.bytes, std::fs::read(&clip).unwrap());

    // Redact: media gone, the transcript in the check gone, the record kept.
    let red = api.call("POST", &format!("/v1/liveVideos/{id}/redact"), None);
    assert_eq!(red.status, 200, "{:?}", red.json);
    assert_eq!(red.json["redacted"], true);
    assert!(red.json.get("downloadLink").is_none());
    let gone = api.get(&format!("/v1/liveVideos/{id}/download"));
    assert_eq!(
        (gone.status, gone.json["type"].as_str()),
        (410, Some("resource_redacted"))
    );
    let after = api.get(&format!("/v1/checks/{check_id}"));
    assert_eq!(
        after.json["result"]["breakdown"]["challenges"][0]["evidence"]["redacted"],
        true
    );
    assert!(!String::from_utf8_lossy(&after.bytes).contains(&transcript));
    assert!(
        after.json["result"]["breakdown"]["challenges"][0]["evidence"]
            .get("heardTokens")
            .is_none()
    );
    assert_eq!(after.json["result"]["outcome"], "clear");
    let no_more = api.video_check("client-1", &id);
    assert_eq!(no_more.status, 410);
    let stored: Vec<_> = walk(&dir.path().join("media"));
    assert_eq!(
        stored.len(),
        1,
        "only the impostor upload's media remains: {stored:?}"
    );

    // Delete.
    assert_eq!(
        api.call("DELETE", &format!("/v1/liveVideos/{id}"), None)
            .status,
        204
    );
    assert_eq!(api.get(&format!("/v1/liveVideos/{id}")).status, 404);
    assert_eq!(
        api.call("DELETE", &format!("/v1/liveVideos/{id}"), None)
            .status,
        404
    );
    let imp_id = impostor.json["id"].as_str().unwrap();
    assert_eq!(
        api.call("DELETE", &format!("/v1/liveVideos/{imp_id}"), None)
            .status,
        204
    );
    assert!(walk(&dir.path().join("media")).is_empty());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn accounts_are_isolated_and_bad_input_is_refused() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key1, printed1) = key_for(dir.path(), &[]);
    let (key2, _) = key_for(dir.path(), &[]);
    let account1 = printed1
        .lines()
        .find_map(|l| l.strip_prefix("account: "))
        .unwrap();
    let (key3, _) = key_for(dir.path(), &["--account", account1]);
    let mut server = serve(dir.path(), &["--workers", "0"]);
    let a = Api::new(&server.base, &key1);
    let b = Api::new(&server.base, &key2);
    let same_account = Api::new(&server.base, &key3);
    let clip = media.join("video/grid/bbaf2n.mpg");
    let digits = json!([{"type": "voice", "value": ["2"]}]);
    let v = a.upload_video(&clip, "c", "en", &digits);
    assert_eq!(v.status, 201);
    let id = v.json["id"].as_str().unwrap().to_string();
    let c = a.video_check("c", &id);
    let cid = c.json["id"].as_str().unwrap().to_string();

    // Another account: 404 everywhere, empty lists; the same account through another key sees it.
    for (method, path) in [
        ("GET", format!("/v1/liveVideos/{id}")),
        ("GET", format!("/v1/liveVideos/{id}/download")),
        ("POST", format!("/v1/liveVideos/{id}/redact")),
        ("DELETE", format!("/v1/liveVideos/{id}")),
        ("GET", format!("/v1/checks/{cid}")),
    ] {
        let r = b.call(method, &path, None);
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.json);
        assert_eq!(r.json["type"], "resource_not_found");
    }
    assert_eq!(b.video_check("c", &id).status, 404);
    assert_eq!(b.get("/v1/liveVideos").json["totalItems"], 0);
    assert_eq!(b.get("/v1/checks").json["totalItems"], 0);
    assert_eq!(
        same_account.get(&format!("/v1/liveVideos/{id}")).status,
        200
    );
    assert_eq!(a.get("/v1/checks?status=pending").json["totalItems"], 1);

    // Keys.
    for bad in ["", "live_0000", "Bearer nonsense"] {
        let r = Api::new(&server.base, bad).get("/v1/liveVideos");
        assert_eq!(
            (r.status, r.json["type"].as_str()),
            (401, Some("unauthorized"))
        );
    }
    let bearer = Api::new(&server.base, &format!("Bearer {key1}"));
    assert_eq!(bearer.get("/v1/liveVideos").status, 200);

    // Request ids: each answer carries one (16 hex digits, new each time), and the log line
    // of that request names it with its level, status and path; a client's own plain id is
    // kept, one that could forge log lines is replaced.
    let first = a.get("/v1/liveVideos");
    let second = a.get("/v1/nowhere");
    for r in [&first, &second] {
        assert_eq!(r.request_id.len(), 16, "{:?}", r.request_id);
        assert!(r.request_id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(first.request_id, second.request_id);
    assert!(server.wait_log(&second.request_id, Duration::from_secs(5)));
    let line = |id: &str| {
        server
            .log()
            .lines()
            .find(|l| l.contains(id) && l.contains("request answered"))
            .unwrap_or_default()
            .to_string()
    };
    let logged = line(&second.request_id);
    assert!(
        logged.contains("INFO") && logged.contains("status=404") && logged.contains("/v1/nowhere"),
        "{logged}"
    );
    let client = reqwest::blocking::Client::new();
    let echoed = |sent: &str| {
        client
            .get(format!("{}/v1/liveVideos", server.base))
            .header("Authorization", &a.key)
            .header("X-Request-Id", sent)
            .send()
            .unwrap()
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(echoed("order-7_retry.2"), "order-7_retry.2");
    let forged = echoed("x INFO request answered status=200");
    assert_eq!(forged.len(), 16, "{forged}");

    // Bad uploads.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is a text file with a video name\n".repeat(20)).unwrap();
    let r = a.upload_video(&text, "c", "en", &digits);
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (422, Some("invalid_media")),
        "{:?}",
        r.json
    );
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(a.upload_video(&empty, "c", "en", &digits).status, 422);
    let mut cut = std::fs::read(&clip).unwrap();
    cut.truncate(2048);
    let cut_path = dir.path().join("cut.mpg");
    std::fs::write(&cut_path, cut).unwrap();
    let r = a.upload_video(&cut_path, "c", "en", &digits);
    assert!(r.status == 422 || r.status == 201, "{:?}", r.json);
    // What the uploader is told names no file of the server's.
    let told = r.json["message"].as_str().unwrap_or("");
    assert!(!told.contains('/'), "{told}");
    for (challenges, language, param) in [
        (
            json!([{"type": "dance", "value": ["x"]}]),
            "en",
            "challenges",
        ),
        (
            json!([{"type": "actions", "value": ["juggle"]}]),
            "en",
            "challenges",
        ),
        (json!([]), "en", "challenges"),
        (digits.clone(), "tlh", "language"),
        // 450 digits once made whisper abort the whole service; now refused at the door.
        (
            json!([{"type": "voice", "value": vec!["7"; 450]}]),
            "en",
            "challenges",
        ),
    ] {
        let r = a.upload_video(&clip, "c", language, &challenges);
        assert_eq!(r.status, 400, "{challenges} {language}: {:?}", r.json);
        assert_eq!(r.json["param"], param, "{:?}", r.json);
        let limit = challenges.to_string().len() > 1000;
        let kind = if limit {
            "limit_exceeded"
        } else {
            "invalid_request"
        };
        assert_eq!(r.json["type"], kind, "{:?}", r.json);
    }
    let r = a.call(
        "POST",
        "/v1/checks",
        Some(&json!({"clientId": "c", "type": "kyc", "liveVideoId": id})),
    );
    assert_eq!((r.status, r.json["param"].as_str()), (400, Some("type")));
    let r = a.call(
        "POST",
        "/v1/checks",
        Some(&json!({"clientId": "other", "type": "liveness_video_check", "liveVideoId": id})),
    );
    assert_eq!(
        (r.status, r.json["param"].as_str()),
        (400, Some("clientId"))
    );
    let r = a.call("POST", "/v1/checks", Some(&json!("not an object")));
    assert_eq!(r.status, 400);
    assert_eq!(
        a.get("/v1/liveVideos?pageSize=5000").json["param"],
        "pageSize"
    );
    assert_eq!(a.get("/v1/nothing").json["type"], "route_not_found");
    // Ids are looked up, never joined into a path: traversal attempts find nothing.
    for probe in ["..%2F..%2Fliveness.db", "..%2Fmedia", "%2Fetc%2Fpasswd"] {
        let r = a.get(&format!("/v1/liveVideos/{probe}/download"));
        assert_eq!(r.status, 404, "{probe}: {:?}", r.json);
        assert_eq!(r.json["type"], "resource_not_found");
    }
    assert_eq!(a.call("PUT", "/v1/checks", None).status, 405);

    // Paging and filters.
    for _ in 0..3 {
        assert_eq!(a.upload_video(&clip, "paged", "en", &digits).status, 201);
    }
    let p1 = a.get("/v1/liveVideos?clientId=paged&pageSize=2");
    assert_eq!(
        (p1.json["totalItems"].as_i64(), p1.json["pages"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(p1.json["items"].as_array().unwrap().len(), 2);
    let p2 = a.get("/v1/liveVideos?clientId=paged&pageSize=2&page=2");
    assert_eq!(p2.json["items"].as_array().unwrap().len(), 1);
    let future = a.get("/v1/liveVideos?createdAfter=2100-01-01T00:00:00Z");
    assert_eq!(future.json["totalItems"], 0);
    drop(server);

    // Limits: size (413) and duration (422), on a server started with tight ones.
    let tight = serve(
        dir.path(),
        &[
            "--workers",
            "0",
            "--max-video-mb",
            "0.2",
            "--max-video-seconds",
            "60",
        ],
    );
    let t = Api::new(&tight.base, &key1);
    let r = t.upload_video(&clip, "c", "en", &digits);
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (413, Some("payload_too_large")),
        "{:?}",
        r.json
    );
    drop(tight);
    let short = serve(dir.path(), &["--workers", "0", "--max-video-seconds", "2"]);
    let s = Api::new(&short.base, &key1);
    let r = s.upload_video(&clip, "c", "en", &digits);
    assert_eq!(r.status, 422, "{:?}", r.json);
    assert_eq!(
        (r.json["type"].as_str(), r.json["param"].as_str()),
        (Some("limit_exceeded"), Some("video")),
        "{:?}",
        r.json
    );
    assert!(r.json["message"].as_str().unwrap().contains("limit"));
}

#[test]
fn live_photos_are_inspected_and_checked() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let still = dir.path().join("frontal.jpg");
    common::still(&media.join("video/faces/lp-d7.mp4"), "1", None, &still);
    let (key, _) = key_for(dir.path(), &[]);
    let server = serve(dir.path(), &[]);
    let api = Api::new(&server.base, &key);
    let up = api.upload_photo(&still, "person");
    assert_eq!(up.status, 201, "{:?}", up.json);
    assert_eq!(up.json["contentType"], "image/jpeg");
    assert_eq!(up.json["performLivenessCheck"], true);
    let inspections = &up.json["inspections"];
    assert_eq!(
        inspections["breakdown"]["faceAnalysis"]["outcome"], "clear",
        "{inspections}"
    );
    assert_eq!(inspections["breakdown"]["liveness"]["outcome"], "attention");
    let id = up.json["id"].as_str().unwrap();
    let check = api.call(
        "POST",
        "/v1/checks",
        Some(&json!({"clientId": "person", "type": "liveness_photo_check", "livePhotoId": id})),
    );
    assert_eq!(check.status, 201, "{:?}", check.json);
    let done = api.wait_check(check.json["id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(done["status"], "complete", "{done}");
    // No passive liveness model: never clear.
    assert_eq!(done["result"]["outcome"], "attention");
    assert_eq!(
        done["result"]["breakdown"]["breakdown"]["facialOrientation"]["outcome"],
        "clear"
    );
    let text = dir.path().join("photo.jpg");
    std::fs::write(&text, "not a picture").unwrap();
    assert_eq!(api.upload_photo(&text, "person").status, 422);
    // A JPEG cut after its first bytes gets past the sniffing and fails to decode: a 422
    // whose message names no file of the server's.
    let head = dir.path().join("head.jpg");
    std::fs::write(&head, &std::fs::read(&still).unwrap()[..64]).unwrap();
    let r = api.upload_photo(&head, "person");
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (422, Some("invalid_media")),
        "{:?}",
        r.json
    );
    let told = r.json["message"].as_str().unwrap();
    assert!(
        told.starts_with("image does not decode") && !told.contains('/'),
        "{told}"
    );
    assert_eq!(
        api.get(&format!("/v1/livePhotos/{id}/download")).bytes,
        std::fs::read(&still).unwrap()
    );
    assert_eq!(
        api.get("/v1/livePhotos?clientId=person").json["totalItems"],
        1
    );
    let red = api.call("POST", &format!("/v1/livePhotos/{id}/redact"), None);
    assert_eq!(red.json["redacted"], true);
    assert_eq!(
        api.get(&format!("/v1/livePhotos/{id}/download")).status,
        410
    );
    assert_eq!(
        api.call("DELETE", &format!("/v1/livePhotos/{id}"), None)
            .status,
        204
    );
    assert_eq!(api.get(&format!("/v1/livePhotos/{id}")).status, 404);
}

#[test]
fn openapi_document_matches_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_for(dir.path(), &[]);
    let server = serve(dir.path(), &["--workers", "0"]);
    let api = Api::new(&server.base, &key);
    let doc = api.get("/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let error_schema = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_schema["required"], json!(["type", "message"]));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 11, "{}", paths.len());
    let mut calls = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let concrete = path.replace("{id}", &"0".repeat(32));
            // Bodies that are wrong on purpose: every route must answer with one of its
            // documented statuses and, for errors, the documented error shape.
            let body = (method == "post" && path == "/v1/checks").then(|| json!({}));
            let r = api.call(&method.to_uppercase(), &concrete, body.as_ref());
            calls += 1;
            assert!(
                documented.contains(&r.status),
                "{method} {path}: {} not among {documented:?}: {:?}",
                r.status,
                r.json
            );
            if r.status >= 400 {
                assert!(
                    r.json["type"].is_string() && r.json["message"].is_string(),
                    "{:?}",
                    r.json
                );
                assert_ne!(r.json["type"], "route_not_found", "{method} {path}");
                assert_ne!(r.json["type"], "method_not_allowed", "{method} {path}");
                let schema = &op["responses"][r.status.to_string()]["content"]["application/json"]
                    ["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path}");
            }
            if path.starts_with("/v1/") && path != "/v1/openapi.json" {
                let anonymous =
                    Api::new(&server.base, "").call(&method.to_uppercase(), &concrete, None);
                assert_eq!(anonymous.status, 401, "{method} {path}");
                assert!(documented.contains(&401), "{method} {path} documents 401");
            }
        }
    }
    assert!(calls >= 17, "{calls}");
}
