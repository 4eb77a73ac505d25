//! The Ceph backend: volumes as RBD images in one pool, the runtime's records as omap entries
//! of RADOS objects in the same pool (`ferrocore.volumes`, `ferrocore.snapshots`, ...), so a
//! node that loses its disk loses nothing.
//!
//! Thin adapter: each method is one idempotent step that the core asked for; the safe
//! wrappers over librados ([`rados`]) and librbd ([`rbd`]) hold every `unsafe`.
//!
//! Naming (ceph-provider's): volume image `img_<id>`, OS image base `snap_<digest>` with
//! protected snapshot `v1`, volume snapshot = RBD snapshot `<snapshot id>` on the volume image.

pub mod rados;
pub mod rbd;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use ferrocore_api::iri::volume::{SecretData, StorageBytes, VolumeAccess};

use self::rados::{CephError, Cluster, IoCtx};
use self::rbd::Image;
use crate::backend::{BackendError, BlockBackend, Provision, RecordStore};
use crate::record::{BASE_SNAPSHOT, ImageName, Namespace, QosLimits, Source};

/// Seconds before a librados call against an unresponsive cluster fails (mount, monitor and
/// OSD operations): long enough for a loaded 2-core box, short enough to report an outage.
pub const CEPH_TIMEOUT_SECS: u32 = 5;
/// Bytes per write when importing an OS image (ceph-provider uses 5 MiB; RBD objects are 4 MiB).
const IMPORT_CHUNK: usize = 4 << 20;
/// Image metadata key shown on encrypted images (for operators using `rbd image-meta list`).
const ENCRYPTED_META: &str = "ferrocore.encryption";
/// Object whose omap records the images whose LUKS2 header is written, so a retry after a
/// crash between formatting and persisting the record does not format twice.
const ENCRYPTED_OBJECT: &str = "ferrocore.encrypted";
/// ceph-provider's burst factor: bursts may reach this multiple of the class limit.
const QOS_BURST_FACTOR: u64 = 10;

/// Where and as whom to reach the cluster.
#[derive(Clone, Debug)]
pub struct CephConfig {
    /// `ceph.conf` path (monitor addresses, keyring locations).
    pub conf: String,
    /// The node's own cephx user id (e.g. `admin`).
    pub user: String,
    /// The pool for images and records (must exist).
    pub pool: String,
    /// The cephx user handed to machines in `status.access` (e.g. `volumes`).
    pub client_user: String,
    /// The monitor addresses handed to machines (`127.0.0.1:6789`).
    pub monitors: String,
    /// Seconds before a call against an unresponsive cluster fails (normally
    /// [`CEPH_TIMEOUT_SECS`]; tests of outages use less to keep the outage short).
    pub timeout_secs: u32,
}

#[derive(Debug)]
struct Conn {
    cluster: Arc<Cluster>,
    io: IoCtx,
}

/// RBD images and omap records in one pool.
#[derive(Debug)]
pub struct CephBackend {
    config: CephConfig,
    conn: Mutex<Option<Arc<Conn>>>,
    client_key: Mutex<Option<String>>,
}

fn unavailable_or_failed(e: CephError) -> BackendError {
    if e.is_unreachable() {
        BackendError::Unavailable(format!("Ceph unreachable: {e}"))
    } else {
        BackendError::Failed(e.to_string())
    }
}

