//! The registry of kinds: group, version, name, plural, scope and short names of each.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every kind ferrocore serves.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Kind {
    /// compute: a virtual machine.
    Machine,
    /// compute: a machine size (cpu, memory).
    MachineClass,
    /// compute: a hypervisor pool.
    MachinePool,
    /// storage: a block volume.
    Volume,
    /// storage: a volume performance class.
    VolumeClass,
    /// storage: a block storage pool.
    VolumePool,
    /// storage: a point-in-time copy of a volume.
    VolumeSnapshot,
    /// storage: an object storage bucket.
    Bucket,
    /// storage: a bucket performance class.
    BucketClass,
    /// storage: an object storage pool.
    BucketPool,
    /// networking: an isolated overlay network.
    Network,
    /// networking: a machine's interface into a network.
    NetworkInterface,
    /// networking: firewall rules for interfaces.
    NetworkPolicy,
    /// networking: a public IP for one interface.
    VirtualIP,
    /// networking: a load balancer.
    LoadBalancer,
    /// networking: where a load balancer sends traffic.
    LoadBalancerRouting,
    /// networking: outbound NAT for a network.
    NATGateway,
    /// ipam: an IP prefix.
    Prefix,
    /// ipam: a request for a sub-prefix.
    PrefixAllocation,
    /// core: limits per namespace.
    ResourceQuota,
    /// Kubernetes core v1: opaque data (ignition, keys, credentials).
    Secret,
}

/// Static facts about a kind.
#[derive(Clone, Copy, Debug)]
pub struct KindInfo {
    /// The kind.
    pub kind: Kind,
    /// The API group (empty for the core group).
    pub group: &'static str,
    /// `group/version` (or `v1` for the core group).
    pub api_version: &'static str,
    /// The kind's name as written in manifests.
    pub name: &'static str,
    /// The lower-case plural used on the command line (`machines`).
    pub plural: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names accepted on the command line.
    pub short_names: &'static [&'static str],
}

const COMPUTE: &str = "compute.ironcore.dev";
const STORAGE: &str = "storage.ironcore.dev";
const NETWORKING: &str = "networking.ironcore.dev";
const IPAM: &str = "ipam.ironcore.dev";
const CORE: &str = "core.ironcore.dev";

macro_rules! info {
    ($kind:ident, $group:expr, $av:expr, $plural:expr, $ns:expr, [$($short:expr),*]) => {
        KindInfo {
            kind: Kind::$kind,
            group: $group,
            api_version: $av,
            name: stringify!($kind),
            plural: $plural,
            namespaced: $ns,
            short_names: &[$($short),*],
        }
    };
}

