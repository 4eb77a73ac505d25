//! In-place header edits: address and port translation with incremental checksums, TTL,
//! Ethernet headers, and IP-in-IPv6 encapsulation and decapsulation.

use std::net::{IpAddr, Ipv6Addr};

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, Ipv6Packet};

use super::csum;
use super::frame::Frame;
use super::parse::{ETH_LEN, IPV6_LEN, L3, proto};
use crate::types::Mac;

/// Hop limit of the outer IPv6 header.
const OUTER_HOP_LIMIT: u8 = 64;

/// Writes the Ethernet header at the frame's start.
pub(crate) fn set_eth(frame: &mut Frame<'_>, dst: Mac, src: Mac, v6: bool) {
    let ethertype = if v6 {
        EthernetProtocol::Ipv6
    } else {
        EthernetProtocol::Ipv4
    };
    let mut eth = EthernetFrame::new_unchecked(&mut frame.data_mut()[..ETH_LEN]);
    eth.set_dst_addr(EthernetAddress(dst.0));
    eth.set_src_addr(EthernetAddress(src.0));
    eth.set_ethertype(ethertype);
}

/// The source MAC of a frame (which must hold an Ethernet header).
pub(crate) fn src_mac(frame: &[u8]) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&frame[6..12]);
    Mac(m)
}

/// Offset of the transport checksum in the segment, if the protocol has one we maintain.
fn l4_csum_off(l: &L3) -> Option<usize> {
    match l.proto {
        proto::TCP => Some(16),
        proto::UDP => Some(6),
        proto::ICMP | proto::ICMPV6 => Some(2),
        _ => None,
    }
}

fn rd16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn wr16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

fn ip_bytes(ip: IpAddr) -> ([u8; 16], usize) {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (b, 4)
        }
        IpAddr::V6(a) => (a.octets(), 16),
    }
}

/// Rewrites the source (`src == true`) or destination address and port of the packet,
/// fixing the IPv4 header checksum and the transport checksum incrementally. For ICMP echo,
/// the "port" is the identifier. The address must be of the packet's family.
pub(crate) fn translate(frame: &mut Frame<'_>, l: &mut L3, src: bool, ip: IpAddr, port: u16) {
    let data = frame.data_mut();
    let (new, n) = ip_bytes(ip);
    let addr_off = match (l.v6, src) {
        (false, true) => l.l3 + 12,
        (false, false) => l.l3 + 16,
        (true, true) => l.l3 + 8,
        (true, false) => l.l3 + 24,
    };
    let mut old = [0u8; 16];
    old[..n].copy_from_slice(&data[addr_off..addr_off + n]);
    data[addr_off..addr_off + n].copy_from_slice(&new[..n]);
    if !l.v6 {
        let c = update_at(data, l.l3 + 10, &old[..n], &new[..n]);
        wr16(data, l.l3 + 10, c);
    }
    let echo = l.is_echo();
    if let Some(co) = l4_csum_off(l).map(|o| l.l4 + o) {
        let udp_zero = l.proto == proto::UDP && rd16(data, co) == 0 && !l.v6;
        let pseudo = l.proto != proto::ICMP;
        if !udp_zero {
            let mut c = rd16(data, co);
            if pseudo {
                c = csum::update_bytes(c, &old[..n], &new[..n]);
            }
            let port_off = if echo {
                Some(l.l4 + 4)
            } else if src {
                Some(l.l4)
            } else {
                Some(l.l4 + 2)
            };
            if let (Some(po), true) = (
                port_off,
                echo || l.proto == proto::TCP || l.proto == proto::UDP,
            ) {
                c = csum::update16(c, rd16(data, po), port);
            }
            if l.proto == proto::UDP && c == 0 {
                c = 0xffff;
            }
            wr16(data, co, c);
        }
    }
    if echo {
        wr16(data, l.l4 + 4, port);
        l.sport = port;
        l.dport = port;
    } else if l.proto == proto::TCP || l.proto == proto::UDP {
        wr16(data, if src { l.l4 } else { l.l4 + 2 }, port);
        if src { l.sport = port } else { l.dport = port }
    }
    if src { l.src = ip } else { l.dst = ip }
}

fn update_at(data: &[u8], at: usize, old: &[u8], new: &[u8]) -> u16 {
    csum::update_bytes(rd16(data, at), old, new)
}

/// Decrements the TTL / hop limit; false if it was already 1 or 0 (the packet must not be
/// forwarded).
pub(crate) fn decrement_ttl(frame: &mut Frame<'_>, l: &mut L3) -> bool {
    if l.ttl <= 1 {
        return false;
    }
    let data = frame.data_mut();
    if l.v6 {
        data[l.l3 + 7] = l.ttl - 1;
    } else {
        let old = rd16(data, l.l3 + 8);
        data[l.l3 + 8] = l.ttl - 1;
        let c = csum::update16(rd16(data, l.l3 + 10), old, rd16(data, l.l3 + 8));
        wr16(data, l.l3 + 10, c);
    }
    l.ttl -= 1;
    true
}

/// Length of the outer headers encapsulation adds in front of the inner IP packet (Ethernet
/// and IPv6); the inner packet's own Ethernet header is replaced, so the frame grows by 40.
pub(crate) const ENCAP_HEADER_LEN: usize = ETH_LEN + IPV6_LEN;

