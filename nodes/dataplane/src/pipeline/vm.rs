//! Packets from VM ports: local services, then conntrack, translation and forwarding.

use std::net::{IpAddr, Ipv6Addr};

use ferrocore_runtime::MonoTime;

use super::flow::{Fail, apply_xlate};
use super::{Dataplane, MAX_RECIRC, Verdict, parse_drop};
use crate::conntrack::{Dir, Egress, EgressHop, FlowKey, Side, Xlate};
use crate::counters::DropReason;
use crate::lpm::NextHop;
use crate::packet::dhcp::{Lease, dhcpv4_reply, dhcpv6_reply};
use crate::packet::frame::Frame;
use crate::packet::parse::{Class, ETH_LEN, L3, classify, parse_ip, proto};
use crate::packet::respond::{GATEWAY_V4, GATEWAY_V6, IcmpError, arp_reply, echo_reply, nd_reply};
use crate::packet::rewrite::{decrement_ttl, encap, encap_header, encap_with, set_eth, src_mac};
use crate::types::{Mac, PortId, Vni};

impl Dataplane {
    pub(super) fn handle_vm(
        &mut self,
        now: MonoTime,
        port: PortId,
        frame: &mut Frame<'_>,
    ) -> Verdict {
        let class = match classify(frame.data()) {
            Ok(c) => c,
            Err(e) => return parse_drop(e),
        };
        let our_mac = self.tables.ports[port.index()].mac;
        let Some(iface) = self.tables.iface_mut(port) else {
            return Verdict::Drop(DropReason::NoInterface);
        };
        let mac = src_mac(frame.data());
        if !mac.is_multicast() {
            iface.vm_mac = Some(mac);
        }
        let mut l = match class {
            Class::Arp if arp_reply(frame, our_mac) => return Verdict::Tx(port),
            Class::Arp => return Verdict::Drop(DropReason::NoAnswer),
            Class::Ip(l) => l,
        };
        if let Some(v) = self.local_service(port, frame, &mut l, our_mac) {
            return v;
        }
        let Some(iface) = self.tables.iface(port) else {
            return Verdict::Drop(DropReason::NoInterface);
        };
        if !iface.owns(l.src) {
            return Verdict::Drop(DropReason::Spoofed);
        }
        let vni = iface.spec.vni;
        if !frame.set_len(ETH_LEN + l.l3_len) {
            return Verdict::Drop(DropReason::Malformed);
        }
        self.route_from_vm(now, port, vni, frame, l)
    }

    /// ARP is handled before; this answers ND, DHCP and pings to the gateway, and drops the
    /// link-local chatter a VM sends. `None` means: forward the packet.
    fn local_service(
        &mut self,
        port: PortId,
        frame: &mut Frame<'_>,
        l: &mut L3,
        our_mac: Mac,
    ) -> Option<Verdict> {
        let iface = self.tables.iface(port)?;
        let answered = |ok: bool| {
            Some(if ok {
                Verdict::Tx(port)
            } else {
                Verdict::Drop(DropReason::NoAnswer)
            })
        };
        if l.proto == proto::ICMPV6 && (l.icmp.0 == 133 || l.icmp.0 == 135) {
            let own: Vec<IpAddr> = iface.spec.ipv6.map(IpAddr::V6).into_iter().collect();
            return answered(nd_reply(frame, l, our_mac, &own, true));
        }
        if l.proto == proto::UDP {
            let lease = Lease {
                ipv4: iface.spec.ipv4,
                ipv6: iface.spec.ipv6,
                hostname: iface.spec.hostname.as_deref(),
                config: &self.cfg.dhcp,
            };
            if !l.v6 && l.dport == 67 {
                return answered(dhcpv4_reply(frame, l, our_mac, &lease));
            }
            if l.v6 && l.dport == 547 {
                return answered(dhcpv6_reply(frame, l, our_mac, &lease));
            }
        }
        let to_gateway = l.dst == IpAddr::V4(GATEWAY_V4) || l.dst == IpAddr::V6(GATEWAY_V6);
        if to_gateway && l.is_echo_request() {
            echo_reply(frame, l);
            let vm = src_mac(frame.data());
            set_eth(frame, vm, our_mac, l.v6);
            return Some(Verdict::Tx(port));
        }
        let chatter = match l.dst {
            IpAddr::V4(a) => a.is_broadcast() || a.is_multicast() || to_gateway,
            IpAddr::V6(a) => a.is_multicast() || a.is_unicast_link_local(),
        };
        chatter.then_some(Verdict::Drop(DropReason::NoAnswer))
    }

    fn route_from_vm(
        &mut self,
        now: MonoTime,
        port: PortId,
        vni: Vni,
        frame: &mut Frame<'_>,
        mut l: L3,
    ) -> Verdict {
        let key = FlowKey::new(vni, Side::Vm, l.src, l.dst, l.proto, l.sport, l.dport);
        let (idx, dir) = match self.ct.lookup(now, &key, l.tcp_flags) {
            Some(hit) => hit,
            None => match self.new_vm_flow(now, port, vni, &l, key) {
                Ok(hit) => hit,
                Err(Fail::Drop(r)) => return Verdict::Drop(r),
                Err(Fail::Icmp(e)) => return self.icmp(now, port, frame, &l, e),
            },
        };
        if !self.flow_allowed(idx) {
            return Verdict::Drop(DropReason::Firewall);
        }
        let route_gen = self.route_gen;
        let Some(flow) = self.ct.flow(idx) else {
            return Verdict::Drop(DropReason::NoFlow);
        };
        apply_xlate(frame, &mut l, flow, dir);
        let xlate = flow.xlate;
        if !decrement_ttl(frame, &mut l) {
            return self.icmp(now, port, frame, &l, IcmpError::TimeExceeded);
        }
        if let Some(v) = self.send_cached(idx, port, dir, frame, &l) {
            return v;
        }
        let src_underlay = self.source_underlay(port, &xlate, dir);
        let (verdict, hop) = self.send(now, port, vni, frame, l, src_underlay, 0);
        if let (Some(hop), Some(f)) = (hop, self.ct.flow_mut(idx)) {
            f.egress = Some(Egress {
                dir,
                port,
                route_gen,
                hop,
            });
        }
        verdict
    }

