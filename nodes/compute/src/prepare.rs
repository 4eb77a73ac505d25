//! Turning a machine's spec into what the backend creates: resolving the boot image, making
//! overlays and empty disks, checking remote volumes, writing ignition and the host name.
//!
//! Failures are typed so the runtime can tell "wait for an image or volume" (a condition on
//! the machine) from "the request is wrong" and "the backend broke".

use ferrocore_api::iri::machine::{
    MachineId, VOLUME_DRIVER_CEPH, VOLUME_DRIVER_LOCAL, Volume, VolumeConnection,
};
use sha2::{Digest, Sha256};

use crate::host::{Host, HostError, ImageBoot, LocalDiskPlan, ResolvedImage};
use crate::model::{
    BootSpec, DiskSource, DiskSpec, DomainMetadata, DomainSpec, DomainType, MachineRecord, NicSpec,
    target_dev, volume_alias, volume_serial,
};

/// Size of a local disk created without a size (1 GiB).
pub(crate) const DEFAULT_LOCAL_DISK_BYTES: u64 = 1 << 30;

/// Why a domain (or one disk of it) could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The boot image is not in the store (yet).
    #[error("Image {0:?} not found in the node's image store")]
    ImageNotFound(String),
    /// A volume's backing file or attributes are missing.
    #[error("Volume {0:?} not found: {1}")]
    VolumeNotFound(String, String),
    /// The request cannot be done on this node (encrypted hot-plug, UEFI without OVMF, ...).
    #[error("{0}")]
    Unsupported(String),
    /// A backend call failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

impl PrepareError {
    /// The condition reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ImageNotFound(_) => "ImageNotFound",
            Self::VolumeNotFound(..) => "VolumeNotFound",
            Self::Unsupported(_) => "Unsupported",
            Self::Host(_) => "BackendError",
        }
    }
}

/// Domain-wide settings from the node config.
#[derive(Clone, Debug)]
pub(crate) struct DomainDefaults {
    pub(crate) domain_type: DomainType,
    pub(crate) machine_type: String,
    pub(crate) cache: String,
    pub(crate) ovmf_code: Vec<std::path::PathBuf>,
    pub(crate) default_cmdline: String,
}

/// Everything for creating the machine's domain. Disks are made (or found) on the way; a
/// failure part-way leaves only files that belong to the machine's directory, which deletion
/// removes.
pub(crate) fn domain_spec(
    host: &dyn Host,
    defaults: &DomainDefaults,
    rec: &MachineRecord,
    vcpus: u32,
    memory_bytes: u64,
) -> Result<(DomainSpec, Option<ResolvedImage>), PrepareError> {
    let id = rec.id();
    let spec = &rec.machine.spec;
    let mut boot_image = None;
    let mut disks = Vec::new();
    for vol in &spec.volumes {
        let (disk, image) = disk(host, defaults, id, vol, true)?;
        if boot_image.is_none() {
            boot_image = image;
        }
        disks.push(disk);
    }
    let boot = boot_spec(host, defaults, boot_image.as_ref())?;
    let ignition = match &spec.ignition_data {
        Some(data) => Some(host.write_machine_file(id, "ignition.json", data)?),
        None => None,
    };
    let hostname = match &spec.guest_config.hostname {
        Some(name) => Some((
            name.clone(),
            host.write_machine_file(id, "hostname", name.as_bytes())?,
        )),
        None => None,
    };
    let domain = DomainSpec {
        id: id.clone(),
        metadata: DomainMetadata {
            id: id.clone(),
            labels: rec.machine.metadata.labels.clone(),
        },
        domain_type: defaults.domain_type,
        machine_type: defaults.machine_type.clone(),
        vcpus,
        memory_bytes,
        boot,
        disks,
        nics: spec
            .network_interfaces
            .iter()
            .map(NicSpec::from_iri)
            .collect(),
        ignition,
        hostname,
        console_log: host.console_log_path(id),
    };
    Ok((domain, boot_image))
}

fn boot_spec(
    host: &dyn Host,
    defaults: &DomainDefaults,
    image: Option<&ResolvedImage>,
) -> Result<BootSpec, PrepareError> {
    match image.map(|i| &i.boot) {
        None | Some(ImageBoot::Disk { uefi: false }) => Ok(BootSpec::Bios),
        Some(ImageBoot::Disk { uefi: true }) => defaults
            .ovmf_code
            .iter()
            .find(|p| host.file_size(p).is_ok())
            .map(|p| BootSpec::Uefi { loader: p.clone() })
            .ok_or_else(|| {
                PrepareError::Unsupported("UEFI image but no OVMF firmware on this node".into())
            }),
        Some(ImageBoot::Kernel {
            kernel,
            initrd,
            cmdline,
        }) => Ok(BootSpec::Kernel {
            kernel: kernel.clone(),
            initrd: initrd.clone(),
            cmdline: cmdline
                .clone()
                .unwrap_or_else(|| defaults.default_cmdline.clone()),
        }),
    }
}

