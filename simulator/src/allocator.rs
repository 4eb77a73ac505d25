//! A minimal IP allocator for VirtualIPs, driven through the store's objects: on the leader it
//! reads the VirtualIPs linearizably, hands each one without an address the lowest free address
//! of a small pool, and writes it into `status.ip` conditioned on the version it read.
//!
//! This stands in for ironcore-net's IPAM core until `actors/src/ipam` lands (docs/simulator.md);
//! the invariants it is held to (`ip_unique`, `pool_capacity`) do not depend on it and will hold
//! the real one to the same rules.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::Kind;
use ferrocore_consensus::{Command, JsonObject, ListOptions, ObjectKey};
use serde_json::{Value, json};

use crate::component::Component;
use crate::controller::Process;
use crate::ctx::{Ctx, Phase};
use crate::options::PlantedBug;
use crate::rt::{sleep, spawn, timeout};
use crate::workload::NAMESPACE;

/// Pause between two allocation rounds on the leader.
const ROUND_PAUSE: Duration = Duration::from_millis(40);
/// A round's read that takes longer than this ends the round (it retries).
const ROUND_DEADLINE: Duration = Duration::from_secs(2);

/// The address pool: `10.100.0.0` onwards, `size` addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pool {
    pub(crate) size: u32,
}

impl Pool {
    const BASE: u32 = u32::from_be_bytes([10, 100, 0, 0]);

    pub(crate) fn address(self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(Self::BASE + index)
    }

    /// The pool index of `ip`, if it is in the pool.
    pub(crate) fn index_of(self, ip: &str) -> Option<u32> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let offset = u32::from(ip).checked_sub(Self::BASE)?;
        (offset < self.size).then_some(offset)
    }
}

/// The IP a VirtualIP holds, if any.
pub(crate) fn ip_of(object: &Value) -> Option<&str> {
    object.pointer("/status/ip").and_then(Value::as_str)
}

fn is_vip(key: &ObjectKey) -> bool {
    key.kind == Kind::VirtualIP.name() && key.group == Kind::VirtualIP.group()
}

/// The allocator component.
#[derive(Debug)]
pub(crate) struct IpAllocator {
    pub(crate) pool: Pool,
}

impl Component for IpAllocator {
    fn name(&self) -> &'static str {
        "ip-allocator"
    }

    fn attach(&self, ctx: &Ctx, process: &Arc<Process>) {
        spawn(run(ctx.clone(), process.clone(), self.pool));
    }

    fn settled(&self, objects: &BTreeMap<ObjectKey, JsonObject>) -> Result<(), String> {
        let vips: Vec<&JsonObject> = objects
            .iter()
            .filter(|(k, _)| is_vip(k))
            .map(|(_, o)| o)
            .collect();
        let served = vips.iter().filter(|o| ip_of(o.value()).is_some()).count();
        let expected = vips.len().min(self.pool.size as usize);
        if served < expected {
            return Err(format!(
                "{served} of {} VirtualIPs have an address (pool of {})",
                vips.len(),
                self.pool.size
            ));
        }
        Ok(())
    }
}

/// The allocator's loop on one controller incarnation: it acts only while that one leads.
async fn run(ctx: Ctx, process: Arc<Process>, pool: Pool) {
    while ctx.controllers.alive(process.id, process.incarnation) && ctx.phase() != Phase::Done {
        sleep(ROUND_PAUSE).await;
        if process.ready() && process.node.raft().is_leader() {
            round(&ctx, &process, pool).await;
        }
    }
}

async fn round(ctx: &Ctx, process: &Process, pool: Pool) {
    let options = ListOptions {
        namespace: Some(NAMESPACE.into()),
        ..ListOptions::default()
    };
    let group = Kind::VirtualIP.group();
    let read = process
        .node
        .read(|s| s.list(group, Kind::VirtualIP.name(), &options));
    let Some(Ok(Ok(page))) = timeout(ROUND_DEADLINE, read).await else {
        return;
    };
    let mut used: BTreeSet<u32> = page
        .items
        .iter()
        .filter_map(|o| ip_of(o.value()).and_then(|ip| pool.index_of(ip)))
        .collect();
    let pending = page.items.iter().filter(|o| {
        ip_of(o.value()).is_none() && o.value().pointer("/metadata/deletionTimestamp").is_none()
    });
    for vip in pending {
        let Some(index) = (0..pool.size).find(|i| !used.contains(i)) else {
            return;
        };
        // The planted bug: the pick is not reserved, so the next VirtualIP of this round gets
        // the same address.
        if !ctx.planted(PlantedBug::DoubleIp) {
            used.insert(index);
        }
        let mut object = vip.value().clone();
        object["status"] = json!({"ip": pool.address(index).to_string()});
        // No deadline on the write: an abandoned proposal can still commit, and a round that
        // starts before it resolves would hand its address out again (the simulator found
        // exactly that). On the leader a proposal resolves when it commits or leadership is
        // lost; a later leader's linearizable read sees whatever of it survived.
        let write = process.node.propose(Command::UpdateStatus {
            object: JsonObject::new(object),
        });
        match write.await {
            Ok(outcome) => ctx.trace.event(format_args!(
                "allocator c{} gave {} to {} at {}",
                process.id,
                pool.address(index),
                vip.value()
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                outcome.revision.0
            )),
            // A conflict (the VirtualIP changed) or a lost leadership: read again next round.
            _ => return,
        }
    }
}
