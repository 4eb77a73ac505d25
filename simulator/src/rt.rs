//! The simulated runtime as the rest of the simulator sees it: virtual time, sleeping, spawning
//! and timeouts on openraft's single-threaded `SimRuntime`, plus a [`Clock`] over virtual time
//! for the controllers' timestamps.
//!
//! Everything here must run inside `SimRuntime::block_on`: there is no real time anywhere.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use ferrocore_consensus::SimRuntime;
use ferrocore_runtime::{Clock, MonoTime, WallTime};
use openraft::AsyncRuntime;
use openraft_rt_sim::SimInstant;

/// The runtime every task of a simulation runs on.
pub(crate) type Rt = SimRuntime;

/// The wall clock a simulation starts at (2026-01-01T00:00:00Z): fixed, so timestamps in
/// objects are the same in every run of a seed.
const WALL_ORIGIN: WallTime = WallTime::from_unix_nanos(1_767_225_600_000_000_000);

/// A point in simulated time: nanoseconds since the simulation started.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Never: the return time of an operation that never returned.
    pub const NEVER: Self = Self(u64::MAX);

    /// This time plus `d`.
    pub(crate) fn after(self, d: Duration) -> Self {
        Self(self.0.saturating_add(nanos(d)))
    }

    /// Simulated seconds, for reports.
    pub fn as_secs_f64(self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // reports only need milliseconds
        let secs = self.0 as f64 / 1e9;
        secs
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}s",
            self.0 / 1_000_000_000,
            (self.0 / 1_000_000) % 1000
        )
    }
}

/// Nanoseconds of `d`, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The current simulated time.
pub(crate) fn now() -> SimTime {
    let elapsed = <SimInstant as openraft::Instant>::now().elapsed_since_start();
    SimTime(nanos(elapsed))
}

/// Waits `d` of simulated time.
pub(crate) async fn sleep(d: Duration) {
    Rt::sleep(d).await;
}

/// Starts `future` as a task of the simulation; it runs when the executor polls it.
pub(crate) fn spawn<F>(future: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Detached: tasks report through shared state, never through their join handle.
    drop(Rt::spawn(future));
}

/// Runs `future` for at most `d` of simulated time; `None` if it did not finish.
pub(crate) async fn timeout<F: Future + Send>(d: Duration, future: F) -> Option<F::Output> {
    Rt::timeout(d, future).await.ok()
}

/// A [`Clock`] over simulated time, for the controllers' timestamps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SimClock;

impl Clock for SimClock {
    fn now(&self) -> MonoTime {
        MonoTime::from_nanos(now().0)
    }

    fn wall(&self) -> WallTime {
        WALL_ORIGIN + Duration::from_nanos(now().0)
    }
}
