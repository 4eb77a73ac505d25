//! The IRI machine a bound Machine should be: class, power, ignition, the volumes and network
//! interfaces that are ready to attach, and why the others are not.

use ferrocore_api::compute::{
    DEFAULT_IGNITION_KEY, Machine, MachineClass, MachineNetworkInterface, MachineVolume, Power,
    ephemeral_network_interface_name, ephemeral_volume_name,
};
use ferrocore_api::core::Secret;
use ferrocore_api::iri::machine as iri;
use ferrocore_api::networking::{Network, NetworkInterface, NetworkInterfaceState};
use ferrocore_api::storage::{Volume, VolumeState};
use ferrocore_api::{ResourceName, quantity_of};

use crate::reconcile::{Ctx, ViewExt};

/// Why something is not ready yet: a CamelCase reason and a message for a condition.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NotReady {
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

impl NotReady {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// The IRI machine spec a Machine wants, with what is not ready yet.
#[derive(Clone, Debug, Default)]
pub struct DesiredMachine {
    /// The spec, holding only ready volumes and interfaces.
    pub spec: iri::MachineSpec,
    /// What blocks creating the machine at all (class or ignition missing).
    pub blocker: Option<NotReady>,
    /// Volumes (by machine volume name) not ready to attach, and why.
    pub volumes_pending: Vec<(String, NotReady)>,
    /// Interfaces (by machine interface name) not ready to attach, and why.
    pub nics_pending: Vec<(String, NotReady)>,
}

impl DesiredMachine {
    /// Whether the machine can be created with everything it asks for.
    pub fn complete(&self) -> bool {
        self.blocker.is_none() && self.volumes_pending.is_empty() && self.nics_pending.is_empty()
    }
}

/// The data of a Secret, `stringData` included.
pub fn secret_data(secret: &Secret) -> iri::SecretData {
    let mut out: std::collections::BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in &secret.string_data {
        out.insert(k.clone(), v.as_bytes().to_vec());
    }
    iri::SecretData(out)
}

fn bytes(q: Option<ferrocore_api::Quantity>) -> u64 {
    q.map_or(0, |q| u64::try_from(q.value()).unwrap_or(0))
}

/// Computes the desired IRI machine.
pub fn desired(ctx: &Ctx<'_>, machine: &Machine) -> DesiredMachine {
    let mut out = DesiredMachine::default();
    let class = &machine.spec.machine_class_ref.name;
    if ctx.view.typed::<MachineClass>("", class).is_none() {
        out.blocker = Some(NotReady::new(
            "MachineClassNotFound",
            format!("machine class {class} not found"),
        ));
    }
    let ignition = match ignition(ctx, machine) {
        Ok(data) => data,
        Err(e) => {
            out.blocker.get_or_insert(e);
            None
        }
    };
    out.spec = iri::MachineSpec {
        power: match machine.spec.power {
            Some(Power::Off) => iri::Power::Off,
            _ => iri::Power::On,
        },
        class: iri::MachineClassName(class.clone()),
        ignition_data: ignition,
        volumes: Vec::new(),
        network_interfaces: Vec::new(),
        guest_config: iri::GuestConfig {
            hostname: machine
                .spec
                .guest_config
                .as_ref()
                .map(|g| g.hostname.clone())
                .filter(|h| !h.is_empty()),
        },
    };
    for v in &machine.spec.volumes {
        match volume(ctx, machine, v) {
            Ok(Some(iv)) => out.spec.volumes.push(iv),
            Ok(None) => {}
            Err(e) => out.volumes_pending.push((v.name.clone(), e)),
        }
    }
    for n in &machine.spec.network_interfaces {
        match network_interface(ctx, machine, n) {
            Ok(Some(inic)) => out.spec.network_interfaces.push(inic),
            Ok(None) => {}
            Err(e) => out.nics_pending.push((n.name.clone(), e)),
        }
    }
    out
}

fn ignition(ctx: &Ctx<'_>, machine: &Machine) -> Result<Option<Vec<u8>>, NotReady> {
    let Some(r) = machine
        .spec
        .ignition_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())
    else {
        return Ok(None);
    };
    let key = if r.key.is_empty() {
        DEFAULT_IGNITION_KEY
    } else {
        r.key.as_str()
    };
    let secret = ctx
        .view
        .typed::<Secret>(&machine.metadata.namespace, &r.name)
        .ok_or_else(|| {
            NotReady::new(
                "IgnitionNotFound",
                format!("ignition secret {} not found", r.name),
            )
        })?;
    let data = secret_data(secret);
    data.get(key).map(|d| Some(d.to_vec())).ok_or_else(|| {
        NotReady::new(
            "IgnitionKeyNotFound",
            format!("ignition secret {} has no key {key}", r.name),
        )
    })
}

/// The Volume object a machine volume refers to, if it refers to one.
pub fn volume_object_name(machine: &Machine, v: &MachineVolume) -> Option<String> {
    match (&v.volume_ref, &v.ephemeral) {
        (Some(r), _) => Some(r.name.clone()),
        (None, Some(_)) => Some(ephemeral_volume_name(&machine.metadata.name, &v.name)),
        _ => None,
    }
}

