//! The libvirt host's files: one directory per machine under `<state_dir>/machines/<id>/`
//! holding `machine.json` (the record), `disks/<volume>.qcow2`, `ignition.json`, `hostname` and
//! `console.log`. Directories are mode 0755 because libvirt runs QEMU as `libvirt-qemu`.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrocore_api::iri::machine::MachineId;

use crate::host::{HostError, LocalDiskPlan};
use crate::model::MachineRecord;

/// The per-machine file layout.
#[derive(Debug, Clone)]
pub(crate) struct MachineFiles {
    root: PathBuf,
}

fn io_err(what: &str, path: &Path, e: &io::Error) -> HostError {
    HostError::Failed(format!("{what} {}: {e}", path.display()))
}

/// Machine ids become directory names: only ids of our own shape are accepted.
fn checked(id: &MachineId) -> Result<&str, HostError> {
    let ok = !id.0.is_empty()
        && id.0.len() <= 64
        && id.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(&id.0)
    } else {
        Err(HostError::Refused(format!(
            "machine id {:?} is not a valid id",
            id.0
        )))
    }
}

pub(crate) fn mkdir(path: &Path) -> Result<(), HostError> {
    fs::create_dir_all(path).map_err(|e| io_err("create", path, &e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| io_err("chmod", path, &e))
}

impl MachineFiles {
    /// The layout under `root` (`<state_dir>/machines`), created if missing.
    pub(crate) fn open(root: PathBuf) -> Result<Self, HostError> {
        mkdir(&root)?;
        Ok(Self { root })
    }

    pub(crate) fn dir(&self, id: &MachineId) -> Result<PathBuf, HostError> {
        Ok(self.root.join(checked(id)?))
    }

    fn ensure(&self, id: &MachineId) -> Result<PathBuf, HostError> {
        let dir = self.dir(id)?;
        mkdir(&dir)?;
        Ok(dir)
    }

    pub(crate) fn console_log(&self, id: &MachineId) -> PathBuf {
        self.root.join(&id.0).join("console.log")
    }

    pub(crate) fn save(&self, record: &MachineRecord) -> Result<(), HostError> {
        let dir = self.ensure(record.id())?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| HostError::Failed(format!("encode record: {e}")))?;
        let tmp = dir.join("machine.json.tmp");
        fs::write(&tmp, bytes).map_err(|e| io_err("write", &tmp, &e))?;
        fs::rename(&tmp, dir.join("machine.json")).map_err(|e| io_err("rename", &tmp, &e))
    }

    pub(crate) fn load(&self) -> Result<Vec<MachineRecord>, HostError> {
        let mut records = Vec::new();
        for id in self.ids()? {
            let path = self.root.join(&id.0).join("machine.json");
            // A directory without a readable record is a leftover: garbage collection removes it.
            if let Ok(bytes) = fs::read(&path)
                && let Ok(record) = serde_json::from_slice::<MachineRecord>(&bytes)
                && record.id() == &id
            {
                records.push(record);
            }
        }
        Ok(records)
    }

    pub(crate) fn ids(&self) -> Result<Vec<MachineId>, HostError> {
        let entries = fs::read_dir(&self.root).map_err(|e| io_err("read", &self.root, &e))?;
        let mut ids: Vec<MachineId> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .map(MachineId)
            .filter(|id| checked(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    pub(crate) fn write(
        &self,
        id: &MachineId,
        name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, HostError> {
        let path = self.ensure(id)?.join(name);
        fs::write(&path, bytes).map_err(|e| io_err("write", &path, &e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .map_err(|e| io_err("chmod", &path, &e))?;
        Ok(path)
    }

    fn disk_path(&self, id: &MachineId, volume: &str) -> Result<PathBuf, HostError> {
        if volume.contains('/') || volume.starts_with('.') {
            return Err(HostError::Refused(format!("volume name {volume:?}")));
        }
        Ok(self.dir(id)?.join("disks").join(format!("{volume}.qcow2")))
    }

    /// Makes the disk with `qemu-img` unless it exists (a machine powered on again keeps its
    /// disk).
    pub(crate) fn prepare_disk(
        &self,
        id: &MachineId,
        volume: &str,
        plan: &LocalDiskPlan,
    ) -> Result<PathBuf, HostError> {
        let path = self.disk_path(id, volume)?;
        if path.exists() {
            return Ok(path);
        }
        mkdir(&self.ensure(id)?.join("disks"))?;
        let mut cmd = Command::new("qemu-img");
        cmd.args(["create", "-q", "-f", "qcow2"]);
        let size = match plan {
            LocalDiskPlan::Overlay { image, size_bytes } => {
                cmd.arg("-F").arg(image.format).arg("-b").arg(&image.path);
                *size_bytes
            }
            LocalDiskPlan::Empty { size_bytes } => *size_bytes,
        };
        let tmp = path.with_extension("qcow2.tmp");
        let out = cmd
            .arg(&tmp)
            .arg(size.to_string())
            .output()
            .map_err(|e| HostError::Failed(format!("run qemu-img: {e}")))?;
        if !out.status.success() {
            let _ = fs::remove_file(&tmp);
            return Err(HostError::Failed(format!(
                "qemu-img create failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        fs::rename(&tmp, &path).map_err(|e| io_err("rename", &tmp, &e))?;
        Ok(path)
    }

    pub(crate) fn remove_disk(&self, id: &MachineId, volume: &str) -> Result<(), HostError> {
        let path = self.disk_path(id, volume)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &path, &e)),
            _ => Ok(()),
        }
    }

    pub(crate) fn remove(&self, id: &MachineId) -> Result<(), HostError> {
        let dir = self.dir(id)?;
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &dir, &e)),
            _ => Ok(()),
        }
    }
}
