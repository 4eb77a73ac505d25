//! Scenario tests of the pipeline on the in-memory fabric: two hypervisors, VMs in two VNIs and
//! an "internet" interface, the same shape as the namespace scenarios.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrocore_runtime::{MonoTime, SeededRng};
use proptest::prelude::*;

use super::*;
use crate::api::proto::{ApiError, Reply, Request};
use crate::backend::memory::{Fabric, Outcome};
use crate::packet::build;
use crate::packet::parse::{Class, L3, classify, proto};
use crate::spec::*;
use crate::types::*;

pub(crate) const H0: usize = 0;
pub(crate) const H1: usize = 1;
const A: [u8; 4] = [10, 100, 0, 1];
const B: [u8; 4] = [10, 100, 0, 2];
const C: [u8; 4] = [10, 100, 0, 3];
const INET: [u8; 4] = [198, 51, 100, 10];
const VIP: [u8; 4] = [203, 0, 113, 5];
const NAT_IP: [u8; 4] = [203, 0, 113, 7];
const LB_IP: [u8; 4] = [203, 0, 113, 20];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn port(n: u16) -> PortId {
    PortId(n)
}

pub(crate) fn host(names: &[&str], prefix: u16, seed: u64) -> (Dataplane, PortId) {
    let mut ports: Vec<PortConfig> = names
        .iter()
        .enumerate()
        .map(|(i, n)| PortConfig {
            name: (*n).into(),
            kind: PortKind::Vm,
            mac: Mac([2, 0xfc, 0, 0, 0, u8::try_from(i).unwrap()]),
        })
        .collect();
    ports.push(PortConfig {
        name: "ul".into(),
        kind: PortKind::Uplink,
        mac: Mac([2, 0xfd, 0, 0, 0, u8::try_from(prefix).unwrap()]),
    });
    let cfg = PipelineConfig {
        underlay_prefix: Ipv6Addr::new(0xfd00, 0, 0, prefix, 0, 0, 0, 0),
        ..PipelineConfig::default()
    };
    let up = PortId(u16::try_from(names.len()).unwrap());
    (Dataplane::new(cfg, &ports, &mut SeededRng::new(seed)), up)
}

