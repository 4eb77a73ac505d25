//! Answers the pipeline builds in place of the packet that asked: ARP replies, neighbour and
//! router advertisements, ICMP echo replies and ICMP errors. Each rewrites the frame so it can
//! be sent back out of the port it came in on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress};

use super::build::fill_l4_checksum;
use super::csum;
use super::frame::Frame;
use super::parse::{ETH_LEN, IPV6_LEN, L3, proto};
use super::rewrite::{set_eth, src_mac};
use crate::types::Mac;

/// The IPv4 gateway address every VM sees (dpservice's convention).
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
/// The IPv6 gateway address every VM sees.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// Most bytes of the offending packet an ICMP error quotes (IPv6's minimum MTU less headers;
/// IPv4 quotes at most 548 so the error fits in 576 bytes).
const QUOTE_MAX_V6: usize = 1280 - IPV6_LEN - 8;
const QUOTE_MAX_V4: usize = 576 - 20 - 8;

/// Answers an ARP request for any address but the asker's own with `our_mac`. False if the
/// packet is not such a request.
pub(crate) fn arp_reply(frame: &mut Frame<'_>, our_mac: Mac) -> bool {
    let Some(arp) = frame
        .data()
        .get(ETH_LEN..)
        .and_then(|b| ArpPacket::new_checked(b).ok())
    else {
        return false;
    };
    let Ok(ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    }) = ArpRepr::parse(&arp)
    else {
        return false;
    };
    if target_protocol_addr == source_protocol_addr || source_protocol_addr.is_unspecified() {
        return false; // gratuitous ARP or a duplicate-address probe
    }
    let reply = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(our_mac.0),
        source_protocol_addr: target_protocol_addr,
        target_hardware_addr: source_hardware_addr,
        target_protocol_addr: source_protocol_addr,
    };
    if !frame.set_len(ETH_LEN + reply.buffer_len()) {
        return false;
    }
    reply.emit(&mut ArpPacket::new_unchecked(
        &mut frame.data_mut()[ETH_LEN..],
    ));
    let dst = Mac(source_hardware_addr.0);
    let mut eth = smoltcp::wire::EthernetFrame::new_unchecked(frame.data_mut());
    eth.set_dst_addr(EthernetAddress(dst.0));
    eth.set_src_addr(EthernetAddress(our_mac.0));
    true
}

/// Answers a neighbour solicitation for `target` (any address but `own`) with an advertisement
/// from `our_mac`, or a router solicitation with a router advertisement. False otherwise.
pub(crate) fn nd_reply(
    frame: &mut Frame<'_>,
    l: &L3,
    our_mac: Mac,
    own: &[IpAddr],
    router: bool,
) -> bool {
    let IpAddr::V6(asker) = l.src else {
        return false;
    };
    let seg_len = l.l3_len - (l.l4 - l.l3);
    let (ty, dst) = match l.icmp.0 {
        135 if seg_len >= 24 => {
            let mut t = [0u8; 16];
            t.copy_from_slice(&frame.data()[l.l4 + 8..l.l4 + 24]);
            let target = Ipv6Addr::from(t);
            if own.contains(&IpAddr::V6(target)) {
                return false;
            }
            let dst = if asker.is_unspecified() {
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
            } else {
                asker
            };
            (Some(target), dst)
        }
        133 if router => {
            let dst = if asker.is_unspecified() {
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
            } else {
                asker
            };
            (None, dst)
        }
        _ => return false,
    };
    let mut body = [0u8; 32];
    let len = match ty {
        Some(target) => {
            body[0] = 136;
            body[4] = 0xe0; // router, solicited, override
            body[8..24].copy_from_slice(&target.octets());
            body[24] = 2; // target link-layer address option
            body[25] = 1;
            body[26..32].copy_from_slice(&our_mac.0);
            32
        }
        None => {
            body[0] = 134;
            body[4] = 64; // current hop limit
            body[5] = 0xc0; // managed and other-config: addresses and DNS come from DHCPv6
            body[6..8].copy_from_slice(&1800u16.to_be_bytes()); // router lifetime, seconds
            body[16] = 1; // source link-layer address option
            body[17] = 1;
            body[18..24].copy_from_slice(&our_mac.0);
            24
        }
    };
    let src = ty.map_or(GATEWAY_V6, |t| {
        if t.is_unicast_link_local() {
            t
        } else {
            GATEWAY_V6
        }
    });
    write_ip_reply(
        frame,
        Mac(src_mac(frame.data()).0),
        our_mac,
        (IpAddr::V6(src), IpAddr::V6(dst)),
        proto::ICMPV6,
        &body[..len],
        255,
    )
}

/// Turns an ICMP echo request into its reply, in place (addresses swapped, type changed).
pub(crate) fn echo_reply(frame: &mut Frame<'_>, l: &mut L3) {
    let data = frame.data_mut();
    let (a, b, n) = if l.v6 {
        (l.l3 + 8, l.l3 + 24, 16)
    } else {
        (l.l3 + 12, l.l3 + 16, 4)
    };
    let mut tmp = [0u8; 16];
    tmp[..n].copy_from_slice(&data[a..a + n]);
    data.copy_within(b..b + n, a);
    data[b..b + n].copy_from_slice(&tmp[..n]);
    let old = u16::from_be_bytes([data[l.l4], data[l.l4 + 1]]);
    data[l.l4] = if l.v6 { 129 } else { 0 };
    let new = u16::from_be_bytes([data[l.l4], data[l.l4 + 1]]);
    let c = csum::update16(
        u16::from_be_bytes([data[l.l4 + 2], data[l.l4 + 3]]),
        old,
        new,
    );
    data[l.l4 + 2..l.l4 + 4].copy_from_slice(&c.to_be_bytes());
    std::mem::swap(&mut l.src, &mut l.dst);
    l.icmp.0 = data[l.l4];
}

