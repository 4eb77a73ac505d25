//! The client library network nodes use: connect to one or more reflectors, announce and
//! withdraw routes, subscribe to VNIs, and read the merged table and its changes.
//!
//! ```no_run
//! # async fn f() {
//! use std::sync::Arc;
//! use ferrocore_node_reflector::{Client, ClientConfig, Vni};
//! use ferrocore_runtime::{OsSeededRng, SystemClock};
//! let cfg = ClientConfig::new(vec!["[::1]:4711".parse().unwrap(), "[::1]:4811".parse().unwrap()]);
//! let client = Client::start(cfg, Arc::new(SystemClock::new()), Box::new(OsSeededRng::new().unwrap()));
//! client.subscribe(Vni(23));
//! client.announce("23#10.0.23.0/24#2001:db8::1".parse().unwrap());
//! let changes = client.next_changes(1024).await; // added/removed in the merged table
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrocore_runtime::{Clock, MonoTime, Rng, spawn};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::client_core::{ClientCommand, ClientCore, REFLECTORS_MAX, ReflectorId, RouteChange};
use crate::conn::{self, Core, Effect, Hub, SharedHub, lock};
use crate::frame::FrameError;
use crate::message::{KeepaliveInterval, Message};
use crate::route::{Route, Vni};

impl Core for ClientCore {
    type Id = ReflectorId;
    type Cmd = ClientCommand;

    fn effect(cmd: ClientCommand) -> Effect<ReflectorId> {
        match cmd {
            ClientCommand::Wake(r) => Effect::Wake(r),
            ClientCommand::Close(r, why) => Effect::Close(r, why),
            ClientCommand::Changed => Effect::Changed,
        }
    }

    fn receive(
        &mut self,
        now: MonoTime,
        id: ReflectorId,
        f: Result<Message, FrameError>,
    ) -> Vec<ClientCommand> {
        Self::receive(self, now, id, f)
    }

    fn disconnect(&mut self, id: ReflectorId) -> Vec<ClientCommand> {
        self.disconnected(id)
    }

    fn poll_transmit(&mut self, id: ReflectorId, budget: usize, out: &mut Vec<u8>) -> bool {
        Self::poll_transmit(self, id, budget, out)
    }

    fn tick(&mut self, now: MonoTime) -> Vec<ClientCommand> {
        Self::tick(self, now)
    }

    fn overdue(&self, now: MonoTime) -> Vec<ReflectorId> {
        Self::overdue(self, now)
    }

    fn touch(&mut self, id: ReflectorId, now: MonoTime) {
        Self::touch(self, id, now);
    }
}

/// How a client connects.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Every reflector to connect to (all of them get every announcement and subscription).
    pub reflectors: Vec<SocketAddr>,
    /// Keepalive interval proposed to the reflectors (metalnet uses 3 s, metalbond 5 s).
    pub keepalive: KeepaliveInterval,
    /// Shortest wait before reconnecting (metalbond: 5 s).
    pub retry_min: Duration,
    /// Longest wait before reconnecting (metalbond: 9 s); the wait is uniform in between.
    pub retry_max: Duration,
    /// Pause after each batch written (0: none).
    pub send_pause: Duration,
}

impl ClientConfig {
    /// metalbond's defaults: keepalive 5 s, reconnect after 5–9 s.
    pub fn new(reflectors: Vec<SocketAddr>) -> Self {
        Self {
            reflectors,
            keepalive: KeepaliveInterval(5),
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(9),
            send_pause: Duration::ZERO,
        }
    }
}

/// A running client. See the module docs.
#[derive(Debug)]
pub struct Client {
    hub: SharedHub<ClientCore>,
    tasks: Vec<JoinHandle<()>>,
}

impl Client {
    /// Starts connecting to every reflector on the current tokio runtime.
    pub fn start(config: ClientConfig, clock: Arc<dyn Clock>, rng: Box<dyn Rng>) -> Self {
        let hub: SharedHub<ClientCore> =
            Arc::new(Mutex::new(Hub::new(ClientCore::new(config.keepalive))));
        let rng = Arc::new(Mutex::new(rng));
        let mut tasks = Vec::new();
        if config.reflectors.len() > REFLECTORS_MAX {
            tracing::warn!("only the first {REFLECTORS_MAX} reflectors are used");
        }
        for (i, addr) in config.reflectors.iter().take(REFLECTORS_MAX).enumerate() {
            let link = Link {
                hub: hub.clone(),
                clock: clock.clone(),
                rng: rng.clone(),
                rid: ReflectorId(i),
                addr: *addr,
                config: config.clone(),
            };
            tasks.push(spawn(link.run()));
        }
        tasks.push(spawn(conn::tick_loop(hub.clone(), clock)));
        Self { hub, tasks }
    }

