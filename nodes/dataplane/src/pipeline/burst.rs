//! Bursts: the pipeline's answer to DPDK's receive bursts. The frames of a burst are processed
//! one after another exactly as [`Dataplane::process`] would, but first the conntrack index
//! buckets and then the flows of the whole burst are prefetched, so that with large tables the
//! cache misses of up to [`BURST_MAX`] packets overlap instead of following each other.

use ferrocore_runtime::MonoTime;

use super::{Dataplane, Verdict};
use crate::conntrack::{FlowKey, Side};
use crate::packet::frame::Frame;
use crate::packet::parse::proto;
use crate::tables::PortKind;
use crate::types::{PortId, Vni};

/// Frames prefetched together (DPDK's customary receive burst): bounds the hashes kept on
/// the stack, and more would evict the first prefetches before they are used.
pub const BURST_MAX: usize = 32;

impl Dataplane {
    /// Handles frames received together on `port`: `verdicts[i]` is what
    /// [`Self::process`] says for `frames[i]` (the frames are processed in order, with the
    /// same results as one call each). Extra frames or verdicts beyond the shorter of the two
    /// slices are left alone.
    pub fn process_burst(
        &mut self,
        now: MonoTime,
        port: PortId,
        frames: &mut [Frame<'_>],
        verdicts: &mut [Verdict],
    ) {
        for (frames, verdicts) in frames
            .chunks_mut(BURST_MAX)
            .zip(verdicts.chunks_mut(BURST_MAX))
        {
            self.prefetch_flows(port, frames);
            for (frame, verdict) in frames.iter_mut().zip(verdicts.iter_mut()) {
                *verdict = self.process(now, port, frame);
            }
        }
    }

    /// Prefetches the conntrack state of a burst from a VM port (the flow key sits at fixed
    /// offsets there); a frame whose key cannot be read this way is simply not prefetched.
    fn prefetch_flows(&self, port: PortId, frames: &[Frame<'_>]) {
        let is_vm = self
            .tables
            .ports
            .get(port.index())
            .is_some_and(|p| p.kind == PortKind::Vm);
        let Some(iface) = self.tables.iface(port).filter(|_| is_vm) else {
            return;
        };
        let vni = iface.spec.vni;
        let mut hashes = [None; BURST_MAX];
        for (h, f) in hashes.iter_mut().zip(frames) {
            *h = peek_vm_key(f.data(), vni).map(|k| self.ct.hash(&k));
            if let Some(h) = *h {
                self.ct.prefetch_index(h);
            }
        }
        for h in hashes.iter().flatten() {
            self.ct.prefetch_flow(*h);
        }
    }
}

/// The conntrack key of a TCP or UDP packet from a VM, read at fixed offsets (untagged
/// Ethernet; IPv4 with any header length, IPv6 without extension headers). `None` for
/// anything else; the pipeline proper parses every frame anyway.
fn peek_vm_key(b: &[u8], vni: Vni) -> Option<FlowKey> {
    let be16 = |o: usize| Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]));
    let (v6, proto, src, dst, l4) = match be16(12)? {
        0x0800 => {
            let ihl = usize::from(b.get(14)? & 0x0f) * 4;
            let addr = |o: usize| -> Option<u128> {
                Some(u128::from(u32::from_be_bytes(
                    b.get(o..o + 4)?.try_into().ok()?,
                )))
            };
            (false, *b.get(23)?, addr(26)?, addr(30)?, 14 + ihl)
        }
        0x86dd => {
            let addr = |o: usize| -> Option<u128> {
                Some(u128::from_be_bytes(b.get(o..o + 16)?.try_into().ok()?))
            };
            (true, *b.get(20)?, addr(22)?, addr(38)?, 54)
        }
        _ => return None,
    };
    if proto != proto::TCP && proto != proto::UDP {
        return None;
    }
    let ip = |x: u128| {
        if v6 {
            std::net::IpAddr::V6(x.into())
        } else {
            std::net::IpAddr::V4(u32::try_from(x).unwrap_or(0).into())
        }
    };
    Some(FlowKey::new(
        vni,
        Side::Vm,
        ip(src),
        ip(dst),
        proto,
        be16(l4)?,
        be16(l4 + 2)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build;
    use crate::packet::parse::{Class, classify};

    #[test]
    fn peeked_keys_match_the_parsed_ones() {
        for f in [
            build::udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, 10),
            build::tcp(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::9".parse().unwrap(),
                5000,
                80,
                2,
            ),
        ] {
            let Ok(Class::Ip(l)) = classify(&f) else {
                panic!("not ip")
            };
            let want = FlowKey::new(Vni(7), Side::Vm, l.src, l.dst, l.proto, l.sport, l.dport);
            assert_eq!(peek_vm_key(&f, Vni(7)), Some(want));
        }
        let echo = build::echo4([10, 0, 0, 1], [10, 0, 0, 2], 7, true);
        assert_eq!(peek_vm_key(&echo, Vni(7)), None);
        assert_eq!(peek_vm_key(&[0u8; 20], Vni(7)), None);
    }
}