/// The disk for one volume (making a local disk if needed). `at_creation` is false for
/// hot-plugs, which encrypted RBD volumes cannot do on libvirt 9.0 / QEMU 7.2.
pub(crate) fn disk(
    host: &dyn Host,
    defaults: &DomainDefaults,
    id: &MachineId,
    vol: &Volume,
    at_creation: bool,
) -> Result<(DiskSpec, Option<ResolvedImage>), PrepareError> {
    let target = target_dev(&vol.device)
        .ok_or_else(|| PrepareError::Unsupported(format!("bad device {:?}", vol.device)))?;
    let mut image = None;
    let source = match (&vol.local_disk, &vol.connection) {
        (Some(local), _) => {
            let plan = match &local.image {
                Some(reference) => {
                    let resolved = host
                        .resolve_image(reference)
                        .map_err(|_| PrepareError::ImageNotFound(reference.clone()))?;
                    let size_bytes = local.size_bytes.max(resolved.virtual_size);
                    image = Some(resolved.clone());
                    LocalDiskPlan::Overlay {
                        image: resolved,
                        size_bytes,
                    }
                }
                None => LocalDiskPlan::Empty {
                    size_bytes: if local.size_bytes == 0 {
                        DEFAULT_LOCAL_DISK_BYTES
                    } else {
                        local.size_bytes
                    },
                },
            };
            let (path, format) = host.prepare_local_disk(id, &vol.name, &plan)?;
            DiskSource::File { path, format }
        }
        (None, Some(conn)) => remote_source(host, id, &vol.name, conn, at_creation)?,
        (None, None) => return Err(PrepareError::Unsupported("volume without source".into())),
    };
    let disk = DiskSpec {
        volume: vol.name.clone(),
        alias: volume_alias(&vol.name),
        target,
        serial: volume_serial(&vol.name),
        source,
        cache: defaults.cache.clone(),
    };
    Ok((disk, image))
}

fn remote_source(
    host: &dyn Host,
    id: &MachineId,
    name: &str,
    conn: &VolumeConnection,
    at_creation: bool,
) -> Result<DiskSource, PrepareError> {
    let missing = |what: &str| PrepareError::VolumeNotFound(name.into(), format!("no {what}"));
    match conn.driver.as_str() {
        VOLUME_DRIVER_LOCAL => {
            let path = conn.attributes.get("path").unwrap_or(&conn.handle);
            let path = std::path::PathBuf::from(path);
            if !path.is_absolute() {
                return Err(PrepareError::VolumeNotFound(
                    name.into(),
                    "path is not absolute".into(),
                ));
            }
            host.file_size(&path)
                .map_err(|e| PrepareError::VolumeNotFound(name.into(), e.to_string()))?;
            Ok(DiskSource::File {
                path,
                format: "raw",
            })
        }
        VOLUME_DRIVER_CEPH => {
            let image = conn
                .attributes
                .get("image")
                .ok_or_else(|| missing("image attribute"))?;
            let monitors = conn
                .attributes
                .get("monitors")
                .ok_or_else(|| missing("monitors"))?;
            let key = conn
                .secret_data
                .get("userKey")
                .ok_or_else(|| missing("userKey"))?;
            let user = conn.secret_data.get("userID").map_or_else(
                || "admin".to_string(),
                |u| String::from_utf8_lossy(u).into_owned(),
            );
            let encryption = match conn.encryption_data.get("encryptionKey") {
                Some(_) if !at_creation => {
                    return Err(PrepareError::Unsupported(format!(
                        "volume {name:?} is an encrypted RBD image: libvirt 9.0 with QEMU 7.2 \
                         cannot hot-plug it; attach it when the machine is created"
                    )));
                }
                Some(pass) => Some((secret_uuid(id, &format!("enc/{name}")), pass.to_vec())),
                None => None,
            };
            Ok(DiskSource::Rbd {
                image: image.clone(),
                monitors: monitors
                    .split(',')
                    .map(str::trim)
                    .map(String::from)
                    .collect(),
                user,
                secret_uuid: secret_uuid(id, name),
                key: ceph_key_bytes(key),
                encryption,
            })
        }
        other => Err(PrepareError::Unsupported(format!(
            "unsupported volume driver {other:?}"
        ))),
    }
}

/// The cephx key as libvirt's secret wants it: the decoded bytes of the base64 key Ceph
/// prints. Keys that are not base64 are taken as they are.
fn ceph_key_bytes(key: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(key);
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|_| key.to_vec())
}

/// A stable UUID for a (machine, volume) secret: SHA-256 of both, shaped as a UUID.
pub(crate) fn secret_uuid(id: &MachineId, volume: &str) -> String {
    let digest = Sha256::digest(format!("{}/{volume}", id.0).as_bytes());
    let h: Vec<String> = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let h = h.concat();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_uuid_is_stable_and_uuid_shaped() {
        let id = MachineId("m".into());
        let a = secret_uuid(&id, "v");
        assert_eq!(a, secret_uuid(&id, "v"));
        assert_ne!(a, secret_uuid(&id, "w"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn ceph_keys_are_decoded() {
        assert_eq!(ceph_key_bytes(b"AAEC"), vec![0, 1, 2]);
        assert_eq!(ceph_key_bytes(b"not base64!"), b"not base64!".to_vec());
    }
}
