//! The event trace of one run: every decision the simulator makes (message fates, faults,
//! operations and their results, per-step cluster state) is folded into one hash in order, and
//! the last few readable events are kept for the failure report.
//!
//! Two runs of a seed are deterministic exactly when their trace hashes match.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::rt::{SimTime, now};

/// Readable events kept for a failure report: enough to see what led up to it.
pub(crate) const RECENT_EVENTS_MAX: usize = 60;

/// The hash of a run's ordered event trace (FNV-1a, 64 bits: stable across platforms and
/// releases, unlike `std`'s hasher).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct TraceHash(pub u64);

impl fmt::Display for TraceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from `hash`.
pub(crate) fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1a of `bytes` from the standard offset: a stable fingerprint.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    fnv(FNV_OFFSET, bytes)
}

/// The trace of one run. Clones share it.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    inner: Arc<Mutex<TraceState>>,
}

#[derive(Debug)]
struct TraceState {
    hash: u64,
    events: u64,
    recent: VecDeque<String>,
}

impl Trace {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(TraceState {
                hash: FNV_OFFSET,
                events: 0,
                recent: VecDeque::with_capacity(RECENT_EVENTS_MAX),
            })),
        }
    }

    /// Folds a compact event (a tag and numbers) into the hash: for frequent events.
    pub(crate) fn mix(&self, tag: u8, values: &[u64]) {
        let mut st = self.lock();
        let mut h = fnv(st.hash, &[tag]);
        for v in values {
            h = fnv(h, &v.to_le_bytes());
        }
        st.hash = h;
        st.events += 1;
    }

    /// Folds a readable event into the hash and keeps it among the recent events.
    pub(crate) fn event(&self, text: impl fmt::Display) {
        let line = format!("{} {text}", now());
        if live() {
            eprintln!("{line}");
        }
        let mut st = self.lock();
        st.hash = fnv(st.hash, line.as_bytes());
        st.events += 1;
        if st.recent.len() == RECENT_EVENTS_MAX {
            st.recent.pop_front();
        }
        st.recent.push_back(line);
    }

    pub(crate) fn hash(&self) -> TraceHash {
        TraceHash(self.lock().hash)
    }

    pub(crate) fn events(&self) -> u64 {
        self.lock().events
    }

    pub(crate) fn recent(&self) -> Vec<String> {
        self.lock().recent.iter().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, TraceState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether readable events are also printed as they happen (`FERROCORE_SIM_TRACE=1`), for
/// debugging a seed.
fn live() -> bool {
    static LIVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LIVE.get_or_init(|| std::env::var_os("FERROCORE_SIM_TRACE").is_some())
}

/// The time stamp events carry, as a number for [`Trace::mix`].
pub(crate) fn stamp() -> u64 {
    let SimTime(t) = now();
    t
}
