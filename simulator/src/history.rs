//! The recorder of the client history: every operation a client invoked, with its simulated
//! invocation and response times and what it observed. The linearizability check, the
//! durability check and the admission check read it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrocore_consensus::ObjectKey;

use crate::front::{Refusal, Reply};
use crate::rt::SimTime;
use crate::trace::fingerprint;

/// What a client asked for.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) enum OpKind {
    Create,
    Update,
    UpdateStatus,
    Patch,
    Delete,
    Get,
    List,
}

impl OpKind {
    pub(crate) fn is_write(self) -> bool {
        !matches!(self, Self::Get | Self::List)
    }
}

/// What a client saw.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Outcome {
    /// No reply yet.
    Pending,
    /// The write went through at `revision`; `rv` and `fp` are the object's after it (for a
    /// removal, its last state's).
    Written {
        revision: u64,
        rv: u64,
        fp: u64,
        removed: bool,
    },
    /// The read found the object at `rv` with fingerprint `fp`.
    Found {
        rv: u64,
        fp: u64,
    },
    /// The list at `revision`: `(key, rv, fp)` of every item.
    Listed {
        revision: u64,
        items: Vec<(ObjectKey, u64, u64)>,
    },
    NotFound,
    AlreadyExists,
    Conflict,
    Invalid,
    /// Refused with nothing written.
    Unavailable,
    /// No reply in time, or the reply said it may or may not have happened.
    Unknown,
}

impl Outcome {
    pub(crate) fn from_reply(result: &Result<Reply, Refusal>) -> Self {
        match result {
            Ok(Reply::Written {
                revision,
                object,
                removed,
            }) => Self::Written {
                revision: revision.0,
                rv: rv_of(object.value()),
                fp: object_fp(object.value()),
                removed: *removed,
            },
            Ok(Reply::Found { object }) => Self::Found {
                rv: rv_of(object.value()),
                fp: object_fp(object.value()),
            },
            Ok(Reply::Listed { revision, items }) => Self::Listed {
                revision: revision.0,
                items: items
                    .iter()
                    .filter_map(|o| {
                        let key = ObjectKey::of(o.value()).ok()?;
                        Some((key, rv_of(o.value()), object_fp(o.value())))
                    })
                    .collect(),
            },
            Err(Refusal::NotFound) => Self::NotFound,
            Err(Refusal::AlreadyExists) => Self::AlreadyExists,
            Err(Refusal::Conflict) => Self::Conflict,
            Err(Refusal::Invalid(_)) => Self::Invalid,
            Err(Refusal::Unavailable(_)) => Self::Unavailable,
            Err(Refusal::Unknown(_)) => Self::Unknown,
        }
    }

    /// A short name for the trace.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Pending => "pending".into(),
            Self::Written {
                revision, removed, ..
            } => {
                format!("ok@{revision}{}", if *removed { " removed" } else { "" })
            }
            Self::Found { rv, .. } => format!("found@{rv}"),
            Self::Listed { revision, items } => format!("listed {} @{revision}", items.len()),
            Self::NotFound => "not-found".into(),
            Self::AlreadyExists => "exists".into(),
            Self::Conflict => "conflict".into(),
            Self::Invalid => "invalid".into(),
            Self::Unavailable => "unavailable".into(),
            Self::Unknown => "unknown".into(),
        }
    }
}

/// The fingerprint of an object as stored (its JSON text; maps are ordered, so it is stable).
pub(crate) fn object_fp(value: &serde_json::Value) -> u64 {
    fingerprint(value.to_string().as_bytes())
}

/// `metadata.resourceVersion` as a number (0 if absent).
pub(crate) fn rv_of(value: &serde_json::Value) -> u64 {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(serde_json::Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// One operation of one client.
#[derive(Clone, Debug)]
pub(crate) struct OpRecord {
    pub(crate) id: u64,
    pub(crate) client: u32,
    pub(crate) kind: OpKind,
    pub(crate) key: ObjectKey,
    /// The object or patch was valid: admission must accept it (invalid ones must never reach
    /// the store).
    pub(crate) valid: bool,
    /// The unique token the write carries (annotation for spec writes, status for status
    /// writes), to find its effect in the log.
    pub(crate) token: Option<String>,
    /// The `resourceVersion` the client pinned.
    pub(crate) pinned: Option<u64>,
    pub(crate) controller: u64,
    pub(crate) call: SimTime,
    pub(crate) ret: SimTime,
    pub(crate) outcome: Outcome,
}

/// Every client's operations. Clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    inner: Arc<Mutex<Vec<OpRecord>>>,
}

impl History {
    /// Records an invocation; returns its index for [`complete`](Self::complete).
    pub(crate) fn invoke(&self, mut record: OpRecord) -> usize {
        let mut ops = self.lock();
        record.id = ops.len() as u64;
        ops.push(record);
        ops.len() - 1
    }

    /// Records the response of operation `index`.
    pub(crate) fn complete(&self, index: usize, outcome: Outcome, at: SimTime) {
        if let Some(op) = self.lock().get_mut(index) {
            op.outcome = outcome;
            op.ret = at;
        }
    }

    /// Operations `from..` (for checks that walk the history incrementally).
    pub(crate) fn since(&self, from: usize) -> Vec<OpRecord> {
        self.lock()
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Every operation.
    pub(crate) fn all(&self) -> Vec<OpRecord> {
        self.lock().clone()
    }

    /// Operations still waiting for a reply.
    pub(crate) fn pending(&self) -> usize {
        self.lock()
            .iter()
            .filter(|op| op.outcome == Outcome::Pending)
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<OpRecord>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
