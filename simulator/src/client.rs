//! Simulated clients: each runs a loop of random operations against a controller of its choice,
//! over the simulated network, and records every invocation and response in the history.
//!
//! A request or reply lost on the way leaves the client waiting until its timeout: the outcome
//! is then unknown (the write may or may not have happened), which is what a real client sees.

use std::time::Duration;

use ferrocore_runtime::{Rng, SeededRng};
use tokio::sync::oneshot;

use crate::ctx::{Ctx, Phase};
use crate::front::{self, Refusal, Reply, Request};
use crate::history::{OpKind, OpRecord, Outcome};
use crate::net::{Fate, Proc};
use crate::options::{PlantedBug, duration_below};
use crate::rt::{SimTime, now, sleep, spawn, timeout};
use crate::workload::{GeneratedOp, Workload};

/// Share of operations a client sends to the controller it used last (clients mostly stick to
/// one connection, and sometimes switch).
const STICKINESS: f64 = 0.8;

/// Runs client `client` until the safety phase ends.
pub(crate) async fn run(ctx: Ctx, client: u32, rng: SeededRng) {
    let mut workload = Workload::new(client, rng, &ctx.cfg);
    let ids = ctx.controllers.ids();
    let mut target = pick(&ids, workload.rng());
    while ctx.phase() == Phase::Safety {
        let think = duration_below(workload.rng(), ctx.cfg.think_max);
        sleep(think).await;
        if !workload.rng().chance(STICKINESS) {
            target = pick(&ids, workload.rng());
        }
        let op = workload.next_op();
        let index = ctx.history.invoke(record(client, target, &op));
        let result = call(&ctx, client, target, op.request.clone()).await;
        let outcome = match &result {
            Some(r) => Outcome::from_reply(r),
            None => Outcome::Unknown,
        };
        remember(&mut workload, &op, &outcome);
        ctx.trace.event(format_args!(
            "client{client} {:?} {} via c{target}: {}",
            op.kind,
            op.key.name,
            outcome.label()
        ));
        if matches!(outcome, Outcome::Unavailable | Outcome::Unknown) {
            // A client that got no good answer tries another controller next.
            target = pick(&ids, workload.rng());
        }
        let ret = if outcome == Outcome::Unknown {
            SimTime::NEVER
        } else {
            now()
        };
        ctx.history.complete(index, outcome, ret);
    }
}

/// A controller drawn at random.
fn pick(ids: &[u64], rng: &mut SeededRng) -> u64 {
    ids[usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0)]
}

fn record(client: u32, controller: u64, op: &GeneratedOp) -> OpRecord {
    OpRecord {
        id: 0,
        client,
        kind: op.kind,
        key: op.key.clone(),
        valid: op.valid,
        token: op.token.clone(),
        pinned: op.pinned,
        controller,
        call: now(),
        ret: SimTime::NEVER,
        outcome: Outcome::Pending,
    }
}

/// Keeps the version the client saw, to pin later writes on.
fn remember(workload: &mut Workload, op: &GeneratedOp, outcome: &Outcome) {
    match outcome {
        Outcome::Written {
            revision, removed, ..
        } => {
            workload.saw(&op.key, if *removed { 0 } else { *revision });
        }
        Outcome::Found { rv, .. } => workload.saw(&op.key, *rv),
        Outcome::NotFound => workload.saw(&op.key, 0),
        Outcome::Listed { items, .. } => {
            for (key, rv, _) in items {
                workload.saw(key, *rv);
            }
        }
        _ => {}
    }
    if op.kind == OpKind::Delete && matches!(outcome, Outcome::Written { .. }) {
        workload.saw(&op.key, 0);
    }
}

/// Sends `request` to `target` and waits for the reply; `None` if none came in time.
async fn call(
    ctx: &Ctx,
    client: u32,
    target: u64,
    request: Request,
) -> Option<Result<Reply, Refusal>> {
    let (tx, rx) = oneshot::channel();
    if let Fate::Deliver(delay) = ctx.net.fate(Proc::Client(client), Proc::Controller(target)) {
        spawn(serve(ctx.clone(), client, target, request, delay, tx));
    }
    // A lost request: nothing comes back, the client waits out its timeout.
    match timeout(ctx.cfg.client_timeout, rx).await {
        Some(Ok(result)) => Some(result),
        _ => None,
    }
}

/// The controller's side of one call: handle it, and send the reply back over the network.
async fn serve(
    ctx: Ctx,
    client: u32,
    target: u64,
    request: Request,
    delay: Duration,
    reply: oneshot::Sender<Result<Reply, Refusal>>,
) {
    sleep(delay).await;
    let result = match ctx.controllers.process(target) {
        // Nobody listens there: the connection is refused, nothing was written.
        None => Err(Refusal::Unavailable(format!("c{target} is down"))),
        Some(process) => {
            let ack_early = ctx.planted(PlantedBug::AckBeforeCommit);
            let result = front::handle(&process, request, ack_early).await;
            if !ctx.controllers.alive(process.id, process.incarnation) {
                // The process died before answering: the client hears nothing.
                hold_until_timeout(&ctx, reply).await;
                return;
            }
            result
        }
    };
    match ctx.net.fate(Proc::Controller(target), Proc::Client(client)) {
        Fate::Deliver(delay) => {
            sleep(delay).await;
            drop(reply.send(result));
        }
        Fate::Lost => hold_until_timeout(&ctx, reply).await,
    }
}

/// Keeps the reply channel open (so the client does not learn of the loss early) until the
/// client has given up.
async fn hold_until_timeout(ctx: &Ctx, reply: oneshot::Sender<Result<Reply, Refusal>>) {
    sleep(ctx.cfg.client_timeout).await;
    drop(reply);
}
