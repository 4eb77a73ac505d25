//! Per-port counters and the reasons a packet can be dropped.
//!
//! Every packet the pipeline handles is counted once as received on its ingress port and once
//! as either transmitted (on its egress port) or dropped (on its ingress port, by reason), so
//! `sum(rx) == sum(tx) + sum(drops)` always holds; the property tests check exactly that.

use serde::{Deserialize, Serialize};

/// Why the pipeline dropped a packet.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[repr(u8)]
pub enum DropReason {
    /// Truncated or inconsistent headers.
    Malformed,
    /// An EtherType the pipeline does not handle.
    UnknownEtherType,
    /// An IPv4 fragment (no reassembly).
    Fragment,
    /// A VM port with no interface bound to it.
    NoInterface,
    /// A source address the interface does not own.
    Spoofed,
    /// No route to the destination (an ICMP error was not possible or rate limited).
    NoRoute,
    /// The firewall denied the flow.
    Firewall,
    /// Every port of the NAT slot is in use for this destination.
    NatExhausted,
    /// Underlay traffic for an address that is not ours, or not IP-in-IPv6.
    NotOurs,
    /// Traffic to a NAT or virtual IP that belongs to no flow and no slot.
    NoFlow,
    /// A load balancer with no targets, or a port it does not balance.
    NoTarget,
    /// An ARP or neighbour discovery packet that needs no answer.
    NoAnswer,
    /// A packet that would loop through local recirculation too often.
    RecircLimit,
    /// No room in the buffer for the rewritten packet.
    NoRoom,
    /// An ICMP error was due but its rate limit was reached.
    IcmpRateLimited,
    /// IPv4 on the underlay, or a protocol the stage does not handle.
    Unsupported,
}

impl DropReason {
    /// How many reasons there are.
    pub const COUNT: usize = 16;

    /// Every reason, in declaration order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Malformed,
        Self::UnknownEtherType,
        Self::Fragment,
        Self::NoInterface,
        Self::Spoofed,
        Self::NoRoute,
        Self::Firewall,
        Self::NatExhausted,
        Self::NotOurs,
        Self::NoFlow,
        Self::NoTarget,
        Self::NoAnswer,
        Self::RecircLimit,
        Self::NoRoom,
        Self::IcmpRateLimited,
        Self::Unsupported,
    ];
}

/// One port's counters.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets transmitted (forwarded, or generated in answer to a received packet).
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets dropped, by [`DropReason`] (indexed by its discriminant).
    pub drops: Vec<u64>,
}

impl PortStats {
    /// Empty counters.
    pub fn new() -> Self {
        Self {
            drops: vec![0; DropReason::COUNT],
            ..Self::default()
        }
    }

    /// All drops of this port.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Drops for one reason.
    pub fn drops_for(&self, r: DropReason) -> u64 {
        self.drops.get(r as usize).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
