//! Machine: a virtual machine of a class, bound to a pool, with volumes and interfaces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::device::{DEVICE_PREFIX, DeviceNamer, parse_device_name};
use crate::common::{
    Resource, default_type_meta, immutable, meta_accessors, set_once, spec_status_kind,
};
use crate::enums::{string_enum, validate_enum};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_label, dns1123_subdomain, validate_ref_name, validate_with};
use crate::meta::{Time, validate_object_meta, validate_object_meta_update};
use crate::networking::{NetworkInterfaceTemplateSpec, validate_network_interface_spec};
use crate::quantity::Quantity;
use crate::refs::{Condition, LocalObjectReference, SecretKeySelector};
use crate::selector::{Labels, validate_labels};
use crate::storage::{VolumeTemplateSpec, validate_volume_template_spec};
use crate::taints::{Toleration, validate_tolerations};

/// The Secret key read for ignition when `ignitionRef.key` is empty.
pub const DEFAULT_IGNITION_KEY: &str = "ignition.yaml";

string_enum! {
    /// Requested power state.
    Power { On => "On", Off => "Off" }
}

string_enum! {
    /// A machine's lifecycle state.
    MachineState {
        Pending => "Pending",
        Running => "Running",
        Shutdown => "Shutdown",
        Terminating => "Terminating",
        Terminated => "Terminated",
    }
}

string_enum! {
    /// Attachment state of a machine's volume or interface.
    AttachmentState { Pending => "Pending", Attached => "Attached" }
}

/// An EFI variable passed to the firmware.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct EfiVar {
    /// Variable name.
    pub name: String,
    /// Vendor GUID.
    pub uuid: String,
    /// Base64 value.
    pub value: String,
}

/// An interface created with the machine from a template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralNetworkInterfaceSource {
    /// The template of the interface `<machine>-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_template: Option<NetworkInterfaceTemplateSpec>,
}

/// A machine's network interface: a reference or an ephemeral template (exactly one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineNetworkInterface {
    /// Name within the machine.
    #[serde(default)]
    pub name: String,
    /// An existing NetworkInterface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_ref: Option<LocalObjectReference>,
    /// An interface owned by the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralNetworkInterfaceSource>,
}

/// A scratch disk (deprecated upstream; kept for compatibility).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDiskVolumeSource {
    /// Maximum size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A disk on the hypervisor, optionally populated from an image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalDiskVolumeSource {
    /// Maximum size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
    /// The boot image (`gardenlinux:rootfs-image`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
}

/// A volume created with the machine from a template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralVolumeSource {
    /// The template of the volume `<machine>-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_template: Option<VolumeTemplateSpec>,
}

/// A machine's volume: exactly one source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineVolume {
    /// Name within the machine.
    #[serde(default)]
    pub name: String,
    /// The guest device (`oda`); assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// An existing Volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_ref: Option<LocalObjectReference>,
    /// A scratch disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_disk: Option<EmptyDiskVolumeSource>,
    /// A hypervisor-local disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_disk: Option<LocalDiskVolumeSource>,
    /// A volume owned by the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralVolumeSource>,
}

/// Guest settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineGuestConfig {
    /// The guest's hostname (a DNS label); settable only at creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// What a Machine should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineSpec {
    /// The class (immutable).
    #[serde(default)]
    pub machine_class_ref: LocalObjectReference,
    /// Labels a pool must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub machine_pool_selector: Labels,
    /// The pool (set once, normally by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_pool_ref: Option<LocalObjectReference>,
    /// On (default) or Off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<Power>,
    /// Interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<MachineNetworkInterface>,
    /// Volumes; the first is the boot disk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<MachineVolume>,
    /// The Secret key holding ignition data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignition_ref: Option<SecretKeySelector>,
    /// EFI variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub efi_vars: Vec<EfiVar>,
    /// Tolerated pool taints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Guest settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_config: Option<MachineGuestConfig>,
}

/// Observed state of one machine interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineNetworkInterfaceStatus {
    /// The interface's name in the machine.
    pub name: String,
    /// The runtime's handle.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub handle: String,
    /// Pending or Attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AttachmentState>,
    /// The NetworkInterface object.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub network_interface_ref: LocalObjectReference,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
}

