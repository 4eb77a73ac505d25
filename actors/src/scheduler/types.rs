//! The scheduler's vocabulary: pools and objects as it sees them, and its decisions.

use std::collections::BTreeMap;
use std::fmt;

use ferrocore_api::meta::Uid;
use ferrocore_api::{Labels, ObjectKey, Taint, Toleration};

/// The pool label that names a pool's zone.
pub const ZONE_LABEL: &str = "topology.ironcore.dev/zone";

/// How much of one class a pool holds.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Capacity {
    /// This many units: machines for a machine class, bytes for a volume class.
    Limited(i128),
    /// No limit (bucket classes): the least-loaded pool wins.
    Unlimited,
}

/// A pool as the scheduler sees it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PoolInfo {
    /// The pool's name.
    pub name: String,
    /// Its labels (selectors match them; `topology.ironcore.dev/zone` is its zone).
    pub labels: Labels,
    /// Its taints.
    pub taints: Vec<Taint>,
    /// Whether its `Ready` condition is `True`.
    pub ready: bool,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// The classes it offers and their total capacity.
    pub classes: BTreeMap<String, Capacity>,
}

impl PoolInfo {
    /// The pool's zone ("" when it has none: such pools form one zone of their own).
    pub fn zone(&self) -> &str {
        self.labels.get(ZONE_LABEL).map_or("", String::as_str)
    }
}

/// An object to place (or already placed) as the scheduler sees it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Schedulable {
    /// The object.
    pub key: ObjectKey,
    /// Its uid (a recreated object is a new one).
    pub uid: Uid,
    /// The class it needs.
    pub class: String,
    /// How much of the class: 1 for machines and buckets, bytes for volumes.
    pub amount: i128,
    /// Equality selector on pool labels.
    pub selector: Labels,
    /// Its tolerations.
    pub tolerations: Vec<Toleration>,
    /// A zone to prefer (an ephemeral volume's machine's zone).
    pub preferred_zone: Option<String>,
    /// The pool it is bound to, if it is.
    pub bound: Option<String>,
    /// Whether it is being deleted (never placed then).
    pub deleting: bool,
}

/// Why an object cannot be placed now; `reason()` is a condition reason.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Unschedulable {
    /// No pool is `Ready`.
    NoPoolReady,
    /// No ready pool matches the object's pool selector.
    NoPoolMatchesSelector,
    /// Every ready, matching pool has a taint the object does not tolerate.
    TaintsNotTolerated,
    /// Matching pools lack the class or room for it; the detail says which.
    InsufficientCapacity(String),
}

impl Unschedulable {
    /// The CamelCase reason for a `Scheduled=False` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoPoolReady => "NoPoolReady",
            Self::NoPoolMatchesSelector => "NoPoolMatchesSelector",
            Self::TaintsNotTolerated => "TaintsNotTolerated",
            Self::InsufficientCapacity(_) => "InsufficientCapacity",
        }
    }
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPoolReady => f.write_str("NoPoolReady: no pool is ready"),
            Self::NoPoolMatchesSelector => {
                f.write_str("NoPoolMatchesSelector: no ready pool matches the pool selector")
            }
            Self::TaintsNotTolerated => f.write_str(
                "TaintsNotTolerated: every ready, matching pool has a taint that is not tolerated",
            ),
            Self::InsufficientCapacity(why) => write!(f, "InsufficientCapacity: {why}"),
        }
    }
}

/// What the scheduler decided for one object.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Decision {
    /// Bind it to `pool` (the capacity is assumed taken until the bind is seen or fails).
    Bind {
        /// The object.
        key: ObjectKey,
        /// Its uid (the bind must be guarded by it).
        uid: Uid,
        /// The chosen pool.
        pool: String,
    },
    /// It cannot be placed now; it is retried whenever a pool changes or capacity is freed.
    Unschedulable {
        /// The object.
        key: ObjectKey,
        /// Its uid.
        uid: Uid,
        /// Why.
        why: Unschedulable,
    },
}
