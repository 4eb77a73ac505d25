//! The in-memory backend: packet buffers in plain memory, and a fabric that joins several data
//! planes' uplinks the way an underlay switch would. Tests, the simulator (as the data plane's
//! fake) and the benchmark use it; it runs the real pipeline.

use std::net::Ipv6Addr;

use ferrocore_runtime::MonoTime;

use crate::counters::DropReason;
use crate::packet::frame::{BUFFER_LEN, Frame, HEADROOM};
use crate::pipeline::{BURST_MAX, Dataplane, Verdict};
use crate::types::PortId;

/// A packet buffer with headroom, reusable across packets (no allocation per packet).
#[derive(Clone, Debug)]
pub struct PacketBuf {
    data: Box<[u8]>,
    start: usize,
    len: usize,
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self {
            data: vec![0u8; BUFFER_LEN].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
        }
    }
}

impl PacketBuf {
    /// Loads `bytes` (truncated to the buffer) after the headroom.
    pub fn load(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(BUFFER_LEN - HEADROOM);
        self.start = HEADROOM;
        self.len = n;
        self.data[HEADROOM..HEADROOM + n].copy_from_slice(&bytes[..n]);
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.start + self.len]
    }

    /// The frame's bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.start + self.len]
    }

    /// Runs the pipeline on this buffer as received on `port`; the buffer then holds the
    /// rewritten frame.
    pub fn process(&mut self, dp: &mut Dataplane, now: MonoTime, port: PortId) -> Verdict {
        let mut frame = Frame::new(&mut self.data, self.start, self.len);
        let v = dp.process(now, port, &mut frame);
        self.start = frame.start();
        self.len = frame.len();
        v
    }
}

/// Runs the pipeline on buffers received together on `port` (see
/// [`Dataplane::process_burst`]): `verdicts[i]` is the verdict on `bufs[i]`, which then holds
/// the rewritten frame.
pub fn process_burst(
    bufs: &mut [PacketBuf],
    dp: &mut Dataplane,
    now: MonoTime,
    port: PortId,
    verdicts: &mut [Verdict],
) {
    for (bufs, verdicts) in bufs
        .chunks_mut(BURST_MAX)
        .zip(verdicts.chunks_mut(BURST_MAX))
    {
        let mut frames: heapless::Vec<Frame<'_>, BURST_MAX> = heapless::Vec::new();
        for b in bufs.iter_mut() {
            // Cannot fail: a chunk holds at most BURST_MAX buffers.
            let _ = frames.push(Frame::new(&mut b.data, b.start, b.len));
        }
        dp.process_burst(now, port, &mut frames, verdicts);
        let spans: heapless::Vec<(usize, usize), BURST_MAX> =
            frames.iter().map(|f| (f.start(), f.len())).collect();
        drop(frames);
        for (b, (start, len)) in bufs.iter_mut().zip(spans) {
            b.start = start;
            b.len = len;
        }
    }
}

/// Where a packet injected into a fabric ended up.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// Sent out of a VM port of host `host`.
    Delivered {
        /// Index of the host in the fabric.
        host: usize,
        /// The VM port.
        port: PortId,
        /// The frame as the VM receives it.
        frame: Vec<u8>,
    },
    /// Sent to the underlay towards an address no host in the fabric owns.
    Exited {
        /// The frame as it left.
        frame: Vec<u8>,
    },
    /// Dropped by host `host`.
    Dropped {
        /// Index of the host in the fabric.
        host: usize,
        /// Why.
        reason: DropReason,
    },
}

/// Underlay hops one packet may take through the fabric (relay and load balancing add one
/// each): bounds a forwarding loop between misprogrammed hosts.
const MAX_FABRIC_HOPS: usize = 8;

/// Several data planes whose uplinks share one underlay.
#[derive(Debug, Default)]
pub struct Fabric {
    /// The hosts, each with its uplink port.
    pub hosts: Vec<(Dataplane, PortId)>,
    buf: PacketBuf,
}

impl Fabric {
    /// An empty fabric.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a host whose uplink is `uplink`; returns its index.
    pub fn add(&mut self, dp: Dataplane, uplink: PortId) -> usize {
        self.hosts.push((dp, uplink));
        self.hosts.len() - 1
    }

    /// Injects a frame at `port` of host `host` and follows it across the underlay.
    pub fn inject(&mut self, now: MonoTime, host: usize, port: PortId, frame: &[u8]) -> Outcome {
        self.buf.load(frame);
        let (mut host, mut port) = (host, port);
        for _ in 0..MAX_FABRIC_HOPS {
            let Some((dp, uplink)) = self.hosts.get_mut(host) else {
                return Outcome::Dropped {
                    host,
                    reason: DropReason::NoInterface,
                };
            };
            let uplink = *uplink;
            match self.buf.process(dp, now, port) {
                Verdict::Drop(reason) => return Outcome::Dropped { host, reason },
                Verdict::Tx(out) if out != uplink => {
                    return Outcome::Delivered {
                        host,
                        port: out,
                        frame: self.buf.bytes().to_vec(),
                    };
                }
                Verdict::Tx(_) => {}
            }
            let Some(dst) = outer_dst(self.buf.bytes()) else {
                return Outcome::Exited {
                    frame: self.buf.bytes().to_vec(),
                };
            };
            match self.hosts.iter().position(|(d, _)| d.owns_underlay(dst)) {
                Some(next) => {
                    host = next;
                    port = self.hosts[next].1;
                }
                None => {
                    return Outcome::Exited {
                        frame: self.buf.bytes().to_vec(),
                    };
                }
            }
        }
        Outcome::Dropped {
            host,
            reason: DropReason::RecircLimit,
        }
    }
}

fn outer_dst(frame: &[u8]) -> Option<Ipv6Addr> {
    let b: [u8; 16] = frame.get(14 + 24..14 + 40)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}
