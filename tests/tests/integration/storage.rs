//! The storage node against real Ceph (started by `scripts/ci.d/30-ceph.sh`): the conformance
//! suite, access and QoS, RGW buckets with S3 put/get, SIGKILL during 50 creates, and an
//! outage (the OSD paused) with recovery.
//!
//! Each test works in its own fresh pool (records and images are per pool, so a runtime's
//! orphan sweep never sees another test's images), and the tests run one at a time: the outage
//! test pauses the whole cluster.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ferrocore_api::iri::bucket::{
    ACCESS_KEY_ID, BucketClass, BucketClassCapabilities, BucketState, CreateBucketRequest,
    DeleteBucketRequest, ListBucketsRequest, SECRET_ACCESS_KEY,
};
use ferrocore_api::iri::volume::{
    DeleteVolumeRequest, ENCRYPTION_KEY, ListVolumesRequest, RuntimeError, SecretData,
    VolumeEncryption, VolumeState,
};
use ferrocore_node_storage::ceph::{CEPH_TIMEOUT_SECS, CephBackend, CephConfig};
use ferrocore_node_storage::conformance::{self, Harness, classes, find, request};
use ferrocore_node_storage::s3::{S3Client, S3Credentials, amz_date};
use ferrocore_node_storage::{
    BucketService, ImageName, Kek, RGW_REGION, RgwObjectStore, VolumeConfig, VolumeService, Workers,
};
use ferrocore_runtime::{Clock, SeededRng, SystemClock};

/// Serialises the Ceph tests: the outage test pauses the cluster for everyone.
static CEPH: Mutex<()> = Mutex::new(());

struct CephEnv {
    dir: PathBuf,
    conf: String,
    rgw: String,
    admin: S3Credentials,
}

/// The running test cluster, or `None` (skip) outside CI when it is not running. In CI a
/// missing cluster fails the test.
fn ceph_env() -> Option<CephEnv> {
    let dir = PathBuf::from(
        std::env::var("CEPH_TEST_DIR").unwrap_or_else(|_| "/var/lib/ferrocore-ceph".into()),
    );
    let Ok(text) = std::fs::read_to_string(dir.join("env")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Ceph is not running: scripts/ceph-up.sh must run first"
        );
        eprintln!("storage: Ceph not running (scripts/ceph-up.sh); skipping");
        return None;
    };
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_owned()
    };
    Some(CephEnv {
        dir,
        conf: get("CEPH_CONF"),
        rgw: get("RGW_ENDPOINT"),
        admin: S3Credentials {
            access_key: get("RGW_ADMIN_ACCESS_KEY"),
            secret_key: get("RGW_ADMIN_SECRET_KEY"),
        },
    })
}

