//! The client's decision core, sans-IO: sessions to one or more reflectors, our announcements
//! and subscriptions, and the merged table of routes received.
//!
//! A route is in the merged table while at least one reflector provides it, so losing one
//! reflector of an HA pair removes nothing the other still provides (metalbond removes it
//! anyway). The application reads the table's changes, coalesced, with
//! [`ClientCore::take_changes`]; their memory is bounded by the table's size.

use std::collections::{BTreeMap, BTreeSet};

use ferrocore_runtime::MonoTime;

use crate::frame::FrameError;
use crate::message::{Action, KeepaliveInterval, Message};
use crate::outbox::Outbox;
use crate::route::{NextHop, Route, Vni};
use crate::session::{Session, SessionEvent, SessionState};
use crate::table::vni_range;

/// The most reflectors one client connects to (one bit each in the merged table).
pub const REFLECTORS_MAX: usize = 64;

fn provider_bit(rid: ReflectorId) -> u64 {
    // Client::start never creates an id at or past REFLECTORS_MAX.
    assert!(
        rid.0 < REFLECTORS_MAX,
        "reflector index {} out of range",
        rid.0
    );
    1 << rid.0
}

/// Which configured reflector (its index in the client's list).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ReflectorId(pub usize);

/// A change of the merged table for the application.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RouteChange {
    /// Added (first provider) or removed (no provider left).
    pub action: Action,
    /// The route.
    pub route: Route,
}

/// What the adapter must do.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ClientCommand {
    /// The reflector link has bytes to send: call [`ClientCore::poll_transmit`].
    Wake(ReflectorId),
    /// Close the link's socket (its state is gone); reconnect later.
    Close(ReflectorId, String),
    /// The merged table changed: [`ClientCore::take_changes`] has something.
    Changed,
}

#[derive(Debug)]
struct Link {
    session: Session,
    outbox: Outbox,
    /// A Wake is outstanding (cleared when the adapter pulls).
    woken: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct ClientCore {
    keepalive: KeepaliveInterval,
    announcements: BTreeSet<Route>,
    subscriptions: BTreeSet<Vni>,
    links: BTreeMap<ReflectorId, Link>,
    /// The merged table: each route with a bit per reflector that provides it. One map entry
    /// per route keeps a 100,000-route table small and cheap to update.
    received: BTreeMap<Route, u64>,
    changes: BTreeMap<Route, Action>,
    /// A Changed is outstanding (cleared by `take_changes`).
    changed: bool,
}

impl ClientCore {
    /// A client proposing `keepalive` to every reflector.
    pub fn new(keepalive: KeepaliveInterval) -> Self {
        Self {
            keepalive,
            announcements: BTreeSet::new(),
            subscriptions: BTreeSet::new(),
            links: BTreeMap::new(),
            received: BTreeMap::new(),
            changes: BTreeMap::new(),
            changed: false,
        }
    }

    /// A TCP connection to `rid` is up: the HELLO is queued.
    pub fn connected(&mut self, now: MonoTime, rid: ReflectorId) -> Vec<ClientCommand> {
        let mut cmds = self.disconnected(rid);
        let (session, hello) = Session::client(now, self.keepalive);
        let mut outbox = Outbox::default();
        // A fresh outbox has room for one control message.
        let _ = outbox.push_control(hello);
        self.links.insert(
            rid,
            Link {
                session,
                outbox,
                woken: true,
            },
        );
        cmds.push(ClientCommand::Wake(rid));
        cmds
    }

    /// The connection to `rid` ended: forget what it provided (only routes no other reflector
    /// provides leave the merged table).
    pub fn disconnected(&mut self, rid: ReflectorId) -> Vec<ClientCommand> {
        let mut cmds = Vec::new();
        if self.links.remove(&rid).is_some() {
            let bit = provider_bit(rid);
            let lost: Vec<Route> = self
                .received
                .iter()
                .filter(|(_, b)| **b & bit != 0)
                .map(|(r, _)| *r)
                .collect();
            for route in lost {
                self.lose(rid, &route, &mut cmds);
            }
        }
        cmds
    }

