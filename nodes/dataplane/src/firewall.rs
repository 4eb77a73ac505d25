//! Firewall rule evaluation: stateful, priority-ordered, enforced.
//!
//! Per interface and direction: with no rules, everything passes; with rules, the first rule
//! (lowest priority value, then rule id) that matches decides, and traffic no rule matches is
//! dropped (Kubernetes NetworkPolicy semantics; DESIGN.md §8). The verdict is computed on a
//! flow's first packet and cached in conntrack, so replies of an allowed flow pass.

use std::net::IpAddr;

use crate::spec::{Direction, FirewallAction, FirewallRuleSpec, ProtocolFilter};

/// The tuple a rule is matched against, as the interface sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) proto: u8,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    pub(crate) icmp: (u8, u8),
}

fn matches(rule: &FirewallRuleSpec, p: &Probe) -> bool {
    if !rule.source.contains(p.src) || !rule.destination.contains(p.dst) {
        return false;
    }
    match rule.protocol {
        ProtocolFilter::Any => true,
        ProtocolFilter::Icmp {
            icmp_type,
            icmp_code,
        } => {
            (p.proto == 1 || p.proto == 58)
                && icmp_type.is_none_or(|t| t == p.icmp.0)
                && icmp_code.is_none_or(|c| c == p.icmp.1)
        }
        ProtocolFilter::L4 {
            proto,
            src_ports,
            dst_ports,
        } => {
            p.proto == proto.number() && src_ports.contains(p.sport) && dst_ports.contains(p.dport)
        }
    }
}

/// One interface's rules, kept sorted by (direction, priority, id).
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleSet {
    ingress: Vec<FirewallRuleSpec>,
    egress: Vec<FirewallRuleSpec>,
}

impl RuleSet {
    fn list_mut(&mut self, d: Direction) -> &mut Vec<FirewallRuleSpec> {
        match d {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }

    /// Adds a rule (the caller has checked its id is new).
    pub(crate) fn add(&mut self, rule: FirewallRuleSpec) {
        let list = self.list_mut(rule.direction);
        let at = list.partition_point(|r| (r.priority, &r.id) < (rule.priority, &rule.id));
        list.insert(at, rule);
    }

    /// Removes a rule by id; returns it.
    pub(crate) fn remove(&mut self, id: &crate::types::RuleId) -> Option<FirewallRuleSpec> {
        for list in [&mut self.ingress, &mut self.egress] {
            if let Some(i) = list.iter().position(|r| &r.id == id) {
                return Some(list.remove(i));
            }
        }
        None
    }

    /// A rule by id.
    pub(crate) fn get(&self, id: &crate::types::RuleId) -> Option<&FirewallRuleSpec> {
        self.ingress
            .iter()
            .chain(&self.egress)
            .find(|r| &r.id == id)
    }

    /// Every rule, ingress first, in evaluation order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &FirewallRuleSpec> {
        self.ingress.iter().chain(&self.egress)
    }

    /// Whether traffic in direction `d` matching `p` is allowed.
    pub(crate) fn allows(&self, d: Direction, p: &Probe) -> bool {
        let list = match d {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        };
        if list.is_empty() {
            return true;
        }
        list.iter()
            .find(|r| matches(r, p))
            .is_some_and(|r| r.action == FirewallAction::Accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FirewallPorts, L4Proto};
    use crate::types::{InterfaceId, RuleId};

    fn rule(id: &str, prio: u32, action: FirewallAction, port: u16) -> FirewallRuleSpec {
        FirewallRuleSpec {
            interface: InterfaceId::new("a").unwrap(),
            id: RuleId::new(id).unwrap(),
            direction: Direction::Ingress,
            action,
            priority: prio,
            source: "0.0.0.0/0".parse().unwrap(),
            destination: "0.0.0.0/0".parse().unwrap(),
            protocol: ProtocolFilter::L4 {
                proto: L4Proto::Tcp,
                src_ports: FirewallPorts::ANY,
                dst_ports: FirewallPorts {
                    first: port,
                    last: port,
                },
            },
        }
    }

    fn probe(dport: u16) -> Probe {
        Probe {
            src: "192.0.2.1".parse().unwrap(),
            dst: "10.0.0.1".parse().unwrap(),
            proto: 6,
            sport: 40000,
            dport,
            icmp: (0, 0),
        }
    }

    #[test]
    fn no_rules_allow_and_rules_deny_by_default() {
        let mut rs = RuleSet::default();
        assert!(rs.allows(Direction::Ingress, &probe(22)));
        rs.add(rule("ssh", 100, FirewallAction::Accept, 22));
        assert!(rs.allows(Direction::Ingress, &probe(22)));
        assert!(!rs.allows(Direction::Ingress, &probe(80)));
        assert!(
            rs.allows(Direction::Egress, &probe(80)),
            "egress has no rules"
        );
    }

    #[test]
    fn priority_orders_rules_not_insertion() {
        let mut rs = RuleSet::default();
        rs.add(rule("allow", 200, FirewallAction::Accept, 22));
        rs.add(rule("deny", 100, FirewallAction::Drop, 22));
        assert!(!rs.allows(Direction::Ingress, &probe(22)));
        rs.remove(&RuleId::new("deny").unwrap());
        assert!(rs.allows(Direction::Ingress, &probe(22)));
    }
}
