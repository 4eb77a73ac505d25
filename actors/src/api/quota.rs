//! Quota admission on `object.create`: a Machine, Volume or Bucket that would take its
//! namespace over a ResourceQuota is refused with `Forbidden` (1003) naming the quota and the
//! resource (the [`crate::quota`] core decides; a Machine also charges the ephemeral Volumes it
//! asks for).
//!
//! Creates in one namespace are admitted one at a time on a controller (a per-namespace lock
//! held until the write commits), so two concurrent creates cannot both take the last unit.
//! Creates that arrive at different controllers at the same instant are not serialised against
//! each other; the quota's `status.used` shows the overshoot and later creates are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use ferrocore_api::decode::object_from_value;
use ferrocore_api::{Kind, Object};
use ferrocore_consensus::{ListOptions, ObjectStore};
use tokio::sync::OwnedMutexGuard;

use super::objects::target_of_object;
use super::{ApiError, Inner, Reason};
use crate::quota;
use crate::reconcile::Snapshot;

/// Namespaces whose lock is kept: beyond this many, idle locks are dropped (a lock nobody holds
/// protects nothing).
const NAMESPACE_LOCKS_MAX: usize = 1024;

/// The per-namespace admission locks.
#[derive(Debug, Default)]
pub(crate) struct QuotaLocks {
    // Never iterated for decisions; only pruned when it grows.
    by_namespace: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl QuotaLocks {
    async fn lock(&self, namespace: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .by_namespace
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map.len() >= NAMESPACE_LOCKS_MAX {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(namespace.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

fn charged(kind: Kind) -> bool {
    matches!(kind, Kind::Machine | Kind::Volume | Kind::Bucket)
}

/// What quota admission reads: the namespace's quotas and chargeable objects, and the classes.
/// `None` when the namespace has no quota (nothing to check).
fn quota_view(store: &ObjectStore, namespace: &str) -> Option<Snapshot> {
    let list = |kind: Kind, ns: Option<&str>| {
        let options = ListOptions {
            namespace: ns.map(str::to_owned),
            ..ListOptions::default()
        };
        store
            .list(kind.group(), kind.name(), &options)
            .map(|p| p.items)
            .unwrap_or_default()
    };
    let quotas = list(Kind::ResourceQuota, Some(namespace));
    if quotas.is_empty() {
        return None;
    }
    let mut view = Snapshot::new();
    let mut take = |items: Vec<ferrocore_consensus::JsonObject>| {
        for raw in items {
            if let Ok(o) = object_from_value(raw.value().clone()) {
                view.put(o);
            }
        }
    };
    take(quotas);
    for kind in [Kind::Machine, Kind::Volume, Kind::Bucket] {
        take(list(kind, Some(namespace)));
    }
    for kind in [Kind::MachineClass, Kind::VolumeClass, Kind::BucketClass] {
        take(list(kind, None));
    }
    Some(view)
}

impl Inner {
    /// Checks `object` against its namespace's quotas; on success returns the namespace lock,
    /// to be held until the create is committed.
    pub(super) async fn admit_quota(
        &self,
        object: &Object,
    ) -> Result<Option<OwnedMutexGuard<()>>, ApiError> {
        if !charged(object.kind()) {
            return Ok(None);
        }
        let namespace = object.meta().namespace.clone();
        let guard = self.quota_locks.lock(&namespace).await;
        let view = self
            .read(false, |store| quota_view(store, &namespace))
            .await?;
        if let Some(view) = view
            && let Err(exceeded) = quota::admit(object, None, &view)
        {
            return Err(ApiError::app(Reason::Forbidden, exceeded.to_string())
                .about(&target_of_object(object)));
        }
        Ok(Some(guard))
    }
}
