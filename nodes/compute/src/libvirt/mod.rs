//! [`LibvirtHost`]: the [`Host`] over a real libvirt (the `virt` crate, libvirt 9.0 on Debian
//! 12), `qemu-img` for overlays, and the node's [`ImageStore`]. A thin adapter: it renders and
//! reads XML and makes calls; every decision is in [`crate::plan`].
//!
//! Domains are transient (`virDomainCreateXML`), named by machine id, and carry our metadata
//! element with an owner (the state directory), so several runtimes can share one libvirtd
//! without touching each other's domains.

mod console;
mod files;
pub(crate) mod xml;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocore_api::iri::machine::MachineId;
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::error::ErrorNumber;

use self::files::MachineFiles;
use crate::config::ComputeConfig;
use crate::host::{ConsoleIo, HostError, LocalDiskPlan, ResolvedImage};
use crate::images::{ImageError, ImageStore};
use crate::model::{
    DiskSource, DiskSpec, DomainObservation, DomainRunState, DomainSpec, ObservedDisk,
};

/// How long a hot-unplug may take: the guest must acknowledge it (0.15–0.2 s measured with
/// the test guest; a busy guest can take seconds).
const DETACH_WAIT: Duration = Duration::from_secs(10);

/// Poll interval while waiting for a hot-unplug.
const DETACH_POLL: Duration = Duration::from_millis(50);

/// Where libvirt keeps EFI variable stores; transient domains leave theirs behind.
const NVRAM_DIR: &str = "/var/lib/libvirt/qemu/nvram";

fn virt_err(e: &virt::error::Error) -> HostError {
    let msg = e.message().to_string();
    match e.code() {
        virt::enumutil::Enum::Known(ErrorNumber::NoDomain) => HostError::NotFound(msg),
        virt::enumutil::Enum::Known(ErrorNumber::NoConnect | ErrorNumber::InvalidConn) => {
            HostError::Unavailable(msg)
        }
        virt::enumutil::Enum::Known(ErrorNumber::OperationInvalid | ErrorNumber::InvalidArg) => {
            HostError::Refused(msg)
        }
        _ if msg.contains("No more available PCI slots") => HostError::Exhausted(msg),
        _ => HostError::Failed(msg),
    }
}

/// The libvirt backend.
#[derive(Debug)]
pub struct LibvirtHost {
    conn: Connect,
    owner: String,
    files: MachineFiles,
    images: ImageStore,
}

impl LibvirtHost {
    /// Connects to `config.libvirt_uri` and opens the state directory (machines and images).
    ///
    /// # Errors
    /// [`HostError::Unavailable`] when libvirtd does not answer (start it with
    /// `scripts/libvirt-up.sh`); [`HostError::Failed`] when the state directory is unusable.
    pub fn open(config: &ComputeConfig) -> Result<Self, HostError> {
        // Errors come back as values; libvirt's default handler would also print each one
        // (every "domain not found" lookup) to stderr.
        virt::error::clear_error_callback();
        files::mkdir(&config.state_dir)?;
        let state = config.state_dir.canonicalize().map_err(|e| {
            HostError::Failed(format!("state dir {}: {e}", config.state_dir.display()))
        })?;
        let conn = Connect::open(Some(&config.libvirt_uri)).map_err(|e| {
            HostError::Unavailable(format!(
                "libvirt at {} does not answer ({}); is libvirtd running?",
                config.libvirt_uri,
                e.message()
            ))
        })?;
        let images = ImageStore::open(&state.join("images"))
            .map_err(|e| HostError::Failed(format!("image store: {e}")))?;
        Ok(Self {
            conn,
            owner: state.display().to_string(),
            files: MachineFiles::open(state.join("machines"))?,
            images,
        })
    }

    /// The node's image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The libvirt connection (for probes and benchmarks).
    pub fn connection(&self) -> &Connect {
        &self.conn
    }

    /// The full XML of a domain as libvirt would start it (for `virsh create` comparisons).
    pub fn render_domain_xml(&self, spec: &DomainSpec) -> String {
        xml::domain(spec, &self.owner)
    }

