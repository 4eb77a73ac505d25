//! A minimal synchronous rtnetlink client: just what route installation needs (create an
//! `ip6tnl` device in external mode, bring it up, replace/delete multipath routes with IPv6
//! lightweight-tunnel encapsulation, flush our protocol's routes from a table).
//!
//! Messages are built by hand ([`Msg`]) so they can be unit-tested without a socket.

use std::io;
use std::net::{IpAddr, Ipv6Addr};

use crate::route::Destination;

const NETLINK_ROUTE: i32 = 0;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_IPTUN_PROTO: u16 = 9;
const IFLA_IPTUN_COLLECT_METADATA: u16 = 18;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_ENCAP_TYPE: u16 = 21;
const RTA_ENCAP: u16 = 22;
const LWTUNNEL_ENCAP_IP6: u16 = 4;
const LWTUNNEL_IP6_DST: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
/// metalbond's route protocol number, so `ip route show proto 254` finds our routes.
pub(crate) const RT_PROTOCOL: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RT_TABLE_UNSPEC: u8 = 0;
/// Receive buffer: one netlink datagram of a route dump.
const RECV_BYTES: usize = 64 * 1024;

/// Whether a netlink error means "this kernel has no such link type".
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EAFNOSUPPORT)
    )
}

/// A netlink message under construction: header, fixed part, attributes.
#[derive(Debug)]
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub(crate) fn new(ty: u16, flags: u16, seq: u32, fixed: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(fixed);
        Self {
            buf,
            nests: Vec::new(),
        }
    }

    pub(crate) fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub(crate) fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    /// Opens an `rtnexthop` inside RTA_MULTIPATH (its length covers its attributes).
    pub(crate) fn begin_nexthop(&mut self, ifindex: u32) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&[0, 0]); // flags, hops (weight 1)
        self.buf.extend_from_slice(&ifindex.to_ne_bytes());
        self
    }

    pub(crate) fn end(&mut self) -> &mut Self {
        let start = self.nests.pop().unwrap_or(0);
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed netlink nest");
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

fn rtmsg(family: u8, dst_len: u8, table: u32) -> [u8; 12] {
    let t = u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC);
    // family, dst_len, src_len, tos, table, protocol, scope (universe), type, flags (u32)
    [
        family,
        dst_len,
        0,
        0,
        t,
        RT_PROTOCOL,
        0,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ]
}

fn family_of(addr: IpAddr) -> u8 {
    let f = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    u8::try_from(f).unwrap_or(0)
}

fn addr_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// RTM_NEWROUTE (replace) for `dest` in `table` with one encapsulating next hop per address.
pub(crate) fn route_replace_msg(
    seq: u32,
    table: u32,
    dest: Destination,
    oif: u32,
    hops: &[Ipv6Addr],
) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let mut m = Msg::new(
        RTM_NEWROUTE,
        flags,
        seq,
        &rtmsg(family_of(dest.addr()), dest.len(), table),
    );
    m.attr(RTA_TABLE, &table.to_ne_bytes());
    m.attr(RTA_DST, &addr_bytes(dest.addr()));
    m.attr(RTA_OIF, &oif.to_ne_bytes());
    m.begin(RTA_MULTIPATH);
    for hop in hops {
        m.begin_nexthop(oif);
        m.attr(RTA_ENCAP_TYPE, &LWTUNNEL_ENCAP_IP6.to_ne_bytes());
        m.begin(RTA_ENCAP | NLA_F_NESTED)
            .attr(LWTUNNEL_IP6_DST, &hop.octets())
            .end();
        m.end();
    }
    m.end();
    m.finish()
}

/// RTM_DELROUTE for `dest` in `table`.
pub(crate) fn route_delete_msg(seq: u32, table: u32, dest: Destination) -> Vec<u8> {
    let mut m = Msg::new(
        RTM_DELROUTE,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &rtmsg(family_of(dest.addr()), dest.len(), table),
    );
    m.attr(RTA_TABLE, &table.to_ne_bytes());
    m.attr(RTA_DST, &addr_bytes(dest.addr()));
    m.finish()
}

/// RTM_NEWLINK creating an `ip6tnl` device in external (collect-metadata) mode, any proto.
pub(crate) fn ip6tnl_create_msg(seq: u32, name: &str) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    let mut m = Msg::new(RTM_NEWLINK, flags, seq, &[0u8; 16]);
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    m.attr(IFLA_IFNAME, &ifname);
    m.begin(IFLA_LINKINFO).attr(IFLA_INFO_KIND, b"ip6tnl");
    m.begin(IFLA_INFO_DATA)
        .attr(IFLA_IPTUN_PROTO, &[0])
        .attr(IFLA_IPTUN_COLLECT_METADATA, &[]);
    m.end().end();
    m.finish()
}

/// RTM_NEWLINK setting IFF_UP on `index`.
fn link_up_msg(seq: u32, index: u32) -> Vec<u8> {
    let up = u32::try_from(libc::IFF_UP).unwrap_or(1);
    let mut fixed = [0u8; 16];
    fixed[4..8].copy_from_slice(&index.to_ne_bytes());
    fixed[8..12].copy_from_slice(&up.to_ne_bytes());
    fixed[12..16].copy_from_slice(&up.to_ne_bytes());
    Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &fixed).finish()
}

/// A NETLINK_ROUTE socket.
#[derive(Debug)]
pub(crate) struct Netlink {
    fd: i32,
    seq: u32,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        // SAFETY: `fd` is a socket this struct opened and nothing else closes it.
        unsafe { libc::close(self.fd) };
    }
}

