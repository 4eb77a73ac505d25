//! The client history is linearizable, per key (Herlihy & Wing; checked Porcupine-style by
//! `lincheck`): every Network's operations — create, update, update-status, patch, delete, get,
//! valid and invalid — can be put in one order that respects real time and the store's
//! semantics (preconditions on `resourceVersion`, `AlreadyExists`, `NotFound`, reads seeing the
//! latest write).
//!
//! A write whose reply never came may or may not have happened; its token tells: if the agreed
//! log holds it, it happened with that effect (and may be placed anywhere after its call), else
//! it had no effect. VirtualIPs are left to the allocator invariants (the allocator writes them
//! too), and lists to the other checks.

use std::collections::BTreeMap;

use ferrocore_api::Kind;
use ferrocore_consensus::ObjectKey;

use super::Violation;
use crate::agreed::AgreedLog;
use crate::history::{OpKind, OpRecord, Outcome, object_fp, rv_of};
use crate::lincheck::{self, Model, Operation, Verdict};
use crate::rt::SimTime;

const NAME: &str = "linearizability";

/// An object as a read sees it: `(resourceVersion, fingerprint)`, or absent.
type State = Option<(u64, u64)>;

/// What an operation did, as the model replays it.
#[derive(Clone, Debug)]
enum Effect {
    /// The object became `(rv, fp)`.
    Wrote(u64, u64),
    /// The object was removed.
    Removed,
    /// A read saw this.
    Saw(State),
    /// The object existed (`AlreadyExists`).
    Exists,
    /// The precondition did not hold (`Conflict`).
    Conflicted,
    /// The object did not exist (`NotFound` on a write).
    Absent,
    /// Refused without looking (invalid): no constraint.
    Nothing,
}

#[derive(Clone, Debug)]
struct Input {
    op: u64,
    controller: u64,
    kind: OpKind,
    pinned: Option<u64>,
    effect: Effect,
}

struct StoreKey;

impl Model for StoreKey {
    type State = State;
    type Input = Input;

    fn step(&self, state: &State, input: &Input) -> Option<State> {
        let pinned_ok = |rv: u64| input.pinned.is_none_or(|p| p == rv);
        match (&input.effect, state) {
            (Effect::Wrote(rv, fp), None) if input.kind == OpKind::Create => Some(Some((*rv, *fp))),
            (Effect::Wrote(rv, fp), Some((old_rv, old_fp))) if input.kind != OpKind::Create => {
                let changed = rv > old_rv;
                let same = (rv, fp) == (old_rv, old_fp);
                (pinned_ok(*old_rv) && (changed || same)).then_some(Some((*rv, *fp)))
            }
            (Effect::Removed, Some((rv, _))) => pinned_ok(*rv).then_some(None),
            (Effect::Saw(seen), now) => (seen == now).then_some(*now),
            (Effect::Exists, Some(_)) | (Effect::Absent, None) | (Effect::Nothing, _) => {
                Some(*state)
            }
            (Effect::Conflicted, Some((rv, _))) => {
                // A pinned write conflicts only with another version; an unpinned one only after
                // the service's own retries kept conflicting (any version).
                (input.pinned != Some(*rv)).then_some(*state)
            }
            _ => None,
        }
    }
}

/// Checks every Network's history.
pub(crate) fn check(history: &[OpRecord], agreed: &AgreedLog, out: &mut Vec<Violation>) -> usize {
    let mut per_key: BTreeMap<&ObjectKey, Vec<Operation<Input>>> = BTreeMap::new();
    for op in history
        .iter()
        .filter(|op| op.key.kind == Kind::Network.name())
    {
        if let Some(operation) = operation(op, agreed) {
            per_key.entry(&op.key).or_default().push(operation);
        }
    }
    let mut checked = 0;
    for (key, ops) in &per_key {
        checked += ops.len();
        match lincheck::check(&StoreKey, None, ops) {
            Verdict::Linearizable | Verdict::Inconclusive => {}
            Verdict::Illegal { prefix, stuck } => {
                out.push(Violation::new(NAME, explain(key, ops, &prefix, &stuck)));
            }
        }
    }
    checked
}

/// The model's view of one recorded operation, or `None` if it constrains nothing.
fn operation(op: &OpRecord, agreed: &AgreedLog) -> Option<Operation<Input>> {
    let effect = match &op.outcome {
        Outcome::Written {
            rv, fp, removed, ..
        } => {
            if *removed {
                Effect::Removed
            } else {
                Effect::Wrote(*rv, *fp)
            }
        }
        Outcome::Found { rv, fp } => Effect::Saw(Some((*rv, *fp))),
        Outcome::NotFound if op.kind == OpKind::Get => Effect::Saw(None),
        Outcome::NotFound => Effect::Absent,
        Outcome::AlreadyExists => Effect::Exists,
        Outcome::Conflict => Effect::Conflicted,
        Outcome::Invalid => Effect::Nothing,
        Outcome::Unavailable | Outcome::Listed { .. } => return None,
        Outcome::Unknown | Outcome::Pending => return unknown(op, agreed),
    };
    Some(Operation {
        call: op.call.0,
        ret: op.ret.0,
        input: Input {
            op: op.id,
            controller: op.controller,
            kind: op.kind,
            pinned: op.pinned,
            effect,
        },
    })
}

/// A write whose outcome the client never learned, resolved from the agreed log.
fn unknown(op: &OpRecord, agreed: &AgreedLog) -> Option<Operation<Input>> {
    let effect = match op.kind {
        OpKind::Get | OpKind::List => return None,
        // A delete leaves no token: if it happened, the object went (placing it is optional).
        OpKind::Delete => Effect::Removed,
        _ => {
            let revision = agreed.token_revision(op.token.as_deref()?)?;
            let entry = agreed.get(revision)?;
            let value = entry.object.value();
            Effect::Wrote(rv_of(value), object_fp(value))
        }
    };
    Some(Operation {
        call: op.call.0,
        ret: SimTime::NEVER.0,
        input: Input {
            op: op.id,
            controller: op.controller,
            kind: op.kind,
            pinned: op.pinned,
            effect,
        },
    })
}

fn explain(key: &ObjectKey, ops: &[Operation<Input>], prefix: &[usize], stuck: &[usize]) -> String {
    let show = |i: &usize| {
        let o = &ops[*i];
        let ret = if o.ret == u64::MAX {
            "never".to_owned()
        } else {
            SimTime(o.ret).to_string()
        };
        format!(
            "op {} {:?} via c{} pinned={:?} [{} .. {ret}] {:?}",
            o.input.op,
            o.input.kind,
            o.input.controller,
            o.input.pinned,
            SimTime(o.call),
            o.input.effect
        )
    };
    let tail: Vec<String> = prefix.iter().rev().take(4).rev().map(show).collect();
    let next: Vec<String> = stuck.iter().take(6).map(show).collect();
    format!(
        "{key}: {} operations; the longest legal order places {} of them, ending with\n    {}\n  \
         and then none of these can come next:\n    {}",
        ops.len(),
        prefix.len(),
        tail.join("\n    "),
        next.join("\n    ")
    )
}
