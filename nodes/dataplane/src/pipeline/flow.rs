//! Flow decisions: what a new flow translates to, whether the firewall lets it through, and
//! which NAT port it gets.

use std::net::IpAddr;

use ferrocore_runtime::MonoTime;

use super::Dataplane;
use crate::conntrack::{Dir, Flow, FlowKey, Side, Xlate, addr_bits, bits_addr};
use crate::counters::DropReason;
use crate::fasthash::hash64;
use crate::firewall::Probe;
use crate::lpm::NextHop;
use crate::packet::frame::Frame;
use crate::packet::parse::L3;
use crate::packet::respond::IcmpError;
use crate::packet::rewrite::translate;
use crate::spec::{Direction, NatSpec};
use crate::types::{PortId, Vni};

/// NAT ports tried for one new flow before giving up: bounds the work a flow can cost when a
/// slot is nearly full (a slot is usually 64 to 1,024 ports).
const NAT_PROBE_MAX: u16 = 1_024;

/// Why a new flow was not created.
#[derive(Clone, Copy, Debug)]
pub(super) enum Fail {
    /// Drop the packet.
    Drop(DropReason),
    /// Answer with this ICMP error.
    Icmp(IcmpError),
}

/// Rewrites the packet as its flow says, for a packet travelling in `dir`.
pub(super) fn apply_xlate(frame: &mut Frame<'_>, l: &mut L3, flow: &Flow, dir: Dir) {
    let orig = flow.keys[0];
    match (flow.xlate, dir) {
        (Xlate::None, _) => {}
        (Xlate::Snat { ip, port }, Dir::Orig) => translate(frame, l, true, ip, port),
        (Xlate::Dnat { ip, port }, Dir::Orig) => translate(frame, l, false, ip, port),
        (Xlate::Snat { .. }, Dir::Reply) => {
            translate(frame, l, false, bits_addr(orig.src, orig.v6), orig.sport);
        }
        (Xlate::Dnat { .. }, Dir::Reply) => {
            translate(frame, l, true, bits_addr(orig.dst, orig.v6), orig.dport);
        }
    }
}

/// The key replies of a flow carry: the reverse of the translated original tuple (for ICMP
/// echo, the identifier sits in both port fields).
pub(super) fn reply_key(orig: FlowKey, xlate: Xlate, echo: bool, side: Side) -> FlowKey {
    let mut k = orig;
    match xlate {
        Xlate::None => {}
        Xlate::Snat { ip, port } => {
            k.src = addr_bits(ip);
            k.sport = port;
        }
        Xlate::Dnat { ip, port } => {
            k.dst = addr_bits(ip);
            k.dport = port;
        }
    }
    if echo {
        let id = if matches!(xlate, Xlate::Dnat { .. }) {
            k.dport
        } else {
            k.sport
        };
        k.sport = id;
        k.dport = id;
    }
    k.reversed(side)
}

impl Dataplane {
    /// Creates the flow for a VM's first packet towards a destination.
    pub(super) fn new_vm_flow(
        &mut self,
        now: MonoTime,
        port: PortId,
        vni: Vni,
        l: &L3,
        key: FlowKey,
    ) -> Result<(u32, Dir), Fail> {
        let Some((len, hop)) = self.tables.lpm.lookup(vni, l.dst) else {
            return Err(Fail::Icmp(IcmpError::NoRoute));
        };
        let iface = self
            .tables
            .iface(port)
            .ok_or(Fail::Drop(DropReason::NoInterface))?;
        // Only traffic leaving the virtual network (the default route) is translated.
        let public = len == 0 && !l.v6;
        let xlate = match (&iface.vip, &iface.nat) {
            (Some((vip, _)), _) if public => Xlate::Snat {
                ip: IpAddr::V4(*vip),
                port: l.sport,
            },
            (None, Some((nat, _))) if public => {
                let nat = nat.clone();
                let p = self
                    .nat_port(now, vni, &nat, l)
                    .ok_or(Fail::Drop(DropReason::NatExhausted))?;
                Xlate::Snat {
                    ip: IpAddr::V4(nat.ip),
                    port: p,
                }
            }
            _ => Xlate::None,
        };
        let local_dst = match hop {
            NextHop::Local(p) => Some(p),
            NextHop::Remote { .. } => None,
        };
        let reply_side = if local_dst.is_some() {
            Side::Vm
        } else {
            Side::Uplink
        };
        let mut flow = Flow::new(key, reply_key(key, xlate, l.is_echo(), reply_side), xlate);
        flow.ports = [Some(port), local_dst];
        flow.icmp = l.icmp;
        flow.fw_gen = self.tables.fw_gen;
        flow.allowed = self.verdict(&flow);
        if !flow.allowed {
            return Err(Fail::Drop(DropReason::Firewall));
        }
        Ok((self.ct.insert(now, flow), Dir::Orig))
    }

