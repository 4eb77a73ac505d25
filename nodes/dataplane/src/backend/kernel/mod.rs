//! The kernel backend: VM ports are TAP devices the data plane creates, the uplink is an
//! AF_PACKET socket on an existing device. IP-in-IPv6 is done in user space by the pipeline, so
//! no kernel tunnel support is needed (this machine's kernel has no `ip6tnl`).
//!
//! One thread polls every port, processes bursts, and applies programming requests between
//! bursts: the pipeline has a single writer. Needs `CAP_NET_ADMIN` and `CAP_NET_RAW`.

mod sys;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrocore_runtime::{Clock, MonoTime};

use crate::api::server::ProgramQueue;
use crate::backend::memory::PacketBuf;
use crate::pipeline::{Dataplane, PortConfig, Verdict};
use crate::tables::PortKind;
use crate::types::{Mac, PortId};

/// Frames read from one port before moving to the next: keeps one busy port from starving
/// the others and the API.
const BURST: usize = 32;

/// Longest wait for traffic before the loop looks at the API queue and the stop flag again;
/// bounds the latency of a programming call on an idle data plane.
const POLL_MS: i32 = 5;

/// How often conntrack ages a batch of flows.
const TICK: Duration = Duration::from_millis(100);

/// A port to open: its name (what interfaces refer to), kind, and the kernel device.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KernelPortSpec {
    /// Port name.
    pub name: String,
    /// VM port (a TAP device named `device` is created) or uplink (`device` must exist).
    pub kind: PortKind,
    /// Kernel device name.
    pub device: String,
}

/// Opened kernel ports.
#[derive(Debug)]
pub struct KernelPorts {
    fds: Vec<OwnedFd>,
    configs: Vec<PortConfig>,
}

impl KernelPorts {
    /// Opens every port: TAPs for VM ports, AF_PACKET for the uplink.
    pub fn open(specs: &[KernelPortSpec]) -> io::Result<Self> {
        let mut fds = Vec::new();
        let mut configs = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let (fd, mac) = match s.kind {
                PortKind::Vm => {
                    let low = u16::try_from(i).unwrap_or(u16::MAX).to_be_bytes();
                    (
                        sys::open_tap(&s.device)?,
                        Mac([0x02, 0xfc, 0, 0, low[0], low[1]]),
                    )
                }
                PortKind::Uplink => (
                    sys::open_packet_socket(&s.device)?,
                    sys::device_mac(&s.device)?,
                ),
            };
            fds.push(fd);
            configs.push(PortConfig {
                name: s.name.clone(),
                kind: s.kind,
                mac,
            });
        }
        Ok(Self { fds, configs })
    }

    /// The ports as the pipeline needs them.
    pub fn configs(&self) -> &[PortConfig] {
        &self.configs
    }

    /// Runs the forwarding loop until `stop` is set.
    pub fn run(
        &self,
        dp: &mut Dataplane,
        queue: &ProgramQueue,
        clock: &dyn Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        let raw: Vec<RawFd> = self.fds.iter().map(AsRawFd::as_raw_fd).collect();
        let mut ready = Vec::with_capacity(raw.len());
        let mut buf = PacketBuf::default();
        let mut last_tick = MonoTime::ZERO;
        while !stop.load(Ordering::Relaxed) {
            sys::poll_readable(&raw, POLL_MS, &mut ready)?;
            let now = clock.now();
            for &i in &ready {
                let port = PortId(u16::try_from(i).unwrap_or(u16::MAX));
                for _ in 0..BURST {
                    if !buf.read_from(raw[i])? {
                        break;
                    }
                    if let Verdict::Tx(out) = buf.process(dp, now, port) {
                        // A full device queue drops the frame, as a NIC would.
                        let _ = sys::write_frame(raw[out.index()], buf.bytes());
                    }
                }
            }
            queue.drain(dp, now);
            if now.saturating_since(last_tick) >= TICK {
                dp.tick(now);
                last_tick = now;
            }
        }
        Ok(())
    }
}

impl PacketBuf {
    /// Reads one frame from `fd` into the buffer; false if none is waiting.
    fn read_from(&mut self, fd: RawFd) -> io::Result<bool> {
        let mut tmp = [0u8; crate::packet::frame::BUFFER_LEN - crate::packet::frame::HEADROOM];
        match sys::read_frame(fd, &mut tmp)? {
            Some(n) => {
                self.load(&tmp[..n]);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that set the returned flag (for `run`'s `stop`).
pub fn stop_on_signals() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    &STOP
}