/// Observed state of one machine volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineVolumeStatus {
    /// The volume's name in the machine.
    pub name: String,
    /// The runtime's handle.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub handle: String,
    /// Pending or Attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AttachmentState>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
    /// The Volume object.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub volume_ref: LocalObjectReference,
}

/// What a Machine is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    /// The runtime's id (`TYPE://ID`).
    #[serde(
        rename = "machineID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub machine_id: String,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "crate::refs::is_zero_i64")]
    pub observed_generation: i64,
    /// Ready, VolumesReady, NetworkInterfacesReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MachineState>,
    /// Interface attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<MachineNetworkInterfaceStatus>,
    /// Volume attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<MachineVolumeStatus>,
}

spec_status_kind!(
    /// A virtual machine.
    Machine,
    MachineSpec,
    MachineStatus
);

/// The name of a machine's ephemeral interface: `<machine>-<nic>`.
pub fn ephemeral_network_interface_name(machine: &str, nic: &str) -> String {
    format!("{machine}-{nic}")
}

/// The name of a machine's ephemeral volume: `<machine>-<volume>`.
pub fn ephemeral_volume_name(machine: &str, volume: &str) -> String {
    format!("{machine}-{volume}")
}

impl Resource for Machine {
    const KIND: Kind = Kind::Machine;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.spec.power.get_or_insert(Power::On);
        for nic in &mut self.spec.network_interfaces {
            let template = nic
                .ephemeral
                .as_mut()
                .and_then(|e| e.network_interface_template.as_mut());
            if let Some(t) = template {
                t.spec.set_defaults();
            }
        }
        assign_devices(&mut self.spec.volumes);
        let status = &mut self.status;
        status.state.get_or_insert(MachineState::Pending);
        for v in &mut status.volumes {
            v.state.get_or_insert(AttachmentState::Pending);
        }
        for n in &mut status.network_interfaces {
            n.state.get_or_insert(AttachmentState::Pending);
        }
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_label);
        errs.extend(validate_spec(&self.spec, &FieldPath::new("spec")));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(validate_readded_volumes(self, old));
        errs.extend(validate_spec_update(
            &self.spec,
            &old.spec,
            &FieldPath::new("spec"),
        ));
        errs.extend(self.validate());
        errs
    }
}

/// Gives every volume without a device the lowest free `od*` name, as upstream admission does.
/// Conflicting explicit names are left for validation to report.
fn assign_devices(volumes: &mut [MachineVolume]) {
    let mut namer = DeviceNamer::default();
    for d in volumes.iter().filter_map(|v| v.device.as_deref()) {
        // Malformed or repeated names are reported by validation; they take no slot here.
        let _ = namer.observe(d);
    }
    for v in volumes.iter_mut().filter(|v| v.device.is_none()) {
        match namer.generate(DEVICE_PREFIX) {
            Some(name) => v.device = Some(name),
            None => return,
        }
    }
}

fn validate_spec(spec: &MachineSpec, path: &FieldPath) -> ErrorList {
    let mut errs = validate_ref_name(
        &spec.machine_class_ref.name,
        path.child("machineClassRef").child("name"),
    );
    if let Some(pool) = &spec.machine_pool_ref {
        errs.extend(validate_ref_name(
            &pool.name,
            path.child("machinePoolRef").child("name"),
        ));
    }
    let power = path.child("power");
    errs.extend(validate_enum(
        spec.power.as_ref(),
        power,
        "must specify machine power",
    ));
    if let Some(ign) = spec.ignition_ref.as_ref().filter(|i| !i.name.is_empty()) {
        let p = path.child("ignitionRef").child("name");
        errs.extend(validate_with(&ign.name, p, dns1123_subdomain));
    }
    errs.extend(validate_volumes(&spec.volumes, &path.child("volumes")));
    errs.extend(validate_labels(
        &spec.machine_pool_selector,
        &path.child("machinePoolSelector"),
    ));
    errs.extend(validate_nics(
        &spec.network_interfaces,
        &path.child("networkInterfaces"),
    ));
    errs.extend(validate_tolerations(
        &spec.tolerations,
        &path.child("tolerations"),
    ));
    if let Some(host) = spec
        .guest_config
        .as_ref()
        .map(|g| &g.hostname)
        .filter(|h| !h.is_empty())
    {
        let p = path.child("guestConfig").child("hostname");
        errs.extend(validate_with(host, p, dns1123_label));
    }
    errs
}