impl CephBackend {
    /// A backend for `config`; connects lazily (and again after failures), so a node can start
    /// while Ceph is down.
    pub fn new(config: CephConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            conn: Mutex::new(None),
            client_key: Mutex::new(None),
        })
    }

    /// The record store over the same connection.
    pub fn store(self: &Arc<Self>) -> Arc<dyn RecordStore> {
        Arc::new(OmapStore(self.clone()))
    }

    fn conn(&self) -> Result<Arc<Conn>, BackendError> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cluster = Cluster::connect(
            &self.config.conf,
            &self.config.user,
            self.config.timeout_secs,
        )
        .map_err(|e| BackendError::Unavailable(format!("Ceph unreachable: {e}")))?;
        let io = cluster
            .ioctx(&self.config.pool)
            .map_err(unavailable_or_failed)?;
        let conn = Arc::new(Conn { cluster, io });
        *slot = Some(conn.clone());
        Ok(conn)
    }

    fn io<T>(&self, f: impl FnOnce(&IoCtx) -> Result<T, CephError>) -> Result<T, BackendError> {
        let conn = self.conn()?;
        f(&conn.io).map_err(unavailable_or_failed)
    }

    fn fetch_client_key(&self) -> Result<(), BackendError> {
        if self
            .client_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        let conn = self.conn()?;
        let cmd = format!(
            r#"{{"prefix":"auth get-key","entity":"client.{}","format":"json"}}"#,
            self.config.client_user
        );
        let out = conn
            .cluster
            .mon_command(&cmd)
            .map_err(unavailable_or_failed)?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| BackendError::Failed(e.to_string()))?;
        let key = v
            .get("key")
            .and_then(|k| k.as_str())
            .ok_or_else(|| BackendError::Failed("auth get-key: no key".into()))?;
        *self
            .client_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(key.to_owned());
        Ok(())
    }

    fn apply_config(img: &Image, p: &Provision) -> Result<(), CephError> {
        img.set_meta("wwn", &p.wwn)?;
        // The total limits bind reads and writes together; every key is one OSD round trip,
        // so the per-direction variants ceph-provider also sets are left out.
        let limits = [("iops", p.qos.iops), ("bps", p.qos.bps)];
        for (name, limit) in limits.into_iter().filter(|(_, l)| *l > 0) {
            img.set_meta(&format!("conf_rbd_qos_{name}_limit"), &limit.to_string())?;
            let burst = limit.saturating_mul(QOS_BURST_FACTOR);
            img.set_meta(&format!("conf_rbd_qos_{name}_burst"), &burst.to_string())?;
        }
        Ok(())
    }

    fn create_image(io: &IoCtx, p: &Provision) -> Result<(), CephError> {
        let result = match &p.source {
            Source::Empty => rbd::create(io, p.image.as_str(), p.size.0),
            Source::Base(base) => rbd::clone(io, base.as_str(), BASE_SNAPSHOT, p.image.as_str()),
            Source::Snapshot { image, snap } => {
                rbd::clone(io, image.as_str(), snap, p.image.as_str())
            }
        };
        match result {
            // Created by an earlier attempt that crashed before its record was updated.
            Err(e) if e.errno == libc::EEXIST => Ok(()),
            other => other,
        }
    }
}

