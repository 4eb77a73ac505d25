//! The reflector and client library over real TCP on loopback (IPv4 and IPv6): HA
//! convergence, losing a reflector, losing a client, hostile peers, the status endpoint.
//!
//! The full-size scenario (100,000 routes, 50 subscribers) is `ferrocore bench reflector`;
//! here the same scenario runs with `REFLECTOR_TEST_ROUTES` routes (default 10,000) so it stays
//! a few seconds in a debug build on 2 shared cores.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_node_reflector::{
    Action, Client, ClientConfig, FrameDecoder, KeepaliveInterval, Message, Route, ServeOptions,
    ServerHandle, Vni, frame_bytes, serve,
};
use ferrocore_runtime::{Clock, SeededRng, SystemClock, build_runtime, sleep};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 50;
const VNIS: u32 = 4;

fn routes_total() -> usize {
    std::env::var("REFLECTOR_TEST_ROUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

async fn reflector(listen: &str) -> ServerHandle {
    let opts = ServeOptions {
        listen: vec![listen.parse().unwrap()],
        status: Some("127.0.0.1:0".parse().unwrap()),
        keepalive: KeepaliveInterval(1),
        send_pause: Duration::ZERO,
    };
    serve(&opts, Arc::new(SystemClock::new())).await.unwrap()
}

fn client(addrs: Vec<SocketAddr>, seed: u64) -> Client {
    let mut cfg = ClientConfig::new(addrs);
    cfg.keepalive = KeepaliveInterval(1);
    cfg.retry_min = Duration::from_millis(100);
    cfg.retry_max = Duration::from_millis(300);
    Client::start(
        cfg,
        Arc::new(SystemClock::new()),
        Box::new(SeededRng::new(seed)),
    )
}

/// Polls `f` every 20 ms until it holds or `limit` passes; returns the time it took.
async fn wait_until(limit: Duration, f: impl Fn() -> bool) -> Option<Duration> {
    let clock = SystemClock::new();
    let start = clock.now();
    loop {
        if f() {
            return Some(clock.now() - start);
        }
        if clock.now() - start > limit {
            return None;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

fn route(vni: u32, client: usize, i: usize) -> Route {
    format!(
        "{vni}#10.{}.{}.{}/32#2001:db8::{client:x}",
        client,
        i / 256,
        i % 256
    )
    .parse()
    .unwrap()
}

fn set(v: Vec<Route>) -> BTreeSet<Route> {
    v.into_iter().collect()
}

/// 50 clients on both reflectors, each subscribed to every VNI and announcing its share.
fn fleet(addrs: &[SocketAddr], per_client: usize) -> (Vec<Client>, Vec<Vec<Route>>) {
    let mut clients = Vec::new();
    let mut mine = Vec::new();
    for c in 0..CLIENTS {
        let cl = client(addrs.to_vec(), c as u64);
        for v in 0..VNIS {
            cl.subscribe(Vni(v));
        }
        let vni = u32::try_from(c).unwrap() % VNIS;
        let routes: Vec<Route> = (0..per_client).map(|i| route(vni, c, i)).collect();
        cl.announce_all(routes.iter().copied());
        clients.push(cl);
        mine.push(routes);
    }
    (clients, mine)
}

/// What client `c` must hold: every route of the `alive` clients but its own.
fn expected(mine: &[Vec<Route>], c: usize, alive: &[usize]) -> BTreeSet<Route> {
    let others = alive.iter().filter(|o| **o != c);
    others.flat_map(|o| mine[*o].iter().copied()).collect()
}

#[test]
fn two_reflectors_fifty_clients_converge_and_survive_losses() {
    ferrocore_node_reflector::init_logging("warn");
    build_runtime().unwrap().block_on(async {
        let a = reflector("127.0.0.1:0").await;
        let b = reflector("[::1]:0").await;
        let per_client = routes_total() / CLIENTS;
        let (clients, mine) = fleet(&[a.listen_addrs()[0], b.listen_addrs()[0]], per_client);
        let total = per_client * CLIENTS;
        let want = total - per_client;
        let took = wait_until(Duration::from_secs(120), || {
            clients.iter().all(|c| c.table_len() == want)
        })
        .await;
        let took = took.expect("clients did not converge");
        eprintln!("{total} routes, {CLIENTS} clients, 2 reflectors: converged in {took:?}");
        let all: Vec<usize> = (0..CLIENTS).collect();
        for (c, cl) in clients.iter().enumerate() {
            assert_eq!(set(cl.table()), expected(&mine, c, &all), "client {c}");
            while !cl.try_changes(usize::MAX).is_empty() {}
        }
        assert_eq!((a.status().routes, b.status().routes), (total, total));

        // Kill reflector A: nothing is withdrawn, because B still provides everything.
        a.shutdown();
        let one_left = wait_until(Duration::from_secs(10), || {
            clients.iter().all(|c| c.established() == 1)
        })
        .await;
        assert!(
            one_left.is_some(),
            "clients did not notice the dead reflector"
        );
        for (c, cl) in clients.iter().enumerate() {
            let changes = cl.try_changes(usize::MAX);
            let removed = changes
                .iter()
                .filter(|ch| ch.action == Action::Remove)
                .count();
            assert_eq!(removed, 0, "client {c} removed routes B still provides");
            assert_eq!(set(cl.table()), expected(&mine, c, &all));
        }

        // A client disconnects: its routes are gone everywhere within two keepalive timeouts.
        clients[7].shutdown();
        let alive: Vec<usize> = (0..CLIENTS).filter(|c| *c != 7).collect();
        let want = total - 2 * per_client;
        let gone = wait_until(Duration::from_secs(5), || {
            alive.iter().all(|c| clients[*c].table_len() == want)
        })
        .await;
        assert!(
            gone.is_some(),
            "client 7's routes were not withdrawn within 2 x 2.5 s"
        );
        for c in &alive {
            assert_eq!(set(clients[*c].table()), expected(&mine, *c, &alive));
        }
        b.shutdown();
    });
}

async fn read_until(s: &mut TcpStream, d: &mut FrameDecoder, want: &Message) {
    let mut buf = [0u8; 4096];
    loop {
        while let Some(m) = d.next_message().unwrap() {
            if &m == want || matches!((&m, want), (Message::Hello { .. }, Message::Hello { .. })) {
                return;
            }
        }
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during handshake");
        d.push(&buf[..n]);
    }
}

/// A raw peer that completes the handshake by hand.
async fn raw_peer(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut d = FrameDecoder::new();
    s.write_all(&frame_bytes(&Message::Hello {
        keepalive: KeepaliveInterval(1),
        is_server: false,
    }))
    .await
    .unwrap();
    read_until(
        &mut s,
        &mut d,
        &Message::Hello {
            keepalive: KeepaliveInterval(1),
            is_server: true,
        },
    )
    .await;
    s.write_all(&frame_bytes(&Message::Keepalive))
        .await
        .unwrap();
    read_until(&mut s, &mut d, &Message::Keepalive).await;
    s
}

/// Whether the server closes `s` within `limit` (reads and discards whatever arrives).
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let clock = SystemClock::new();
    let start = clock.now();
    while clock.now() - start < limit {
        tokio::select! {
            biased;
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            () = sleep(Duration::from_millis(50)) => {}
        }
    }
    false
}

#[test]
fn hostile_peers_lose_only_their_own_connection() {
    build_runtime().unwrap().block_on(async {
        let r = reflector("[::1]:0").await;
        let addr = r.listen_addrs()[0];
        let announcer = client(vec![addr], 1);
        let subscriber = client(vec![addr], 2);
        subscriber.subscribe(Vni(5));
        let routes: Vec<Route> = (0..500).map(|i| route(5, 1, i)).collect();
        announcer.announce_all(routes.iter().copied());
        assert!(
            wait_until(Duration::from_secs(10), || subscriber.table_len() == 500)
                .await
                .is_some()
        );

        let mut oversized = vec![1, 0xff, 0xff, 5];
        oversized.extend(std::iter::repeat_n(0u8, 2_000));
        let mut flood = Vec::new();
        for v in 0..50_000u32 {
            flood.extend(frame_bytes(&Message::Subscribe(Vni(v))));
        }
        let cases: Vec<(&str, bool, Vec<u8>)> = vec![
            ("wrong version", false, vec![2, 0, 0, 2]),
            ("oversized length", false, oversized),
            ("unknown type", true, vec![1, 0, 0, 9]),
            ("garbage payload", true, vec![1, 0, 3, 5, 0xff, 0xff, 0xff]),
            (
                "keepalive 0",
                false,
                frame_bytes(&Message::Hello {
                    keepalive: KeepaliveInterval(0),
                    is_server: false,
                }),
            ),
            ("SUBSCRIBE flood", true, flood),
        ];
        for (name, handshake, bytes) in cases {
            let mut s = if handshake {
                raw_peer(addr).await
            } else {
                TcpStream::connect(addr).await.unwrap()
            };
            let _ = s.write_all(&bytes).await;
            assert!(
                closed_within(&mut s, Duration::from_secs(3)).await,
                "{name}: still connected"
            );
            assert_eq!(subscriber.established(), 1, "{name} hurt the subscriber");
            assert_eq!(announcer.established(), 1, "{name} hurt the announcer");
        }
        assert_eq!(set(subscriber.table()), set(routes.clone()));
        assert!(
            wait_until(Duration::from_secs(3), || r.status().peers.len() == 2)
                .await
                .is_some()
        );
        assert!(
            subscriber
                .try_changes(usize::MAX)
                .iter()
                .all(|c| c.action == Action::Add)
        );
        r.shutdown();
    });
}

#[test]
fn a_hung_peer_is_withdrawn_within_two_keepalive_timeouts() {
    build_runtime().unwrap().block_on(async {
        let r = reflector("127.0.0.1:0").await;
        let addr = r.listen_addrs()[0];
        let subscriber = client(vec![addr], 3);
        subscriber.subscribe(Vni(1));
        let mut hung = raw_peer(addr).await;
        for i in 0..100 {
            hung.write_all(&frame_bytes(&Message::Update(Action::Add, route(1, 9, i))))
                .await
                .unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(5), || subscriber.table_len() == 100)
                .await
                .is_some()
        );
        // The hung peer keeps its socket open and says nothing more.
        let took = wait_until(Duration::from_secs(5), || subscriber.table_len() == 0).await;
        let took = took.expect("not withdrawn within 2 x 2.5 s");
        assert!(
            took >= Duration::from_millis(2_000),
            "withdrawn before the timeout: {took:?}"
        );
        assert_eq!(subscriber.established(), 1);
        r.shutdown();
    });
}

#[test]
fn status_endpoint_serves_json() {
    build_runtime().unwrap().block_on(async {
        let r = reflector("127.0.0.1:0").await;
        let c = client(r.listen_addrs().to_vec(), 4);
        c.subscribe(Vni(3));
        c.announce(route(3, 4, 1));
        assert!(
            wait_until(Duration::from_secs(5), || r.status().routes == 1)
                .await
                .is_some()
        );
        let mut s = TcpStream::connect(r.status_addr().unwrap()).await.unwrap();
        s.write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["routes"], 1);
        assert_eq!(v["peers"][0]["state"], "ESTABLISHED");
        assert_eq!(v["peers"][0]["subscriptions"][0], 3);
        r.shutdown();
    });
}
