//! The device operations of [`MachineRuntime`]: attach, update and detach volumes and network
//! interfaces. A hot-plug that fails is rolled back in the spec, so the caller gets a clear
//! error and never a half-attached device.

use ferrocore_api::iri::machine::{
    ErrorCode, MachineId, NetworkInterface, RuntimeError, VOLUME_DRIVER_CEPH, Volume,
};

use crate::host::Host;
use crate::plan::Action;
use crate::runtime::{MachineRuntime, Slot, host_error, lock};
use crate::validate;

fn exists(what: &str, name: &str) -> RuntimeError {
    RuntimeError::new(
        ErrorCode::AlreadyExists,
        format!("{what} {name:?} already exists"),
    )
}

fn missing(what: &str, name: &str) -> RuntimeError {
    RuntimeError::new(ErrorCode::NotFound, format!("{what} {name:?} not found"))
}

impl<H: Host> MachineRuntime<H> {
    /// `AttachVolume`: hot-plugs into the running guest (or, for a stopped machine, adds the
    /// disk for its next start). An encrypted RBD volume is refused while the domain runs:
    /// libvirt 9.0 with QEMU 7.2 cannot hot-plug it.
    ///
    /// # Errors
    /// `InvalidArgument`, `AlreadyExists`, `NotFound` (machine, image or volume),
    /// `FailedPrecondition` (encrypted hot-plug), `ResourceExhausted` (no PCI slot).
    pub fn attach_volume(&self, id: &MachineId, vol: Volume) -> Result<(), RuntimeError> {
        validate::volume(&vol)?;
        let name = vol.name.clone();
        self.change_devices(id, |s, running| {
            let spec = &mut s.record.machine.spec;
            if spec.volumes.iter().any(|v| v.name == vol.name || v.device == vol.device) {
                return Err(exists("volume or device", &vol.name));
            }
            if spec.volumes.len() + spec.network_interfaces.len() >= validate::MAX_DEVICES {
                return Err(RuntimeError::new(ErrorCode::ResourceExhausted, "no free device slot"));
            }
            let encrypted = vol.connection.as_ref().is_some_and(|c| {
                c.driver == VOLUME_DRIVER_CEPH && c.encryption_data.get("encryptionKey").is_some()
            });
            if encrypted && running {
                return Err(RuntimeError::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "volume {:?} is an encrypted RBD image: libvirt 9.0 with QEMU 7.2 cannot \
                         hot-plug it; attach it when the machine is created or powered off",
                        vol.name
                    ),
                ));
            }
            spec.volumes.push(vol);
            s.record.machine.metadata.generation += 1;
            Ok(())
        }, |a| *a == Action::AttachVolume(name.clone()))
    }

    /// `UpdateVolume`: a new connection for an attached volume; a larger
    /// `effective_storage_bytes` grows the disk online (the guest sees the new size).
    ///
    /// # Errors
    /// `NotFound`; `InvalidArgument` for a shrink or a change of device or kind.
    pub fn update_volume(&self, id: &MachineId, vol: Volume) -> Result<(), RuntimeError> {
        validate::volume(&vol)?;
        self.change_devices(
            id,
            |s, _| {
                let spec = &mut s.record.machine.spec;
                let Some(old) = spec.volumes.iter_mut().find(|v| v.name == vol.name) else {
                    return Err(missing("volume", &vol.name));
                };
                let (Some(before), Some(after)) = (&old.connection, &vol.connection) else {
                    return Err(RuntimeError::new(
                        ErrorCode::InvalidArgument,
                        "only a remote volume's connection can be updated",
                    ));
                };
                if old.device != vol.device
                    || after.effective_storage_bytes < before.effective_storage_bytes
                {
                    return Err(RuntimeError::new(
                        ErrorCode::InvalidArgument,
                        format!(
                            "volume {:?}: the device cannot change and volumes only grow",
                            vol.name
                        ),
                    ));
                }
                *old = vol;
                s.record.machine.metadata.generation += 1;
                Ok(())
            },
            |a| matches!(a, Action::ResizeDisk { .. }),
        )
    }

    /// `DetachVolume`: hot-unplugs the disk; a local disk's file is removed with it.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn detach_volume(&self, id: &MachineId, name: &str) -> Result<(), RuntimeError> {
        self.change_devices(
            id,
            |s, _| {
                let spec = &mut s.record.machine.spec;
                let before = spec.volumes.len();
                spec.volumes.retain(|v| v.name != name);
                if spec.volumes.len() == before {
                    return Err(missing("volume", name));
                }
                s.record.machine.metadata.generation += 1;
                Ok(())
            },
            |a| matches!(a, Action::DetachDisk { .. }),
        )
    }

    /// `AttachNetworkInterface`: a TAP device from the data plane, or user-mode networking.
    ///
    /// # Errors
    /// `InvalidArgument`, `AlreadyExists`, `NotFound`, `ResourceExhausted`.
    pub fn attach_nic(&self, id: &MachineId, nic: NetworkInterface) -> Result<(), RuntimeError> {
        validate::nic(&nic)?;
        let name = nic.name.clone();
        self.change_devices(
            id,
            |s, _| {
                let spec = &mut s.record.machine.spec;
                if spec.network_interfaces.iter().any(|n| n.name == nic.name) {
                    return Err(exists("network interface", &nic.name));
                }
                if spec.volumes.len() + spec.network_interfaces.len() >= validate::MAX_DEVICES {
                    return Err(RuntimeError::new(
                        ErrorCode::ResourceExhausted,
                        "no free device slot",
                    ));
                }
                spec.network_interfaces.push(nic);
                s.record.machine.metadata.generation += 1;
                Ok(())
            },
            |a| *a == Action::AttachNic(name.clone()),
        )
    }

    /// `DetachNetworkInterface`.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn detach_nic(&self, id: &MachineId, name: &str) -> Result<(), RuntimeError> {
        self.change_devices(
            id,
            |s, _| {
                let spec = &mut s.record.machine.spec;
                let before = spec.network_interfaces.len();
                spec.network_interfaces.retain(|n| n.name != name);
                if spec.network_interfaces.len() == before {
                    return Err(missing("network interface", name));
                }
                s.record.machine.metadata.generation += 1;
                Ok(())
            },
            |a| matches!(a, Action::DetachNic { .. }),
        )
    }

    /// Applies a device change, reconciles, and rolls the spec back if the action the change
    /// asked for failed (`ours` picks it out).
    fn change_devices(
        &self,
        id: &MachineId,
        change: impl FnOnce(&mut Slot, bool) -> Result<(), RuntimeError>,
        ours: impl Fn(&Action) -> bool,
    ) -> Result<(), RuntimeError> {
        let slot = self.slot(id)?;
        let mut s = lock(&slot);
        if s.removed || s.record.deleting() {
            return Err(RuntimeError::new(
                ErrorCode::NotFound,
                format!("machine {id} not found or being deleted"),
            ));
        }
        let running = self.host.observe(id).map_err(|e| host_error(&e))?.is_some();
        let before = s.record.clone();
        change(&mut s, running)?;
        self.host
            .save_record(&s.record)
            .map_err(|e| host_error(&e))?;
        match self.reconcile_locked(&mut s) {
            Err(failure) if ours(&failure.action) => {
                s.record.machine.spec = before.machine.spec;
                s.record.machine.metadata.generation = before.machine.metadata.generation;
                self.host
                    .save_record(&s.record)
                    .map_err(|e| host_error(&e))?;
                if let Action::AttachVolume(name) = &failure.action {
                    // A disk made for the failed hot-plug must not outlive it.
                    let _ = self.host.remove_local_disk(id, name);
                }
                Err(failure.error)
            }
            _ => Ok(()),
        }
    }
}
