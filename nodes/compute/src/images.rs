//! The node's image store: raw and qcow2 disk images (and the kernels and initramfs images that
//! boot them directly), imported from a file or an HTTP(S) URL, stored by content
//! (`blobs/sha256-<hex>`) and found by name (`gardenlinux:rootfs-image`) or by digest
//! (`sha256:<hex>`). A machine's root disk is a qcow2 overlay on a blob; blobs are never
//! written after import.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::host::{ImageBoot, ResolvedImage};
use crate::runtime::lock;

/// Largest image accepted (a download or file bigger than this is refused, not truncated).
pub const MAX_IMAGE_BYTES: u64 = 64 << 30;

/// Copy buffer for imports.
const COPY_CHUNK: usize = 1 << 20;

/// Image store failures.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image has this name or digest.
    #[error("Image {0:?} not found")]
    NotFound(String),
    /// The source could not be read or downloaded.
    #[error("Cannot read image source {0}")]
    Source(String, #[source] io::Error),
    /// The download failed.
    #[error("Download of {0} failed: {1}")]
    Download(String, String),
    /// The image is not acceptable (too big, a qcow2 with a backing file, a bad name).
    #[error("Image refused: {0}")]
    Refused(String),
    /// The store's files could not be written or read.
    #[error("Image store I/O")]
    Io(#[from] io::Error),
}

/// Where an image comes from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ImageSource {
    /// A local file.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
}

impl ImageSource {
    /// A URL when `s` starts with `http://` or `https://`, else a file path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Self::Url(s.to_string())
        } else {
            Self::File(PathBuf::from(s))
        }
    }
}

/// How an imported image boots.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BootImport {
    /// Firmware boots the disk (UEFI with OVMF, or BIOS).
    Disk {
        /// UEFI.
        uefi: bool,
    },
    /// Boot this kernel and initramfs directly; the disk is the root disk.
    Kernel {
        /// Kernel.
        kernel: ImageSource,
        /// Initramfs.
        initrd: ImageSource,
        /// Command line (the node's default if `None`).
        cmdline: Option<String>,
    },
}

#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
enum StoredBoot {
    Disk {
        uefi: bool,
    },
    Kernel {
        kernel: String,
        initrd: String,
        cmdline: Option<String>,
    },
}

/// One named image.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct ImageEntry {
    /// `sha256:<hex>` of the disk.
    pub digest: String,
    /// `raw` or `qcow2`.
    pub format: String,
    /// Virtual disk size.
    pub virtual_size: u64,
    boot: StoredBoot,
}

/// The store.
#[derive(Debug)]
pub struct ImageStore {
    dir: PathBuf,
    /// Serialises index updates (imports of different names may run concurrently).
    index_lock: Mutex<()>,
}

