//! The thin tokio adapter shared by server and client: one task per TCP connection that reads
//! frames into a core and writes what the core's outbox releases.
//!
//! Reading and writing run concurrently in the connection's task, so two peers that both have
//! much to send cannot deadlock on full socket buffers. The core sits behind one mutex that is
//! held only for synchronous core calls, never across an await.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ferrocore_runtime::{Clock, MonoTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

use crate::frame::{FrameDecoder, FrameError};
use crate::message::Message;

/// Bytes pulled from an outbox per socket write: whole frames only, and below the 65,535-byte
/// read buffer of the Go implementation, which resets a connection when one read fills it.
pub(crate) const SEND_BATCH_BYTES_MAX: usize = 32 * 1024;
/// Bytes read from a socket at once (one decode pass under the core's lock).
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// How often session timers are checked; keepalive intervals are whole seconds.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// A timer this late means the process itself was not running (overload, suspend), so silence
/// seen across it proves nothing about peers.
const STALL: Duration = Duration::from_secs(1);

/// What a core command means to the adapter.
#[derive(Debug)]
pub(crate) enum Effect<I> {
    Wake(I),
    Close(I, String),
    Changed,
}

/// A sans-IO core the adapter can drive.
pub(crate) trait Core: Send + 'static {
    type Id: Copy + Ord + Send + Sync + Debug + 'static;
    type Cmd;
    fn effect(cmd: Self::Cmd) -> Effect<Self::Id>;
    fn receive(
        &mut self,
        now: MonoTime,
        id: Self::Id,
        frame: Result<Message, FrameError>,
    ) -> Vec<Self::Cmd>;
    fn disconnect(&mut self, id: Self::Id) -> Vec<Self::Cmd>;
    fn poll_transmit(&mut self, id: Self::Id, budget: usize, out: &mut Vec<u8>) -> bool;
    fn tick(&mut self, now: MonoTime) -> Vec<Self::Cmd>;
    fn overdue(&self, now: MonoTime) -> Vec<Self::Id>;
    fn touch(&mut self, id: Self::Id, now: MonoTime);
}

/// A core plus the wakers of its connections' writers.
#[derive(Debug)]
pub(crate) struct Hub<C: Core> {
    pub(crate) core: C,
    wakers: BTreeMap<C::Id, Arc<Notify>>,
    /// Each connection's socket, to ask the kernel whether unread bytes wait (see `tick`).
    fds: BTreeMap<C::Id, RawFd>,
    pub(crate) changed: Arc<Notify>,
}

impl<C: Core> Hub<C> {
    pub(crate) fn new(core: C) -> Self {
        Self {
            core,
            wakers: BTreeMap::new(),
            fds: BTreeMap::new(),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Registers a connection: its socket and its writer's waker.
    pub(crate) fn attach(&mut self, id: C::Id, stream: &TcpStream) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        self.wakers.insert(id, n.clone());
        self.fds.insert(id, stream.as_raw_fd());
        n
    }

    /// Runs the core's timers. A peer whose timeout passed but whose bytes already wait in our
    /// receive queue is not dead: we are slow (a large dump, a busy machine), so it is counted
    /// alive instead of being disconnected, which would only cause a resync storm.
    ///
    /// `stalled` says this process itself did not run for a while (the timer fired late): then
    /// nobody's silence can be judged, and every overdue peer gets the benefit of the doubt.
    pub(crate) fn tick(&mut self, now: MonoTime, stalled: bool) {
        for id in self.core.overdue(now) {
            if stalled || self.fds.get(&id).is_some_and(|fd| unread_bytes(*fd) > 0) {
                self.core.touch(id, now);
            }
        }
        let cmds = self.core.tick(now);
        self.apply(cmds, None);
    }

    /// Carries out core commands; returns whether `me` was told to close.
    pub(crate) fn apply(&mut self, cmds: Vec<C::Cmd>, me: Option<C::Id>) -> bool {
        let mut closed = false;
        for cmd in cmds {
            match C::effect(cmd) {
                Effect::Wake(id) => {
                    if let Some(n) = self.wakers.get(&id) {
                        n.notify_one();
                    }
                }
                Effect::Close(id, reason) => {
                    tracing::warn!(peer = ?id, %reason, "closing connection");
                    closed |= Some(id) == me;
                    if let Some(n) = self.wakers.get(&id) {
                        n.notify_one();
                    }
                }
                Effect::Changed => self.changed.notify_one(),
            }
        }
        closed
    }
}

/// A hub shared by tasks.
pub(crate) type SharedHub<C> = Arc<Mutex<Hub<C>>>;

/// Locks the hub. A poisoned lock means a core invariant panicked in another task; the
/// process is already failing loudly, so carry on with the data as it is.
pub(crate) fn lock<C: Core>(hub: &Mutex<Hub<C>>) -> MutexGuard<'_, Hub<C>> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one connection until either side ends it, then tells the core it is gone.
pub(crate) async fn drive<C: Core>(
    hub: SharedHub<C>,
    clock: Arc<dyn Clock>,
    id: C::Id,
    waker: Arc<Notify>,
    stream: TcpStream,
    pause: Duration,
) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    // Biased: no hidden randomness; either branch finishing ends the connection anyway.
    tokio::select! {
        biased;
        () = read_loop(&hub, &*clock, id, &mut read) => {}
        () = write_loop(&hub, id, &waker, &mut write, pause) => {}
    }
    {
        let mut h = lock(&hub);
        h.wakers.remove(&id);
        h.fds.remove(&id);
        let cmds = h.core.disconnect(id);
        h.apply(cmds, None);
    }
    // The socket closes only here, after its descriptor left `fds`, so `tick` never asks
    // about a descriptor number the kernel may have reused.
    drop((read, write));
}

