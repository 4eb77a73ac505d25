//! Object metadata (`metadata:`) shared by every kind, its ids and its validation.

pub mod names;
mod object_meta;
mod time;

pub use object_meta::{
    ANNOTATIONS_TOTAL_MAX_BYTES, Generation, ObjectMeta, OwnerReference, ResourceVersion, Uid,
    validate_object_meta, validate_object_meta_update,
};
pub use time::{Time, TimeParseError};
