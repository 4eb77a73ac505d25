//! The fake backend for the simulator and `--backend sim`: an in-memory block store with
//! RBD's rules (images, protected snapshots, clones that depend on them, no removal of an image
//! that has snapshots, no shrink, bounded capacity) and an in-memory record store, both of which
//! can be switched "down" to act out a Ceph outage.
//!
//! It keeps real state so the conformance suite can check it like the real backends; it is not
//! a mock that answers whatever it is told.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrocore_api::iri::volume::{SecretData, StorageBytes, VolumeAccess};

use crate::backend::{BackendError, BlockBackend, Provision, RecordStore};
use crate::record::{BASE_SNAPSHOT, ImageName, Namespace, QosLimits, Source};

/// The fake keeps written data in chunks of this size (sparse: unwritten chunks read as zeros,
/// so a 1 TiB fake image costs nothing until written).
const CHUNK: u64 = 4096;

/// A position inside a chunk (always below [`CHUNK`], so it fits any `usize`).
fn in_chunk(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// Sparse image content: chunk index → chunk bytes.
#[derive(Clone, Debug, Default, PartialEq)]
struct Data(BTreeMap<u64, Vec<u8>>);

impl Data {
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut d = Self::default();
        d.write(0, bytes);
        d
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        for (at, b) in (offset..).zip(bytes) {
            let chunk = self
                .0
                .entry(at / CHUNK)
                .or_insert_with(|| vec![0; in_chunk(CHUNK)]);
            chunk[in_chunk(at % CHUNK)] = *b;
        }
    }

    fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        (offset..)
            .take(len)
            .map(|at| {
                self.0
                    .get(&(at / CHUNK))
                    .map_or(0, |c| c[in_chunk(at % CHUNK)])
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default)]
struct Snap {
    data: Data,
    size: u64,
}

#[derive(Clone, Debug, Default)]
struct Image {
    size: u64,
    data: Data,
    snaps: BTreeMap<String, Snap>,
    parent: Option<(ImageName, String)>,
    encrypted: bool,
    meta: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    images: BTreeMap<ImageName, Image>,
    records: BTreeMap<(Namespace, String), Vec<u8>>,
}

/// The fake cluster: one block store and one record store sharing an up/down switch.
#[derive(Clone, Debug)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
    capacity: StorageBytes,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Fake {
    /// A fake cluster with `capacity` bytes (thick accounting: provisioned sizes add up).
    pub fn new(capacity: StorageBytes) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            down: Arc::new(AtomicBool::new(false)),
            capacity,
            files: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Switches the outage on or off: while down, every call fails as unreachable.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Registers an OS image file the fake can "read" at `path` (no real file system).
    pub fn add_image_file(&self, path: &str, content: Vec<u8>) {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), content);
    }

    /// Every image's name.
    pub fn image_names(&self) -> Vec<ImageName> {
        self.lock().images.keys().cloned().collect()
    }

    /// Image-level configuration set on `image` (e.g. `conf_rbd_qos_iops_limit`).
    pub fn image_meta(&self, image: &ImageName) -> BTreeMap<String, String> {
        self.lock()
            .images
            .get(image)
            .map(|i| i.meta.clone())
            .unwrap_or_default()
    }

    /// Whether `image` was formatted with LUKS2.
    pub fn encrypted(&self, image: &ImageName) -> bool {
        self.lock().images.get(image).is_some_and(|i| i.encrypted)
    }

    /// The block side, as a backend.
    pub fn block(&self) -> Arc<dyn BlockBackend> {
        Arc::new(self.clone())
    }

    /// The record side, as a store.
    pub fn store(&self) -> Arc<dyn RecordStore> {
        Arc::new(FakeStore(self.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn up(&self) -> Result<MutexGuard<'_, State>, BackendError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("fake cluster is down".into()));
        }
        Ok(self.lock())
    }

    fn used(state: &State) -> u64 {
        state.images.values().map(|i| i.size).sum()
    }

    fn room_for(&self, state: &State, extra: u64) -> Result<(), BackendError> {
        if Self::used(state).saturating_add(extra) > self.capacity.0 {
            return Err(BackendError::Refused("Out of space".into()));
        }
        Ok(())
    }
}

fn missing(image: &ImageName) -> BackendError {
    BackendError::Failed(format!("No image {image}"))
}

