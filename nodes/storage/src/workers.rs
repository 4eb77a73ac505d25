//! Worker threads that run a volume service's backend work and health probes.
//!
//! Threads, not async tasks: librbd and file I/O block, and a LUKS2 format blocks for tens of
//! seconds. Each worker takes one piece of work at a time, so `n` workers bound the backend
//! operations in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use ferrocore_runtime::MonoTime;

use crate::bucket::BucketService;
use crate::service::{PROBE_INTERVAL, VolumeService};

/// Workers a node starts by default: enough that two slow encrypted formats leave two workers
/// for everything else, few enough for a 2-core machine.
pub const DEFAULT_WORKERS: usize = 4;

/// Running workers; dropping this stops and joins them.
#[derive(Debug)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    volumes: Arc<VolumeService>,
}

impl Workers {
    /// Starts `n` workers (at least one) for `volumes` and, if given, `buckets`. Worker 0 also
    /// probes the backend every [`PROBE_INTERVAL`].
    ///
    /// # Errors
    /// When the operating system refuses a thread.
    pub fn start(
        volumes: Arc<VolumeService>,
        buckets: Option<Arc<BucketService>>,
        n: usize,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let (svc, stop) = (volumes.clone(), stop.clone());
            let buckets = buckets.clone().filter(|_| i == 0);
            let t = std::thread::Builder::new()
                .name(format!("storage-worker-{i}"))
                .spawn(move || worker_loop(&svc, buckets.as_deref(), &stop, i == 0))?;
            threads.push(t);
        }
        Ok(Self {
            stop,
            threads,
            volumes,
        })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.volumes.kick();
        for t in self.threads.drain(..) {
            // A worker that panicked has already reported it; nothing more to do here.
            let _ = t.join();
        }
    }
}

fn worker_loop(
    svc: &VolumeService,
    buckets: Option<&BucketService>,
    stop: &AtomicBool,
    prober: bool,
) {
    let mut next_probe = MonoTime::ZERO;
    while !stop.load(Ordering::SeqCst) {
        if prober && svc.now() >= next_probe {
            svc.probe();
            if let Some(b) = buckets {
                b.reconcile_all();
            }
            next_probe = svc.now() + PROBE_INTERVAL;
        }
        if !svc.reconcile_once() {
            svc.wait_for_work(VolumeService::idle_wait());
        }
    }
}
