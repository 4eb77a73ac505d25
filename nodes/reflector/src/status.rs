//! The JSON status endpoint (a minimal HTTP/1.1 responder: GET only, one request per
//! connection) and the process's log output.

use std::fmt::Write as _;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::conn::{SharedHub, TICK, lock};
use crate::reflector::ReflectorCore;

/// Request bytes read before giving up on a status request (a request line and a few headers).
const REQUEST_BYTES_MAX: usize = 8 * 1024;
/// Ticks a status client may take to send its request (50 × 100 ms = 5 s).
const REQUEST_TICKS_MAX: u32 = 50;

/// Sends `tracing` output to standard error at `level` and above (`RUST_LOG`-style names:
/// error, warn, info, debug, trace). Calling it twice is harmless.
pub fn init_logging(level: &str) {
    let level = level.parse().unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves `/` and `/status.json` (peers, subscriptions, route counts) and `/routes.json`.
pub(crate) async fn serve_status(listener: TcpListener, hub: SharedHub<ReflectorCore>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            ferrocore_runtime::sleep(TICK).await;
            continue;
        };
        let hub = hub.clone();
        ferrocore_runtime::spawn(async move {
            let _ = answer(stream, &hub).await;
        });
    }
}

async fn answer(mut stream: TcpStream, hub: &SharedHub<ReflectorCore>) -> std::io::Result<()> {
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let mut ticks = 0;
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        if req.len() > REQUEST_BYTES_MAX || ticks > REQUEST_TICKS_MAX {
            return Ok(());
        }
        tokio::select! {
            biased;
            n = stream.read(&mut buf) => match n? {
                0 => return Ok(()),
                n => req.extend_from_slice(&buf[..n]),
            },
            () = ferrocore_runtime::sleep(TICK) => ticks += 1,
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (code, body) = match path {
        "/" | "/status.json" => ("200 OK", json(&lock(hub).core.status())),
        "/routes.json" => ("200 OK", json(&routes_json(hub))),
        _ => ("404 Not Found", "{\"error\":\"not found\"}".to_owned()),
    };
    let mut head = String::new();
    let _ = write!(
        head,
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[derive(Serialize)]
struct RouteJson {
    route: String,
    announcers: usize,
}

fn routes_json(hub: &SharedHub<ReflectorCore>) -> Vec<RouteJson> {
    let routes = lock(hub).core.routes();
    routes
        .into_iter()
        .map(|(r, n)| RouteJson {
            route: r.to_string(),
            announcers: n,
        })
        .collect()
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
