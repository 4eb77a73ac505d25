//! DHCPv4 and DHCPv6 servers for VM interfaces, answering in place.
//!
//! DHCPv4 hands out the interface's address as a /32 with an infinite lease, the gateway
//! 169.254.0.1 as router, and a classless static route (option 121) that makes the gateway
//! reachable on-link and the default route go through it. DHCPv6 answers Solicit, Request,
//! Renew, Rebind, Confirm and Information-request with the interface's address and DNS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::wire::{DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, Ipv4Address};

use super::frame::Frame;
use super::parse::{L3, proto};
use super::respond::{GATEWAY_V4, GATEWAY_V6, write_ip_reply};
use super::rewrite::src_mac;
use crate::types::Mac;

/// DHCP settings shared by every interface.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct DhcpConfig {
    /// DNS servers handed out (IPv4).
    pub dns_v4: Vec<Ipv4Addr>,
    /// DNS servers handed out (IPv6).
    pub dns_v6: Vec<Ipv6Addr>,
    /// Interface MTU handed out (option 26), if set.
    pub mtu: Option<u16>,
}

/// What the VM is told: its address, host name, and the shared settings.
pub(crate) struct Lease<'a> {
    pub(crate) ipv4: Option<Ipv4Addr>,
    pub(crate) ipv6: Option<Ipv6Addr>,
    pub(crate) hostname: Option<&'a str>,
    pub(crate) config: &'a DhcpConfig,
}

/// Largest DHCP payload we build: a BOOTP header with our handful of options.
const MAX_DHCP_LEN: usize = 576;

/// Answers a DHCPv4 Discover or Request; false if there is nothing to answer.
pub(crate) fn dhcpv4_reply(frame: &mut Frame<'_>, l: &L3, our_mac: Mac, lease: &Lease<'_>) -> bool {
    let Some(your_ip) = lease.ipv4 else {
        return false;
    };
    let udp_payload = l.l4 + 8;
    let end = l.l3 + l.l3_len;
    let Some(bytes) = frame.data().get(udp_payload..end) else {
        return false;
    };
    let Ok(pkt) = DhcpPacket::new_checked(bytes) else {
        return false;
    };
    let Ok(req) = DhcpRepr::parse(&pkt) else {
        return false;
    };
    let message_type = match req.message_type {
        DhcpMessageType::Discover => DhcpMessageType::Offer,
        DhcpMessageType::Request => DhcpMessageType::Ack,
        _ => return false,
    };
    let g = GATEWAY_V4.octets();
    let routes = static_routes(g);
    let mtu = lease.config.mtu.map(u16::to_be_bytes);
    let extra = extra_options(&routes, mtu.as_ref(), lease.hostname);
    let dns: heapless_dns::Dns = lease.config.dns_v4.iter().copied().collect();
    let reply = DhcpRepr {
        message_type,
        transaction_id: req.transaction_id,
        secs: 0,
        client_hardware_address: req.client_hardware_address,
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip,
        server_ip: Ipv4Address::UNSPECIFIED,
        router: Some(GATEWAY_V4),
        subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 255)),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GATEWAY_V4),
        parameter_request_list: None,
        dns_servers: dns.into_option(),
        max_size: None,
        lease_duration: Some(u32::MAX),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &extra,
    };
    let mut buf = [0u8; 8 + MAX_DHCP_LEN];
    let len = reply.buffer_len();
    if len > MAX_DHCP_LEN {
        return false;
    }
    buf[0..2].copy_from_slice(&67u16.to_be_bytes());
    buf[2..4].copy_from_slice(&68u16.to_be_bytes());
    buf[4..6].copy_from_slice(&u16::try_from(8 + len).unwrap_or(0).to_be_bytes());
    let mut out = DhcpPacket::new_unchecked(&mut buf[8..8 + len]);
    if reply.emit(&mut out).is_err() {
        return false;
    }
    let vm = src_mac(frame.data());
    let dst = Ipv4Addr::BROADCAST;
    write_ip_reply(
        frame,
        vm,
        our_mac,
        (IpAddr::V4(GATEWAY_V4), IpAddr::V4(dst)),
        proto::UDP,
        &buf[..8 + len],
        64,
    )
}

/// Option 121: 169.254.0.1/32 on-link (router 0.0.0.0), then 0.0.0.0/0 via the gateway.
fn static_routes(g: [u8; 4]) -> [u8; 14] {
    [
        32, g[0], g[1], g[2], g[3], 0, 0, 0, 0, 0, g[0], g[1], g[2], g[3],
    ]
}

fn extra_options<'a>(
    routes: &'a [u8],
    mtu: Option<&'a [u8; 2]>,
    host: Option<&'a str>,
) -> Vec<DhcpOption<'a>> {
    let mut extra = vec![DhcpOption {
        kind: 121,
        data: routes,
    }];
    if let Some(m) = mtu {
        extra.push(DhcpOption { kind: 26, data: m });
    }
    if let Some(h) = host {
        extra.push(DhcpOption {
            kind: 12,
            data: h.as_bytes(),
        });
    }
    extra
}

