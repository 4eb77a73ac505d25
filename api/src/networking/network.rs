//! Network: an isolated overlay network, optionally peered with others.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::string_enum;
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_label, dns1123_subdomain, validate_ref_name, validate_with};
use crate::meta::{Uid, validate_object_meta, validate_object_meta_update};
use crate::net::IpPrefix;
use crate::refs::LocalObjectReference;

string_enum! {
    /// A network's state.
    NetworkState { Pending => "Pending", Available => "Available", Error => "Error" }
}

string_enum! {
    /// A peering's state.
    PeeringState { Pending => "Pending", Ready => "Ready", Error => "Error" }
}

/// The network to peer with (another namespace allowed).
#[derive(Clone, Debug, Default, Eq, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct PeeringNetworkRef {
    /// Its namespace; empty means the same.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// A prefix exposed to a peer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeeringPrefix {
    /// Its name.
    pub name: String,
    /// A literal prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpPrefix>,
    /// A Prefix object.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub prefix_ref: LocalObjectReference,
}

/// A peering with another network (which must list this one too).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPeering {
    /// The peering's name.
    #[serde(default)]
    pub name: String,
    /// The peer.
    #[serde(default)]
    pub network_ref: PeeringNetworkRef,
    /// Prefixes exposed to the peer; empty exposes everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<PeeringPrefix>,
}

/// A network that peers with this one (written by the peering controller).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPeeringClaimRef {
    /// Its namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its uid.
    #[serde(default, skip_serializing_if = "Uid::is_empty")]
    pub uid: Uid,
}

/// What a Network should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The provider's id (immutable once set).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// Peerings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peerings: Vec<NetworkPeering>,
    /// Networks that peer with this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming_peerings: Vec<NetworkPeeringClaimRef>,
}

/// Observed prefix of a peering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeeringPrefixStatus {
    /// Its name.
    pub name: String,
    /// The prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpPrefix>,
}

/// Observed state of a peering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPeeringStatus {
    /// The peering's name.
    pub name: String,
    /// Pending, Ready or Error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PeeringState>,
    /// The exchanged prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<PeeringPrefixStatus>,
}

/// What a Network is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<NetworkState>,
    /// Peerings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peerings: Vec<NetworkPeeringStatus>,
}

spec_status_kind!(
    /// An overlay network.
    Network,
    NetworkSpec,
    NetworkStatus
);

fn validate_peerings(
    meta: &crate::meta::ObjectMeta,
    spec: &NetworkSpec,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let (mut names, mut peers, mut prefix_names) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let me = (meta.namespace.as_str(), meta.name.as_str());
    for (i, peering) in spec.peerings.iter().enumerate() {
        let p = path.child("peerings").index(i);
        if !names.insert(peering.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), &peering.name));
        }
        errs.extend(validate_with(
            &peering.name,
            p.child("name"),
            dns1123_subdomain,
        ));
        let r = &peering.network_ref;
        let ns = if r.namespace.is_empty() {
            me.0
        } else {
            r.namespace.as_str()
        };
        if !me.1.is_empty() && (ns, r.name.as_str()) == me {
            errs.push(FieldError::forbidden(
                p.child("networkRef"),
                "cannot peer a network with itself",
            ));
        } else if !peers.insert((ns, r.name.as_str())) {
            errs.push(FieldError::duplicate(
                p.child("networkRef"),
                format!("{ns}/{}", r.name),
            ));
        }
        if !r.namespace.is_empty() {
            errs.extend(validate_with(
                &r.namespace,
                p.child("networkRef").child("namespace"),
                dns1123_label,
            ));
        }
        errs.extend(validate_ref_name(
            &r.name,
            p.child("networkRef").child("name"),
        ));
        for (j, prefix) in peering.prefixes.iter().enumerate() {
            let pp = p.child("prefixes").index(j);
            if !prefix_names.insert(prefix.name.as_str()) {
                errs.push(FieldError::duplicate(pp.child("name"), &prefix.name));
            }
            errs.extend(validate_with(
                &prefix.name,
                pp.child("name"),
                dns1123_subdomain,
            ));
            if !prefix.prefix_ref.name.is_empty() {
                errs.extend(validate_with(
                    &prefix.prefix_ref.name,
                    pp.child("prefixRef").child("name"),
                    dns1123_subdomain,
                ));
            }
        }
    }
    errs
}

fn validate_claims(
    meta: &crate::meta::ObjectMeta,
    spec: &NetworkSpec,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut seen = BTreeSet::new();
    let me = (meta.namespace.as_str(), meta.name.as_str());
    for (i, claim) in spec.incoming_peerings.iter().enumerate() {
        let p = path.child("incomingPeerings").index(i);
        let ns = if claim.namespace.is_empty() {
            me.0
        } else {
            claim.namespace.as_str()
        };
        if !me.1.is_empty() && (ns, claim.name.as_str()) == me {
            errs.push(FieldError::forbidden(p.clone(), "cannot claim itself"));
        } else if !seen.insert((ns, claim.name.as_str())) {
            errs.push(FieldError::duplicate(
                p.clone(),
                format!("{ns}/{}", claim.name),
            ));
        }
        errs.extend(validate_ref_name(&claim.name, p.child("name")));
        if !claim.namespace.is_empty() {
            errs.extend(validate_with(
                &claim.namespace,
                p.child("namespace"),
                dns1123_subdomain,
            ));
        }
    }
    errs
}

impl Resource for Network {
    const KIND: Kind = Kind::Network;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let path = FieldPath::new("spec");
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_peerings(&self.metadata, &self.spec, &path));
        errs.extend(validate_claims(&self.metadata, &self.spec, &path));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        if !old.spec.provider_id.is_empty() {
            let path = FieldPath::new("spec").child("providerID");
            errs.extend(immutable(
                &self.spec.provider_id,
                &old.spec.provider_id,
                path,
            ));
        }
        errs.extend(self.validate());
        errs
    }
}