    /// A free port in the interface's NAT slot for this destination, chosen from a hash of the
    /// source so a restarted data plane picks the same ports (ports are shared across
    /// destinations: the binding is the reply tuple).
    fn nat_port(&self, now: MonoTime, vni: Vni, nat: &NatSpec, l: &L3) -> Option<u16> {
        let n = nat.ports.len();
        let start = hash64(&[
            u64::from(vni.0),
            lo64(addr_bits(l.src)),
            u64::from(l.sport),
            u64::from(l.proto),
        ]);
        let start = u16::try_from(start % u64::from(n)).unwrap_or(0);
        for i in 0..n.min(NAT_PROBE_MAX) {
            let port = nat.ports.from() + (start + i) % n;
            let xlate = Xlate::Snat {
                ip: IpAddr::V4(nat.ip),
                port,
            };
            let key = FlowKey::new(vni, Side::Vm, l.src, l.dst, l.proto, l.sport, l.dport);
            let reply = reply_key(key, xlate, l.is_echo(), Side::Uplink);
            if !self.ct.contains(now, &reply) {
                return Some(port);
            }
        }
        None
    }

    /// Whether the flow in `idx` is allowed, re-checking the rules if they changed since.
    pub(super) fn flow_allowed(&mut self, idx: u32) -> bool {
        let generation = self.tables.fw_gen;
        let Some(flow) = self.ct.flow(idx) else {
            return false;
        };
        if flow.fw_gen == generation {
            return flow.allowed;
        }
        let allowed = self.verdict(flow);
        if let Some(f) = self.ct.flow_mut(idx) {
            f.allowed = allowed;
            f.fw_gen = generation;
        }
        allowed
    }

    /// The firewall's verdict on a flow: egress rules of the interface it came from (on the
    /// original tuple), ingress rules of the interface it goes to (on the tuple as delivered).
    pub(super) fn verdict(&self, f: &Flow) -> bool {
        let k = f.keys[0];
        let mut probe = Probe {
            src: bits_addr(k.src, k.v6),
            dst: bits_addr(k.dst, k.v6),
            proto: k.proto,
            sport: k.sport,
            dport: k.dport,
            icmp: f.icmp,
        };
        let egress_ok = f.ports[0]
            .and_then(|p| self.tables.iface(p))
            .is_none_or(|i| i.firewall.allows(Direction::Egress, &probe));
        if let Xlate::Dnat { ip, port } = f.xlate {
            probe.dst = ip;
            probe.dport = port;
        }
        let ingress_ok = f.ports[1]
            .and_then(|p| self.tables.iface(p))
            .is_none_or(|i| i.firewall.allows(Direction::Ingress, &probe));
        egress_ok && ingress_ok
    }
}

/// The low 64 bits (hash input; truncation intended).
#[allow(clippy::cast_possible_truncation)]
pub(super) fn lo64(x: u128) -> u64 {
    x as u64 ^ (x >> 64) as u64
}
