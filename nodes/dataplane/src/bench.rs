//! Benchmark drivers for `ferrocore bench dataplane`: the pipeline in memory on the overlay,
//! NAT and load-balancer paths, its cost as tables grow, and (with DPDK) forwarding through the
//! DPDK backend. The cli prints the figures next to `dpdk-testpmd`'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ferrocore_runtime::{Clock, MonoTime, SeededRng, SystemClock};

use crate::api::proto::Request;
use crate::backend::memory::{PacketBuf, process_burst};
use crate::packet::build;
use crate::pipeline::{BURST_MAX, Dataplane, PipelineConfig, PortConfig, Verdict};
use crate::spec::*;
use crate::tables::PortKind;
use crate::types::*;

/// A measured case.
#[derive(Clone, Debug)]
pub struct Figure {
    /// What was measured.
    pub case: String,
    /// Frame size in bytes.
    pub frame_len: usize,
    /// Packets processed.
    pub packets: u64,
    /// Packets forwarded (the rest were dropped: a correct run forwards all).
    pub forwarded: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// CPU time of the measuring thread: with other processes competing for the cores it is
    /// a steadier measure than wall time (it leaves out the time the thread was not running).
    pub cpu: Duration,
}

impl Figure {
    /// Millions of packets per second on one core.
    pub fn mpps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    /// Nanoseconds per packet.
    pub fn ns_per_packet(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.packets.max(1) as f64
    }

    /// CPU nanoseconds per packet (see [`Self::cpu`]).
    pub fn cpu_ns_per_packet(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.packets.max(1) as f64
    }
}

/// The calling thread's CPU time so far (zero if the OS does not say).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out parameter; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// Which path a case exercises.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Path {
    /// VM → remote VM in the same VNI (IP-in-IPv6 encapsulation).
    Overlay,
    /// VM → internet through the NAT gateway (SNAT, then encapsulation).
    Nat,
    /// Underlay → load balancer → re-encapsulation to a Maglev-chosen target.
    LoadBalancer,
}

const VM_A: [u8; 4] = [10, 100, 0, 1];
const VM_B: [u8; 4] = [10, 100, 0, 2];
const LB_IP: [u8; 4] = [203, 0, 113, 20];
const REMOTE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 9, 0, 0, 0, 1);

fn must(dp: &mut Dataplane, req: Request) {
    if let Err(e) = dp.program(MonoTime::ZERO, req.clone()) {
        panic!("benchmark setup {req:?} refused: {e}");
    }
}

/// A one-host data plane with two VMs (A plain, B behind NAT), a load balancer with three remote
/// targets, `routes` extra /32 routes in the overlay VNI, and room for `flows` flows.
pub fn bench_dataplane(routes: u32, flows: usize) -> (Dataplane, Ipv6Addr) {
    let ports = [
        PortConfig {
            name: "vm0".into(),
            kind: PortKind::Vm,
            mac: Mac([2, 0xfc, 0, 0, 0, 0]),
        },
        PortConfig {
            name: "vm1".into(),
            kind: PortKind::Vm,
            mac: Mac([2, 0xfc, 0, 0, 0, 1]),
        },
        PortConfig {
            name: "uplink".into(),
            kind: PortKind::Uplink,
            mac: Mac([2, 0xfd, 0, 0, 0, 0]),
        },
    ];
    // A jumbo underlay, so 1500-byte overlay frames fit after encapsulation.
    let cfg = PipelineConfig {
        conntrack_capacity: flows.max(1 << 16) * 2,
        underlay_mtu: 9000,
        ..PipelineConfig::default()
    };
    let mut dp = Dataplane::new(cfg, &ports, &mut SeededRng::new(1));
    for (id, ip, dev) in [("a", VM_A, "vm0"), ("b", VM_B, "vm1")] {
        must(
            &mut dp,
            Request::CreateInterface(InterfaceSpec {
                id: InterfaceId::new(id).unwrap_or_else(|e| panic!("{e}")),
                vni: Vni(100),
                ipv4: Some(ip.into()),
                ipv6: None,
                device: dev.into(),
                preferred_underlay: None,
                hostname: None,
            }),
        );
    }
    let route = |prefix: &str, nh| {
        Request::CreateRoute(RouteSpec {
            vni: Vni(100),
            prefix: prefix.parse().unwrap_or_else(|e| panic!("{e}")),
            nexthop_vni: Vni(100),
            nexthop_underlay: nh,
        })
    };
    must(&mut dp, route("10.200.0.0/16", REMOTE));
    must(&mut dp, route("0.0.0.0/0", REMOTE));
    for i in 0..routes {
        let a = Ipv4Addr::from(0x0a80_0000 + i);
        let nh = Ipv6Addr::from(u128::from(REMOTE) + u128::from(i % 64));
        must(&mut dp, route(&format!("{a}/32"), nh));
    }
    must(
        &mut dp,
        Request::CreateNat(NatSpec {
            interface: InterfaceId::new("b").unwrap_or_else(|e| panic!("{e}")),
            ip: Ipv4Addr::new(203, 0, 113, 7),
            ports: PortRange::new(1024, 65535).unwrap_or_else(|e| panic!("{e}")),
            preferred_underlay: None,
        }),
    );
    let lb_ul = add_lb(&mut dp);
    (dp, lb_ul)
}

