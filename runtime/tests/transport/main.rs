//! Loopback tests of the transport: real quinn on 127.0.0.1:0, real TLS with a fresh CA.

mod auth;
mod common;
mod hostile;
mod net;
mod rpc;
