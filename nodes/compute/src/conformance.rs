//! One conformance suite for every [`Host`]: the same assertions run against the fake (unit
//! tests in this crate) and against real libvirt (`tests/tests/integration/compute.rs`), so the
//! fake cannot drift from the real thing.
//!
//! Each check takes a [`Harness`], which makes runtimes over one persistent host (a new runtime
//! over the same host is an agent restart) and provides an image and volume files. Checks
//! panic with a message on failure, like `assert!`, and clean up the machines they made.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::machine::{
    ConditionStatus, CreateMachineRequest, ErrorCode, LocalDisk, MACHINE_UID_LABEL, Machine,
    MachineClassName, MachineFilter, MachineId, MachineState, NetworkInterface,
    NetworkInterfaceState, Power, VOLUME_DRIVER_LOCAL, Volume, VolumeConnection, VolumeState,
};
use ferrocore_runtime::Clock;

use crate::host::Host;
use crate::reconcile::READY_CONDITION;
use crate::runtime::MachineRuntime;

/// What the suite needs from a backend under test.
pub trait Harness {
    /// The backend.
    type H: Host;

    /// A new runtime over the host's current state (the first call starts it; later calls are
    /// agent restarts: the previous runtime must have been dropped).
    fn runtime(&mut self) -> MachineRuntime<Self::H>;

    /// An image name in the host's store that boots a guest.
    fn image(&self) -> String;

    /// The machine class to use.
    fn class(&self) -> MachineClassName;

    /// Makes a raw file of `size` bytes usable as a `local` volume and returns its path.
    fn volume_file(&mut self, name: &str, size: u64) -> PathBuf;

    /// Longest wait for a state change (seconds on TCG, nothing for the fake).
    fn timeout(&self) -> Duration;

    /// The clock the runtimes use.
    fn clock(&self) -> Arc<dyn Clock>;

    /// Waits until the guest of a Running machine has booted far enough to take hot-plug
    /// requests (a real guest acknowledges unplugs only once its PCIe hotplug driver runs).
    fn wait_guest_ready(&self, _rt: &MachineRuntime<Self::H>, _id: &MachineId) {}
}

/// Pause between polls while waiting.
const POLL: Duration = Duration::from_millis(250);