    /// Sends a packet the way its flow's cached decision says, if it has a valid one for
    /// this direction and port. `None`: take the full path ([`Self::send`]), which also
    /// answers packets too big for the underlay.
    fn send_cached(
        &self,
        idx: u32,
        port: PortId,
        dir: Dir,
        frame: &mut Frame<'_>,
        l: &L3,
    ) -> Option<Verdict> {
        let e = self
            .ct
            .flow(idx)?
            .egress
            .as_ref()
            .filter(|e| e.dir == dir && e.port == port && e.route_gen == self.route_gen)?;
        match &e.hop {
            EgressHop::Local(p) => Some(self.deliver(*p, frame, l.v6)),
            EgressHop::Uplink { .. } if l.l3_len > self.max_inner() => None,
            EgressHop::Uplink { port: up, header } => Some(if encap_with(frame, header) {
                Verdict::Tx(*up)
            } else {
                Verdict::Drop(DropReason::NoRoom)
            }),
        }
    }

    /// The longest inner packet the underlay carries after encapsulation.
    fn max_inner(&self) -> usize {
        usize::from(self.cfg.underlay_mtu).saturating_sub(crate::packet::parse::IPV6_LEN)
    }

    /// The underlay address a translated packet leaves from: the VIP's or NAT slot's own when
    /// its source was translated to them, else the interface's.
    fn source_underlay(&self, port: PortId, xlate: &Xlate, dir: Dir) -> Ipv6Addr {
        let Some(iface) = self.tables.iface(port) else {
            return Ipv6Addr::UNSPECIFIED;
        };
        let translated_src = match (xlate, dir) {
            (Xlate::Snat { ip, .. }, Dir::Orig) | (Xlate::Dnat { ip, .. }, Dir::Reply) => Some(*ip),
            _ => None,
        };
        match translated_src {
            Some(IpAddr::V4(ip)) if iface.vip.is_some_and(|(v, _)| v == ip) => {
                iface.vip.map_or(iface.underlay, |v| v.1)
            }
            Some(IpAddr::V4(ip)) if iface.nat.as_ref().is_some_and(|(n, _)| n.ip == ip) => {
                iface.nat.as_ref().map_or(iface.underlay, |n| n.1)
            }
            _ => iface.underlay,
        }
    }

    /// Routes a (translated) overlay packet: to a local VM, back into the pipeline for a local
    /// underlay address, or encapsulated to the uplink. Also returns the decision when a flow
    /// may cache it (delivery to a local VM, or encapsulation to the uplink; not recirculation
    /// or errors).
    #[allow(clippy::too_many_arguments)] // the packet, its route and where it came from
    fn send(
        &mut self,
        now: MonoTime,
        port: PortId,
        vni: Vni,
        frame: &mut Frame<'_>,
        l: L3,
        src_underlay: Ipv6Addr,
        depth: u8,
    ) -> (Verdict, Option<EgressHop>) {
        let Some((_, hop)) = self.tables.lpm.lookup(vni, l.dst) else {
            return (self.icmp(now, port, frame, &l, IcmpError::NoRoute), None);
        };
        let underlay = match hop {
            NextHop::Local(p) => return (self.deliver(p, frame, l.v6), Some(EgressHop::Local(p))),
            NextHop::Remote { underlay, .. } => underlay,
        };
        let max_inner = self.max_inner();
        if l.l3_len > max_inner {
            let mtu = u16::try_from(max_inner).unwrap_or(0);
            return (
                self.icmp(now, port, frame, &l, IcmpError::TooBig(mtu)),
                None,
            );
        }
        if self.tables.vnf(underlay).is_some() {
            if depth >= MAX_RECIRC
                || !encap(
                    frame,
                    l.v6,
                    (src_underlay, underlay),
                    (Mac::default(), Mac::default()),
                )
            {
                return (Verdict::Drop(DropReason::RecircLimit), None);
            }
            let v = match parse_ip(frame.data(), ETH_LEN, true) {
                Ok(outer) => self.decapsulated(now, frame, outer, depth + 1),
                Err(e) => parse_drop(e),
            };
            return (v, None);
        }
        let Some((up, macs)) = self.uplink_macs(underlay) else {
            return (Verdict::Drop(DropReason::NoRoute), None);
        };
        let header = encap_header(l.v6, (src_underlay, underlay), macs);
        if encap_with(frame, &header) {
            (
                Verdict::Tx(up),
                Some(EgressHop::Uplink { port: up, header }),
            )
        } else {
            (Verdict::Drop(DropReason::NoRoom), None)
        }
    }

    /// Hands an overlay packet to a VM: gateway MAC as source, the VM's learned MAC as
    /// destination (broadcast until it has spoken).
    pub(super) fn deliver(&self, port: PortId, frame: &mut Frame<'_>, v6: bool) -> Verdict {
        let Some(iface) = self.tables.iface(port) else {
            return Verdict::Drop(DropReason::NoInterface);
        };
        let dst = iface.vm_mac.unwrap_or(Mac::BROADCAST);
        set_eth(frame, dst, self.tables.ports[port.index()].mac, v6);
        Verdict::Tx(port)
    }
}
