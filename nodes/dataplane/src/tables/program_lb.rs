//! Programming neighbour NAT slots, load balancers with their targets, and firewall rules.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::program::subtype;
use super::{Lb, Tables, Vnf, VnfEntry};
use crate::api::proto::{ApiError, LoadBalancerInfo};
use crate::maglev::{MAX_TARGETS, Maglev};
use crate::spec::{FirewallRuleSpec, LoadBalancerSpec, NeighborNatSpec};
use crate::types::{InterfaceId, LbId, PortRange, RuleId, Vni};

/// Most ports one load balancer balances.
const MAX_LB_PORTS: usize = 16;

fn not_found(what: &str, id: &impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("{what} {id}"))
}

impl Tables {
    /// Records another hypervisor's NAT slot.
    pub(crate) fn create_neighbor_nat(&mut self, n: NeighborNatSpec) -> Result<(), ApiError> {
        if self
            .neighbor_nats
            .get(&n.ip)
            .is_some_and(|l| l.contains(&n))
        {
            return Ok(());
        }
        self.check_slot_free(n.ip, n.vni, n.ports)?;
        let total: usize = self.neighbor_nats.values().map(Vec::len).sum();
        if total >= self.limits.neighbor_nats {
            return Err(ApiError::TableFull(format!(
                "{} neighbour NAT slots",
                self.limits.neighbor_nats
            )));
        }
        let list = self.neighbor_nats.entry(n.ip).or_default();
        list.push(n);
        list.sort();
        Ok(())
    }

    /// Forgets another hypervisor's NAT slot; returns whether it existed.
    pub(crate) fn delete_neighbor_nat(&mut self, ip: Ipv4Addr, vni: Vni, ports: PortRange) -> bool {
        let Some(list) = self.neighbor_nats.get_mut(&ip) else {
            return false;
        };
        let before = list.len();
        list.retain(|n| !(n.vni == vni && n.ports == ports));
        let removed = list.len() != before;
        if list.is_empty() {
            self.neighbor_nats.remove(&ip);
        }
        removed
    }

    /// Neighbour NAT slots (of one IP, or all).
    pub(crate) fn list_neighbor_nats(&self, ip: Option<Ipv4Addr>) -> Vec<NeighborNatSpec> {
        self.neighbor_nats
            .iter()
            .filter(|(k, _)| ip.is_none_or(|want| **k == want))
            .flat_map(|(_, l)| l.iter().copied())
            .collect()
    }

    /// Creates a load balancer; returns its underlay.
    pub(crate) fn create_lb(&mut self, spec: LoadBalancerSpec) -> Result<Ipv6Addr, ApiError> {
        if let Some(lb) = self.lb_ids.get(&spec.id).and_then(|s| self.lb(*s)) {
            return if lb.spec == spec {
                Ok(lb.underlay)
            } else {
                Err(ApiError::Conflict(format!(
                    "load balancer {} exists with a different spec",
                    spec.id
                )))
            };
        }
        if spec.ports.is_empty() || spec.ports.len() > MAX_LB_PORTS {
            return Err(ApiError::BadRequest(format!(
                "a load balancer has 1 to {MAX_LB_PORTS} ports"
            )));
        }
        if self.lb_ids.len() >= self.limits.load_balancers {
            return Err(ApiError::TableFull(format!(
                "{} load balancers",
                self.limits.load_balancers
            )));
        }
        let key = (spec.vni, spec.ip);
        if let Some(other) = self.vni_ips.get(&key) {
            return Err(ApiError::Conflict(format!(
                "IP {} is already used in VNI {} by {other}",
                spec.ip, spec.vni
            )));
        }
        let ul = self.claim_underlay(spec.preferred_underlay, subtype::LB)?;
        let slot = match self.lbs.iter().position(Option::is_none) {
            Some(s) => s,
            None => {
                self.lbs.push(None);
                self.lbs.len() - 1
            }
        };
        let slot32 = u32::try_from(slot).unwrap_or(u32::MAX);
        self.vni_ips
            .insert(key, format!("load balancer {}", spec.id));
        self.add_vnf(
            ul,
            VnfEntry {
                vnf: Vnf::Lb(slot32),
                vni: spec.vni,
            },
        );
        self.lb_ids.insert(spec.id.clone(), slot32);
        self.lbs[slot] = Some(Lb {
            spec,
            underlay: ul,
            maglev: Maglev::default(),
        });
        Ok(ul)
    }

    /// Deletes a load balancer; returns whether it existed.
    pub(crate) fn delete_lb(&mut self, id: &LbId) -> bool {
        let Some(slot) = self.lb_ids.remove(id) else {
            return false;
        };
        if let Some(lb) = self.lbs.get_mut(slot as usize).and_then(Option::take) {
            self.vni_ips.remove(&(lb.spec.vni, lb.spec.ip));
            self.remove_vnf(lb.underlay);
        }
        true
    }

