//! Checks on incoming machines, volumes and interfaces, before anything is stored. Pure.

use ferrocore_api::iri::machine::{
    ErrorCode, MachineSpec, NetworkInterface, RuntimeError, VOLUME_DRIVER_CEPH,
    VOLUME_DRIVER_LOCAL, Volume,
};

use crate::config::MachineClasses;
use crate::model::target_dev;

/// Longest name accepted for a volume or interface (names end up in file names and aliases).
pub const MAX_NAME_LEN: usize = 63;

/// Devices per machine: one per pre-created PCIe root port (see the domain XML), so a request
/// for more could never be satisfied.
pub const MAX_DEVICES: usize = 30;

fn invalid(message: String) -> RuntimeError {
    RuntimeError::new(ErrorCode::InvalidArgument, message)
}

fn check_name(what: &str, name: &str) -> Result<(), RuntimeError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} name {name:?} must be 1-{MAX_NAME_LEN} characters of [A-Za-z0-9._-]"
        )))
    }
}

/// Checks one volume on its own.
///
/// # Errors
/// `InvalidArgument` naming the problem.
pub(crate) fn volume(vol: &Volume) -> Result<(), RuntimeError> {
    check_name("volume", &vol.name)?;
    if target_dev(&vol.device).is_none() {
        return Err(invalid(format!(
            "volume {:?}: device {:?} is not of the form od<letters>",
            vol.name, vol.device
        )));
    }
    match (&vol.local_disk, &vol.connection) {
        (Some(_), None) => Ok(()),
        (None, Some(conn)) => match conn.driver.as_str() {
            VOLUME_DRIVER_CEPH | VOLUME_DRIVER_LOCAL => Ok(()),
            other => Err(invalid(format!(
                "volume {:?}: unsupported driver {other:?} (this node knows \
                 {VOLUME_DRIVER_CEPH:?} and {VOLUME_DRIVER_LOCAL:?})",
                vol.name
            ))),
        },
        _ => Err(invalid(format!(
            "volume {:?}: exactly one of localDisk and connection must be set",
            vol.name
        ))),
    }
}

/// Checks one network interface on its own.
///
/// # Errors
/// `InvalidArgument` naming the problem.
pub(crate) fn nic(nic: &NetworkInterface) -> Result<(), RuntimeError> {
    check_name("network interface", &nic.name)
}

/// Checks a whole spec: the class exists, volumes and interfaces are valid and unique.
///
/// # Errors
/// `InvalidArgument` naming the problem (an unknown class names the classes on offer).
pub(crate) fn spec(spec: &MachineSpec, classes: &MachineClasses) -> Result<(), RuntimeError> {
    if classes.get(&spec.class).is_none() {
        let offered: Vec<String> = classes.iter().map(|(n, _)| n.0.clone()).collect();
        return Err(invalid(format!(
            "unknown machine class {:?} (this node offers: {})",
            spec.class.0,
            offered.join(", ")
        )));
    }
    if spec.volumes.len() + spec.network_interfaces.len() > MAX_DEVICES {
        return Err(invalid(format!(
            "more than {MAX_DEVICES} volumes and interfaces"
        )));
    }
    for (i, vol) in spec.volumes.iter().enumerate() {
        volume(vol)?;
        let later = &spec.volumes[i + 1..];
        if later
            .iter()
            .any(|v| v.name == vol.name || v.device == vol.device)
        {
            return Err(invalid(format!(
                "volume name {:?} or device {:?} used twice",
                vol.name, vol.device
            )));
        }
    }
    for (i, n) in spec.network_interfaces.iter().enumerate() {
        nic(n)?;
        if spec.network_interfaces[i + 1..]
            .iter()
            .any(|o| o.name == n.name)
        {
            return Err(invalid(format!(
                "network interface {:?} used twice",
                n.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::machine::{LocalDisk, MachineClassName, VolumeConnection};

    use super::*;
    use crate::config::{ClassConfig, ComputeConfig};

    fn classes() -> MachineClasses {
        ComputeConfig {
            classes: vec![ClassConfig {
                name: "c".into(),
                cpu: 1,
                memory_mib: 128,
            }],
            ..ComputeConfig::default()
        }
        .classes()
        .unwrap()
    }

    fn disk(name: &str, dev: &str) -> Volume {
        Volume {
            name: name.into(),
            device: dev.into(),
            local_disk: Some(LocalDisk::default()),
            connection: None,
        }
    }

    #[test]
    fn unknown_class_names_the_offer() {
        let s = MachineSpec {
            class: MachineClassName("x".into()),
            ..MachineSpec::default()
        };
        let err = spec(&s, &classes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.contains("offers: c"), "{}", err.message);
    }

    #[test]
    fn duplicate_and_malformed_volumes_are_refused() {
        let mut s = MachineSpec {
            class: MachineClassName("c".into()),
            volumes: vec![disk("a", "oda"), disk("b", "oda")],
            ..MachineSpec::default()
        };
        assert!(spec(&s, &classes()).is_err());
        s.volumes[1].device = "odb".into();
        assert!(spec(&s, &classes()).is_ok());
        s.volumes[1].connection = Some(VolumeConnection::default());
        assert!(spec(&s, &classes()).is_err());
        s.volumes[1].local_disk = None;
        assert!(spec(&s, &classes()).is_err(), "empty driver");
        s.volumes[1].name = "../etc".into();
        assert!(volume(&s.volumes[1]).is_err());
    }
}
