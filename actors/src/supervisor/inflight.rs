//! At most one identical node request in flight per object (docs/control-plane.md): the cores
//! are level-triggered and re-emit a request for as long as the difference persists, so the
//! runtime sends a request (object + operation + generation) once, and again only when no
//! result came within a timeout (10 s doubling to 5 min by default) or after a failure's
//! backoff. Sans-IO: time is an argument; the hub wakes the object's actor at
//! [`Inflight::poll_timeout`] so a still-needed request is re-emitted.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrocore_api::ObjectKey;
use ferrocore_api::iri::protocol::CommandId;
use ferrocore_api::meta::Generation;
use ferrocore_runtime::MonoTime;

use super::config::backoff;

/// Requests tracked at once: one per object and operation; beyond it the oldest-deadline
/// entries are dropped (they are only a de-duplication hint, the cores re-emit what is needed).
pub(crate) const INFLIGHT_MAX: usize = 200_000;

/// What identifies "the same request".
#[derive(Clone, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) struct RequestKey {
    /// The object.
    pub(crate) object: ObjectKey,
    /// The IRI operation (`CreateMachine`, ...).
    pub(crate) operation: &'static str,
    /// The object's generation.
    pub(crate) generation: Generation,
}

#[derive(Clone, Debug)]
struct Entry {
    id: CommandId,
    /// Until when an identical request is not sent again.
    until: MonoTime,
    /// Sends so far (for the backoff).
    attempts: u32,
    /// Whether its expiry was reported by [`Inflight::expired`] (once per send).
    reported: bool,
}

/// The tracker.
#[derive(Clone, Debug)]
pub(crate) struct Inflight {
    base: Duration,
    max: Duration,
    entries: BTreeMap<RequestKey, Entry>,
    by_id: BTreeMap<CommandId, RequestKey>,
    next_id: u64,
}

impl Inflight {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            entries: BTreeMap::new(),
            by_id: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Whether to send `key` now; if so, the command id to send it with.
    pub(crate) fn admit(&mut self, now: MonoTime, key: RequestKey) -> Option<CommandId> {
        let attempts = match self.entries.get(&key) {
            Some(e) if now < e.until => return None,
            Some(e) => e.attempts,
            None => 0,
        };
        if self.entries.len() >= INFLIGHT_MAX {
            self.drop_oldest();
        }
        self.next_id += 1;
        let id = CommandId(self.next_id);
        if let Some(old) = self.entries.get(&key) {
            self.by_id.remove(&old.id);
        }
        self.by_id.insert(id, key.clone());
        let until = now + backoff(self.base, self.max, attempts);
        self.entries.insert(
            key,
            Entry {
                id,
                until,
                attempts: attempts.saturating_add(1),
                reported: false,
            },
        );
        Some(id)
    }

    /// A result arrived. On success the request is forgotten (a new emission is sent at once);
    /// on failure an identical one waits out the backoff. Returns the object it was about.
    pub(crate) fn result(&mut self, now: MonoTime, id: CommandId, ok: bool) -> Option<ObjectKey> {
        let key = self.by_id.remove(&id)?;
        if ok {
            self.entries.remove(&key);
        } else if let Some(e) = self.entries.get_mut(&key) {
            e.until = now + backoff(self.base, self.max, e.attempts.saturating_sub(1));
            e.reported = false;
        }
        Some(key.object)
    }

    /// Forgets everything about `object` (it is gone).
    pub(crate) fn forget(&mut self, object: &ObjectKey) {
        let keys: Vec<RequestKey> = self
            .entries
            .keys()
            .filter(|k| k.object == *object)
            .cloned()
            .collect();
        for k in keys {
            if let Some(e) = self.entries.remove(&k) {
                self.by_id.remove(&e.id);
            }
        }
    }

    /// The earliest time an entry expires that was not reported yet.
    pub(crate) fn poll_timeout(&self) -> Option<MonoTime> {
        self.entries
            .values()
            .filter(|e| !e.reported)
            .map(|e| e.until)
            .min()
    }

    /// The objects whose entries expired by `now` (their actors should reconcile again); the
    /// entries stay, keeping their attempt count for the next backoff.
    pub(crate) fn expired(&mut self, now: MonoTime) -> Vec<ObjectKey> {
        let mut out: Vec<ObjectKey> = Vec::new();
        for (k, e) in &mut self.entries {
            if e.until <= now && !e.reported {
                e.reported = true;
                out.push(k.object.clone());
            }
        }
        out.dedup();
        out
    }

    fn drop_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.until)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest
            && let Some(e) = self.entries.remove(&k)
        {
            self.by_id.remove(&e.id);
        }
    }

    /// How many requests are tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::Kind;

    use super::*;

    fn key(generation: i64) -> RequestKey {
        RequestKey {
            object: ObjectKey {
                kind: Kind::Machine,
                namespace: "ns".into(),
                name: "m".into(),
            },
            operation: "CreateMachine",
            generation: Generation(generation),
        }
    }

    fn at(secs: u64) -> MonoTime {
        MonoTime::ZERO + Duration::from_secs(secs)
    }

    #[test]
    fn identical_requests_are_sent_once_until_the_timeout() {
        let mut f = Inflight::new(Duration::from_secs(10), Duration::from_secs(300));
        let first = f.admit(at(0), key(1)).unwrap();
        assert!(f.admit(at(1), key(1)).is_none(), "duplicate suppressed");
        assert!(f.admit(at(1), key(2)).is_some(), "new generation goes out");
        assert_eq!(f.poll_timeout(), Some(at(10)));
        assert_eq!(f.expired(at(10)).len(), 1);
        assert!(f.expired(at(10)).is_empty(), "reported once");
        let second = f.admit(at(10), key(1)).unwrap();
        assert_ne!(first, second);
        assert!(f.admit(at(25), key(1)).is_none(), "second wait is 20 s");
        assert!(f.admit(at(30), key(1)).is_some());
    }

    #[test]
    fn results_clear_or_back_off() {
        let mut f = Inflight::new(Duration::from_secs(10), Duration::from_secs(300));
        let id = f.admit(at(0), key(1)).unwrap();
        assert!(f.result(at(1), id, true).is_some());
        assert_eq!(f.len(), 0);
        let id = f.admit(at(2), key(1)).unwrap();
        f.result(at(3), id, false);
        assert!(
            f.admit(at(4), key(1)).is_none(),
            "failure waits out its backoff"
        );
        assert!(f.admit(at(13), key(1)).is_some());
        assert!(
            f.result(at(13), CommandId(999), true).is_none(),
            "unknown id"
        );
        f.forget(&key(1).object);
        assert_eq!(f.len(), 0);
    }
}
