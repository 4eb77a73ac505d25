//! The node's pools behind one face: registration, heartbeat probes, running a command, and
//! observing what the runtimes hold.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrocore_api::iri::machine::MACHINE_UID_LABEL;
use ferrocore_api::iri::protocol::{
    CommandOutcome, IriRequest, IriResponse, NodeCommand, ObjectRef, PoolHeartbeat, PoolKind,
    PoolRef, PoolRegistration, ReportedState,
};
use ferrocore_api::meta::Uid;
use ferrocore_api::{Kind, ObjectKey};
use ferrocore_runtime::Clock;

use crate::AgentError;
use crate::compute::{MachinePool, NAME_LABEL, NAMESPACE_LABEL};
use crate::config::{Backend, NodeConfig};
use crate::storage::{BUCKET_PREFIX, BucketPool, SNAPSHOT_PREFIX, VOLUME_PREFIX, VolumePool};

/// Every pool of the node.
#[derive(Debug)]
pub(crate) struct Pools {
    machines: BTreeMap<String, MachinePool>,
    volumes: BTreeMap<String, VolumePool>,
    buckets: BTreeMap<String, BucketPool>,
}

/// An object a runtime holds, with its identity labels read back.
pub(crate) type Found = (ObjectRef, PoolRef, ReportedState);

fn identity(labels: &BTreeMap<String, String>, kind: Kind, prefix: &str) -> Option<ObjectRef> {
    let get = |k: &str| labels.get(&format!("{prefix}-{k}")).cloned();
    Some(ObjectRef {
        key: ObjectKey {
            kind,
            namespace: get("namespace")?,
            name: get("name")?,
        },
        uid: Uid(get("uid")?),
    })
}

impl Pools {
    /// Opens every configured pool on `backend`.
    pub(crate) fn open(
        config: &NodeConfig,
        backend: Backend,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        config.check_backend(backend).map_err(AgentError::Backend)?;
        let state = config.state_dir.as_path();
        let mut pools = Self {
            machines: BTreeMap::new(),
            volumes: BTreeMap::new(),
            buckets: BTreeMap::new(),
        };
        for p in &config.machine_pools {
            let pool = match backend {
                Backend::Sim => MachinePool::sim(p, clock.clone())?,
                Backend::Real => MachinePool::libvirt(p, state, clock.clone())?,
            };
            pools.machines.insert(p.name.clone(), pool);
        }
        for p in &config.volume_pools {
            let pool = match backend {
                Backend::Sim => VolumePool::sim(p, clock.clone())?,
                Backend::Real => VolumePool::real(p, state, clock.clone())?,
            };
            pools.volumes.insert(p.name.clone(), pool);
        }
        for p in &config.bucket_pools {
            let pool = match backend {
                Backend::Sim => BucketPool::sim(p, clock.clone())?,
                Backend::Real => BucketPool::rgw(p, state, clock.clone())?,
            };
            pools.buckets.insert(p.name.clone(), pool);
        }
        Ok(pools)
    }

    /// What the node registers.
    pub(crate) fn registrations(&self) -> Vec<PoolRegistration> {
        let mut out: Vec<PoolRegistration> = self
            .machines
            .values()
            .map(MachinePool::registration)
            .collect();
        out.extend(self.volumes.values().map(VolumePool::registration));
        out.extend(self.buckets.values().map(BucketPool::registration));
        out
    }

    /// One heartbeat entry per pool, from a runtime probe.
    pub(crate) fn heartbeats(&self) -> Vec<PoolHeartbeat> {
        let entry = |kind, name: &String, probe: Result<(), String>| PoolHeartbeat {
            pool: PoolRef {
                kind,
                name: name.clone(),
            },
            runtime_ok: probe.is_ok(),
            message: probe.err().unwrap_or_default(),
        };
        let mut out: Vec<PoolHeartbeat> = self
            .machines
            .iter()
            .map(|(n, p)| entry(PoolKind::Machine, n, p.probe()))
            .collect();
        out.extend(
            self.volumes
                .iter()
                .map(|(n, p)| entry(PoolKind::Volume, n, p.probe())),
        );
        out.extend(
            self.buckets
                .keys()
                .map(|n| entry(PoolKind::Bucket, n, Ok(()))),
        );
        out
    }

