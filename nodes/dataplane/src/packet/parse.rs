//! Classification: one pass over a frame's headers (with smoltcp's wire views) that yields the
//! offsets and the 5-tuple every later stage works with.

use std::net::IpAddr;

use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Packet, Ipv6Packet};

/// Ethernet header length.
pub(crate) const ETH_LEN: usize = 14;
/// IPv6 header length.
pub(crate) const IPV6_LEN: usize = 40;

/// IP protocol numbers the pipeline distinguishes.
pub(crate) mod proto {
    /// ICMP.
    pub(crate) const ICMP: u8 = 1;
    /// IPv4 in IP (the inner packet of an IPv4 overlay packet).
    pub(crate) const IPIP: u8 = 4;
    /// TCP.
    pub(crate) const TCP: u8 = 6;
    /// UDP.
    pub(crate) const UDP: u8 = 17;
    /// IPv6 in IP (the inner packet of an IPv6 overlay packet).
    pub(crate) const IPV6: u8 = 41;
    /// ICMPv6.
    pub(crate) const ICMPV6: u8 = 58;
}

/// What kind of frame this is.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Class {
    /// An ARP packet.
    Arp,
    /// An IPv4 or IPv6 packet, with its headers located.
    Ip(L3),
}

/// Why a frame could not be classified.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum ParseError {
    /// Truncated or inconsistent headers.
    Malformed,
    /// An EtherType the pipeline does not handle.
    UnknownEtherType,
    /// An IPv4 fragment (the pipeline does not reassemble).
    Fragment,
}

/// The located headers of an IP packet and its flow tuple.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct L3 {
    /// IPv6 (true) or IPv4.
    pub(crate) v6: bool,
    /// Offset of the IP header in the frame.
    pub(crate) l3: usize,
    /// Offset of the transport header in the frame.
    pub(crate) l4: usize,
    /// Length of the IP packet (header and payload, without Ethernet padding).
    pub(crate) l3_len: usize,
    /// Transport protocol.
    pub(crate) proto: u8,
    /// Source address.
    pub(crate) src: IpAddr,
    /// Destination address.
    pub(crate) dst: IpAddr,
    /// Source port (ICMP echo: the identifier; other protocols: 0).
    pub(crate) sport: u16,
    /// Destination port (ICMP echo: the identifier; other protocols: 0).
    pub(crate) dport: u16,
    /// TTL or hop limit.
    pub(crate) ttl: u8,
    /// ICMP type and code (0 for other protocols).
    pub(crate) icmp: (u8, u8),
    /// TCP flags (0 for other protocols).
    pub(crate) tcp_flags: u8,
}

impl L3 {
    /// Whether this is an ICMP echo request.
    pub(crate) fn is_echo_request(&self) -> bool {
        (self.proto == proto::ICMP && self.icmp.0 == 8)
            || (self.proto == proto::ICMPV6 && self.icmp.0 == 128)
    }

    /// Whether this is an ICMP echo request or reply (whose identifier acts as a port).
    pub(crate) fn is_echo(&self) -> bool {
        self.is_echo_request()
            || (self.proto == proto::ICMP && self.icmp.0 == 0)
            || (self.proto == proto::ICMPV6 && self.icmp.0 == 129)
    }
}

/// Classifies an Ethernet frame.
#[inline(always)] // builds the L3 in its caller's frame: a copy right after would stall
pub(crate) fn classify(frame: &[u8]) -> Result<Class, ParseError> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| ParseError::Malformed)?;
    match eth.ethertype() {
        EthernetProtocol::Arp => Ok(Class::Arp),
        EthernetProtocol::Ipv4 => parse_ip(frame, ETH_LEN, false).map(Class::Ip),
        EthernetProtocol::Ipv6 => parse_ip(frame, ETH_LEN, true).map(Class::Ip),
        EthernetProtocol::Unknown(_) => Err(ParseError::UnknownEtherType),
    }
}

/// Locates the headers of the IP packet that starts at `l3` in `frame`.
#[inline(always)] // see classify
pub(crate) fn parse_ip(frame: &[u8], l3: usize, v6: bool) -> Result<L3, ParseError> {
    let bytes = frame.get(l3..).ok_or(ParseError::Malformed)?;
    let (src, dst, proto, hdr, total, ttl) = if v6 {
        let p = Ipv6Packet::new_checked(bytes).map_err(|_| ParseError::Malformed)?;
        if p.version() != 6 {
            return Err(ParseError::Malformed);
        }
        let total = IPV6_LEN + usize::from(p.payload_len());
        let proto = u8::from(p.next_header());
        (
            IpAddr::V6(p.src_addr()),
            IpAddr::V6(p.dst_addr()),
            proto,
            IPV6_LEN,
            total,
            p.hop_limit(),
        )
    } else {
        let p = Ipv4Packet::new_checked(bytes).map_err(|_| ParseError::Malformed)?;
        if p.version() != 4 {
            return Err(ParseError::Malformed);
        }
        if p.more_frags() || p.frag_offset() != 0 {
            return Err(ParseError::Fragment);
        }
        let hdr = usize::from(p.header_len());
        let proto = u8::from(p.next_header());
        let total = usize::from(p.total_len());
        (
            IpAddr::V4(p.src_addr()),
            IpAddr::V4(p.dst_addr()),
            proto,
            hdr,
            total,
            p.hop_limit(),
        )
    };
    let l4 = l3 + hdr;
    let seg = frame.get(l4..l3 + total).ok_or(ParseError::Malformed)?;
    let mut l = L3 {
        v6,
        l3,
        l4,
        l3_len: total,
        proto,
        src,
        dst,
        sport: 0,
        dport: 0,
        ttl,
        icmp: (0, 0),
        tcp_flags: 0,
    };
    parse_l4(&mut l, seg)?;
    Ok(l)
}

#[inline(always)] // see classify
fn parse_l4(l: &mut L3, seg: &[u8]) -> Result<(), ParseError> {
    let be16 = |o: usize| u16::from_be_bytes([seg[o], seg[o + 1]]);
    match l.proto {
        proto::TCP | proto::UDP => {
            let min = if l.proto == proto::TCP { 20 } else { 8 };
            if seg.len() < min {
                return Err(ParseError::Malformed);
            }
            l.sport = be16(0);
            l.dport = be16(2);
            if l.proto == proto::TCP {
                l.tcp_flags = seg[13];
            }
        }
        proto::ICMP | proto::ICMPV6 => {
            if seg.len() < 8 {
                return Err(ParseError::Malformed);
            }
            l.icmp = (seg[0], seg[1]);
            if l.is_echo() {
                l.sport = be16(4);
                l.dport = be16(4);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build;

    #[test]
    fn classifies_udp_and_echo() {
        let f = build::udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, 10);
        let Ok(Class::Ip(l)) = classify(&f) else {
            panic!("not ip")
        };
        assert_eq!((l.sport, l.dport, l.proto), (1000, 53, proto::UDP));
        let f = build::echo4([10, 0, 0, 1], [10, 0, 0, 2], 77, true);
        let Ok(Class::Ip(l)) = classify(&f) else {
            panic!("not ip")
        };
        assert!(l.is_echo_request());
        assert_eq!(l.sport, 77);
    }

    #[test]
    fn truncated_frames_are_malformed() {
        let f = build::udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, 10);
        for n in 0..f.len() - 10 {
            assert!(classify(&f[..n]).is_err() || n >= 14 + 28, "len {n}");
        }
    }
}
