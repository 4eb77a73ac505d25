//! Programming interfaces, routes, prefixes, virtual IPs and NAT slots: idempotent creates
//! (the same spec again returns the same answer), conflicts named in the error.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use super::{Iface, PortKind, Tables, Vnf, VnfEntry};
use crate::api::proto::{ApiError, InterfaceInfo, NatInfo, PrefixInfo, VipInfo};
use crate::firewall::RuleSet;
use crate::lpm::NextHop;
use crate::spec::{InterfaceSpec, NatSpec, PrefixKind, PrefixSpec, RouteSpec, VipSpec};
use crate::types::{Cidr, InterfaceId, PortId, Vni};

/// Underlay subtypes, as in the address layout.
pub(super) mod subtype {
    pub(crate) const INTERFACE: u8 = 1;
    pub(crate) const PREFIX: u8 = 2;
    pub(crate) const VIP: u8 = 3;
    pub(crate) const NAT: u8 = 4;
    pub(crate) const LB: u8 = 5;
}

fn conflict(msg: String) -> ApiError {
    ApiError::Conflict(msg)
}

fn not_found(what: &str, id: &impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("{what} {id}"))
}

impl Tables {
    /// A fresh underlay address, or the preferred one if it is free.
    pub(super) fn claim_underlay(
        &mut self,
        preferred: Option<Ipv6Addr>,
        subtype: u8,
    ) -> Result<Ipv6Addr, ApiError> {
        match preferred {
            Some(a) if self.vnf(a).is_some() => {
                Err(conflict(format!("underlay address {a} is already in use")))
            }
            Some(a) => Ok(a),
            None => loop {
                let a = self.underlay.next(subtype);
                if self.vnf(a).is_none() {
                    return Ok(a);
                }
            },
        }
    }

    fn claim_ip(&mut self, vni: Vni, ip: IpAddr, owner: &str) -> Result<(), ApiError> {
        if let Some(other) = self.vni_ips.get(&(vni, ip)) {
            return Err(conflict(format!(
                "IP {ip} is already used in VNI {vni} by {other}"
            )));
        }
        self.vni_ips.insert((vni, ip), owner.to_owned());
        Ok(())
    }

    pub(crate) fn port_of(&self, id: &InterfaceId) -> Result<PortId, ApiError> {
        self.ids
            .get(id)
            .copied()
            .ok_or_else(|| not_found("interface", id))
    }

    fn info(&self, port: PortId) -> Option<InterfaceInfo> {
        let i = self.iface(port)?;
        Some(InterfaceInfo {
            spec: i.spec.clone(),
            underlay: i.underlay,
            port,
        })
    }

    /// Creates an interface on its device; returns its underlay address.
    pub(crate) fn create_interface(&mut self, spec: InterfaceSpec) -> Result<Ipv6Addr, ApiError> {
        if let Some(&port) = self.ids.get(&spec.id) {
            let existing = self.iface(port).map(|i| (&i.spec, i.underlay));
            return match existing {
                Some((s, ul)) if *s == spec => Ok(ul),
                _ => Err(conflict(format!(
                    "interface {} exists with a different spec",
                    spec.id
                ))),
            };
        }
        let port = self
            .ports
            .iter()
            .position(|p| p.name == spec.device && p.kind == PortKind::Vm)
            .and_then(|i| u16::try_from(i).ok())
            .map(PortId)
            .ok_or_else(|| ApiError::BadRequest(format!("no VM port named {:?}", spec.device)))?;
        if let Some(other) = self.iface(port) {
            return Err(conflict(format!(
                "device {} is used by interface {}",
                spec.device, other.spec.id
            )));
        }
        if spec.ipv4.is_none() && spec.ipv6.is_none() {
            return Err(ApiError::BadRequest(format!(
                "interface {} has no address",
                spec.id
            )));
        }
        let ips: Vec<IpAddr> = spec
            .ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(spec.ipv6.map(IpAddr::V6))
            .collect();
        for ip in &ips {
            if let Some(other) = self.vni_ips.get(&(spec.vni, *ip)) {
                return Err(conflict(format!(
                    "IP {ip} is already used in VNI {} by {other}",
                    spec.vni
                )));
            }
        }
        let underlay = self.claim_underlay(spec.preferred_underlay, subtype::INTERFACE)?;
        let owner = format!("interface {}", spec.id);
        for ip in ips {
            self.claim_ip(spec.vni, ip, &owner)?;
            self.lpm
                .insert(spec.vni, Cidr::host(ip), NextHop::Local(port));
        }
        self.add_vnf(
            underlay,
            VnfEntry {
                vnf: Vnf::Interface(port),
                vni: spec.vni,
            },
        );
        self.ids.insert(spec.id.clone(), port);
        self.by_port[port.index()] = Some(Iface {
            spec,
            underlay,
            vm_mac: None,
            vip: None,
            nat: None,
            prefixes: BTreeMap::new(),
            firewall: RuleSet::default(),
        });
        Ok(underlay)
    }

