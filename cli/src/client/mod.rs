//! The API client the verbs share: the client config with contexts ([`config`]), a failover
//! session over a context's controllers ([`session`]), typed wrappers over the JSON-RPC methods
//! ([`api`]), errors that say what to do next ([`error`]) and output ([`output`], [`columns`],
//! [`table`]). docs/cli.md describes the config file and the verbs.

pub(crate) mod api;
pub(crate) mod columns;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod manifests;
pub(crate) mod output;
pub(crate) mod session;
pub(crate) mod table;

use std::path::PathBuf;

use ferrocore_api::Kind;
use ferrocore_runtime::Clock as _;

pub(crate) use api::{Api, ObjectRef, Selection};
pub(crate) use error::{ApiError, Reason};
pub(crate) use output::Format;

/// The flags every client verb takes to find its cluster.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Client config file (default: $FERROCORE_CONFIG, else ~/.config/ferrocore/config.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Context of the config file to use (default: its current_context).
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
}

impl ConnectArgs {
    /// Loads the context and prepares a session (connecting happens on the first call).
    pub(crate) fn api(&self) -> Result<Api, ApiError> {
        let ctx = config::load(self.config.as_deref(), self.context.as_deref())?;
        Ok(Api::new(session::Session::new(ctx)?))
    }
}

/// Runs `f` on a fresh multi-threaded runtime (the CLI is otherwise synchronous).
pub(crate) fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = ferrocore_runtime::build_runtime()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    Ok(rt.block_on(f))
}

/// The kind a command line names, or an error listing what exists.
pub(crate) fn parse_kind(name: &str) -> anyhow::Result<Kind> {
    Kind::from_cli(name).ok_or_else(|| {
        let known: Vec<&str> = ferrocore_api::KINDS.iter().map(|i| i.plural).collect();
        anyhow::anyhow!(
            "unknown kind {name:?}; kinds: {} (short names such as `ma`, `nic` work too)",
            known.join(", ")
        )
    })
}

/// Now, in Unix seconds, for ages.
pub(crate) fn now_unix() -> i64 {
    ferrocore_runtime::SystemClock::new()
        .wall()
        .as_unix_seconds()
}

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod fake;