impl Netlink {
    pub(crate) fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, seq: 1 })
    }

    pub(crate) fn ensure_ip6tnl(&mut self, name: &str) -> io::Result<u32> {
        let seq = self.next_seq();
        match self.request(&ip6tnl_create_msg(seq, name)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let cname =
            std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        let seq = self.next_seq();
        self.request(&link_up_msg(seq, index))?;
        Ok(index)
    }

    pub(crate) fn replace_route(
        &mut self,
        table: u32,
        dest: Destination,
        oif: u32,
        hops: &[Ipv6Addr],
    ) -> io::Result<()> {
        let seq = self.next_seq();
        self.request(&route_replace_msg(seq, table, dest, oif, hops))
    }

    pub(crate) fn delete_route(&mut self, table: u32, dest: Destination) -> io::Result<()> {
        let seq = self.next_seq();
        match self.request(&route_delete_msg(seq, table, dest)) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// Deletes every route of protocol 254 in `table` (stale routes of an earlier run).
    pub(crate) fn flush_protocol(&mut self, table: u32) -> io::Result<()> {
        for family in [libc::AF_INET, libc::AF_INET6] {
            let seq = self.next_seq();
            let fam = u8::try_from(family).unwrap_or(0);
            let dump = Msg::new(
                RTM_GETROUTE,
                NLM_F_REQUEST | NLM_F_DUMP,
                seq,
                &rtmsg(fam, 0, 0),
            )
            .finish();
            self.send(&dump)?;
            for msg in self.collect_dump()? {
                let mut del = msg;
                del[4..6].copy_from_slice(&RTM_DELROUTE.to_ne_bytes());
                del[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
                let seq = self.next_seq();
                del[8..12].copy_from_slice(&seq.to_ne_bytes());
                if route_in(&del, table) {
                    let _ = self.request(&del);
                }
            }
        }
        Ok(())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `msg`, which lives for the whole call;
        // a zeroed sockaddr_nl addresses the kernel.
        let n = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or(16);
            libc::sendto(
                self.fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&raw const addr).cast(),
                u32::try_from(size_of::<libc::sockaddr_nl>()).unwrap_or(12),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length for the whole call.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Sends a request with NLM_F_ACK and waits for its acknowledgement.
    fn request(&self, msg: &[u8]) -> io::Result<()> {
        self.send(msg)?;
        let mut buf = vec![0u8; RECV_BYTES];
        let n = self.recv(&mut buf)?;
        for (ty, body) in messages(&buf[..n]) {
            if ty == NLMSG_ERROR && body.len() >= 4 {
                let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                return if code == 0 {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(-code))
                };
            }
        }
        Err(io::Error::other("netlink: no acknowledgement"))
    }

    /// Reads a dump until NLMSG_DONE; returns each message whole (header included).
    fn collect_dump(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; RECV_BYTES];
        loop {
            let n = self.recv(&mut buf)?;
            let mut at = 0;
            while at + 16 <= n {
                let len = usize::try_from(u32::from_ne_bytes([
                    buf[at],
                    buf[at + 1],
                    buf[at + 2],
                    buf[at + 3],
                ]))
                .unwrap_or(0);
                let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                if len < 16 || at + len > n || ty == NLMSG_DONE || ty == NLMSG_ERROR {
                    return Ok(out);
                }
                out.push(buf[at..at + len].to_vec());
                at += (len + 3) & !3;
            }
        }
    }
}

/// The (type, body) of each message in a datagram.
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = usize::try_from(u32::from_ne_bytes([
            buf[at],
            buf[at + 1],
            buf[at + 2],
            buf[at + 3],
        ]))
        .unwrap_or(0);
        if len < 16 || at + len > buf.len() {
            break;
        }
        out.push((
            u16::from_ne_bytes([buf[at + 4], buf[at + 5]]),
            &buf[at + 16..at + len],
        ));
        at += (len + 3) & !3;
    }
    out
}

/// Whether a route message is ours (protocol 254) and in `table` (RTA_TABLE or rtm_table).
fn route_in(msg: &[u8], table: u32) -> bool {
    if msg.len() < 28 || msg[16 + 5] != RT_PROTOCOL {
        return false;
    }
    let mut found = u32::from(msg[16 + 4]);
    let mut at = 28;
    while at + 4 <= msg.len() {
        let len = usize::from(u16::from_ne_bytes([msg[at], msg[at + 1]]));
        let ty = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]);
        if len < 4 || at + len > msg.len() {
            break;
        }
        if ty == RTA_TABLE && len == 8 {
            found = u32::from_ne_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
        }
        at += (len + 3) & !3;
    }
    found == table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_message_layout() {
        let dest: Destination = "10.0.0.0/24".parse().unwrap();
        let hops: Vec<Ipv6Addr> = vec!["2001:db8::1".parse().unwrap()];
        let m = route_replace_msg(7, 100, dest, 5, &hops);
        let len = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize;
        assert_eq!(len, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWROUTE);
        // rtmsg: AF_INET, /24, table 100, protocol 254, unicast.
        assert_eq!(&m[16..24], &[2, 24, 0, 0, 100, 254, 0, 1]);
        assert!(route_in(&m, 100));
        assert!(!route_in(&m, 101));
        // The next hop's IPv6 destination appears inside the message.
        let dst = hops[0].octets();
        assert!(m.windows(16).any(|w| w == dst));
        // header 16 + rtmsg 12 + table 8 + dst 8 + oif 8 + multipath (4 + nexthop 8 + encap type 8 + encap (4 + 20)) = 96
        assert_eq!(m.len(), 96);
    }

    #[test]
    fn link_message_names_the_kind() {
        let m = ip6tnl_create_msg(1, "overlay-tun");
        assert!(m.windows(6).any(|w| w == b"ip6tnl"));
        assert!(m.windows(11).any(|w| w == b"overlay-tun"));
        assert_eq!(messages(&m).len(), 1);
    }
}
