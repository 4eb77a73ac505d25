use ferrocore_api::iri::machine::{
    LocalDisk, Machine, MachineId, NetworkInterface, Volume, VolumeConnection,
};

use super::*;
use crate::model::{DomainMetadata, ObservedDisk};

fn record() -> MachineRecord {
    let mut machine = Machine::default();
    machine.metadata.id = MachineId("m1".into());
    machine.spec.volumes.push(Volume {
        name: "root".into(),
        device: "oda".into(),
        local_disk: Some(LocalDisk {
            size_bytes: 1 << 30,
            image: Some("guest".into()),
        }),
        connection: None,
    });
    MachineRecord { machine }
}

fn running(rec: &MachineRecord) -> DomainObservation {
    DomainObservation {
        id: rec.id().clone(),
        metadata: DomainMetadata::default(),
        state: DomainRunState::Running,
        disks: rec
            .machine
            .spec
            .volumes
            .iter()
            .map(|v| ObservedDisk {
                alias: volume_alias(&v.name),
                target: target_dev(&v.device).unwrap(),
                capacity_bytes: 1 << 30,
            })
            .collect(),
        nics: Vec::new(),
    }
}

fn input<'a>(rec: &'a MachineRecord, obs: Option<&'a DomainObservation>) -> PlanInput<'a> {
    PlanInput {
        now: MonoTime::from_nanos(100_000_000_000),
        record: rec,
        observed: obs,
        shutdown_since: None,
        grace: Duration::from_secs(10),
        create_blocked: false,
    }
}

#[test]
fn creates_when_missing_and_converges_when_running() {
    let rec = record();
    assert_eq!(plan(&input(&rec, None)), vec![Action::CreateDomain]);
    let obs = running(&rec);
    assert!(plan(&input(&rec, Some(&obs))).is_empty());
    assert_eq!(machine_state(&rec, Some(&obs)), MachineState::Running);
    let mut blocked = input(&rec, None);
    blocked.create_blocked = true;
    assert!(plan(&blocked).is_empty());
    assert_eq!(machine_state(&rec, None), MachineState::Pending);
}

#[test]
fn power_off_presses_button_then_destroys_after_grace() {
    let mut rec = record();
    rec.machine.spec.power = Power::Off;
    let obs = running(&rec);
    let mut inp = input(&rec, Some(&obs));
    assert_eq!(plan(&inp), vec![Action::Shutdown]);
    inp.shutdown_since = Some(MonoTime::from_nanos(95_000_000_000));
    assert_eq!(plan(&inp), vec![Action::WaitForShutdown]);
    inp.shutdown_since = Some(MonoTime::from_nanos(90_000_000_000));
    assert_eq!(plan(&inp), vec![Action::Destroy]);
    assert_eq!(machine_state(&rec, Some(&obs)), MachineState::Terminating);
    assert!(plan(&input(&rec, None)).is_empty());
    assert_eq!(machine_state(&rec, None), MachineState::Stopped);
}

#[test]
fn delete_stops_then_finalizes() {
    let mut rec = record();
    rec.machine.metadata.deleted_at = Some(ferrocore_api::iri::machine::Timestamp(1));
    let obs = running(&rec);
    assert_eq!(plan(&input(&rec, Some(&obs))), vec![Action::Shutdown]);
    assert_eq!(plan(&input(&rec, None)), vec![Action::Finalize]);
    assert_eq!(machine_state(&rec, None), MachineState::Terminated);
}

#[test]
fn device_diff_attaches_detaches_and_grows() {
    let mut rec = record();
    let mut obs = running(&rec);
    obs.disks.push(ObservedDisk {
        alias: volume_alias("old"),
        target: "vdc".into(),
        capacity_bytes: 1,
    });
    obs.disks.push(ObservedDisk {
        alias: "virtio-disk9".into(),
        target: "vdz".into(),
        capacity_bytes: 1,
    });
    obs.nics.push(nic_alias("gone"));
    rec.machine.spec.volumes.push(Volume {
        name: "data".into(),
        device: "odb".into(),
        local_disk: None,
        connection: Some(VolumeConnection {
            driver: "local".into(),
            handle: "/x".into(),
            effective_storage_bytes: 2 << 20,
            ..VolumeConnection::default()
        }),
    });
    rec.machine.spec.network_interfaces.push(NetworkInterface {
        name: "eth0".into(),
        ..NetworkInterface::default()
    });
    let actions = plan(&input(&rec, Some(&obs)));
    assert_eq!(
        actions,
        vec![
            Action::DetachDisk {
                alias: volume_alias("old")
            },
            Action::DetachNic {
                alias: nic_alias("gone")
            },
            Action::AttachVolume("data".into()),
            Action::AttachNic("eth0".into()),
        ]
    );
    obs.disks.push(ObservedDisk {
        alias: volume_alias("data"),
        target: "vdb".into(),
        capacity_bytes: 1 << 20,
    });
    let actions = plan(&input(&rec, Some(&obs)));
    assert!(actions.contains(&Action::ResizeDisk {
        target: "vdb".into(),
        bytes: 2 << 20
    }));
    let vols = volume_status(&rec, Some(&obs));
    assert_eq!(vols[1].state, VolumeState::Attached);
    assert_eq!(vols[1].handle, "local//x");
    assert_eq!(
        nic_status(&rec, Some(&obs))[0].state,
        NetworkInterfaceState::Pending
    );
}

#[test]
fn a_guest_that_stopped_itself_is_cleaned_up_and_restarted() {
    let rec = record();
    let mut obs = running(&rec);
    obs.state = DomainRunState::Off;
    assert_eq!(plan(&input(&rec, Some(&obs))), vec![Action::Destroy]);
}
