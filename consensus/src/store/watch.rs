//! The watch log: every change in revision order, with bounded retention.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::types::{Revision, StoreError, WatchEvent};

/// Events kept by default: enough for a watcher that misses a few seconds of heavy churn to
/// resume; older starts get [`StoreError::Compacted`] and must list again.
pub const WATCH_RETENTION_DEFAULT: usize = 10_000;

/// Consecutive watch events `(compacted_through, compacted_through + len]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct WatchLog {
    events: VecDeque<WatchEvent>,
    /// The newest revision no longer in the log (events after it are all kept).
    compacted_through: Revision,
    retention: usize,
}

impl WatchLog {
    pub(crate) fn new(retention: usize) -> Self {
        Self {
            events: VecDeque::new(),
            compacted_through: Revision(0),
            retention: retention.max(1),
        }
    }

    pub(crate) fn set_retention(&mut self, retention: usize) {
        self.retention = retention.max(1);
        self.trim();
    }

    pub(crate) fn push(&mut self, event: WatchEvent) {
        let expected = self.last_revision().next();
        assert_eq!(
            event.revision, expected,
            "watch log revisions must be consecutive"
        );
        self.events.push_back(event);
        self.trim();
    }

    fn trim(&mut self) {
        while self.events.len() > self.retention {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted_through = dropped.revision;
            }
        }
    }

    /// The newest revision recorded (or compacted).
    pub(crate) fn last_revision(&self) -> Revision {
        self.events
            .back()
            .map_or(self.compacted_through, |e| e.revision)
    }

    /// The oldest revision a watch can start from.
    pub(crate) fn oldest_start(&self) -> Revision {
        self.compacted_through
    }

    /// Up to `limit` events with revision greater than `after`, in order.
    pub(crate) fn since(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, StoreError> {
        if after < self.compacted_through {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: self.compacted_through,
            });
        }
        let skip = usize::try_from(after.0 - self.compacted_through.0).unwrap_or(usize::MAX);
        let skip = skip.min(self.events.len());
        Ok(self.events.range(skip..).take(limit).cloned().collect())
    }
}