fn lock() -> MutexGuard<'static, ()> {
    CEPH.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ceph(env: &CephEnv, args: &[&str]) -> String {
    let out = Command::new("ceph")
        .env("CEPH_CONF", &env.conf)
        .args(args)
        .output()
        .expect("ceph CLI");
    assert!(
        out.status.success(),
        "ceph {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn rbd(env: &CephEnv, args: &[&str]) -> String {
    let out = Command::new("rbd")
        .env("CEPH_CONF", &env.conf)
        .args(args)
        .output()
        .expect("rbd CLI");
    assert!(
        out.status.success(),
        "rbd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A fresh pool for one test, removed on drop.
struct Pool<'a> {
    env: &'a CephEnv,
    name: String,
}

impl<'a> Pool<'a> {
    fn new(env: &'a CephEnv, tag: &str) -> Self {
        let name = format!("ft-{tag}-{}", std::process::id());
        ceph(env, &["osd", "pool", "create", &name, "8", "8"]);
        rbd(env, &["pool", "init", &name]);
        for _ in 0..300 {
            let stat = ceph(env, &["pg", "stat", "-f", "json"]);
            let v: serde_json::Value = serde_json::from_str(&stat).unwrap();
            let s = &v["pg_summary"];
            let clean = s["num_pg_by_state"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == "active+clean");
            if clean.is_some_and(|c| c["num"] == s["num_pgs"]) {
                return Self { env, name };
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("pool {name} never became active+clean");
    }

    fn config(&self) -> CephConfig {
        self.config_with(CEPH_TIMEOUT_SECS)
    }

    fn config_with(&self, timeout_secs: u32) -> CephConfig {
        CephConfig {
            conf: self.env.conf.clone(),
            user: "admin".into(),
            pool: self.name.clone(),
            client_user: "volumes".into(),
            monitors: "127.0.0.1:6789".into(),
            timeout_secs,
        }
    }

    fn open(&self) -> VolumeService {
        self.open_with(CEPH_TIMEOUT_SECS)
    }

    fn open_with(&self, timeout_secs: u32) -> VolumeService {
        let backend = CephBackend::new(self.config_with(timeout_secs));
        let config = VolumeConfig {
            classes: classes(),
            kek: Some(Kek::from_bytes(&[5u8; 32]).unwrap()),
        };
        VolumeService::open(
            backend.clone(),
            backend.store(),
            config,
            Arc::new(SystemClock::new()),
            Box::new(SeededRng::new(std::process::id().into())),
        )
        .expect("open over Ceph")
    }

    fn images(&self) -> BTreeSet<String> {
        rbd(self.env, &["ls", &self.name])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Pool<'_> {
    fn drop(&mut self) {
        let _ = Command::new("ceph")
            .env("CEPH_CONF", &self.env.conf)
            .args([
                "osd",
                "pool",
                "delete",
                &self.name,
                &self.name,
                "--yes-i-really-really-mean-it",
            ])
            .output();
    }
}

struct CephHarness<'a> {
    pool: Pool<'a>,
    images: tempfile::TempDir,
}

impl Harness for CephHarness<'_> {
    fn open(&self) -> VolumeService {
        self.pool.open()
    }

    fn os_image(&self, name: &str, content: &[u8]) -> String {
        let path = self.images.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn settle(&self, svc: &VolumeService) {
        // Generous: one LUKS2 format alone takes ~28 s on a 2-core box.
        assert!(
            svc.settle_for(Duration::from_secs(180)),
            "Ceph work did not settle"
        );
    }
}

#[test]
fn ceph_passes_the_conformance_suite() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let h = CephHarness {
        pool: Pool::new(&env, "conf"),
        images: tempfile::tempdir().unwrap(),
    };
    conformance::run_all(&h);
    let left: Vec<String> = h
        .pool
        .images()
        .into_iter()
        .filter(|i| i.starts_with("img_"))
        .collect();
    assert!(left.is_empty(), "volume images left behind: {left:?}");
}

#[test]
fn ceph_access_carries_monitors_user_key_and_qos() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let pool = Pool::new(&env, "access");
    let svc = pool.open();
    svc.probe();
    let v = svc
        .create_volume(request("standard", 16, "access"))
        .unwrap()
        .volume;
    assert!(svc.settle_for(Duration::from_secs(60)));
    let v = find(&svc, &v.id).unwrap();
    let access = v.status.access.expect("access when Available");
    assert_eq!(access.driver, "ceph");
    let image = format!("{}/img_{}", pool.name, v.id);
    assert_eq!(access.attributes["image"], image);
    assert_eq!(access.attributes["monitors"], "127.0.0.1:6789");
    assert_eq!(access.secret_data.get("userID"), Some(&b"volumes"[..]));
    let key = ceph(&env, &["auth", "get-key", "client.volumes"]);
    assert_eq!(access.secret_data.get("userKey"), Some(key.as_bytes()));
    assert_eq!(
        rbd(
            &env,
            &["image-meta", "get", &image, "conf_rbd_qos_iops_limit"]
        ),
        "1000"
    );
    assert_eq!(
        rbd(
            &env,
            &["config", "image", "get", &image, "rbd_qos_iops_limit"]
        ),
        "1000"
    );
    assert_eq!(
        rbd(&env, &["image-meta", "get", &image, "wwn"]),
        access.handle
    );
    svc.delete_volume(&DeleteVolumeRequest { volume_id: v.id })
        .unwrap();
    assert!(svc.settle_for(Duration::from_secs(60)));
}

fn buckets(env: &CephEnv, pool: &Pool<'_>) -> BucketService {
    let objects = RgwObjectStore::new(&env.rgw, env.admin.clone()).unwrap();
    let classes = vec![BucketClass {
        name: "standard".into(),
        capabilities: BucketClassCapabilities { tps: 1, iops: 1 },
    }];
    let store = CephBackend::new(pool.config()).store();
    BucketService::open(
        classes,
        Arc::new(objects),
        store,
        Arc::new(SystemClock::new()),
        Box::new(SeededRng::new(u64::from(std::process::id()) + 1)),
    )
    .unwrap()
}

#[test]
fn rgw_buckets_serve_s3_with_the_returned_keys() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let pool = Pool::new(&env, "bucket");
    let svc = buckets(&env, &pool);
    let req = CreateBucketRequest {
        spec: ferrocore_api::iri::bucket::BucketSpec {
            class: "standard".into(),
        },
        ..Default::default()
    };
    let id = svc.create_bucket(req).unwrap().bucket.id;
    svc.reconcile_all();
    let b = svc
        .list_buckets(&ListBucketsRequest::default())
        .buckets
        .pop()
        .unwrap();
    assert_eq!(b.status.state, BucketState::Available, "{:?}", b.status);
    let access = b.status.access.unwrap();
    let creds = S3Credentials {
        access_key: String::from_utf8(access.secret_data.get(ACCESS_KEY_ID).unwrap().to_vec())
            .unwrap(),
        secret_key: String::from_utf8(access.secret_data.get(SECRET_ACCESS_KEY).unwrap().to_vec())
            .unwrap(),
    };
    let s3 = S3Client::new(&access.endpoint, creds.clone(), RGW_REGION).unwrap();
    let now = || amz_date(SystemClock::new().wall().as_unix_seconds());
    let object = format!("/{}/hello.txt", access.bucket_name);
    s3.call("PUT", &object, &[], b"s3-put-get-ok", &now())
        .expect("S3 put with the returned keys");
    assert_eq!(
        s3.call("GET", &object, &[], b"", &now()).unwrap(),
        b"s3-put-get-ok"
    );
    // A restarted runtime finds the bucket and reads the same keys back from RGW.
    drop(svc);
    let svc = buckets(&env, &pool);
    svc.reconcile_all();
    let again = svc
        .list_buckets(&ListBucketsRequest::default())
        .buckets
        .pop()
        .unwrap();
    assert_eq!(
        again.status.access.unwrap().secret_data.get(ACCESS_KEY_ID),
        access.secret_data.get(ACCESS_KEY_ID)
    );
    svc.delete_bucket(&DeleteBucketRequest { bucket_id: id })
        .unwrap();
    svc.reconcile_all();
    assert!(
        svc.list_buckets(&ListBucketsRequest::default())
            .buckets
            .is_empty()
    );
    let gone = s3.send("GET", &object, &[], b"", &now()).unwrap();
    assert!(
        gone.status >= 400,
        "bucket and user removed, got {}",
        gone.status
    );
}

#[test]
fn sigkill_during_50_creates_leaves_no_orphan_and_loses_no_volume() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let pool = Pool::new(&env, "kill");
    let drill = ferrocore_tests::ferrocore_bin().with_file_name("ferrocore-storage-drill");
    assert!(
        drill.exists(),
        "{} missing: cargo build --bins first",
        drill.display()
    );
    let mut child = Command::new(&drill)
        .args([env.conf.as_str(), pool.name.as_str(), "50"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("CREATED ") {
            acknowledged.push(id.to_owned());
        }
        if acknowledged.len() == 25 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(
        acknowledged.len(),
        25,
        "the drill acknowledged creates before the kill"
    );
    let svc = pool.open();
    assert!(
        svc.settle_for(Duration::from_secs(120)),
        "restarted runtime settles"
    );
    let listed = svc.list_volumes(&ListVolumesRequest::default()).volumes;
    let ids: BTreeSet<String> = listed.iter().map(|v| v.id.0.clone()).collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged volume {id} was lost");
    }
    assert!(
        listed
            .iter()
            .all(|v| v.status.state == VolumeState::Available),
        "all finished after restart: {:?}",
        listed
            .iter()
            .filter(|v| v.status.state != VolumeState::Available)
            .map(|v| (&v.id.0, &v.status))
            .collect::<Vec<_>>()
    );
    let images: BTreeSet<String> = pool
        .images()
        .into_iter()
        .filter(|i| i.starts_with("img_"))
        .collect();
    let owned: BTreeSet<String> = ids.iter().map(|id| ImageName::volume(id).0).collect();
    assert_eq!(
        images, owned,
        "every image belongs to a volume and every volume has its image"
    );
    for v in listed {
        svc.delete_volume(&DeleteVolumeRequest { volume_id: v.id })
            .unwrap();
    }
    assert!(svc.settle_for(Duration::from_secs(120)));
}

/// librados timeout of the outage test (seconds).
const OUTAGE_TIMEOUT_SECS: u32 = 2;

/// Pauses a Ceph daemon (SIGSTOP) until dropped (SIGCONT), so a failed assertion never leaves
/// the cluster frozen.
struct Paused(String);

impl Paused {
    fn new(env: &CephEnv, daemon: &str) -> Self {
        let pid = std::fs::read_to_string(env.dir.join("run").join(format!("{daemon}.pid")))
            .unwrap()
            .trim()
            .to_owned();
        assert!(
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .unwrap()
                .success()
        );
        Self(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let clock = SystemClock::new();
    let deadline = clock.now() + timeout;
    while !f() {
        assert!(clock.now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn ceph_outage_shows_a_condition_and_recovers() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let pool = Pool::new(&env, "down");
    // Short librados timeouts keep the pause to a few seconds: the compute tests may be using
    // the same cluster at the same time.
    let svc = Arc::new(pool.open_with(OUTAGE_TIMEOUT_SECS));
    let _workers = Workers::start(svc.clone(), None, 2).unwrap();
    let a = svc
        .create_volume(request("standard", 8, "down"))
        .unwrap()
        .volume
        .id;
    wait_until("volume Available", Duration::from_secs(60), || {
        svc.volume_state(&a) == Some(VolumeState::Available)
    });
    let condition = |svc: &VolumeService| {
        find(svc, &a)
            .unwrap()
            .status
            .conditions
            .into_iter()
            .find(|c| c.reason == "BackendUnavailable")
    };
    {
        let _osd = Paused::new(&env, "osd.0");
        wait_until(
            "BackendUnavailable condition",
            Duration::from_secs(60),
            || condition(&svc).is_some(),
        );
        let c = condition(&svc).unwrap();
        assert!(
            c.message.contains("Ceph unreachable"),
            "reason names the cause: {}",
            c.message
        );
        match svc.create_volume(request("standard", 8, "down")) {
            Err(RuntimeError::Unavailable(msg)) => {
                assert!(msg.contains("Ceph unreachable"), "{msg}")
            }
            other => panic!("create during the outage: {other:?}"),
        }
    }
    wait_until("condition cleared", Duration::from_secs(90), || {
        condition(&svc).is_none()
    });
    let b = svc
        .create_volume(request("standard", 8, "down"))
        .expect("create after recovery")
        .volume
        .id;
    wait_until("new volume Available", Duration::from_secs(60), || {
        svc.volume_state(&b) == Some(VolumeState::Available)
    });
    for id in [a, b] {
        svc.delete_volume(&DeleteVolumeRequest { volume_id: id })
            .unwrap();
    }
    wait_until("volumes removed", Duration::from_secs(60), || {
        svc.list_volumes(&ListVolumesRequest::default())
            .volumes
            .is_empty()
    });
}

#[test]
fn ceph_luks2_format_runs_off_the_request_path() {
    let Some(env) = ceph_env() else { return };
    let _serial = lock();
    let pool = Pool::new(&env, "luks");
    let svc = Arc::new(pool.open());
    let _workers = Workers::start(svc.clone(), None, 2).unwrap();
    let clock = SystemClock::new();
    let mut enc = request("standard", 32, "luks");
    let secret = SecretData::single(ENCRYPTION_KEY, b"luks-test-passphrase-0001".to_vec());
    enc.spec.encryption = Some(VolumeEncryption {
        secret_data: secret,
    });
    let started = clock.now();
    let e = svc.create_volume(enc).unwrap().volume.id;
    let p = svc
        .create_volume(request("standard", 8, "luks"))
        .unwrap()
        .volume
        .id;
    assert!(
        clock.now() - started < Duration::from_secs(5),
        "creates answer without formatting"
    );
    wait_until("plain volume Available", Duration::from_secs(20), || {
        svc.volume_state(&p) == Some(VolumeState::Available)
    });
    assert_eq!(
        svc.volume_state(&e),
        Some(VolumeState::Pending),
        "still formatting meanwhile"
    );
    wait_until(
        "encrypted volume Available",
        Duration::from_secs(150),
        || svc.volume_state(&e) == Some(VolumeState::Available),
    );
    let image = format!("{}/img_{e}", pool.name);
    assert_eq!(
        rbd(&env, &["image-meta", "get", &image, "ferrocore.encryption"]),
        "luks2"
    );
    let out = Command::new("rados")
        .env("CEPH_CONF", &env.conf)
        .args(["-p", &pool.name, "listomapvals", "ferrocore.volumes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let needle = b"luks-test-passphrase";
    assert!(
        !out.stdout.windows(needle.len()).any(|w| w == needle),
        "key stored in clear"
    );
    for id in [e, p] {
        svc.delete_volume(&DeleteVolumeRequest { volume_id: id })
            .unwrap();
    }
    wait_until("volumes removed", Duration::from_secs(60), || {
        svc.list_volumes(&ListVolumesRequest::default())
            .volumes
            .is_empty()
    });
}
