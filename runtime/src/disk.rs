//! The `Disk` seam: the few file operations a write-ahead log and a snapshot store need, behind a
//! trait, with the real implementation over `std::fs` (real `fsync`) and a simulated in-memory
//! disk that models what a crash does to data that was not yet made durable.
//!
//! Durability rules both implementations follow (they are POSIX's, made explicit):
//! - bytes appended to a file survive a crash only after [`DiskFile::sync`] on that file;
//! - a file's *name* (creation, rename, removal) survives a crash only after [`Disk::sync_dir`] on
//!   its parent directory.
//!
//! [`write_atomic`] combines them into write-temp + fsync + rename + directory fsync.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::Rng;

/// A directory tree of files that can be appended, read, renamed, removed and made durable.
///
/// Paths are absolute or relative to wherever the implementation is rooted; the simulated disk
/// treats them as opaque keys.
pub trait Disk: Debug + Send + Sync {
    /// Creates `dir` and its missing parents (durable only after `sync_dir` on each parent).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the regular files directly in `dir`, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens `path` for appending, creating it empty if it does not exist.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Reads the whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` names an existing file.
    fn exists(&self, path: &Path) -> bool;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file at `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the names in `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file that only grows at its end (or is cut back with [`truncate`](Self::truncate)).
pub trait DiskFile: Debug + Send {
    /// Appends `data` at the end of the file.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes every byte written so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes; later appends continue from there.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// The current length in bytes.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes `data` to `path` so that after a crash `path` holds either its old content or all of
/// `data`, never a mix: write a temporary file, fsync it, rename it over `path`, fsync the
/// directory.
///
/// # Errors
/// Any I/O error of the steps; `path` then still holds its old content.
pub fn write_atomic(disk: &dyn Disk, path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    if disk.exists(&tmp) {
        disk.remove(&tmp)?;
    }
    let mut file = disk.open_append(&tmp)?;
    file.append(data)?;
    file.sync()?;
    drop(file);
    disk.rename(&tmp, path)?;
    disk.sync_dir(dir)
}

/// The real disk: `std::fs` with real `fdatasync`/`fsync`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdDisk;

impl Disk for StdDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(StdFile { file, len }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir)?.sync_all()
    }
}

#[derive(Debug)]
struct StdFile {
    file: fs::File,
    len: u64,
}

impl DiskFile for StdFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        // The file is in append mode, so the next write lands at the new end by itself.
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// An in-memory disk for tests and the simulator that forgets what was not made durable when
/// [`crash`](Self::crash) is called, and can tear the unsynced tail of a file.
///
/// Clones share the same disk, so a test keeps one clone to crash and inspect while a node uses
/// another.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    inner: Arc<Mutex<SimState>>,
}

#[derive(Debug, Default)]
struct SimState {
    /// Bumped by every crash: handles opened before it fail, as a dead process's would.
    epoch: u64,
    next_id: u64,
    /// Names as the running system sees them.
    names: BTreeMap<PathBuf, u64>,
    /// Names as they would be found after a crash.
    durable_names: BTreeMap<PathBuf, u64>,
    files: BTreeMap<u64, SimFile>,
    dirs: Vec<PathBuf>,
}

#[derive(Debug, Default)]
struct SimFile {
    data: Vec<u8>,
    synced: Vec<u8>,
}

