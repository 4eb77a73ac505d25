//! The IRI requests and responses a [`super::NodeCommand`] and a [`super::CommandResult`] carry:
//! the machine runtime's own enums, and one enum each for the volume and bucket runtimes.

use serde::{Deserialize, Serialize};

use crate::iri::{bucket, machine, volume};

/// The ten VolumeRuntime operations as one enum.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum VolumeRequest {
    /// `Version`.
    Version(volume::VersionRequest),
    /// `ListEvents`.
    ListEvents(volume::ListEventsRequest),
    /// `ListVolumes`.
    ListVolumes(volume::ListVolumesRequest),
    /// `CreateVolume`.
    CreateVolume(volume::CreateVolumeRequest),
    /// `ExpandVolume`.
    ExpandVolume(volume::ExpandVolumeRequest),
    /// `DeleteVolume`.
    DeleteVolume(volume::DeleteVolumeRequest),
    /// `CreateVolumeSnapshot`.
    CreateVolumeSnapshot(volume::CreateVolumeSnapshotRequest),
    /// `DeleteVolumeSnapshot`.
    DeleteVolumeSnapshot(volume::DeleteVolumeSnapshotRequest),
    /// `ListVolumeSnapshots`.
    ListVolumeSnapshots(volume::ListVolumeSnapshotsRequest),
    /// `Status`.
    Status(volume::StatusRequest),
}

/// The six BucketRuntime operations as one enum (`Version` and `ListEvents` share the volume
/// runtime's messages).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum BucketRequest {
    /// `Version`.
    Version(volume::VersionRequest),
    /// `ListEvents`.
    ListEvents(volume::ListEventsRequest),
    /// `ListBuckets`.
    ListBuckets(bucket::ListBucketsRequest),
    /// `CreateBucket`.
    CreateBucket(bucket::CreateBucketRequest),
    /// `DeleteBucket`.
    DeleteBucket(bucket::DeleteBucketRequest),
    /// `ListBucketClasses`.
    ListBucketClasses(bucket::ListBucketClassesRequest),
}

/// One IRI request for a node: machine, volume or bucket runtime.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum IriRequest {
    /// A MachineRuntime operation (14).
    Machine(machine::MachineRequest),
    /// A VolumeRuntime operation (10).
    Volume(VolumeRequest),
    /// A BucketRuntime operation (6).
    Bucket(BucketRequest),
}

impl IriRequest {
    /// The operation's name as the IRI spells it (`CreateMachine`, `ExpandVolume`, ...).
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Machine(r) => machine_operation(r),
            Self::Volume(r) => volume_operation(r),
            Self::Bucket(r) => bucket_operation(r),
        }
    }
}

fn machine_operation(r: &machine::MachineRequest) -> &'static str {
    use machine::MachineRequest as M;
    match r {
        M::Version(_) => "Version",
        M::ListEvents(_) => "ListEvents",
        M::ListMachines(_) => "ListMachines",
        M::CreateMachine(_) => "CreateMachine",
        M::DeleteMachine(_) => "DeleteMachine",
        M::UpdateMachineAnnotations(_) => "UpdateMachineAnnotations",
        M::UpdateMachinePower(_) => "UpdateMachinePower",
        M::AttachVolume(_) => "AttachVolume",
        M::UpdateVolume(_) => "UpdateVolume",
        M::DetachVolume(_) => "DetachVolume",
        M::AttachNetworkInterface(_) => "AttachNetworkInterface",
        M::DetachNetworkInterface(_) => "DetachNetworkInterface",
        M::Status => "Status",
        M::Exec(_) => "Exec",
    }
}

fn volume_operation(r: &VolumeRequest) -> &'static str {
    match r {
        VolumeRequest::Version(_) => "Version",
        VolumeRequest::ListEvents(_) => "ListEvents",
        VolumeRequest::ListVolumes(_) => "ListVolumes",
        VolumeRequest::CreateVolume(_) => "CreateVolume",
        VolumeRequest::ExpandVolume(_) => "ExpandVolume",
        VolumeRequest::DeleteVolume(_) => "DeleteVolume",
        VolumeRequest::CreateVolumeSnapshot(_) => "CreateVolumeSnapshot",
        VolumeRequest::DeleteVolumeSnapshot(_) => "DeleteVolumeSnapshot",
        VolumeRequest::ListVolumeSnapshots(_) => "ListVolumeSnapshots",
        VolumeRequest::Status(_) => "Status",
    }
}

fn bucket_operation(r: &BucketRequest) -> &'static str {
    match r {
        BucketRequest::Version(_) => "Version",
        BucketRequest::ListEvents(_) => "ListEvents",
        BucketRequest::ListBuckets(_) => "ListBuckets",
        BucketRequest::CreateBucket(_) => "CreateBucket",
        BucketRequest::DeleteBucket(_) => "DeleteBucket",
        BucketRequest::ListBucketClasses(_) => "ListBucketClasses",
    }
}

/// The answer to a [`VolumeRequest`].
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum VolumeResponse {
    /// An operation without a result (expand, delete, delete snapshot).
    Done,
    /// `Version`.
    Version(volume::VersionResponse),
    /// `ListEvents`.
    ListEvents(volume::ListEventsResponse),
    /// `ListVolumes`.
    ListVolumes(volume::ListVolumesResponse),
    /// `CreateVolume`.
    CreateVolume(Box<volume::CreateVolumeResponse>),
    /// `CreateVolumeSnapshot`.
    CreateVolumeSnapshot(volume::CreateVolumeSnapshotResponse),
    /// `ListVolumeSnapshots`.
    ListVolumeSnapshots(volume::ListVolumeSnapshotsResponse),
    /// `Status`.
    Status(volume::StatusResponse),
    /// The runtime refused.
    Error(volume::RuntimeError),
}

/// The answer to a [`BucketRequest`].
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum BucketResponse {
    /// An operation without a result (delete).
    Done,
    /// `Version`.
    Version(volume::VersionResponse),
    /// `ListEvents`.
    ListEvents(volume::ListEventsResponse),
    /// `ListBuckets`.
    ListBuckets(bucket::ListBucketsResponse),
    /// `CreateBucket`.
    CreateBucket(Box<bucket::CreateBucketResponse>),
    /// `ListBucketClasses`.
    ListBucketClasses(bucket::ListBucketClassesResponse),
    /// The runtime refused.
    Error(volume::RuntimeError),
}

/// The answer to an [`IriRequest`].
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum IriResponse {
    /// From the MachineRuntime.
    Machine(machine::MachineResponse),
    /// From the VolumeRuntime.
    Volume(VolumeResponse),
    /// From the BucketRuntime.
    Bucket(BucketResponse),
}
