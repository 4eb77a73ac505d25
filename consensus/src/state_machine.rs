//! The Raft state machine: applies committed entries to the [`ObjectStore`], builds and installs
//! snapshots of it, and lets readers look at it.

use std::fmt::Debug;
use std::io::{self, Cursor};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{
    AsyncRuntime, EntryPayload, OptionalSend, StoredMembership as RaftStoredMembership,
};

use crate::codec;
use crate::snapshot::{SnapshotDir, SnapshotFile};
use crate::store::{ObjectStore, StoreImage};
use crate::types::{Applied, LogId, Snapshot, SnapshotMeta, StoredMembership, Types};

/// The applied state every replica holds.
#[derive(Debug)]
pub(crate) struct SmState {
    pub(crate) store: ObjectStore,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
    /// Last log index the newest snapshot (built or installed) covers; 0 without one.
    pub(crate) snapshot_index: u64,
}

/// The state shared by the state machine and the node's readers.
#[derive(Debug)]
pub(crate) struct SmShared {
    state: Mutex<SmState>,
    snapshots: Arc<SnapshotDir>,
    watch_retention: usize,
    /// Encode and write snapshots on a blocking thread (production): a snapshot of a large
    /// store takes tens of milliseconds, which on a 2-worker runtime stalled every write.
    /// The simulator's runtime has no blocking threads and keeps it off.
    offload_snapshots: bool,
    /// Defer policy snapshots until at least as many entries as the store holds objects have
    /// been applied since the last one (production): a snapshot encodes the whole store, so a
    /// fixed interval makes its cost per write grow with the store (3 objects per write at
    /// 30,000 objects and 10,000 entries). The log then holds at most max(interval, objects)
    /// entries before compaction. The simulator keeps the fixed interval.
    scale_snapshots: bool,
}

impl SmShared {
    pub(crate) fn new(
        snapshots: SnapshotDir,
        watch_retention: usize,
    ) -> Result<Self, crate::LogError> {
        let mut state = SmState {
            store: ObjectStore::new(watch_retention),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_index: 0,
        };
        if let Some(file) = snapshots.load_newest()? {
            state = restore(&file, watch_retention).map_err(|reason| crate::LogError::Corrupt {
                file: "snapshot".into(),
                offset: 0,
                reason,
            })?;
        }
        Ok(Self {
            state: Mutex::new(state),
            snapshots: Arc::new(snapshots),
            watch_retention,
            offload_snapshots: false,
            scale_snapshots: false,
        })
    }

    /// Builds snapshots on a blocking thread of the async runtime (not under the simulator).
    pub(crate) fn offload_snapshots(mut self) -> Self {
        self.offload_snapshots = true;
        self
    }

    /// Defers policy snapshots of a large store (see `scale_snapshots`).
    pub(crate) fn scale_snapshots(mut self) -> Self {
        self.scale_snapshots = true;
        self
    }

    /// Whether a policy (not forced) snapshot should wait: fewer entries applied since the last
    /// snapshot than the store has objects.
    fn defer_snapshot(&self) -> bool {
        if !self.scale_snapshots {
            return false;
        }
        let state = self.lock();
        let applied = state.last_applied.map_or(0, |l| l.index);
        let since = applied.saturating_sub(state.snapshot_index);
        since < u64::try_from(state.store.len()).unwrap_or(u64::MAX)
    }

    /// The applied state, locked briefly for a read.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SmState> {
        // Apply keeps the store consistent at every statement a panic could interrupt.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn restore(file: &SnapshotFile, watch_retention: usize) -> Result<SmState, String> {
    let image: StoreImage = codec::decode(&file.data).map_err(|e| e.to_string())?;
    let mut store = ObjectStore::from_image(image).map_err(|e| e.to_string())?;
    store.set_watch_retention(watch_retention);
    Ok(SmState {
        store,
        last_applied: file.meta.last_log_id,
        membership: file.meta.last_membership.clone(),
        snapshot_index: file.meta.last_log_id.map_or(0, |l| l.index),
    })
}

/// The state machine handed to openraft, for async runtime `RT`.
pub struct StateMachine<RT> {
    pub(crate) shared: Arc<SmShared>,
    _rt: PhantomData<fn() -> RT>,
}

impl<RT> StateMachine<RT> {
    pub(crate) fn new(shared: Arc<SmShared>) -> Self {
        Self {
            shared,
            _rt: PhantomData,
        }
    }
}

