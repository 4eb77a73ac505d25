//! I/O backends that feed the pipeline: in memory (tests, simulator, benchmark), kernel (TAP
//! and AF_PACKET) and DPDK. Each is a thin loop around [`crate::Dataplane::process`].

pub mod kernel;
pub mod memory;

use std::sync::atomic::AtomicBool;

use ferrocore_runtime::{Clock, Rng};

use crate::config::DaemonConfig;
use crate::daemon::DaemonError;

/// Runs the DPDK backend (this build has no DPDK support).
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