impl ImageStore {
    /// A store in `dir` (created if missing, world-traversable so QEMU can read blobs).
    ///
    /// # Errors
    /// [`ImageError::Io`] when the directories cannot be made.
    pub fn open(dir: &Path) -> Result<Self, ImageError> {
        fs::create_dir_all(dir.join("blobs"))?;
        for d in [dir.to_path_buf(), dir.join("blobs")] {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            index_lock: Mutex::new(()),
        })
    }

    /// Imports a disk image under `name` (replacing what the name pointed to).
    ///
    /// # Errors
    /// [`ImageError`] for unreadable sources, failed downloads, refused images or I/O.
    pub fn import(
        &self,
        name: &str,
        disk: &ImageSource,
        boot: &BootImport,
    ) -> Result<ImageEntry, ImageError> {
        let name = normalize(name)?;
        let (digest, path) = self.import_blob(disk)?;
        let (format, virtual_size) = inspect(&path)?;
        let boot = match boot {
            BootImport::Disk { uefi } => StoredBoot::Disk { uefi: *uefi },
            BootImport::Kernel {
                kernel,
                initrd,
                cmdline,
            } => StoredBoot::Kernel {
                kernel: self.import_blob(kernel)?.0,
                initrd: self.import_blob(initrd)?.0,
                cmdline: cmdline.clone(),
            },
        };
        let entry = ImageEntry {
            digest,
            format: format.to_string(),
            virtual_size,
            boot,
        };
        let _guard = lock(&self.index_lock);
        let mut index = self.index()?;
        index.insert(name, entry.clone());
        self.write_index(&index)?;
        Ok(entry)
    }

    /// Resolves `name[:tag]` (tag defaults to `latest`) or `sha256:<hex>`.
    ///
    /// # Errors
    /// [`ImageError::NotFound`] for an unknown reference.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage, ImageError> {
        let index = self.index()?;
        let entry = normalize(reference)
            .ok()
            .and_then(|n| index.get(&n))
            .or_else(|| index.values().find(|e| e.digest == reference))
            .ok_or_else(|| ImageError::NotFound(reference.to_string()))?;
        let boot = match &entry.boot {
            StoredBoot::Disk { uefi } => ImageBoot::Disk { uefi: *uefi },
            StoredBoot::Kernel {
                kernel,
                initrd,
                cmdline,
            } => ImageBoot::Kernel {
                kernel: self.blob_path(kernel),
                initrd: self.blob_path(initrd),
                cmdline: cmdline.clone(),
            },
        };
        Ok(ResolvedImage {
            digest: entry.digest.clone(),
            path: self.blob_path(&entry.digest),
            format: if entry.format == "qcow2" {
                "qcow2"
            } else {
                "raw"
            },
            virtual_size: entry.virtual_size,
            boot,
        })
    }

    /// All names with their entries.
    ///
    /// # Errors
    /// [`ImageError::Io`] when the index cannot be read.
    pub fn list(&self) -> Result<BTreeMap<String, ImageEntry>, ImageError> {
        self.index()
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs").join(digest.replace(':', "-"))
    }

    fn index(&self) -> Result<BTreeMap<String, ImageEntry>, ImageError> {
        match fs::read(self.dir.join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::Io(io::Error::new(io::ErrorKind::InvalidData, e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn write_index(&self, index: &BTreeMap<String, ImageEntry>) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
        let tmp = self.dir.join("index.json.tmp");
        fs::write(&tmp, bytes)?;
        fs::rename(tmp, self.dir.join("index.json"))?;
        Ok(())
    }

    /// Copies a source into the blob directory, hashing on the way; an existing blob of the
    /// same content is kept.
    fn import_blob(&self, source: &ImageSource) -> Result<(String, PathBuf), ImageError> {
        let (mut reader, label): (Box<dyn Read>, String) = match source {
            ImageSource::File(path) => {
                let file = fs::File::open(path)
                    .map_err(|e| ImageError::Source(path.display().to_string(), e))?;
                (Box::new(file), path.display().to_string())
            }
            ImageSource::Url(url) => {
                let response = ureq::get(url)
                    .call()
                    .map_err(|e| ImageError::Download(url.clone(), e.to_string()))?;
                let reader = response
                    .into_body()
                    .into_with_config()
                    .limit(MAX_IMAGE_BYTES)
                    .reader();
                (Box::new(reader), url.clone())
            }
        };
        let tmp = tempfile_in(&self.dir.join("blobs"))?;
        let mut out = fs::File::create(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut total: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(ImageError::Source(label, e));
                }
            };
            total += n as u64;
            if total > MAX_IMAGE_BYTES {
                let _ = fs::remove_file(&tmp);
                return Err(ImageError::Refused(format!(
                    "{label} is larger than {MAX_IMAGE_BYTES} bytes"
                )));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        out.sync_all()?;
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = format!("sha256:{hex}");
        let path = self.blob_path(&digest);
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
        fs::rename(&tmp, &path)?;
        Ok((digest, path))
    }
}

fn tempfile_in(dir: &Path) -> Result<PathBuf, ImageError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(dir.join(format!(".import-{}-{n}", std::process::id())))
}

/// `name` → `name:latest`; names are `[a-z0-9._/-]` with an optional `:tag`.
fn normalize(name: &str) -> Result<String, ImageError> {
    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let ok = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
    };
    let dotted = repo
        .split('/')
        .any(|seg| seg.is_empty() || seg.starts_with('.'));
    if repo == "sha256" || dotted || !ok(repo, &['/']) || !ok(tag, &[]) {
        return Err(ImageError::Refused(format!("bad image name {name:?}")));
    }
    Ok(format!("{repo}:{tag}"))
}

/// The format and virtual size of a disk image: qcow2 by its magic (big-endian size at byte
/// 24), anything else raw (its length). A qcow2 with a backing file is refused: it could point
/// the guest at any file on the node.
pub(crate) fn inspect(path: &Path) -> Result<(&'static str, u64), ImageError> {
    let mut header = [0u8; 32];
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let n = file.read(&mut header)?;
    if n >= 32 && header[..4] == *b"QFI\xfb" {
        let backing = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
        if backing != 0 {
            return Err(ImageError::Refused(
                "qcow2 images with a backing file are not accepted".into(),
            ));
        }
        return Ok((
            "qcow2",
            u64::from_be_bytes(header[24..32].try_into().unwrap_or_default()),
        ));
    }
    Ok(("raw", len))
}

#[cfg(test)]
mod tests;
