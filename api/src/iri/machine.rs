//! The MachineRuntime interface (IRI equivalent): its operations, requests, responses and the
//! machine model a node backend keeps.
//!
//! Fourteen operations, as IronCore's `machine.v1alpha1.MachineRuntime`: `Version`,
//! `ListEvents`, `ListMachines`, `CreateMachine`, `DeleteMachine`, `UpdateMachineAnnotations`,
//! `UpdateMachinePower`, `AttachVolume`, `UpdateVolume`, `DetachVolume`,
//! `AttachNetworkInterface`, `DetachNetworkInterface`, `Status` and `Exec`. [`MachineRequest`]
//! and [`MachineResponse`] carry one of each, so a transport can frame them as one enum.
//!
//! Everything here is plain data with a fixed shape (no skipped or flattened fields), so it
//! encodes with JSON and with bincode alike. Byte fields (ignition data, secrets) are `Vec<u8>`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::volume::SecretData;

/// The label a control plane puts on every machine it creates: the API object's uid. A runtime
/// treats a second create with the same value as the same machine (it never duplicates one).
pub const MACHINE_UID_LABEL: &str = "compute.ferrocore.dev/machine-uid";

/// Network interface attribute naming the TAP device the data plane created for this interface.
/// Without it the interface gets user-mode networking (no data plane on the node).
pub const NIC_TAP_DEVICE_ATTRIBUTE: &str = "ferrocore.dev/tap-device";

/// Network interface attribute holding the MAC address to give the guest (optional).
pub const NIC_MAC_ADDRESS_ATTRIBUTE: &str = "ferrocore.dev/mac-address";

/// Volume connection driver for a Ceph RBD image (attributes `monitors`, `image`; secret data
/// `userID`, `userKey`; optional encryption data `encryptionKey`).
pub const VOLUME_DRIVER_CEPH: &str = "ceph";

/// Volume connection driver for a file handed out by a storage node's local backend: the file's
/// absolute path is attribute `path` (or, failing that, the handle itself).
pub const VOLUME_DRIVER_LOCAL: &str = "local";

/// Capability key of a machine class: virtual CPUs.
pub const CAPABILITY_CPU: &str = "cpu";

/// Capability key of a machine class: memory in bytes.
pub const CAPABILITY_MEMORY: &str = "memory";

/// The id a runtime gives a machine (opaque to the caller; found again by labels).
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct MachineId(pub String);

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a machine class (`t3-small`, ...).
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct MachineClassName(pub String);

impl fmt::Display for MachineClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point in time: nanoseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub struct Timestamp(pub i64);

/// Identity and bookkeeping of a runtime object.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ObjectMetadata {
    /// Assigned by the runtime on create; empty in a create request.
    pub id: MachineId,
    /// Free-form annotations (changeable with `UpdateMachineAnnotations`).
    pub annotations: BTreeMap<String, String>,
    /// Labels (set at create; used by list and event filters).
    pub labels: BTreeMap<String, String>,
    /// Bumped by the runtime on every spec change.
    pub generation: i64,
    /// When the runtime created the object.
    pub created_at: Timestamp,
    /// When deletion was requested, if it was.
    pub deleted_at: Option<Timestamp>,
}

/// Desired power state.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum Power {
    /// The guest should run.
    #[default]
    On,
    /// The guest should be shut down (ACPI first, then forced after a grace period).
    Off,
}

/// Guest configuration passed into the machine.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct GuestConfig {
    /// The guest's host name (also the libvirt domain title).
    pub hostname: Option<String>,
}

/// A machine as the runtime reports it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Machine {
    /// Identity and labels.
    pub metadata: ObjectMetadata,
    /// What the caller wants.
    pub spec: MachineSpec,
    /// What the runtime observed.
    pub status: MachineStatus,
}

/// The desired state of a machine.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineSpec {
    /// Desired power state.
    pub power: Power,
    /// The machine class (vCPUs and memory come from the node's class table).
    pub class: MachineClassName,
    /// Ignition config handed to the guest through fw_cfg (`opt/com.coreos/config`).
    pub ignition_data: Option<Vec<u8>>,
    /// Disks, in boot order: the first local disk with an image is the root disk.
    pub volumes: Vec<Volume>,
    /// Network interfaces.
    pub network_interfaces: Vec<NetworkInterface>,
    /// Host name and similar.
    pub guest_config: GuestConfig,
}

