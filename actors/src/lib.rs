//! ferrocore's control plane, run on the controllers: the API service (`object.*` and
//! `cluster.*` JSON-RPC methods, docs/rpc.md) with admission and Secrets encrypted at rest, and
//! the controller process wiring (config, QUIC endpoint, Raft transport, bootstrap files;
//! docs/controller.md). Schedulers, one supervised actor per object, the ironcore-net
//! allocators, quota, garbage collection, pool health and the node broker come next.
//!
//! It knows nodes only through the node-protocol types in `ferrocore-api`; it never imports a
//! node crate. It is not the store (that is `ferrocore-consensus`) nor the transport (that is
//! `ferrocore-runtime`).

mod api;
mod broker;
mod controller;
mod supervisor;

// The sans-IO decision cores of the control plane (docs/control-plane.md).
pub mod cores;
pub mod health;
pub mod ipam;
pub mod quota;
pub mod reconcile;
pub mod scheduler;

pub use api::{
    ADMISSION_RETRIES_MAX, ApiService, ApiSettings, CipherError, LIST_LIMIT_MAX, SECRET_KEY_BYTES,
    SecretCipher,
};
pub use broker::{JOIN_METHOD, JoinError, NODE_TOKEN_PREFIX, NodeBroker, NodeSigner};
pub use controller::{
    BootstrapError, BootstrapOutput, BootstrapPlan, CLUSTER_SERVER_NAME, Controller,
    ControllerConfig, ControllerError, ControllerNode, RAFT_FRAME_MAX, RaftTiming, bootstrap,
    init_logging, run_controller,
};
pub use supervisor::{Plane, PlaneConfig};