impl<RT> Debug for StateMachine<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine").finish_non_exhaustive()
    }
}

impl<RT: AsyncRuntime> RaftSnapshotBuilder<Types<RT>> for StateMachine<RT> {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        // Only cheap clones (shared objects) under the lock: apply and reads go on while the
        // image is encoded and written.
        let (meta, image) = {
            let state = self.shared.lock();
            let meta = SnapshotMeta {
                last_log_id: state.last_applied,
                last_membership: state.membership.clone(),
            };
            (meta, state.store.image())
        };
        let index = meta.last_log_id.map_or(0, |l| l.index);
        let snapshots = self.shared.snapshots.clone();
        let write = move || -> io::Result<SnapshotFile> {
            let file = SnapshotFile {
                meta,
                data: codec::encode(&image),
            };
            snapshots.save(&file)?;
            Ok(file)
        };
        let file = if self.shared.offload_snapshots {
            RT::spawn_blocking(write).await??
        } else {
            write()?
        };
        let mut state = self.shared.lock();
        state.snapshot_index = state.snapshot_index.max(index);
        drop(state);
        Ok(Snapshot {
            meta: file.meta,
            snapshot: Cursor::new(file.data),
        })
    }
}

impl<RT: AsyncRuntime> RaftStateMachine<Types<RT>> for StateMachine<RT> {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let state = self.shared.lock();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<Types<RT>>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let applied = {
                let mut state = self.shared.lock();
                state.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => Applied::Internal,
                    EntryPayload::Normal(command) => Applied::Command(state.store.apply(&command)),
                    EntryPayload::Membership(membership) => {
                        state.membership =
                            RaftStoredMembership::new(Some(entry.log_id), membership);
                        Applied::Internal
                    }
                }
            };
            if let Some(responder) = responder {
                responder.send(applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        Self::new(self.shared.clone())
    }

    async fn try_create_snapshot_builder(&mut self, force: bool) -> Option<Self::SnapshotBuilder> {
        // openraft asks again after another policy interval when refused.
        if !force && self.shared.defer_snapshot() {
            return None;
        }
        Some(Self::new(self.shared.clone()))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Cursor<Vec<u8>>,
    ) -> Result<(), io::Error> {
        let file = SnapshotFile {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let restored = restore(&file, self.shared.watch_retention)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.shared.snapshots.save(&file)?;
        *self.shared.lock() = restored;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let file = self
            .shared
            .snapshots
            .load_newest()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(file.map(|f| Snapshot {
            meta: f.meta,
            snapshot: Cursor::new(f.data),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ferrocore_runtime::SimDisk;
    use openraft::vote::RaftLeaderId;
    use serde_json::json;

    use super::*;
    use crate::store::{Command, JsonObject};
    use crate::types::{CommittedLeaderId, NodeId};

    fn shared() -> SmShared {
        let snaps = SnapshotDir::open(Arc::new(SimDisk::new()), Path::new("/s")).unwrap();
        SmShared::new(snaps, 100).unwrap()
    }

    fn fill(shared: &SmShared, objects: u64, applied: u64) {
        let mut state = shared.lock();
        for i in 0..objects {
            let object = json!({"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": format!("s{i}"), "namespace": "a"}});
            let command = Command::Create {
                object: JsonObject::new(object),
                uid: format!("u{i}"),
                now: "2026-01-01T00:00:00Z".into(),
            };
            state.store.apply(&command).unwrap();
        }
        let leader = CommittedLeaderId::new(1, NodeId(1));
        state.last_applied = Some(LogId::new(leader, applied));
    }

    #[test]
    fn policy_snapshots_wait_for_as_many_entries_as_objects_when_scaled() {
        let fixed = shared();
        fill(&fixed, 50, 10);
        assert!(!fixed.defer_snapshot(), "the fixed interval never defers");

        let scaled = shared().scale_snapshots();
        fill(&scaled, 50, 49);
        assert!(
            scaled.defer_snapshot(),
            "49 entries since the last snapshot < 50 objects"
        );
        scaled.lock().last_applied = Some(LogId::new(CommittedLeaderId::new(1, NodeId(1)), 50));
        assert!(!scaled.defer_snapshot());
        scaled.lock().snapshot_index = 20;
        assert!(
            scaled.defer_snapshot(),
            "30 entries since the snapshot at 20"
        );
    }
}