/// ICMP errors the pipeline sends.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum IcmpError {
    /// No route to the destination network.
    NoRoute,
    /// The TTL or hop limit ran out.
    TimeExceeded,
    /// The packet is too big for the underlay; carries the overlay MTU.
    TooBig(u16),
}

/// Replaces the frame with an ICMP error about it, addressed to its sender from `from`, sent
/// back on the same port. False if the packet must not get an error (it is itself an ICMP
/// error) or the buffer is too small.
pub(crate) fn icmp_error(
    frame: &mut Frame<'_>,
    l: &L3,
    err: IcmpError,
    our_mac: Mac,
    from: IpAddr,
) -> bool {
    let is_error = if l.v6 {
        l.proto == proto::ICMPV6 && l.icmp.0 < 128
    } else {
        l.proto == proto::ICMP && ![0, 8].contains(&l.icmp.0)
    };
    if is_error {
        return false;
    }
    let max = if l.v6 { QUOTE_MAX_V6 } else { QUOTE_MAX_V4 };
    let quote_len = l.l3_len.min(max);
    let mut body = [0u8; 8 + QUOTE_MAX_V6];
    body[8..8 + quote_len].copy_from_slice(&frame.data()[l.l3..l.l3 + quote_len]);
    let (ty, code, extra) = match (err, l.v6) {
        (IcmpError::NoRoute, false) => (3, 0, 0u32),
        (IcmpError::NoRoute, true) => (1, 0, 0),
        (IcmpError::TimeExceeded, false) => (11, 0, 0),
        (IcmpError::TimeExceeded, true) => (3, 0, 0),
        (IcmpError::TooBig(mtu), false) => (3, 4, u32::from(mtu)),
        (IcmpError::TooBig(mtu), true) => (2, 0, u32::from(mtu)),
    };
    body[0] = ty;
    body[1] = code;
    body[4..8].copy_from_slice(&extra.to_be_bytes());
    let p = if l.v6 { proto::ICMPV6 } else { proto::ICMP };
    let vm = src_mac(frame.data());
    write_ip_reply(
        frame,
        vm,
        our_mac,
        (from, l.src),
        p,
        &body[..8 + quote_len],
        64,
    )
}

/// Writes a whole new Ethernet + IP + `l4` frame at the frame's position (checksums filled).
pub(crate) fn write_ip_reply(
    frame: &mut Frame<'_>,
    dst_mac: Mac,
    our_mac: Mac,
    (src, dst): (IpAddr, IpAddr),
    protocol: u8,
    l4: &[u8],
    ttl: u8,
) -> bool {
    let v6 = dst.is_ipv6();
    let hdr = if v6 { IPV6_LEN } else { 20 };
    let total = ETH_LEN + hdr + l4.len();
    if !frame.set_len(total) {
        return false;
    }
    set_eth(frame, dst_mac, our_mac, v6);
    let data = frame.data_mut();
    let ip = &mut data[ETH_LEN..ETH_LEN + hdr];
    ip.fill(0);
    let len16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&len16(hdr + l4.len()));
            ip[8] = ttl;
            ip[9] = protocol;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let c = csum::finish(csum::sum(ip, 0));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&len16(l4.len()));
            ip[6] = protocol;
            ip[7] = ttl;
            ip[8..24].copy_from_slice(&s.octets());
            ip[24..40].copy_from_slice(&d.octets());
        }
        _ => return false,
    }
    let seg = &mut data[ETH_LEN + hdr..total];
    seg.copy_from_slice(l4);
    fill_l4_checksum(seg, protocol, src, dst);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build;
    use crate::packet::parse::{Class, classify};

    #[test]
    fn arp_request_for_the_gateway_gets_our_mac() {
        let mut f = build::arp_request([10, 0, 0, 1], GATEWAY_V4.octets());
        let n = f.len();
        let mut fr = Frame::new(&mut f, 0, n);
        let ours = Mac([2, 9, 9, 9, 9, 9]);
        assert!(arp_reply(&mut fr, ours));
        let arp = ArpPacket::new_checked(&fr.data()[ETH_LEN..]).unwrap();
        assert_eq!(arp.source_hardware_addr(), &ours.0);
        assert_eq!(arp.target_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(&fr.data()[0..6], &build::VM_MAC);
    }

    #[test]
    fn icmp_error_quotes_the_packet_and_checksums() {
        let orig = build::udp4([10, 0, 0, 1], [192, 0, 2, 1], 1, 2, 40);
        let mut buf = orig.clone();
        buf.resize(2048, 0);
        let mut fr = Frame::new(&mut buf, 0, orig.len());
        let Ok(Class::Ip(l)) = classify(fr.data()) else {
            panic!()
        };
        assert!(icmp_error(
            &mut fr,
            &l,
            IcmpError::NoRoute,
            Mac([2; 6]),
            IpAddr::V4(GATEWAY_V4)
        ));
        let Ok(Class::Ip(e)) = classify(fr.data()) else {
            panic!()
        };
        assert_eq!((e.proto, e.icmp), (proto::ICMP, (3, 0)));
        assert_eq!(e.dst, l.src);
        assert_eq!(csum::finish(csum::sum(&fr.data()[e.l4..], 0)), 0);
        assert_eq!(&fr.data()[e.l4 + 8..], &orig[ETH_LEN..]);
    }
}
