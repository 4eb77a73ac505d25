//! I/O backends that feed the pipeline: in memory (tests, simulator, benchmark), kernel (TAP
//! and AF_PACKET) and DPDK. Each is a thin loop around [`crate::Dataplane::process`].

pub mod kernel;
pub mod memory;

use std::sync::atomic::AtomicBool;

use ferrocore_runtime::{Clock, Rng};

use crate::config::DaemonConfig;
use crate::daemon::DaemonError;

#[cfg(feature = "dpdk")]
pub mod dpdk;

/// Runs the DPDK backend with the daemon's configuration.
#[cfg(feature = "dpdk")]
pub(crate) fn dpdk_run(
    cfg: &DaemonConfig,
    clock: &dyn Clock,
    rng: &mut dyn Rng,
    stop: &AtomicBool,
    ready: &dyn Fn(),
) -> Result<(), DaemonError> {
    let ports = dpdk::DpdkPorts::open(&cfg.dpdk.eal_args, &dpdk::dpdk_ports(cfg), cfg.dpdk.mbufs)
        .map_err(|e| DaemonError::Dpdk(e.to_string()))?;
    let mut dp = crate::daemon::build_dataplane(cfg, ports.configs(), clock, rng)?;
    let queue = crate::daemon::start_api(cfg)?;
    ready();
    ports.run(
        &mut dp,
        Some(&queue),
        clock,
        stop,
        cfg.dpdk.idle_sleep_us.unwrap_or(50),
    );
    let _ = std::fs::remove_file(&cfg.socket);
    Ok(())
}

/// Runs the DPDK backend (this build has no DPDK support).
#[cfg(not(feature = "dpdk"))]
pub(crate) fn dpdk_run(
    _cfg: &DaemonConfig,
    _clock: &dyn Clock,
    _rng: &mut dyn Rng,
    _stop: &AtomicBool,
    _ready: &dyn Fn(),
) -> Result<(), DaemonError> {
    Err(DaemonError::Dpdk(
        "this ferrocore was built without the DPDK backend".into(),
    ))
}
