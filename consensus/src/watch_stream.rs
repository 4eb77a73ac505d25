//! Following the watch log from a revision: every later change exactly once, in order.

use std::fmt::Debug;
use std::sync::Arc;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::metrics::RaftDataMetrics;
use openraft::type_config::alias::WatchReceiverOf;
use openraft::{AsyncRuntime, Raft};

use crate::state_machine::{SmShared, StateMachine};
use crate::store::{Revision, StoreError, WatchEvent};
use crate::types::Types;

/// Events handed out per [`WatchStream::next_batch`]: bounds the memory of one call.
pub const WATCH_BATCH_MAX: usize = 1_000;

/// Why a watch ended.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watcher fell behind the retained history: list again and watch from the list's
    /// revision.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node shut down.
    #[error("the node stopped")]
    Stopped,
}

/// A cursor on one node's watch log. It survives leader changes: the log is replicated, so the
/// same revision means the same change on every member.
pub struct WatchStream<RT: AsyncRuntime> {
    shared: Arc<SmShared>,
    applied: WatchReceiverOf<Types<RT>, RaftDataMetrics<Types<RT>>>,
    after: Revision,
    _raft: Raft<Types<RT>, StateMachine<RT>>,
}

impl<RT: AsyncRuntime> Debug for WatchStream<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

impl<RT: AsyncRuntime> WatchStream<RT> {
    pub(crate) fn new(
        raft: Raft<Types<RT>, StateMachine<RT>>,
        shared: Arc<SmShared>,
        after: Revision,
    ) -> Result<Self, StoreError> {
        shared.lock().store.watch_since(after, 0)?;
        Ok(Self {
            applied: raft.data_metrics(),
            shared,
            after,
            _raft: raft,
        })
    }

    /// The revision of the last event handed out (or the start).
    pub fn position(&self) -> Revision {
        self.after
    }

    /// Waits for and returns the next events (at most [`WATCH_BATCH_MAX`]), in revision order.
    ///
    /// # Errors
    /// [`WatchError::Store`] with `Compacted` if the watcher fell too far behind;
    /// [`WatchError::Stopped`] if the node shut down.
    pub async fn next_batch(&mut self) -> Result<Vec<WatchEvent>, WatchError> {
        loop {
            let events = self
                .shared
                .lock()
                .store
                .watch_since(self.after, WATCH_BATCH_MAX)?;
            if let Some(last) = events.last() {
                self.after = last.revision;
                return Ok(events);
            }
            self.applied
                .changed()
                .await
                .map_err(|_| WatchError::Stopped)?;
        }
    }
}
