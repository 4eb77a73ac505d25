//! What a run is asked to do ([`Options`]) and the configuration one seed draws from it
//! ([`Config`]): cluster size, clients, workload shape and fault rates. In swarm mode every rate
//! and size is drawn per seed, and some faults are left out entirely (Groce et al., *Swarm
//! Testing*): many different configurations find more bugs than one with everything on.

use std::fmt;
use std::time::Duration;

use ferrocore_runtime::{Rng, SeededRng};

/// Safety steps per seed when the caller does not say.
pub const STEPS_DEFAULT: u64 = 2_000;

/// Simulated time per step: invariants run after every step.
pub(crate) const STEP: Duration = Duration::from_millis(10);

/// A bug the simulator plants on purpose to show it finds it (feature `planted-bugs`).
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum PlantedBug {
    /// The API acknowledges a write before Raft commits it.
    AckBeforeCommit,
    /// The IP allocator hands one address to two VirtualIPs.
    DoubleIp,
    /// The store applies updates without checking `resourceVersion`.
    SkipResourceVersionCheck,
}

impl PlantedBug {
    /// Every planted bug.
    pub const ALL: [Self; 3] = [
        Self::AckBeforeCommit,
        Self::DoubleIp,
        Self::SkipResourceVersionCheck,
    ];

    /// The name `--plant` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::AckBeforeCommit => "ack-before-commit",
            Self::DoubleIp => "double-ip",
            Self::SkipResourceVersionCheck => "skip-rv-check",
        }
    }

    /// The bug named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for PlantedBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Safety steps ([`STEP`] of simulated time each) before the liveness phase.
    pub steps: u64,
    /// Draw fault rates, sizes and workload shape per seed.
    pub swarm: bool,
    /// Also hash the executor's own trace (every poll, wake and timer): slower, and the
    /// strictest determinism check.
    pub executor_trace: bool,
    /// A bug to plant (only with the `planted-bugs` feature).
    pub planted: Option<PlantedBug>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            steps: STEPS_DEFAULT,
            swarm: false,
            executor_trace: false,
            planted: None,
        }
    }
}

/// Fault rates of one seed.
#[derive(Clone, Debug)]
pub(crate) struct FaultRates {
    /// Probability that one message is lost.
    pub(crate) drop: f64,
    /// Probability that a Raft message is delivered a second time, later.
    pub(crate) duplicate: f64,
    /// Every message takes at least this long.
    pub(crate) delay_min: Duration,
    /// Mean extra delay (exponential), which reorders messages on a link.
    pub(crate) delay_mean: Duration,
    /// Partitions started per simulated second.
    pub(crate) partitions_per_s: f64,
    /// Longest partition.
    pub(crate) partition_max: Duration,
    /// Controller crashes per simulated second.
    pub(crate) crashes_per_s: f64,
    /// Share of crashes that strike in the middle of a disk write (tearing it).
    pub(crate) crash_mid_write: f64,
    /// Longest time a crashed controller stays down.
    pub(crate) down_max: Duration,
}

/// Everything one seed runs with, drawn from its seed.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) controllers: u64,
    pub(crate) clients: u32,
    pub(crate) watchers: u32,
    /// Networks clients write (few keys: contention is the point).
    pub(crate) network_keys: u32,
    /// VirtualIPs clients create and delete (the allocator hands them IPs).
    pub(crate) vip_keys: u32,
    /// Addresses in the allocator's pool.
    pub(crate) pool_size: u32,
    pub(crate) faults: FaultRates,
    /// Share of operations that send an invalid object.
    pub(crate) invalid_ratio: f64,
    /// Share of writes that pin the `resourceVersion` the client last saw.
    pub(crate) pinned_ratio: f64,
    /// Longest pause between a client's operations.
    pub(crate) think_max: Duration,
    /// How long a client waits for a reply before it counts the outcome as unknown.
    pub(crate) client_timeout: Duration,
}

impl Config {
    /// The fixed configuration (not swarm): every fault on at a moderate rate.
    fn standard() -> Self {
        Self {
            controllers: 3,
            clients: 3,
            watchers: 2,
            network_keys: 4,
            vip_keys: 6,
            pool_size: 8,
            faults: FaultRates {
                drop: 0.02,
                duplicate: 0.02,
                delay_min: Duration::from_micros(200),
                delay_mean: Duration::from_millis(3),
                partitions_per_s: 0.3,
                partition_max: Duration::from_secs(3),
                crashes_per_s: 0.15,
                crash_mid_write: 0.5,
                down_max: Duration::from_secs(2),
            },
            invalid_ratio: 0.15,
            pinned_ratio: 0.4,
            think_max: Duration::from_millis(60),
            client_timeout: Duration::from_secs(2),
        }
    }

    /// The configuration of one seed.
    pub(crate) fn draw(rng: &mut SeededRng, swarm: bool) -> Self {
        let mut c = Self::standard();
        if !swarm {
            return c;
        }
        c.controllers = 3 + rng.below(3); // 3, 4 or 5
        c.clients = 1 + u32_below(rng, 4);
        c.watchers = u32_below(rng, 4);
        c.network_keys = 1 + u32_below(rng, 8);
        c.vip_keys = 1 + u32_below(rng, 10);
        c.pool_size = 2 + u32_below(rng, 12);
        c.invalid_ratio = unit(rng) * 0.3;
        c.pinned_ratio = unit(rng);
        c.think_max = Duration::from_millis(1 + rng.below(150));
        c.client_timeout = Duration::from_millis(500 + rng.below(3_000));
        c.faults = FaultRates::draw(rng);
        c
    }
}

impl FaultRates {
    /// Swarm: each fault is left out with some probability, the rest drawn from wide ranges.
    fn draw(rng: &mut SeededRng) -> Self {
        let on = |rng: &mut SeededRng, p: f64| rng.chance(p);
        let drop = if on(rng, 0.7) { unit(rng) * 0.15 } else { 0.0 };
        let duplicate = if on(rng, 0.5) { unit(rng) * 0.2 } else { 0.0 };
        let partitions = if on(rng, 0.7) { unit(rng) } else { 0.0 };
        let crashes = if on(rng, 0.7) { unit(rng) * 0.5 } else { 0.0 };
        Self {
            drop,
            duplicate,
            delay_min: Duration::from_micros(rng.below(5_000)),
            delay_mean: Duration::from_micros(100 + rng.below(40_000)),
            partitions_per_s: partitions,
            partition_max: Duration::from_millis(200 + rng.below(6_000)),
            crashes_per_s: crashes,
            crash_mid_write: unit(rng),
            down_max: Duration::from_millis(50 + rng.below(5_000)),
        }
    }
}

/// A uniform number in `[0, 1)`.
pub(crate) fn unit(rng: &mut dyn Rng) -> f64 {
    #[allow(clippy::cast_precision_loss)] // 53 bits fit a f64 mantissa exactly
    let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    x
}

/// A uniform `u32` in `0..n`.
pub(crate) fn u32_below(rng: &mut dyn Rng, n: u32) -> u32 {
    u32::try_from(rng.below(u64::from(n))).unwrap_or(0)
}

/// A uniform duration in `[0, max]`.
pub(crate) fn duration_below(rng: &mut dyn Rng, max: Duration) -> Duration {
    let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.below(max.saturating_add(1)))
}
