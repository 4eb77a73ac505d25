//! A domain's serial console through its pseudo-terminal: the `<console type='pty'
//! tty='/dev/pts/N'>` path from the live XML, opened read-write in raw mode. (A libvirt stream
//! from `virDomainOpenConsole` was tried first: a blocking `virStreamRecv` holds the client's
//! I/O loop, so writes and every other call on that connection wait behind it.)
//!
//! The compute node and libvirtd share a host, so the pty is local.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::host::{ConsoleIo, HostError};
use crate::runtime::lock;

/// The console.
#[derive(Debug)]
pub(crate) struct PtyConsole {
    reader: Mutex<File>,
    writer: Mutex<File>,
}

fn failed(what: &str, e: &std::io::Error) -> HostError {
    HostError::Failed(format!("console {what}: {e}"))
}

impl PtyConsole {
    /// Opens `pty` in raw mode (no echo processing, no line discipline on our side).
    pub(crate) fn open(pty: &Path) -> Result<Self, HostError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(pty)
            .map_err(|e| failed("open", &e))?;
        let fd = file.as_raw_fd();
        // SAFETY: `termios` is plain data that tcgetattr fills in completely; `fd` is an open
        // descriptor owned by `file` for the duration of these calls.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(fd, libc::TCSANOW, &t);
            }
        }
        let writer = file.try_clone().map_err(|e| failed("dup", &e))?;
        Ok(Self {
            reader: Mutex::new(file),
            writer: Mutex::new(writer),
        })
    }
}

impl ConsoleIo for PtyConsole {
    fn read(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, HostError> {
        let mut file = lock(&self.reader);
        let mut fds = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for an fd owned by `file`, which outlives the call.
        let ready = unsafe { libc::poll(&mut fds, 1, ms) };
        if ready <= 0 {
            return Ok(0);
        }
        if fds.revents & (libc::POLLHUP | libc::POLLERR) != 0 && fds.revents & libc::POLLIN == 0 {
            return Err(HostError::NotFound("console closed".into()));
        }
        match file.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(failed("read", &e)),
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        let mut file = lock(&self.writer);
        let mut rest = bytes;
        // The pty is non-blocking: retry a full buffer a bounded number of times (each retry
        // waits 10 ms; 500 retries = 5 s for the guest to drain its input).
        let mut retries = 500;
        while !rest.is_empty() {
            match file.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && retries > 0 => {
                    retries -= 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(failed("write", &e)),
            }
        }
        Ok(())
    }
}