/// Every kind's facts, in a stable order (compute, storage, networking, ipam, core, v1).
pub const KINDS: &[KindInfo] = &[
    info!(
        Machine,
        COMPUTE,
        "compute.ironcore.dev/v1alpha1",
        "machines",
        true,
        ["machine", "ma"]
    ),
    info!(
        MachineClass,
        COMPUTE,
        "compute.ironcore.dev/v1alpha1",
        "machineclasses",
        false,
        ["machineclass", "mc"]
    ),
    info!(
        MachinePool,
        COMPUTE,
        "compute.ironcore.dev/v1alpha1",
        "machinepools",
        false,
        ["machinepool", "mp"]
    ),
    info!(
        Volume,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "volumes",
        true,
        ["volume", "vol"]
    ),
    info!(
        VolumeClass,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "volumeclasses",
        false,
        ["volumeclass", "vc"]
    ),
    info!(
        VolumePool,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "volumepools",
        false,
        ["volumepool", "vp"]
    ),
    info!(
        VolumeSnapshot,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "volumesnapshots",
        true,
        ["volumesnapshot", "vs"]
    ),
    info!(
        Bucket,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "buckets",
        true,
        ["bucket"]
    ),
    info!(
        BucketClass,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "bucketclasses",
        false,
        ["bucketclass", "bc"]
    ),
    info!(
        BucketPool,
        STORAGE,
        "storage.ironcore.dev/v1alpha1",
        "bucketpools",
        false,
        ["bucketpool", "bp"]
    ),
    info!(
        Network,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "networks",
        true,
        ["network", "net"]
    ),
    info!(
        NetworkInterface,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "networkinterfaces",
        true,
        ["networkinterface", "nic"]
    ),
    info!(
        NetworkPolicy,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "networkpolicies",
        true,
        ["networkpolicy", "netpol"]
    ),
    info!(
        VirtualIP,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "virtualips",
        true,
        ["virtualip", "vip"]
    ),
    info!(
        LoadBalancer,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "loadbalancers",
        true,
        ["loadbalancer", "lb"]
    ),
    info!(
        LoadBalancerRouting,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "loadbalancerroutings",
        true,
        ["loadbalancerrouting", "lbr"]
    ),
    info!(
        NATGateway,
        NETWORKING,
        "networking.ironcore.dev/v1alpha1",
        "natgateways",
        true,
        ["natgateway", "nat"]
    ),
    info!(
        Prefix,
        IPAM,
        "ipam.ironcore.dev/v1alpha1",
        "prefixes",
        true,
        ["prefix"]
    ),
    info!(
        PrefixAllocation,
        IPAM,
        "ipam.ironcore.dev/v1alpha1",
        "prefixallocations",
        true,
        ["prefixallocation", "pa"]
    ),
    info!(
        ResourceQuota,
        CORE,
        "core.ironcore.dev/v1alpha1",
        "resourcequotas",
        true,
        ["resourcequota", "quota"]
    ),
    info!(Secret, "", "v1", "secrets", true, ["secret"]),
];

impl Kind {
    /// This kind's facts.
    pub fn info(self) -> &'static KindInfo {
        // KINDS lists every variant in declaration order; the tests check it.
        &KINDS[self as usize]
    }

    /// The API group (empty for core v1).
    pub fn group(self) -> &'static str {
        self.info().group
    }

    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        self.info().api_version
    }

    /// The kind's name as written in manifests.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The plural resource name.
    pub fn plural(self) -> &'static str {
        self.info().plural
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        self.info().namespaced
    }

    /// The kind a manifest names with `apiVersion` and `kind`.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Self> {
        KINDS
            .iter()
            .find(|i| i.api_version == api_version && i.name == kind)
            .map(|i| i.kind)
    }

    /// The kind a command line names: plural, singular, short name or kind name, any case,
    /// optionally qualified with its group (`machines.compute.ironcore.dev`).
    pub fn from_cli(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let (bare, group) = match lower.split_once('.') {
            Some((b, g)) => (b.to_owned(), Some(g.to_owned())),
            None => (lower, None),
        };
        KINDS
            .iter()
            .find(|i| {
                let group_ok = group.as_deref().is_none_or(|g| g == i.group);
                group_ok
                    && (i.plural == bare
                        || i.name.eq_ignore_ascii_case(&bare)
                        || i.short_names.contains(&bare.as_str()))
            })
            .map(|i| i.kind)
    }

    /// Every kind.
    pub fn all() -> impl Iterator<Item = Self> {
        KINDS.iter().map(|i| i.kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_enum() {
        for (i, info) in KINDS.iter().enumerate() {
            assert_eq!(info.kind as usize, i, "{}", info.name);
        }
        assert_eq!(KINDS.len(), 21);
    }

    #[test]
    fn lookups() {
        assert_eq!(
            Kind::from_type("compute.ironcore.dev/v1alpha1", "Machine"),
            Some(Kind::Machine)
        );
        assert_eq!(
            Kind::from_type("compute.ironcore.dev/v1beta1", "Machine"),
            None
        );
        assert_eq!(Kind::from_cli("machines"), Some(Kind::Machine));
        assert_eq!(Kind::from_cli("NIC"), Some(Kind::NetworkInterface));
        assert_eq!(Kind::from_cli("natgateway"), Some(Kind::NATGateway));
        assert_eq!(
            Kind::from_cli("volumes.storage.ironcore.dev"),
            Some(Kind::Volume)
        );
        assert_eq!(Kind::from_cli("volumes.compute.ironcore.dev"), None);
        assert_eq!(Kind::from_cli("pods"), None);
    }
}
