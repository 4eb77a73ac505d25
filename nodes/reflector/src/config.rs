//! The reflector's configuration file (TOML); command-line flags override it field by field.
//!
//! ```toml
//! listen = ["[::]:4711"]      # metalbond TCP; [::] takes IPv4 too on Linux
//! status = "[::1]:4712"       # JSON status endpoint; "" turns it off
//! keepalive = 5               # seconds proposed to peers (the session uses the smaller side)
//! send_pause_ms = 0           # pause after each 32 KiB batch to one peer
//! log = "info"
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::message::KeepaliveInterval;
use crate::server::ServeOptions;

/// metalbond's port.
pub const DEFAULT_LISTEN: &str = "[::]:4711";
/// The status port (metalbond's HTTP page uses the same).
pub const DEFAULT_STATUS: &str = "[::1]:4712";

/// The reflector's configuration. See the module docs for the file format.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReflectorConfig {
    /// Listen addresses.
    pub listen: Vec<String>,
    /// Status address; empty for none.
    pub status: String,
    /// Keepalive interval in seconds.
    pub keepalive: u32,
    /// Pause in milliseconds after each batch written to one peer.
    pub send_pause_ms: u64,
    /// Log level.
    pub log: String,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            listen: vec![DEFAULT_LISTEN.to_owned()],
            status: DEFAULT_STATUS.to_owned(),
            keepalive: 5,
            send_pause_ms: 0,
            log: "info".to_owned(),
        }
    }
}

impl ReflectorConfig {
    /// Reads a TOML file; missing fields take their defaults.
    ///
    /// # Errors
    /// If the file cannot be read or is not valid configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        Self::parse(&text)
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// If the text is not valid configuration.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Checks the values and turns them into server options.
    ///
    /// # Errors
    /// On an unparsable address or a keepalive of 0.
    pub fn to_options(&self) -> Result<ServeOptions, ConfigError> {
        let addr = |s: &str| {
            s.parse::<SocketAddr>()
                .map_err(|_| ConfigError::Address(s.to_owned()))
        };
        let listen = self
            .listen
            .iter()
            .map(|s| addr(s))
            .collect::<Result<Vec<_>, _>>()?;
        if listen.is_empty() {
            return Err(ConfigError::Address("(no listen address)".to_owned()));
        }
        let status = if self.status.is_empty() {
            None
        } else {
            Some(addr(&self.status)?)
        };
        if self.keepalive == 0 {
            return Err(ConfigError::Keepalive);
        }
        Ok(ServeOptions {
            listen,
            status,
            keepalive: KeepaliveInterval(self.keepalive),
            send_pause: Duration::from_millis(self.send_pause_ms),
        })
    }
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("Cannot read {0}")]
    Read(String, #[source] std::io::Error),
    /// The TOML is invalid.
    #[error("Invalid configuration: {0}")]
    Parse(String),
    /// An address is not `ip:port`.
    #[error("Not a socket address: {0}")]
    Address(String),
    /// keepalive = 0.
    #[error("keepalive must be at least 1 second")]
    Keepalive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_is_checked() {
        let c = ReflectorConfig::parse(
            "listen = [\"127.0.0.1:5000\", \"[::1]:5000\"]\nkeepalive = 3\nstatus = \"\"\n",
        )
        .unwrap();
        let o = c.to_options().unwrap();
        assert_eq!(o.listen.len(), 2);
        assert_eq!(o.status, None);
        assert_eq!(o.keepalive, KeepaliveInterval(3));
        let d = ReflectorConfig::default().to_options().unwrap();
        assert_eq!(d.listen[0].port(), 4711);
        assert_eq!(d.status.map(|s| s.port()), Some(4712));
        assert!(
            ReflectorConfig::parse("keepalive = 0")
                .unwrap()
                .to_options()
                .is_err()
        );
        assert!(ReflectorConfig::parse("bogus = 1").is_err());
    }
}