fn ok(r: Result<Reply, ApiError>) -> Reply {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn ul(r: Result<Reply, ApiError>) -> Ipv6Addr {
    match ok(r) {
        Reply::Underlay(a) => a,
        other => panic!("{other:?}"),
    }
}

fn iface(id: &str, vni: u32, a: [u8; 4], dev: &str) -> Request {
    Request::CreateInterface(InterfaceSpec {
        id: InterfaceId::new(id).unwrap(),
        vni: Vni(vni),
        ipv4: Some(Ipv4Addr::from(a)),
        ipv6: None,
        device: dev.into(),
        preferred_underlay: None,
        hostname: None,
    })
}

fn route(vni: u32, prefix: &str, nh_vni: u32, nh: Ipv6Addr) -> Request {
    Request::CreateRoute(RouteSpec {
        vni: Vni(vni),
        prefix: prefix.parse().unwrap(),
        nexthop_vni: Vni(nh_vni),
        nexthop_underlay: nh,
    })
}

/// The world: h0 has A and B (VNI 100); h1 has C (VNI 100), D (VNI 200, same IP as C) and
/// the internet interface (VNI 1). A has a VIP; A and C share a NAT IP; an LB on h0 balances
/// TCP 80 over A, B and C.
pub(crate) struct World {
    pub(crate) fabric: Fabric,
    pub(crate) now: MonoTime,
}

impl World {
    fn p(&mut self, h: usize, r: Request) -> Result<Reply, ApiError> {
        self.fabric.hosts[h].0.program(self.now, r)
    }

    pub(crate) fn new() -> Self {
        let mut fabric = Fabric::new();
        let (d0, u0) = host(&["tap-a", "tap-b"], 1, 1);
        let (d1, u1) = host(&["tap-c", "tap-d", "tap-inet"], 2, 2);
        fabric.add(d0, u0);
        fabric.add(d1, u1);
        let mut w = Self {
            fabric,
            now: MonoTime::from_nanos(1),
        };
        let ua = ul(w.p(H0, iface("a", 100, A, "tap-a")));
        let ub = ul(w.p(H0, iface("b", 100, B, "tap-b")));
        let uc = ul(w.p(H1, iface("c", 100, C, "tap-c")));
        ul(w.p(H1, iface("d", 200, C, "tap-d")));
        let ui = ul(w.p(H1, iface("inet", 1, INET, "tap-inet")));
        for h in [H0, H1] {
            ok(w.p(h, route(100, "0.0.0.0/0", 1, ui)));
        }
        ok(w.p(H0, route(100, "10.100.0.3/32", 100, uc)));
        ok(w.p(H1, route(100, "10.100.0.1/32", 100, ua)));
        ok(w.p(H1, route(100, "10.100.0.2/32", 100, ub)));
        let uvip = ul(w.p(
            H0,
            Request::CreateVip(VipSpec {
                interface: InterfaceId::new("a").unwrap(),
                ip: VIP.into(),
                preferred_underlay: None,
            }),
        ));
        ok(w.p(H1, route(1, "203.0.113.5/32", 100, uvip)));
        w
    }

    pub(crate) fn with_nat(mut self) -> Self {
        let nat = |id: &str, from, to| {
            Request::CreateNat(NatSpec {
                interface: InterfaceId::new(id).unwrap(),
                ip: NAT_IP.into(),
                ports: PortRange::new(from, to).unwrap(),
                preferred_underlay: None,
            })
        };
        let ub_nat = ul(self.p(H0, nat("b", 1024, 1088)));
        let uc_nat = ul(self.p(H1, nat("c", 1088, 1152)));
        let neigh = |ports: (u16, u16), underlay| {
            Request::CreateNeighborNat(NeighborNatSpec {
                ip: NAT_IP.into(),
                vni: Vni(100),
                ports: PortRange::new(ports.0, ports.1).unwrap(),
                underlay,
            })
        };
        ok(self.p(H0, neigh((1088, 1152), uc_nat)));
        ok(self.p(H1, neigh((1024, 1088), ub_nat)));
        // The "border" (the internet's VNI) sends all NAT IP traffic to h0.
        ok(self.p(H1, route(1, "203.0.113.7/32", 100, ub_nat)));
        self
    }

    pub(crate) fn with_lb(mut self) -> Self {
        let spec = LoadBalancerSpec {
            id: LbId::new("web").unwrap(),
            vni: Vni(100),
            ip: ip(LB_IP),
            ports: vec![LbPort {
                proto: L4Proto::Tcp,
                port: 80,
            }],
            preferred_underlay: None,
        };
        let ulb = ul(self.p(H0, Request::CreateLoadBalancer(spec)));
        ok(self.p(H1, route(1, "203.0.113.20/32", 100, ulb)));
        for (h, id) in [(H0, "a"), (H0, "b"), (H1, "c")] {
            let pfx = PrefixSpec {
                interface: InterfaceId::new(id).unwrap(),
                prefix: "203.0.113.20/32".parse().unwrap(),
                kind: PrefixKind::LoadBalancer,
                preferred_underlay: None,
            };
            let t = ul(self.p(h, Request::CreatePrefix(pfx)));
            ok(self.p(
                H0,
                Request::CreateLbTarget {
                    lb: LbId::new("web").unwrap(),
                    target: t,
                },
            ));
        }
        self
    }

    pub(crate) fn send(&mut self, h: usize, p: u16, frame: &[u8]) -> Outcome {
        self.fabric.inject(self.now, h, port(p), frame)
    }

    fn check(&self) {
        for (dp, _) in &self.fabric.hosts {
            dp.check_invariants();
        }
    }
}

fn delivered(o: &Outcome) -> (usize, u16, L3) {
    match o {
        Outcome::Delivered { host, port, frame } => match classify(frame) {
            Ok(Class::Ip(l)) => (*host, port.0, l),
            other => panic!("not IP: {other:?}"),
        },
        other => panic!("not delivered: {other:?}"),
    }
}

#[test]
fn same_vni_crosses_hypervisors_both_ways() {
    let mut w = World::new();
    let (h, p, l) = delivered(&w.send(H0, 0, &build::echo4(A, C, 7, true)));
    assert_eq!((h, p, l.src, l.dst, l.ttl), (H1, 0, ip(A), ip(C), 63));
    let (h, p, l) = delivered(&w.send(H1, 0, &build::echo4(C, A, 7, false)));
    assert_eq!((h, p, l.dst), (H0, 0, ip(A)));
    let tcp = build::tcp(ip(A), ip(C), 40000, 22, 0x02);
    assert_eq!(delivered(&w.send(H0, 0, &tcp)).1, 0);
    w.check();
}

#[test]
fn same_host_delivery_skips_the_underlay() {
    let mut w = World::new();
    let (h, p, l) = delivered(&w.send(H0, 0, &build::udp4(A, B, 1, 2, 10)));
    assert_eq!((h, p, l.dst), (H0, 1, ip(B)));
}

#[test]
fn other_vnis_are_unreachable() {
    let mut w = World::new();
    // D (VNI 200) has C's address but no route to A in VNI 200: it gets "net unreachable".
    let (h, p, l) = delivered(&w.send(H1, 1, &build::echo4(C, A, 9, true)));
    assert_eq!((h, p, l.proto, l.icmp.0), (H1, 1, proto::ICMP, 3));
    // A's packets to C's address reach C (VNI 100), never D.
    let (_, p, _) = delivered(&w.send(H0, 0, &build::udp4(A, C, 5, 6, 0)));
    assert_eq!(p, 0);
    w.check();
}

#[test]
fn a_virtual_ip_reaches_its_vm_and_replies_come_from_it() {
    let mut w = World::new();
    let (h, p, l) = delivered(&w.send(H1, 2, &build::tcp(ip(INET), ip(VIP), 5555, 22, 0x02)));
    assert_eq!((h, p, l.dst, l.dport), (H0, 0, ip(A), 22));
    let (h, p, l) = delivered(&w.send(H0, 0, &build::tcp(ip(A), ip(INET), 22, 5555, 0x12)));
    assert_eq!((h, p, l.src, l.sport), (H1, 2, ip(VIP), 22));
    // A's own outbound traffic leaves from the VIP too.
    let (_, p, l) = delivered(&w.send(H0, 0, &build::udp4(A, INET, 999, 53, 4)));
    assert_eq!((p, l.src, l.sport), (2, ip(VIP), 999));
    w.check();
}

#[test]
fn nat_uses_the_slot_and_neighbour_nat_relays_replies() {
    let mut w = World::new().with_nat();
    for (h, vm, src, slot) in [(H0, 1, B, 1024..1088), (H1, 0, C, 1088..1152)] {
        let (_, p, l) = delivered(&w.send(h, vm, &build::udp4(src, INET, 4000, 53, 8)));
        assert_eq!((p, l.src), (2, ip(NAT_IP)));
        assert!(slot.contains(&l.sport), "port {} outside {slot:?}", l.sport);
        // The reply goes to h0 (the border's choice); C's ports are relayed to h1.
        let back = build::udp4(INET, NAT_IP, 53, l.sport, 8);
        let (rh, rp, r) = delivered(&w.send(H1, 2, &back));
        assert_eq!((rh, rp, r.dst, r.dport), (h, vm, ip(src), 4000));
    }
    // Unsolicited traffic to the NAT IP is dropped; pings to it are answered.
    match w.send(H1, 2, &build::udp4(INET, NAT_IP, 53, 1030, 8)) {
        Outcome::Dropped { reason, .. } => assert_eq!(reason, DropReason::NoFlow),
        other => panic!("{other:?}"),
    }
    let (_, p, l) = delivered(&w.send(H1, 2, &build::echo4(INET, NAT_IP, 3, true)));
    assert_eq!((p, l.src, l.icmp.0), (2, ip(NAT_IP), 0));
    w.check();
}

#[test]
fn nat_ports_run_out_and_are_counted() {
    let mut w = World::new().with_nat();
    let mut seen = std::collections::BTreeSet::new();
    for sport in 0..80u16 {
        match w.send(H0, 1, &build::udp4(B, INET, 10_000 + sport, 53, 0)) {
            Outcome::Delivered { frame, .. } => {
                let Ok(Class::Ip(l)) = classify(&frame) else {
                    panic!()
                };
                assert!(seen.insert(l.sport), "port reused for the same destination");
            }
            Outcome::Dropped { reason, .. } => assert_eq!(reason, DropReason::NatExhausted),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen.len(), 64);
    let stats = w.fabric.hosts[H0].0.stats();
    assert_eq!(stats.ports[1].1.drops_for(DropReason::NatExhausted), 16);
}

#[test]
fn maglev_spreads_flows_and_keeps_each_on_one_target() {
    let mut w = World::new().with_lb();
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..1000u16 {
        let syn = build::tcp(ip(INET), ip(LB_IP), 10_000 + i, 80, 0x02);
        let (h, p, l) = delivered(&w.send(H1, 2, &syn));
        assert_eq!(l.dst, ip(LB_IP), "direct server return: no DNAT");
        *counts.entry((h, p)).or_insert(0) += 1;
        let again = delivered(&w.send(
            H1,
            2,
            &build::tcp(ip(INET), ip(LB_IP), 10_000 + i, 80, 0x10),
        ));
        assert_eq!((again.0, again.1), (h, p), "flow moved");
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    for c in counts.values() {
        assert!((250..=420).contains(c), "{counts:?}");
    }
    // Ports the LB does not balance are dropped; pings are answered.
    assert!(matches!(
        w.send(H1, 2, &build::tcp(ip(INET), ip(LB_IP), 1, 81, 2)),
        Outcome::Dropped { .. }
    ));
    let (_, _, l) = delivered(&w.send(H1, 2, &build::echo4(INET, LB_IP, 1, true)));
    assert_eq!(l.src, ip(LB_IP));
    w.check();
}

fn rule(
    id: &str,
    iface: &str,
    dir: Direction,
    action: FirewallAction,
    prio: u32,
    dport: u16,
) -> Request {
    Request::CreateFirewallRule(FirewallRuleSpec {
        interface: InterfaceId::new(iface).unwrap(),
        id: RuleId::new(id).unwrap(),
        direction: dir,
        action,
        priority: prio,
        source: "0.0.0.0/0".parse().unwrap(),
        destination: "0.0.0.0/0".parse().unwrap(),
        protocol: ProtocolFilter::L4 {
            proto: L4Proto::Tcp,
            src_ports: FirewallPorts::ANY,
            dst_ports: FirewallPorts {
                first: dport,
                last: dport,
            },
        },
    })
}

#[test]
fn firewall_is_enforced_statefully_and_by_priority() {
    let mut w = World::new();
    let syn = |d| build::tcp(ip(A), ip(C), 40000 + d, d, 0x02);
    assert!(matches!(w.send(H0, 0, &syn(80)), Outcome::Delivered { .. }));
    ok(w.p(
        H1,
        rule(
            "ssh",
            "c",
            Direction::Ingress,
            FirewallAction::Accept,
            100,
            22,
        ),
    ));
    assert!(matches!(w.send(H0, 0, &syn(22)), Outcome::Delivered { .. }));
    // Rules apply to existing flows too: the port-80 flow is now denied.
    match w.send(H0, 0, &syn(80)) {
        Outcome::Dropped { host, reason } => assert_eq!((host, reason), (H1, DropReason::Firewall)),
        other => panic!("{other:?}"),
    }
    // Replies of the allowed flow pass, and C's own traffic (no egress rules) too.
    assert!(matches!(
        w.send(H1, 0, &build::tcp(ip(C), ip(A), 22, 40022, 0x12)),
        Outcome::Delivered { .. }
    ));
    assert!(matches!(
        w.send(H1, 0, &build::udp4(C, A, 1, 2, 0)),
        Outcome::Delivered { .. }
    ));
    // A higher-priority drop beats the accept.
    ok(w.p(
        H1,
        rule(
            "no-ssh",
            "c",
            Direction::Ingress,
            FirewallAction::Drop,
            10,
            22,
        ),
    ));
    assert!(matches!(
        w.send(H0, 0, &build::tcp(ip(A), ip(C), 1, 22, 0x02)),
        Outcome::Dropped { .. }
    ));
    // Egress rules of A: allow only 443; everything else out of A is dropped at h0.
    ok(w.p(
        H0,
        rule(
            "https",
            "a",
            Direction::Egress,
            FirewallAction::Accept,
            1,
            443,
        ),
    ));
    match w.send(H0, 0, &build::tcp(ip(A), ip(C), 2, 23, 0x02)) {
        Outcome::Dropped { host, reason } => assert_eq!((host, reason), (H0, DropReason::Firewall)),
        other => panic!("{other:?}"),
    }
    w.check();
}

#[test]
fn programming_is_idempotent_and_names_conflicts() {
    let mut w = World::new();
    let again = w.p(H0, iface("a", 100, A, "tap-a"));
    assert!(matches!(again, Ok(Reply::Underlay(_))));
    let busy = w
        .p(H0, iface("x", 100, [10, 100, 0, 9], "tap-b"))
        .unwrap_err();
    assert!(
        matches!(&busy, ApiError::Conflict(m) if m.contains("tap-b")),
        "{busy}"
    );
    ok(w.p(H0, Request::DeleteInterface(InterfaceId::new("b").unwrap())));
    let clash = w.p(H0, iface("x", 100, A, "tap-b")).unwrap_err();
    assert!(
        matches!(&clash, ApiError::Conflict(m) if m.contains("10.100.0.1") && m.contains("VNI 100")),
        "{clash}"
    );
    assert!(
        matches!(w.p(H0, iface("x", 200, A, "tap-b")), Ok(Reply::Underlay(_))),
        "same IP, other VNI"
    );
    let w2 = World::new().with_nat();
    let mut w2 = w2;
    let overlap = Request::CreateNat(NatSpec {
        interface: InterfaceId::new("a").unwrap(),
        ip: NAT_IP.into(),
        ports: PortRange::new(1080, 1100).unwrap(),
        preferred_underlay: None,
    });
    let e = w2.p(H0, overlap).unwrap_err();
    assert!(
        matches!(&e, ApiError::Conflict(m) if m.contains("overlaps")),
        "{e}"
    );
    assert_eq!(
        ok(w2.p(H0, Request::DeleteInterface(InterfaceId::new("b").unwrap()))),
        Reply::Deleted { existed: true }
    );
    assert_eq!(
        ok(w2.p(H0, Request::DeleteInterface(InterfaceId::new("b").unwrap()))),
        Reply::Deleted { existed: false }
    );
    w2.check();
}

#[test]
fn arp_dhcp_and_nd_are_answered() {
    let mut w = World::new();
    let (h, p) = match w.send(H0, 0, &build::arp_request(A, crate::GATEWAY_V4.octets())) {
        Outcome::Delivered { host, port, .. } => (host, port.0),
        other => panic!("{other:?}"),
    };
    assert_eq!((h, p), (H0, 0));
    let discover = dhcp_discover();
    let (_, p, l) = delivered(&w.send(H0, 0, &discover));
    assert_eq!((p, l.sport, l.dport), (0, 67, 68));
    let Outcome::Delivered { frame, .. } = w.send(H0, 0, &discover) else {
        panic!()
    };
    let pkt = smoltcp::wire::DhcpPacket::new_checked(&frame[l.l4 + 8..]).unwrap();
    let repr = smoltcp::wire::DhcpRepr::parse(&pkt).unwrap();
    assert_eq!(repr.your_ip, Ipv4Addr::from(A));
    assert_eq!(repr.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 255)));
    assert!(pkt.options().any(|o| o.kind == 121), "static route option");
}

pub(crate) fn dhcp_discover() -> Vec<u8> {
    use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress};
    let repr = DhcpRepr {
        message_type: DhcpMessageType::Discover,
        transaction_id: 42,
        secs: 0,
        client_hardware_address: EthernetAddress(build::VM_MAC),
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: None,
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut DhcpPacket::new_unchecked(&mut b[..]))
        .unwrap();
    build::udp(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V4(Ipv4Addr::BROADCAST),
        68,
        67,
        &b,
    )
}