impl BlockBackend for CephBackend {
    fn name(&self) -> &'static str {
        "ceph"
    }

    fn supports_encryption(&self) -> bool {
        true
    }

    fn probe(&self) -> Result<(), BackendError> {
        // A stat is a round trip to an OSD: it fails when the OSDs are gone, not only the mons.
        self.io(|io| io.exists("ferrocore.volumes").map(|_| ()))?;
        self.fetch_client_key()
    }

    fn capacity(&self) -> Result<StorageBytes, BackendError> {
        let conn = self.conn()?;
        let out = conn
            .cluster
            .mon_command(r#"{"prefix":"df","format":"json"}"#)
            .map_err(unavailable_or_failed)?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| BackendError::Failed(e.to_string()))?;
        let pools = v
            .get("pools")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        let stats = pools
            .iter()
            .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(self.config.pool.as_str()))
            .and_then(|p| p.get("stats"))
            .ok_or_else(|| BackendError::Failed(format!("df: no pool {}", self.config.pool)))?;
        let get = |k: &str| {
            stats
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        Ok(StorageBytes(get("max_avail")))
    }

    fn import_base(&self, base: &ImageName, path: &Path) -> Result<StorageBytes, BackendError> {
        let done = self.io(
            |io| match Image::open(io, base.as_str(), Some(BASE_SNAPSHOT)) {
                Ok(img) => img.size().map(Some),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
        )?;
        if let Some(size) = done {
            return Ok(StorageBytes(size));
        }
        let mut file = std::fs::File::open(path)
            .map_err(|e| BackendError::Refused(format!("Image file {}: {e}", path.display())))?;
        let len = file
            .metadata()
            .map_err(|e| BackendError::Failed(e.to_string()))?
            .len();
        self.io(|io| {
            // A half-written base from a crashed import has no snapshot yet: start over.
            match rbd::remove(io, base.as_str()) {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
            rbd::create(io, base.as_str(), len)?;
            let img = Image::open(io, base.as_str(), None)?;
            let mut buf = vec![0u8; IMPORT_CHUNK];
            let mut offset = 0u64;
            loop {
                let n = file.read(&mut buf).map_err(|e| CephError {
                    op: format!("reading {}: {e}", path.display()),
                    errno: libc::EIO,
                })?;
                if n == 0 {
                    break;
                }
                img.write(offset, &buf[..n])?;
                offset += n as u64;
            }
            img.snap_create_protected(BASE_SNAPSHOT)
        })?;
        Ok(StorageBytes(len))
    }

    fn provision(&self, p: &Provision) -> Result<StorageBytes, BackendError> {
        self.io(|io| Self::create_image(io, p))?;
        let have = self.io(|io| Image::open(io, p.image.as_str(), None)?.size())?;
        if have > p.size.0 {
            return Err(BackendError::Refused(format!(
                "Source is {have} bytes, larger than {}",
                p.size
            )));
        }
        self.io(|io| {
            let img = Image::open(io, p.image.as_str(), None)?;
            if have < p.size.0 {
                img.resize(p.size.0)?;
            }
            Self::apply_config(&img, p)
        })?;
        if let Some(pass) = &p.format_with {
            self.io(|io| {
                if formatted(io, p.image.as_str())? {
                    return Ok(());
                }
                let img = Image::open(io, p.image.as_str(), None)?;
                img.format_luks2(&pass.0)?;
                img.set_meta(ENCRYPTED_META, "luks2")?;
                io.omap_set(ENCRYPTED_OBJECT, p.image.as_str(), b"luks2")
            })?;
        }
        Ok(p.size)
    }

    fn resize(&self, image: &ImageName, size: StorageBytes) -> Result<StorageBytes, BackendError> {
        let have = self.io(|io| Image::open(io, image.as_str(), None)?.size())?;
        if size.0 < have {
            return Err(BackendError::Refused(format!("Cannot shrink {image}")));
        }
        self.io(|io| Image::open(io, image.as_str(), None)?.resize(size.0))?;
        Ok(size)
    }

    fn remove(&self, image: &ImageName) -> Result<(), BackendError> {
        self.io(|io| match rbd::remove(io, image.as_str()) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        })?;
        self.io(|io| io.omap_remove(ENCRYPTED_OBJECT, image.as_str()))
    }

    fn snapshot(&self, image: &ImageName, snap: &str) -> Result<StorageBytes, BackendError> {
        self.io(|io| {
            let img = Image::open(io, image.as_str(), None)?;
            img.snap_create_protected(snap)?;
            Image::open(io, image.as_str(), Some(snap))?.size()
        })
        .map(StorageBytes)
    }

    fn remove_snapshot(&self, image: &ImageName, snap: &str) -> Result<(), BackendError> {
        self.io(|io| {
            let at_snap = match Image::open(io, image.as_str(), Some(snap)) {
                Ok(i) => i,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            for child in at_snap.children()? {
                Image::open(io, &child, None)?.flatten()?;
            }
            drop(at_snap);
            Image::open(io, image.as_str(), None)?.snap_remove(snap)
        })
    }

    fn list_images(&self) -> Result<Vec<ImageName>, BackendError> {
        self.io(rbd::list)
            .map(|names| names.into_iter().map(ImageName).collect())
    }

    fn access(&self, image: &ImageName, wwn: &str, qos: QosLimits) -> VolumeAccess {
        let key = self
            .client_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        VolumeAccess {
            driver: "ceph".into(),
            handle: wwn.to_owned(),
            attributes: BTreeMap::from([
                ("monitors".to_owned(), self.config.monitors.clone()),
                ("image".to_owned(), format!("{}/{image}", self.config.pool)),
                ("qos_iops_limit".to_owned(), qos.iops.to_string()),
                ("qos_bps_limit".to_owned(), qos.bps.to_string()),
            ]),
            secret_data: SecretData(BTreeMap::from([
                (
                    "userID".to_owned(),
                    self.config.client_user.clone().into_bytes(),
                ),
                ("userKey".to_owned(), key.into_bytes()),
            ])),
        }
    }

    fn write(&self, image: &ImageName, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.io(|io| Image::open(io, image.as_str(), None)?.write(offset, data))
    }

    fn read(&self, image: &ImageName, offset: u64, len: usize) -> Result<Vec<u8>, BackendError> {
        self.io(|io| Image::open(io, image.as_str(), None)?.read(offset, len))
    }
}

/// Whether `image`'s LUKS2 header is recorded as written.
fn formatted(io: &IoCtx, image: &str) -> Result<bool, CephError> {
    Ok(io.omap_all(ENCRYPTED_OBJECT)?.contains_key(image))
}

/// The runtime's records as omap entries of `ferrocore.<namespace>` objects in the pool.
#[derive(Debug)]
struct OmapStore(Arc<CephBackend>);

fn object(ns: Namespace) -> String {
    format!("ferrocore.{}", ns.as_str())
}

impl RecordStore for OmapStore {
    fn load(&self, ns: Namespace) -> Result<BTreeMap<String, Vec<u8>>, BackendError> {
        self.0.io(|io| io.omap_all(&object(ns)))
    }

    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.0.io(|io| io.omap_set(&object(ns), key, value))
    }

    fn delete(&self, ns: Namespace, key: &str) -> Result<(), BackendError> {
        self.0.io(|io| io.omap_remove(&object(ns), key))
    }
}