fn volume(
    ctx: &Ctx<'_>,
    machine: &Machine,
    v: &MachineVolume,
) -> Result<Option<iri::Volume>, NotReady> {
    let device = v.device.clone().unwrap_or_default();
    let local = |size: Option<ferrocore_api::Quantity>, image: &str| iri::Volume {
        name: v.name.clone(),
        device: device.clone(),
        local_disk: Some(iri::LocalDisk {
            size_bytes: bytes(size),
            image: (!image.is_empty()).then(|| image.to_owned()),
        }),
        connection: None,
    };
    if let Some(d) = &v.local_disk {
        return Ok(Some(local(d.size_limit, &d.image)));
    }
    if let Some(d) = &v.empty_disk {
        return Ok(Some(local(d.size_limit, "")));
    }
    let Some(name) = volume_object_name(machine, v) else {
        return Ok(None);
    };
    let ns = machine.metadata.namespace.as_str();
    let vol = ctx
        .view
        .typed::<Volume>(ns, &name)
        .ok_or_else(|| NotReady::new("VolumeNotFound", format!("volume {name} not found")))?;
    check_claim(vol.spec.claim_ref.as_ref(), machine, "Volume", &name)?;
    let access = vol
        .status
        .access
        .as_ref()
        .filter(|_| vol.status.state == Some(VolumeState::Available))
        .ok_or_else(|| {
            NotReady::new(
                "VolumeNotAvailable",
                format!("volume {name} is not available yet"),
            )
        })?;
    let access_data = match &access.secret_ref {
        Some(r) => secret_data(ctx.view.typed::<Secret>(ns, &r.name).ok_or_else(|| {
            NotReady::new(
                "VolumeAccessSecretNotFound",
                format!("secret {} not found", r.name),
            )
        })?),
        None => iri::SecretData::default(),
    };
    let encryption_data = match &vol.spec.encryption {
        Some(e) => secret_data(
            ctx.view
                .typed::<Secret>(ns, &e.secret_ref.name)
                .ok_or_else(|| {
                    NotReady::new(
                        "EncryptionSecretNotFound",
                        format!("secret {} not found", e.secret_ref.name),
                    )
                })?,
        ),
        None => iri::SecretData::default(),
    };
    let size = Some(quantity_of(&vol.status.resources, ResourceName::STORAGE))
        .filter(|q| !q.is_zero())
        .or_else(|| {
            vol.spec
                .resources
                .as_ref()
                .map(|r| quantity_of(r, ResourceName::STORAGE))
        });
    Ok(Some(iri::Volume {
        name: v.name.clone(),
        device,
        local_disk: None,
        connection: Some(iri::VolumeConnection {
            driver: access.driver.clone(),
            handle: access.handle.clone(),
            attributes: access.volume_attributes.clone(),
            secret_data: access_data,
            encryption_data,
            effective_storage_bytes: bytes(size),
        }),
    }))
}

fn check_claim(
    claim: Option<&ferrocore_api::LocalUidReference>,
    machine: &Machine,
    what: &str,
    name: &str,
) -> Result<(), NotReady> {
    match claim {
        Some(c) if c.uid == machine.metadata.uid => Ok(()),
        Some(c) => Err(NotReady::new(
            "ClaimedByOther",
            format!("{what} {name} is claimed by {}", c.name),
        )),
        None => Err(NotReady::new(
            "NotClaimed",
            format!("{what} {name} is not claimed yet"),
        )),
    }
}

/// The NetworkInterface object a machine interface refers to, if it refers to one.
pub fn nic_object_name(machine: &Machine, n: &MachineNetworkInterface) -> Option<String> {
    match (&n.network_interface_ref, &n.ephemeral) {
        (Some(r), _) => Some(r.name.clone()),
        (None, Some(_)) => Some(ephemeral_network_interface_name(
            &machine.metadata.name,
            &n.name,
        )),
        _ => None,
    }
}

/// The IRI network id of a Network: its provider id, or `<namespace>/<name>` until the
/// networking part assigns one.
pub fn network_id(network: &Network) -> String {
    if network.spec.provider_id.is_empty() {
        format!("{}/{}", network.metadata.namespace, network.metadata.name)
    } else {
        network.spec.provider_id.clone()
    }
}

fn network_interface(
    ctx: &Ctx<'_>,
    machine: &Machine,
    n: &MachineNetworkInterface,
) -> Result<Option<iri::NetworkInterface>, NotReady> {
    let Some(name) = nic_object_name(machine, n) else {
        return Ok(None);
    };
    let ns = machine.metadata.namespace.as_str();
    let nic = ctx
        .view
        .typed::<NetworkInterface>(ns, &name)
        .ok_or_else(|| {
            NotReady::new(
                "NetworkInterfaceNotFound",
                format!("network interface {name} not found"),
            )
        })?;
    check_claim(
        nic.spec.machine_ref.as_ref(),
        machine,
        "NetworkInterface",
        &name,
    )?;
    if nic.status.state != Some(NetworkInterfaceState::Available) || nic.status.ips.is_empty() {
        return Err(NotReady::new(
            "NetworkInterfaceNotAvailable",
            format!("network interface {name} is not available yet"),
        ));
    }
    let network = ctx
        .view
        .typed::<Network>(ns, &nic.spec.network_ref.name)
        .ok_or_else(|| {
            NotReady::new(
                "NetworkNotFound",
                format!("network {} not found", nic.spec.network_ref.name),
            )
        })?;
    Ok(Some(iri::NetworkInterface {
        name: n.name.clone(),
        network_id: network_id(network),
        ips: nic.status.ips.iter().map(ToString::to_string).collect(),
        attributes: nic.spec.attributes.clone(),
    }))
}
