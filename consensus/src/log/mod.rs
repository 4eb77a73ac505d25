//! The durable Raft log: segment files of checksummed records plus a small hard-state file
//! (vote and purge point), all through the runtime's `Disk` seam.
//!
//! Every write is fsynced before openraft hears it is done: `append` calls its `IOFlushed`
//! callback only after the segment is synced (and its directory, when a segment was created);
//! `save_vote` returns only after the hard state is replaced atomically.

mod record;
mod segments;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrocore_runtime::{Disk, write_atomic};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AsyncRuntime, OptionalSend};
use serde::{Deserialize, Serialize};

pub(crate) use record::{Found, decode_at, encode as encode_record};
pub use segments::LogError;
use segments::Segments;

use crate::codec;
use crate::types::{Entry, LogId, Types, Vote};

/// Default segment size: large enough that rolling is rare, small enough that purging after a
/// snapshot frees space promptly.
pub const SEGMENT_BYTES_DEFAULT: u64 = 16 << 20;

const HARD_STATE: &str = "hardstate";

/// What must survive a restart besides the entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct HardState {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

#[derive(Debug, Default)]
struct Mem {
    entries: BTreeMap<u64, Entry>,
    hard: HardState,
}

#[derive(Debug)]
struct Writer {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    segments: Segments,
    hard: HardState,
}

impl Writer {
    fn save_hard(&mut self, hard: HardState) -> io::Result<()> {
        let mut bytes = Vec::new();
        encode_record(&codec::encode(&hard), &mut bytes);
        write_atomic(&*self.disk, &self.dir.join(HARD_STATE), &bytes)?;
        self.hard = hard;
        Ok(())
    }

    /// Records `log_id` as purged (durably), then removes the segments wholly behind it.
    fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let hard = HardState {
            vote: self.hard.vote,
            purged: Some(log_id),
        };
        self.save_hard(hard)?;
        self.segments.purge_through(log_id.index())
    }
}

#[derive(Debug)]
struct Shared {
    /// What readers see: taken briefly, never across disk I/O.
    mem: Mutex<Mem>,
    /// Serializes writes to disk, which openraft also requires.
    writer: Arc<Mutex<Writer>>,
}

/// How appended entries reach the disk.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum FlushMode {
    /// fsync inside `append`, on the calling task: deterministic, for tests and the simulator.
    #[default]
    Inline,
    /// A dedicated writer thread writes queued appends and fsyncs them together (group commit),
    /// then fires their callbacks, so Raft keeps replicating while the disk syncs: production.
    Background,
}

/// Appends queued for the writer thread: a full queue makes `append` wait (backpressure).
const FLUSH_QUEUE_MAX: usize = 1024;
/// Appends made durable by one fsync at most: bounds the latency a batch adds to its first job.
const FLUSH_BATCH_MAX: usize = 256;

enum Job<RT: AsyncRuntime> {
    Append(Vec<Entry>, IOFlushed<Types<RT>>),
    /// Purge behind a snapshot, in order with the appends around it. Nobody waits for it: a
    /// purge that is not durable yet only means recovery finds entries the snapshot also holds.
    Purge(LogId),
    /// Replies once every job queued before it is durable (or failed).
    Barrier(std::sync::mpsc::SyncSender<io::Result<()>>),
}

/// The durable Raft log of one node, for async runtime `RT`. Clones share the same log.
pub struct LogStore<RT: AsyncRuntime> {
    shared: Arc<Shared>,
    flusher: Option<std::sync::mpsc::SyncSender<Job<RT>>>,
}

impl<RT: AsyncRuntime> Clone for LogStore<RT> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            flusher: self.flusher.clone(),
        }
    }
}

