//! Slow and idle clients against a real `liveness serve` with tight limits
//! (`--header-timeout-seconds 1 --body-idle-seconds 1 --body-min-rate 2000`): connections that
//! dribble their headers, say nothing, stall their body or send it far too slowly are all
//! closed by the server within a few seconds, while a normal client is answered throughout.

mod common;
#[path = "common/service.rs"]
mod service;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use service::{create_key, Api, Proc};

/// Waits until the server closes `stream` (a read returns 0 or fails); how long it took,
/// or None if it was still open after `limit`. Bytes the server sends (an error answer) are
/// read and ignored.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn slow_and_idle_connections_are_closed_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let (key, _) = create_key(&["--data", &data]);
    let server = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--workers",
        "0",
        "--header-timeout-seconds",
        "1",
        "--body-idle-seconds",
        "1",
        "--body-min-rate",
        "2000",
    ]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let api = Api::new(&server.base, &key);
    let connect = || TcpStream::connect(&addr).unwrap();
    let limit = Duration::from_secs(6);

    // 40 connections that dribble their headers, one byte every 200 ms.
    let mut dribblers: Vec<TcpStream> = (0..40).map(|_| connect()).collect();
    let header = format!("GET /v1/liveVideos HTTP/1.1\r\nHost: x\r\nAuthorization: {key}\r\n");
    let dribble_until = Instant::now() + Duration::from_secs(3);
    let mut sent = 0;
    while Instant::now() < dribble_until && sent < header.len() {
        for s in &mut dribblers {
            let _ = s.write_all(&header.as_bytes()[sent..sent + 1]);
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    // The service answers a normal client meanwhile.
    assert_eq!(api.get("/v1/liveVideos").status, 200);
    for (k, s) in dribblers.iter_mut().enumerate() {
        assert!(
            closed_within(s, limit).is_some(),
            "dribbling connection {k} still open"
        );
    }

    // A connection that says nothing.
    let mut idle = connect();
    let took = closed_within(&mut idle, limit).expect("an idle connection stays open");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A body that stalls after 10 of its 1000 bytes.
    let mut stalled = connect();
    write!(
        stalled,
        "POST /v1/checks HTTP/1.1\r\nHost: x\r\nAuthorization: {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"clientId"
    )
    .unwrap();
    assert!(
        closed_within(&mut stalled, limit).is_some(),
        "a stalled body keeps its connection"
    );

    // A video upload sent at 500 bytes a second (the limit is 2000).
    let mut slow = connect();
    let boundary = "xYzBoundary";
    write!(
        slow,
        "POST /v1/liveVideos HTTP/1.1\r\nHost: x\r\nAuthorization: {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\nc1\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"v.mp4\"\r\n\r\n"
    )
    .unwrap();
    let started = Instant::now();
    let mut closed = false;
    slow.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    while started.elapsed() < limit {
        if slow.write_all(&[0u8; 50]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        closed,
        "a body sent at 500 B/s was still being read after {limit:?}"
    );

    // And the service still answers.
    assert_eq!(api.get("/v1/liveVideos").status, 200);
}
