//! The compute node against real libvirt + QEMU (TCG): the conformance suite the fake passes,
//! plus what only a real guest shows (the boot marker on the serial console, disks seen by
//! serial and size inside the guest, files removed on delete).
//!
//! Needs libvirtd (`scripts/libvirt-up.sh`, run by `scripts/ci.d/20-libvirt.sh`) and the test
//! guest (`scripts/guest-build.sh`, cached in /var/cache/ferrocore/guest). Without libvirtd the
//! test says so and passes, except under CI (`CI` set), where it fails.
//!
//! One test function runs every scenario in sequence: VMs boot one or three at a time, which
//! keeps a 2-core CI machine responsive (about 10 boots of 5–10 s each under TCG).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::machine::{
    ErrorCode, MachineClassName, MachineId, MachineState, SecretData, VOLUME_DRIVER_CEPH, Volume,
    VolumeConnection,
};
use ferrocore_node_compute::conformance::{self, Harness};
use ferrocore_node_compute::{
    BootImport, ClassConfig, ComputeConfig, Console, DomainType, DomainTypeSetting, Host,
    ImageSource, LibvirtHost, MachineRuntime, detect_domain_type,
};
use ferrocore_runtime::{Clock, OsSeededRng, SystemClock};

const GUEST_DIR: &str = "/var/cache/ferrocore/guest";
const IMAGE: &str = "ferrocore-test-guest:latest";
const BOOT_MARKER: &str = "FERROCORE-GUEST-READY";

/// The bound: the guest's marker on serial and Running within 30 s under TCG.
const BOOT_BOUND: Duration = Duration::from_secs(30);

struct Real {
    config: ComputeConfig,
    domain_type: DomainType,
    volumes: PathBuf,
    clock: Arc<dyn Clock>,
}

