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
        })
    }

    /// Builds snapshots on a blocking thread of the async runtime (not under the simulator).
    pub(crate) fn offload_snapshots(mut self) -> Self {
        self.offload_snapshots = true;
        self
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
