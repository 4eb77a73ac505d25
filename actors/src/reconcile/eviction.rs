//! NoExecute eviction (upstream `machineeviction`): a Machine bound to a pool with a `NoExecute`
//! taint it does not tolerate is deleted, with an `Evicted` event. As upstream, there is no
//! `tolerationSeconds`: eviction is immediate.

use ferrocore_api::compute::{Machine, MachinePool};
use ferrocore_api::{Taint, TaintEffect};

use super::util::{delete, key_of};
use super::{Command, Ctx, EventType, ObjectEvent, ViewExt};

/// The first `NoExecute` taint of the machine's pool that the machine does not tolerate.
pub fn untolerated_no_execute<'a>(machine: &Machine, pool: &'a MachinePool) -> Option<&'a Taint> {
    pool.spec.taints.iter().find(|t| {
        t.effect == TaintEffect::NoExecute
            && !machine.spec.tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// Reconciles a Machine against its pool's NoExecute taints.
pub fn reconcile_eviction(ctx: &Ctx<'_>, machine: &Machine) -> Vec<Command> {
    if machine.metadata.is_deleting() {
        return Vec::new();
    }
    let Some(pool_ref) = &machine.spec.machine_pool_ref else {
        return Vec::new();
    };
    let Some(pool) = ctx.view.typed::<MachinePool>("", &pool_ref.name) else {
        return Vec::new();
    };
    let Some(taint) = untolerated_no_execute(machine, pool) else {
        return Vec::new();
    };
    let value = if taint.value.is_empty() {
        String::new()
    } else {
        format!("={}", taint.value)
    };
    vec![
        Command::Event(ObjectEvent {
            key: key_of(machine),
            event_type: EventType::Warning,
            reason: "Evicted".into(),
            message: format!(
                "Machine pool {} has taint {}{value}:NoExecute that the machine does not tolerate",
                pool_ref.name, taint.key
            ),
        }),
        delete(machine),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};

    const POOL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv}\nspec: {taints: [{key: drain, effect: NoExecute}, {key: x, effect: NoSchedule}]}";

    fn machine(tolerations: &str) -> String {
        format!(
            "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {{name: m, namespace: shop}}
spec: {{machineClassRef: {{name: small}}, machinePoolRef: {{name: hv}}, tolerations: {tolerations}}}"
        )
    }

    #[test]
    fn untolerated_no_execute_evicts() {
        let r = Reports::new();
        let m = machine("[{key: x, operator: Exists}]");
        let s = snapshot(&[POOL, &m]);
        let out = reconcile_eviction(&ctx(&s, &r), get(&s, "m"));
        assert_eq!(
            summary(&out),
            ["event Machine m Evicted", "delete Machine m"]
        );
    }

    #[test]
    fn tolerated_or_no_schedule_only_stays() {
        let r = Reports::new();
        let m = machine("[{key: drain, operator: Exists, effect: NoExecute}]");
        let s = snapshot(&[POOL, &m]);
        assert!(reconcile_eviction(&ctx(&s, &r), get(&s, "m")).is_empty());
    }
}