/// A disk of a machine: exactly one of `local_disk` and `connection` is set.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Volume {
    /// Unique within the machine.
    pub name: String,
    /// Device name as the API names it (`oda`, `odb`, ...; mapped to `vda`, `vdb`, ...).
    pub device: String,
    /// A disk kept on the node (empty, or a copy-on-write overlay of an image).
    pub local_disk: Option<LocalDisk>,
    /// A remote volume (RBD) or a storage node's local file.
    pub connection: Option<VolumeConnection>,
}

/// A disk the compute node keeps itself.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct LocalDisk {
    /// Size of the disk; with an image, at least the image's virtual size is used.
    pub size_bytes: u64,
    /// Boot image reference (`name[:tag]` or `sha256:<hex>`) resolved by the node's image store.
    pub image: Option<String>,
}

/// How to reach a remote volume, as the storage side published it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeConnection {
    /// [`VOLUME_DRIVER_CEPH`] or [`VOLUME_DRIVER_LOCAL`].
    pub driver: String,
    /// Driver-specific handle (RBD: the WWN; local: the file path).
    pub handle: String,
    /// Driver-specific attributes (RBD: `monitors`, `image`).
    pub attributes: BTreeMap<String, String>,
    /// Credentials (RBD: `userID`, `userKey`).
    pub secret_data: SecretData,
    /// Encryption material (RBD: `encryptionKey`); only honoured at machine creation.
    pub encryption_data: SecretData,
    /// The size the guest should see; a larger value than before resizes online.
    pub effective_storage_bytes: u64,
}

/// A network interface of a machine.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct NetworkInterface {
    /// Unique within the machine.
    pub name: String,
    /// The network this interface belongs to (the data plane's id).
    pub network_id: String,
    /// Addresses the data plane gives this interface.
    pub ips: Vec<String>,
    /// Attributes, e.g. [`NIC_TAP_DEVICE_ATTRIBUTE`].
    pub attributes: BTreeMap<String, String>,
}

/// The lifecycle state of a machine.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum MachineState {
    /// Accepted, not running yet (creating, booting, or waiting on an image or volume).
    #[default]
    Pending,
    /// The guest runs.
    Running,
    /// The guest is paused.
    Suspended,
    /// The machine is gone (deleted).
    Terminated,
    /// Shutting down or being deleted.
    Terminating,
    /// Powered off on request; it keeps its disks and can be powered on again.
    Stopped,
}

/// Whether a volume is attached.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum VolumeState {
    /// Not attached (yet).
    #[default]
    Pending,
    /// Attached to the running guest (or part of its definition).
    Attached,
}

/// Whether a network interface is attached.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum NetworkInterfaceState {
    /// Not attached (yet).
    #[default]
    Pending,
    /// Attached.
    Attached,
}

/// Observed state of a machine.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineStatus {
    /// The metadata generation this status reflects.
    pub observed_generation: i64,
    /// Lifecycle state.
    pub state: MachineState,
    /// Digest of the resolved boot image (`sha256:<hex>`), once resolved.
    pub image_ref: String,
    /// Per-volume state.
    pub volumes: Vec<VolumeStatus>,
    /// Per-interface state.
    pub network_interfaces: Vec<NetworkInterfaceStatus>,
    /// Conditions (`ImageNotFound`, `VolumeNotFound`, ...).
    pub conditions: Vec<MachineCondition>,
}

/// Observed state of one volume.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeStatus {
    /// The volume's name.
    pub name: String,
    /// Runtime handle (`local/<path>`, `ceph/<pool/image>`).
    pub handle: String,
    /// Attachment state.
    pub state: VolumeState,
    /// Size the guest sees, in bytes (0 until attached).
    pub size_bytes: u64,
}

/// Observed state of one network interface.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct NetworkInterfaceStatus {
    /// The interface's name.
    pub name: String,
    /// Runtime handle (`tap/<device>` or `user`).
    pub handle: String,
    /// Attachment state.
    pub state: NetworkInterfaceState,
}

/// Truth of a condition.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Not known.
    #[default]
    Unknown,
}

/// A condition on a machine: why it is not (yet) what the spec asks for.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineCondition {
    /// Condition type (`Ready`, `ImageResolved`, `VolumesAttached`, ...).
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Machine-readable reason (`ImageNotFound`, `VolumeNotFound`, ...).
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
}

/// Event severity.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum EventType {
    /// Routine.
    #[default]
    Normal,
    /// Something failed or needs attention.
    Warning,
}

/// Something that happened to a machine.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Event {
    /// The machine's metadata when the event happened.
    pub involved_object_meta: ObjectMetadata,
    /// Machine-readable reason (`MachineCreated`, `AttachVolumeSucceeded`, ...).
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// Severity.
    pub kind: EventType,
    /// When it happened.
    pub event_time: Timestamp,
}

