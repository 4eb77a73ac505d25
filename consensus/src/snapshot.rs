//! Snapshot files: one file per snapshot, written atomically (temp + fsync + rename + directory
//! fsync), named after the last log index it covers; older ones are removed once a newer one is
//! durable.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrocore_runtime::{Disk, write_atomic};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::log::{Found, LogError, decode_at, encode_record};
use crate::types::SnapshotMeta;

/// A snapshot as stored: metadata plus the encoded state-machine image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotFile {
    pub(crate) meta: SnapshotMeta,
    #[serde(with = "crate::codec::bytes")]
    pub(crate) data: Vec<u8>,
}

/// The snapshot directory of one node.
#[derive(Debug)]
pub(crate) struct SnapshotDir {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
}

fn file_name(index: u64) -> String {
    format!("snap-{index:020}.bin")
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("snap-")?
        .strip_suffix(".bin")?
        .parse()
        .ok()
}

impl SnapshotDir {
    pub(crate) fn open(disk: Arc<dyn Disk>, dir: &Path) -> Result<Self, LogError> {
        disk.create_dir_all(dir).map_err(LogError::io(dir))?;
        Ok(Self {
            disk,
            dir: dir.to_path_buf(),
        })
    }

    /// The newest snapshot, if any.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] if the newest snapshot file is damaged: an older one cannot stand
    /// in, because the log before the newer one may already be purged.
    pub(crate) fn load_newest(&self) -> Result<Option<SnapshotFile>, LogError> {
        let names = self.disk.list(&self.dir).map_err(LogError::io(&self.dir))?;
        let Some(index) = names.iter().filter_map(|n| parse_name(n)).max() else {
            return Ok(None);
        };
        let path = self.dir.join(file_name(index));
        let bytes = self.disk.read(&path).map_err(LogError::io(&path))?;
        let corrupt = |offset: usize, reason: String| LogError::Corrupt {
            file: path.clone(),
            offset: offset as u64,
            reason,
        };
        match decode_at(&bytes, 0) {
            Found::Record { payload, next } if next == bytes.len() => codec::decode(payload)
                .map(Some)
                .map_err(|e| corrupt(0, e.to_string())),
            Found::Record { next, .. } => Err(corrupt(next, "trailing bytes".into())),
            Found::Incomplete => Err(corrupt(0, "incomplete snapshot".into())),
            Found::Corrupt(reason) => Err(corrupt(0, reason.into())),
        }
    }

    /// Stores `snapshot` durably and removes older snapshot files.
    pub(crate) fn save(&self, snapshot: &SnapshotFile) -> io::Result<()> {
        let index = snapshot.meta.last_log_id.map_or(0, |l| l.index);
        let mut bytes = Vec::new();
        encode_record(&codec::encode(snapshot), &mut bytes);
        write_atomic(&*self.disk, &self.dir.join(file_name(index)), &bytes)?;
        let mut removed = false;
        for name in self.disk.list(&self.dir)? {
            let stale = parse_name(&name).is_some_and(|i| i < index) || name.ends_with(".tmp");
            if stale {
                self.disk.remove(&self.dir.join(name))?;
                removed = true;
            }
        }
        if removed {
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(())
    }
}
