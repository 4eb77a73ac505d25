//! What one peer still has to be told: a short control queue, coalesced route changes, and
//! dump cursors that walk a table instead of copying it.
//!
//! This is how large dumps are paced and never dropped: a SUBSCRIBE does not queue 100,000
//! messages, it starts a cursor; the connection's writer pulls at most a batch of bytes at a
//! time, as fast as the socket takes them. A route that changes twice before it is sent is sent
//! once (or not at all, if the changes cancel), so the memory a slow peer costs is bounded by
//! the table's size, not by the rate of changes.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use crate::frame::encode_frame;
use crate::message::{Action, Message};
use crate::route::{Route, Vni};
use crate::table::vni_range;

/// Control messages (HELLO, KEEPALIVE replies, SUBSCRIBE, UNSUBSCRIBE) waiting for one peer.
/// A conforming peer has at most a handful outstanding; a peer that floods KEEPALIVEs without
/// reading our replies fills this and is disconnected.
pub(crate) const CONTROL_QUEUE_MAX: usize = 4_096;

/// The largest encoded frame we produce, used to stop a batch before it overshoots its budget.
const FRAME_LEN_MAX: usize = 128;

/// A walk over a key range of some route source, from `from` to `end`.
#[derive(Clone, Debug)]
struct Dump {
    from: Bound<Route>,
    end: Bound<Route>,
}

impl Dump {
    fn covers(&self, route: &Route) -> bool {
        let after_from = match &self.from {
            Bound::Included(f) => route >= f,
            Bound::Excluded(f) => route > f,
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Excluded(e) => route < e,
            Bound::Included(e) => route <= e,
            Bound::Unbounded => true,
        };
        after_from && before_end
    }
}

/// The control queue overflowed: the peer sends faster than it reads.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Control queue full ({CONTROL_QUEUE_MAX} messages)")]
pub(crate) struct ControlQueueFull;

/// One peer's outgoing state. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    control: VecDeque<Message>,
    pending: BTreeMap<Route, Action>,
    dumps: Vec<Dump>,
}

impl Outbox {
    /// Queues a control message, sent before any route update.
    pub(crate) fn push_control(&mut self, msg: Message) -> Result<(), ControlQueueFull> {
        if self.control.len() >= CONTROL_QUEUE_MAX {
            return Err(ControlQueueFull);
        }
        self.control.push_back(msg);
        Ok(())
    }

    /// The peer's view of `route` must become `action`. A change inside a running dump's
    /// remaining range is left to the dump, which reads the current table when it gets there.
    pub(crate) fn set(&mut self, route: Route, action: Action) {
        if self.dumps.iter().any(|d| d.covers(&route)) {
            return;
        }
        match self.pending.get(&route) {
            // The opposite change is still unsent: the peer's view is already right.
            Some(a) if *a != action => {
                self.pending.remove(&route);
            }
            _ => {
                self.pending.insert(route, action);
            }
        }
    }

    /// Starts sending everything in `vni` afresh, forgetting unsent changes there (the peer's
    /// view of the VNI is empty: it just subscribed, or the server just withdrew it).
    pub(crate) fn restart_vni(&mut self, vni: Vni) {
        self.forget_vni(vni);
        let (from, end) = vni_range(vni);
        self.dumps.push(Dump { from, end });
    }

    /// Starts sending the whole source afresh, forgetting every unsent change.
    pub(crate) fn restart_all(&mut self) {
        self.pending.clear();
        self.dumps.clear();
        self.dumps.push(Dump {
            from: Bound::Unbounded,
            end: Bound::Unbounded,
        });
    }

    /// Drops unsent changes and dumps of `vni` (the peer no longer wants it).
    pub(crate) fn forget_vni(&mut self, vni: Vni) {
        let range = vni_range(vni);
        let doomed: Vec<Route> = self.pending.range(range).map(|(r, _)| *r).collect();
        for r in doomed {
            self.pending.remove(&r);
        }
        let scope = Dump {
            from: range.0,
            end: range.1,
        };
        self.dumps.retain(|d| {
            let starts_inside = match &d.from {
                Bound::Included(f) | Bound::Excluded(f) => scope.covers(f),
                Bound::Unbounded => false,
            };
            !(starts_inside && d.end == scope.end)
        });
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.pending.is_empty() && self.dumps.is_empty()
    }

