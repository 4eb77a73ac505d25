//! `cluster.status`, `cluster.members`, `cluster.add_member`, `cluster.remove_member`.

use std::collections::BTreeSet;

use ferrocore_consensus::{NodeAddr, NodeId, ProposeError};
use openraft::ChangeMembers;
use serde_json::{Value, json};

use super::params::{AddMemberParams, RemoveMemberParams};
use super::{ApiError, Inner, Reason};

impl Inner {
    pub(super) fn status(&self) -> Value {
        let m = self.node.metrics();
        let revision = self.node.read_stale(|store| store.revision());
        json!({
            "cluster": self.cluster,
            "self": m.id.0,
            "leader": m.current_leader.map(|id| id.0),
            "term": m.current_term,
            "commitIndex": m.local_committed.map_or(0, |l| l.index),
            "appliedIndex": m.last_applied.map_or(0, |l| l.index),
            "revision": revision.to_resource_version(),
            "lastLogIndex": m.last_log_index.unwrap_or(0),
            "snapshotIndex": m.snapshot.map(|l| l.index),
            "purgedIndex": m.purged.map(|l| l.index),
            "members": self.member_list(),
        })
    }

    pub(super) fn members(&self) -> Value {
        json!({"members": self.member_list()})
    }

    /// Every member with its role; `matchedIndex` and `lag` when this controller leads.
    fn member_list(&self) -> Vec<Value> {
        let m = self.node.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        membership
            .nodes()
            .map(|(id, addr)| {
                let role = if m.current_leader == Some(*id) {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                };
                let matched = if *id == m.id && m.current_leader == Some(m.id) {
                    Some(last)
                } else {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(id))
                        .map(|l| l.map_or(0, |l| l.index))
                };
                json!({
                    "id": id.0,
                    "addr": addr.addr,
                    "role": role,
                    "matchedIndex": matched,
                    "lag": matched.map(|i| last.saturating_sub(i)),
                })
            })
            .collect()
    }

    pub(super) async fn add_member(
        &self,
        params: AddMemberParams,
        from_peer: bool,
    ) -> Result<Value, ApiError> {
        if params.id == 0 || !params.addr.contains(':') {
            return Err(ApiError::Params(
                "id must be > 0 and addr must be host:port".into(),
            ));
        }
        if !self.node.raft().is_leader() {
            let forwarded = json!({"id": params.id, "addr": params.addr, "voter": params.voter});
            return self
                .forward("cluster.add_member", forwarded, from_peer)
                .await;
        }
        let id = NodeId(params.id);
        tracing::info!(member = params.id, addr = %params.addr, "adding a member as learner");
        self.node
            .add_learner(id, NodeAddr::new(params.addr.clone()))
            .await
            .map_err(membership_error)?;
        if params.voter.unwrap_or(true) {
            let mut voters = self.voters();
            voters.insert(id);
            tracing::info!(member = params.id, "promoting the member to voter");
            self.node
                .change_voters(voters)
                .await
                .map_err(membership_error)?;
        }
        Ok(self.members())
    }

    pub(super) async fn remove_member(
        &self,
        params: RemoveMemberParams,
        from_peer: bool,
    ) -> Result<Value, ApiError> {
        if !self.node.raft().is_leader() {
            let forwarded = json!({"id": params.id});
            return self
                .forward("cluster.remove_member", forwarded, from_peer)
                .await;
        }
        let id = NodeId(params.id);
        let m = self.node.metrics();
        if m.membership_config.membership().get_node(&id).is_none() {
            return Err(ApiError::app(
                Reason::NotFound,
                format!("Controller {id} is not a member"),
            ));
        }
        let mut voters = self.voters();
        tracing::info!(member = params.id, "removing a member");
        if voters.remove(&id) {
            if voters.is_empty() {
                return Err(ApiError::app(
                    Reason::Forbidden,
                    "The last voter cannot be removed",
                ));
            }
            self.node
                .change_voters(voters)
                .await
                .map_err(membership_error)?;
        } else {
            let change = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
            self.node
                .raft()
                .change_membership(change, false)
                .await
                .map_err(|e| ApiError::unavailable(format!("Membership change failed: {e}")))?;
        }
        Ok(self.members())
    }

    fn voters(&self) -> BTreeSet<NodeId> {
        self.node
            .metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Sends a leader-only call to the leader (never a second hop).
    async fn forward(
        &self,
        method: &str,
        params: Value,
        from_peer: bool,
    ) -> Result<Value, ApiError> {
        let m = self.node.metrics();
        let leader = m.current_leader.filter(|l| *l != m.id);
        let addr = leader.and_then(|l| {
            m.membership_config
                .membership()
                .get_node(&l)
                .map(|a| a.addr.clone())
        });
        match (leader, addr, &self.leader, from_peer) {
            (Some(leader), Some(addr), Some(link), false) => {
                link.call(leader.0, &addr, method, params).await
            }
            _ => Err(ApiError::unavailable(
                "This controller is not the leader and cannot forward; retry on the leader",
            )),
        }
    }
}

fn membership_error(e: ProposeError) -> ApiError {
    match e {
        ProposeError::Raft(m) => ApiError::unavailable(format!("Membership change failed: {m}")),
        other => other.into(),
    }
}
