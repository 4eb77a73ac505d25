//! The durable log: openraft's storage conformance suite, then crash and damage recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrocore_runtime::{Disk, SeededRng, SimDisk, Tear};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderId;
use openraft::{EntryPayload, StorageError};
use serde_json::json;

use super::*;
use crate::snapshot::SnapshotDir;
use crate::state_machine::{SmShared, StateMachine};
use crate::store::{Command, JsonObject};
use crate::types::{CommittedLeaderId, NodeId, SimRuntime};

type Rt = SimRuntime;

struct Builder;

impl StoreBuilder<Types<Rt>, LogStore<Rt>, StateMachine<Rt>, ()> for Builder {
    async fn build(&self) -> Result<((), LogStore<Rt>, StateMachine<Rt>), StorageError<Types<Rt>>> {
        let disk: Arc<dyn Disk> = Arc::new(SimDisk::new());
        let log = LogStore::open(disk.clone(), Path::new("/n/raft/log"), 512).expect("open log");
        let snaps =
            SnapshotDir::open(disk, Path::new("/n/raft/snapshots")).expect("open snapshots");
        let shared = Arc::new(SmShared::new(snaps, 100).expect("state machine"));
        Ok(((), log, StateMachine::new(shared)))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Types::<Rt>::run(async {
        Suite::test_all(Builder).await.unwrap();
    });
}

fn dir() -> PathBuf {
    PathBuf::from("/n/raft/log")
}

fn entry(index: u64) -> Entry {
    let object =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{index}")}});
    let command = Command::Create {
        object: JsonObject::new(object),
        uid: format!("u{index}"),
        now: "2026-01-01T00:00:00Z".into(),
    };
    let leader = CommittedLeaderId::new(1, NodeId(1));
    Entry::new(LogId::new(leader, index), EntryPayload::Normal(command))
}

fn open(disk: &SimDisk, segment_bytes: u64) -> Result<LogStore<Rt>, LogError> {
    LogStore::open(Arc::new(disk.clone()), &dir(), segment_bytes)
}

async fn append(log: &mut LogStore<Rt>, range: std::ops::Range<u64>) {
    let entries: Vec<Entry> = range.map(entry).collect();
    log.append(entries, IOFlushed::noop()).await.unwrap();
}

async fn indexes(log: &mut LogStore<Rt>) -> Vec<u64> {
    let entries = log.try_get_log_entries(0..).await.unwrap();
    entries.iter().map(RaftEntry::index).collect()
}

fn segment_paths(disk: &SimDisk) -> Vec<PathBuf> {
    disk.list(&dir())
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("seg-"))
        .map(|n| dir().join(n))
        .collect()
}

#[test]
fn crash_loses_nothing_fsynced_and_a_torn_tail_is_cut() {
    Types::<Rt>::run(async {
        let disk = SimDisk::new();
        let mut log = open(&disk, 1024).unwrap();
        append(&mut log, 1..40).await;
        assert!(log.segment_count() > 2, "small segments roll");
        // The next write is torn by a crash in the middle of it: it was never acknowledged.
        let path = segment_paths(&disk).pop().unwrap();
        let before = disk.file_len(&path).unwrap();
        append(&mut log, 40..41).await;
        disk.cut(&path, before + 7).unwrap();
        disk.crash(Tear::LoseAll);
        let mut log = open(&disk, 1024).unwrap();
        assert_eq!(indexes(&mut log).await, (1..40).collect::<Vec<_>>());
        assert_eq!(
            disk.file_len(&path),
            Some(before),
            "torn tail truncated on disk"
        );
        append(&mut log, 40..45).await;
        let mut rng = SeededRng::new(9);
        disk.crash(Tear::Random(&mut rng));
        let mut log = open(&disk, 1024).unwrap();
        assert_eq!(
            indexes(&mut log).await,
            (1..45).collect::<Vec<_>>(),
            "all synced entries kept"
        );
    });
}

