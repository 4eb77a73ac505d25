//! The `storage.ironcore.dev/v1alpha1` kinds: Volume, VolumeClass, VolumePool, VolumeSnapshot,
//! Bucket, BucketClass, BucketPool.

mod bucket;
mod classes;
mod pools;
mod snapshot;
mod volume;

pub use bucket::{Bucket, BucketAccess, BucketSpec, BucketState, BucketStatus};
pub use classes::{
    BUCKET_CLASS_FINALIZER, BucketClass, ResizePolicy, VOLUME_CLASS_FINALIZER, VolumeClass,
};
pub use pools::{
    BucketPool, BucketPoolStatus, StoragePoolSpec, StoragePoolState, VolumePool, VolumePoolStatus,
};
pub use snapshot::{VolumeSnapshot, VolumeSnapshotSpec, VolumeSnapshotState, VolumeSnapshotStatus};
pub(crate) use volume::validate_template_meta;
pub use volume::{
    OsDataSource, SECRET_TYPE_VOLUME_AUTH, SECRET_TYPE_VOLUME_ENCRYPTION, Volume, VolumeAccess,
    VolumeDataSource, VolumeEncryption, VolumeSpec, VolumeState, VolumeStatus, VolumeTemplateSpec,
    validate_volume_resize, validate_volume_template_spec,
};