/// A create request for a machine with a root disk from `image`.
pub fn machine_request(class: &MachineClassName, image: &str, uid: &str) -> CreateMachineRequest {
    let mut machine = Machine::default();
    machine
        .metadata
        .labels
        .insert(MACHINE_UID_LABEL.into(), uid.into());
    machine
        .metadata
        .labels
        .insert("suite".into(), "conformance".into());
    machine.spec.class = class.clone();
    machine.spec.guest_config.hostname = Some(format!("vm-{uid}"));
    machine.spec.ignition_data = Some(br#"{"ignition":{"version":"3.2.0"}}"#.to_vec());
    machine.spec.volumes.push(Volume {
        name: "root".into(),
        device: "oda".into(),
        local_disk: Some(LocalDisk {
            size_bytes: 64 << 20,
            image: Some(image.into()),
        }),
        connection: None,
    });
    CreateMachineRequest { machine }
}

/// A `local` volume on `path`.
pub fn file_volume(name: &str, device: &str, path: &std::path::Path, size: u64) -> Volume {
    Volume {
        name: name.into(),
        device: device.into(),
        local_disk: None,
        connection: Some(VolumeConnection {
            driver: VOLUME_DRIVER_LOCAL.into(),
            handle: path.display().to_string(),
            effective_storage_bytes: size,
            ..VolumeConnection::default()
        }),
    }
}

/// Ticks the runtime until `pred` holds for the machine (or it is gone, if `pred` accepts
/// `None`); panics after `timeout`.
pub fn wait_for<H: Host>(
    rt: &MachineRuntime<H>,
    clock: &dyn Clock,
    id: &MachineId,
    timeout: Duration,
    what: &str,
    pred: impl Fn(Option<&Machine>) -> bool,
) {
    let deadline = clock.now() + timeout;
    loop {
        rt.tick();
        let machine = rt.machine(id).ok();
        if pred(machine.as_ref()) {
            return;
        }
        assert!(
            clock.now() < deadline,
            "timed out after {timeout:?} waiting for {what}; machine: {machine:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Waits until the machine is in `state`.
pub fn wait_state<H: Host>(
    rt: &MachineRuntime<H>,
    clock: &dyn Clock,
    id: &MachineId,
    state: MachineState,
    timeout: Duration,
) {
    wait_for(rt, clock, id, timeout, &format!("{state:?}"), |m| {
        m.is_some_and(|m| m.status.state == state)
    });
}

/// Deletes the machine and waits until it is gone, then checks nothing of it is left on the
/// host (no domain, no files).
pub fn delete_and_check_gone<H: Host>(
    rt: &MachineRuntime<H>,
    clock: &dyn Clock,
    id: &MachineId,
    timeout: Duration,
) {
    rt.delete_machine(id).expect("delete");
    wait_for(rt, clock, id, timeout, "deletion", |m| m.is_none());
    let host = rt.host();
    let domains = host.list_domains().expect("list domains");
    assert!(
        domains.iter().all(|d| d.id != *id),
        "domain {id} left behind"
    );
    let dirs = host.machines_on_disk().expect("list machine dirs");
    assert!(!dirs.contains(id), "files of {id} left behind");
}

fn free(rt: &MachineRuntime<impl Host>, class: &MachineClassName) -> i64 {
    let status = rt.status().expect("status");
    status
        .machine_class_status
        .iter()
        .find(|c| c.machine_class.name == *class)
        .expect("class offered")
        .quantity
}

/// Create → Running; capacity counts it; power off → Stopped (capacity back); power on →
/// Running; delete → nothing left.
pub fn lifecycle<T: Harness>(h: &mut T) {
    let (clock, timeout, class) = (h.clock(), h.timeout(), h.class());
    let rt = h.runtime();
    let before = free(&rt, &class);
    let m = rt
        .create_machine(machine_request(&class, &h.image(), "life"))
        .expect("create");
    let id = m.metadata.id.clone();
    wait_state(&rt, &*clock, &id, MachineState::Running, timeout);
    assert_eq!(
        free(&rt, &class),
        before - 1,
        "a running machine uses capacity"
    );
    let m = rt.machine(&id).unwrap();
    assert!(
        m.status.image_ref.starts_with("sha256:"),
        "image ref {}",
        m.status.image_ref
    );
    assert_eq!(m.status.volumes[0].state, VolumeState::Attached);
    rt.update_power(&id, Power::Off).expect("power off");
    wait_state(&rt, &*clock, &id, MachineState::Stopped, timeout);
    assert!(
        rt.host().observe(&id).unwrap().is_none(),
        "stopped machine has no domain"
    );
    assert_eq!(
        free(&rt, &class),
        before,
        "a stopped machine uses no capacity"
    );
    rt.update_power(&id, Power::On).expect("power on");
    wait_state(&rt, &*clock, &id, MachineState::Running, timeout);
    let filter = MachineFilter {
        label_selector: [("suite".to_string(), "conformance".to_string())].into(),
        ..MachineFilter::default()
    };
    assert_eq!(rt.list_machines(&filter).len(), 1);
    rt.update_annotations(&id, [("a".to_string(), "b".to_string())].into())
        .unwrap();
    assert_eq!(rt.machine(&id).unwrap().metadata.annotations["a"], "b");
    delete_and_check_gone(&rt, &*clock, &id, timeout);
    assert_eq!(free(&rt, &class), before);
    let reasons: Vec<String> = rt
        .list_events(&Default::default())
        .into_iter()
        .filter(|e| e.involved_object_meta.id == id)
        .map(|e| e.reason)
        .collect();
    assert!(
        reasons.contains(&"MachineDeletionSucceeded".to_string()),
        "{reasons:?}"
    );
}

/// Attach a file volume → Attached with its size; grow it → new size; detach → gone; NIC
/// attach/detach; duplicate and unknown devices give clear errors.
pub fn devices<T: Harness>(h: &mut T) {
    let (clock, timeout, class) = (h.clock(), h.timeout(), h.class());
    let path = h.volume_file("dev-data", 32 << 20);
    let rt = h.runtime();
    let id = rt
        .create_machine(machine_request(&class, &h.image(), "dev"))
        .unwrap()
        .metadata
        .id;
    wait_state(&rt, &*clock, &id, MachineState::Running, timeout);
    h.wait_guest_ready(&rt, &id);
    rt.attach_volume(&id, file_volume("data", "odb", &path, 32 << 20))
        .expect("attach");
    let status = |rt: &MachineRuntime<T::H>| rt.machine(&id).unwrap().status.volumes;
    let vol = status(&rt)
        .into_iter()
        .find(|v| v.name == "data")
        .expect("data volume");
    assert_eq!(
        (vol.state, vol.size_bytes),
        (VolumeState::Attached, 32 << 20)
    );
    let dup = rt
        .attach_volume(&id, file_volume("data", "odc", &path, 32 << 20))
        .unwrap_err();
    assert_eq!(dup.code, ErrorCode::AlreadyExists);
    rt.update_volume(&id, file_volume("data", "odb", &path, 48 << 20))
        .expect("grow");
    let vol = status(&rt).into_iter().find(|v| v.name == "data").unwrap();
    assert_eq!(vol.size_bytes, 48 << 20, "online resize reaches the disk");
    let shrink = rt
        .update_volume(&id, file_volume("data", "odb", &path, 16 << 20))
        .unwrap_err();
    assert_eq!(shrink.code, ErrorCode::InvalidArgument);
    rt.detach_volume(&id, "data").expect("detach");
    assert!(status(&rt).iter().all(|v| v.name != "data"));
    let observed = rt.host().observe(&id).unwrap().unwrap();
    assert_eq!(
        observed
            .disks
            .iter()
            .filter(|d| d.alias.starts_with("ua-vol-"))
            .count(),
        1
    );
    assert_eq!(
        rt.detach_volume(&id, "data").unwrap_err().code,
        ErrorCode::NotFound
    );
    let nic = NetworkInterface {
        name: "nic0".into(),
        network_id: "net".into(),
        ..NetworkInterface::default()
    };
    rt.attach_nic(&id, nic).expect("attach nic");
    let nics = rt.machine(&id).unwrap().status.network_interfaces;
    assert_eq!(
        (nics[0].state, nics[0].handle.as_str()),
        (NetworkInterfaceState::Attached, "user")
    );
    rt.detach_nic(&id, "nic0").expect("detach nic");
    assert!(
        rt.machine(&id)
            .unwrap()
            .status
            .network_interfaces
            .is_empty()
    );
    delete_and_check_gone(&rt, &*clock, &id, timeout);
}

/// Three running machines survive a runtime restart: the new runtime adopts them (same ids,
/// Running, one domain each) and a repeated create of one uid returns the existing machine.
pub fn readopt<T: Harness>(h: &mut T) {
    let (clock, timeout, class) = (h.clock(), h.timeout(), h.class());
    let image = h.image();
    let mut ids = Vec::new();
    {
        let rt = h.runtime();
        for i in 0..3 {
            let req = machine_request(&class, &image, &format!("adopt-{i}"));
            ids.push(rt.create_machine(req).expect("create").metadata.id);
        }
        for id in &ids {
            wait_state(&rt, &*clock, id, MachineState::Running, timeout);
        }
    }
    let rt = h.runtime();
    let mut listed: Vec<MachineId> = rt
        .list_machines(&MachineFilter::default())
        .into_iter()
        .map(|m| m.metadata.id)
        .collect();
    listed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        listed, want,
        "the restarted runtime adopts exactly the running machines"
    );
    for id in &ids {
        assert_eq!(rt.machine(id).unwrap().status.state, MachineState::Running);
    }
    let domains = rt.host().list_domains().unwrap();
    assert_eq!(
        domains.len(),
        3,
        "no duplicate or lost domains: {domains:?}"
    );
    let again = rt
        .create_machine(machine_request(&class, &image, "adopt-1"))
        .unwrap();
    assert_eq!(again.metadata.id, ids[1], "same uid label, same machine");
    assert_eq!(rt.host().list_domains().unwrap().len(), 3);
    for id in &ids {
        delete_and_check_gone(&rt, &*clock, id, timeout);
    }
}

/// An unknown class is refused with nothing stored; a missing image or volume leaves the
/// machine Pending with a `Ready=False` condition naming the reason, and no domain; deleting it
/// leaves nothing behind.
pub fn errors<T: Harness>(h: &mut T) {
    let (clock, timeout, class) = (h.clock(), h.timeout(), h.class());
    let rt = h.runtime();
    let mut bad = machine_request(&MachineClassName("no-such-class".into()), &h.image(), "e0");
    let err = rt.create_machine(bad.clone()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.contains("no-such-class"), "{}", err.message);
    assert!(rt.list_machines(&MachineFilter::default()).is_empty());
    bad.machine.spec.class = class.clone();
    bad.machine.spec.volumes[0]
        .local_disk
        .as_mut()
        .unwrap()
        .image = Some("nope:missing".into());
    let m = rt
        .create_machine(bad)
        .expect("accepted, waiting for the image");
    expect_blocked(&rt, &m.metadata.id, "ImageNotFound");
    delete_and_check_gone(&rt, &*clock, &m.metadata.id, timeout);
    let mut req = machine_request(&class, &h.image(), "e1");
    let gone = PathBuf::from("/nonexistent/ferrocore/volume.raw");
    req.machine
        .spec
        .volumes
        .push(file_volume("data", "odb", &gone, 1 << 20));
    let m = rt
        .create_machine(req)
        .expect("accepted, waiting for the volume");
    expect_blocked(&rt, &m.metadata.id, "VolumeNotFound");
    let bad_attach = rt.attach_volume(&m.metadata.id, file_volume("x", "odc", &gone, 1));
    assert!(
        bad_attach.is_ok(),
        "a stopped/pending machine records the volume for later"
    );
    delete_and_check_gone(&rt, &*clock, &m.metadata.id, timeout);
    assert!(
        rt.host().list_domains().unwrap().is_empty(),
        "no domain leaked"
    );
    assert!(
        rt.host().machines_on_disk().unwrap().is_empty(),
        "no files leaked"
    );
}

fn expect_blocked<H: Host>(rt: &MachineRuntime<H>, id: &MachineId, reason: &str) {
    rt.tick();
    let m = rt.machine(id).unwrap();
    assert_eq!(m.status.state, MachineState::Pending);
    let ready = m
        .status
        .conditions
        .iter()
        .find(|c| c.kind == READY_CONDITION);
    let ready = ready.unwrap_or_else(|| panic!("no Ready condition: {m:?}"));
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (ConditionStatus::False, reason)
    );
    assert!(
        rt.host().observe(id).unwrap().is_none(),
        "no domain for a blocked machine"
    );
}

#[cfg(test)]
mod tests {
    use ferrocore_runtime::{SeededRng, SystemClock};

    use super::*;
    use crate::config::{ClassConfig, ComputeConfig};
    use crate::fake::FakeHost;
    use crate::model::DomainType;

    /// The fake host behind the suite.
    struct Fake {
        host: Arc<FakeHost>,
        seed: u64,
    }

    impl Fake {
        fn new() -> Self {
            let host = FakeHost::new(4, 8 << 30);
            host.add_image("guest", 16 << 20);
            Self {
                host: Arc::new(host),
                seed: 0,
            }
        }
    }

    pub(super) fn fake_config() -> ComputeConfig {
        ComputeConfig {
            classes: vec![ClassConfig {
                name: "small".into(),
                cpu: 1,
                memory_mib: 256,
            }],
            shutdown_grace_seconds: 0,
            ..ComputeConfig::default()
        }
    }

    impl Harness for Fake {
        type H = Arc<FakeHost>;

        fn runtime(&mut self) -> MachineRuntime<Arc<FakeHost>> {
            self.seed += 1;
            MachineRuntime::new(
                Arc::clone(&self.host),
                &fake_config(),
                DomainType::Qemu,
                self.clock(),
                Box::new(SeededRng::new(self.seed)),
            )
            .unwrap()
        }

        fn image(&self) -> String {
            "guest".into()
        }

        fn class(&self) -> MachineClassName {
            MachineClassName("small".into())
        }

        fn volume_file(&mut self, name: &str, size: u64) -> PathBuf {
            let path = PathBuf::from(format!("/srv/volumes/{name}.raw"));
            self.host.add_file(&path, size);
            path
        }

        fn timeout(&self) -> Duration {
            Duration::from_secs(5)
        }

        fn clock(&self) -> Arc<dyn Clock> {
            Arc::new(SystemClock::new())
        }
    }

    #[test]
    fn fake_lifecycle() {
        lifecycle(&mut Fake::new());
    }

    #[test]
    fn fake_devices() {
        devices(&mut Fake::new());
    }

    #[test]
    fn fake_readopt() {
        readopt(&mut Fake::new());
    }

    #[test]
    fn fake_errors() {
        errors(&mut Fake::new());
    }

    #[test]
    fn fake_guest_ignoring_acpi_is_destroyed_after_grace() {
        let mut h = Fake::new();
        h.host.set_guests_ignore_acpi(true);
        let rt = h.runtime();
        let id = rt
            .create_machine(machine_request(&h.class(), "guest", "x"))
            .unwrap()
            .metadata
            .id;
        rt.update_power(&id, Power::Off).unwrap();
        // Grace is zero in this config: the next pass pulls the plug.
        wait_state(&rt, &*h.clock(), &id, MachineState::Stopped, h.timeout());
    }

    #[test]
    fn fake_orphans_are_collected_and_guest_poweroff_restarts() {
        let mut h = Fake::new();
        let id = {
            let rt = h.runtime();
            let id = rt
                .create_machine(machine_request(&h.class(), "guest", "o"))
                .unwrap()
                .metadata
                .id;
            h.host.guest_poweroff(&id);
            rt.tick();
            assert_eq!(
                rt.machine(&id).unwrap().status.state,
                MachineState::Running,
                "restarted"
            );
            id
        };
        // The record disappears behind the runtime's back: the domain is an orphan.
        let rec = h.host.load_records().unwrap();
        assert_eq!(rec.len(), 1);
        h.host.remove_machine(&id).unwrap();
        let rt = h.runtime();
        assert!(
            rt.host().list_domains().unwrap().is_empty(),
            "orphan domain destroyed"
        );
        assert!(rt.list_machines(&MachineFilter::default()).is_empty());
    }

    #[test]
    fn fake_refuses_encrypted_hotplug_and_too_many_devices() {
        let mut h = Fake::new();
        let rt = h.runtime();
        let id = rt
            .create_machine(machine_request(&h.class(), "guest", "enc"))
            .unwrap()
            .metadata
            .id;
        let mut vol = file_volume("enc", "odb", std::path::Path::new("/x"), 1);
        let conn = vol.connection.as_mut().unwrap();
        conn.driver = "ceph".into();
        conn.encryption_data =
            ferrocore_api::iri::machine::SecretData::single("encryptionKey", "k");
        let err = rt.attach_volume(&id, vol).unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(err.message.contains("encrypted"), "{}", err.message);
        for i in 0..29 {
            let path = h.volume_file(&format!("v{i}"), 1 << 20);
            let dev = format!("od{}{}", (b'b' + i / 26) as char, (b'a' + i % 26) as char);
            rt.attach_volume(&id, file_volume(&format!("v{i}"), &dev, &path, 1 << 20))
                .expect("a free slot");
        }
        let n = rt.machine(&id).unwrap().spec.volumes.len();
        assert_eq!(
            n,
            crate::validate::MAX_DEVICES,
            "slots fill up to the limit and no further"
        );
        let path = h.volume_file("extra", 1 << 20);
        let err = rt
            .attach_volume(&id, file_volume("extra", "odzz", &path, 1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
    }
}
