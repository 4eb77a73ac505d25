//! The controller's TOML config (docs/controller.md). Relative paths are relative to the
//! config file's directory, so a bootstrapped controller directory can be moved as a whole.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocore_consensus::{NodeAddr, NodeId};
use ferrocore_runtime::TransportLimits;
use serde::{Deserialize, Serialize};

use super::ControllerError;

/// One controller's configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// This controller's Raft node id (> 0), stable for the life of its data directory.
    pub id: u64,
    /// The cluster's name (shown by `cluster.status`).
    pub cluster: String,
    /// The UDP address to listen on for Raft, RPC and node traffic.
    pub listen: SocketAddr,
    /// Where other controllers reach this one (`host:port`); defaults to `listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// The data directory (Raft log and snapshots under `raft/`, the secrets key).
    pub data_dir: PathBuf,
    /// Whether this controller belongs to the initial member set written by `cluster
    /// bootstrap`: the lowest id among `peers` forms the cluster on its first start. Controllers
    /// added later have `false` and wait to be added with `cluster.add_member`.
    #[serde(default)]
    pub bootstrap: bool,
    /// The secrets-at-rest key file; defaults to `<data_dir>/secrets.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_key: Option<PathBuf>,
    /// The initial members, id → `host:port` (ids as TOML keys: `1 = "10.0.0.1:7700"`).
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Certificates.
    pub tls: TlsFiles,
    /// Bearer tokens for clients without a certificate.
    #[serde(default)]
    pub auth: AuthFiles,
    /// Raft timing and storage knobs.
    #[serde(default)]
    pub raft: RaftTiming,
    /// QUIC limits (see docs/transport.md).
    #[serde(default)]
    pub transport: TransportLimits,
    /// The control plane's timing knobs and the CA key for node join (docs/node-agent.md).
    #[serde(default)]
    pub plane: crate::supervisor::PlaneConfig,
}

/// The certificate files.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster CA certificate.
    pub ca: PathBuf,
    /// This controller's certificate (CN `controller:<id>`).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The token file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthFiles {
    /// Lines of `<name> <token>` (`#` starts a comment); absent: certificates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<PathBuf>,
}

/// Raft timing and storage knobs; every field has the production default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTiming {
    /// Leader heartbeat interval.
    pub heartbeat_interval_ms: u64,
    /// Shortest election timeout (well above the heartbeat interval).
    pub election_timeout_min_ms: u64,
    /// Longest election timeout.
    pub election_timeout_max_ms: u64,
    /// A snapshot is taken every this many log entries.
    pub snapshot_logs: u64,
    /// Log entries kept behind a snapshot for followers that lag a little.
    pub snapshot_keep_logs: u64,
    /// Size at which the log rolls to a new segment file.
    pub segment_bytes: u64,
    /// Watch events kept for watchers that resume.
    pub watch_retention: usize,
    /// How long a write may take to commit before the client gets `Timeout`.
    pub write_timeout_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            // etcd's defaults (100 ms heartbeat, elections after 1-2 s): under load on a small
            // machine a heartbeat can take longer than 150 ms, and needless elections cost every
            // in-flight write.
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 1_000,
            election_timeout_max_ms: 2_000,
            snapshot_logs: 10_000,
            snapshot_keep_logs: 1_000,
            segment_bytes: ferrocore_consensus::SEGMENT_BYTES_DEFAULT,
            watch_retention: ferrocore_consensus::WATCH_RETENTION_DEFAULT,
            write_timeout_ms: 10_000,
        }
    }
}

