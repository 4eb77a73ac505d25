//! The conformance suite against the fake and the local-file backend.

use std::path::PathBuf;
use std::sync::Arc;

use ferrocore_api::iri::volume::StorageBytes;
use ferrocore_node_storage::conformance::{self, Harness};
use ferrocore_node_storage::fake::Fake;
use ferrocore_node_storage::{FileStore, Kek, LocalBackend, VolumeConfig, VolumeService};
use ferrocore_runtime::{ManualClock, SeededRng, WallTime};

fn config() -> VolumeConfig {
    VolumeConfig {
        classes: conformance::classes(),
        kek: Some(Kek::from_bytes(&[9u8; 32]).unwrap()),
    }
}

struct FakeHarness {
    fake: Fake,
    clock: ManualClock,
}

impl Harness for FakeHarness {
    fn open(&self) -> VolumeService {
        VolumeService::open(
            self.fake.block(),
            self.fake.store(),
            config(),
            Arc::new(self.clock.clone()),
            Box::new(SeededRng::new(7)),
        )
        .unwrap()
    }

    fn os_image(&self, name: &str, content: &[u8]) -> String {
        let path = format!("/images/{name}");
        self.fake.add_image_file(&path, content.to_vec());
        path
    }
}

struct LocalHarness {
    dir: tempfile::TempDir,
    images: PathBuf,
}

impl Harness for LocalHarness {
    fn open(&self) -> VolumeService {
        let root = self.dir.path().join("node");
        let backend = LocalBackend::open(&root, Some(self.images.clone())).unwrap();
        let store = FileStore::open(&root).unwrap();
        let clock = ManualClock::new(WallTime::from_unix_nanos(1));
        VolumeService::open(
            Arc::new(backend),
            Arc::new(store),
            config(),
            Arc::new(clock),
            Box::new(SeededRng::new(8)),
        )
        .unwrap()
    }

    fn os_image(&self, name: &str, content: &[u8]) -> String {
        std::fs::write(self.images.join(name), content).unwrap();
        name.to_owned()
    }
}

#[test]
fn fake_passes_the_conformance_suite() {
    let h = FakeHarness {
        fake: Fake::new(StorageBytes(64 << 30)),
        clock: ManualClock::new(WallTime::from_unix_nanos(1)),
    };
    conformance::run_all(&h);
    let left = h.fake.image_names();
    assert!(
        left.iter().all(|i| i.as_str().starts_with("snap_")),
        "only base images remain: {left:?}"
    );
}

#[test]
fn local_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let h = LocalHarness { dir, images };
    conformance::run_all(&h);
}
