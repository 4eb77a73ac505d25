//! A linearizability checker for one object's history, in the manner of Porcupine (the
//! Wing–Gong search with Lowe's memoisation of `(linearized set, model state)`): it looks for an
//! order of the operations that respects real time (an operation that returned before another
//! was invoked comes first) and that a sequential model accepts step by step.
//!
//! Histories are checked per key (P-compositionality: a history is linearizable if and only if
//! each object's sub-history is), which keeps each search small. Operations that never
//! returned have no deadline and may be left out.

use std::collections::BTreeSet;
use std::fmt::Debug;

/// Model states the search may visit before it gives up (the check is NP-complete in general;
/// a budget keeps one pathological history from stalling a batch of seeds).
pub(crate) const SEARCH_STATES_MAX: usize = 1_000_000;

/// A sequential specification.
pub(crate) trait Model {
    type State: Clone + Ord + Debug;
    type Input: Debug;

    /// The state after `input` is applied to `state`, or `None` if the model cannot produce
    /// what the operation observed from `state`.
    fn step(&self, state: &Self::State, input: &Self::Input) -> Option<Self::State>;
}

/// One operation: when it was invoked, when it returned (`u64::MAX` if never), what it did.
#[derive(Clone, Debug)]
pub(crate) struct Operation<I> {
    pub(crate) call: u64,
    pub(crate) ret: u64,
    pub(crate) input: I,
}

/// The outcome of a check.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Verdict {
    Linearizable,
    /// No order works. `prefix` is the longest order found (indexes into the operations), and
    /// `stuck` the operations none of which could come next.
    Illegal {
        prefix: Vec<usize>,
        stuck: Vec<usize>,
    },
    /// The search budget ran out.
    Inconclusive,
}

/// A set of operation indexes.
#[derive(Clone, Debug, Eq, Ord, PartialEq, PartialOrd)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }

    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn with(&self, i: usize) -> Self {
        let mut next = self.clone();
        next.0[i / 64] |= 1 << (i % 64);
        next
    }
}

struct Frame<S> {
    bits: Bits,
    state: S,
    /// Required (returned) operations linearized so far.
    done: usize,
    candidates: Vec<usize>,
    next: usize,
    /// The operation that led here.
    chosen: Option<usize>,
}

/// Checks `ops` (in any order) against `model` from `init`.
pub(crate) fn check<M: Model>(model: &M, init: M::State, ops: &[Operation<M::Input>]) -> Verdict {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|i| (ops[*i].call, *i));
    let required = ops.iter().filter(|o| o.ret != u64::MAX).count();
    if required == 0 {
        return Verdict::Linearizable;
    }
    let bits = Bits::new(ops.len());
    let mut visited = BTreeSet::new();
    let mut stack = vec![Frame {
        candidates: candidates(ops, &order, &bits),
        bits,
        state: init,
        done: 0,
        next: 0,
        chosen: None,
    }];
    let mut best: (usize, Vec<usize>, Vec<usize>) = (0, Vec::new(), stack[0].candidates.clone());
    while let Some(top) = stack.last_mut() {
        let Some(&i) = top.candidates.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let Some(state) = model.step(&top.state, &ops[i].input) else {
            continue;
        };
        let bits = top.bits.with(i);
        let done = top.done + usize::from(ops[i].ret != u64::MAX);
        if done == required {
            return Verdict::Linearizable;
        }
        if !visited.insert((bits.clone(), state.clone())) {
            continue;
        }
        if visited.len() > SEARCH_STATES_MAX {
            return Verdict::Inconclusive;
        }
        let frame = Frame {
            candidates: candidates(ops, &order, &bits),
            bits,
            state,
            done,
            next: 0,
            chosen: Some(i),
        };
        if done > best.0 {
            let mut prefix: Vec<usize> = stack.iter().filter_map(|f| f.chosen).collect();
            prefix.push(i);
            best = (done, prefix, frame.candidates.clone());
        }
        stack.push(frame);
    }
    Verdict::Illegal {
        prefix: best.1,
        stuck: best.2,
    }
}

/// The operations that may come next after `bits`: not yet linearized, and invoked no later
/// than the earliest return among the operations not yet linearized.
fn candidates<I>(ops: &[Operation<I>], order: &[usize], bits: &Bits) -> Vec<usize> {
    let deadline = order
        .iter()
        .filter(|i| !bits.has(**i))
        .map(|i| ops[*i].ret)
        .min()
        .unwrap_or(u64::MAX);
    order
        .iter()
        .copied()
        .filter(|i| !bits.has(*i))
        .take_while(|i| ops[*i].call <= deadline)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register: `Write(v)` sets it, `Read(v)` observes it.
    struct Register;

    #[derive(Debug)]
    enum Io {
        Write(u8),
        Read(u8),
    }

    impl Model for Register {
        type State = u8;
        type Input = Io;

        fn step(&self, state: &u8, input: &Io) -> Option<u8> {
            match input {
                Io::Write(v) => Some(*v),
                Io::Read(v) => (v == state).then_some(*state),
            }
        }
    }

    fn op(call: u64, ret: u64, input: Io) -> Operation<Io> {
        Operation { call, ret, input }
    }

    #[test]
    fn concurrent_write_and_read_may_go_either_way() {
        let ops = [
            op(0, 10, Io::Write(1)),
            op(5, 15, Io::Read(1)),
            op(6, 16, Io::Read(0)),
        ];
        assert_eq!(check(&Register, 0, &ops), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let ops = [op(0, 10, Io::Write(1)), op(20, 30, Io::Read(0))];
        assert!(matches!(check(&Register, 0, &ops), Verdict::Illegal { .. }));
    }

    #[test]
    fn a_write_that_never_returned_may_or_may_not_have_happened() {
        let ops = [op(0, u64::MAX, Io::Write(1)), op(20, 30, Io::Read(1))];
        assert_eq!(check(&Register, 0, &ops), Verdict::Linearizable);
        let ops = [op(0, u64::MAX, Io::Write(1)), op(20, 30, Io::Read(0))];
        assert_eq!(check(&Register, 0, &ops), Verdict::Linearizable);
    }

    #[test]
    fn reads_cannot_flip_back_and_forth() {
        let ops = [
            op(0, u64::MAX, Io::Write(1)),
            op(10, 20, Io::Read(1)),
            op(30, 40, Io::Read(0)),
        ];
        assert!(matches!(check(&Register, 0, &ops), Verdict::Illegal { .. }));
    }
}
