//! Issued challenges through `liveness serve` as a real process: drawn by the service, bound
//! to one upload (the check verifies them), used once (also when 20 uploads race for one, on
//! the embedded store and on PostgreSQL), expiring, invisible to another account, refused
//! for another client, and the `--require-issued-challenges` policy.

mod common;
#[path = "common/service.rs"]
mod service;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use service::{create_key, Api, Postgres, Proc};

fn serve(args: &[&str]) -> Proc {
    let models = service::models();
    let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--models"];
    all.push(models.to_str().unwrap());
    all.extend(args);
    Proc::start(&all)
}

fn issue(api: &Api, body: Value) -> Value {
    let a = api.call("POST", "/v1/challenges", Some(&body));
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json
}

/// Twenty uploads of one recording with one challenge at once: exactly one is stored.
fn race(api: &Api, clip: &Path, client: &str) -> (usize, usize) {
    let c = issue(api, json!({"clientId": client, "language": "en-GB"}));
    let id = c["id"].as_str().unwrap().to_string();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    api.upload_video_fields(clip, &[("clientId", client), ("challengeId", &id)])
                        .status
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won = statuses.iter().filter(|s| **s == 201).count();
    let used = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(won + used, 20, "{statuses:?}");
    let after = api.get(&format!("/v1/challenges/{id}"));
    assert!(after.json["usedAt"].is_string(), "{:?}", after.json);
    (won, used)
}

