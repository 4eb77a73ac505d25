//! The I/O boundary of the compute node: everything the runtime asks of the machine it runs on
//! (domains, disks, images, persisted records, consoles). [`crate::LibvirtHost`] does it for
//! real; [`crate::fake::FakeHost`] keeps the same state in memory for the simulator.
//!
//! Methods take `&self`: a backend is shared by concurrent operations on different machines
//! and synchronises internally (libvirt connections are thread-safe).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ferrocore_api::iri::machine::MachineId;

use crate::model::{
    DiskSpec, DomainObservation, DomainSpec, HostResources, MachineRecord, NicSpec,
};

/// What went wrong in a backend call, named for what the runtime does about it.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The domain, device, file or image does not exist.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The request cannot work in this state (shrinking a disk, an encrypted hot-plug, ...).
    #[error("Refused: {0}")]
    Refused(String),
    /// No room: PCI slots, memory.
    #[error("No room: {0}")]
    Exhausted(String),
    /// The hypervisor is unreachable.
    #[error("Hypervisor unavailable: {0}")]
    Unavailable(String),
    /// Anything else the hypervisor or the disk reported.
    #[error("Backend failure: {0}")]
    Failed(String),
}

/// A booted image, as the image store resolved it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ResolvedImage {
    /// `sha256:<hex>` of the disk image.
    pub digest: String,
    /// The content-addressed disk file.
    pub path: PathBuf,
    /// `raw` or `qcow2`.
    pub format: &'static str,
    /// Virtual size of the disk.
    pub virtual_size: u64,
    /// How it boots.
    pub boot: ImageBoot,
}

/// How an image boots.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ImageBoot {
    /// Firmware boots the disk: UEFI (OVMF) or legacy BIOS.
    Disk {
        /// UEFI if true.
        uefi: bool,
    },
    /// A kernel and initramfs from the store are booted directly; the disk is the root disk.
    Kernel {
        /// Kernel file.
        kernel: PathBuf,
        /// Initramfs file.
        initrd: PathBuf,
        /// Command line, if the image names one.
        cmdline: Option<String>,
    },
}

/// How to make a machine-local disk.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum LocalDiskPlan {
    /// A copy-on-write qcow2 overlay on an image.
    Overlay {
        /// The image.
        image: ResolvedImage,
        /// Size of the overlay (at least the image's).
        size_bytes: u64,
    },
    /// An empty disk.
    Empty {
        /// Size.
        size_bytes: u64,
    },
}

/// A bidirectional console byte stream (a machine's serial line).
pub trait ConsoleIo: Send + Sync + fmt::Debug {
    /// Reads what the guest wrote, waiting at most `timeout`; `Ok(0)` means nothing arrived,
    /// an error means the console is closed.
    ///
    /// # Errors
    /// [`HostError`] once the console is closed or broken.
    fn read(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, HostError>;

    /// Sends bytes to the guest.
    ///
    /// # Errors
    /// [`HostError`] once the console is closed or broken.
    fn write(&self, bytes: &[u8]) -> Result<(), HostError>;
}

/// Everything the runtime needs from the node.
pub trait Host: Send + Sync + fmt::Debug {
    /// Backend name for `Version` (`ferrocore-libvirt`, `ferrocore-fake`).
    fn name(&self) -> &'static str;

    /// Host CPUs and memory.
    ///
    /// # Errors
    /// [`HostError::Unavailable`] when the hypervisor does not answer.
    fn resources(&self) -> Result<HostResources, HostError>;

    /// Every domain this node's runtime owns (recognised by its metadata).
    ///
    /// # Errors
    /// [`HostError::Unavailable`] when the hypervisor does not answer.
    fn list_domains(&self) -> Result<Vec<DomainObservation>, HostError>;

    /// The domain of machine `id`, if it exists and is ours.
    ///
    /// # Errors
    /// [`HostError::Unavailable`] when the hypervisor does not answer.
    fn observe(&self, id: &MachineId) -> Result<Option<DomainObservation>, HostError>;

    /// Starts a (transient) domain.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn create_domain(&self, spec: &DomainSpec) -> Result<(), HostError>;

    /// Presses the ACPI power button.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn shutdown_domain(&self, id: &MachineId) -> Result<(), HostError>;

    /// Stops the domain at once (it disappears: domains are transient).
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses; a missing domain is not an error.
    fn destroy_domain(&self, id: &MachineId) -> Result<(), HostError>;

    /// Hot-plugs a disk.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses (no slot, encrypted RBD, ...).
    fn attach_disk(&self, id: &MachineId, disk: &DiskSpec) -> Result<(), HostError>;

    /// Hot-unplugs the disk with this alias.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn detach_disk(&self, id: &MachineId, alias: &str) -> Result<(), HostError>;

    /// Grows a disk online.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn resize_disk(&self, id: &MachineId, target: &str, bytes: u64) -> Result<(), HostError>;

    /// Hot-plugs a NIC.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn attach_nic(&self, id: &MachineId, nic: &NicSpec) -> Result<(), HostError>;

    /// Hot-unplugs the NIC with this alias.
    ///
    /// # Errors
    /// [`HostError`] when the hypervisor refuses.
    fn detach_nic(&self, id: &MachineId, alias: &str) -> Result<(), HostError>;

    /// Resolves an image reference in the node's image store.
    ///
    /// # Errors
    /// [`HostError::NotFound`] for an unknown reference.
    fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, HostError>;

