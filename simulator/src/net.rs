//! The simulated network between controllers and clients: every message gets a fate drawn from
//! the seed (lost, or delivered after a delay), links can be cut one way or both, and Raft
//! messages can be delivered twice. Independent delays per message reorder them.
//!
//! It moves no bytes itself: the Raft transport ([`crate::raft_link`]), the clients' requests
//! and the watch streams ask it for a fate and then sleep for the delay.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ferrocore_runtime::{Rng, SeededRng};

use crate::options::{FaultRates, unit};
use crate::rt::nanos;
use crate::trace::Trace;

/// A process on the simulated network.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub(crate) enum Proc {
    /// A controller, by Raft node id.
    Controller(u64),
    /// A client (or watcher) process.
    Client(u32),
}

impl Proc {
    fn code(self) -> u64 {
        match self {
            Self::Controller(id) => id,
            Self::Client(c) => 1_000 + u64::from(c),
        }
    }
}

impl fmt::Display for Proc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Controller(id) => write!(f, "c{id}"),
            Self::Client(c) => write!(f, "client{c}"),
        }
    }
}

/// What happens to one message.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Fate {
    /// It never arrives.
    Lost,
    /// It arrives after this delay.
    Deliver(Duration),
}

/// Per-message fault rates currently in force.
#[derive(Clone, Debug)]
struct LinkRates {
    drop: f64,
    duplicate: f64,
    delay_min: Duration,
    delay_mean: Duration,
}

#[derive(Debug)]
struct NetState {
    rates: LinkRates,
    /// Cut links `(from, to)`: messages from `from` to `to` are lost.
    blocked: BTreeSet<(Proc, Proc)>,
    rng: SeededRng,
}

/// The network. Clones share it.
#[derive(Clone, Debug)]
pub(crate) struct Net {
    inner: Arc<Mutex<NetState>>,
    trace: Trace,
}

impl Net {
    pub(crate) fn new(rng: SeededRng, faults: &FaultRates, trace: Trace) -> Self {
        let rates = LinkRates {
            drop: faults.drop,
            duplicate: faults.duplicate,
            delay_min: faults.delay_min,
            delay_mean: faults.delay_mean,
        };
        Self {
            inner: Arc::new(Mutex::new(NetState {
                rates,
                blocked: BTreeSet::new(),
                rng,
            })),
            trace,
        }
    }

    /// The fate of one message from `from` to `to`.
    pub(crate) fn fate(&self, from: Proc, to: Proc) -> Fate {
        let fate = {
            let mut st = self.lock();
            let p = st.rates.drop;
            if st.blocked.contains(&(from, to)) || st.rng.chance(p) {
                Fate::Lost
            } else {
                let rates = st.rates.clone();
                Fate::Deliver(delay(&mut st.rng, &rates))
            }
        };
        let code = match fate {
            Fate::Lost => u64::MAX,
            Fate::Deliver(d) => nanos(d),
        };
        self.trace.mix(b'n', &[from.code(), to.code(), code]);
        fate
    }

    /// Whether a message from `from` to `to` is also delivered a second time, and after what
    /// delay.
    pub(crate) fn duplicate(&self, from: Proc, to: Proc) -> Option<Duration> {
        let extra = {
            let mut st = self.lock();
            let p = st.rates.duplicate;
            if st.blocked.contains(&(from, to)) || !st.rng.chance(p) {
                None
            } else {
                let rates = st.rates.clone();
                // A replay comes late: after a few ordinary delays.
                let d = delay(&mut st.rng, &rates) * 3 + delay(&mut st.rng, &rates);
                Some(d)
            }
        };
        if let Some(d) = extra {
            self.trace.mix(b'd', &[from.code(), to.code(), nanos(d)]);
        }
        extra
    }

    /// Cuts the link from `from` to `to` (one way).
    pub(crate) fn block(&self, from: Proc, to: Proc) {
        self.lock().blocked.insert((from, to));
    }

    /// Cuts both directions between `a` and `b`.
    pub(crate) fn partition(&self, a: Proc, b: Proc) {
        self.block(a, b);
        self.block(b, a);
    }

    /// Repairs every cut link.
    pub(crate) fn heal_all(&self) {
        self.lock().blocked.clear();
    }

    /// The liveness phase's network: nothing lost or duplicated, short delays.
    pub(crate) fn calm(&self) {
        let mut st = self.lock();
        st.rates = LinkRates {
            drop: 0.0,
            duplicate: 0.0,
            delay_min: Duration::from_micros(100),
            delay_mean: Duration::from_micros(500),
        };
        st.blocked.clear();
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `delay_min` plus an exponential draw of mean `delay_mean`, capped at ten means.
fn delay(rng: &mut SeededRng, rates: &LinkRates) -> Duration {
    let u = unit(rng);
    let factor = (-(1.0 - u).ln()).min(10.0);
    rates.delay_min + rates.delay_mean.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(drop: f64) -> Net {
        let rates = FaultRates {
            drop,
            duplicate: 0.0,
            delay_min: Duration::from_millis(1),
            delay_mean: Duration::from_millis(5),
            partitions_per_s: 0.0,
            partition_max: Duration::ZERO,
            crashes_per_s: 0.0,
            crash_mid_write: 0.0,
            down_max: Duration::ZERO,
        };
        Net::new(SeededRng::new(1), &rates, Trace::new())
    }

    #[test]
    fn a_cut_link_loses_every_message_one_way_only() {
        let net = net(0.0);
        let (a, b) = (Proc::Controller(1), Proc::Client(0));
        net.block(a, b);
        for _ in 0..100 {
            assert_eq!(net.fate(a, b), Fate::Lost);
            assert!(matches!(net.fate(b, a), Fate::Deliver(_)));
        }
        net.heal_all();
        assert!(matches!(net.fate(a, b), Fate::Deliver(_)));
    }

    #[test]
    fn delays_vary_and_respect_the_minimum() {
        let net = net(0.0);
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            let Fate::Deliver(d) = net.fate(Proc::Controller(1), Proc::Controller(2)) else {
                panic!("no drops configured");
            };
            assert!(d >= Duration::from_millis(1));
            assert!(d <= Duration::from_millis(51));
            seen.insert(d);
        }
        assert!(seen.len() > 150, "delays differ, so messages reorder");
    }

    #[test]
    fn drop_rate_is_about_what_was_asked() {
        let net = net(0.25);
        let lost = (0..4_000)
            .filter(|_| net.fate(Proc::Client(1), Proc::Controller(1)) == Fate::Lost)
            .count();
        assert!((800..1_200).contains(&lost), "lost {lost} of 4000");
    }
}