#[test]
fn issued_challenges_bind_one_upload_and_expire() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (key, _) = create_key(&["--data", data]);
    let (other_key, _) = create_key(&["--data", data]);
    let server = serve(&["--data", data]);
    let api = Api::new(&server.base, &key);
    let clip = media.join("video/grid/sbwe5n.mpg");

    // Drawn by the service: four digits and two actions by default, expiring in 300 s.
    let c = issue(&api, json!({"clientId": "client-1", "language": "en-GB"}));
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["clientId"], "client-1");
    assert_eq!(c["challenges"][0]["type"], "voice");
    assert_eq!(c["challenges"][0]["value"].as_array().unwrap().len(), 4);
    assert_eq!(c["challenges"][1]["type"], "actions");
    assert_eq!(c["challenges"][1]["value"].as_array().unwrap().len(), 2);
    let created = chrono::DateTime::parse_from_rfc3339(c["createdAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(c["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 300);
    assert_eq!(api.get(&format!("/v1/challenges/{id}")).json, c);
    let voice_only = issue(
        &api,
        json!({"clientId": "client-1", "language": "fr", "voice": {"digits": 6}}),
    );
    assert_eq!(voice_only["challenges"].as_array().unwrap().len(), 1);
    assert_eq!(
        voice_only["challenges"][0]["value"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    for (body, param) in [
        (json!({"clientId": "c", "language": "xx"}), "language"),
        (
            json!({"clientId": "c", "language": "en", "voice": {"digits": 2}}),
            "voice",
        ),
        (
            json!({"clientId": "c", "language": "en", "actions": {"count": 9}}),
            "actions",
        ),
        (json!({"clientId": "", "language": "en"}), "clientId"),
        (
            json!({"clientId": "c", "language": "en", "voice": {"digits": 0}}),
            "voice",
        ),
        (
            json!({"clientId": "c", "language": "en", "voice": {"digits": 4.5}}),
            "voice",
        ),
    ] {
        let a = api.call("POST", "/v1/challenges", Some(&body));
        assert_eq!(
            (a.status, a.json["param"].as_str()),
            (400, Some(param)),
            "{body}"
        );
    }

    // No key, no challenges.
    let anonymous = Api::new(&server.base, "");
    let body = json!({"clientId": "client-1", "language": "en-GB"});
    assert_eq!(
        anonymous.call("POST", "/v1/challenges", Some(&body)).status,
        401
    );
    assert_eq!(anonymous.get(&format!("/v1/challenges/{id}")).status, 401);

    // Another account sees nothing and cannot use it; another client cannot either.
    let other = Api::new(&server.base, &other_key);
    assert_eq!(other.get(&format!("/v1/challenges/{id}")).status, 404);
    let fields = [("clientId", "client-1"), ("challengeId", id.as_str())];
    assert_eq!(other.upload_video_fields(&clip, &fields).status, 404);
    let a = api.upload_video_fields(&clip, &[("clientId", "client-2"), ("challengeId", &id)]);
    assert_eq!(
        (a.status, a.json["param"].as_str()),
        (400, Some("clientId")),
        "{:?}",
        a.json
    );
    let a = api.upload_video_fields(
        &clip,
        &[
            ("clientId", "client-1"),
            ("challengeId", &id),
            ("challenges", "[]"),
        ],
    );
    assert_eq!(
        (a.status, a.json["param"].as_str()),
        (400, Some("challenges"))
    );

    // Bound to the upload: the Live Video holds the issued challenges and names them.
    let up = api.upload_video_fields(&clip, &fields);
    assert_eq!(up.status, 201, "{:?}", up.json);
    assert_eq!(up.json["challengeId"], id.as_str());
    assert_eq!(up.json["challenges"], c["challenges"]);
    assert_eq!(up.json["language"], "en-GB");
    let video_id = up.json["id"].as_str().unwrap().to_string();
    assert_eq!(api.get(&format!("/v1/liveVideos/{video_id}")).json, up.json);
    let used = api.get(&format!("/v1/challenges/{id}")).json;
    assert_eq!(used["liveVideoId"], video_id.as_str());
    assert!(used["usedAt"].is_string());
    // Used once: the same challenge again is 409 and stores nothing.
    let again = api.upload_video_fields(&clip, &fields);
    assert_eq!(
        (again.status, again.json["type"].as_str()),
        (409, Some("challenge_used"))
    );
    assert_eq!(api.get("/v1/liveVideos").json["totalItems"], 1);

    // The check verifies the issued challenges (the GRID speaker says none of these digits
    // and does none of the actions: never clear).
    let check = api.video_check("client-1", &video_id);
    assert_eq!(check.status, 201, "{:?}", check.json);
    let done = api.wait_check(check.json["id"].as_str().unwrap(), Duration::from_secs(120));
    assert_eq!(done["status"], "complete", "{done}");
    let breakdown = &done["result"]["breakdown"]["challenges"];
    assert_eq!(breakdown[0]["value"], c["challenges"][0]["value"], "{done}");
    assert_eq!(breakdown[1]["value"], c["challenges"][1]["value"], "{done}");
    assert_ne!(done["result"]["outcome"], "clear", "{done}");

    // Freshness: a recording whose container says it was made an hour before the challenge
    // was issued carries `recorded_before_challenge` on every challenge; the same recording
    // without that metadata does not.
    for (hours_before, expect) in [(Some(1), true), (None, false)] {
        let c = issue(&api, json!({"clientId": "client-f", "language": "en-GB"}));
        let issued = chrono::DateTime::parse_from_rfc3339(c["createdAt"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let file = dir.path().join(format!("fresh-{expect}.mp4"));
        let at = hours_before.map(|h| (issued - chrono::Duration::hours(h)).to_rfc3339());
        common::remux(&clip, &file, at.as_deref());
        let cid = c["id"].as_str().unwrap();
        let up = api.upload_video_fields(&file, &[("clientId", "client-f"), ("challengeId", cid)]);
        assert_eq!(up.status, 201, "{:?}", up.json);
        let check = api.video_check("client-f", up.json["id"].as_str().unwrap());
        let done = api.wait_check(check.json["id"].as_str().unwrap(), Duration::from_secs(120));
        assert_eq!(done["status"], "complete", "{done}");
        let breakdown = &done["result"]["breakdown"];
        for challenge in breakdown["challenges"].as_array().unwrap() {
            let stale = challenge["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["code"] == "recorded_before_challenge");
            assert_eq!(stale, expect, "{challenge}");
            assert_ne!(challenge["outcome"], "clear", "{challenge}");
        }
        assert_eq!(
            breakdown["media"]["recordedAt"].is_string(),
            expect,
            "{breakdown}"
        );
    }

    // Twenty uploads racing for one challenge: one wins.
    let (won, _) = race(&api, &clip, "client-race");
    assert_eq!(won, 1);
    drop(server);

    // A one-second lifetime, then a wait: expired.
    let server = serve(&["--data", data, "--challenge-ttl", "1"]);
    let api = Api::new(&server.base, &key);
    let short = issue(&api, json!({"clientId": "client-1", "language": "de"}));
    std::thread::sleep(Duration::from_millis(1500));
    let sid = short["id"].as_str().unwrap();
    let a = api.upload_video_fields(&clip, &[("clientId", "client-1"), ("challengeId", sid)]);
    assert_eq!(
        (a.status, a.json["type"].as_str()),
        (422, Some("challenge_expired"))
    );
    drop(server);

    // Issued challenges only: an upload bringing its own is refused, an issued one works.
    let server = serve(&["--data", data, "--require-issued-challenges"]);
    let api = Api::new(&server.base, &key);
    let own = json!([{"type": "voice", "value": ["set", "blue"]}]);
    let a = api.upload_video(&clip, "client-1", "en-GB", &own);
    assert_eq!(
        (a.status, a.json["param"].as_str()),
        (400, Some("challenges")),
        "{:?}",
        a.json
    );
    let c = issue(&api, json!({"clientId": "client-1", "language": "en-GB"}));
    let cid = c["id"].as_str().unwrap();
    let a = api.upload_video_fields(&clip, &[("clientId", "client-1"), ("challengeId", cid)]);
    assert_eq!(a.status, 201, "{:?}", a.json);
}

#[test]
fn one_upload_wins_a_race_on_postgres() {
    let Some(media) = common::media() else { return };
    let Some(pg) = Postgres::start() else { return };
    let shared = tempfile::tempdir().unwrap();
    let media_url = service::media_url(shared.path());
    let (key, _) = create_key(&["--database", &pg.url]);
    let server = serve(&[
        "--database",
        &pg.url,
        "--media",
        &media_url,
        "--workers",
        "0",
    ]);
    let api = Api::new(&server.base, &key);
    let clip = media.join("video/grid/sbwe5n.mpg");
    for round in 0..3 {
        let (won, used) = race(&api, &clip, &format!("pg-client-{round}"));
        assert_eq!((won, used), (1, 19));
    }
    assert_eq!(api.get("/v1/liveVideos").json["totalItems"], 3);
}