impl<RT: AsyncRuntime> Debug for LogStore<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent before it can panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<RT: AsyncRuntime> LogStore<RT> {
    /// Opens (or creates) the log in `dir`, recovering from a crash.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] naming file and byte offset if data is damaged in a way a crash
    /// cannot explain; [`LogError::Io`] if the disk fails.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path, segment_bytes_max: u64) -> Result<Self, LogError> {
        Self::open_with(disk, dir, segment_bytes_max, FlushMode::Inline)
    }

    /// [`open`](Self::open) with a choice of how appends are made durable.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`LogError::Io`] if the writer thread cannot start.
    pub fn open_with(
        disk: Arc<dyn Disk>,
        dir: &Path,
        segment_bytes_max: u64,
        flush: FlushMode,
    ) -> Result<Self, LogError> {
        let (mut segments, entries) = Segments::open(disk.clone(), dir, segment_bytes_max)?;
        let hard = read_hard_state(&*disk, &dir.join(HARD_STATE))?;
        let purged = hard.purged.map(|l| l.index());
        if let Some(purged) = purged {
            // Finish a purge that a crash interrupted after the hard state was saved.
            segments.purge_through(purged).map_err(LogError::io(dir))?;
        }
        let entries = entries
            .into_iter()
            .filter(|e| purged.is_none_or(|p| e.index() > p))
            .map(|e| (e.index(), e))
            .collect();
        let mem = Mem {
            entries,
            hard: hard.clone(),
        };
        let writer = Writer {
            disk,
            dir: dir.to_path_buf(),
            segments,
            hard,
        };
        let writer = Arc::new(Mutex::new(writer));
        let flusher = match flush {
            FlushMode::Inline => None,
            FlushMode::Background => Some(start_flusher::<RT>(writer.clone(), dir)?),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                mem: Mutex::new(mem),
                writer,
            }),
            flusher,
        })
    }

    /// Waits until every queued append is durable (no-op without a writer thread).
    fn barrier(&self) -> io::Result<()> {
        let Some(flusher) = &self.flusher else {
            return Ok(());
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        flusher
            .send(Job::Barrier(tx))
            .map_err(|_| io::Error::other("log writer thread stopped"))?;
        rx.recv()
            .map_err(|_| io::Error::other("log writer thread stopped"))?
    }

    /// Number of segment files on disk (for tests of compaction).
    pub fn segment_count(&self) -> usize {
        lock(&self.shared.writer).segments.segment_count()
    }

    /// The index range of entries held, as `(first, last)`.
    pub fn index_range(&self) -> Option<(u64, u64)> {
        let mem = lock(&self.shared.mem);
        let first = mem.entries.keys().next()?;
        let last = mem.entries.keys().next_back()?;
        Some((*first, *last))
    }
}

fn start_flusher<RT: AsyncRuntime>(
    writer: Arc<Mutex<Writer>>,
    dir: &Path,
) -> Result<std::sync::mpsc::SyncSender<Job<RT>>, LogError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(FLUSH_QUEUE_MAX);
    std::thread::Builder::new()
        .name("ferrocore-log".into())
        .spawn(move || flusher_loop::<RT>(&writer, &rx))
        .map_err(LogError::io(dir))?;
    Ok(tx)
}

/// The writer thread: takes whatever is queued (up to a batch), writes it, fsyncs once, then
/// answers every job of the batch in order. Ends when the last `LogStore` clone is dropped.
///
/// A failed write, fsync or purge breaks the log for good: every later job fails too, so Raft
/// (which stops on a storage error) hears of it even when the failed job was a purge nobody
/// waits for.
fn flusher_loop<RT: AsyncRuntime>(writer: &Mutex<Writer>, rx: &std::sync::mpsc::Receiver<Job<RT>>) {
    let mut broken: Option<(io::ErrorKind, String)> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < FLUSH_BATCH_MAX {
            let Ok(job) = rx.try_recv() else { break };
            jobs.push(job);
        }
        if broken.is_none()
            && let Err(e) = write_batch(&mut lock(writer), &jobs)
        {
            broken = Some((e.kind(), e.to_string()));
        }
        for job in jobs {
            let outcome = match &broken {
                None => Ok(()),
                Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            };
            match job {
                Job::Append(_, callback) => callback.io_completed(outcome),
                Job::Purge(_) => {}
                Job::Barrier(reply) => {
                    // The waiter may have given up; nothing else to tell.
                    let _ = reply.send(outcome);
                }
            }
        }
    }
}