fn validate_volumes(volumes: &[MachineVolume], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    let mut devices = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        if !names.insert(v.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), &v.name));
        }
        if let Some(d) = &v.device
            && !devices.insert(d.as_str())
        {
            errs.push(FieldError::duplicate(p.child("device"), d));
        }
        errs.extend(validate_volume(v, &p));
    }
    errs
}

fn validate_volume(v: &MachineVolume, path: &FieldPath) -> ErrorList {
    let mut errs = validate_ref_name(&v.name, path.child("name"));
    match &v.device {
        None => errs.push(FieldError::required(
            path.child("device"),
            "no device name left (at most 702 volumes per machine)",
        )),
        Some(d) => {
            if let Err(e) = parse_device_name(d) {
                let detail = format!("invalid device name: {e}");
                errs.push(FieldError::invalid(path.child("device"), d, detail));
            }
        }
    }
    let mut sources = 0;
    let mut one_of = |set: bool, field: &str, errs: &mut ErrorList| {
        if set {
            if sources > 0 {
                errs.push(FieldError::forbidden(
                    path.child(field),
                    "must only specify one volume source",
                ));
            }
            sources += 1;
        }
        set && sources == 1
    };
    if one_of(v.volume_ref.is_some(), "volumeRef", &mut errs)
        && let Some(r) = &v.volume_ref
    {
        errs.extend(validate_ref_name(
            &r.name,
            path.child("volumeRef").child("name"),
        ));
    }
    if one_of(v.empty_disk.is_some(), "emptyDisk", &mut errs)
        && let Some(size) = v.empty_disk.as_ref().and_then(|d| d.size_limit)
    {
        errs.extend(non_negative(
            size,
            path.child("emptyDisk").child("sizeLimit"),
        ));
    }
    if one_of(v.local_disk.is_some(), "localDisk", &mut errs)
        && let Some(size) = v.local_disk.as_ref().and_then(|d| d.size_limit)
    {
        errs.extend(non_negative(
            size,
            path.child("localDisk").child("sizeLimit"),
        ));
    }
    if one_of(v.ephemeral.is_some(), "ephemeral", &mut errs) {
        errs.extend(validate_ephemeral_volume(
            v.ephemeral.as_ref(),
            &path.child("ephemeral"),
        ));
    }
    if sources == 0 {
        errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify at least one volume source",
        ));
    }
    errs
}

fn non_negative(q: Quantity, path: FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(
            path,
            q.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    errs
}

fn validate_ephemeral_volume(src: Option<&EphemeralVolumeSource>, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(template) = src.and_then(|s| s.volume_template.as_ref()) else {
        errs.push(FieldError::required(
            path.child("volumeTemplate"),
            "must specify volume template",
        ));
        return errs;
    };
    let tpath = path.child("volumeTemplate");
    errs.extend(validate_volume_template_spec(template, &tpath));
    if template.spec.claim_ref.is_some() {
        errs.push(FieldError::forbidden(
            tpath.child("spec.claimRef"),
            "may not specify claimRef",
        ));
    }
    if template.spec.unclaimable {
        let p = tpath.child("spec.unclaimable");
        errs.push(FieldError::forbidden(p, "may not specify unclaimable"));
    }
    errs
}

fn validate_nics(nics: &[MachineNetworkInterface], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, nic) in nics.iter().enumerate() {
        let p = path.index(i);
        if !names.insert(nic.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), &nic.name));
        }
        errs.extend(validate_ref_name(&nic.name, p.child("name")));
        match (&nic.network_interface_ref, &nic.ephemeral) {
            (Some(r), None) => {
                let rp = p.child("networkInterfaceRef").child("name");
                errs.extend(validate_ref_name(&r.name, rp));
            }
            (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                p.child("ephemeral"),
                "must only specify one networkInterface source",
            )),
            (None, Some(e)) => {
                let ep = p.child("ephemeral").child("networkInterfaceTemplate");
                match &e.network_interface_template {
                    Some(t) => errs.extend(validate_network_interface_spec(
                        &t.spec,
                        None,
                        &ep.child("spec"),
                    )),
                    None => errs.push(FieldError::required(
                        ep,
                        "must specify networkInterface template",
                    )),
                }
            }
            (None, None) => errs.push(FieldError::invalid(
                p,
                BadValue::Raw("{}".into()),
                "must specify at least one networkInterface source",
            )),
        }
    }
    errs
}

