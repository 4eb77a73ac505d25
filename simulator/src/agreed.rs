//! The agreed log: the one sequence of changes every controller must have applied, built from
//! what the controllers applied (the first controller to report a revision defines it; every
//! other one must match it), and the object state it leads to.

use std::collections::BTreeMap;

use ferrocore_consensus::{EventType, JsonObject, ObjectKey, WatchEvent};

use crate::watcher::event_fp;
use crate::workload::{spec_token, status_token};

/// One change, as agreed.
#[derive(Clone, Debug)]
pub(crate) struct AgreedEntry {
    pub(crate) kind: EventType,
    pub(crate) key: ObjectKey,
    pub(crate) fp: u64,
    pub(crate) object: JsonObject,
}

/// The agreed log and the state after it.
#[derive(Debug, Default)]
pub(crate) struct AgreedLog {
    /// Entry `i` is revision `i + 1`.
    entries: Vec<AgreedEntry>,
    objects: BTreeMap<ObjectKey, JsonObject>,
    /// The revision where each write token first appeared: where that write took effect.
    tokens: BTreeMap<String, u64>,
}

impl AgreedLog {
    /// The last agreed revision.
    pub(crate) fn revision(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The entry at `revision`.
    pub(crate) fn get(&self, revision: u64) -> Option<&AgreedEntry> {
        let i = usize::try_from(revision.checked_sub(1)?).ok()?;
        self.entries.get(i)
    }

    /// Appends the change at the next revision (`event.revision` must be it).
    pub(crate) fn push(&mut self, event: &WatchEvent) {
        debug_assert_eq!(event.revision.0, self.revision() + 1);
        let value = event.object.value();
        for token in [spec_token(value), status_token(value)]
            .into_iter()
            .flatten()
        {
            self.tokens
                .entry(token.to_owned())
                .or_insert(event.revision.0);
        }
        match event.kind {
            EventType::Deleted => {
                self.objects.remove(&event.key);
            }
            EventType::Added | EventType::Modified => {
                self.objects.insert(event.key.clone(), event.object.clone());
            }
        }
        self.entries.push(AgreedEntry {
            kind: event.kind,
            key: event.key.clone(),
            fp: event_fp(event),
            object: event.object.clone(),
        });
    }

    /// The objects after the last agreed change.
    pub(crate) fn objects(&self) -> &BTreeMap<ObjectKey, JsonObject> {
        &self.objects
    }

    /// Where the write with `token` took effect, if it did.
    pub(crate) fn token_revision(&self, token: &str) -> Option<u64> {
        self.tokens.get(token).copied()
    }

    /// The entries after `revision`.
    pub(crate) fn entries_after(&self, revision: u64) -> &[AgreedEntry] {
        let from = usize::try_from(revision).unwrap_or(usize::MAX);
        self.entries.get(from..).unwrap_or(&[])
    }
}
