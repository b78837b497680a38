//! The HTTP listener: hyper's HTTP/1 connections around the router, with the time limits
//! that close slow and idle clients (a client that sends its headers a byte at a time, or
//! holds a connection open saying nothing, or dribbles a body, would otherwise hold a
//! connection and its buffers for as long as it likes).

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Time limits on clients.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    /// Longest a client may take to send a request's headers, and longest a connection may
    /// stay open between requests.
    pub headers: Duration,
    /// Longest a request body may go without a byte arriving.
    pub body_idle: Duration,
    /// Slowest average rate, bytes a second, at which a request body may arrive, judged
    /// once it has been arriving for `body_idle`.
    pub body_min_rate: u64,
}

impl Default for ClientTimeouts {
    /// 10 s for headers and between requests; 30 s without a body byte; at least 4 KiB/s
    /// (32 kbit/s, under a 2G uplink) on average.
    fn default() -> Self {
        Self {
            headers: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
            body_min_rate: 4096,
        }
    }
}

/// A request body that fails (so the handler answers and the connection closes) when no
/// byte comes for `body_idle`, or when, after `body_idle`, it has arrived at less than
/// `body_min_rate` on average.
fn guarded_body(body: Incoming, t: ClientTimeouts) -> Body {
    let started = Instant::now();
    let stream = Body::new(body).into_data_stream();
    let guarded = futures_util::stream::unfold(
        (stream.boxed(), 0u64, false),
        move |(mut stream, mut received, failed)| async move {
            if failed {
                return None;
            }
            let error = |message: String, received: u64| {
                Some((
                    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message)),
                    (futures_util::stream::empty().boxed(), received, true),
                ))
            };
            match tokio::time::timeout(t.body_idle, stream.next()).await {
                Err(_) => error(
                    format!(
                        "the request body stalled: no byte for {} s",
                        t.body_idle.as_secs()
                    ),
                    received,
                ),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((
                    Err(std::io::Error::other(e)),
                    (futures_util::stream::empty().boxed(), received, true),
                )),
                Ok(Some(Ok(chunk))) => {
                    received += chunk.len() as u64;
                    let elapsed = started.elapsed();
                    if elapsed > t.body_idle
                        && (received as f64) < t.body_min_rate as f64 * elapsed.as_secs_f64()
                    {
                        return error(
                            format!(
                                "the request body arrives too slowly: {received} bytes in {:.0} s, at least {} a second",
                                elapsed.as_secs_f64(),
                                t.body_min_rate
                            ),
                            received,
                        );
                    }
                    Some((Ok(chunk), (stream, received, false)))
                }
            }
        },
    );
    Body::from_stream(guarded)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (for up to 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: ClientTimeouts,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            hyper::service::Service::call(&app, req.map(|b| guarded_body(b, timeouts)))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.headers)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or timed out: nothing to do.
            let _ = watched.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after 30 s were dropped");
    }
}
