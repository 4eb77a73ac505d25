//! Libvirt XML: rendering domains, disks, interfaces and secrets from our specs, and reading the
//! parts of a live domain's XML the runtime observes. Pure string work, no libvirt calls.

use std::fmt::Write as _;
use std::path::Path;

use ferrocore_api::iri::machine::MachineId;

use crate::model::{BootSpec, DiskSource, DiskSpec, DomainMetadata, DomainSpec, NicSpec};

/// Namespace of our metadata element (identifies domains this runtime owns).
pub(crate) const METADATA_NS: &str = "https://ferrocore.dev/xmlns/compute/1";

/// PCIe root ports pre-created for hot-plug: each hot-plugged device needs a free one, and q35
/// cannot add them later (libvirt: "No more available PCI slots").
pub(crate) const ROOT_PORTS: usize = 32;

/// Escapes text for XML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn p(path: &Path) -> String {
    esc(&path.display().to_string())
}

/// Our metadata element: owner (which runtime's state directory) and identity as JSON.
fn metadata(owner: &str, meta: &DomainMetadata) -> String {
    let json = serde_json::to_string(meta).unwrap_or_default();
    format!(
        "<fc:machine xmlns:fc='{METADATA_NS}'><fc:owner>{}</fc:owner><fc:identity>{}</fc:identity></fc:machine>",
        esc(owner),
        esc(&json)
    )
}

/// The whole domain.
pub(crate) fn domain(spec: &DomainSpec, owner: &str) -> String {
    let mut x = String::new();
    let id = esc(&spec.id.0);
    let _ = write!(
        x,
        "<domain type='{}'><name>{id}</name><uuid>{id}</uuid>",
        spec.domain_type.as_str()
    );
    if let Some((name, _)) = &spec.hostname {
        let _ = write!(x, "<title>{}</title>", esc(name));
    }
    let _ = write!(
        x,
        "<metadata>{}</metadata>",
        metadata(owner, &spec.metadata)
    );
    let _ = write!(
        x,
        "<memory unit='b'>{}</memory><vcpu>{}</vcpu>",
        spec.memory_bytes, spec.vcpus
    );
    if spec.ignition.is_some() || spec.hostname.is_some() {
        x.push_str("<sysinfo type='fwcfg'>");
        if let Some(ign) = &spec.ignition {
            let _ = write!(x, "<entry name='opt/com.coreos/config' file='{}'/>", p(ign));
        }
        if let Some((_, file)) = &spec.hostname {
            let _ = write!(
                x,
                "<entry name='opt/ferrocore/hostname' file='{}'/>",
                p(file)
            );
        }
        x.push_str("</sysinfo>");
    }
    os(&mut x, spec);
    x.push_str("<features><acpi/><apic/></features><clock offset='utc'/>");
    x.push_str("<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>");
    x.push_str("<devices><controller type='pci' model='pcie-root'/>");
    for _ in 0..ROOT_PORTS {
        x.push_str("<controller type='pci' model='pcie-root-port'/>");
    }
    for d in &spec.disks {
        x.push_str(&disk(d));
    }
    for n in &spec.nics {
        x.push_str(&nic(n));
    }
    let _ = write!(
        x,
        "<serial type='pty'><target port='0'/><log file='{}' append='on'/></serial>\
         <console type='pty'><target type='serial' port='0'/></console>\
         <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\
         </devices></domain>",
        p(&spec.console_log)
    );
    x
}

fn os(x: &mut String, spec: &DomainSpec) {
    let mt = esc(&spec.machine_type);
    match &spec.boot {
        BootSpec::Kernel {
            kernel,
            initrd,
            cmdline,
        } => {
            let _ = write!(
                x,
                "<os><type arch='x86_64' machine='{mt}'>hvm</type><kernel>{}</kernel>\
                 <initrd>{}</initrd><cmdline>{}</cmdline></os>",
                p(kernel),
                p(initrd),
                esc(cmdline)
            );
        }
        BootSpec::Uefi { .. } => {
            let _ = write!(
                x,
                "<os firmware='efi'><type arch='x86_64' machine='{mt}'>hvm</type>\
                 <firmware><feature enabled='no' name='secure-boot'/></firmware>\
                 <boot dev='hd'/></os>"
            );
        }
        BootSpec::Bios => {
            let _ = write!(
                x,
                "<os><type arch='x86_64' machine='{mt}'>hvm</type><boot dev='hd'/></os>"
            );
        }
    }
}