/// The outer Ethernet + IPv6 header of an encapsulated packet, with a zero payload length:
/// flows cache it and [`encap_with`] copies it in front of each packet.
pub(crate) fn encap_header(
    inner_v6: bool,
    (src, dst): (Ipv6Addr, Ipv6Addr),
    (ours, theirs): (Mac, Mac),
) -> [u8; ENCAP_HEADER_LEN] {
    let mut h = [0u8; ENCAP_HEADER_LEN];
    h[0..6].copy_from_slice(&theirs.0);
    h[6..12].copy_from_slice(&ours.0);
    h[12..14].copy_from_slice(&u16::from(EthernetProtocol::Ipv6).to_be_bytes());
    // Version 6, traffic class 0, flow label 0.
    h[ETH_LEN] = 0x60;
    h[ETH_LEN + 6] = if inner_v6 { proto::IPV6 } else { proto::IPIP };
    h[ETH_LEN + 7] = OUTER_HOP_LIMIT;
    h[ETH_LEN + 8..ETH_LEN + 24].copy_from_slice(&src.octets());
    h[ETH_LEN + 24..ETH_LEN + 40].copy_from_slice(&dst.octets());
    h
}

/// Wraps the frame's IP packet (after a 14-byte Ethernet header) in a prepared outer header
/// (from [`encap_header`]), filling in the payload length. False if there is no headroom or
/// the inner packet is longer than an IPv6 payload can be.
#[inline]
pub(crate) fn encap_with(frame: &mut Frame<'_>, header: &[u8; ENCAP_HEADER_LEN]) -> bool {
    let Some(inner_len) = frame
        .len()
        .checked_sub(ETH_LEN)
        .and_then(|n| u16::try_from(n).ok())
    else {
        return false;
    };
    if !frame.push_front(IPV6_LEN) {
        return false;
    }
    let data = frame.data_mut();
    data[..ENCAP_HEADER_LEN].copy_from_slice(header);
    wr16(data, ETH_LEN + 4, inner_len);
    true
}

/// Wraps the frame's IP packet (after a 14-byte Ethernet header) in Ethernet + IPv6. False if
/// there is no headroom.
pub(crate) fn encap(
    frame: &mut Frame<'_>,
    inner_v6: bool,
    outer: (Ipv6Addr, Ipv6Addr),
    macs: (Mac, Mac),
) -> bool {
    encap_with(frame, &encap_header(inner_v6, outer, macs))
}

/// Rewrites the outer IPv6 source and destination of an encapsulated frame (relay, load
/// balancing): no checksum covers them in IPv6.
pub(crate) fn set_outer(frame: &mut Frame<'_>, src: Ipv6Addr, dst: Ipv6Addr, macs: (Mac, Mac)) {
    let mut p = Ipv6Packet::new_unchecked(&mut frame.data_mut()[ETH_LEN..ETH_LEN + IPV6_LEN]);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.set_hop_limit(OUTER_HOP_LIMIT);
    set_eth(frame, macs.1, macs.0, true);
}

/// Removes the outer IPv6 header, leaving an Ethernet header (to be rewritten) before the inner
/// packet. False if the frame is too short.
pub(crate) fn decap(frame: &mut Frame<'_>) -> bool {
    frame.len() >= ETH_LEN + IPV6_LEN && frame.pull_front(IPV6_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build;
    use crate::packet::parse::{Class, classify};

    fn l3(f: &[u8]) -> L3 {
        match classify(f) {
            Ok(Class::Ip(l)) => l,
            other => panic!("{other:?}"),
        }
    }

    fn checksums_ok(f: &[u8]) -> bool {
        let l = l3(f);
        let seg = &f[l.l4..l.l3 + l.l3_len];
        let ip_ok = l.v6 || csum::finish(csum::sum(&f[l.l3..l.l4], 0)) == 0;
        let seed = if l.proto == proto::ICMP {
            0
        } else {
            build::pseudo_sum(l.src, l.dst, l.proto, seg.len())
        };
        ip_ok && csum::finish(csum::sum(seg, seed)) == 0
    }

    #[test]
    fn translation_keeps_checksums_valid() {
        for mut f in [
            build::udp4([10, 0, 0, 1], [192, 0, 2, 9], 5000, 53, 7),
            build::tcp(
                "10.0.0.1".parse().unwrap(),
                "192.0.2.9".parse().unwrap(),
                5000,
                80,
                2,
            ),
            build::echo4([10, 0, 0, 1], [192, 0, 2, 9], 99, true),
            build::tcp(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::9".parse().unwrap(),
                5000,
                80,
                2,
            ),
        ] {
            assert!(checksums_ok(&f));
            let n = f.len();
            let mut frame = Frame::new(&mut f, 0, n);
            let mut l = l3(frame.data());
            let new = if l.v6 {
                "2001:db8::77".parse().unwrap()
            } else {
                "203.0.113.7".parse().unwrap()
            };
            translate(&mut frame, &mut l, true, new, 1234);
            assert!(decrement_ttl(&mut frame, &mut l));
            assert!(checksums_ok(frame.data()), "{l:?}");
            let again = l3(frame.data());
            assert_eq!((again.src, again.sport, again.ttl), (new, 1234, 63));
        }
    }

    #[test]
    fn encap_then_decap_restores_the_inner_packet() {
        let inner = build::udp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 30);
        let mut buf = vec![0u8; 256];
        buf[128..128 + inner.len()].copy_from_slice(&inner);
        let mut f = Frame::new(&mut buf, 128, inner.len());
        let ul = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        assert!(encap(&mut f, false, ul, (Mac([2; 6]), Mac([4; 6]))));
        let outer = l3(f.data());
        assert_eq!((outer.proto, outer.dst), (proto::IPIP, IpAddr::V6(ul.1)));
        assert!(decap(&mut f));
        assert_eq!(&f.data()[ETH_LEN..], &inner[ETH_LEN..]);
    }
}