    /// Deletes an interface with its prefixes, VIP, NAT slot and rules; returns its port.
    pub(crate) fn delete_interface(&mut self, id: &InterfaceId) -> Option<PortId> {
        let port = self.ids.remove(id)?;
        let iface = self.by_port[port.index()].take()?;
        let vni = iface.spec.vni;
        for ip in iface
            .spec
            .ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(iface.spec.ipv6.map(IpAddr::V6))
        {
            self.vni_ips.remove(&(vni, ip));
            self.lpm.remove(vni, Cidr::host(ip));
        }
        for (prefix, (kind, ul)) in &iface.prefixes {
            self.remove_vnf(*ul);
            if *kind == PrefixKind::Alias {
                self.lpm.remove(vni, *prefix);
            }
        }
        if let Some((_, ul)) = iface.vip {
            self.remove_vnf(ul);
        }
        if let Some((_, ul)) = iface.nat {
            self.remove_vnf(ul);
        }
        self.remove_vnf(iface.underlay);
        self.fw_gen += 1;
        Some(port)
    }

    /// One interface.
    pub(crate) fn get_interface(&self, id: &InterfaceId) -> Result<InterfaceInfo, ApiError> {
        self.info(self.port_of(id)?)
            .ok_or_else(|| not_found("interface", id))
    }

    /// Every interface, by id.
    pub(crate) fn list_interfaces(&self) -> Vec<InterfaceInfo> {
        self.ids.values().filter_map(|p| self.info(*p)).collect()
    }

    /// Creates a route.
    pub(crate) fn create_route(&mut self, r: RouteSpec) -> Result<(), ApiError> {
        let hop = NextHop::Remote {
            vni: r.nexthop_vni,
            underlay: r.nexthop_underlay,
        };
        match self.lpm.get(r.vni, r.prefix) {
            Some(h) if h == hop => return Ok(()),
            Some(_) => {
                return Err(conflict(format!(
                    "route {} in VNI {} exists with a different next hop",
                    r.prefix, r.vni
                )));
            }
            None => {}
        }
        if self.lpm.len() >= self.limits.routes {
            return Err(ApiError::TableFull(format!(
                "{} routes",
                self.limits.routes
            )));
        }
        self.lpm.insert(r.vni, r.prefix, hop);
        Ok(())
    }

    /// Deletes a route (only a remote one: local routes go with their interface).
    pub(crate) fn delete_route(&mut self, vni: Vni, prefix: Cidr) -> Result<bool, ApiError> {
        match self.lpm.get(vni, prefix) {
            None => Ok(false),
            Some(NextHop::Local(_)) => Err(conflict(format!(
                "route {prefix} in VNI {vni} belongs to a local interface"
            ))),
            Some(NextHop::Remote { .. }) => Ok(self.lpm.remove(vni, prefix).is_some()),
        }
    }

    /// The remote routes of a VNI, or of all.
    pub(crate) fn list_routes(&self, vni: Option<Vni>) -> Vec<RouteSpec> {
        self.lpm
            .list(vni)
            .into_iter()
            .filter_map(|(vni, prefix, hop)| match hop {
                NextHop::Remote {
                    vni: nexthop_vni,
                    underlay,
                } => Some(RouteSpec {
                    vni,
                    prefix,
                    nexthop_vni,
                    nexthop_underlay: underlay,
                }),
                NextHop::Local(_) => None,
            })
            .collect()
    }