    /// Size of an existing file (a storage node's local volume).
    ///
    /// # Errors
    /// [`HostError::NotFound`] when it does not exist.
    fn file_size(&self, path: &std::path::Path) -> Result<u64, HostError>;

    /// Makes (or finds, if it exists) a machine-local disk and returns its path and format.
    ///
    /// # Errors
    /// [`HostError`] when the file cannot be made.
    fn prepare_local_disk(
        &self,
        id: &MachineId,
        volume: &str,
        plan: &LocalDiskPlan,
    ) -> Result<(PathBuf, &'static str), HostError>;

    /// Removes a machine-local disk (after a detach).
    ///
    /// # Errors
    /// [`HostError`] when the file cannot be removed.
    fn remove_local_disk(&self, id: &MachineId, volume: &str) -> Result<(), HostError>;

    /// Writes a small file into the machine's directory (ignition, host name) and returns its
    /// path.
    ///
    /// # Errors
    /// [`HostError`] when the file cannot be written.
    fn write_machine_file(
        &self,
        id: &MachineId,
        name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, HostError>;

    /// Where the machine's serial console log goes.
    fn console_log_path(&self, id: &MachineId) -> PathBuf;

    /// Removes everything the machine left on the node (disks, logs, files, record).
    ///
    /// # Errors
    /// [`HostError`] when files cannot be removed.
    fn remove_machine(&self, id: &MachineId) -> Result<(), HostError>;

    /// Machines with files on the node (to find leftovers).
    ///
    /// # Errors
    /// [`HostError`] when the state directory cannot be read.
    fn machines_on_disk(&self) -> Result<Vec<MachineId>, HostError>;

    /// Persists a machine record.
    ///
    /// # Errors
    /// [`HostError`] when it cannot be written.
    fn save_record(&self, record: &MachineRecord) -> Result<(), HostError>;

    /// All persisted records (unreadable ones are skipped and reported by id).
    ///
    /// # Errors
    /// [`HostError`] when the state directory cannot be read.
    fn load_records(&self) -> Result<Vec<MachineRecord>, HostError>;

    /// Opens the machine's serial console.
    ///
    /// # Errors
    /// [`HostError::NotFound`] when the domain does not run.
    fn open_console(&self, id: &MachineId) -> Result<Box<dyn ConsoleIo>, HostError>;
}

/// A shared host is a host: runtimes restarted over one backend (the conformance suite's agent
/// restarts, the simulator's node crashes) share it through an `Arc`.
impl<T: Host> Host for std::sync::Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn resources(&self) -> Result<HostResources, HostError> {
        (**self).resources()
    }
    fn list_domains(&self) -> Result<Vec<DomainObservation>, HostError> {
        (**self).list_domains()
    }
    fn observe(&self, id: &MachineId) -> Result<Option<DomainObservation>, HostError> {
        (**self).observe(id)
    }
    fn create_domain(&self, spec: &DomainSpec) -> Result<(), HostError> {
        (**self).create_domain(spec)
    }
    fn shutdown_domain(&self, id: &MachineId) -> Result<(), HostError> {
        (**self).shutdown_domain(id)
    }
    fn destroy_domain(&self, id: &MachineId) -> Result<(), HostError> {
        (**self).destroy_domain(id)
    }
    fn attach_disk(&self, id: &MachineId, disk: &DiskSpec) -> Result<(), HostError> {
        (**self).attach_disk(id, disk)
    }
    fn detach_disk(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        (**self).detach_disk(id, alias)
    }
    fn resize_disk(&self, id: &MachineId, target: &str, bytes: u64) -> Result<(), HostError> {
        (**self).resize_disk(id, target, bytes)
    }
    fn attach_nic(&self, id: &MachineId, nic: &NicSpec) -> Result<(), HostError> {
        (**self).attach_nic(id, nic)
    }
    fn detach_nic(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        (**self).detach_nic(id, alias)
    }
    fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, HostError> {
        (**self).resolve_image(reference)
    }
    fn file_size(&self, path: &std::path::Path) -> Result<u64, HostError> {
        (**self).file_size(path)
    }
    fn prepare_local_disk(
        &self,
        id: &MachineId,
        volume: &str,
        plan: &LocalDiskPlan,
    ) -> Result<(PathBuf, &'static str), HostError> {
        (**self).prepare_local_disk(id, volume, plan)
    }
    fn remove_local_disk(&self, id: &MachineId, volume: &str) -> Result<(), HostError> {
        (**self).remove_local_disk(id, volume)
    }
    fn write_machine_file(
        &self,
        id: &MachineId,
        name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, HostError> {
        (**self).write_machine_file(id, name, bytes)
    }
    fn console_log_path(&self, id: &MachineId) -> PathBuf {
        (**self).console_log_path(id)
    }
    fn remove_machine(&self, id: &MachineId) -> Result<(), HostError> {
        (**self).remove_machine(id)
    }
    fn machines_on_disk(&self) -> Result<Vec<MachineId>, HostError> {
        (**self).machines_on_disk()
    }
    fn save_record(&self, record: &MachineRecord) -> Result<(), HostError> {
        (**self).save_record(record)
    }
    fn load_records(&self) -> Result<Vec<MachineRecord>, HostError> {
        (**self).load_records()
    }
    fn open_console(&self, id: &MachineId) -> Result<Box<dyn ConsoleIo>, HostError> {
        (**self).open_console(id)
    }
}
