//! [`Host`] for [`LibvirtHost`]: each method is one or two libvirt or file calls.

use std::path::{Path, PathBuf};

use ferrocore_api::iri::machine::MachineId;

use super::{LibvirtHost, files, nvram_path, open_console, plan_disk, resolve, virt_err, xml};
use crate::host::{ConsoleIo, Host, HostError, LocalDiskPlan, ResolvedImage};
use crate::model::{
    DiskSpec, DomainObservation, DomainSpec, HostResources, MachineRecord, NicSpec,
};

impl Host for LibvirtHost {
    fn name(&self) -> &'static str {
        "ferrocore-libvirt"
    }

    fn resources(&self) -> Result<HostResources, HostError> {
        let info = self.conn.node_info().map_err(|e| virt_err(&e))?;
        Ok(HostResources {
            cpus: info.cpus,
            memory_bytes: info.memory.saturating_mul(1024),
        })
    }

    fn list_domains(&self) -> Result<Vec<DomainObservation>, HostError> {
        let domains = self.conn.list_all_domains(0).map_err(|e| virt_err(&e))?;
        let mut out = Vec::new();
        for dom in &domains {
            if let Some(obs) = self.read(dom)? {
                out.push(obs);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn observe(&self, id: &MachineId) -> Result<Option<DomainObservation>, HostError> {
        match self.lookup(id)? {
            Some(dom) => self.read(&dom),
            None => Ok(None),
        }
    }

    fn create_domain(&self, spec: &DomainSpec) -> Result<(), HostError> {
        if let Some(dir) = spec.console_log.parent() {
            files::mkdir(dir)?;
        }
        for disk in &spec.disks {
            self.define_secrets(&spec.id, disk)?;
        }
        let text = xml::domain(spec, &self.owner);
        self.conn
            .create_domain_xml(&text, 0)
            .map(|_| ())
            .map_err(|e| virt_err(&e))
    }

    fn shutdown_domain(&self, id: &MachineId) -> Result<(), HostError> {
        self.require(id)?
            .shutdown_flags(virt::sys::VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            .map_err(|e| virt_err(&e))
    }

    fn destroy_domain(&self, id: &MachineId) -> Result<(), HostError> {
        let Some(dom) = self.lookup(id)? else {
            return Ok(());
        };
        match dom.destroy() {
            Ok(()) => Ok(()),
            Err(e) => match virt_err(&e) {
                // Gone between lookup and destroy, or already shut off: the goal is reached.
                HostError::NotFound(_) | HostError::Refused(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    fn attach_disk(&self, id: &MachineId, disk: &DiskSpec) -> Result<(), HostError> {
        let dom = self.require(id)?;
        self.define_secrets(id, disk)?;
        let res = dom.attach_device_flags(&xml::disk(disk), virt::sys::VIR_DOMAIN_AFFECT_LIVE);
        if let Err(e) = res {
            self.undefine_secrets(id, Some(&disk.volume));
            return Err(virt_err(&e));
        }
        Ok(())
    }

    fn detach_disk(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        self.detach_alias(id, alias)?;
        if let Some(name) = alias
            .strip_prefix("ua-vol-")
            .and_then(|enc| {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(enc)
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
        {
            self.undefine_secrets(id, Some(&name));
        }
        Ok(())
    }

    fn resize_disk(&self, id: &MachineId, target: &str, bytes: u64) -> Result<(), HostError> {
        self.require(id)?
            .block_resize(target, bytes, virt::sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            .map_err(|e| virt_err(&e))
    }

    fn attach_nic(&self, id: &MachineId, nic: &NicSpec) -> Result<(), HostError> {
        self.require(id)?
            .attach_device_flags(&xml::nic(nic), virt::sys::VIR_DOMAIN_AFFECT_LIVE)
            .map_err(|e| virt_err(&e))
    }

    fn detach_nic(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        self.detach_alias(id, alias)
    }

    fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, HostError> {
        resolve(&self.images, reference)
    }

    fn file_size(&self, path: &Path) -> Result<u64, HostError> {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| HostError::NotFound(format!("{}: {e}", path.display())))
    }

    fn prepare_local_disk(
        &self,
        id: &MachineId,
        volume: &str,
        plan: &LocalDiskPlan,
    ) -> Result<(PathBuf, &'static str), HostError> {
        Ok((plan_disk(&self.files, id, volume, plan)?, "qcow2"))
    }

    fn remove_local_disk(&self, id: &MachineId, volume: &str) -> Result<(), HostError> {
        self.files.remove_disk(id, volume)
    }

    fn write_machine_file(
        &self,
        id: &MachineId,
        name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, HostError> {
        self.files.write(id, name, bytes)
    }

    fn console_log_path(&self, id: &MachineId) -> PathBuf {
        self.files.console_log(id)
    }

    fn remove_machine(&self, id: &MachineId) -> Result<(), HostError> {
        self.undefine_secrets(id, None);
        let _ = std::fs::remove_file(nvram_path(id));
        self.files.remove(id)
    }

    fn machines_on_disk(&self) -> Result<Vec<MachineId>, HostError> {
        self.files.ids()
    }

    fn save_record(&self, record: &MachineRecord) -> Result<(), HostError> {
        self.files.save(record)
    }

    fn load_records(&self) -> Result<Vec<MachineRecord>, HostError> {
        self.files.load()
    }

    fn open_console(&self, id: &MachineId) -> Result<Box<dyn ConsoleIo>, HostError> {
        open_console(&self.require(id)?)
    }
}
