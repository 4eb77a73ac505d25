//! How a control-plane core or a node fake joins the simulation: a [`Component`] is attached to
//! every controller process that comes up (it decides itself whether it acts there, e.g. only
//! on the leader), and says once the cluster has converged whether it has settled and its state
//! matches the store.
//!
//! To add one (a scheduler, a reconcile core, a fake hypervisor, the route reflector core):
//! implement this trait in its own file, add it in `world::components`, and put the rules it
//! must keep in `invariants/`, one file each.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use ferrocore_consensus::{JsonObject, ObjectKey};

use crate::controller::Process;
use crate::ctx::Ctx;

/// A part of the system the simulator drives besides the store.
pub(crate) trait Component: Debug + Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;

    /// Starts its work on a controller process that just came up (its tasks end when the
    /// process dies: check `ctx.controllers.alive(id, incarnation)`).
    fn attach(&self, ctx: &Ctx, process: &Arc<Process>);

    /// Once the cluster has converged: `Ok` if it has settled and agrees with `objects` (the
    /// agreed store), else why not yet.
    ///
    /// # Errors
    /// A sentence saying what is not settled.
    fn settled(&self, objects: &BTreeMap<ObjectKey, JsonObject>) -> Result<(), String>;
}
