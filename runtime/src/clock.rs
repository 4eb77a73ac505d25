//! Time as the rest of ferrocore sees it: a monotonic clock for timeouts and a wall clock for
//! timestamps, both behind [`Clock`] so a simulator can move them by hand.

use std::fmt::Debug;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point on a monotonic clock: nanoseconds since the clock's own origin.
///
/// Only differences between two `MonoTime`s of the same clock mean anything.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct MonoTime(u64);

impl MonoTime {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);

    /// A point `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for MonoTime {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(duration_nanos(rhs)))
    }
}

impl Sub for MonoTime {
    type Output = Duration;

    fn sub(self, rhs: Self) -> Duration {
        self.saturating_since(rhs)
    }
}

/// A point in civil time: nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct WallTime(i64);

impl WallTime {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// A point `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_unix_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded towards negative infinity).
    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
}

impl Add<Duration> for WallTime {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        let nanos = i64::try_from(rhs.as_nanos()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(nanos))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The source of time for every decision in ferrocore.
///
/// `now` never goes backwards. `wall` may jump (NTP, or a simulator's choice) and is only for
/// timestamps shown to users, never for timeouts.
pub trait Clock: Debug + Send + Sync {
    /// The current monotonic time.
    fn now(&self) -> MonoTime;
    /// The current wall-clock time.
    fn wall(&self) -> WallTime;
}

/// The operating system's clocks.
#[derive(Clone, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is the moment of this call.
    #[allow(clippy::disallowed_methods)] // runtime is where real time is read
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // runtime is where real time is read
    fn now(&self) -> MonoTime {
        MonoTime(duration_nanos(self.origin.elapsed()))
    }

    #[allow(clippy::disallowed_methods)] // runtime is where real time is read
    fn wall(&self) -> WallTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        WallTime(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to: for tests and the simulator.
///
/// Clones share the same time, so a test can hand one clone to the code under test and advance
/// another.
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<(MonoTime, WallTime)>>,
}

impl ManualClock {
    /// A clock at monotonic zero whose wall time is `wall`.
    pub fn new(wall: WallTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new((MonoTime::ZERO, wall))),
        }
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut guard = self.lock();
        guard.0 = guard.0 + by;
        guard.1 = guard.1 + by;
    }

    /// Moves the monotonic clock to `to` if that is later than now (it never goes back) and the
    /// wall clock by the same amount.
    pub fn advance_to(&self, to: MonoTime) {
        let now = self.lock().0;
        if to > now {
            self.advance(to - now);
        }
    }

    /// Sets the wall clock, as an NTP step would; the monotonic clock is unaffected.
    pub fn set_wall(&self, wall: WallTime) {
        self.lock().1 = wall;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (MonoTime, WallTime)> {
        // A poisoned lock only means another thread panicked while holding two integers; the
        // integers are still consistent, so keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> MonoTime {
        self.lock().0
    }

    fn wall(&self) -> WallTime {
        self.lock().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(WallTime::from_unix_nanos(1_000));
        let other = clock.clone();
        assert_eq!(clock.now(), MonoTime::ZERO);
        other.advance(Duration::from_millis(5));
        assert_eq!(clock.now(), MonoTime::from_nanos(5_000_000));
        assert_eq!(clock.wall(), WallTime::from_unix_nanos(5_001_000));
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let clock = ManualClock::new(WallTime::UNIX_EPOCH);
        clock.advance_to(MonoTime::from_nanos(10));
        clock.advance_to(MonoTime::from_nanos(3));
        assert_eq!(clock.now(), MonoTime::from_nanos(10));
    }

    #[test]
    fn system_clock_is_monotonic_and_near_now() {
        let clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        // 2020-01-01 in nanoseconds: the real wall clock is certainly later.
        assert!(clock.wall().as_unix_nanos() > 1_577_836_800_000_000_000);
    }

    #[test]
    fn wall_seconds_round_down_before_epoch() {
        assert_eq!(WallTime::from_unix_nanos(-1).as_unix_seconds(), -1);
        assert_eq!(
            WallTime::from_unix_nanos(1_999_999_999).as_unix_seconds(),
            1
        );
    }
}