/// Selects machines: by id, by labels (all must match), or both.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineFilter {
    /// Only this machine.
    pub id: Option<MachineId>,
    /// Only machines carrying all these labels.
    pub label_selector: BTreeMap<String, String>,
}

impl MachineFilter {
    /// Whether `meta` passes the filter.
    pub fn matches(&self, meta: &ObjectMetadata) -> bool {
        if self.id.as_ref().is_some_and(|id| *id != meta.id) {
            return false;
        }
        self.label_selector
            .iter()
            .all(|(k, v)| meta.labels.get(k) == Some(v))
    }
}

/// Selects events: by the involved machine and a time window (both ends inclusive).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct EventFilter {
    /// Only events of this machine.
    pub id: Option<MachineId>,
    /// Only events of machines carrying all these labels.
    pub label_selector: BTreeMap<String, String>,
    /// Not before.
    pub events_from_time: Option<Timestamp>,
    /// Not after.
    pub events_to_time: Option<Timestamp>,
}

impl EventFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        let by_machine = MachineFilter {
            id: self.id.clone(),
            label_selector: self.label_selector.clone(),
        };
        by_machine.matches(&event.involved_object_meta)
            && self.events_from_time.is_none_or(|t| event.event_time >= t)
            && self.events_to_time.is_none_or(|t| event.event_time <= t)
    }
}

/// A machine class a node offers.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineClass {
    /// Class name.
    pub name: MachineClassName,
    /// Capabilities: [`CAPABILITY_CPU`] (cores), [`CAPABILITY_MEMORY`] (bytes).
    pub capabilities: BTreeMap<String, i64>,
}

/// How many more machines of a class fit on the node now.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineClassStatus {
    /// The class.
    pub machine_class: MachineClass,
    /// Machines of this class that still fit (host resources minus running machines).
    pub quantity: i64,
}

/// What kind of failure a runtime operation hit, named for what the caller can do.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum ErrorCode {
    /// The request is malformed or names something the node does not offer (fix the request).
    InvalidArgument,
    /// The machine (or device) does not exist.
    NotFound,
    /// A device with that name exists already.
    AlreadyExists,
    /// The request is valid but not in the machine's current state (retry later or differently).
    FailedPrecondition,
    /// The node has no room (capacity, PCI slots).
    ResourceExhausted,
    /// The hypervisor is unreachable (retry).
    Unavailable,
    /// A hypervisor or disk operation failed unexpectedly.
    Internal,
}

/// A failed runtime operation, as it crosses the wire.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct RuntimeError {
    /// What the caller can do.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl RuntimeError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// `Version` request: the caller's protocol version.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VersionRequest {
    /// Caller's version string.
    pub version: String,
}

/// `Version` response.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VersionResponse {
    /// Runtime name (`ferrocore-libvirt`, `ferrocore-fake`).
    pub runtime_name: String,
    /// Runtime version (semver).
    pub runtime_version: String,
}

/// `ListEvents` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListEventsRequest {
    /// Which events.
    pub filter: EventFilter,
}

/// `ListEvents` response.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListEventsResponse {
    /// Matching events, oldest first.
    pub events: Vec<Event>,
}

/// `ListMachines` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListMachinesRequest {
    /// Which machines.
    pub filter: MachineFilter,
}

/// `ListMachines` response.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListMachinesResponse {
    /// Matching machines, ordered by id.
    pub machines: Vec<Machine>,
}

/// `CreateMachine` request: metadata id is ignored (the runtime assigns it).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateMachineRequest {
    /// The machine to create.
    pub machine: Machine,
}

/// `CreateMachine` response.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateMachineResponse {
    /// The machine as created (with its id).
    pub machine: Machine,
}

/// `DeleteMachine` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteMachineRequest {
    /// Which machine.
    pub machine_id: MachineId,
}

/// `UpdateMachineAnnotations` request: replaces all annotations.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct UpdateMachineAnnotationsRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The new annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `UpdateMachinePower` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct UpdateMachinePowerRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// Desired power state.
    pub power: Power,
}

/// `AttachVolume` request (hot-plug into the running guest).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct AttachVolumeRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The volume.
    pub volume: Volume,
}

/// `UpdateVolume` request: same name, new connection (e.g. a larger effective size).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct UpdateVolumeRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The volume with its new connection.
    pub volume: Volume,
}

/// `DetachVolume` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DetachVolumeRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The volume's name.
    pub name: String,
}