fn frames() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        Just(build::echo4(A, C, 1, true)),
        Just(build::tcp(ip(INET), ip(LB_IP), 5, 80, 2)),
        Just(build::udp4(B, INET, 4, 53, 20)),
        Just(build::arp_request(A, [169, 254, 0, 1])),
        Just(dhcp_discover()),
        Just(build::encap(
            &build::udp4(INET, NAT_IP, 53, 1030, 4),
            "fd00::1".parse().unwrap(),
            "fd00::2".parse().unwrap()
        )),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (
            valid,
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            any::<usize>()
        )
            .prop_map(|(mut f, flips, cut)| {
                for (i, b) in flips {
                    let n = f.len();
                    f[i % n] = b;
                }
                let keep = f.len() - cut % 8;
                f.truncate(keep);
                f
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_never_panic_and_counters_account_for_every_packet(
        inputs in proptest::collection::vec((0usize..2, 0u16..4, frames()), 1..24)
    ) {
        let mut w = World::new().with_nat().with_lb();
        for (h, p, f) in inputs {
            let p = p % (w.fabric.hosts[h].1.0 + 1);
            let _ = w.send(h, p, &f);
            w.now = w.now + Duration::from_millis(100);
        }
        w.check();
    }
}

/// One host with interface A on tap-a and a route 10.200.0.0/16 to `nh`.
fn one_host(nh: Ipv6Addr) -> (Dataplane, PortId) {
    let (mut dp, up) = host(&["tap-a"], 1, 7);
    ul(dp.program(MonoTime::ZERO, iface("a", 100, A, "tap-a")));
    ok(dp.program(MonoTime::ZERO, route(100, "10.200.0.0/16", 100, nh)));
    (dp, up)
}

fn outer_of(dp: &mut Dataplane, port: PortId, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = crate::backend::memory::PacketBuf::default();
    buf.load(frame);
    let v = buf.process(dp, MonoTime::from_nanos(1), port);
    (v, buf.bytes().to_vec())
}

#[test]
fn cached_forwarding_follows_route_and_neighbour_changes() {
    let r1: Ipv6Addr = "fd00:0:0:9::1".parse().unwrap();
    let r2: Ipv6Addr = "fd00:0:0:9::2".parse().unwrap();
    let (mut dp, up) = one_host(r1);
    let pkt = build::udp4(A, [10, 200, 0, 1], 1000, 80, 10);
    let dst = |f: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
    for _ in 0..3 {
        let (v, f) = outer_of(&mut dp, port(0), &pkt);
        assert_eq!((v, dst(&f)), (Verdict::Tx(up), r1));
    }
    // A new route for the same flow: the cached decision must not survive.
    let prefix: Cidr = "10.200.0.0/16".parse().unwrap();
    ok(dp.program(
        MonoTime::ZERO,
        Request::DeleteRoute {
            vni: Vni(100),
            prefix,
        },
    ));
    ok(dp.program(MonoTime::ZERO, route(100, "10.200.0.0/16", 100, r2)));
    let (v, f) = outer_of(&mut dp, port(0), &pkt);
    assert_eq!((v, dst(&f)), (Verdict::Tx(up), r2));
    // The next hop speaks from a MAC of its own: later packets are addressed to it.
    let mut from_r2 = build::encap(
        &build::udp4(C, A, 1, 2, 0),
        r2,
        "fd00:0:0:1::99".parse().unwrap(),
    );
    from_r2[6..12].copy_from_slice(&[2, 0x42, 0, 0, 0, 1]);
    let _ = outer_of(&mut dp, up, &from_r2);
    let (v, f) = outer_of(&mut dp, port(0), &pkt);
    assert_eq!(
        (v, &f[0..6]),
        (Verdict::Tx(up), &[2u8, 0x42, 0, 0, 0, 1][..])
    );
    dp.check_invariants();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A burst gives exactly what the same frames one at a time give: verdicts, bytes and
    /// counters.
    #[test]
    fn a_burst_equals_its_frames_one_by_one(
        inputs in proptest::collection::vec((0u16..3, prop_oneof![
            frames(),
            // Forwarded overlay flows (a few, so that later packets hit cached decisions).
            (0u16..4, 0u8..3).prop_map(|(sport, dst)| build::udp4(A, [10, 200, 0, dst], sport, 80, 10)),
        ]), 1..70)
    ) {
        use crate::backend::memory::{PacketBuf, process_burst};
        let r1: Ipv6Addr = "fd00:0:0:9::1".parse().unwrap();
        let (mut single, _) = one_host(r1);
        let (mut burst, _) = one_host(r1);
        let now = MonoTime::from_nanos(1);
        // Runs of frames from one port, as a backend receives them.
        for p in 0u16..2 {
            let mine: Vec<&Vec<u8>> =
                inputs.iter().filter(|(q, _)| q % 2 == p).map(|(_, f)| f).collect();
            let mut bufs: Vec<PacketBuf> = mine
                .iter()
                .map(|f| {
                    let mut b = PacketBuf::default();
                    b.load(f);
                    b
                })
                .collect();
            let mut verdicts = vec![Verdict::Drop(DropReason::Malformed); bufs.len()];
            process_burst(&mut bufs, &mut burst, now, port(p), &mut verdicts);
            for ((f, b), v) in mine.iter().zip(&bufs).zip(&verdicts) {
                let (want, bytes) = outer_of(&mut single, port(p), f);
                prop_assert_eq!(*v, want);
                prop_assert_eq!(b.bytes(), &bytes[..]);
            }
        }
        prop_assert_eq!(format!("{:?}", single.stats()), format!("{:?}", burst.stats()));
        burst.check_invariants();
    }
}
