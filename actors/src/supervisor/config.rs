//! The `[plane]` table of a controller's config: timing knobs of the supervisor, the
//! schedulers, pool health and the node broker, with upstream's defaults. Tests set them short.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::HealthConfig;
use crate::ipam::IpamConfig;
use crate::scheduler::SchedulerConfig;

/// Timing and limits of the control plane's runtime half; every field has a default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PlaneConfig {
    /// How often nodes are expected to heartbeat (upstream `--heartbeat-interval`, 10 s).
    pub heartbeat_interval_ms: u64,
    /// How long a node may consider its lease valid (upstream 40 s).
    pub lease_duration_ms: u64,
    /// How long without a heartbeat until a pool is `Ready=Unknown` (upstream 50 s).
    pub grace_period_ms: u64,
    /// How long an assumed placement waits for its bind before it is sent again.
    pub assume_ttl_ms: u64,
    /// How long a failed prefix allocation waits before the child asks again (upstream 1 s).
    pub prefix_allocation_retry_ms: u64,
    /// First wait before a node command without a result is sent again (doubles per attempt).
    pub command_retry_ms: u64,
    /// Longest wait between re-sends of one node command.
    pub command_retry_max_ms: u64,
    /// First wait before a crashed actor is restarted (doubles per crash).
    pub restart_backoff_ms: u64,
    /// Longest wait before a crashed actor is restarted.
    pub restart_backoff_max_ms: u64,
    /// Every actor reconciles at least this often even without events (level-triggered safety
    /// net against a missed dependency).
    pub resync_interval_ms: u64,
    /// How often the leader confirms it still leads (a leader that cannot stops its actors
    /// within one election timeout). 0: half the configured minimum election timeout.
    pub leadership_check_ms: u64,
    /// The cluster CA key, used to sign the certificates of joining nodes. Without it, nodes
    /// cannot join (they may still connect with certificates issued elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<PathBuf>,
}

impl Default for PlaneConfig {
    fn default() -> Self {
        let health = HealthConfig::default();
        Self {
            heartbeat_interval_ms: millis(health.heartbeat_interval),
            lease_duration_ms: millis(health.lease_duration),
            grace_period_ms: millis(health.grace_period),
            assume_ttl_ms: millis(SchedulerConfig::default().assume_ttl),
            prefix_allocation_retry_ms: millis(IpamConfig::default().allocation_retry),
            command_retry_ms: 10_000,
            command_retry_max_ms: 300_000,
            restart_backoff_ms: 100,
            restart_backoff_max_ms: 30_000,
            resync_interval_ms: 60_000,
            leadership_check_ms: 0,
            ca_key: None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl PlaneConfig {
    /// Pool health timing.
    pub fn health(&self) -> HealthConfig {
        HealthConfig {
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            lease_duration: Duration::from_millis(self.lease_duration_ms),
            grace_period: Duration::from_millis(self.grace_period_ms),
        }
    }

    /// Scheduler timing.
    pub fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            assume_ttl: Duration::from_millis(self.assume_ttl_ms),
        }
    }

    /// IPAM timing.
    pub fn ipam(&self) -> IpamConfig {
        IpamConfig {
            allocation_retry: Duration::from_millis(self.prefix_allocation_retry_ms),
        }
    }

    /// Re-send timing of node commands.
    pub(crate) fn command_retry(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.command_retry_ms.max(1)),
            Duration::from_millis(self.command_retry_max_ms.max(self.command_retry_ms)),
        )
    }

    /// Restart backoff of crashed actors.
    pub(crate) fn restart_backoff(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.restart_backoff_ms.max(1)),
            Duration::from_millis(self.restart_backoff_max_ms.max(self.restart_backoff_ms)),
        )
    }

    /// The resync interval.
    pub(crate) fn resync(&self) -> Duration {
        Duration::from_millis(self.resync_interval_ms.max(100))
    }

    /// Checks the knobs against each other.
    ///
    /// # Errors
    /// A message naming the first inconsistent knob.
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat_interval_ms == 0 {
            return Err("plane: heartbeat_interval_ms must be greater than 0".into());
        }
        if self.grace_period_ms <= self.heartbeat_interval_ms {
            return Err("plane: grace_period_ms must exceed heartbeat_interval_ms".into());
        }
        Ok(())
    }
}

/// Doubles `base` per attempt, capped at `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams_and_parse_from_toml() {
        let c = PlaneConfig::default();
        assert_eq!(c.health(), HealthConfig::default());
        c.check().unwrap();
        let c: PlaneConfig =
            toml::from_str("grace_period_ms = 3000\nheartbeat_interval_ms = 500").unwrap();
        assert_eq!(c.health().grace_period, Duration::from_secs(3));
        assert!(toml::from_str::<PlaneConfig>("bogus = 1").is_err());
        let bad: PlaneConfig = toml::from_str("grace_period_ms = 10").unwrap();
        assert!(bad.check().is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let (b, m) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff(b, m, 0), b);
        assert_eq!(backoff(b, m, 2), Duration::from_millis(400));
        assert_eq!(backoff(b, m, 40), m);
    }
}