    /// Background progress of every runtime.
    pub(crate) fn tick(&self) {
        for p in self.machines.values() {
            p.tick();
        }
        for p in self.buckets.values() {
            p.tick();
        }
    }

    /// Runs a command on the pool it names.
    pub(crate) fn execute(&self, command: &NodeCommand) -> CommandOutcome {
        let name = &command.pool.name;
        let refused =
            || CommandOutcome::Refused(format!("this node does not serve {}", command.pool));
        match (&command.request, command.pool.kind) {
            (IriRequest::Machine(r), PoolKind::Machine) => match self.machines.get(name) {
                Some(p) => CommandOutcome::Done(IriResponse::Machine(p.execute(r.clone()))),
                None => refused(),
            },
            (IriRequest::Volume(r), PoolKind::Volume) => match self.volumes.get(name) {
                Some(p) => CommandOutcome::Done(IriResponse::Volume(p.execute(r.clone()))),
                None => refused(),
            },
            (IriRequest::Bucket(r), PoolKind::Bucket) => match self.buckets.get(name) {
                Some(p) => CommandOutcome::Done(IriResponse::Bucket(p.execute(r.clone()))),
                None => refused(),
            },
            _ => CommandOutcome::Refused(format!(
                "a {} request cannot go to {}",
                command.request.operation(),
                command.pool
            )),
        }
    }

    /// What `pool` holds for the object `kind`/`uid` now.
    pub(crate) fn observe(&self, pool: &PoolRef, kind: Kind, uid: &Uid) -> ReportedState {
        let absent = ReportedState::Absent;
        match pool.kind {
            PoolKind::Machine => self
                .machines
                .get(&pool.name)
                .map_or(absent, |p| p.observe(&uid.0)),
            PoolKind::Volume => self
                .volumes
                .get(&pool.name)
                .map_or(absent, |p| p.observe(kind == Kind::VolumeSnapshot, &uid.0)),
            PoolKind::Bucket => self
                .buckets
                .get(&pool.name)
                .map_or(absent, |p| p.observe(&uid.0)),
        }
    }

    /// Everything every runtime holds that carries the control plane's identity labels.
    pub(crate) fn inventory(&self) -> Vec<Found> {
        let mut out = Vec::new();
        let pool = |kind, name: &String| PoolRef {
            kind,
            name: name.clone(),
        };
        for (name, p) in &self.machines {
            for m in p.inventory() {
                let labels = &m.metadata.labels;
                let found = (|| {
                    Some(ObjectRef {
                        key: ObjectKey {
                            kind: Kind::Machine,
                            namespace: labels.get(NAMESPACE_LABEL)?.clone(),
                            name: labels.get(NAME_LABEL)?.clone(),
                        },
                        uid: Uid(labels.get(MACHINE_UID_LABEL)?.clone()),
                    })
                })();
                if let Some(o) = found {
                    out.push((o, pool(PoolKind::Machine, name), ReportedState::Machine(m)));
                }
            }
        }
        for (name, p) in &self.volumes {
            let (volumes, snapshots) = p.inventory();
            for v in volumes {
                if let Some(o) = identity(&v.metadata.labels, Kind::Volume, VOLUME_PREFIX) {
                    out.push((o, pool(PoolKind::Volume, name), ReportedState::Volume(v)));
                }
            }
            for s in snapshots {
                if let Some(o) = identity(&s.metadata.labels, Kind::VolumeSnapshot, SNAPSHOT_PREFIX)
                {
                    out.push((
                        o,
                        pool(PoolKind::Volume, name),
                        ReportedState::VolumeSnapshot(s),
                    ));
                }
            }
        }
        for (name, p) in &self.buckets {
            for b in p.inventory() {
                if let Some(o) = identity(&b.metadata.labels, Kind::Bucket, BUCKET_PREFIX) {
                    out.push((o, pool(PoolKind::Bucket, name), ReportedState::Bucket(b)));
                }
            }
        }
        out
    }
}
