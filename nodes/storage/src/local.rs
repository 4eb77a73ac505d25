//! The embedded default backend: raw image files under the node's data directory, snapshots
//! and clones by reflink (copy where the filesystem cannot), records as JSON files.
//!
//! Layout under the root: `volumes/img_<id>.raw`, `snapshots/<image>@<snap>.raw`,
//! `bases/snap_<digest>.raw`, `records/<namespace>/<key>.json`. Every file appears by rename of
//! a fully written and synced temporary, so a crash leaves either the old or the new state.
//!
//! Not here: encryption (refused; the local driver hands machines plain files) and QoS
//! enforcement (the limits travel in `status.access` for the hypervisor to apply).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ferrocore_api::iri::volume::{SecretData, StorageBytes, VolumeAccess};

use crate::backend::{BackendError, BlockBackend, Provision, RecordStore};
use crate::record::{ImageName, Namespace, QosLimits, Source};

/// Raw files under a root directory.
#[derive(Clone, Debug)]
pub struct LocalBackend {
    root: PathBuf,
    image_dir: Option<PathBuf>,
}

impl LocalBackend {
    /// A backend rooted at `root` (created if missing); OS image names resolve in `image_dir`.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(root: &Path, image_dir: Option<PathBuf>) -> io::Result<Self> {
        for sub in ["volumes", "snapshots", "bases"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            image_dir,
        })
    }

    /// The file of an image.
    pub fn image_path(&self, image: &ImageName) -> PathBuf {
        let dir = if image.as_str().starts_with(ImageName::VOLUME_PREFIX) {
            "volumes"
        } else {
            "bases"
        };
        self.root.join(dir).join(format!("{image}.raw"))
    }

    fn snapshot_path(&self, image: &ImageName, snap: &str) -> PathBuf {
        self.root
            .join("snapshots")
            .join(format!("{image}@{snap}.raw"))
    }

    fn size_of(path: &Path) -> Result<Option<StorageBytes>, BackendError> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(StorageBytes(m.len()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&e, path)),
        }
    }
}

