//! A metalbond wire-compatible route reflector (`ferrocore reflector`) and the client library
//! network nodes use to announce and receive routes.
//!
//! What it is: the metalbond protocol byte for byte (4-byte header, proto3 payloads), a sans-IO
//! reflector core and client core, the tokio TCP adapters that drive them, a JSON status
//! endpoint, and optional installation of received routes into the kernel. What it is not: a
//! BGP speaker, or anything that talks server to server (HA is two reflectors that every client
//! connects to, as with metalbond).
//!
//! ```text
//!  wire:   frame ── FrameDecoder/encode_frame ── Message (message.rs, proto.rs)
//!  cores:  Session (handshake, keepalive) · RouteTable · Outbox (paced sends)
//!          ReflectorCore (server)           ClientCore (merged table over N reflectors)
//!  I/O:    server::serve (TCP + status)      client::Client (one task pair per reflector)
//! ```

mod bench;
mod client;
mod client_core;
mod config;
mod conn;
mod daemon;
mod frame;
mod kernel;
mod message;
mod netlink;
mod outbox;
mod proto;
mod reflector;
mod route;
mod server;
mod session;
mod status;
mod table;

pub use bench::{BenchOptions, BenchReport, run_bench};
pub use client::{Client, ClientConfig};
pub use client_core::{ClientCommand, ClientCore, REFLECTORS_MAX, ReflectorId, RouteChange};
pub use config::{ConfigError, DEFAULT_LISTEN, DEFAULT_STATUS, ReflectorConfig};
pub use daemon::{ClientRun, run_client, run_server};
pub use frame::{
    FrameDecoder, FrameError, HEADER_LEN, PAYLOAD_LEN_MAX, VERSION, encode_frame, frame_bytes,
};
pub use kernel::{KernelError, KernelInstaller, TableMap};
pub use message::{Action, DecodeError, KeepaliveInterval, Message, MessageType};
pub use reflector::{
    Command, PeerId, PeerStatus, ROUTES_PER_PEER_MAX, ReflectorCore, SUBSCRIPTION_BURST_MAX,
    SUBSCRIPTIONS_PER_PEER_MAX, SUBSCRIPTIONS_PER_SECOND, Status,
};
pub use route::{Destination, NextHop, NextHopKind, PortRange, Route, RouteError, Vni};
pub use server::{CONNECTIONS_MAX, ServeOptions, ServerHandle, serve};
pub use session::{ProtocolError, SessionState};
pub use status::init_logging;
