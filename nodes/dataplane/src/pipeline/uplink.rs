//! Packets from the underlay: neighbour discovery for our underlay addresses, then
//! decapsulation and the virtual function the outer destination names.

use std::net::{IpAddr, Ipv6Addr};

use ferrocore_runtime::MonoTime;

use super::flow::{apply_xlate, lo64, reply_key};
use super::{Dataplane, MAX_RECIRC, Verdict, parse_drop};
use crate::conntrack::{Flow, FlowKey, Side, Xlate, addr_bits};
use crate::counters::DropReason;
use crate::fasthash::hash64;
use crate::packet::frame::Frame;
use crate::packet::parse::{Class, ETH_LEN, IPV6_LEN, L3, classify, parse_ip, proto};
use crate::packet::respond::{echo_reply, nd_reply};
use crate::packet::rewrite::{decap, set_outer, src_mac};
use crate::tables::Vnf;
use crate::types::{PortId, Vni};

/// How an underlay packet reached its interface.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Via {
    /// The interface's own underlay or a prefix's.
    Interface,
    /// Its virtual IP (new flows are DNATed).
    Vip,
    /// Its NAT slot (only replies of its own flows).
    Nat,
}

impl Dataplane {
    pub(super) fn handle_uplink(
        &mut self,
        now: MonoTime,
        port: PortId,
        frame: &mut Frame<'_>,
    ) -> Verdict {
        let l = match classify(frame.data()) {
            Ok(Class::Ip(l)) if l.v6 => l,
            Ok(_) => return Verdict::Drop(DropReason::Unsupported),
            Err(e) => return parse_drop(e),
        };
        self.learn_neighbor(l.src, src_mac(frame.data()));
        if l.proto == proto::ICMPV6 {
            let ours = match l.icmp.0 {
                135 => frame
                    .data()
                    .get(l.l4 + 8..l.l4 + 24)
                    .and_then(|t| <[u8; 16]>::try_from(t).ok())
                    .is_some_and(|t| self.tables.vnf(Ipv6Addr::from(t)).is_some()),
                _ => false,
            };
            let mac = self.tables.ports[port.index()].mac;
            return if ours && nd_reply(frame, &l, mac, &[], false) {
                Verdict::Tx(port)
            } else {
                Verdict::Drop(DropReason::NoAnswer)
            };
        }
        if l.proto != proto::IPIP && l.proto != proto::IPV6 {
            return Verdict::Drop(DropReason::NotOurs);
        }
        if !frame.set_len(ETH_LEN + l.l3_len) {
            return Verdict::Drop(DropReason::Malformed);
        }
        self.decapsulated(now, frame, l, 0)
    }

    /// Handles an IP-in-IPv6 frame (outer header `outer` at the Ethernet header's end) by the
    /// VNF its outer destination belongs to.
    pub(super) fn decapsulated(
        &mut self,
        now: MonoTime,
        frame: &mut Frame<'_>,
        outer: L3,
        depth: u8,
    ) -> Verdict {
        let (IpAddr::V6(outer_src), IpAddr::V6(outer_dst)) = (outer.src, outer.dst) else {
            return Verdict::Drop(DropReason::Unsupported);
        };
        let Some(entry) = self.tables.vnf(outer_dst) else {
            return Verdict::Drop(DropReason::NotOurs);
        };
        let mut inner = match parse_ip(frame.data(), ETH_LEN + IPV6_LEN, outer.proto == proto::IPV6)
        {
            Ok(i) => i,
            Err(e) => return parse_drop(e),
        };
        let answer_to = (outer_dst, outer_src);
        let (port, via) = match entry.vnf {
            Vnf::Lb(slot) => {
                return self.load_balance(now, frame, inner, (entry.vni, slot), answer_to, depth);
            }
            Vnf::Nat(p) => {
                if let Some(v) = self.nat_local_or_relay(
                    now,
                    frame,
                    &mut inner,
                    (entry.vni, p),
                    answer_to,
                    depth,
                ) {
                    return v;
                }
                (p, Via::Nat)
            }
            Vnf::Interface(p) => (p, Via::Interface),
            Vnf::Vip(p) => (p, Via::Vip),
        };
        if !decap(frame) {
            return Verdict::Drop(DropReason::Malformed);
        }
        inner.l3 -= IPV6_LEN;
        inner.l4 -= IPV6_LEN;
        self.inbound(now, frame, inner, entry.vni, port, via)
    }

    /// Sends an (already rewritten) encapsulated frame back to the underlay from `src` to `dst`.
    fn reencap(
        &mut self,
        now: MonoTime,
        frame: &mut Frame<'_>,
        (src, dst): (Ipv6Addr, Ipv6Addr),
        depth: u8,
    ) -> Verdict {
        if self.tables.vnf(dst).is_some() {
            if depth >= MAX_RECIRC {
                return Verdict::Drop(DropReason::RecircLimit);
            }
            set_outer(frame, src, dst, Default::default());
            return match parse_ip(frame.data(), ETH_LEN, true) {
                Ok(outer) => self.decapsulated(now, frame, outer, depth + 1),
                Err(e) => parse_drop(e),
            };
        }
        let Some((up, macs)) = self.uplink_macs(dst) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        set_outer(frame, src, dst, macs);
        Verdict::Tx(up)
    }

