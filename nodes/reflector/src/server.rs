//! The reflector's TCP adapter: accept connections, run each through [`crate::conn::drive`],
//! tick the core's timers, and serve the JSON status endpoint.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrocore_runtime::{Clock, MonoTime, spawn};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::conn::{self, Core, Effect, Hub, SharedHub, TICK, lock};
use crate::frame::FrameError;
use crate::message::{KeepaliveInterval, Message};
use crate::reflector::{Command, PeerId, ReflectorCore, Status};
use crate::route::Route;
use crate::status;

/// Simultaneous connections: a hypervisor fleet is at most a few thousand nodes per reflector;
/// past this, new connections are refused so a connection flood cannot exhaust file handles.
pub const CONNECTIONS_MAX: usize = 8_192;

impl Core for ReflectorCore {
    type Id = PeerId;
    type Cmd = Command;

    fn effect(cmd: Command) -> Effect<PeerId> {
        match cmd {
            Command::Wake(p) => Effect::Wake(p),
            Command::Close(p, r) => Effect::Close(p, r),
        }
    }

    fn receive(
        &mut self,
        now: MonoTime,
        id: PeerId,
        f: Result<Message, FrameError>,
    ) -> Vec<Command> {
        // check_invariants() walks the whole table: the core tests run it, the adapter cannot
        // afford it per frame.
        Self::receive(self, now, id, f)
    }

    fn disconnect(&mut self, id: PeerId) -> Vec<Command> {
        Self::disconnect(self, id)
    }

    fn poll_transmit(&mut self, id: PeerId, budget: usize, out: &mut Vec<u8>) -> bool {
        Self::poll_transmit(self, id, budget, out)
    }

    fn tick(&mut self, now: MonoTime) -> Vec<Command> {
        Self::tick(self, now)
    }

    fn overdue(&self, now: MonoTime) -> Vec<PeerId> {
        Self::overdue(self, now)
    }

    fn touch(&mut self, id: PeerId, now: MonoTime) {
        Self::touch(self, id, now);
    }
}

/// What a running reflector needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Addresses to accept metalbond connections on (`[::]:4711` takes IPv4 too on Linux).
    pub listen: Vec<SocketAddr>,
    /// Where to serve JSON status, if anywhere.
    pub status: Option<SocketAddr>,
    /// The keepalive interval proposed to peers.
    pub keepalive: KeepaliveInterval,
    /// Pause after each batch written to one peer (0: none); see `docs/reflector.md`.
    pub send_pause: Duration,
}

/// A running reflector. Dropping it does not stop it; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    hub: SharedHub<ReflectorCore>,
    listen: Vec<SocketAddr>,
    status: Option<SocketAddr>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ServerHandle {
    /// The bound metalbond addresses (with real ports when 0 was asked for).
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen
    }

    /// The bound status address.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status
    }

    /// A snapshot of the reflector's state.
    pub fn status(&self) -> Status {
        lock(&self.hub).core.status()
    }

    /// Every route and its announcer count.
    pub fn routes(&self) -> Vec<(Route, usize)> {
        lock(&self.hub).core.routes()
    }

    /// Stops accepting, drops every connection at once (as a crash would) and stops the timers.
    pub fn shutdown(&self) {
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for t in tasks {
            t.abort();
        }
    }
}

/// Binds the listeners and starts the reflector on the current tokio runtime.
///
/// # Errors
/// If a listen or status address cannot be bound.
pub async fn serve(opts: &ServeOptions, clock: Arc<dyn Clock>) -> io::Result<ServerHandle> {
    let hub: SharedHub<ReflectorCore> =
        Arc::new(Mutex::new(Hub::new(ReflectorCore::new(opts.keepalive))));
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let mut bound = Vec::new();
    for addr in &opts.listen {
        let listener = TcpListener::bind(addr).await?;
        bound.push(listener.local_addr()?);
        tracing::info!(addr = %listener.local_addr()?, "reflector listening");
        let t = spawn(accept_loop(
            listener,
            hub.clone(),
            clock.clone(),
            tasks.clone(),
            opts.send_pause,
        ));
        push(&tasks, t);
    }
    let status = match opts.status {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            tracing::info!(addr = %local, "status endpoint listening");
            push(&tasks, spawn(status::serve_status(listener, hub.clone())));
            Some(local)
        }
        None => None,
    };
    push(&tasks, spawn(conn::tick_loop(hub.clone(), clock)));
    Ok(ServerHandle {
        hub,
        listen: bound,
        status,
        tasks,
    })
}

fn push(tasks: &Mutex<Vec<JoinHandle<()>>>, t: JoinHandle<()>) {
    let mut v = tasks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Finished connection tasks are pruned here, so the list stays near the live count.
    v.retain(|t| !t.is_finished());
    v.push(t);
}

async fn accept_loop(
    listener: TcpListener,
    hub: SharedHub<ReflectorCore>,
    clock: Arc<dyn Clock>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pause: Duration,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                ferrocore_runtime::sleep(TICK).await;
                continue;
            }
        };
        start_conn(&hub, &clock, &tasks, stream, remote, pause);
    }
}

fn start_conn(
    hub: &SharedHub<ReflectorCore>,
    clock: &Arc<dyn Clock>,
    tasks: &Arc<Mutex<Vec<JoinHandle<()>>>>,
    stream: TcpStream,
    remote: SocketAddr,
    pause: Duration,
) {
    let (id, waker) = {
        let mut h = lock(hub);
        if h.core.peer_count() >= CONNECTIONS_MAX {
            tracing::warn!(%remote, "connection refused: {CONNECTIONS_MAX} peers connected");
            return;
        }
        let id = h.core.connect(clock.now(), remote);
        (id, h.attach(id, &stream))
    };
    tracing::info!(peer = ?id, %remote, "peer connected");
    let t = spawn(conn::drive(
        hub.clone(),
        clock.clone(),
        id,
        waker,
        stream,
        pause,
    ));
    push(tasks, t);
}