    fn lb_info(&self, slot: u32) -> Option<LoadBalancerInfo> {
        let lb = self.lb(slot)?;
        Some(LoadBalancerInfo {
            spec: lb.spec.clone(),
            underlay: lb.underlay,
            targets: lb.maglev.targets().to_vec(),
        })
    }

    /// One load balancer.
    pub(crate) fn get_lb(&self, id: &LbId) -> Result<LoadBalancerInfo, ApiError> {
        self.lb_ids
            .get(id)
            .and_then(|s| self.lb_info(*s))
            .ok_or_else(|| not_found("load balancer", id))
    }

    /// Every load balancer, by id.
    pub(crate) fn list_lbs(&self) -> Vec<LoadBalancerInfo> {
        self.lb_ids
            .values()
            .filter_map(|s| self.lb_info(*s))
            .collect()
    }

    fn lb_mut(&mut self, id: &LbId) -> Result<&mut Lb, ApiError> {
        let slot = *self
            .lb_ids
            .get(id)
            .ok_or_else(|| not_found("load balancer", id))?;
        self.lbs
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| not_found("load balancer", id))
    }

    /// Adds a target (idempotent) and rebuilds the Maglev table.
    pub(crate) fn add_lb_target(&mut self, id: &LbId, target: Ipv6Addr) -> Result<(), ApiError> {
        let lb = self.lb_mut(id)?;
        let mut targets = lb.maglev.targets().to_vec();
        if targets.contains(&target) {
            return Ok(());
        }
        if targets.len() >= MAX_TARGETS {
            return Err(ApiError::TableFull(format!(
                "{MAX_TARGETS} targets per load balancer"
            )));
        }
        targets.push(target);
        lb.maglev = Maglev::new(&targets);
        Ok(())
    }

    /// Removes a target; returns whether it was there.
    pub(crate) fn remove_lb_target(
        &mut self,
        id: &LbId,
        target: Ipv6Addr,
    ) -> Result<bool, ApiError> {
        let lb = self.lb_mut(id)?;
        let mut targets = lb.maglev.targets().to_vec();
        let before = targets.len();
        targets.retain(|t| *t != target);
        if targets.len() == before {
            return Ok(false);
        }
        lb.maglev = Maglev::new(&targets);
        Ok(true)
    }

    /// A load balancer's targets.
    pub(crate) fn lb_targets(&self, id: &LbId) -> Result<Vec<Ipv6Addr>, ApiError> {
        Ok(self.get_lb(id)?.targets)
    }

    /// Adds a firewall rule (idempotent for an identical rule).
    pub(crate) fn create_rule(&mut self, rule: FirewallRuleSpec) -> Result<(), ApiError> {
        if rule.source.addr().is_ipv4() != rule.destination.addr().is_ipv4() {
            return Err(ApiError::BadRequest(
                "source and destination are of different families".into(),
            ));
        }
        let port = self.port_of(&rule.interface)?;
        let limit = self.limits.firewall_rules;
        let i = self
            .iface_mut(port)
            .ok_or_else(|| not_found("interface", &rule.interface))?;
        match i.firewall.get(&rule.id) {
            Some(r) if *r == rule => return Ok(()),
            Some(_) => {
                return Err(ApiError::Conflict(format!(
                    "firewall rule {} of {} exists with a different spec",
                    rule.id, rule.interface
                )));
            }
            None if i.firewall.iter().count() >= limit => {
                return Err(ApiError::TableFull(format!(
                    "{limit} firewall rules per interface"
                )));
            }
            None => {}
        }
        i.firewall.add(rule);
        self.fw_gen += 1;
        Ok(())
    }

    /// Removes a firewall rule; returns whether it existed.
    pub(crate) fn delete_rule(
        &mut self,
        iface: &InterfaceId,
        id: &RuleId,
    ) -> Result<bool, ApiError> {
        let port = self.port_of(iface)?;
        let removed = self
            .iface_mut(port)
            .and_then(|i| i.firewall.remove(id))
            .is_some();
        if removed {
            self.fw_gen += 1;
        }
        Ok(removed)
    }

    /// One firewall rule.
    pub(crate) fn get_rule(
        &self,
        iface: &InterfaceId,
        id: &RuleId,
    ) -> Result<FirewallRuleSpec, ApiError> {
        let i = self
            .iface(self.port_of(iface)?)
            .ok_or_else(|| not_found("interface", iface))?;
        i.firewall
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("firewall rule", id))
    }

    /// An interface's firewall rules in evaluation order.
    pub(crate) fn list_rules(
        &self,
        iface: &InterfaceId,
    ) -> Result<Vec<FirewallRuleSpec>, ApiError> {
        let i = self
            .iface(self.port_of(iface)?)
            .ok_or_else(|| not_found("interface", iface))?;
        Ok(i.firewall.iter().cloned().collect())
    }
}