/// The benchmark's load balancer (UDP 80) with three remote targets; returns its underlay.
fn add_lb(dp: &mut Dataplane) -> Ipv6Addr {
    let lb = LbId::new("web").unwrap_or_else(|e| panic!("{e}"));
    let lb_ul = match dp.program(
        MonoTime::ZERO,
        Request::CreateLoadBalancer(LoadBalancerSpec {
            id: lb.clone(),
            vni: Vni(100),
            ip: IpAddr::V4(LB_IP.into()),
            ports: vec![LbPort {
                proto: L4Proto::Udp,
                port: 80,
            }],
            preferred_underlay: None,
        }),
    ) {
        Ok(crate::api::proto::Reply::Underlay(a)) => a,
        other => panic!("load balancer: {other:?}"),
    };
    for t in 1..=3u16 {
        must(
            dp,
            Request::CreateLbTarget {
                lb: lb.clone(),
                target: Ipv6Addr::new(0xfd00, 0, 0, 9, 0, 0, 1, t),
            },
        );
    }
    lb_ul
}

/// The frame template and ingress port of a path, padded to `frame_len`.
pub fn template(path: Path, frame_len: usize, lb_underlay: Ipv6Addr) -> (Vec<u8>, PortId) {
    let overhead = 14 + 20 + 8;
    let payload = frame_len.saturating_sub(overhead);
    match path {
        Path::Overlay => (
            build::udp4(VM_A, [10, 200, 0, 1], 1000, 80, payload),
            PortId(0),
        ),
        Path::Nat => (
            build::udp4(VM_B, [198, 51, 100, 1], 1000, 80, payload),
            PortId(1),
        ),
        Path::LoadBalancer => {
            let inner = build::udp4(
                [198, 51, 100, 1],
                LB_IP,
                1000,
                80,
                payload.saturating_sub(40),
            );
            (
                build::encap(
                    &inner,
                    Ipv6Addr::new(0xfd00, 0, 0, 8, 0, 0, 0, 1),
                    lb_underlay,
                ),
                PortId(2),
            )
        }
    }
}

/// Writes flow number `flow` into a frame (source port, and destination address bits), so
/// `flows` distinct flows cycle; checksums are not fixed (the pipeline does not verify them).
pub fn patch_flow(frame: &mut [u8], path: Path, flow: u32, routes: u32) {
    let l3 = if path == Path::LoadBalancer {
        14 + 40
    } else {
        14
    };
    let sport = 1024 + (flow % 60_000);
    frame[l3 + 20..l3 + 22].copy_from_slice(&u16::try_from(sport).unwrap_or(0).to_be_bytes());
    let hi = flow / 60_000;
    match path {
        Path::Overlay if routes > 0 => {
            let dst = 0x0a80_0000 + (flow % routes);
            frame[l3 + 16..l3 + 20].copy_from_slice(&dst.to_be_bytes());
        }
        Path::Overlay | Path::Nat => frame[l3 + 18..l3 + 20]
            .copy_from_slice(&u16::try_from(hi % 60_000).unwrap_or(0).to_be_bytes()),
        Path::LoadBalancer => frame[l3 + 14..l3 + 16]
            .copy_from_slice(&u16::try_from(hi % 60_000).unwrap_or(0).to_be_bytes()),
    }
}

/// Runs one case for about `time`: `flows` flows cycled, `routes` extra routes.
pub fn run_case(path: Path, frame_len: usize, flows: u32, routes: u32, time: Duration) -> Figure {
    let (mut dp, lb_ul) = bench_dataplane(routes, flows as usize);
    let (tpl, port) = template(path, frame_len, lb_ul);
    let mut buf = PacketBuf::default();
    let clock = SystemClock::new();
    // Warm-up: one packet per flow creates every flow, so the timed part is steady state.
    let now = clock.now();
    for f in 0..flows {
        buf.load(&tpl);
        patch_flow(buf.bytes_mut(), path, f, routes);
        buf.process(&mut dp, now, port);
    }
    let start = clock.now();
    let cpu_start = thread_cpu_time();
    let (mut packets, mut forwarded, mut flow) = (0u64, 0u64, 0u32);
    let mut step = 0x9e37_79b9u32 | 1;
    if flows.is_power_of_two() {
        step %= flows.max(1);
        step |= 1;
    }
    // Frames go through in bursts, as a DPDK port delivers them.
    let mut bufs = vec![PacketBuf::default(); BURST_MAX];
    let mut verdicts = [Verdict::Drop(crate::DropReason::Malformed); BURST_MAX];
    loop {
        for _ in 0..4_096 / BURST_MAX {
            for b in &mut bufs {
                b.load(&tpl);
                flow = (flow.wrapping_add(step)) % flows.max(1);
                patch_flow(b.bytes_mut(), path, flow, routes);
            }
            process_burst(&mut bufs, &mut dp, start, port, &mut verdicts);
            forwarded += verdicts
                .iter()
                .filter(|v| matches!(v, Verdict::Tx(_)))
                .count() as u64;
            packets += BURST_MAX as u64;
        }
        if clock.now().saturating_since(start) >= time {
            break;
        }
    }
    let case = format!("{path:?}");
    Figure {
        case,
        frame_len,
        packets,
        forwarded,
        elapsed: clock.now().saturating_since(start),
        cpu: thread_cpu_time().saturating_sub(cpu_start),
    }
}

/// Frames of a path for a capture file (DPDK benchmark input): `n` flows.
pub fn capture_frames(path: Path, frame_len: usize, n: u32) -> Vec<Vec<u8>> {
    let (_, lb_ul) = bench_dataplane(0, 1);
    let (tpl, _) = template(path, frame_len, lb_ul);
    (0..n)
        .map(|f| {
            let mut t = tpl.clone();
            patch_flow(&mut t, path, f, 0);
            t
        })
        .collect()
}

/// Writes frames as a classic pcap file (Ethernet link type).
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) -> std::io::Result<()> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for f in frames {
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out)
}
