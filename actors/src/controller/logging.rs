//! Process logging for the controller: `tracing` to standard error, filtered by `RUST_LOG`
//! (default `info`, with openraft's own chatter at `warn`).

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,openraft=warn";

/// Installs the global subscriber (once; later calls do nothing).
pub fn init_logging() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