    /// Routes a prefix to an interface; returns its underlay.
    pub(crate) fn create_prefix(&mut self, p: PrefixSpec) -> Result<Ipv6Addr, ApiError> {
        let port = self.port_of(&p.interface)?;
        let (vni, existing, count) = {
            let i = self
                .iface(port)
                .ok_or_else(|| not_found("interface", &p.interface))?;
            (
                i.spec.vni,
                i.prefixes.get(&p.prefix).copied(),
                i.prefixes.len(),
            )
        };
        match existing {
            Some((kind, ul)) if kind == p.kind => return Ok(ul),
            Some(_) => {
                return Err(conflict(format!(
                    "prefix {} exists with another kind",
                    p.prefix
                )));
            }
            None if count >= self.limits.prefixes => {
                return Err(ApiError::TableFull(format!(
                    "{} prefixes",
                    self.limits.prefixes
                )));
            }
            None => {}
        }
        if p.kind == PrefixKind::Alias && self.lpm.get(vni, p.prefix).is_some() {
            return Err(conflict(format!(
                "prefix {} is already routed in VNI {vni}",
                p.prefix
            )));
        }
        let ul = self.claim_underlay(p.preferred_underlay, subtype::PREFIX)?;
        self.add_vnf(
            ul,
            VnfEntry {
                vnf: Vnf::Interface(port),
                vni,
            },
        );
        if p.kind == PrefixKind::Alias {
            self.lpm.insert(vni, p.prefix, NextHop::Local(port));
        }
        if let Some(i) = self.iface_mut(port) {
            i.prefixes.insert(p.prefix, (p.kind, ul));
        }
        Ok(ul)
    }

    /// Removes a prefix from an interface.
    pub(crate) fn delete_prefix(
        &mut self,
        id: &InterfaceId,
        prefix: Cidr,
    ) -> Result<bool, ApiError> {
        let port = self.port_of(id)?;
        let Some(i) = self.iface_mut(port) else {
            return Ok(false);
        };
        let vni = i.spec.vni;
        let Some((kind, ul)) = i.prefixes.remove(&prefix) else {
            return Ok(false);
        };
        self.remove_vnf(ul);
        if kind == PrefixKind::Alias {
            self.lpm.remove(vni, prefix);
        }
        Ok(true)
    }

    /// An interface's prefixes.
    pub(crate) fn list_prefixes(&self, id: &InterfaceId) -> Result<Vec<PrefixInfo>, ApiError> {
        let i = self
            .iface(self.port_of(id)?)
            .ok_or_else(|| not_found("interface", id))?;
        Ok(i.prefixes
            .iter()
            .map(|(p, (k, ul))| PrefixInfo {
                prefix: *p,
                kind: *k,
                underlay: *ul,
            })
            .collect())
    }

    /// Gives an interface a virtual IP.
    pub(crate) fn create_vip(&mut self, v: VipSpec) -> Result<Ipv6Addr, ApiError> {
        let port = self.port_of(&v.interface)?;
        let (vni, existing) = {
            let i = self
                .iface(port)
                .ok_or_else(|| not_found("interface", &v.interface))?;
            (i.spec.vni, i.vip)
        };
        match existing {
            Some((ip, ul)) if ip == v.ip => return Ok(ul),
            Some((ip, _)) => {
                return Err(conflict(format!(
                    "interface {} already has VIP {ip}",
                    v.interface
                )));
            }
            None => {}
        }
        let ul = self.claim_underlay(v.preferred_underlay, subtype::VIP)?;
        self.claim_ip(Vni(0), IpAddr::V4(v.ip), &format!("VIP of {}", v.interface))?;
        self.add_vnf(
            ul,
            VnfEntry {
                vnf: Vnf::Vip(port),
                vni,
            },
        );
        if let Some(i) = self.iface_mut(port) {
            i.vip = Some((v.ip, ul));
        }
        Ok(ul)
    }

    /// Removes an interface's virtual IP; returns whether it had one.
    pub(crate) fn delete_vip(&mut self, id: &InterfaceId) -> Result<bool, ApiError> {
        let port = self.port_of(id)?;
        let Some((ip, ul)) = self.iface_mut(port).and_then(|i| i.vip.take()) else {
            return Ok(false);
        };
        self.vni_ips.remove(&(Vni(0), IpAddr::V4(ip)));
        self.remove_vnf(ul);
        Ok(true)
    }

