//! IPAM (upstream `prefix` and `prefixallocationscheduler` controllers): Prefixes and
//! PrefixAllocations.
//!
//! - A root Prefix (no parent) is `Allocated` at once.
//! - A child Prefix asks its parent for space through a PrefixAllocation of the same name that
//!   it controls (explicit `prefix`, else `prefixLength`; `parentRef`, else `parentSelector`).
//!   Once the allocation is `Allocated`, the child's `spec.prefix` (and `parentRef`, when a
//!   selector found the parent) are filled in and it becomes `Allocated` itself. A `Failed`
//!   allocation is deleted after `allocation_retry` and asked again.
//! - Every allocated Prefix serves allocations aimed at it: its free space is its prefix minus
//!   what allocations hold; an explicit request takes exactly that block, a length request the
//!   first free aligned block ([`FreeSet`]). Pending allocations are served in name order, so the
//!   outcome does not depend on event order. `status.used` lists what is handed out.
//! - An allocation with a `prefixSelector` gets a parent: the first allocated Prefix by name
//!   that matches, has the family and has room (upstream picks at random), else it fails.

mod set;

use std::time::Duration;

use ferrocore_api::ipam::{
    Prefix, PrefixAllocation, PrefixAllocationPhase, PrefixAllocationSpec, PrefixAllocationStatus,
    PrefixPhase, PrefixStatus,
};
use ferrocore_api::meta::{ObjectMeta, Time};
use ferrocore_api::{IpPrefix, LocalObjectReference, Resource};
use serde_json::json;

pub use set::{FreeSet, bounds};

use crate::reconcile::util::{
    api_time, controller_ref, delete, is_controlled_by, key_of, patch, status_update,
};
use crate::reconcile::{Command, Ctx, ViewExt};

/// Timing of IPAM.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct IpamConfig {
    /// How long a failed allocation stays before the child asks again (upstream's
    /// `--prefix-allocation-timeout` is 1 s).
    pub allocation_retry: Duration,
}

impl Default for IpamConfig {
    fn default() -> Self {
        Self {
            allocation_retry: Duration::from_secs(1),
        }
    }
}

/// The allocations that hold space in `parent` (allocated, aimed at it), by name.
fn held<'a>(ctx: &'a Ctx<'_>, parent: &'a Prefix) -> impl Iterator<Item = &'a PrefixAllocation> {
    let name = parent.metadata.name.as_str();
    ctx.view
        .all::<PrefixAllocation>(Some(&parent.metadata.namespace))
        .filter(move |a| a.spec.prefix_ref.as_ref().is_some_and(|r| r.name == name))
}

/// The free space of an allocated `parent`.
pub fn free_space(ctx: &Ctx<'_>, parent: &Prefix) -> Option<FreeSet> {
    let mut set = FreeSet::new(parent.spec.prefix?);
    for a in held(ctx, parent) {
        if a.status.phase == Some(PrefixAllocationPhase::Allocated)
            && let Some(p) = a.status.prefix
        {
            set.take(p);
        }
    }
    Some(set)
}

fn serve(set: &mut FreeSet, spec: &PrefixAllocationSpec) -> Option<IpPrefix> {
    if let Some(p) = spec.prefix {
        return set.take(p).then_some(p);
    }
    let len = u8::try_from(spec.prefix_length?).ok()?;
    set.take_first(len)
}

fn allocation_status(prefix: Option<IpPrefix>, now: Time) -> PrefixAllocationStatus {
    PrefixAllocationStatus {
        prefix,
        phase: Some(if prefix.is_some() {
            PrefixAllocationPhase::Allocated
        } else {
            PrefixAllocationPhase::Failed
        }),
        last_phase_transition_time: Some(now),
    }
}

/// Reconciles a Prefix: its own allocation as a child, and the allocations it serves.
pub fn reconcile_prefix(ctx: &Ctx<'_>, config: &IpamConfig, prefix: &Prefix) -> Vec<Command> {
    if prefix.metadata.is_deleting() {
        return Vec::new();
    }
    let allocated = prefix.status.phase == Some(PrefixPhase::Allocated);
    if !allocated {
        return if prefix.spec.is_root() {
            let status = PrefixStatus {
                phase: Some(PrefixPhase::Allocated),
                last_phase_transition_time: Some(api_time(ctx.wall)),
                used: Vec::new(),
            };
            status_update(prefix, &prefix.status, &status)
                .into_iter()
                .collect()
        } else {
            as_child(ctx, config, prefix)
        };
    }
    as_parent(ctx, prefix)
}

