//! The controller processes of one simulation: each is a real consensus [`Node`] (openraft on
//! its simulated runtime, the durable log and the object store) on its own simulated disk, and
//! can crash and restart.
//!
//! A slot outlives its processes: the disk survives a crash (minus what was not synced), the
//! incarnation number changes, and every task of a dead incarnation (its Raft RPC replies, its
//! API replies, its watch streams) checks the number and falls silent.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use ferrocore_consensus::{Node, NodeAddr, NodeConfig, NodeId, RaftServer};
use ferrocore_runtime::{SeededRng, SimDisk, Tear};

use crate::disk::{CrashingDisk, PowerSwitch};
use crate::net::Net;
use crate::raft_link::RaftLink;
use crate::rt::{Rt, SimClock, SimTime, now, spawn};
use crate::trace::Trace;

/// Watch events a controller keeps for watchers that resume (part of its snapshots, so it is
/// kept modest: a watcher further behind than this relists).
pub(crate) const WATCH_RETENTION: usize = 4_000;

/// How long a restarted controller waits for the cluster to confirm its pre-crash state before
/// it tries again (it keeps trying while it lives).
const RECOVERY_WAIT: Duration = Duration::from_secs(1);

/// Pause before asking again when recovery failed outright (a stopped Raft answers at once: a
/// loop without a pause would never yield to the executor).
const RECOVERY_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A running controller process.
pub(crate) struct Process {
    pub(crate) id: u64,
    pub(crate) incarnation: u64,
    pub(crate) node: Node<Rt>,
    pub(crate) power: Arc<PowerSwitch>,
    /// Set once the node has recovered its pre-crash state: object calls are served from then.
    ready: AtomicBool,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{}", self.id, self.incarnation)
    }
}

impl Process {
    pub(crate) fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// Where a controller is in its life.
#[derive(Clone, Debug)]
pub(crate) enum Life {
    Up(Arc<Process>),
    /// Opening its data directory.
    Starting,
    /// Crashed; the nemesis restarts it at this time (or the liveness phase does).
    Down {
        restart_at: SimTime,
    },
    /// Failed to start: its data is damaged (a finding, reported once).
    Broken(String),
}

#[derive(Debug)]
struct Slot {
    disk: SimDisk,
    incarnation: u64,
    life: Life,
}

#[derive(Debug)]
struct Inner {
    slots: BTreeMap<u64, Slot>,
    seed: u64,
}

/// The controllers of a simulation. Clones share them.
#[derive(Clone, Debug)]
pub(crate) struct Controllers {
    inner: Arc<Mutex<Inner>>,
    net: Net,
    trace: Trace,
}

/// Node configuration of a simulated controller: production timing, small segments and frequent
/// snapshots so that segment rolls, snapshots, purges and snapshot installs all happen.
fn node_config(id: u64) -> NodeConfig {
    let mut c = NodeConfig::new(NodeId(id), PathBuf::from(format!("/c{id}")));
    c.raft.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(300);
    c.raft.max_in_snapshot_log_to_keep = 50;
    c.raft.purge_batch_size = 16;
    c.segment_bytes_max = 64 * 1024;
    c.watch_retention = WATCH_RETENTION;
    c
}

pub(crate) fn addr(id: u64) -> NodeAddr {
    NodeAddr::new(format!("c{id}:7700"))
}

impl Controllers {
    pub(crate) fn new(count: u64, seed: u64, net: Net, trace: Trace) -> Self {
        let slots = (1..=count)
            .map(|id| {
                let slot = Slot {
                    disk: SimDisk::new(),
                    incarnation: 0,
                    life: Life::Down {
                        restart_at: SimTime(0),
                    },
                };
                (id, slot)
            })
            .collect();
        Self {
            inner: Arc::new(Mutex::new(Inner { slots, seed })),
            net,
            trace,
        }
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        self.lock().slots.keys().copied().collect()
    }

    /// Every controller's state of life.
    pub(crate) fn lives(&self) -> Vec<(u64, Life)> {
        let inner = self.lock();
        inner
            .slots
            .iter()
            .map(|(id, s)| (*id, s.life.clone()))
            .collect()
    }