    /// Announces `route` to every reflector, now and after each reconnect.
    pub fn announce(&self, route: Route) {
        self.with(|c| c.announce(route));
    }

    /// Withdraws `route` from every reflector.
    pub fn withdraw(&self, route: &Route) {
        self.with(|c| c.withdraw(route));
    }

    /// Announces many routes under one lock.
    pub fn announce_all(&self, routes: impl IntoIterator<Item = Route>) {
        self.with(|c| routes.into_iter().flat_map(|r| c.announce(r)).collect());
    }

    /// Subscribes to `vni` on every reflector.
    pub fn subscribe(&self, vni: Vni) {
        self.with(|c| c.subscribe(vni));
    }

    /// Unsubscribes from `vni`; its routes leave the merged table.
    pub fn unsubscribe(&self, vni: Vni) {
        self.with(|c| c.unsubscribe(vni));
    }

    /// The merged table: every route at least one reflector provides.
    pub fn table(&self) -> Vec<Route> {
        lock(&self.hub).core.table()
    }

    /// The merged table's size.
    pub fn table_len(&self) -> usize {
        lock(&self.hub).core.table_len()
    }

    /// How many reflector sessions are established.
    pub fn established(&self) -> usize {
        lock(&self.hub).core.established()
    }

    /// Waits for changes of the merged table and returns up to `max` of them (coalesced: a
    /// route added and removed before this call shows up not at all). One consumer only.
    pub async fn next_changes(&self, max: usize) -> Vec<RouteChange> {
        loop {
            let changed = {
                let mut h = lock(&self.hub);
                let out = h.core.take_changes(max);
                if !out.is_empty() {
                    return out;
                }
                h.changed.clone()
            };
            changed.notified().await;
        }
    }

    /// Up to `max` changes of the merged table if there are any, without waiting.
    pub fn try_changes(&self, max: usize) -> Vec<RouteChange> {
        lock(&self.hub).core.take_changes(max)
    }

    /// Stops every connection at once (the reflectors see the sockets close).
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    fn with(&self, f: impl FnOnce(&mut ClientCore) -> Vec<ClientCommand>) {
        let mut h = lock(&self.hub);
        let cmds = f(&mut h.core);
        h.apply(cmds, None);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One reflector's connect–run–retry loop.
struct Link {
    hub: SharedHub<ClientCore>,
    clock: Arc<dyn Clock>,
    rng: Arc<Mutex<Box<dyn Rng>>>,
    rid: ReflectorId,
    addr: SocketAddr,
    config: ClientConfig,
}

impl Link {
    async fn run(self) {
        loop {
            match TcpStream::connect(self.addr).await {
                Ok(stream) => self.session(stream).await,
                Err(e) => tracing::debug!(reflector = %self.addr, error = %e, "connect failed"),
            }
            ferrocore_runtime::sleep(self.retry_wait()).await;
        }
    }

    async fn session(&self, stream: TcpStream) {
        tracing::info!(reflector = %self.addr, "connected");
        let waker = {
            let mut h = lock(&self.hub);
            let cmds = h.core.connected(self.clock.now(), self.rid);
            let w = h.attach(self.rid, &stream);
            h.apply(cmds, None);
            w
        };
        let (hub, clock, pause) = (self.hub.clone(), self.clock.clone(), self.config.send_pause);
        conn::drive(hub, clock, self.rid, waker, stream, pause).await;
        tracing::warn!(reflector = %self.addr, "connection lost");
    }

    fn retry_wait(&self) -> Duration {
        let (lo, hi) = (
            self.config.retry_min,
            self.config.retry_max.max(self.config.retry_min),
        );
        let span = u64::try_from((hi - lo).as_millis()).unwrap_or(u64::MAX);
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        lo + Duration::from_millis(rng.below(span.saturating_add(1)))
    }
}
