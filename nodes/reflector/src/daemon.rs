//! Blocking entry points for the `ferrocore` binary: run a reflector, or a client that
//! prints (and optionally installs) the merged table, until interrupted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrocore_runtime::{OsSeededRng, SystemClock, build_runtime};

use crate::client::{Client, ClientConfig};
use crate::kernel::{KernelError, KernelInstaller, TableMap};
use crate::message::{Action, KeepaliveInterval};
use crate::route::{Route, Vni};
use crate::server::{ServeOptions, serve};

/// Changes taken from the client per wake-up when printing/installing: bounds the work done
/// between two checks for Ctrl-C.
const CHANGES_PER_BATCH: usize = 4_096;

/// Runs a reflector until Ctrl-C.
///
/// # Errors
/// If the runtime cannot start or an address cannot be bound.
pub fn run_server(opts: &ServeOptions) -> io::Result<()> {
    build_runtime()?.block_on(async {
        let handle = serve(opts, Arc::new(SystemClock::new())).await?;
        for addr in handle.listen_addrs() {
            println!("reflector listening on {addr}");
        }
        if let Some(addr) = handle.status_addr() {
            println!("status on http://{addr}/status.json");
        }
        tokio::signal::ctrl_c().await?;
        handle.shutdown();
        Ok(())
    })
}

/// What `ferrocore reflector client` does.
#[derive(Clone, Debug)]
pub struct ClientRun {
    /// Reflectors to connect to.
    pub servers: Vec<SocketAddr>,
    /// VNIs to subscribe to.
    pub subscribe: Vec<Vni>,
    /// Routes to announce.
    pub announce: Vec<Route>,
    /// Kernel installation: tunnel device, VNI→table map, IPv4 destinations only.
    pub install: Option<(String, TableMap, bool)>,
    /// Keepalive interval proposed.
    pub keepalive: KeepaliveInterval,
}

/// Runs a client until Ctrl-C, printing `+ route` / `- route` for every merged-table change.
///
/// # Errors
/// If the runtime cannot start, the OS has no entropy, or the kernel refuses a route.
pub fn run_client(run: &ClientRun) -> io::Result<()> {
    let mut kernel = match &run.install {
        None => None,
        Some((tun, tables, v4)) => match KernelInstaller::open(tun, tables.clone(), *v4) {
            Ok(k) => Some(k),
            Err(e @ KernelError::Unsupported(_)) => {
                eprintln!("{e}");
                None
            }
            Err(e) => return Err(io::Error::other(e)),
        },
    };
    let rng = OsSeededRng::new().map_err(|e| io::Error::other(e.to_string()))?;
    build_runtime()?.block_on(async {
        let mut cfg = ClientConfig::new(run.servers.clone());
        cfg.keepalive = run.keepalive;
        let client = Client::start(cfg, Arc::new(SystemClock::new()), Box::new(rng));
        for vni in &run.subscribe {
            client.subscribe(*vni);
        }
        client.announce_all(run.announce.iter().copied());
        loop {
            tokio::select! {
                biased;
                r = tokio::signal::ctrl_c() => return r,
                changes = client.next_changes(CHANGES_PER_BATCH) => {
                    for ch in changes {
                        let sign = if ch.action == Action::Add { '+' } else { '-' };
                        println!("{sign} {}", ch.route);
                        if let Some(k) = kernel.as_mut() {
                            k.apply(&ch).map_err(io::Error::other)?;
                        }
                    }
                }
            }
        }
    })
}