    /// The running process of `id`.
    pub(crate) fn process(&self, id: u64) -> Option<Arc<Process>> {
        match &self.lock().slots.get(&id)?.life {
            Life::Up(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Every running process.
    pub(crate) fn processes(&self) -> Vec<Arc<Process>> {
        let inner = self.lock();
        inner
            .slots
            .values()
            .filter_map(|s| match &s.life {
                Life::Up(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether incarnation `incarnation` of `id` is still running.
    pub(crate) fn alive(&self, id: u64, incarnation: u64) -> bool {
        self.lock()
            .slots
            .get(&id)
            .is_some_and(|s| s.incarnation == incarnation && matches!(s.life, Life::Up(_)))
    }

    /// The Raft endpoint of `id` and its incarnation, if it runs.
    pub(crate) fn server(&self, id: u64) -> Option<(RaftServer<Rt>, u64)> {
        let p = self.process(id)?;
        Some((p.node.server(), p.incarnation))
    }

    /// Starts `id` from what its disk holds. Returns when the node is open (or failed to open).
    pub(crate) async fn start(&self, id: u64) {
        let (disk, incarnation, rng_seed) = {
            let mut inner = self.lock();
            let seed = inner.seed;
            let Some(slot) = inner.slots.get_mut(&id) else {
                return;
            };
            if !matches!(slot.life, Life::Down { .. }) {
                return;
            }
            slot.incarnation += 1;
            slot.life = Life::Starting;
            let rng_seed = seed ^ (id << 48) ^ (slot.incarnation << 32);
            (slot.disk.clone(), slot.incarnation, rng_seed)
        };
        self.trace.event(format_args!("start c{id}#{incarnation}"));
        let power = Arc::new(PowerSwitch::default());
        let link = RaftLink::new(id, incarnation, self.net.clone(), self.downgrade());
        let opened = Node::<Rt>::open(
            node_config(id),
            Arc::new(CrashingDisk::new(disk, power.clone())),
            Arc::new(link),
            Arc::new(SimClock),
            Box::new(SeededRng::new(rng_seed)),
        )
        .await;
        let process = match opened {
            Ok(node) => Arc::new(Process {
                id,
                incarnation,
                node,
                power,
                ready: AtomicBool::new(false),
            }),
            Err(e) => {
                self.trace.event(format_args!("c{id} cannot start: {e}"));
                self.set_life(id, incarnation, Life::Broken(e.to_string()));
                return;
            }
        };
        self.set_life(id, incarnation, Life::Up(process.clone()));
        spawn(recover(self.clone(), process));
    }

    /// Forms the cluster from every controller (once, at boot, on controller 1).
    pub(crate) async fn initialize(&self) -> Result<(), String> {
        let members = self
            .ids()
            .into_iter()
            .map(|id| (NodeId(id), addr(id)))
            .collect();
        let first = self.process(1).ok_or("controller 1 is not running")?;
        first
            .node
            .initialize(members)
            .await
            .map_err(|e| e.to_string())
    }

    /// Power loss on `id` now (between two steps of its tasks): unsynced writes are lost or torn,
    /// the process is gone; it restarts at `restart_at`.
    pub(crate) fn crash(&self, id: u64, restart_at: SimTime, tear_seed: u64) {
        let Some(process) = self.take_down(id, restart_at) else {
            return;
        };
        self.trace
            .event(format_args!("crash c{id}#{}", process.incarnation));
        if !process.power.failed() {
            let disk = self.disk(id);
            let mut rng = SeededRng::new(tear_seed);
            disk.crash(Tear::Random(&mut rng));
        }
        // The old incarnation's handles must fail from now on, as a dead process's would.
        process.power.cut();
        spawn(async move { process.node.shutdown().await });
    }

    /// Marks a controller whose power failed mid-write as down (its disk already crashed).
    pub(crate) fn reap(&self, restart_at: SimTime) {
        let failed: Vec<u64> = self
            .processes()
            .iter()
            .filter(|p| p.power.failed())
            .map(|p| p.id)
            .collect();
        for id in failed {
            self.trace.event(format_args!("c{id} lost power mid-write"));
            self.crash(id, restart_at, 0);
        }
    }

    fn take_down(&self, id: u64, restart_at: SimTime) -> Option<Arc<Process>> {
        let mut inner = self.lock();
        let slot = inner.slots.get_mut(&id)?;
        let Life::Up(process) = slot.life.clone() else {
            return None;
        };
        slot.life = Life::Down { restart_at };
        Some(process)
    }

    /// Controllers that are down and due to restart by `at`.
    pub(crate) fn due(&self, at: SimTime) -> Vec<u64> {
        let inner = self.lock();
        inner
            .slots
            .iter()
            .filter(|(_, s)| matches!(s.life, Life::Down { restart_at } if restart_at <= at))
            .map(|(id, _)| *id)
            .collect()
    }

    fn disk(&self, id: u64) -> SimDisk {
        self.lock().slots[&id].disk.clone()
    }

    fn set_life(&self, id: u64, incarnation: u64, life: Life) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(&id)
            && slot.incarnation == incarnation
        {
            slot.life = life;
        }
    }

    pub(crate) fn downgrade(&self) -> WeakControllers {
        WeakControllers {
            inner: Arc::downgrade(&self.inner),
            net: self.net.clone(),
            trace: self.trace.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle on the controllers that does not keep them alive (the Raft transport inside each
/// node holds one, which would otherwise be a reference cycle).
#[derive(Clone, Debug)]
pub(crate) struct WeakControllers {
    inner: Weak<Mutex<Inner>>,
    net: Net,
    trace: Trace,
}

impl WeakControllers {
    pub(crate) fn upgrade(&self) -> Option<Controllers> {
        Some(Controllers {
            inner: self.inner.upgrade()?,
            net: self.net.clone(),
            trace: self.trace.clone(),
        })
    }
}

/// Waits (while the process lives) until it holds at least its pre-crash state, then lets it
/// serve object calls.
async fn recover(controllers: Controllers, process: Arc<Process>) {
    while controllers.alive(process.id, process.incarnation) {
        if process.node.wait_recovered(RECOVERY_WAIT).await.is_ok() {
            process.ready.store(true, Ordering::Relaxed);
            controllers.trace.event(format_args!(
                "c{}#{} ready at {}",
                process.id,
                process.incarnation,
                now()
            ));
            return;
        }
        crate::rt::sleep(RECOVERY_RETRY_PAUSE).await;
    }
}
