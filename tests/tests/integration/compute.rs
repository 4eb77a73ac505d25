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

use ferrocore_api::iri::machine::{MachineClassName, MachineId, MachineState};
use ferrocore_node_compute::conformance::{self, Harness};
use ferrocore_node_compute::{
    BootImport, ClassConfig, ComputeConfig, DomainType, DomainTypeSetting, Host, ImageSource,
    LibvirtHost, MachineRuntime, detect_domain_type,
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
    wait_log(&*clock, &log, BOOT_MARKER, BOOT_BOUND);
    conformance::wait_state(&rt, &*clock, &id, MachineState::Running, BOOT_BOUND);
    let boot = clock.now().saturating_since(start);
    eprintln!("compute: create -> {BOOT_MARKER} and Running in {boot:?}");
    assert!(boot <= BOOT_BOUND, "boot took {boot:?}");
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
    let script = "for d in /sys/block/vd*; do echo DISK $(cat $d/serial) $(cat $d/size); done";
    // The guest notices PCIe hot-plug and resize events asynchronously: ask until it agrees.
    let expect_disks = |what: &str, ok: &dyn Fn(&str) -> bool| {
        let deadline = clock.now() + Duration::from_secs(20);
        loop {
            let seen = console
                .run(&*clock, script, Duration::from_secs(10))
                .expect("shell answers");
            if ok(&seen) {
                return;
            }
            assert!(clock.now() < deadline, "{what}: the guest sees {seen}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    expect_disks("root overlay", &|s| s.contains("DISK root 131072"));
    let path = h.volume_file("guest-data", 32 << 20);
    rt.attach_volume(
        &id,
        conformance::file_volume("data", "odb", &path, 32 << 20),
    )
    .expect("attach");
    expect_disks("hot-plugged disk by serial", &|s| {
        s.contains("DISK data 65536")
    });
    rt.update_volume(
        &id,
        conformance::file_volume("data", "odb", &path, 48 << 20),
    )
    .expect("grow");
    expect_disks("online resize", &|s| s.contains("DISK data 98304"));
    rt.detach_volume(&id, "data").expect("detach");
    expect_disks("detached disk gone", &|s| !s.contains("DISK data"));
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