/// One disk device.
pub(crate) fn disk(d: &DiskSpec) -> String {
    let tail = format!(
        "<target dev='{}' bus='virtio'/><serial>{}</serial><alias name='{}'/></disk>",
        esc(&d.target),
        esc(&d.serial),
        esc(&d.alias)
    );
    match &d.source {
        DiskSource::File { path, format } => format!(
            "<disk type='file' device='disk'><driver name='qemu' type='{format}' cache='{}'/>\
             <source file='{}'/>{tail}",
            esc(&d.cache),
            p(path)
        ),
        DiskSource::Rbd {
            image,
            monitors,
            user,
            secret_uuid,
            encryption,
            ..
        } => {
            let hosts: String = monitors
                .iter()
                .map(|m| {
                    let (host, port) = m.rsplit_once(':').unwrap_or((m, "6789"));
                    format!("<host name='{}' port='{}'/>", esc(host), esc(port))
                })
                .collect();
            let enc = encryption.as_ref().map_or(String::new(), |(uuid, _)| {
                format!(
                    "<encryption format='luks2' engine='librbd'><secret type='passphrase' uuid='{}'/></encryption>",
                    esc(uuid)
                )
            });
            format!(
                "<disk type='network' device='disk'><driver name='qemu' type='raw' cache='{}' io='threads'/>\
                 <source protocol='rbd' name='{}'>{hosts}{enc}</source>\
                 <auth username='{}'><secret type='ceph' uuid='{}'/></auth>{tail}",
                esc(&d.cache),
                esc(image),
                esc(user),
                esc(secret_uuid)
            )
        }
    }
}

/// One network interface: a TAP device the data plane made, or user-mode networking.
pub(crate) fn nic(n: &NicSpec) -> String {
    let mac = n
        .mac
        .as_ref()
        .map_or(String::new(), |m| format!("<mac address='{}'/>", esc(m)));
    let alias = format!("<model type='virtio'/><alias name='{}'/>", esc(&n.alias));
    match &n.tap {
        Some(tap) => format!(
            "<interface type='ethernet'>{mac}<target dev='{}' managed='no'/>{alias}</interface>",
            esc(tap)
        ),
        None => format!("<interface type='user'>{mac}{alias}</interface>"),
    }
}

/// A libvirt secret of usage type `ceph` (cephx key) or `volume` (LUKS passphrase).
pub(crate) fn secret(uuid: &str, usage_ceph: bool, usage_name: &str) -> String {
    if usage_ceph {
        format!(
            "<secret ephemeral='no' private='yes'><uuid>{}</uuid><usage type='ceph'><name>{}</name></usage></secret>",
            esc(uuid),
            esc(usage_name)
        )
    } else {
        format!(
            "<secret ephemeral='no' private='yes'><uuid>{}</uuid><usage type='volume'><volume>{}</volume></usage></secret>",
            esc(uuid),
            esc(usage_name)
        )
    }
}

/// The usage name of a secret (`<usage><name>` for ceph, `<usage><volume>` for volume).
pub(crate) fn secret_usage(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let usage = doc.descendants().find(|n| n.has_tag_name("usage"))?;
    usage
        .children()
        .find(|c| c.has_tag_name("name") || c.has_tag_name("volume"))
        .and_then(|c| c.text())
        .map(String::from)
}

/// What the runtime reads from a live domain's XML.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LiveDomain {
    /// Owner and identity, if the domain carries our metadata.
    pub(crate) owner: Option<(String, DomainMetadata)>,
    /// Disks as (alias, target).
    pub(crate) disks: Vec<(String, String)>,
    /// Interface aliases.
    pub(crate) nics: Vec<String>,
}

/// Parses a domain's XML (`virDomainGetXMLDesc`).
///
/// # Errors
/// The parser's message when the XML is malformed.
pub(crate) fn parse_live(xml: &str) -> Result<LiveDomain, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let mut live = LiveDomain::default();
    for node in doc.descendants() {
        if node.has_tag_name((METADATA_NS, "machine")) {
            let text = |tag: &str| {
                node.children()
                    .find(|c| c.has_tag_name((METADATA_NS, tag)))
                    .and_then(|c| c.text())
                    .unwrap_or_default()
                    .to_string()
            };
            if let Ok(meta) = serde_json::from_str::<DomainMetadata>(&text("identity")) {
                live.owner = Some((text("owner"), meta));
            }
        }
        let alias = node
            .children()
            .find(|c| c.has_tag_name("alias"))
            .and_then(|c| c.attribute("name"))
            .unwrap_or_default()
            .to_string();
        if node.has_tag_name("disk") && node.parent().is_some_and(|p| p.has_tag_name("devices")) {
            let target = node
                .children()
                .find(|c| c.has_tag_name("target"))
                .and_then(|c| c.attribute("dev"))
                .unwrap_or_default()
                .to_string();
            live.disks.push((alias, target));
        } else if node.has_tag_name("interface") {
            live.nics.push(alias);
        }
    }
    Ok(live)
}

/// The pty of the domain's console (`<console type='pty' tty='/dev/pts/N'>`).
pub(crate) fn console_pty(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .filter(|n| n.has_tag_name("console") || n.has_tag_name("serial"))
        .find_map(|n| {
            n.attribute("tty").map(String::from).or_else(|| {
                n.children()
                    .find(|c| c.has_tag_name("source"))
                    .and_then(|c| c.attribute("path"))
                    .map(String::from)
            })
        })
}

/// The name libvirt reports for a domain is the machine id.
pub(crate) fn machine_id(name: &str) -> MachineId {
    MachineId(name.to_string())
}

#[cfg(test)]
mod tests;