#[test]
fn a_flipped_byte_mid_log_stops_recovery_naming_file_and_offset() {
    Types::<Rt>::run(async {
        let disk = SimDisk::new();
        let mut log = open(&disk, 1 << 20).unwrap();
        append(&mut log, 1..20).await;
        let path = segment_paths(&disk).pop().unwrap();
        let len = disk.file_len(&path).unwrap();
        disk.corrupt_byte(&path, len / 2).unwrap();
        drop(log);
        let err = open(&disk, 1 << 20).unwrap_err();
        let LogError::Corrupt { file, offset, .. } = &err else {
            panic!("expected corruption, got {err}");
        };
        assert_eq!(file, &path);
        assert!(
            *offset <= len / 2 && *offset > 0,
            "offset {offset} points at the damaged record"
        );
        let message = err.to_string();
        assert!(
            message.contains("seg-") && message.contains(&format!("offset {offset}")),
            "{message}"
        );
    });
}

#[test]
fn a_damaged_last_record_is_not_mistaken_for_a_torn_write() {
    Types::<Rt>::run(async {
        let disk = SimDisk::new();
        let mut log = open(&disk, 1 << 20).unwrap();
        append(&mut log, 1..5).await;
        let path = segment_paths(&disk).pop().unwrap();
        let len = disk.file_len(&path).unwrap();
        disk.corrupt_byte(&path, len - 1).unwrap();
        assert!(matches!(
            open(&disk, 1 << 20),
            Err(LogError::Corrupt { .. })
        ));
    });
}

#[test]
fn truncate_and_purge_survive_restart_and_free_segments() {
    Types::<Rt>::run(async {
        let disk = SimDisk::new();
        let mut log = open(&disk, 1024).unwrap();
        append(&mut log, 1..60).await;
        let segments = log.segment_count();
        log.truncate_after(Some(entry(50).log_id())).await.unwrap();
        append(&mut log, 51..55).await;
        log.purge(entry(30).log_id()).await.unwrap();
        assert!(
            log.segment_count() < segments,
            "purge removes whole old segments"
        );
        let vote = Vote::new(2, NodeId(3));
        log.save_vote(&vote).await.unwrap();
        disk.crash(Tear::LoseAll);
        let mut log = open(&disk, 1024).unwrap();
        assert_eq!(indexes(&mut log).await, (31..55).collect::<Vec<_>>());
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(30));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(54));
    });
}

#[test]
fn purging_past_the_end_resets_the_log_for_a_snapshot() {
    Types::<Rt>::run(async {
        let disk = SimDisk::new();
        let mut log = open(&disk, 1024).unwrap();
        append(&mut log, 1..20).await;
        // A follower installed a snapshot at 99: its own entries are all obsolete.
        log.purge(entry(99).log_id()).await.unwrap();
        append(&mut log, 100..110).await;
        disk.crash(Tear::LoseAll);
        let mut log = open(&disk, 1024).unwrap();
        assert_eq!(indexes(&mut log).await, (100..110).collect::<Vec<_>>());
    });
}

#[test]
fn background_flush_acknowledges_only_durable_entries() {
    use crate::types::TokioRuntime;
    Types::<TokioRuntime>::run(async {
        let disk = SimDisk::new();
        let mut log = LogStore::<TokioRuntime>::open_with(
            Arc::new(disk.clone()),
            &dir(),
            1024,
            FlushMode::Background,
        )
        .unwrap();
        let mut waits = Vec::new();
        for i in 1..30 {
            let (tx, rx) = Types::<TokioRuntime>::oneshot();
            log.append(vec![entry(i)], IOFlushed::signal(tx))
                .await
                .unwrap();
            waits.push(rx);
        }
        for rx in waits {
            rx.await.unwrap().unwrap();
        }
        // Every acknowledged entry survives a power loss.
        disk.crash(Tear::LoseAll);
        let mut log = LogStore::<TokioRuntime>::open(Arc::new(disk.clone()), &dir(), 1024).unwrap();
        let entries = log.try_get_log_entries(0..).await.unwrap();
        assert_eq!(
            entries.iter().map(RaftEntry::index).collect::<Vec<_>>(),
            (1..30).collect::<Vec<_>>()
        );
    });
}