impl Real {
    fn new(state: &Path) -> Self {
        let config = ComputeConfig {
            state_dir: state.join("node"),
            domain_type: DomainTypeSetting::Auto,
            shutdown_grace_seconds: 20,
            // /tmp may not support O_DIRECT everywhere; the test does not need cache=none.
            volume_cache: "writeback".into(),
            classes: vec![ClassConfig {
                name: "small".into(),
                cpu: 1,
                memory_mib: 256,
            }],
            ..ComputeConfig::default()
        };
        let host = LibvirtHost::open(&config).expect("libvirt host");
        let guest = Path::new(GUEST_DIR);
        let boot = BootImport::Kernel {
            kernel: ImageSource::File(guest.join("vmlinuz")),
            initrd: ImageSource::File(guest.join("initrd.gz")),
            cmdline: None,
        };
        host.images()
            .import(IMAGE, &ImageSource::File(guest.join("rootdisk.raw")), &boot)
            .expect("import the test guest");
        let domain_type = detect_domain_type(
            config.domain_type,
            &host,
            &guest.join("vmlinuz"),
            &guest.join("initrd.gz"),
        );
        let volumes = state.join("volumes");
        std::fs::create_dir_all(&volumes).unwrap();
        Self {
            config,
            domain_type,
            volumes,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

impl Harness for Real {
    type H = LibvirtHost;

    fn runtime(&mut self) -> MachineRuntime<LibvirtHost> {
        let host = LibvirtHost::open(&self.config).expect("libvirt host");
        MachineRuntime::new(
            host,
            &self.config,
            self.domain_type,
            Arc::clone(&self.clock),
            Box::new(OsSeededRng::new().expect("entropy")),
        )
        .expect("runtime")
    }

    fn image(&self) -> String {
        IMAGE.into()
    }

    fn class(&self) -> MachineClassName {
        MachineClassName("small".into())
    }

    fn volume_file(&mut self, name: &str, size: u64) -> PathBuf {
        let path = self.volumes.join(format!("{name}.raw"));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(size).unwrap();
        path
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(90)
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    fn wait_guest_ready(&self, rt: &MachineRuntime<LibvirtHost>, id: &MachineId) {
        let log = rt.host().console_log_path(id);
        wait_log(&*self.clock, &log, BOOT_MARKER, self.timeout());
    }
}

fn libvirt_ready() -> bool {
    Command::new("virsh")
        .args(["-c", "qemu:///system", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn guest_ready() -> bool {
    if Path::new(GUEST_DIR).join("initrd.gz").exists() {
        return true;
    }
    let script = ferrocore_tests::workspace_root().join("scripts/guest-build.sh");
    Command::new("bash")
        .arg(script)
        .status()
        .is_ok_and(|s| s.success())
}

/// A 0755 scratch directory (libvirt runs QEMU as `libvirt-qemu`, which must reach the disks).
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocore-compute-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let perms = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&dir, perms).unwrap();
    dir
}

#[test]
fn compute_on_real_libvirt() {
    if !libvirt_ready() || !guest_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide libvirtd and the test guest"
        );
        eprintln!("compute: libvirtd or the test guest is missing; run scripts/libvirt-up.sh");
        return;
    }
    let dir = scratch();
    let mut h = Real::new(&dir);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(
            h.domain_type,
            DomainType::Qemu,
            "this machine class has no usable KVM"
        );
        guest_sees_disks(&mut h);
        uefi_boots(&mut h);
        conformance::errors(&mut h);
        conformance::lifecycle(&mut h);
        conformance::devices(&mut h);
        conformance::readopt(&mut h);
    }));
    // Whatever happened, leave no guest running: destroy every domain of this state dir.
    if let Ok(host) = LibvirtHost::open(&h.config) {
        for dom in host.list_domains().unwrap_or_default() {
            let _ = host.destroy_domain(&dom.id);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Boot marker within the bound; a hot-plugged disk is visible in the guest by its serial,
/// grows online, and disappears on detach; delete removes domain, overlay and log.
fn guest_sees_disks(h: &mut Real) {
    let clock = h.clock();
    let rt = h.runtime();
    let start = clock.now();
    let req = conformance::machine_request(&h.class(), IMAGE, "guest");
    let id = rt.create_machine(req).expect("create").metadata.id;
    let log = rt.host().console_log_path(&id);
    wait_log(&*clock, &log, BOOT_MARKER, 3 * BOOT_BOUND);
    conformance::wait_state(&rt, &*clock, &id, MachineState::Running, BOOT_BOUND);
    let boot = clock.now().saturating_since(start);
    eprintln!("compute: create -> {BOOT_MARKER} and Running in {boot:?}");
    if overloaded() {
        // Other tests of this binary (or builds) saturate the 2 cores: TCG slows down with them,
        // and the bound says nothing about ferrocore then. Still bounded by the wait above.
        eprintln!("compute: host overloaded, boot bound {BOOT_BOUND:?} not asserted");
    } else {
        assert!(boot <= BOOT_BOUND, "boot took {boot:?}");
    }
    let serial = std::fs::read_to_string(&log).unwrap();
    assert!(
        serial.contains("HOSTNAME: vm-guest"),
        "host name via fw_cfg: {serial}"
    );
    assert!(
        serial.contains("IGNITION: {\"ignition\""),
        "ignition via fw_cfg: {serial}"
    );
    let console = rt.exec(&id).expect("console");
    let expect_disks = |what: &str, ok: &dyn Fn(&str) -> bool| {
        expect_guest_disks(&console, &*clock, what, ok);
    };
    expect_disks("root overlay", &|s| s.contains("DISK root 131072"));
    let path = h.volume_file("guest-data", 32 << 20);
    let data = |size| conformance::file_volume("data", "odb", &path, size);
    rt.attach_volume(&id, data(32 << 20)).expect("attach");
    expect_disks("hot-plugged disk by serial", &|s| {
        s.contains("DISK data 65536")
    });
    rt.update_volume(&id, data(48 << 20)).expect("grow");
    expect_disks("online resize", &|s| s.contains("DISK data 98304"));
    rt.detach_volume(&id, "data").expect("detach");
    expect_disks("detached disk gone", &|s| !s.contains("DISK data"));
    rbd_volumes(&rt, &id, &console, &*clock);
    drop(console);
    let machine_dir = log.parent().unwrap().to_path_buf();
    assert!(
        machine_dir.join("disks/root.qcow2").exists(),
        "overlay while running"
    );
    conformance::delete_and_check_gone(&rt, &*clock, &id, h.timeout());
    assert!(
        !machine_dir.exists(),
        "overlay and log removed with the machine"
    );
    assert!(rt.machine(&MachineId(id.0.clone())).is_err());
}

/// Asks the guest's shell for its disks until `ok` holds: the guest notices PCIe hot-plug and
/// resize events asynchronously.
fn expect_guest_disks(console: &Console, clock: &dyn Clock, what: &str, ok: &dyn Fn(&str) -> bool) {
    let script = "for d in /sys/block/vd*; do echo DISK $(cat $d/serial) $(cat $d/size); done";
    let deadline = clock.now() + Duration::from_secs(20);
    loop {
        let seen = console
            .run(clock, script, Duration::from_secs(10))
            .expect("shell answers");
        if ok(&seen) {
            return;
        }
        assert!(clock.now() < deadline, "{what}: the guest sees {seen}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An RBD volume (cephx secret) hot-plugs, shows up by serial and goes; an encrypted one is
/// refused while the machine runs, with nothing half-attached.
fn rbd_volumes(
    rt: &MachineRuntime<LibvirtHost>,
    id: &MachineId,
    console: &Console,
    clock: &dyn Clock,
) {
    let expect_disks = |what: &str, ok: &dyn Fn(&str) -> bool| {
        expect_guest_disks(console, clock, what, ok);
    };
    let Some(ceph) = Ceph::connect() else {
        eprintln!("compute: no Ceph (scripts/ceph-up.sh): RBD attach not exercised");
        return;
    };
    let vol = ceph.volume("rbd", "odc", 32 << 20);
    rt.attach_volume(id, vol).expect("attach an RBD volume");
    expect_disks("RBD disk by serial", &|s| s.contains("DISK rbd 65536"));
    rt.detach_volume(id, "rbd").expect("detach the RBD volume");
    expect_disks("RBD disk gone", &|s| !s.contains("DISK rbd"));
    let mut encrypted = ceph.volume("rbd-enc", "odd", 32 << 20);
    let conn = encrypted.connection.as_mut().unwrap();
    conn.encryption_data = SecretData::single("encryptionKey", "passphrase");
    let err = rt.attach_volume(id, encrypted).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::FailedPrecondition,
        "encrypted hot-plug: {err}"
    );
    let volumes = rt.machine(id).unwrap().spec.volumes.len();
    assert_eq!(volumes, 1, "nothing half-attached");
}

/// A UEFI disk image (OVMF boots the UKI on its ESP from the machine's qcow2 overlay).
fn uefi_boots(h: &mut Real) {
    let efi = Path::new(GUEST_DIR).join("efidisk.raw");
    if !efi.exists() {
        eprintln!("compute: no efidisk.raw (needs systemd-boot-efi, mtools): UEFI not exercised");
        return;
    }
    let clock = h.clock();
    let rt = h.runtime();
    let boot = BootImport::Disk { uefi: true };
    rt.host()
        .images()
        .import("ferrocore-test-uefi", &ImageSource::File(efi), &boot)
        .expect("import the UEFI disk");
    let req = conformance::machine_request(&h.class(), "ferrocore-test-uefi", "uefi");
    let id = rt.create_machine(req).expect("create").metadata.id;
    let start = clock.now();
    wait_log(
        &*clock,
        &rt.host().console_log_path(&id),
        BOOT_MARKER,
        h.timeout(),
    );
    eprintln!(
        "compute: UEFI (OVMF) boot to marker in {:?}",
        clock.now().saturating_since(start)
    );
    let nvram = Path::new("/var/lib/libvirt/qemu/nvram").join(format!("{}_VARS.fd", id.0));
    conformance::delete_and_check_gone(&rt, &*clock, &id, h.timeout());
    assert!(
        !nvram.exists(),
        "EFI variable store removed with the machine"
    );
}

/// The single-node Ceph of `scripts/ceph-up.sh`, when it runs.
struct Ceph {
    conf: String,
    monitors: String,
    image: String,
}

impl Ceph {
    fn connect() -> Option<Self> {
        let env = std::fs::read_to_string("/var/lib/ferrocore-ceph/env").ok()?;
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(String::from)
        };
        let ceph = Self {
            conf: get("CEPH_CONF")?,
            monitors: get("CEPH_MONITORS")?,
            image: format!("compute-it-{}", std::process::id()),
        };
        let ok = ceph.run(
            "rbd",
            &["create", "--size", "32M", &format!("rbd/{}", ceph.image)],
        );
        ok.map(|_| ceph)
    }

    fn run(&self, cmd: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("timeout")
            .arg("20")
            .arg(cmd)
            .args(args)
            .env("CEPH_CONF", &self.conf)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A `ceph` volume as the storage node publishes it (user `volumes`).
    fn volume(&self, name: &str, device: &str, size: u64) -> Volume {
        let key = self
            .run("ceph", &["auth", "get-key", "client.volumes"])
            .expect("client.volumes key");
        let conn = VolumeConnection {
            driver: VOLUME_DRIVER_CEPH.into(),
            handle: "0123456789abcdef".into(),
            attributes: [
                ("monitors".to_string(), self.monitors.clone()),
                ("image".to_string(), format!("rbd/{}", self.image)),
            ]
            .into(),
            secret_data: SecretData(
                [
                    ("userID".to_string(), b"volumes".to_vec()),
                    ("userKey".to_string(), key.into_bytes()),
                ]
                .into(),
            ),
            encryption_data: SecretData::default(),
            effective_storage_bytes: size,
        };
        Volume {
            name: name.into(),
            device: device.into(),
            local_disk: None,
            connection: Some(conn),
        }
    }
}

impl Drop for Ceph {
    fn drop(&mut self) {
        let _ = self.run(
            "rbd",
            &["rm", "--no-progress", &format!("rbd/{}", self.image)],
        );
    }
}

/// Whether the 1-minute load average exceeds twice the CPU count.
fn overloaded() -> bool {
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    load > 2.0 * cpus as f64
}

fn wait_log(clock: &dyn Clock, path: &Path, marker: &str, timeout: Duration) {
    let deadline = clock.now() + timeout;
    while clock.now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(marker)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    panic!(
        "no {marker:?} in {} within {timeout:?}: {text}",
        path.display()
    );
}
