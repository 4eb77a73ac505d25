//! The MachineRuntime of a compute node: VMs under libvirt/QEMU, boot images, and a `fake`
//! hypervisor for the simulator that passes the same conformance suite.
//!
//! ```text
//!  node agent ──► MachineRuntime<H: Host> ──► plan (sans-IO: desired vs observed → actions)
//!                    │  14 IRI operations          │
//!                    └── executes actions on ──► Host: LibvirtHost (virt crate, qemu-img,
//!                                                     image store)  |  fake::FakeHost
//! ```
//!
//! It is not the node agent (which connects to controllers and forwards `Exec` streams over
//! QUIC) and knows nothing of Raft. Decisions live in [`plan`]; the [`Host`] implementations
//! only do what they are told.

pub mod bench;
mod capacity;
mod config;
pub mod conformance;
mod console;
mod detect;
mod devices;
mod events;
pub mod fake;
mod host;
mod images;
mod libvirt;
mod model;
pub mod plan;
mod prepare;
mod reconcile;
mod runtime;
mod validate;

pub use config::{ClassConfig, ComputeConfig, ConfigError, DomainTypeSetting, MachineClasses};
pub use console::Console;
pub use detect::{
    KVM_PROBE_TIMEOUT, choose_domain_type, cpu_has_virtualization, detect_domain_type,
};
pub use events::MAX_EVENTS;
pub use host::{ConsoleIo, Host, HostError, ImageBoot, LocalDiskPlan, ResolvedImage};
pub use images::{BootImport, ImageEntry, ImageError, ImageSource, ImageStore, MAX_IMAGE_BYTES};
pub use libvirt::LibvirtHost;
pub use model::{
    BootSpec, DiskSource, DiskSpec, DomainMetadata, DomainObservation, DomainRunState, DomainSpec,
    DomainType, HostResources, MachineRecord, NicSpec, ObservedDisk, nic_alias, target_dev,
    volume_alias, volume_serial,
};
pub use prepare::PrepareError;
pub use reconcile::{MAX_RECONCILE_ROUNDS, READY_CONDITION};
pub use runtime::{MachineRuntime, NewRuntimeError};
pub use validate::{MAX_DEVICES, MAX_NAME_LEN};
