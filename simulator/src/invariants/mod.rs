//! The rules a simulation checks, one file each, each naming the rule it checks and where the
//! rule comes from. Most run after every step; the linearizability check and the convergence
//! checks run at the end of the run.
//!
//! | file | rule | when |
//! |---|---|---|
//! | `election_safety` | at most one leader per leader id (Raft §3.6.3, openraft's form) | every step |
//! | `term_monotonic` | a controller's term never goes back, not even across a crash | every step |
//! | `revisions` | each controller's applied revisions are strictly increasing and gap-free | every step |
//! | `log_agreement` | all controllers applied the same change at each revision | every step |
//! | `durability` | no acknowledged write is lost (crashes and restarts included) | every step, and at the end |
//! | `watch_delivery` | every watcher sees every change exactly once, in order | every step |
//! | `admission` | invalid objects never reach the store; stored objects pass validation | every step |
//! | `ip_unique` | no IP is handed to two VirtualIPs | every step |
//! | `pool_capacity` | no pool hands out more than it holds | every step |
//! | `volume_attachment` | a volume is attached to at most one machine | every step |
//! | `recovery` | a crashed controller restarts from its disk | every step |
//! | `linearizability` | the client history is linearizable, per key (Porcupine-style) | end |
//! | `convergence` | once faults heal, everything converges within a bound | end |

use std::fmt;

pub(crate) mod admission;
pub(crate) mod convergence;
pub(crate) mod durability;
pub(crate) mod election_safety;
pub(crate) mod ip_unique;
pub(crate) mod linearizability;
pub(crate) mod log_agreement;
pub(crate) mod pool_capacity;
pub(crate) mod recovery;
pub(crate) mod revisions;
pub(crate) mod term_monotonic;
pub(crate) mod volume_attachment;
pub(crate) mod watch_delivery;

/// A broken rule.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Violation {
    /// The invariant's name (its file under `simulator/src/invariants/`).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}
