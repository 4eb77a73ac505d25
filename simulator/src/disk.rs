//! A controller's disk: `runtime`'s [`SimDisk`] (writes not yet fsynced are lost on a crash,
//! the unsynced tail can tear) behind a switch that can make the power fail in the middle of
//! a write.
//!
//! A crash between two executor polls finds every write of the inline-flushing log already
//! synced; a crash *inside* an append is what tears a record. When the switch is armed, the
//! next append writes its bytes, the power fails (the unsynced tail keeps a random prefix),
//! and from then on every call fails, as it would for a dead process.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferrocore_runtime::{Disk, DiskFile, SeededRng, SimDisk, Tear};

/// The power switch of one controller incarnation.
#[derive(Debug, Default)]
pub(crate) struct PowerSwitch {
    /// Fail at the next append.
    armed: AtomicBool,
    /// The power has failed: every call errs until the process restarts.
    failed: AtomicBool,
    /// Seeds how much of the torn write survives.
    tear_seed: AtomicU64,
}

impl PowerSwitch {
    /// Makes the power fail during the next append, tearing it with a draw from `seed`.
    pub(crate) fn arm(&self, seed: u64) {
        self.tear_seed.store(seed, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    /// The power fails now (a crash between writes): every later call errs.
    pub(crate) fn cut(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Whether the power failed (during a write, or by [`cut`](Self::cut)).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// One incarnation's view of its controller's disk.
#[derive(Debug)]
pub(crate) struct CrashingDisk {
    disk: SimDisk,
    power: Arc<PowerSwitch>,
}

impl CrashingDisk {
    pub(crate) fn new(disk: SimDisk, power: Arc<PowerSwitch>) -> Self {
        Self { disk, power }
    }
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss")
}

impl CrashingDisk {
    fn alive(&self) -> io::Result<()> {
        if self.power.failed() {
            Err(power_lost())
        } else {
            Ok(())
        }
    }
}

impl Disk for CrashingDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.alive()?;
        self.disk.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.alive()?;
        self.disk.list(dir)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        self.alive()?;
        let file = self.disk.open_append(path)?;
        Ok(Box::new(CrashingFile {
            file,
            disk: self.disk.clone(),
            power: self.power.clone(),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.alive()?;
        self.disk.read(path)
    }

    fn exists(&self, path: &Path) -> bool {
        !self.power.failed() && self.disk.exists(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.alive()?;
        self.disk.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.alive()?;
        self.disk.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.alive()?;
        self.disk.sync_dir(dir)
    }
}

#[derive(Debug)]
struct CrashingFile {
    file: Box<dyn DiskFile>,
    disk: SimDisk,
    power: Arc<PowerSwitch>,
}

impl DiskFile for CrashingFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.power.failed() {
            return Err(power_lost());
        }
        self.file.append(data)?;
        if self.power.armed.swap(false, Ordering::Relaxed) {
            // The bytes reached the page cache, not the platter: the crash keeps a random
            // prefix of everything written since the last sync.
            let mut rng = SeededRng::new(self.power.tear_seed.load(Ordering::Relaxed));
            self.disk.crash(Tear::Random(&mut rng));
            self.power.failed.store(true, Ordering::Relaxed);
            return Err(power_lost());
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.power.failed() {
            return Err(power_lost());
        }
        self.file.sync()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.power.failed() {
            return Err(power_lost());
        }
        self.file.truncate(len)
    }

    fn len(&self) -> u64 {
        self.file.len()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn an_armed_switch_tears_the_next_append_and_kills_the_disk() {
        let sim = SimDisk::new();
        let power = Arc::new(PowerSwitch::default());
        let disk = CrashingDisk::new(sim.clone(), power.clone());
        let dir = PathBuf::from("/d");
        disk.create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let mut f = disk.open_append(&path).unwrap();
        f.append(b"synced").unwrap();
        f.sync().unwrap();
        disk.sync_dir(&dir).unwrap();
        power.arm(7);
        assert!(f.append(b"0123456789").is_err());
        assert!(power.failed());
        assert!(f.append(b"x").is_err(), "a dead process writes nothing");
        assert!(disk.read(&path).is_err());
        let left = sim.read(&path).unwrap();
        assert!(left.starts_with(b"synced"));
        assert!(b"synced0123456789".starts_with(&left), "a prefix survives");
    }
}
