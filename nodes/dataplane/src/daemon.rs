//! The `ferrocore dataplane` process: opens the configured backend's ports, builds the
//! pipeline, programs the configured objects, serves the API socket and forwards until a
//! stop signal.

use std::sync::atomic::AtomicBool;

use ferrocore_runtime::{Clock, Rng};
use thiserror::Error;

use crate::api::server::{ProgramQueue, program_channel, serve};
use crate::backend::kernel::{KernelPortSpec, KernelPorts};
use crate::config::{BackendKind, DaemonConfig};
use crate::pipeline::{Dataplane, PortConfig};
use crate::tables::PortKind;

/// Why the daemon stopped with an error.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// A port could not be opened.
    #[error("Cannot open data plane port")]
    Port(#[source] std::io::Error),
    /// The API socket could not be served.
    #[error("Cannot serve the data plane API socket")]
    Socket(#[source] std::io::Error),
    /// An object in the config was refused.
    #[error("Config object refused: {0}")]
    Program(String),
    /// The forwarding loop failed.
    #[error("Forwarding loop failed")]
    Io(#[source] std::io::Error),
    /// The DPDK backend failed.
    #[error("DPDK backend failed: {0}")]
    Dpdk(String),
}

/// The pipeline for `ports`, with the config's objects programmed.
pub fn build_dataplane(
    cfg: &DaemonConfig,
    ports: &[PortConfig],
    clock: &dyn Clock,
    rng: &mut dyn Rng,
) -> Result<Dataplane, DaemonError> {
    let mut dp = Dataplane::new(cfg.pipeline.clone(), ports, rng);
    for req in cfg.initial_requests() {
        dp.program(clock.now(), req.clone())
            .map_err(|e| DaemonError::Program(format!("{req:?}: {e}")))?;
    }
    Ok(dp)
}

/// The kernel backend's port list for a config: VM ports first (in config order), then the
/// uplink.
pub fn kernel_ports(cfg: &DaemonConfig) -> Vec<KernelPortSpec> {
    let mut v: Vec<KernelPortSpec> = cfg
        .ports
        .iter()
        .map(|p| KernelPortSpec {
            name: p.name.clone(),
            kind: PortKind::Vm,
            device: p.name.clone(),
        })
        .collect();
    v.push(KernelPortSpec {
        name: "uplink".into(),
        kind: PortKind::Uplink,
        device: cfg.uplink.device.clone(),
    });
    v
}

/// Runs the daemon until `stop` is set; `ready` is called once the socket is served.
pub fn run(
    cfg: &DaemonConfig,
    clock: &dyn Clock,
    rng: &mut dyn Rng,
    stop: &AtomicBool,
    ready: &dyn Fn(),
) -> Result<(), DaemonError> {
    match cfg.backend {
        BackendKind::Kernel => {
            let ports = KernelPorts::open(&kernel_ports(cfg)).map_err(DaemonError::Port)?;
            let mut dp = build_dataplane(cfg, ports.configs(), clock, rng)?;
            let queue = start_api(cfg)?;
            ready();
            let r = ports
                .run(&mut dp, &queue, clock, stop)
                .map_err(DaemonError::Io);
            let _ = std::fs::remove_file(&cfg.socket);
            r
        }
        BackendKind::Dpdk => crate::backend::dpdk_run(cfg, clock, rng, stop, ready),
    }
}

/// Serves the API socket; returns the worker's end of the queue.
pub(crate) fn start_api(cfg: &DaemonConfig) -> Result<ProgramQueue, DaemonError> {
    let (handle, queue) = program_channel();
    serve(&cfg.socket, handle).map_err(DaemonError::Socket)?;
    Ok(queue)
}
