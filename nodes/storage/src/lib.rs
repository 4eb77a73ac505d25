//! The VolumeRuntime and BucketRuntime of a storage node: Ceph RBD images and RGW buckets, local
//! raw files as the embedded default, and a [`fake`] for the simulator.
//!
//! ```text
//!   request ─► VolumeService ─► core (sans-IO: validate, plan mutations, pick due work)
//!                  │  persist mutations (RecordStore) before acknowledging
//!                  ▼
//!   Workers ─► VolumeService::reconcile_once ─► BlockBackend (ceph | local | fake)
//! ```
//!
//! One service type serves every backend: decisions live in the core, backends only carry out
//! idempotent steps, so a process killed at any point resumes from its records. The
//! [`conformance`] suite holds the behaviour every backend must show.
//!
//! It is not the node agent (which speaks the node protocol and calls these services) and knows
//! nothing of Raft or controllers.

mod backend;
mod bucket;
#[cfg(feature = "ceph")]
pub mod ceph;
pub mod conformance;
mod core;
pub mod fake;
mod kek;
mod local;
mod record;
mod rgw;
pub mod s3;
mod service;
mod workers;

pub use backend::{BackendError, BlockBackend, Passphrase, Provision, RecordStore};
pub use bucket::{BucketService, FakeObjectStore, NoObjectStore, ObjectStore};
pub use kek::{Kek, KekError};
pub use local::{FileStore, LocalBackend};
pub use record::{BASE_SNAPSHOT, ImageName, Namespace, QosLimits, Source};
pub use rgw::{RGW_REGION, RgwObjectStore};
pub use service::{PROBE_INTERVAL, VolumeConfig, VolumeService};
pub use workers::{DEFAULT_WORKERS, Workers};