    /// Unsent route changes (for status).
    pub(crate) fn backlog(&self) -> usize {
        self.pending.len() + self.control.len()
    }

    /// Appends whole frames to `out` until about `budget` bytes: control first, then changes,
    /// then dumps. `next_in` returns the first route the peer should see in a key range.
    pub(crate) fn pull(
        &mut self,
        budget: usize,
        out: &mut Vec<u8>,
        mut next_in: impl FnMut(Bound<&Route>, Bound<&Route>) -> Option<Route>,
    ) {
        let room = |out: &Vec<u8>| out.len() + FRAME_LEN_MAX <= budget;
        while room(out) {
            let Some(msg) = self.control.pop_front() else {
                break;
            };
            encode_frame(&msg, out);
        }
        while room(out) {
            let Some((route, action)) = self.pending.pop_first() else {
                break;
            };
            encode_frame(&Message::Update(action, route), out);
        }
        while room(out) && !self.dumps.is_empty() {
            let dump = &mut self.dumps[0];
            match next_in(dump.from.as_ref(), dump.end.as_ref()) {
                Some(route) => {
                    encode_frame(&Message::Update(Action::Add, route), out);
                    dump.from = Bound::Excluded(route);
                }
                None => {
                    self.dumps.remove(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::frame::FrameDecoder;

    fn route(vni: u32, i: u8) -> Route {
        format!("{vni}#10.0.0.{i}/32#2001:db8::{i}")
            .parse()
            .unwrap()
    }

    fn drain(outbox: &mut Outbox, source: &BTreeSet<Route>, budget: usize) -> Vec<Message> {
        let mut msgs = Vec::new();
        let mut dec = FrameDecoder::new();
        while !outbox.is_empty() {
            let mut out = Vec::new();
            outbox.pull(budget, &mut out, |from, end| {
                source.range::<Route, _>((from, end)).next().copied()
            });
            assert!(out.len() <= budget);
            dec.push(&out);
            while let Some(m) = dec.next_message().unwrap() {
                msgs.push(m);
            }
        }
        msgs
    }

    #[test]
    fn opposite_changes_cancel() {
        let mut o = Outbox::default();
        o.set(route(1, 1), Action::Add);
        o.set(route(1, 1), Action::Remove);
        assert!(o.is_empty());
    }

    #[test]
    fn dump_is_paced_and_complete_and_changes_ahead_of_it_are_left_to_it() {
        let source: BTreeSet<Route> = (0..200).map(|i| route(u32::from(i % 2), i)).collect();
        let mut o = Outbox::default();
        o.restart_vni(Vni(1));
        // Ahead of the cursor: the dump will read it from the source.
        o.set(route(1, 3), Action::Add);
        o.push_control(Message::Keepalive).unwrap();
        let msgs = drain(&mut o, &source, 1_000);
        assert_eq!(msgs[0], Message::Keepalive);
        assert_eq!(msgs.len(), 101);
        assert!(
            msgs[1..]
                .iter()
                .all(|m| matches!(m, Message::Update(Action::Add, r) if r.vni == Vni(1)))
        );
    }

    #[test]
    fn forget_vni_drops_its_dump_and_changes() {
        let mut o = Outbox::default();
        o.restart_vni(Vni(4));
        o.set(route(5, 1), Action::Add);
        o.forget_vni(Vni(4));
        o.forget_vni(Vni(5));
        assert!(o.is_empty());
    }

    #[test]
    fn control_queue_is_bounded() {
        let mut o = Outbox::default();
        for _ in 0..CONTROL_QUEUE_MAX {
            o.push_control(Message::Keepalive).unwrap();
        }
        assert_eq!(o.push_control(Message::Keepalive), Err(ControlQueueFull));
    }
}
