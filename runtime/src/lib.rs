//! ferrocore's runtime: the only crate that reads clocks, draws randomness from the operating
//! system, spawns tasks and owns sockets.
//!
//! Everything nondeterministic enters the rest of the workspace through the seams defined here:
//! [`Clock`] for time, [`Rng`] for randomness, [`Net`] for streams between peers, `Disk`, and
//! spawning. Each seam has a real implementation and a deterministic one ([`ManualClock`],
//! [`SeededRng`], [`MemNetwork`]) that tests and the simulator drive.
//!
//! It also owns the transport (docs/transport.md, docs/rpc.md): the cluster PKI
//! ([`ClusterCa`]), the QUIC [`Endpoint`] serving the Raft, RPC and node ALPNs on one port, the
//! length-prefixed [`frame`] codec, and JSON-RPC 2.0 ([`RpcServer`] with a pluggable
//! [`Handler`], [`RpcClient`]), which knows no methods.
//!
//! It is not where decisions are made: cores in other crates take time and randomness as inputs.

mod auth;
mod clock;
mod disk;
pub mod frame;
mod identity;
mod jsonrpc;
mod net;
mod net_mem;
mod net_quic;
mod pki;
mod quic;
mod rng;
mod rpc_client;
mod rpc_server;
mod task;
mod tls;

pub use clock::{Clock, ManualClock, MonoTime, SystemClock, WallTime};
pub use disk::{Disk, DiskFile, SimDisk, StdDisk, Tear, write_atomic};
pub use rng::{OsSeededRng, Rng, SeededRng};
pub use task::{Elapsed, WORKER_THREADS, build_runtime, sleep, spawn, timeout};

// Transport: PKI, QUIC endpoint, Net seam, JSON-RPC (docs/transport.md, docs/rpc.md).
pub use auth::{BearerToken, Principal, TokenSet};
pub use frame::{FrameError, MaxFrameLen};
pub use identity::{Identity, IdentityParseError};
pub use jsonrpc::{ErrorCode, JSONRPC_VERSION, RpcError};
pub use net::{BiStream, IncomingStream, Net, NetError, RequestFn, request_reply, serve_requests};
pub use net_mem::{MemNet, MemNetwork};
pub use net_quic::{PeerAddr, QuicNet};
pub use pki::{
    CA_VALIDITY, CERT_VALIDITY, CertRequest, CertUsage, ClusterCa, Credentials, Fingerprint,
    PkiError, TrustRoots,
};
pub use quic::{
    Alpn, BoxFuture, CloseCode, ConnectionHandler, DEFAULT_PORT, Endpoint, PeerConnection, Router,
    TransportError, TransportLimits,
};
pub use rpc_client::{ClientAuth, ClientConfig, ClientError, ClientSubscription, RpcClient};
pub use rpc_server::{
    Call, Handler, Notifier, Reply, RpcServer, RpcServerConfig, SUBSCRIPTION_BUFFER,
    SubscriberGone, Subscription,
};
pub use tls::TlsError;
