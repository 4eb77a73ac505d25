//! Frame builders for tests, the simulator and the benchmark: well-formed Ethernet frames
//! emitted with smoltcp's wire module. Not used on the packet path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

use super::csum;
use super::parse::{ETH_LEN, IPV6_LEN, proto};

/// The MAC address builders use for "the VM".
pub const VM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The MAC address builders use for "the gateway".
pub const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

fn eth(ethertype: EthernetProtocol, payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; ETH_LEN + payload_len];
    let repr = EthernetRepr {
        src_addr: EthernetAddress(VM_MAC),
        dst_addr: EthernetAddress(GW_MAC),
        ethertype,
    };
    repr.emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    f
}

/// An Ethernet frame carrying an IP packet with transport bytes `l4` (whose checksum, for TCP,
/// UDP and ICMP, is filled in here).
pub fn ip_frame(src: IpAddr, dst: IpAddr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            fill_l4_checksum(&mut l4, protocol, IpAddr::V4(s), IpAddr::V4(d));
            let mut f = eth(EthernetProtocol::Ipv4, 20 + l4.len());
            let repr = Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::from(protocol),
                payload_len: l4.len(),
                hop_limit: 64,
            };
            let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
            repr.emit(&mut p, &ChecksumCapabilities::default());
            f[ETH_LEN + 20..].copy_from_slice(&l4);
            f
        }
        (s, d) => {
            let (s, d) = (v6_of(s), v6_of(d));
            fill_l4_checksum(&mut l4, protocol, IpAddr::V6(s), IpAddr::V6(d));
            let mut f = eth(EthernetProtocol::Ipv6, IPV6_LEN + l4.len());
            let repr = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::from(protocol),
                payload_len: l4.len(),
                hop_limit: 64,
            };
            repr.emit(&mut Ipv6Packet::new_unchecked(&mut f[ETH_LEN..]));
            f[ETH_LEN + IPV6_LEN..].copy_from_slice(&l4);
            f
        }
    }
}

fn v6_of(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// Fills the transport checksum of `l4` (TCP, UDP, ICMP, ICMPv6) for the given addresses.
pub(crate) fn fill_l4_checksum(l4: &mut [u8], protocol: u8, src: IpAddr, dst: IpAddr) {
    let off = match protocol {
        proto::TCP if l4.len() >= 20 => 16,
        proto::UDP if l4.len() >= 8 => 6,
        proto::ICMP | proto::ICMPV6 if l4.len() >= 4 => 2,
        _ => return,
    };
    l4[off] = 0;
    l4[off + 1] = 0;
    let seed = if protocol == proto::ICMP {
        0
    } else {
        pseudo_sum(src, dst, protocol, l4.len())
    };
    let mut c = csum::finish(csum::sum(l4, seed));
    if protocol == proto::UDP && c == 0 {
        c = 0xffff;
    }
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// The one's-complement sum of the pseudo-header for a transport checksum.
pub(crate) fn pseudo_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u32 {
    let mut s = 0u32;
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            s = csum::sum(&a.octets(), s);
            s = csum::sum(&b.octets(), s);
        }
        (a, b) => {
            s = csum::sum(&v6_of(a).octets(), s);
            s = csum::sum(&v6_of(b).octets(), s);
        }
    }
    let len32 = u32::try_from(len).unwrap_or(u32::MAX);
    s = csum::sum(&len32.to_be_bytes(), s);
    csum::sum(&[0, 0, 0, protocol], s)
}

/// A UDP/IPv4 frame with `payload` zero bytes of data.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    udp(
        Ipv4Addr::from(src).into(),
        Ipv4Addr::from(dst).into(),
        sport,
        dport,
        &vec![0; payload],
    )
}

/// A UDP frame carrying `data`.
pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8 + data.len()];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = u16::try_from(l4.len()).unwrap_or(u16::MAX);
    l4[4..6].copy_from_slice(&len.to_be_bytes());
    l4[8..].copy_from_slice(data);
    ip_frame(src, dst, proto::UDP, &l4)
}

/// A TCP frame with the given flags (0x02 SYN, 0x10 ACK, 0x01 FIN, 0x04 RST) and no data.
pub fn tcp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&1024u16.to_be_bytes());
    ip_frame(src, dst, proto::TCP, &l4)
}

/// An ICMP echo request (`request`) or reply frame, IPv4.
pub fn echo4(src: [u8; 4], dst: [u8; 4], ident: u16, request: bool) -> Vec<u8> {
    echo(
        Ipv4Addr::from(src).into(),
        Ipv4Addr::from(dst).into(),
        ident,
        request,
    )
}

/// An ICMP or ICMPv6 echo request (`request`) or reply frame.
pub fn echo(src: IpAddr, dst: IpAddr, ident: u16, request: bool) -> Vec<u8> {
    let v6 = src.is_ipv6();
    let ty = match (v6, request) {
        (false, true) => 8,
        (false, false) => 0,
        (true, true) => 128,
        (true, false) => 129,
    };
    let mut l4 = vec![0u8; 16];
    l4[0] = ty;
    l4[4..6].copy_from_slice(&ident.to_be_bytes());
    l4[6..8].copy_from_slice(&1u16.to_be_bytes());
    ip_frame(src, dst, if v6 { proto::ICMPV6 } else { proto::ICMP }, &l4)
}

/// An ARP request from the VM asking for `target`.
pub fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = eth(EthernetProtocol::Arp, 28);
    f[0..6].copy_from_slice(&[0xff; 6]);
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(VM_MAC),
        source_protocol_addr: Ipv4Addr::from(sender),
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: Ipv4Addr::from(target),
    };
    repr.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..]));
    f
}

/// Wraps an overlay frame's IP packet in an outer Ethernet + IPv6 header (IP-in-IPv6), as a
/// remote hypervisor would send it on the underlay.
pub fn encap(inner: &[u8], outer_src: Ipv6Addr, outer_dst: Ipv6Addr) -> Vec<u8> {
    let ip = &inner[ETH_LEN..];
    let nh = if ip.first().is_some_and(|b| b >> 4 == 6) {
        proto::IPV6
    } else {
        proto::IPIP
    };
    let mut f = eth(EthernetProtocol::Ipv6, IPV6_LEN + ip.len());
    let repr = Ipv6Repr {
        src_addr: outer_src,
        dst_addr: outer_dst,
        next_header: IpProtocol::from(nh),
        payload_len: ip.len(),
        hop_limit: 64,
    };
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut f[ETH_LEN..]));
    f[ETH_LEN + IPV6_LEN..].copy_from_slice(ip);
    f
}
