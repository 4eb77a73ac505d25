//! What the hub does with node traffic: registrations, heartbeats, reports, events, command
//! results; and how node requests leave. Every rule that keeps a node from corrupting the store
//! is here: a node speaks only for pools it registered (and that no other node owns), reports
//! only objects bound to those pools, never at a generation the store has not reached, and a
//! registration's bounds are checked before anything is written.

use std::collections::BTreeSet;

use ferrocore_api::iri::protocol::{
    CommandOutcome, CommandResult, ControllerMessage, ErrorCode, Heartbeat, IriResponse,
    NodeCommand, NodeMessage, NodeName, ObjectRef, POOLS_PER_NODE_MAX, PROTOCOL_VERSION, PoolRef,
    ProtocolErrorMessage, Register, Report,
};
use ferrocore_api::iri::{machine, protocol};
use ferrocore_api::{Kind, Object, ObjectKey};

use super::LinkEvent;
use crate::health::HealthInput;
use crate::reconcile::broker::{ReportRejected, admit_report};
use crate::reconcile::{Command, Ctx, EventType, NodeRequest, ObjectEvent, orphan, pool};
use crate::supervisor::inflight::RequestKey;
use crate::supervisor::{Hub, HubEvent, read, write};

/// Longest message or reason text taken from a node (longer is cut): logs and conditions are
/// not a place for megabytes.
const TEXT_MAX: usize = 1024;

fn cut(text: &str) -> String {
    text.chars().take(TEXT_MAX).collect()
}

/// The pool field of an object that names where it is bound.
fn bound_pool(object: &Object) -> Option<&str> {
    let r = match object {
        Object::Machine(m) => m.spec.machine_pool_ref.as_ref(),
        Object::Volume(v) => v.spec.volume_pool_ref.as_ref(),
        Object::Bucket(b) => b.spec.bucket_pool_ref.as_ref(),
        _ => None,
    };
    r.map(|r| r.name.as_str())
}

/// Whether a command's outcome means the node did it (or a newer version of it).
fn succeeded(outcome: &CommandOutcome) -> bool {
    match outcome {
        CommandOutcome::Stale { .. } => true,
        CommandOutcome::Refused(_) => false,
        CommandOutcome::Done(r) => !matches!(
            r,
            IriResponse::Machine(machine::MachineResponse::Error(_))
                | IriResponse::Volume(protocol::VolumeResponse::Error(_))
                | IriResponse::Bucket(protocol::BucketResponse::Error(_))
        ),
    }
}