    /// A frame (or a framing error) arrived from `rid`.
    pub fn receive(
        &mut self,
        now: MonoTime,
        rid: ReflectorId,
        frame: Result<Message, FrameError>,
    ) -> Vec<ClientCommand> {
        let Some(link) = self.links.get_mut(&rid) else {
            return Vec::new();
        };
        let events = match frame {
            Ok(msg) => link.session.handle(now, msg).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match events {
            Ok(events) => {
                let mut cmds = Vec::new();
                for ev in events {
                    if let Err(reason) = self.on_event(rid, ev, &mut cmds) {
                        return self.close(rid, reason, cmds);
                    }
                }
                cmds
            }
            Err(reason) => self.close(rid, reason, Vec::new()),
        }
    }

    /// Sends due KEEPALIVEs and closes links that timed out.
    pub fn tick(&mut self, now: MonoTime) -> Vec<ClientCommand> {
        let mut cmds = Vec::new();
        let mut dead = Vec::new();
        for (rid, link) in &mut self.links {
            match link.session.tick(now) {
                Ok(Some(msg)) => match link.outbox.push_control(msg) {
                    Ok(()) => cmds.push(ClientCommand::Wake(*rid)),
                    Err(e) => dead.push((*rid, e.to_string())),
                },
                Ok(None) => {}
                Err(e) => dead.push((*rid, e.to_string())),
            }
        }
        for (rid, reason) in dead {
            cmds = self.close(rid, reason, cmds);
        }
        cmds
    }

    /// Links whose keepalive timeout has passed at `now`.
    pub fn overdue(&self, now: MonoTime) -> Vec<ReflectorId> {
        let late = self.links.iter().filter(|(_, l)| l.session.overdue(now));
        late.map(|(id, _)| *id).collect()
    }

    /// Counts `rid` as alive at `now` (its bytes are waiting to be read).
    pub fn touch(&mut self, rid: ReflectorId, now: MonoTime) {
        if let Some(l) = self.links.get_mut(&rid) {
            l.session.touch(now);
        }
    }

    /// Announces `route` to every reflector (now and after every reconnect).
    pub fn announce(&mut self, route: Route) -> Vec<ClientCommand> {
        if !self.announcements.insert(route) {
            return Vec::new();
        }
        self.for_established(|o| {
            o.set(route, Action::Add);
            true
        })
    }

    /// Withdraws `route` from every reflector.
    pub fn withdraw(&mut self, route: &Route) -> Vec<ClientCommand> {
        if !self.announcements.remove(route) {
            return Vec::new();
        }
        let route = *route;
        self.for_established(|o| {
            o.set(route, Action::Remove);
            true
        })
    }

    /// Subscribes to `vni` on every reflector.
    pub fn subscribe(&mut self, vni: Vni) -> Vec<ClientCommand> {
        if !self.subscriptions.insert(vni) {
            return Vec::new();
        }
        self.for_established(|o| o.push_control(Message::Subscribe(vni)).is_ok())
    }

    /// Unsubscribes from `vni`: its received routes leave the table. A reflector withdraws our
    /// own routes in `vni` on UNSUBSCRIBE, so they are announced again right after it.
    pub fn unsubscribe(&mut self, vni: Vni) -> Vec<ClientCommand> {
        if !self.subscriptions.remove(&vni) {
            return Vec::new();
        }
        let mut cmds = self.for_established(|o| {
            let queued = o.push_control(Message::Unsubscribe(vni)).is_ok();
            o.restart_vni(vni);
            queued
        });
        let dropped: Vec<Route> = self
            .received
            .range(vni_range(vni))
            .map(|(r, _)| *r)
            .collect();
        for route in dropped {
            self.received.remove(&route);
            self.change(route, Action::Remove, &mut cmds);
        }
        cmds
    }

    /// Appends up to about `budget` bytes for `rid` to `out`; `false` if the link is gone.
    pub fn poll_transmit(&mut self, rid: ReflectorId, budget: usize, out: &mut Vec<u8>) -> bool {
        let Some(link) = self.links.get_mut(&rid) else {
            return false;
        };
        link.woken = false;
        let mine = &self.announcements;
        link.outbox.pull(budget, out, |from, end| {
            mine.range::<Route, _>((from, end)).next().copied()
        });
        true
    }

    /// Takes up to `max` changes of the merged table, in route order.
    pub fn take_changes(&mut self, max: usize) -> Vec<RouteChange> {
        let mut out = Vec::with_capacity(max.min(self.changes.len()));
        while out.len() < max {
            let Some((route, action)) = self.changes.pop_first() else {
                break;
            };
            out.push(RouteChange { action, route });
        }
        // Still set while changes remain: the consumer that got a full batch comes back for
        // more without waiting (see `Client::next_changes`).
        self.changed = !self.changes.is_empty();
        out
    }

    /// The merged table: every route some reflector provides.
    pub fn table(&self) -> Vec<Route> {
        self.received.keys().copied().collect()
    }

    /// Number of routes in the merged table.
    pub fn table_len(&self) -> usize {
        self.received.len()
    }

    /// How many reflector sessions are established.
    pub fn established(&self) -> usize {
        let up = |l: &&Link| l.session.state() == SessionState::Established;
        self.links.values().filter(up).count()
    }

    /// Whether `rid` still has bytes to send.
    pub fn has_pending(&self, rid: ReflectorId) -> bool {
        self.links.get(&rid).is_some_and(|l| !l.outbox.is_empty())
    }

    fn for_established(&mut self, mut f: impl FnMut(&mut Outbox) -> bool) -> Vec<ClientCommand> {
        let mut cmds = Vec::new();
        for (rid, link) in &mut self.links {
            if link.session.state() == SessionState::Established
                && f(&mut link.outbox)
                && !link.woken
            {
                link.woken = true;
                cmds.push(ClientCommand::Wake(*rid));
            }
        }
        cmds
    }

    fn on_event(
        &mut self,
        rid: ReflectorId,
        ev: SessionEvent,
        cmds: &mut Vec<ClientCommand>,
    ) -> Result<(), String> {
        let link = self.links.get_mut(&rid).ok_or("link gone")?;
        match ev {
            SessionEvent::Send(msg) => {
                link.outbox.push_control(msg).map_err(|e| e.to_string())?;
                cmds.push(ClientCommand::Wake(rid));
            }
            SessionEvent::Established => {
                // Subscriptions first, then a full re-announcement, as metalbond does.
                for vni in &self.subscriptions {
                    link.outbox
                        .push_control(Message::Subscribe(*vni))
                        .map_err(|e| e.to_string())?;
                }
                link.outbox.restart_all();
                cmds.push(ClientCommand::Wake(rid));
            }
            SessionEvent::Deliver(Message::Update(Action::Add, route)) => {
                if !self.announces_destination(&route) {
                    self.gain(rid, route, cmds);
                }
            }
            SessionEvent::Deliver(Message::Update(Action::Remove, route)) => {
                self.lose(rid, &route, cmds);
            }
            // A server has no business subscribing to a client; metalbond ignores it too.
            SessionEvent::Deliver(_) => {}
        }
        Ok(())
    }

    /// Loop prevention (metalbond #177): a destination we announce ourselves is never learned.
    fn announces_destination(&self, route: &Route) -> bool {
        let first = Route {
            next_hop: NextHop::standard(std::net::Ipv4Addr::UNSPECIFIED.into()),
            ..*route
        };
        self.announcements
            .range(first..)
            .next()
            .is_some_and(|r| r.vni == route.vni && r.destination == route.destination)
    }

    fn gain(&mut self, rid: ReflectorId, route: Route, cmds: &mut Vec<ClientCommand>) {
        let bits = self.received.entry(route).or_insert(0);
        let first = *bits == 0;
        *bits |= provider_bit(rid);
        if first {
            self.change(route, Action::Add, cmds);
        }
    }

    fn lose(&mut self, rid: ReflectorId, route: &Route, cmds: &mut Vec<ClientCommand>) {
        let Some(bits) = self.received.get_mut(route) else {
            return;
        };
        *bits &= !provider_bit(rid);
        if *bits == 0 {
            self.received.remove(route);
            self.change(*route, Action::Remove, cmds);
        }
    }

    fn change(&mut self, route: Route, action: Action, cmds: &mut Vec<ClientCommand>) {
        match self.changes.get(&route) {
            Some(a) if *a != action => {
                self.changes.remove(&route);
            }
            _ => {
                self.changes.insert(route, action);
            }
        }
        if !self.changed {
            self.changed = true;
            cmds.push(ClientCommand::Changed);
        }
    }

    fn close(
        &mut self,
        rid: ReflectorId,
        reason: String,
        mut cmds: Vec<ClientCommand>,
    ) -> Vec<ClientCommand> {
        if self.links.contains_key(&rid) {
            cmds.extend(self.disconnected(rid));
            cmds.push(ClientCommand::Close(rid, reason));
        }
        cmds
    }

    /// Panics if the merged table names a reflector we have no link to, holds a route nobody
    /// provides, or has unsent changes with no Changed outstanding (bugs, never bad input).
    pub fn check_invariants(&self) {
        let mut linked = 0u64;
        for rid in self.links.keys() {
            linked |= provider_bit(*rid);
        }
        for (route, bits) in &self.received {
            assert_ne!(*bits, 0, "{route} has no provider");
            assert_eq!(
                *bits & !linked,
                0,
                "{route} provided by an unlinked reflector"
            );
        }
        assert!(
            self.changes.is_empty() || self.changed,
            "changes without a Changed"
        );
    }

    /// Routes announced in `vni` (for tests and status).
    pub fn announced_in(&self, vni: Vni) -> usize {
        self.announcements.range(vni_range(vni)).count()
    }
}
