//! The few Linux calls the kernel backend needs (TAP devices, AF_PACKET sockets, poll), each
//! wrapped so the rest of the backend is safe code.

// The casts in this file narrow C constants (ETH_P_ALL, AF_PACKET, IFF_* flags) and struct sizes
// into the field types the kernel ABI uses; each fits by definition.
#![allow(clippy::cast_possible_truncation)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::types::Mac;

/// `IFF_TAP | IFF_NO_PI`: Ethernet frames without the packet-information prefix.
const TAP_FLAGS: libc::c_short = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
/// `TUNSETIFF` from `linux/if_tun.h` (`_IOW('T', 202, int)`).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `PACKET_IGNORE_OUTGOING` from `linux/if_packet.h` (Linux ≥ 4.20): do not loop our own
/// transmissions back to us.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

fn last_error<T>() -> io::Result<T> {
    Err(io::Error::last_os_error())
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    let bytes = c.as_bytes_with_nul();
    // SAFETY: ifreq is a plain C struct for which all-zero bytes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if bytes.len() > req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("device name {name:?} too long"),
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

/// Creates (or attaches to) the TAP device `name`, non-blocking.
pub(crate) fn open_tap(name: &str) -> io::Result<OwnedFd> {
    // SAFETY: the path is a valid NUL-terminated string; open has no other preconditions.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return last_error();
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = TAP_FLAGS;
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `req` is, for the call's length.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return last_error();
    }
    Ok(fd)
}

fn ifindex(name: &str) -> io::Result<libc::c_int> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network device {name:?}"),
        ));
    }
    libc::c_int::try_from(idx).map_err(|_| io::Error::other("ifindex out of range"))
}

/// The MAC address of a device.
pub(crate) fn device_mac(name: &str) -> io::Result<Mac> {
    // SAFETY: creating a socket has no memory-safety preconditions.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return last_error();
    }
    // SAFETY: s is a fresh descriptor we own.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFHWADDR fills a struct ifreq, which `req` is.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return last_error();
    }
    // SAFETY: after SIOCGIFHWADDR succeeded, the union holds ifru_hwaddr.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(Mac(m))
}

/// A non-blocking AF_PACKET socket bound to `name`, promiscuous, ignoring its own output.
pub(crate) fn open_packet_socket(name: &str) -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: creating a socket has no memory-safety preconditions.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(proto),
        )
    };
    if fd < 0 {
        return last_error();
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let index = ifindex(name)?;
    // SAFETY: sockaddr_ll is a plain C struct for which all-zero bytes is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index;
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: sll is a valid sockaddr_ll of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) } < 0 {
        return last_error();
    }
    // SAFETY: packet_mreq is a plain C struct for which all-zero bytes is valid.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = index;
    mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
    setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)?;
    // Older kernels lack the option; own frames are then filtered by packet type on receive.
    let _ = setsockopt(
        &fd,
        libc::SOL_PACKET,
        PACKET_IGNORE_OUTGOING,
        &1 as &libc::c_int,
    );
    Ok(fd)
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: value points at a live T of exactly `len` bytes.
    if unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) } < 0
    {
        return last_error();
    }
    Ok(())
}

/// Reads one frame; `Ok(None)` when nothing is waiting.
pub(crate) fn read_frame(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(usize::try_from(n).unwrap_or(0)))
}

/// Writes one frame (dropped if the device's queue is full).
pub(crate) fn write_frame(fd: RawFd, frame: &[u8]) -> io::Result<()> {
    // SAFETY: frame is valid for reads of frame.len() bytes.
    let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
    if n < 0 {
        return last_error();
    }
    Ok(())
}

/// Waits until one of `fds` is readable or `timeout_ms` passes; returns the readable ones.
pub(crate) fn poll_readable(
    fds: &[RawFd],
    timeout_ms: i32,
    ready: &mut Vec<usize>,
) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let n = pfds.len() as libc::nfds_t;
    // SAFETY: pfds is a valid array of n pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), n, timeout_ms) };
    ready.clear();
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(e)
        };
    }
    ready.extend(
        pfds.iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i),
    );
    Ok(())
}