fn as_child(ctx: &Ctx<'_>, config: &IpamConfig, prefix: &Prefix) -> Vec<Command> {
    let ns = prefix.metadata.namespace.as_str();
    let name = prefix.metadata.name.as_str();
    let Some(alloc) = ctx.view.typed::<PrefixAllocation>(ns, name) else {
        let mut a = PrefixAllocation {
            metadata: ObjectMeta {
                owner_references: vec![controller_ref(prefix)],
                ..ObjectMeta::named(ns, name)
            },
            spec: PrefixAllocationSpec {
                ip_family: prefix.spec.ip_family.clone(),
                prefix: prefix.spec.prefix,
                prefix_length: prefix
                    .spec
                    .prefix_length
                    .filter(|_| prefix.spec.prefix.is_none()),
                prefix_ref: prefix.spec.parent_ref.clone(),
                prefix_selector: prefix.spec.parent_selector.clone(),
            },
            ..PrefixAllocation::default()
        };
        a.set_defaults();
        return vec![Command::Create(Box::new(a.into()))];
    };
    if !is_controlled_by(&alloc.metadata, &prefix.metadata.uid) || alloc.metadata.is_deleting() {
        return Vec::new();
    }
    match (&alloc.status.phase, alloc.status.prefix) {
        (Some(PrefixAllocationPhase::Allocated), Some(got)) => {
            let mut out = Vec::new();
            let parent = prefix
                .spec
                .parent_ref
                .clone()
                .or_else(|| alloc.spec.prefix_ref.clone());
            if prefix.spec.prefix != Some(got) || prefix.spec.parent_ref != parent {
                out.push(patch(
                    prefix,
                    json!({"spec": {"prefix": got, "parentRef": parent}}),
                ));
            }
            let status = PrefixStatus {
                phase: Some(PrefixPhase::Allocated),
                last_phase_transition_time: Some(api_time(ctx.wall)),
                used: Vec::new(),
            };
            out.extend(status_update(prefix, &prefix.status, &status));
            out
        }
        (Some(PrefixAllocationPhase::Failed), _) => {
            let since = alloc
                .status
                .last_phase_transition_time
                .map_or(0, Time::unix_seconds);
            let waited = ctx.wall.as_unix_seconds().saturating_sub(since);
            let retry = i64::try_from(config.allocation_retry.as_secs()).unwrap_or(i64::MAX);
            if waited >= retry {
                vec![delete(alloc)]
            } else {
                let left = u64::try_from(retry - waited).unwrap_or(1);
                vec![Command::Requeue {
                    key: key_of(prefix),
                    after: Duration::from_secs(left),
                }]
            }
        }
        _ => Vec::new(),
    }
}

fn as_parent(ctx: &Ctx<'_>, parent: &Prefix) -> Vec<Command> {
    let mut out = Vec::new();
    let now = api_time(ctx.wall);
    let mut used: Vec<IpPrefix> = Vec::new();
    if let Some(mut set) = free_space(ctx, parent) {
        for a in held(ctx, parent) {
            match (&a.status.phase, a.status.prefix) {
                (Some(PrefixAllocationPhase::Allocated), Some(p)) => used.push(p),
                (None | Some(PrefixAllocationPhase::Pending), _) if !a.metadata.is_deleting() => {
                    let got = serve(&mut set, &a.spec);
                    used.extend(got);
                    out.extend(status_update(a, &a.status, &allocation_status(got, now)));
                }
                _ => {}
            }
        }
    }
    used.sort();
    let status = PrefixStatus {
        used,
        ..parent.status.clone()
    };
    out.extend(status_update(parent, &parent.status, &status));
    out
}

/// Reconciles a PrefixAllocation: resolves a `prefixSelector` to a parent.
pub fn reconcile_prefix_allocation(ctx: &Ctx<'_>, alloc: &PrefixAllocation) -> Vec<Command> {
    let pending = matches!(
        alloc.status.phase,
        None | Some(PrefixAllocationPhase::Pending)
    );
    let Some(selector) = alloc.spec.prefix_selector.as_ref().filter(|_| pending) else {
        return Vec::new();
    };
    if alloc.spec.prefix_ref.is_some() || alloc.metadata.is_deleting() {
        return Vec::new();
    }
    let ns = alloc.metadata.namespace.as_str();
    let parent = ctx.view.all::<Prefix>(Some(ns)).find(|p| {
        p.status.phase == Some(PrefixPhase::Allocated)
            && p.metadata.name != alloc.metadata.name
            && selector.matches(&p.metadata.labels)
            && p.spec.prefix.is_some_and(|pp| {
                alloc
                    .spec
                    .ip_family
                    .as_ref()
                    .is_none_or(|f| pp.family() == *f)
            })
            && free_space(ctx, p).is_some_and(|mut set| serve(&mut set, &alloc.spec).is_some())
    });
    match parent {
        Some(p) => vec![patch(
            alloc,
            json!({"spec": {"prefixRef": LocalObjectReference::new(p.metadata.name.clone())}}),
        )],
        None => status_update(
            alloc,
            &alloc.status,
            &allocation_status(None, api_time(ctx.wall)),
        )
        .into_iter()
        .collect(),
    }
}

#[cfg(test)]
mod tests;