/// A bounded list of DNS servers in the shape smoltcp's `DhcpRepr` wants.
mod heapless_dns {
    use std::net::Ipv4Addr;

    /// Up to smoltcp's maximum of DNS servers.
    pub(super) struct Dns(Vec<Ipv4Addr>);

    impl FromIterator<Ipv4Addr> for Dns {
        fn from_iter<I: IntoIterator<Item = Ipv4Addr>>(it: I) -> Self {
            Self(
                it.into_iter()
                    .take(smoltcp::wire::DHCP_MAX_DNS_SERVER_COUNT)
                    .collect(),
            )
        }
    }

    impl Dns {
        pub(super) fn into_option(
            self,
        ) -> Option<heapless::Vec<Ipv4Addr, { smoltcp::wire::DHCP_MAX_DNS_SERVER_COUNT }>> {
            if self.0.is_empty() {
                return None;
            }
            let mut v = heapless::Vec::new();
            for a in self.0 {
                let _ = v.push(a);
            }
            Some(v)
        }
    }
}

/// DHCPv6 option codes used here.
mod opt6 {
    pub(super) const CLIENT_ID: u16 = 1;
    pub(super) const SERVER_ID: u16 = 2;
    pub(super) const IA_NA: u16 = 3;
    pub(super) const IA_ADDR: u16 = 5;
    pub(super) const RAPID_COMMIT: u16 = 14;
    pub(super) const DNS: u16 = 23;
}

fn put_opt(out: &mut Vec<u8>, code: u16, data: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(data);
}

/// Answers a DHCPv6 request; false if there is nothing to answer.
pub(crate) fn dhcpv6_reply(frame: &mut Frame<'_>, l: &L3, our_mac: Mac, lease: &Lease<'_>) -> bool {
    let Some(msg) = frame.data().get(l.l4 + 8..l.l3 + l.l3_len) else {
        return false;
    };
    if msg.len() < 4 {
        return false;
    }
    let (kind, xid) = (msg[0], [msg[1], msg[2], msg[3]]);
    let (mut client_id, mut iaid, mut rapid) = (None, None, false);
    let mut opts = &msg[4..];
    while opts.len() >= 4 {
        let code = u16::from_be_bytes([opts[0], opts[1]]);
        let len = usize::from(u16::from_be_bytes([opts[2], opts[3]]));
        let Some(data) = opts.get(4..4 + len) else {
            return false;
        };
        match code {
            opt6::CLIENT_ID => client_id = Some(data.to_vec()),
            opt6::IA_NA if data.len() >= 4 => iaid = Some([data[0], data[1], data[2], data[3]]),
            opt6::RAPID_COMMIT => rapid = true,
            _ => {}
        }
        opts = &opts[4 + len..];
    }
    let reply_kind = match kind {
        1 if rapid => 7,
        1 => 2,
        3 | 4 | 5 | 6 | 11 => 7,
        _ => return false,
    };
    let mut out = vec![reply_kind, xid[0], xid[1], xid[2]];
    if let Some(c) = &client_id {
        put_opt(&mut out, opt6::CLIENT_ID, c);
    }
    let mut duid = vec![0, 3, 0, 1]; // DUID-LL, hardware type Ethernet
    duid.extend_from_slice(&our_mac.0);
    put_opt(&mut out, opt6::SERVER_ID, &duid);
    if rapid && reply_kind == 7 && kind == 1 {
        put_opt(&mut out, opt6::RAPID_COMMIT, &[]);
    }
    if let (Some(iaid), Some(addr)) = (iaid, lease.ipv6) {
        let mut ia_addr = addr.octets().to_vec();
        ia_addr.extend_from_slice(&u32::MAX.to_be_bytes()); // preferred lifetime: infinite
        ia_addr.extend_from_slice(&u32::MAX.to_be_bytes()); // valid lifetime: infinite
        let mut ia = iaid.to_vec();
        ia.extend_from_slice(&u32::MAX.to_be_bytes()); // T1
        ia.extend_from_slice(&u32::MAX.to_be_bytes()); // T2
        put_opt(&mut ia, opt6::IA_ADDR, &ia_addr);
        put_opt(&mut out, opt6::IA_NA, &ia);
    }
    if !lease.config.dns_v6.is_empty() {
        let dns: Vec<u8> = lease
            .config
            .dns_v6
            .iter()
            .flat_map(|a| a.octets())
            .collect();
        put_opt(&mut out, opt6::DNS, &dns);
    }
    let mut udp = vec![0u8; 8];
    udp[0..2].copy_from_slice(&547u16.to_be_bytes());
    udp[2..4].copy_from_slice(&546u16.to_be_bytes());
    udp[4..6].copy_from_slice(&u16::try_from(8 + out.len()).unwrap_or(0).to_be_bytes());
    udp.extend_from_slice(&out);
    let vm = src_mac(frame.data());
    write_ip_reply(
        frame,
        vm,
        our_mac,
        (IpAddr::V6(GATEWAY_V6), l.src),
        proto::UDP,
        &udp,
        255,
    )
}
