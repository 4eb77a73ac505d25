//! Packet buffers, header parsing and rewriting, and the answers the data plane builds itself
//! (ARP, neighbour discovery, DHCP, ICMP).

pub mod build;
pub(crate) mod csum;
pub(crate) mod dhcp;
pub mod frame;
pub(crate) mod parse;
pub(crate) mod respond;
pub(crate) mod rewrite;