/// `AttachNetworkInterface` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct AttachNetworkInterfaceRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The interface.
    pub network_interface: NetworkInterface,
}

/// `DetachNetworkInterface` request.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DetachNetworkInterfaceRequest {
    /// Which machine.
    pub machine_id: MachineId,
    /// The interface's name.
    pub name: String,
}

/// `Status` response: capacity per class.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StatusResponse {
    /// One entry per class the node offers.
    pub machine_class_status: Vec<MachineClassStatus>,
}

/// `Exec` request: attach to the machine's serial console.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ExecRequest {
    /// Which machine.
    pub machine_id: MachineId,
}

/// `Exec` response: the node then streams console bytes both ways on the stream that carried
/// the request (the transport owns the stream; this only confirms the console exists).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ExecResponse {
    /// The machine whose console is attached.
    pub machine_id: MachineId,
}

/// One MachineRuntime request.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum MachineRequest {
    /// Runtime name and version.
    Version(VersionRequest),
    /// Events.
    ListEvents(ListEventsRequest),
    /// Machines.
    ListMachines(ListMachinesRequest),
    /// Create a machine.
    CreateMachine(CreateMachineRequest),
    /// Delete a machine.
    DeleteMachine(DeleteMachineRequest),
    /// Replace annotations.
    UpdateMachineAnnotations(UpdateMachineAnnotationsRequest),
    /// Power on or off.
    UpdateMachinePower(UpdateMachinePowerRequest),
    /// Hot-plug a volume.
    AttachVolume(AttachVolumeRequest),
    /// Change a volume's connection (online resize).
    UpdateVolume(UpdateVolumeRequest),
    /// Hot-unplug a volume.
    DetachVolume(DetachVolumeRequest),
    /// Hot-plug a NIC.
    AttachNetworkInterface(AttachNetworkInterfaceRequest),
    /// Hot-unplug a NIC.
    DetachNetworkInterface(DetachNetworkInterfaceRequest),
    /// Capacity per class.
    Status,
    /// Console.
    Exec(ExecRequest),
}

/// One MachineRuntime response (operations without a payload answer [`MachineResponse::Done`]).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum MachineResponse {
    /// The operation succeeded and has nothing to return.
    Done,
    /// Answer to `Version`.
    Version(VersionResponse),
    /// Answer to `ListEvents`.
    ListEvents(ListEventsResponse),
    /// Answer to `ListMachines`.
    ListMachines(ListMachinesResponse),
    /// Answer to `CreateMachine`.
    CreateMachine(Box<CreateMachineResponse>),
    /// Answer to `Status`.
    Status(StatusResponse),
    /// Answer to `Exec`.
    Exec(ExecResponse),
    /// The operation failed.
    Error(RuntimeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, labels: &[(&str, &str)]) -> ObjectMetadata {
        ObjectMetadata {
            id: MachineId(id.into()),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..ObjectMetadata::default()
        }
    }

    #[test]
    fn filter_matches_id_and_all_labels() {
        let m = meta("a", &[("x", "1"), ("y", "2")]);
        let mut f = MachineFilter::default();
        assert!(f.matches(&m));
        f.label_selector.insert("x".into(), "1".into());
        assert!(f.matches(&m));
        f.label_selector.insert("y".into(), "3".into());
        assert!(!f.matches(&m));
        let f = MachineFilter {
            id: Some(MachineId("b".into())),
            ..MachineFilter::default()
        };
        assert!(!f.matches(&m));
    }

    #[test]
    fn event_filter_window_is_inclusive() {
        let e = Event {
            involved_object_meta: meta("a", &[]),
            event_time: Timestamp(10),
            ..Event::default()
        };
        let mut f = EventFilter {
            events_from_time: Some(Timestamp(10)),
            events_to_time: Some(Timestamp(10)),
            ..EventFilter::default()
        };
        assert!(f.matches(&e));
        f.events_from_time = Some(Timestamp(11));
        assert!(!f.matches(&e));
    }

    #[test]
    fn request_roundtrips_through_json() {
        let req = MachineRequest::AttachVolume(AttachVolumeRequest {
            machine_id: MachineId("m".into()),
            volume: Volume {
                name: "data".into(),
                device: "odb".into(),
                local_disk: None,
                connection: Some(VolumeConnection {
                    driver: VOLUME_DRIVER_LOCAL.into(),
                    handle: "/srv/v.raw".into(),
                    effective_storage_bytes: 1 << 20,
                    ..VolumeConnection::default()
                }),
            },
        });
        let json = serde_json::to_string(&req).unwrap();
        let back: MachineRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, req);
    }
}
