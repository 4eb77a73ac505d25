//! Applying programming requests: the API's verbs mapped onto the tables, with conntrack
//! flushed where a change invalidates flows.

use ferrocore_runtime::MonoTime;

use super::Dataplane;
use crate::api::proto::{PROTOCOL_VERSION, Reply, Request, Response};
use crate::conntrack::Xlate;
use crate::types::PortId;

fn deleted(existed: bool) -> Response {
    Ok(Reply::Deleted { existed })
}

impl Dataplane {
    /// Applies one programming request. Creates are idempotent (the same spec again gives the
    /// same reply); a different spec under the same name is a conflict.
    pub fn program(&mut self, now: MonoTime, req: Request) -> Response {
        let _ = now;
        // Any change may alter where a flow's packets go: cached decisions are recomputed.
        self.route_gen += 1;
        let t = &mut self.tables;
        match req {
            Request::Version => Ok(Reply::Version {
                protocol: PROTOCOL_VERSION,
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
            Request::CheckInitialized => Ok(Reply::Initialized {
                initialized: self.initialized,
                instance: self.instance,
            }),
            Request::Init => {
                self.initialized = true;
                Ok(Reply::Initialized {
                    initialized: true,
                    instance: self.instance,
                })
            }
            Request::CreateInterface(spec) => t.create_interface(spec).map(Reply::Underlay),
            Request::DeleteInterface(id) => {
                let port = self.tables.delete_interface(&id);
                if let Some(p) = port {
                    self.flush_port(p);
                }
                deleted(port.is_some())
            }
            Request::GetInterface(id) => t.get_interface(&id).map(Reply::Interface),
            Request::ListInterfaces => Ok(Reply::Interfaces(t.list_interfaces())),
            Request::CreateRoute(r) => t.create_route(r).map(|()| Reply::Done),
            Request::DeleteRoute { vni, prefix } => t
                .delete_route(vni, prefix)
                .map(|e| Reply::Deleted { existed: e }),
            Request::ListRoutes(vni) => Ok(Reply::Routes(t.list_routes(vni))),
            Request::CreatePrefix(p) => t.create_prefix(p).map(Reply::Underlay),
            Request::DeletePrefix { interface, prefix } => t
                .delete_prefix(&interface, prefix)
                .map(|e| Reply::Deleted { existed: e }),
            Request::ListPrefixes(id) => t.list_prefixes(&id).map(Reply::Prefixes),
            Request::CreateVip(v) => t.create_vip(v).map(Reply::Underlay),
            Request::DeleteVip(id) => {
                let r = self.tables.delete_vip(&id);
                if let (Ok(true), Ok(p)) = (&r, self.tables.port_of(&id)) {
                    self.flush_translated(p);
                }
                r.map(|e| Reply::Deleted { existed: e })
            }
            Request::GetVip(id) => t.get_vip(&id).map(Reply::Vip),
            Request::CreateNat(n) => t.create_nat(n).map(Reply::Underlay),
            Request::DeleteNat(id) => {
                let r = self.tables.delete_nat(&id);
                if let (Ok(true), Ok(p)) = (&r, self.tables.port_of(&id)) {
                    self.flush_translated(p);
                }
                r.map(|e| Reply::Deleted { existed: e })
            }
            Request::GetNat(id) => t.get_nat(&id).map(Reply::Nat),
            Request::ListNats(ip) => Ok(Reply::Nats(t.list_nats(ip))),
            other => self.program_lb_fw(other),
        }
    }

    /// The load balancer, neighbour NAT, firewall and stats half of [`Self::program`].
    fn program_lb_fw(&mut self, req: Request) -> Response {
        let t = &mut self.tables;
        match req {
            Request::CreateNeighborNat(n) => t.create_neighbor_nat(n).map(|()| Reply::Done),
            Request::DeleteNeighborNat { ip, vni, ports } => {
                deleted(t.delete_neighbor_nat(ip, vni, ports))
            }
            Request::ListNeighborNats(ip) => Ok(Reply::NeighborNats(t.list_neighbor_nats(ip))),
            Request::CreateLoadBalancer(lb) => t.create_lb(lb).map(Reply::Underlay),
            Request::DeleteLoadBalancer(id) => deleted(t.delete_lb(&id)),
            Request::GetLoadBalancer(id) => t.get_lb(&id).map(Reply::LoadBalancer),
            Request::ListLoadBalancers => Ok(Reply::LoadBalancers(t.list_lbs())),
            Request::CreateLbTarget { lb, target } => {
                t.add_lb_target(&lb, target).map(|()| Reply::Done)
            }
            Request::DeleteLbTarget { lb, target } => t
                .remove_lb_target(&lb, target)
                .map(|e| Reply::Deleted { existed: e }),
            Request::ListLbTargets(id) => t.lb_targets(&id).map(Reply::LbTargets),
            Request::CreateFirewallRule(r) => t.create_rule(r).map(|()| Reply::Done),
            Request::DeleteFirewallRule { interface, id } => t
                .delete_rule(&interface, &id)
                .map(|e| Reply::Deleted { existed: e }),
            Request::GetFirewallRule { interface, id } => {
                t.get_rule(&interface, &id).map(Reply::FirewallRule)
            }
            Request::ListFirewallRules(id) => t.list_rules(&id).map(Reply::FirewallRules),
            Request::Stats => Ok(Reply::Stats(self.stats())),
            other => Err(crate::api::proto::ApiError::BadRequest(format!(
                "unhandled request {other:?}"
            ))),
        }
    }

    /// Forgets every flow to or from a port (its interface is gone).
    fn flush_port(&mut self, port: PortId) {
        self.ct.flush(|f| f.ports.contains(&Some(port)));
    }

    /// Forgets a port's translated flows (its VIP or NAT slot is gone).
    fn flush_translated(&mut self, port: PortId) {
        self.ct
            .flush(|f| f.xlate != Xlate::None && f.ports.contains(&Some(port)));
    }
}