    /// An interface's virtual IP.
    pub(crate) fn get_vip(&self, id: &InterfaceId) -> Result<VipInfo, ApiError> {
        let i = self
            .iface(self.port_of(id)?)
            .ok_or_else(|| not_found("interface", id))?;
        let (ip, underlay) = i.vip.ok_or_else(|| not_found("VIP of interface", id))?;
        Ok(VipInfo {
            interface: id.clone(),
            ip,
            underlay,
        })
    }

    /// Gives an interface a NAT slot.
    pub(crate) fn create_nat(&mut self, n: NatSpec) -> Result<Ipv6Addr, ApiError> {
        let port = self.port_of(&n.interface)?;
        let (vni, existing) = {
            let i = self
                .iface(port)
                .ok_or_else(|| not_found("interface", &n.interface))?;
            (i.spec.vni, i.nat.clone())
        };
        match existing {
            Some((s, ul)) if s == n || (s.ip == n.ip && s.ports == n.ports) => return Ok(ul),
            Some(_) => {
                return Err(conflict(format!(
                    "interface {} already has a NAT slot",
                    n.interface
                )));
            }
            None => {}
        }
        self.check_slot_free(n.ip, vni, n.ports)?;
        let ul = self.claim_underlay(n.preferred_underlay, subtype::NAT)?;
        self.add_vnf(
            ul,
            VnfEntry {
                vnf: Vnf::Nat(port),
                vni,
            },
        );
        if let Some(i) = self.iface_mut(port) {
            i.nat = Some((n, ul));
        }
        Ok(ul)
    }

    /// Fails if `[from, to)` of `ip` overlaps a local or neighbour slot.
    pub(super) fn check_slot_free(
        &self,
        ip: std::net::Ipv4Addr,
        vni: Vni,
        ports: crate::types::PortRange,
    ) -> Result<(), ApiError> {
        for i in self.by_port.iter().flatten() {
            if let Some((s, _)) = &i.nat
                && s.ip == ip
                && s.ports.overlaps(ports)
            {
                return Err(conflict(format!(
                    "port range [{}, {}) of NAT IP {ip} overlaps [{}, {}) of interface {}",
                    ports.from(),
                    ports.to(),
                    s.ports.from(),
                    s.ports.to(),
                    i.spec.id
                )));
            }
        }
        for n in self.neighbor_nats.get(&ip).into_iter().flatten() {
            if n.vni == vni && n.ports.overlaps(ports) {
                return Err(conflict(format!(
                    "port range [{}, {}) of NAT IP {ip} overlaps neighbour slot [{}, {}) at {}",
                    ports.from(),
                    ports.to(),
                    n.ports.from(),
                    n.ports.to(),
                    n.underlay
                )));
            }
        }
        Ok(())
    }

    /// Removes an interface's NAT slot; returns whether it had one.
    pub(crate) fn delete_nat(&mut self, id: &InterfaceId) -> Result<bool, ApiError> {
        let port = self.port_of(id)?;
        let Some((_, ul)) = self.iface_mut(port).and_then(|i| i.nat.take()) else {
            return Ok(false);
        };
        self.remove_vnf(ul);
        Ok(true)
    }

    /// An interface's NAT slot.
    pub(crate) fn get_nat(&self, id: &InterfaceId) -> Result<NatInfo, ApiError> {
        let i = self
            .iface(self.port_of(id)?)
            .ok_or_else(|| not_found("interface", id))?;
        let (spec, underlay) = i
            .nat
            .clone()
            .ok_or_else(|| not_found("NAT of interface", id))?;
        Ok(NatInfo { spec, underlay })
    }

    /// Local NAT slots, by interface.
    pub(crate) fn list_nats(&self, ip: Option<std::net::Ipv4Addr>) -> Vec<NatInfo> {
        self.ids
            .values()
            .filter_map(|p| self.iface(*p)?.nat.clone())
            .filter(|(s, _)| ip.is_none_or(|want| s.ip == want))
            .map(|(spec, underlay)| NatInfo { spec, underlay })
            .collect()
    }
}