impl Hub {
    /// Takes one event from a node connection.
    pub(crate) fn on_node_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up { node, link } => {
                tracing::info!(%node, conn = link.conn, "node connected");
                self.nodes.connect(node, link);
            }
            LinkEvent::Down { node, conn } => {
                if self.nodes.disconnect(&node, conn) {
                    tracing::info!(%node, conn, "node disconnected");
                }
            }
            LinkEvent::Message {
                node,
                conn,
                seq,
                message,
            } => {
                if self.nodes.is_current(&node, conn) {
                    self.on_node_message(&node, seq, *message);
                }
            }
        }
    }

    fn on_node_message(&mut self, node: &NodeName, seq: u64, message: NodeMessage) {
        match message {
            NodeMessage::Join(_) => self.refuse(
                node,
                seq,
                ErrorCode::Invalid,
                "already joined: this connection has a node certificate",
            ),
            NodeMessage::Register(r) => self.register(node, seq, &r),
            NodeMessage::Heartbeat(h) => self.heartbeat(node, seq, &h),
            NodeMessage::Report(r) => self.report(node, seq, r),
            NodeMessage::Event(e) => self.node_object_event(node, &e),
            NodeMessage::CommandResult(r) => self.command_result(node, &r),
        }
    }

    fn refuse(&self, node: &NodeName, seq: u64, code: ErrorCode, message: &str) {
        tracing::debug!(%node, seq, ?code, message, "node message refused");
        let error = ProtocolErrorMessage {
            seq,
            code,
            message: message.to_owned(),
            leader: None,
        };
        self.nodes.send(node, ControllerMessage::Error(error));
    }

    fn register(&mut self, node: &NodeName, seq: u64, reg: &Register) {
        if reg.protocol_version != PROTOCOL_VERSION {
            let why = format!(
                "protocol version {} is not {PROTOCOL_VERSION}",
                reg.protocol_version
            );
            return self.refuse(node, seq, ErrorCode::UnsupportedVersion, &why);
        }
        if let Err(e) = reg.validate() {
            return self.refuse(node, seq, ErrorCode::Invalid, &e.to_string());
        }
        let mut accepted = BTreeSet::new();
        let mut refused = Vec::new();
        let mut commands = Vec::new();
        {
            let state = read(&self.env.state);
            let ctx = Ctx {
                now: self.now(),
                wall: self.env.clock.wall(),
                view: state.cache.view(),
                reports: &state.reports,
            };
            for p in &reg.pools {
                let pref = p.pool_ref();
                if let Some(owner) = self.nodes.owner(&pref).filter(|o| *o != node) {
                    refused.push(format!("pool {pref} is served by node {owner}"));
                    continue;
                }
                match pool::reconcile_registration(&ctx, node, p) {
                    Ok(c) => {
                        commands.extend(c);
                        self.registrations
                            .insert(pref.clone(), (node.clone(), p.clone()));
                        accepted.insert(pref);
                    }
                    Err(e) => refused.push(e.to_string()),
                }
            }
        }
        self.nodes.set_pools(node, &accepted);
        {
            let mut state = write(&self.env.state);
            for p in &accepted {
                state.reports.forget_pool(p);
            }
        }
        tracing::info!(%node, pools = accepted.len(), refused = refused.len(), "node registered");
        for p in &accepted {
            self.pool_heartbeat(p, true, String::new());
            self.wake_pool(p);
        }
        // Answer once the pool objects are written and in the cache, so the node's reports
        // that follow find their pools owned.
        let (exec, hub, node_handle) = (
            self.env.exec.clone(),
            self.env.hub.clone(),
            self.node.clone(),
        );
        let node = node.clone();
        ferrocore_runtime::spawn(async move {
            let mut versions = crate::supervisor::exec::Versions::new();
            for c in &commands {
                if let crate::supervisor::exec::Applied::Refused(why) =
                    exec.write(c, &mut versions).await
                {
                    tracing::warn!(object = %c.key(), %why, "registration write refused");
                }
            }
            let revision = node_handle.read_stale(|s| s.revision());
            let done = HubEvent::Registered {
                node,
                seq,
                revision,
                refused,
            };
            let _ = hub.send(done).await;
        });
    }

    /// Answers registrations whose writes the cache has caught up with.
    pub(crate) fn flush_registrations(&mut self) {
        let seen = read(&self.env.state).cache.revision();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_acks)
            .into_iter()
            .partition(|a| a.revision <= seen);
        self.pending_acks = waiting;
        for a in ready {
            let pools = self.nodes.pools_of(&a.node);
            self.expect_inventory(pools);
            if a.refused.is_empty() {
                self.nodes
                    .send(&a.node, ControllerMessage::Ack { seq: a.seq });
            } else {
                self.refuse(
                    &a.node,
                    a.seq,
                    ErrorCode::NotOwner,
                    &cut(&a.refused.join("; ")),
                );
            }
        }
    }

    fn pool_heartbeat(&mut self, pool: &PoolRef, runtime_ok: bool, message: String) {
        self.health_input(HealthInput::Heartbeat {
            pool: pool.clone(),
            runtime_ok,
            message,
        });
    }

    /// Wakes every object bound to `pool` (its node (re)registered: what it holds may differ
    /// from what the store says).
    fn wake_pool(&self, pool: &PoolRef) {
        let key = ObjectKey {
            kind: pool.kind.kind(),
            namespace: String::new(),
            name: pool.name.clone(),
        };
        let bound = read(&self.env.state).cache.naming(&key);
        for k in bound {
            self.wake(&k);
        }
    }

    fn heartbeat(&mut self, node: &NodeName, seq: u64, hb: &Heartbeat) {
        if hb.pools.len() > POOLS_PER_NODE_MAX {
            return self.refuse(
                node,
                seq,
                ErrorCode::Invalid,
                "too many pools in a heartbeat",
            );
        }
        for p in &hb.pools {
            if self.nodes.owner(&p.pool) == Some(node) {
                self.pool_heartbeat(&p.pool, p.runtime_ok, cut(&p.message));
            }
        }
        self.nodes.send(node, ControllerMessage::Ack { seq });
    }

    fn report(&mut self, node: &NodeName, seq: u64, r: Report) {
        let admitted = admit_report(read(&self.env.state).cache.view(), node, &r);
        let (key, report) = match admitted {
            Ok(ok) => ok,
            Err(e) => {
                let code = match e {
                    ReportRejected::NotOwner { .. } => ErrorCode::NotOwner,
                    ReportRejected::FutureGeneration { .. } => ErrorCode::Stale,
                    ReportRejected::WrongShape { .. } | ReportRejected::WrongPool { .. } => {
                        ErrorCode::Invalid
                    }
                };
                return self.refuse(node, seq, code, &e.to_string());
            }
        };
        let (taken, orphan) = {
            let mut state = write(&self.env.state);
            let live = state
                .cache
                .get(&key)
                .is_some_and(|o| o.meta().uid == report.uid);
            if live {
                (state.reports.record(key.clone(), report), Vec::new())
            } else {
                // Not in the store (or recreated): delete it on the node, remember nothing, so
                // a node inventing objects cannot grow the leader's memory.
                if state
                    .reports
                    .get(&key)
                    .is_some_and(|old| old.uid == report.uid)
                {
                    state.reports.forget(&key);
                }
                let ctx = Ctx {
                    now: self.env.clock.now(),
                    wall: self.env.clock.wall(),
                    view: state.cache.view(),
                    reports: &state.reports,
                };
                (false, orphan::reconcile_report(&ctx, &key, &report))
            }
        };
        if taken {
            self.wake(&key);
        }
        self.send_commands(orphan);
    }

    fn node_object_event(&self, node: &NodeName, e: &protocol::NodeEvent) {
        let key = &e.object.key;
        let owned = {
            let state = read(&self.env.state);
            state
                .cache
                .get(key)
                .filter(|o| o.meta().uid == e.object.uid)
                .and_then(bound_pool)
                .is_some_and(|pool| {
                    self.nodes
                        .pools_of(node)
                        .iter()
                        .any(|p| p.name == pool && p.kind.kind() == pool_kind_of(key.kind))
                })
        };
        if !owned {
            return;
        }
        crate::supervisor::log_event(&ObjectEvent {
            key: key.clone(),
            event_type: match e.event_type {
                protocol::EventType::Normal => EventType::Normal,
                protocol::EventType::Warning => EventType::Warning,
            },
            reason: cut(&e.reason),
            message: format!("{} (node {node})", cut(&e.message)),
        });
    }

    fn command_result(&mut self, node: &NodeName, r: &CommandResult) {
        let ok = succeeded(&r.outcome);
        if !ok {
            tracing::warn!(%node, id = r.id.0, outcome = %cut(&format!("{:?}", r.outcome)), "node command failed");
        }
        self.inflight.result(self.now(), r.id, ok);
    }

    /// Sends the node requests among `commands` (others are ignored).
    pub(crate) fn send_commands(&mut self, commands: Vec<Command>) {
        for c in commands {
            if let Command::Node(request) = c {
                self.send_request(&request);
            }
        }
    }

    /// Sends one node request unless an identical one is in flight.
    pub(crate) fn send_request(&mut self, req: &NodeRequest) {
        if self.nodes.owner(&req.pool).is_none() {
            tracing::debug!(pool = %req.pool, object = %req.object, "no node serves the pool yet");
            return;
        }
        let key = RequestKey {
            object: req.object.clone(),
            operation: req.request.operation(),
            generation: req.generation,
        };
        let now = self.now();
        let Some(id) = self.inflight.admit(now, key) else {
            return;
        };
        let command = NodeCommand {
            id,
            pool: req.pool.clone(),
            object: ObjectRef {
                key: req.object.clone(),
                uid: req.uid.clone(),
            },
            generation: req.generation,
            request: req.request.clone(),
        };
        if !self
            .nodes
            .send_to_pool(&req.pool, ControllerMessage::Command(command))
        {
            self.inflight.result(now, id, false);
        }
    }

    /// Node reports of objects the store no longer holds become deletes on their nodes.
    pub(crate) fn orphan_sweep(&mut self) {
        let commands: Vec<Command> = {
            let state = read(&self.env.state);
            let ctx = Ctx {
                now: self.env.clock.now(),
                wall: self.env.clock.wall(),
                view: state.cache.view(),
                reports: &state.reports,
            };
            state
                .reports
                .iter()
                .flat_map(|(k, r)| orphan::reconcile_report(&ctx, k, r))
                .collect()
        };
        self.send_commands(commands);
    }
}

fn pool_kind_of(kind: Kind) -> Kind {
    match kind {
        Kind::Machine => Kind::MachinePool,
        Kind::Bucket => Kind::BucketPool,
        _ => Kind::VolumePool,
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::protocol::CommandOutcome;

    use super::*;

    #[test]
    fn failed_outcomes_are_told_apart() {
        let err = machine::RuntimeError::new(machine::ErrorCode::NotFound, "gone");
        assert!(!succeeded(&CommandOutcome::Done(IriResponse::Machine(
            machine::MachineResponse::Error(err)
        ))));
        assert!(succeeded(&CommandOutcome::Done(IriResponse::Machine(
            machine::MachineResponse::Done
        ))));
        assert!(succeeded(&CommandOutcome::Stale {
            seen: ferrocore_api::meta::Generation(3)
        }));
        assert!(!succeeded(&CommandOutcome::Refused("no".into())));
    }
}
