//! Volume device names on Machine update (admission, before defaulting): a volume that keeps
//! its name keeps its device even when the new spec omits `device`, and a device still in use
//! by a volume being detached is not handed to a new volume. Upstream assigns names per request
//! in list order, so removing `oda` and re-applying without device names renames `odb` to
//! `oda` under a running guest; this fixes that.

use std::collections::BTreeSet;

use ferrocore_api::compute::{DEVICE_PREFIX, DeviceNamer, Machine};

/// No free device name is left (a machine has at most 702 volumes).
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("spec.volumes[{index}].device: no device name left (at most 702 volumes per machine)")]
pub struct DevicesExhausted {
    /// The volume that got no name.
    pub index: usize,
}

/// Fills in `device` for every volume of `new` that has none, keeping `old`'s names for volumes
/// that keep their name and not reusing names of volumes still attached in `old.status`.
/// Explicit names in `new` are left as they are (validation reports clashes).
///
/// # Errors
/// [`DevicesExhausted`] when no name is left for a volume.
pub fn assign_devices(new: &mut Machine, old: Option<&Machine>) -> Result<(), DevicesExhausted> {
    let explicit: BTreeSet<String> = new
        .spec
        .volumes
        .iter()
        .filter_map(|v| v.device.clone())
        .collect();
    if let Some(old) = old {
        for v in new.spec.volumes.iter_mut().filter(|v| v.device.is_none()) {
            let previous = old
                .spec
                .volumes
                .iter()
                .find(|o| o.name == v.name)
                .and_then(|o| o.device.clone());
            if let Some(d) = previous.filter(|d| !explicit.contains(d)) {
                v.device = Some(d);
            }
        }
    }
    let mut namer = DeviceNamer::default();
    for d in new.spec.volumes.iter().filter_map(|v| v.device.as_deref()) {
        // Malformed or repeated names are validation's to report; they take no slot here.
        let _ = namer.observe(d);
    }
    for d in detaching_devices(new, old) {
        let _ = namer.observe(&d);
    }
    for (index, v) in new.spec.volumes.iter_mut().enumerate() {
        if v.device.is_none() {
            v.device = Some(
                namer
                    .generate(DEVICE_PREFIX)
                    .ok_or(DevicesExhausted { index })?,
            );
        }
    }
    Ok(())
}

/// Devices of volumes that `new` drops but `old.status` still shows attached.
fn detaching_devices(new: &Machine, old: Option<&Machine>) -> Vec<String> {
    let Some(old) = old else {
        return Vec::new();
    };
    old.spec
        .volumes
        .iter()
        .filter(|o| !new.spec.volumes.iter().any(|v| v.name == o.name))
        .filter(|o| old.status.volumes.iter().any(|s| s.name == o.name))
        .filter_map(|o| o.device.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use ferrocore_api::compute::{MachineVolume, MachineVolumeStatus};

    use super::*;

    fn vol(name: &str, device: Option<&str>) -> MachineVolume {
        MachineVolume {
            name: name.into(),
            device: device.map(Into::into),
            ..MachineVolume::default()
        }
    }

    fn devices(m: &Machine) -> Vec<(String, String)> {
        m.spec
            .volumes
            .iter()
            .map(|v| (v.name.clone(), v.device.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn kept_volumes_keep_their_devices() {
        let mut old = Machine::default();
        old.spec.volumes = vec![vol("a", Some("oda")), vol("b", Some("odb"))];
        let mut new = Machine::default();
        new.spec.volumes = vec![vol("b", None), vol("c", None)];
        assign_devices(&mut new, Some(&old)).unwrap();
        assert_eq!(
            devices(&new),
            [("b".into(), "odb".into()), ("c".into(), "oda".into())]
        );
    }

    #[test]
    fn detaching_devices_are_not_reused() {
        let mut old = Machine::default();
        old.spec.volumes = vec![vol("a", Some("oda"))];
        old.status.volumes = vec![MachineVolumeStatus {
            name: "a".into(),
            ..MachineVolumeStatus::default()
        }];
        let mut new = Machine::default();
        new.spec.volumes = vec![vol("c", None)];
        assign_devices(&mut new, Some(&old)).unwrap();
        assert_eq!(devices(&new), [("c".into(), "odb".into())]);
    }

    #[test]
    fn explicit_names_win_and_exhaustion_is_an_error() {
        let mut old = Machine::default();
        old.spec.volumes = vec![vol("a", Some("oda"))];
        let mut new = Machine::default();
        new.spec.volumes = vec![vol("b", Some("oda")), vol("a", None)];
        assign_devices(&mut new, Some(&old)).unwrap();
        assert_eq!(
            devices(&new),
            [("b".into(), "oda".into()), ("a".into(), "odb".into())]
        );
        let mut full = Machine::default();
        full.spec.volumes = (0..703).map(|i| vol(&format!("v{i}"), None)).collect();
        assert_eq!(
            assign_devices(&mut full, None),
            Err(DevicesExhausted { index: 702 })
        );
    }
}
