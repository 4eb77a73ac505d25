//! The local programming API: messages, their framing, a server that feeds them to the
//! pipeline's owner, and the client the network agent uses.

pub mod client;
pub mod codec;
pub mod proto;
pub mod server;