/// Runs `hub`'s timers every [`TICK`] until the task is aborted.
pub(crate) async fn tick_loop<C: Core>(hub: SharedHub<C>, clock: Arc<dyn Clock>) {
    let mut last = clock.now();
    loop {
        ferrocore_runtime::sleep(TICK).await;
        let now = clock.now();
        let late = now - last;
        last = now;
        let stalled = late > STALL;
        if stalled {
            tracing::warn!(?late, "timers ran late: this process was stalled");
        }
        lock(&hub).tick(now, stalled);
    }
}

/// Bytes the kernel holds for us on `fd`, not yet read (0 on any error).
fn unread_bytes(fd: RawFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`; `fd` is a
    // socket owned by a live connection (removed from `fds` before it is closed).
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &raw mut n) };
    if rc == 0 { n } else { 0 }
}

async fn read_loop<C: Core>(
    hub: &Mutex<Hub<C>>,
    clock: &dyn Clock,
    id: C::Id,
    read: &mut OwnedReadHalf,
) {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        if deliver(hub, clock, id, &mut decoder) {
            return;
        }
        // One chunk per turn: a socket that always has data would otherwise keep this task
        // running (tokio only forces a yield after 128 ready operations), and every other
        // connection's keepalives would wait behind it.
        tokio::task::yield_now().await;
    }
}

/// Hands every whole frame buffered in `decoder` to the core; `true` if the connection ends.
fn deliver<C: Core>(
    hub: &Mutex<Hub<C>>,
    clock: &dyn Clock,
    id: C::Id,
    decoder: &mut FrameDecoder,
) -> bool {
    let mut h = lock(hub);
    let now = clock.now();
    loop {
        let frame = match decoder.next_message() {
            Ok(None) => return false,
            Ok(Some(m)) => Ok(m),
            Err(e) => Err(e),
        };
        let failed = frame.is_err();
        let cmds = h.core.receive(now, id, frame);
        if h.apply(cmds, Some(id)) || failed {
            return true;
        }
    }
}

async fn write_loop<C: Core>(
    hub: &Mutex<Hub<C>>,
    id: C::Id,
    waker: &Notify,
    write: &mut OwnedWriteHalf,
    pause: Duration,
) {
    let mut out = Vec::with_capacity(SEND_BATCH_BYTES_MAX);
    loop {
        waker.notified().await;
        loop {
            out.clear();
            if !lock(hub)
                .core
                .poll_transmit(id, SEND_BATCH_BYTES_MAX, &mut out)
            {
                return;
            }
            if out.is_empty() {
                break;
            }
            if write.write_all(&out).await.is_err() {
                return;
            }
            if pause.is_zero() {
                // One batch per turn, for the same reason as in `read_loop`.
                tokio::task::yield_now().await;
            } else {
                ferrocore_runtime::sleep(pause).await;
            }
        }
    }
}