/// What a crash does to bytes appended after the last `sync` of a file.
#[derive(Debug)]
pub enum Tear<'a> {
    /// They are all lost.
    LoseAll,
    /// A prefix of random length (from this generator) of them survives, as when the power fails
    /// part-way through writing them out.
    Random(&'a mut dyn Rng),
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power loss: unsynced appends and truncations are undone (or torn, per `tear`)
    /// and unsynced directory changes are forgotten. Handles opened before the crash fail after it.
    pub fn crash(&self, mut tear: Tear<'_>) {
        let mut state = self.lock();
        state.epoch += 1;
        state.names = state.durable_names.clone();
        let live: Vec<u64> = state.names.values().copied().collect();
        state.files.retain(|id, _| live.contains(id));
        for file in state.files.values_mut() {
            let mut kept = file.synced.clone();
            if let Tear::Random(rng) = &mut tear
                && file.data.len() > file.synced.len()
                && file.data.starts_with(&file.synced)
            {
                let unsynced = &file.data[file.synced.len()..];
                let keep = usize::try_from(rng.below(unsynced.len() as u64 + 1)).unwrap_or(0);
                kept.extend_from_slice(&unsynced[..keep]);
            }
            file.data = kept.clone();
            file.synced = kept;
        }
    }

    /// Flips every bit of the byte at `offset` of `path`, durably: the disk's own corruption.
    ///
    /// # Errors
    /// `NotFound` if there is no such file or the file is shorter than `offset + 1`.
    pub fn corrupt_byte(&self, path: &Path, offset: u64) -> io::Result<()> {
        let mut state = self.lock();
        let id = *state.names.get(path).ok_or_else(not_found)?;
        let file = state.files.get_mut(&id).ok_or_else(not_found)?;
        let at = usize::try_from(offset).map_err(|_| not_found())?;
        for bytes in [&mut file.data, &mut file.synced] {
            let byte = bytes.get_mut(at).ok_or_else(not_found)?;
            *byte ^= 0xff;
        }
        Ok(())
    }

    /// Cuts `path` to `len` bytes durably, as a torn write found after a crash would leave it.
    ///
    /// # Errors
    /// `NotFound` if there is no such file.
    pub fn cut(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        let id = *state.names.get(path).ok_or_else(not_found)?;
        let file = state.files.get_mut(&id).ok_or_else(not_found)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        file.data.truncate(len);
        file.synced.truncate(len);
        Ok(())
    }

    /// The length of `path` as the running system sees it.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        let state = self.lock();
        let id = state.names.get(path)?;
        state.files.get(id).map(|f| f.data.len() as u64)
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread leaves consistent maps behind: every mutation is one statement.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no such file in the simulated disk",
    )
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new(""))
}

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if !state.dirs.iter().any(|d| d == dir) {
            state.dirs.push(dir.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        Ok(state
            .names
            .keys()
            .filter(|p| parent_of(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut state = self.lock();
        let id = if let Some(id) = state.names.get(path) {
            *id
        } else {
            state.next_id += 1;
            let id = state.next_id;
            state.names.insert(path.to_path_buf(), id);
            state.files.insert(id, SimFile::default());
            id
        };
        Ok(Box::new(SimHandle {
            disk: self.clone(),
            id,
            epoch: state.epoch,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.lock();
        let id = state.names.get(path).ok_or_else(not_found)?;
        Ok(state.files.get(id).ok_or_else(not_found)?.data.clone())
    }

    fn exists(&self, path: &Path) -> bool {
        self.lock().names.contains_key(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let id = state.names.remove(from).ok_or_else(not_found)?;
        state.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.names.remove(path).ok_or_else(not_found)?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let current: Vec<(PathBuf, u64)> = state
            .names
            .iter()
            .filter(|(p, _)| parent_of(p) == dir)
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        state.durable_names.retain(|p, _| parent_of(p) != dir);
        state.durable_names.extend(current);
        // A file whose last name is gone from both views is unreachable: free it.
        let reachable: Vec<u64> = state
            .names
            .values()
            .chain(state.durable_names.values())
            .copied()
            .collect();
        state.files.retain(|id, _| reachable.contains(id));
        Ok(())
    }
}

#[derive(Debug)]
struct SimHandle {
    disk: SimDisk,
    id: u64,
    epoch: u64,
}

impl SimHandle {
    fn with_file<T>(&self, f: impl FnOnce(&mut SimFile) -> T) -> io::Result<T> {
        let mut state = self.disk.lock();
        if state.epoch != self.epoch {
            return Err(io::Error::other("handle opened before a simulated crash"));
        }
        let file = state.files.get_mut(&self.id).ok_or_else(not_found)?;
        Ok(f(file))
    }
}

impl DiskFile for SimHandle {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.with_file(|f| f.data.extend_from_slice(data))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with_file(|f| f.synced.clone_from(&f.data))
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.with_file(|f| f.data.truncate(len))
    }

    fn len(&self) -> u64 {
        self.with_file(|f| f.data.len() as u64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededRng;

    fn sim() -> (SimDisk, PathBuf) {
        let disk = SimDisk::new();
        let dir = PathBuf::from("/d");
        disk.create_dir_all(&dir).unwrap();
        (disk, dir)
    }

    #[test]
    fn crash_keeps_synced_bytes_and_drops_the_rest() {
        let (disk, dir) = sim();
        let path = dir.join("f");
        let mut f = disk.open_append(&path).unwrap();
        f.append(b"durable").unwrap();
        f.sync().unwrap();
        disk.sync_dir(&dir).unwrap();
        f.append(b"-lost").unwrap();
        assert_eq!(disk.read(&path).unwrap(), b"durable-lost");
        disk.crash(Tear::LoseAll);
        assert_eq!(disk.read(&path).unwrap(), b"durable");
        assert!(f.append(b"x").is_err(), "a pre-crash handle must be dead");
    }

    #[test]
    fn unsynced_names_vanish_on_crash() {
        let (disk, dir) = sim();
        let path = dir.join("new");
        let mut f = disk.open_append(&path).unwrap();
        f.append(b"data").unwrap();
        f.sync().unwrap();
        disk.crash(Tear::LoseAll);
        assert!(
            !disk.exists(&path),
            "creation was never made durable by sync_dir"
        );
    }

    #[test]
    fn torn_crash_keeps_a_prefix_of_the_unsynced_tail() {
        let (disk, dir) = sim();
        let path = dir.join("f");
        let mut f = disk.open_append(&path).unwrap();
        f.append(b"abc").unwrap();
        f.sync().unwrap();
        disk.sync_dir(&dir).unwrap();
        f.append(b"0123456789").unwrap();
        let mut rng = SeededRng::new(3);
        disk.crash(Tear::Random(&mut rng));
        let data = disk.read(&path).unwrap();
        assert!(data.starts_with(b"abc"));
        assert!(b"abc0123456789".starts_with(&data));
    }

    #[test]
    fn write_atomic_is_all_or_nothing_across_a_crash() {
        let (disk, dir) = sim();
        let path = dir.join("vote");
        write_atomic(&disk, &path, b"one").unwrap();
        write_atomic(&disk, &path, b"two").unwrap();
        disk.crash(Tear::LoseAll);
        assert_eq!(disk.read(&path).unwrap(), b"two");
        assert_eq!(disk.list(&dir).unwrap(), vec!["vote".to_string()]);
    }

    #[test]
    fn unsynced_rename_is_undone_by_a_crash() {
        let (disk, dir) = sim();
        let a = dir.join("a");
        let mut f = disk.open_append(&a).unwrap();
        f.append(b"x").unwrap();
        f.sync().unwrap();
        disk.sync_dir(&dir).unwrap();
        disk.rename(&a, &dir.join("b")).unwrap();
        disk.crash(Tear::LoseAll);
        assert!(disk.exists(&a));
        assert!(!disk.exists(&dir.join("b")));
    }

    #[test]
    fn std_disk_round_trip() {
        let dir = std::env::temp_dir().join(format!("ferrocore-disk-{}", std::process::id()));
        let disk = StdDisk;
        disk.create_dir_all(&dir).unwrap();
        let path = dir.join("seg");
        let mut f = disk.open_append(&path).unwrap();
        f.append(b"hello world").unwrap();
        f.sync().unwrap();
        f.truncate(5).unwrap();
        f.append(b"!").unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!(disk.read(&path).unwrap(), b"hello!");
        write_atomic(&disk, &dir.join("meta"), b"m").unwrap();
        assert_eq!(disk.list(&dir).unwrap(), vec!["meta", "seg"]);
        disk.remove(&path).unwrap();
        assert!(!disk.exists(&path));
        fs::remove_dir_all(&dir).unwrap();
    }
}