impl RaftTiming {
    /// The write timeout as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

impl ControllerConfig {
    /// Reads `path` and resolves relative paths against its directory.
    ///
    /// # Errors
    /// [`ControllerError::Config`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, ControllerError> {
        let fail = |reason: String| ControllerError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut config: Self = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve(base);
        config.check().map_err(fail)?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.data_dir);
        join(&mut self.tls.ca);
        join(&mut self.tls.cert);
        join(&mut self.tls.key);
        if let Some(p) = self.auth.tokens.as_mut() {
            join(p);
        }
        if let Some(p) = self.secrets_key.as_mut() {
            join(p);
        }
        if let Some(p) = self.plane.ca_key.as_mut() {
            join(p);
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("id must be greater than 0".into());
        }
        self.members()?;
        let r = &self.raft;
        if r.heartbeat_interval_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return Err("raft: election_timeout_min_ms must exceed heartbeat_interval_ms".into());
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err("raft: election_timeout_max_ms must exceed election_timeout_min_ms".into());
        }
        if self.bootstrap && !self.members()?.contains_key(&NodeId(self.id)) {
            return Err("bootstrap is set but peers does not list this controller's id".into());
        }
        self.plane.check()
    }

    /// `peers` with parsed ids.
    ///
    /// # Errors
    /// A key that is not a positive integer.
    pub fn members(&self) -> Result<BTreeMap<NodeId, NodeAddr>, String> {
        self.peers
            .iter()
            .map(|(id, addr)| match id.parse::<u64>() {
                Ok(n) if n > 0 => Ok((NodeId(n), NodeAddr::new(addr.clone()))),
                _ => Err(format!("peers: {id:?} is not a controller id")),
            })
            .collect()
    }

    /// Where other controllers reach this one.
    pub fn advertised(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }

    /// The secrets-at-rest key file.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    /// openraft's config from the timing knobs.
    pub(crate) fn openraft(&self) -> openraft::Config {
        let r = &self.raft;
        openraft::Config {
            cluster_name: self.cluster.clone(),
            heartbeat_interval: r.heartbeat_interval_ms,
            election_timeout_min: r.election_timeout_min_ms,
            election_timeout_max: r.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(r.snapshot_logs.max(1)),
            max_in_snapshot_log_to_keep: r.snapshot_keep_logs,
            ..Default::default()
        }
    }
}

/// Reads a token file: `<name> <token>` per line, `#` comments, blank lines ignored.
///
/// # Errors
/// A line without both parts.
pub(crate) fn parse_tokens(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, line)| {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(name), Some(token), None) => Ok((name.to_owned(), token.to_owned())),
                _ => Err(format!("line {n}: expected `<name> <token>`")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
id = 2
cluster = "lab"
listen = "127.0.0.1:7701"
data_dir = "data"
bootstrap = true

[peers]
1 = "127.0.0.1:7700"
2 = "127.0.0.1:7701"

[tls]
ca = "ca.crt"
cert = "controller-2.crt"
key = "/abs/controller-2.key"

[auth]
tokens = "tokens"

[raft]
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
"#;

    #[test]
    fn a_config_reads_with_defaults_and_relative_paths() {
        let mut config: ControllerConfig = toml::from_str(SAMPLE).unwrap();
        config.resolve(Path::new("/etc/fc"));
        config.check().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/etc/fc/data"));
        assert_eq!(config.tls.key, PathBuf::from("/abs/controller-2.key"));
        assert_eq!(config.raft.snapshot_logs, 10_000);
        assert_eq!(config.members().unwrap().len(), 2);
        assert_eq!(config.advertised(), "127.0.0.1:7701");
        assert_eq!(
            config.secrets_key_path(),
            PathBuf::from("/etc/fc/data/secrets.key")
        );
        let raft = config.openraft();
        assert_eq!(raft.heartbeat_interval, 100);
        assert!(raft.validate().is_ok());
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let bad = SAMPLE.replace("1 = \"127", "x = \"127");
        let config: ControllerConfig = toml::from_str(&bad).unwrap();
        assert!(config.check().unwrap_err().contains("peers"));
        assert!(toml::from_str::<ControllerConfig>(&format!("{SAMPLE}\nbogus = 1")).is_err());
        let slow = SAMPLE.replace(
            "election_timeout_min_ms = 500",
            "election_timeout_min_ms = 50",
        );
        let config: ControllerConfig = toml::from_str(&slow).unwrap();
        assert!(config.check().is_err());
    }

    #[test]
    fn token_files_parse() {
        let tokens = parse_tokens("# cluster tokens\nadmin abc\n\nci  def\n").unwrap();
        assert_eq!(
            tokens,
            vec![("admin".into(), "abc".into()), ("ci".into(), "def".into())]
        );
        assert!(parse_tokens("lonely\n").is_err());
    }
}
