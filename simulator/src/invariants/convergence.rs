//! Liveness: once the faults heal, everything converges within a bound (TigerBeetle VOPR's
//! liveness phase; openraft tests-turmoil's): every controller runs and has recovered, one
//! leader is known to all, every controller has applied the whole agreed log and holds the same
//! objects, every client has its reply, every watcher has caught up, and every component has
//! settled with a state that matches the store.

use ferrocore_consensus::Types;
use openraft::{RaftMetrics, ServerState};

use crate::agreed::AgreedLog;
use crate::component::Component;
use crate::controller::Life;
use crate::ctx::Ctx;
use crate::rt::Rt;

/// `Ok` once converged, else what is still missing.
pub(crate) fn converged(
    ctx: &Ctx,
    agreed: &AgreedLog,
    components: &[Box<dyn Component>],
) -> Result<(), String> {
    for (id, life) in ctx.controllers.lives() {
        match life {
            Life::Up(p) if p.ready() => {}
            Life::Up(_) => return Err(format!("c{id} has not recovered its store")),
            other => return Err(format!("c{id} is not running ({other:?})")),
        }
    }
    let processes = ctx.controllers.processes();
    let metrics: Vec<RaftMetrics<Types<Rt>>> = processes.iter().map(|p| p.node.metrics()).collect();
    let leaders: Vec<u64> = metrics
        .iter()
        .filter(|m| m.state == ServerState::Leader)
        .map(|m| m.id.0)
        .collect();
    let [leader] = leaders[..] else {
        return Err(format!("{} leaders: {leaders:?}", leaders.len()));
    };
    if let Some(m) = metrics
        .iter()
        .find(|m| m.current_leader.map(|l| l.0) != Some(leader))
    {
        return Err(format!("c{} does not know leader c{leader}", m.id.0));
    }
    for process in &processes {
        let revision = process.node.read_stale(|s| s.revision().0);
        if revision != agreed.revision() {
            return Err(format!(
                "c{} is at revision {revision}, the agreed log at {}",
                process.id,
                agreed.revision()
            ));
        }
    }
    let pending = ctx.history.pending();
    if pending > 0 {
        return Err(format!("{pending} client operations have no reply"));
    }
    for (watcher, record) in ctx.watches.snapshot() {
        if record.position != agreed.revision() {
            return Err(format!(
                "watcher {watcher} is at revision {}, the log at {}",
                record.position,
                agreed.revision()
            ));
        }
    }
    for component in components {
        component
            .settled(agreed.objects())
            .map_err(|e| format!("{}: {e}", component.name()))?;
    }
    Ok(())
}