    /// Echo requests to a NAT IP are answered here; packets for ports of another hypervisor's
    /// slot are relayed to it. `None`: the packet is for our own slot.
    fn nat_local_or_relay(
        &mut self,
        now: MonoTime,
        frame: &mut Frame<'_>,
        inner: &mut L3,
        (vni, port): (Vni, PortId),
        (ours, sender): (Ipv6Addr, Ipv6Addr),
        depth: u8,
    ) -> Option<Verdict> {
        let (ip, slot) = self
            .tables
            .iface(port)?
            .nat
            .as_ref()
            .map(|(n, _)| (n.ip, n.ports))?;
        if inner.dst != IpAddr::V4(ip) {
            return Some(Verdict::Drop(DropReason::NoFlow));
        }
        if inner.is_echo_request() {
            echo_reply(frame, inner);
            return Some(self.reencap(now, frame, (ours, sender), depth));
        }
        if slot.contains(inner.dport) {
            return None;
        }
        Some(match self.tables.neighbor_nat(ip, vni, inner.dport) {
            Some(owner) => self.reencap(now, frame, (ours, owner), depth),
            None => Verdict::Drop(DropReason::NoFlow),
        })
    }

    /// Spreads a load balancer's flows over its targets with Maglev, keeping each flow on the
    /// target it first got (conntrack), and re-encapsulates to the target.
    fn load_balance(
        &mut self,
        now: MonoTime,
        frame: &mut Frame<'_>,
        mut inner: L3,
        (vni, slot): (Vni, u32),
        (ours, sender): (Ipv6Addr, Ipv6Addr),
        depth: u8,
    ) -> Verdict {
        let Some(lb) = self.tables.lb(slot) else {
            return Verdict::Drop(DropReason::NotOurs);
        };
        if inner.dst != lb.spec.ip {
            return Verdict::Drop(DropReason::NoTarget);
        }
        if inner.is_echo_request() {
            echo_reply(frame, &mut inner);
            return self.reencap(now, frame, (ours, sender), depth);
        }
        if !lb
            .spec
            .ports
            .iter()
            .any(|p| p.proto.number() == inner.proto && p.port == inner.dport)
        {
            return Verdict::Drop(DropReason::NoTarget);
        }
        let key = FlowKey::new(
            vni,
            Side::Lb,
            inner.src,
            inner.dst,
            inner.proto,
            inner.sport,
            inner.dport,
        );
        let known = self
            .ct
            .lookup(now, &key, inner.tcp_flags)
            .and_then(|(idx, _)| self.ct.flow(idx)?.lb_target);
        let target = match known {
            Some(t) => t,
            None => {
                let h = hash64(&[
                    lo64(addr_bits(inner.src)),
                    u64::from(inner.sport),
                    u64::from(inner.dport),
                    u64::from(inner.proto),
                ]);
                let Some(t) = lb.maglev.pick(h) else {
                    return Verdict::Drop(DropReason::NoTarget);
                };
                let mut flow = Flow::new(key, key.reversed(Side::Lb), Xlate::None);
                flow.lb_target = Some(t);
                self.ct.insert(now, flow);
                t
            }
        };
        self.reencap(now, frame, (ours, target), depth)
    }

    /// Delivers a decapsulated packet to the interface on `port`, through conntrack and the
    /// interface's ingress rules.
    fn inbound(
        &mut self,
        now: MonoTime,
        frame: &mut Frame<'_>,
        mut l: L3,
        vni: Vni,
        port: PortId,
        via: Via,
    ) -> Verdict {
        let key = FlowKey::new(vni, Side::Uplink, l.src, l.dst, l.proto, l.sport, l.dport);
        let (idx, dir) = match self.ct.lookup(now, &key, l.tcp_flags) {
            Some(hit) => hit,
            None => {
                let Some(iface) = self.tables.iface(port) else {
                    return Verdict::Drop(DropReason::NoInterface);
                };
                let xlate = match via {
                    Via::Nat => return Verdict::Drop(DropReason::NoFlow),
                    Via::Vip => match (iface.vip, iface.spec.ipv4) {
                        (Some((vip, _)), Some(own)) if l.dst == IpAddr::V4(vip) => Xlate::Dnat {
                            ip: IpAddr::V4(own),
                            port: l.dport,
                        },
                        _ => return Verdict::Drop(DropReason::NoFlow),
                    },
                    Via::Interface if iface.owns(l.dst) => Xlate::None,
                    Via::Interface => return Verdict::Drop(DropReason::NotOurs),
                };
                let mut flow = Flow::new(key, reply_key(key, xlate, l.is_echo(), Side::Vm), xlate);
                flow.ports = [None, Some(port)];
                flow.icmp = l.icmp;
                flow.fw_gen = self.tables.fw_gen;
                flow.allowed = self.verdict(&flow);
                if !flow.allowed {
                    return Verdict::Drop(DropReason::Firewall);
                }
                (self.ct.insert(now, flow), crate::conntrack::Dir::Orig)
            }
        };
        if !self.flow_allowed(idx) {
            return Verdict::Drop(DropReason::Firewall);
        }
        let Some(flow) = self.ct.flow(idx).copied() else {
            return Verdict::Drop(DropReason::NoFlow);
        };
        apply_xlate(frame, &mut l, &flow, dir);
        self.deliver(port, frame, l.v6)
    }
}