impl BlockBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn supports_encryption(&self) -> bool {
        false
    }

    fn probe(&self) -> Result<(), BackendError> {
        fs::metadata(self.root.join("volumes"))
            .map(|_| ())
            .map_err(|e| BackendError::Unavailable(format!("{}: {e}", self.root.display())))
    }

    fn capacity(&self) -> Result<StorageBytes, BackendError> {
        let path = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes())
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        // SAFETY: `statvfs` is plain old data, valid when zeroed.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid NUL-terminated string and `st` a valid out-pointer, both
        // alive for the call.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &raw mut st) };
        if rc != 0 {
            return Err(io_err(&io::Error::last_os_error(), &self.root));
        }
        Ok(StorageBytes(st.f_bavail.saturating_mul(st.f_frsize)))
    }

    fn import_base(&self, base: &ImageName, path: &Path) -> Result<StorageBytes, BackendError> {
        let dst = self.image_path(base);
        if let Some(size) = Self::size_of(&dst)? {
            return Ok(size);
        }
        if !path.is_file() {
            return Err(BackendError::Refused(format!(
                "Image file {} not found",
                path.display()
            )));
        }
        let tmp = tmp_of(&dst);
        clone_file(path, &tmp)?;
        publish(&tmp, &dst)?;
        Ok(Self::size_of(&dst)?.unwrap_or_default())
    }

    fn provision(&self, p: &Provision) -> Result<StorageBytes, BackendError> {
        if p.format_with.is_some() {
            return Err(BackendError::Refused(
                "Local volumes cannot be encrypted".into(),
            ));
        }
        let dst = self.image_path(&p.image);
        if Self::size_of(&dst)?.is_some() {
            // Created by an earlier attempt that crashed before its record was updated.
            return self.resize(&p.image, p.size);
        }
        let tmp = tmp_of(&dst);
        match &p.source {
            Source::Empty => {
                File::create(&tmp).map_err(|e| io_err(&e, &tmp))?;
            }
            Source::Base(base) => clone_file(&self.image_path(base), &tmp)?,
            Source::Snapshot { image, snap } => clone_file(&self.snapshot_path(image, snap), &tmp)?,
        }
        let have = Self::size_of(&tmp)?.unwrap_or_default();
        if have > p.size {
            let _ = fs::remove_file(&tmp);
            return Err(BackendError::Refused(format!(
                "Source is {have}, larger than {}",
                p.size
            )));
        }
        set_len(&tmp, p.size)?;
        publish(&tmp, &dst)?;
        Ok(p.size)
    }

    fn resize(&self, image: &ImageName, size: StorageBytes) -> Result<StorageBytes, BackendError> {
        let path = self.image_path(image);
        let have = Self::size_of(&path)?
            .ok_or_else(|| BackendError::Failed(format!("Image {image} is missing")))?;
        if size < have {
            return Err(BackendError::Refused(format!(
                "Cannot shrink {image} from {have} to {size}"
            )));
        }
        set_len(&path, size)?;
        Ok(size)
    }

    fn remove(&self, image: &ImageName) -> Result<(), BackendError> {
        remove_file(&self.image_path(image))
    }

    fn snapshot(&self, image: &ImageName, snap: &str) -> Result<StorageBytes, BackendError> {
        let dst = self.snapshot_path(image, snap);
        if let Some(size) = Self::size_of(&dst)? {
            return Ok(size);
        }
        let tmp = tmp_of(&dst);
        clone_file(&self.image_path(image), &tmp)?;
        publish(&tmp, &dst)?;
        Ok(Self::size_of(&dst)?.unwrap_or_default())
    }

    fn remove_snapshot(&self, image: &ImageName, snap: &str) -> Result<(), BackendError> {
        // Restored volumes are full (reflinked) copies: nothing depends on the snapshot file.
        remove_file(&self.snapshot_path(image, snap))
    }

    fn list_images(&self) -> Result<Vec<ImageName>, BackendError> {
        let mut out = Vec::new();
        for sub in ["volumes", "bases"] {
            let dir = self.root.join(sub);
            for entry in fs::read_dir(&dir).map_err(|e| io_err(&e, &dir))? {
                let name = entry.map_err(|e| io_err(&e, &dir))?.file_name();
                if let Some(stem) = name.to_string_lossy().strip_suffix(".raw") {
                    out.push(ImageName(stem.to_owned()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn access(&self, image: &ImageName, wwn: &str, qos: QosLimits) -> VolumeAccess {
        let path = self.image_path(image);
        VolumeAccess {
            driver: "local".into(),
            handle: wwn.to_owned(),
            attributes: BTreeMap::from([
                ("path".to_owned(), path.display().to_string()),
                ("qos_iops_limit".to_owned(), qos.iops.to_string()),
                ("qos_bps_limit".to_owned(), qos.bps.to_string()),
            ]),
            secret_data: SecretData::default(),
        }
    }

    fn write(&self, image: &ImageName, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let path = self.image_path(image);
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&e, &path))?;
        f.write_all_at(data, offset)
            .map_err(|e| io_err(&e, &path))?;
        f.sync_data().map_err(|e| io_err(&e, &path))
    }

    fn read(&self, image: &ImageName, offset: u64, len: usize) -> Result<Vec<u8>, BackendError> {
        let path = self.image_path(image);
        let f = File::open(&path).map_err(|e| io_err(&e, &path))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)
            .map_err(|e| io_err(&e, &path))?;
        Ok(buf)
    }

    fn image_dir(&self) -> Option<PathBuf> {
        self.image_dir.clone()
    }
}

/// Records as one JSON file per key under `<root>/records/<namespace>/`.
#[derive(Clone, Debug)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store under `root/records` (created if missing).
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(root: &Path) -> io::Result<Self> {
        for ns in Namespace::ALL {
            fs::create_dir_all(root.join("records").join(ns.as_str()))?;
        }
        Ok(Self {
            root: root.join("records"),
        })
    }

    fn path(&self, ns: Namespace, key: &str) -> Result<PathBuf, BackendError> {
        let safe = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !safe {
            return Err(BackendError::Refused(format!("Unsafe record key `{key}`")));
        }
        Ok(self.root.join(ns.as_str()).join(format!("{key}.json")))
    }
}

impl RecordStore for FileStore {
    fn load(&self, ns: Namespace) -> Result<BTreeMap<String, Vec<u8>>, BackendError> {
        let dir = self.root.join(ns.as_str());
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_err(&e, &dir))? {
            let path = entry.map_err(|e| io_err(&e, &dir))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(key) = name.strip_suffix(".json") else {
                continue;
            };
            let bytes = fs::read(&path).map_err(|e| io_err(&e, &path))?;
            out.insert(key.to_owned(), bytes);
        }
        Ok(out)
    }

    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<(), BackendError> {
        let path = self.path(ns, key)?;
        let tmp = tmp_of(&path);
        fs::write(&tmp, value).map_err(|e| io_err(&e, &tmp))?;
        publish(&tmp, &path)
    }

    fn delete(&self, ns: Namespace, key: &str) -> Result<(), BackendError> {
        let path = self.path(ns, key)?;
        remove_file(&path)
    }
}

fn io_err(e: &io::Error, path: &Path) -> BackendError {
    BackendError::Failed(format!("{}: {e}", path.display()))
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn set_len(path: &Path, size: StorageBytes) -> Result<(), BackendError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(&e, path))?;
    f.set_len(size.0).map_err(|e| io_err(&e, path))?;
    f.sync_all().map_err(|e| io_err(&e, path))
}

/// Syncs `tmp`, renames it over `dst` and syncs the directory: after this returns, `dst` is
/// durable.
fn publish(tmp: &Path, dst: &Path) -> Result<(), BackendError> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(&e, tmp))?;
    fs::rename(tmp, dst).map_err(|e| io_err(&e, dst))?;
    if let Some(dir) = dst.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&e, dir))?;
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<(), BackendError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&e, path)),
    }
}

/// Copies `src` to `dst` by reflink (shared extents: instant, no extra space) where the
/// filesystem supports it, else by an ordinary copy.
fn clone_file(src: &Path, dst: &Path) -> Result<(), BackendError> {
    let from = File::open(src).map_err(|e| io_err(&e, src))?;
    let to = File::create(dst).map_err(|e| io_err(&e, dst))?;
    // SAFETY: both descriptors are open files owned by this function for the whole call; the
    // ioctl only reads `from`'s extents and writes `to`'s.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
    if rc == 0 {
        return Ok(());
    }
    drop(to);
    fs::copy(src, dst).map(|_| ()).map_err(|e| io_err(&e, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_file_copies_content() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"hello").unwrap();
        clone_file(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"hello");
    }

    #[test]
    fn store_refuses_path_like_keys() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        assert!(s.put(Namespace::Volumes, "../x", b"{}").is_err());
        s.put(Namespace::Volumes, "abc", b"{}").unwrap();
        assert_eq!(s.load(Namespace::Volumes).unwrap().len(), 1);
        s.delete(Namespace::Volumes, "abc").unwrap();
        s.delete(Namespace::Volumes, "abc").unwrap();
    }
}