impl BlockBackend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn supports_encryption(&self) -> bool {
        true
    }

    fn probe(&self) -> Result<(), BackendError> {
        self.up().map(|_| ())
    }

    fn capacity(&self) -> Result<StorageBytes, BackendError> {
        let s = self.up()?;
        Ok(StorageBytes(self.capacity.0.saturating_sub(Self::used(&s))))
    }

    fn import_base(
        &self,
        base: &ImageName,
        path: &std::path::Path,
    ) -> Result<StorageBytes, BackendError> {
        let mut s = self.up()?;
        if let Some(i) = s.images.get(base) {
            return Ok(StorageBytes(i.size));
        }
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let content = files.get(&path.display().to_string()).ok_or_else(|| {
            BackendError::Refused(format!("Image file {} not found", path.display()))
        })?;
        let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
        self.room_for(&s, size)?;
        let snap = Snap {
            data: Data::from_bytes(content),
            size,
        };
        let image = Image {
            size,
            data: Data::from_bytes(content),
            snaps: BTreeMap::from([(BASE_SNAPSHOT.to_owned(), snap)]),
            ..Image::default()
        };
        s.images.insert(base.clone(), image);
        Ok(StorageBytes(size))
    }

    fn provision(&self, p: &Provision) -> Result<StorageBytes, BackendError> {
        let mut s = self.up()?;
        if s.images.contains_key(&p.image) {
            drop(s);
            return self.resize(&p.image, p.size);
        }
        let (data, size, parent) = match &p.source {
            Source::Empty => (Data::default(), 0, None),
            Source::Base(base) => {
                let snap = s
                    .images
                    .get(base)
                    .and_then(|i| i.snaps.get(BASE_SNAPSHOT))
                    .ok_or_else(|| missing(base))?;
                (
                    snap.data.clone(),
                    snap.size,
                    Some((base.clone(), BASE_SNAPSHOT.to_owned())),
                )
            }
            Source::Snapshot { image, snap } => {
                let sn = s
                    .images
                    .get(image)
                    .and_then(|i| i.snaps.get(snap))
                    .ok_or_else(|| BackendError::Refused(format!("No snapshot {image}@{snap}")))?;
                (
                    sn.data.clone(),
                    sn.size,
                    Some((image.clone(), snap.clone())),
                )
            }
        };
        if size > p.size.0 {
            return Err(BackendError::Refused(format!(
                "Source is {size} bytes, larger than {}",
                p.size
            )));
        }
        self.room_for(&s, p.size.0)?;
        let encrypted = p.format_with.is_some();
        let inherited = parent
            .as_ref()
            .is_some_and(|(i, _)| s.images.get(i).is_some_and(|i| i.encrypted));
        let meta = BTreeMap::from([
            ("wwn".to_owned(), p.wwn.clone()),
            ("conf_rbd_qos_iops_limit".to_owned(), p.qos.iops.to_string()),
            ("conf_rbd_qos_bps_limit".to_owned(), p.qos.bps.to_string()),
        ]);
        let image = Image {
            size: p.size.0,
            data,
            snaps: BTreeMap::new(),
            parent,
            encrypted: encrypted || inherited,
            meta,
        };
        s.images.insert(p.image.clone(), image);
        Ok(p.size)
    }

    fn resize(&self, image: &ImageName, size: StorageBytes) -> Result<StorageBytes, BackendError> {
        let mut s = self.up()?;
        let have = s.images.get(image).ok_or_else(|| missing(image))?.size;
        if size.0 < have {
            return Err(BackendError::Refused(format!("Cannot shrink {image}")));
        }
        self.room_for(&s, size.0 - have)?;
        if let Some(i) = s.images.get_mut(image) {
            i.size = size.0;
        }
        Ok(size)
    }

    fn remove(&self, image: &ImageName) -> Result<(), BackendError> {
        let mut s = self.up()?;
        match s.images.get(image) {
            None => Ok(()),
            Some(i) if !i.snaps.is_empty() => Err(BackendError::Failed(format!(
                "Image {image} still has snapshots"
            ))),
            Some(_) => {
                s.images.remove(image);
                Ok(())
            }
        }
    }

    fn snapshot(&self, image: &ImageName, snap: &str) -> Result<StorageBytes, BackendError> {
        let mut s = self.up()?;
        let i = s.images.get_mut(image).ok_or_else(|| missing(image))?;
        let taken = i.snaps.entry(snap.to_owned()).or_insert_with(|| Snap {
            data: i.data.clone(),
            size: i.size,
        });
        Ok(StorageBytes(taken.size))
    }

    fn remove_snapshot(&self, image: &ImageName, snap: &str) -> Result<(), BackendError> {
        let mut s = self.up()?;
        let key = Some((image.clone(), snap.to_owned()));
        // Flatten the clones first: they keep their data, lose the dependency.
        for child in s.images.values_mut().filter(|c| c.parent == key) {
            child.parent = None;
        }
        if let Some(i) = s.images.get_mut(image) {
            i.snaps.remove(snap);
        }
        Ok(())
    }

    fn list_images(&self) -> Result<Vec<ImageName>, BackendError> {
        Ok(self.up()?.images.keys().cloned().collect())
    }

    fn access(&self, image: &ImageName, wwn: &str, qos: QosLimits) -> VolumeAccess {
        VolumeAccess {
            driver: "fake".into(),
            handle: wwn.to_owned(),
            attributes: BTreeMap::from([
                ("image".to_owned(), format!("fake/{image}")),
                ("qos_iops_limit".to_owned(), qos.iops.to_string()),
                ("qos_bps_limit".to_owned(), qos.bps.to_string()),
            ]),
            secret_data: SecretData::default(),
        }
    }

    fn write(&self, image: &ImageName, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut s = self.up()?;
        let i = s.images.get_mut(image).ok_or_else(|| missing(image))?;
        let end = offset.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if end > i.size {
            return Err(BackendError::Refused(format!(
                "Write past the end of {image}"
            )));
        }
        i.data.write(offset, data);
        Ok(())
    }

    fn read(&self, image: &ImageName, offset: u64, len: usize) -> Result<Vec<u8>, BackendError> {
        let s = self.up()?;
        let i = s.images.get(image).ok_or_else(|| missing(image))?;
        Ok(i.data.read(offset, len))
    }
}

/// The fake's record store (shares the up/down switch).
#[derive(Clone, Debug)]
struct FakeStore(Fake);

impl RecordStore for FakeStore {
    fn load(&self, ns: Namespace) -> Result<BTreeMap<String, Vec<u8>>, BackendError> {
        let s = self.0.up()?;
        Ok(s.records
            .iter()
            .filter(|((n, _), _)| *n == ns)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.0
            .up()?
            .records
            .insert((ns, key.to_owned()), value.to_vec());
        Ok(())
    }

    fn delete(&self, ns: Namespace, key: &str) -> Result<(), BackendError> {
        self.0.up()?.records.remove(&(ns, key.to_owned()));
        Ok(())
    }
}