    fn lookup(&self, id: &MachineId) -> Result<Option<Domain>, HostError> {
        match self.conn.lookup_domain_by_name(&id.0) {
            Ok(dom) => Ok(Some(dom)),
            Err(e) => match virt_err(&e) {
                HostError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    fn require(&self, id: &MachineId) -> Result<Domain, HostError> {
        self.lookup(id)?
            .ok_or_else(|| HostError::NotFound(format!("domain {id} does not exist")))
    }

    /// Reads a domain; `None` when it vanished meanwhile or is not ours.
    fn read(&self, dom: &Domain) -> Result<Option<DomainObservation>, HostError> {
        let Ok(text) = dom.xml_desc(0) else {
            return Ok(None);
        };
        let live = xml::parse_live(&text).map_err(HostError::Failed)?;
        let Some((owner, metadata)) = live.owner else {
            return Ok(None);
        };
        if owner != self.owner {
            return Ok(None);
        }
        let Ok((state, _)) = dom.state() else {
            return Ok(None);
        };
        let state = match state {
            virt::enumutil::Enum::Known(DomainState::Running | DomainState::Blocked) => {
                DomainRunState::Running
            }
            virt::enumutil::Enum::Known(DomainState::Paused | DomainState::PMSuspended) => {
                DomainRunState::Paused
            }
            virt::enumutil::Enum::Known(DomainState::Shutdown) => DomainRunState::ShuttingDown,
            _ => DomainRunState::Off,
        };
        let disks = live
            .disks
            .into_iter()
            .map(|(alias, target)| {
                let capacity_bytes = dom.block_info(&target, 0).map_or(0, |i| i.capacity);
                ObservedDisk {
                    alias,
                    target,
                    capacity_bytes,
                }
            })
            .collect();
        Ok(Some(DomainObservation {
            id: xml::machine_id(&dom.name().unwrap_or_default()),
            metadata,
            state,
            disks,
            nics: live.nics,
        }))
    }

    /// Defines the libvirt secrets an RBD disk needs (cephx key, LUKS passphrase).
    fn define_secrets(&self, id: &MachineId, disk: &DiskSpec) -> Result<(), HostError> {
        let DiskSource::Rbd {
            secret_uuid,
            key,
            encryption,
            ..
        } = &disk.source
        else {
            return Ok(());
        };
        let usage = format!("ferrocore/{}/{}", id.0, disk.volume);
        let mut secrets = vec![(secret_uuid.clone(), true, usage.clone(), key.clone())];
        if let Some((uuid, pass)) = encryption {
            secrets.push((uuid.clone(), false, format!("{usage}/luks"), pass.clone()));
        }
        for (uuid, ceph, usage, value) in secrets {
            let secret = self
                .conn
                .define_secret_xml(&xml::secret(&uuid, ceph, &usage), 0)
                .map_err(|e| virt_err(&e))?;
            secret.set_value(&value, 0).map_err(|e| virt_err(&e))?;
        }
        Ok(())
    }

    /// Removes the secrets defined for a machine (all, or one volume's).
    fn undefine_secrets(&self, id: &MachineId, volume: Option<&str>) {
        let prefix = match volume {
            Some(v) => format!("ferrocore/{}/{v}", id.0),
            None => format!("ferrocore/{}/", id.0),
        };
        let Ok(secrets) = self.conn.list_all_secrets(0) else {
            return;
        };
        for secret in secrets {
            // Not `usage_id()`: virt 0.5 frees the string libvirt owns (a double free). The
            // XML description is ours to free and names the usage too.
            let Ok(text) = secret.xml_desc(0) else {
                continue;
            };
            if xml::secret_usage(&text).is_some_and(|u| u.starts_with(&prefix)) {
                let _ = secret.undefine();
            }
        }
    }

    fn wait_detached(&self, dom: &Domain, alias: &str) -> Result<(), HostError> {
        let attempts = DETACH_WAIT.as_millis() / DETACH_POLL.as_millis();
        for _ in 0..attempts {
            let text = dom.xml_desc(0).map_err(|e| virt_err(&e))?;
            if !text.contains(&format!("'{alias}'")) && !text.contains(&format!("\"{alias}\"")) {
                return Ok(());
            }
            std::thread::sleep(DETACH_POLL);
        }
        Err(HostError::Failed(format!(
            "the guest did not release device {alias} within {DETACH_WAIT:?}"
        )))
    }

    fn detach_alias(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        let dom = self.require(id)?;
        let c_alias = std::ffi::CString::new(alias)
            .map_err(|_| HostError::Refused(format!("alias {alias:?}")))?;
        // SAFETY: `dom` is a live domain handle for the duration of the call and `c_alias` a
        // NUL-terminated string that outlives it; the call does not keep either pointer.
        let rc = unsafe {
            virt::sys::virDomainDetachDeviceAlias(
                dom.as_ptr(),
                c_alias.as_ptr(),
                virt::sys::VIR_DOMAIN_AFFECT_LIVE,
            )
        };
        if rc < 0 {
            return Err(virt_err(&virt::error::Error::last_error()));
        }
        self.wait_detached(&dom, alias)
    }
}

mod host_impl;

pub(crate) fn nvram_path(id: &MachineId) -> PathBuf {
    Path::new(NVRAM_DIR).join(format!("{}_VARS.fd", id.0))
}

pub(crate) fn image_err(e: ImageError) -> HostError {
    match e {
        ImageError::NotFound(r) => HostError::NotFound(format!("image {r}")),
        other => HostError::Failed(other.to_string()),
    }
}

pub(crate) fn resolve(store: &ImageStore, reference: &str) -> Result<ResolvedImage, HostError> {
    store.resolve(reference).map_err(image_err)
}

pub(crate) fn plan_disk(
    files: &MachineFiles,
    id: &MachineId,
    volume: &str,
    plan: &LocalDiskPlan,
) -> Result<PathBuf, HostError> {
    files.prepare_disk(id, volume, plan)
}

/// Opens the console through the pty named in the live XML.
pub(crate) fn open_console(dom: &Domain) -> Result<Box<dyn ConsoleIo>, HostError> {
    let text = dom.xml_desc(0).map_err(|e| virt_err(&e))?;
    let pty = xml::console_pty(&text)
        .ok_or_else(|| HostError::NotFound("the domain has no console pty".into()))?;
    Ok(Box::new(console::PtyConsole::open(Path::new(&pty))?))
}