/// A volume name newly added while the old one of that name is still attached (listed in
/// status) would be confused with it during detach.
fn validate_readded_volumes(new: &Machine, old: &Machine) -> ErrorList {
    let old_names: BTreeSet<&str> = old.spec.volumes.iter().map(|v| v.name.as_str()).collect();
    let attached: BTreeSet<&str> = new.status.volumes.iter().map(|v| v.name.as_str()).collect();
    let mut errs = ErrorList::new();
    for (i, v) in new.spec.volumes.iter().enumerate() {
        if !old_names.contains(v.name.as_str()) && attached.contains(v.name.as_str()) {
            let p = FieldPath::new("spec")
                .child("volumes")
                .index(i)
                .child("name");
            errs.push(FieldError::duplicate(p, &v.name));
        }
    }
    errs
}

fn validate_spec_update(new: &MachineSpec, old: &MachineSpec, path: &FieldPath) -> ErrorList {
    let mut errs = immutable(
        &new.machine_class_ref,
        &old.machine_class_ref,
        path.child("machineClassRef"),
    );
    errs.extend(set_once(
        new.machine_pool_ref.as_ref(),
        old.machine_pool_ref.as_ref(),
        |r| r.map_or(BadValue::Null, |r| BadValue::from(&r.name)),
        path.child("machinePoolRef"),
    ));
    errs.extend(validate_local_disk_images(new, old, path));
    errs.extend(validate_hostname_update(
        new,
        old,
        &path.child("guestConfig").child("hostname"),
    ));
    errs
}

fn validate_local_disk_images(new: &MachineSpec, old: &MachineSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let by_name: BTreeMap<&str, &MachineVolume> =
        new.volumes.iter().map(|v| (v.name.as_str(), v)).collect();
    for old_vol in &old.volumes {
        let Some(old_image) = old_vol
            .local_disk
            .as_ref()
            .map(|d| &d.image)
            .filter(|i| !i.is_empty())
        else {
            continue;
        };
        let p = path
            .child("volumes")
            .key(&old_vol.name)
            .child("localDisk")
            .child("image");
        let new_image = by_name.get(old_vol.name.as_str()).map(|v| {
            v.local_disk
                .as_ref()
                .map(|d| d.image.as_str())
                .unwrap_or_default()
        });
        match new_image {
            None => errs.push(FieldError::invalid(
                p,
                BadValue::Null,
                "volume with an image set must not be removed",
            )),
            Some("") => errs.push(FieldError::invalid(
                p,
                BadValue::Null,
                "volume with an image set must not be cleared",
            )),
            Some(img) if img != old_image => {
                errs.push(FieldError::forbidden(p, "field is immutable"))
            }
            Some(_) => {}
        }
    }
    errs
}

fn validate_hostname_update(new: &MachineSpec, old: &MachineSpec, path: &FieldPath) -> ErrorList {
    let host = |s: &MachineSpec| {
        s.guest_config
            .as_ref()
            .map(|g| g.hostname.clone())
            .unwrap_or_default()
    };
    let (new_host, old_host) = (host(new), host(old));
    let mut errs = ErrorList::new();
    if old_host.is_empty() && !new_host.is_empty() {
        errs.push(FieldError::invalid(
            path.clone(),
            &new_host,
            "hostname must not be set if it was not set before",
        ));
    } else if !old_host.is_empty() && new_host.is_empty() {
        errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Null,
            "hostname must not be cleared",
        ));
    } else if new_host != old_host {
        errs.push(FieldError::forbidden(path.clone(), "field is immutable"));
    }
    errs
}