/// Writes a batch in queue order and makes it durable with one fsync.
fn write_batch<RT: AsyncRuntime>(writer: &mut Writer, jobs: &[Job<RT>]) -> io::Result<()> {
    for job in jobs {
        match job {
            Job::Append(entries, _) => writer.segments.write(entries)?,
            Job::Purge(log_id) => writer.purge(*log_id)?,
            Job::Barrier(_) => {}
        }
    }
    writer.segments.flush()
}

fn read_hard_state(disk: &dyn Disk, path: &Path) -> Result<HardState, LogError> {
    if !disk.exists(path) {
        return Ok(HardState::default());
    }
    let bytes = disk.read(path).map_err(LogError::io(path))?;
    let corrupt = |reason: String| LogError::Corrupt {
        file: path.to_path_buf(),
        offset: 0,
        reason,
    };
    // Written atomically, so anything but one whole record is damage, not a torn write.
    match decode_at(&bytes, 0) {
        Found::Record { payload, next } if next == bytes.len() => {
            codec::decode(payload).map_err(|e| corrupt(e.to_string()))
        }
        Found::Record { .. } => Err(corrupt("trailing bytes".into())),
        Found::Incomplete => Err(corrupt("incomplete record".into())),
        Found::Corrupt(reason) => Err(corrupt(reason.into())),
    }
}

impl<RT: AsyncRuntime> RaftLogReader<Types<RT>> for LogStore<RT> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let mem = lock(&self.shared.mem);
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(lock(&self.shared.mem).hard.vote)
    }
}

impl<RT: AsyncRuntime> RaftLogStorage<Types<RT>> for LogStore<RT> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Types<RT>>, io::Error> {
        let mem = lock(&self.shared.mem);
        let purged = mem.hard.purged;
        let last = mem
            .entries
            .values()
            .next_back()
            .map(RaftEntry::log_id)
            .or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.barrier()?;
        let mut writer = lock(&self.shared.writer);
        let hard = HardState {
            vote: Some(*vote),
            purged: writer.hard.purged,
        };
        writer.save_hard(hard)?;
        lock(&self.shared.mem).hard.vote = Some(*vote);
        Ok(())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<Types<RT>>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        {
            let mut mem = lock(&self.shared.mem);
            for entry in &entries {
                mem.entries.insert(entry.index(), entry.clone());
            }
        }
        if let Some(flusher) = &self.flusher {
            return flusher
                .send(Job::Append(entries, callback))
                .map_err(|_| io::Error::other("log writer thread stopped"));
        }
        let mut writer = lock(&self.shared.writer);
        let result = writer.segments.append(&entries);
        drop(writer);
        let reply = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reply);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |l| l.index() + 1);
        self.barrier()?;
        let mut writer = lock(&self.shared.writer);
        lock(&self.shared.mem).entries.retain(|i, _| *i < from);
        writer.segments.truncate_from(from)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        {
            let mut mem = lock(&self.shared.mem);
            mem.hard.purged = Some(log_id);
            mem.entries.retain(|i, _| *i > log_id.index());
        }
        if let Some(flusher) = &self.flusher {
            // On the writer thread, after the appends queued before it: Raft's task does not
            // wait for the hard-state fsyncs and segment removals (it used to stall for long
            // enough on a busy disk that followers started elections).
            return flusher
                .send(Job::Purge(log_id))
                .map_err(|_| io::Error::other("log writer thread stopped"));
        }
        lock(&self.shared.writer).purge(log_id)
    }
}

#[cfg(test)]
mod tests;
