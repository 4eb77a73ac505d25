//! Log segments on disk: files `seg-<first index>.log` of framed records, one Raft entry each.
//!
//! Recovery reads every segment: a record the last write of the newest segment left unfinished
//! is cut off (it was never acknowledged: acknowledgement waits for fsync); anything else that
//! does not read back exactly — a bad checksum, an index out of sequence, a short older
//! segment — stops recovery with [`LogError::Corrupt`] naming the file and byte offset.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrocore_runtime::{Disk, DiskFile};
use openraft::entry::RaftEntry;

use super::record::{self, Found};
use crate::codec;
use crate::types::Entry;

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Data on disk is damaged where no crash could have left it so; the node must not start.
    #[error("corrupt Raft log: {file} at byte offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first unreadable record.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The disk refused an operation.
    #[error("Raft log I/O on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl LogError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    /// Byte offset of the record of entry `first + i`.
    offsets: Vec<u64>,
}

impl Segment {
    fn end(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }
}

/// The segment files of one log directory and the open newest one.
#[derive(Debug)]
pub(crate) struct Segments {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    segments: Vec<Segment>,
    active: Option<Box<dyn DiskFile>>,
    segment_bytes_max: u64,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
}

fn segment_name(first: u64) -> String {
    format!("seg-{first:020}.log")
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

impl Segments {
    /// Opens the segments in `dir` and returns every entry they hold, in index order.
    pub(crate) fn open(
        disk: Arc<dyn Disk>,
        dir: &Path,
        segment_bytes_max: u64,
    ) -> Result<(Self, Vec<Entry>), LogError> {
        disk.create_dir_all(dir).map_err(LogError::io(dir))?;
        let names = disk.list(dir).map_err(LogError::io(dir))?;
        let firsts: Vec<u64> = names.iter().filter_map(|n| parse_name(n)).collect();
        let mut segments = Vec::new();
        let mut entries = Vec::new();
        for (i, first) in firsts.iter().enumerate() {
            let path = dir.join(segment_name(*first));
            let last = i + 1 == firsts.len();
            let segment = read_segment(&*disk, &path, *first, last, &mut entries)?;
            if let Some(prev) = segments.last().map(Segment::end)
                && prev != *first
            {
                return Err(LogError::Corrupt {
                    file: path,
                    offset: 0,
                    reason: format!(
                        "segment starts at index {first}, the previous ends before {prev}"
                    ),
                });
            }
            segments.push(segment);
        }
        let mut log = Self {
            disk,
            dir: dir.to_path_buf(),
            segments,
            active: None,
            segment_bytes_max,
            dir_dirty: false,
        };
        log.drop_empty_tail().map_err(LogError::io(dir))?;
        if let Some(seg) = log.segments.last() {
            let file = log
                .disk
                .open_append(&seg.path)
                .map_err(LogError::io(&seg.path))?;
            log.active = Some(file);
        }
        Ok((log, entries))
    }

    /// Appends `entries` (consecutive, following the last one) and makes them durable.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        self.write(entries)?;
        self.flush()
    }

    /// Writes `entries` without waiting for them to be durable; [`flush`](Self::flush) does.
    /// Rolling to a new segment flushes the old one first, so only the newest segment can hold
    /// unsynced bytes.
    pub(crate) fn write(&mut self, entries: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::new();
        for entry in entries {
            let index = entry.index();
            if let Some(end) = self.segments.last().map(Segment::end) {
                assert_eq!(index, end, "log append must continue the log");
            }
            let full = self.active_len() + buf.len() as u64 >= self.segment_bytes_max;
            let has_entries = self.segments.last().is_some_and(|s| !s.offsets.is_empty());
            if self.active.is_none() || (full && has_entries) {
                self.write_out(&mut buf)?;
                if let Some(file) = self.active.as_mut() {
                    file.sync()?;
                }
                self.roll(index)?;
                self.dir_dirty = true;
            }
            let offset = self.active_len() + buf.len() as u64;
            record::encode(&codec::encode(entry), &mut buf);
            let seg = self.segments.last_mut().expect("roll created a segment");
            seg.offsets.push(offset);
        }
        self.write_out(&mut buf)
    }

    /// Makes everything written so far durable (segment data, then new segment names).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(file) = self.active.as_mut() {
            file.sync()?;
        }
        if self.dir_dirty {
            self.disk.sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Removes entries with index `from` and later, durably.
    pub(crate) fn truncate_from(&mut self, from: u64) -> io::Result<()> {
        let mut removed = false;
        while let Some(seg) = self.segments.last() {
            if seg.first < from {
                break;
            }
            self.active = None;
            self.disk.remove(&seg.path)?;
            self.segments.pop();
            removed = true;
        }
        if removed {
            self.disk.sync_dir(&self.dir)?;
        }
        let Some(seg) = self.segments.last_mut() else {
            return Ok(());
        };
        if from < seg.end() {
            let at = usize::try_from(from - seg.first).expect("segment sizes fit usize");
            let cut = seg.offsets[at];
            seg.offsets.truncate(at);
            let mut file = self.disk.open_append(&seg.path)?;
            file.truncate(cut)?;
            file.sync()?;
            self.active = Some(file);
        } else if self.active.is_none() {
            self.active = Some(self.disk.open_append(&seg.path)?);
        }
        Ok(())
    }

    /// Removes whole segments whose entries are all at or below `through`. If that is every
    /// entry (a snapshot was installed past the end of this log), all segments go and the next
    /// append starts a new one.
    pub(crate) fn purge_through(&mut self, through: u64) -> io::Result<()> {
        let mut removed = false;
        let everything = self.segments.last().is_some_and(|s| s.end() <= through + 1);
        let keep = usize::from(!everything);
        while self.segments.len() > keep
            && self.segments.get(1).is_none_or(|s| s.first <= through + 1)
        {
            if self.segments.len() == 1 {
                self.active = None;
            }
            let seg = self.segments.remove(0);
            self.disk.remove(&seg.path)?;
            removed = true;
        }
        if removed {
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Number of segment files.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn active_len(&self) -> u64 {
        self.active.as_ref().map_or(0, |f| f.len())
    }

    fn write_out(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let file = self
            .active
            .as_mut()
            .expect("bytes are only buffered for an open segment");
        file.append(buf)?;
        buf.clear();
        Ok(())
    }

    fn roll(&mut self, first: u64) -> io::Result<()> {
        let path = self.dir.join(segment_name(first));
        let mut file = self.disk.open_append(&path)?;
        if !file.is_empty() {
            // A stale file of a truncated suffix: its content is no longer part of the log.
            file.truncate(0)?;
            file.sync()?;
        }
        self.active = Some(file);
        self.segments.push(Segment {
            first,
            path,
            offsets: Vec::new(),
        });
        Ok(())
    }

    /// A newest segment with no entry (created just before a crash) is removed, so the next
    /// append starts a segment named after its own first index.
    fn drop_empty_tail(&mut self) -> io::Result<()> {
        if self.segments.last().is_some_and(|s| s.offsets.is_empty()) {
            let seg = self.segments.pop().expect("checked just above");
            self.disk.remove(&seg.path)?;
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// Reads one segment, pushing its entries; cuts a torn tail off the newest segment.
fn read_segment(
    disk: &dyn Disk,
    path: &Path,
    first: u64,
    newest: bool,
    entries: &mut Vec<Entry>,
) -> Result<Segment, LogError> {
    let bytes = disk.read(path).map_err(LogError::io(path))?;
    let corrupt = |offset: usize, reason: String| LogError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut segment = Segment {
        first,
        path: path.to_path_buf(),
        offsets: Vec::new(),
    };
    let mut offset = 0;
    while offset < bytes.len() {
        match record::decode_at(&bytes, offset) {
            Found::Record { payload, next } => {
                let entry: Entry = codec::decode(payload)
                    .map_err(|e| corrupt(offset, format!("undecodable entry: {e}")))?;
                let expected = segment.end();
                if entry.index() != expected {
                    let reason = format!("entry index {} where {expected} belongs", entry.index());
                    return Err(corrupt(offset, reason));
                }
                segment.offsets.push(offset as u64);
                entries.push(entry);
                offset = next;
            }
            Found::Incomplete if newest => {
                let mut file = disk.open_append(path).map_err(LogError::io(path))?;
                file.truncate(offset as u64).map_err(LogError::io(path))?;
                file.sync().map_err(LogError::io(path))?;
                break;
            }
            Found::Incomplete => {
                return Err(corrupt(
                    offset,
                    "an older segment ends inside a record".into(),
                ));
            }
            Found::Corrupt(reason) => return Err(corrupt(offset, reason.into())),
        }
    }
    Ok(segment)
}
