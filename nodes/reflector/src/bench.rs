//! `ferrocore bench reflector`: announce N routes through R reflectors to S subscribers over
//! loopback TCP and time until every subscriber holds all of them; then time a floor in the
//! same run: the same frames pushed over the same number of raw TCP connections and decoded,
//! with no protocol, table or reflection (there is no Go metalbond here to compare with).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrocore_runtime::{Clock, SeededRng, SystemClock, build_runtime, sleep, spawn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::client::{Client, ClientConfig};
use crate::frame::{FrameDecoder, encode_frame};
use crate::message::{Action, KeepaliveInterval, Message};
use crate::route::{Route, Vni};
use crate::server::{ServeOptions, ServerHandle, serve};

/// How often the bench looks at the subscribers' tables.
const POLL: Duration = Duration::from_millis(5);
/// Give up on a phase after this long.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Routes announced.
    pub routes: usize,
    /// Subscribing clients.
    pub subscribers: usize,
    /// Reflectors (each client connects to all).
    pub reflectors: usize,
}

/// What was measured.
#[derive(Clone, Copy, Debug)]
pub struct BenchReport {
    /// The options.
    pub options: BenchOptions,
    /// From the announcement to the last subscriber holding every route.
    pub converge: Duration,
    /// The floor: the same frames over raw TCP, decoded only.
    pub floor: Duration,
    /// CPU time this process used during the reflected phase (user + system), which unlike
    /// wall time does not depend on what else the machine runs.
    pub converge_cpu: Duration,
    /// CPU time used during the floor.
    pub floor_cpu: Duration,
}

impl BenchReport {
    /// Routes per second reaching every subscriber.
    pub fn routes_per_s(&self) -> f64 {
        per_s(self.options.routes, self.converge)
    }

    /// Routes per second in the floor.
    pub fn floor_routes_per_s(&self) -> f64 {
        per_s(self.options.routes, self.floor)
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn bench_route(i: usize) -> Route {
    let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    let text = format!("23#10.{a}.{b}.{c}/32#2001:db8::1");
    // The text is built from in-range octets, so it always parses.
    text.parse()
        .unwrap_or_else(|_| unreachable!("bench route {text}"))
}

/// Runs both phases on a fresh runtime.
///
/// # Errors
/// If sockets cannot be bound or a phase does not finish within ten minutes.
pub fn run_bench(options: BenchOptions) -> io::Result<BenchReport> {
    let rt = build_runtime()?;
    let cpu0 = cpu_used();
    let converge = rt.block_on(reflected(options))?;
    let cpu1 = cpu_used();
    let floor = rt.block_on(floor(options))?;
    let cpu2 = cpu_used();
    Ok(BenchReport {
        options,
        converge,
        floor,
        converge_cpu: cpu1.saturating_sub(cpu0),
        floor_cpu: cpu2.saturating_sub(cpu1),
    })
}

/// User plus system CPU time of this process so far (zero if the kernel will not say).
fn cpu_used() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given and touches nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &raw mut u) != 0 {
            return Duration::ZERO;
        }
        u
    };
    let tv = |t: libc::timeval| {
        let secs = u64::try_from(t.tv_sec).unwrap_or(0);
        let micros = u64::try_from(t.tv_usec).unwrap_or(0);
        Duration::from_secs(secs) + Duration::from_micros(micros)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn wait_for(clock: &SystemClock, what: &str, f: impl Fn() -> bool) -> io::Result<Duration> {
    let start = clock.now();
    while !f() {
        if clock.now() - start > PHASE_LIMIT {
            return Err(io::Error::other(format!(
                "bench: timed out waiting for {what}"
            )));
        }
        sleep(POLL).await;
    }
    Ok(clock.now() - start)
}

async fn reflected(o: BenchOptions) -> io::Result<Duration> {
    let clock = SystemClock::new();
    let mut servers: Vec<ServerHandle> = Vec::new();
    for _ in 0..o.reflectors {
        let opts = ServeOptions {
            listen: vec!["127.0.0.1:0".parse().map_err(io::Error::other)?],
            status: None,
            keepalive: KeepaliveInterval(5),
            send_pause: Duration::ZERO,
        };
        servers.push(serve(&opts, Arc::new(SystemClock::new())).await?);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.listen_addrs()[0]).collect();
    let start = |seed| {
        Client::start(
            ClientConfig::new(addrs.clone()),
            Arc::new(SystemClock::new()),
            Box::new(SeededRng::new(seed)),
        )
    };
    let subs: Vec<Client> = (0..o.subscribers as u64).map(start).collect();
    for s in &subs {
        s.subscribe(Vni(23));
    }
    let announcer = start(u64::MAX);
    let subscribed = || {
        servers
            .iter()
            .all(|s| s.status().subscribers.get(&Vni(23)) == Some(&o.subscribers))
    };
    wait_for(&clock, "subscriptions", subscribed).await?;
    wait_for(&clock, "the announcer", || {
        announcer.established() == o.reflectors
    })
    .await?;
    let t0 = clock.now();
    announcer.announce_all((0..o.routes).map(bench_route));
    wait_for(&clock, "convergence", || {
        subs.iter().all(|s| s.table_len() == o.routes)
    })
    .await?;
    let took = clock.now() - t0;
    announcer.shutdown();
    for s in &subs {
        s.shutdown();
    }
    for s in &servers {
        s.shutdown();
    }
    Ok(took)
}

/// The same UPDATE frames, written by one sender task per connection (as a reflector has one
/// writer per peer) to `reflectors × subscribers` raw TCP receivers that only decode them.
async fn floor(o: BenchOptions) -> io::Result<Duration> {
    let clock = SystemClock::new();
    let mut frames = Vec::new();
    for i in 0..o.routes {
        encode_frame(&Message::Update(Action::Add, bench_route(i)), &mut frames);
    }
    let frames = Arc::new(frames);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let conns = o.reflectors * o.subscribers;
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let done = done.clone();
        let routes = o.routes;
        tasks.push(spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return;
            };
            let mut d = FrameDecoder::new();
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = 0;
            while got < routes {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => d.push(&buf[..n]),
                }
                while let Ok(Some(_)) = d.next_message() {
                    got += 1;
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let mut senders = Vec::new();
    for _ in 0..conns {
        senders.push(listener.accept().await?.0);
    }
    let t0 = clock.now();
    for mut s in senders {
        let frames = frames.clone();
        tasks.push(spawn(async move {
            let _ = s.set_nodelay(true);
            for chunk in frames.chunks(32 * 1024) {
                if s.write_all(chunk).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    wait_for(&clock, "the floor", || done.load(Ordering::SeqCst) == conns).await?;
    let took = clock.now() - t0;
    for t in tasks {
        t.abort();
    }
    Ok(took)
}
