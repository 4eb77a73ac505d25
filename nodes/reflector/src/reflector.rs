//! The reflector's decision core, sans-IO: sessions, subscriptions and the route table of every
//! connected peer.
//!
//! ```text
//!  adapter ──connect/receive/disconnect/tick(now, ..)──► ReflectorCore ──► Vec<Command>
//!  adapter ◄──────────── poll_transmit(peer, budget) ───  (bytes for one socket write)
//! ```
//! A peer's view of a VNI it subscribes to is every route some *other* peer announces there;
//! a route is sent once however many peers announce it, and removed only when the last one
//! withdraws it (or disconnects). Every decision that ends a connection removes the peer's
//! state here at once, then tells the adapter to close the socket.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::Bound;

use ferrocore_runtime::MonoTime;
use serde::Serialize;

use crate::frame::FrameError;
use crate::message::{Action, KeepaliveInterval, Message};
use crate::outbox::Outbox;
use crate::route::{Route, Vni};
use crate::session::{Session, SessionEvent, SessionState};
use crate::table::RouteTable;

/// Routes one peer may announce. Far above any hypervisor's share, low enough that a hostile
/// peer cannot exhaust the reflector's memory.
pub const ROUTES_PER_PEER_MAX: usize = 2_000_000;
/// VNIs one peer may subscribe to at once.
pub const SUBSCRIPTIONS_PER_PEER_MAX: usize = 16_384;
/// SUBSCRIBE/UNSUBSCRIBE burst allowance (a token bucket): a hypervisor subscribes to its VNIs
/// in one burst at connect; thousands per second is a flood, and a flood costs a dump each.
pub const SUBSCRIPTION_BURST_MAX: u32 = 2_048;
/// Tokens regained per second by the subscription bucket.
pub const SUBSCRIPTIONS_PER_SECOND: u32 = 256;

/// A connection's id, unique for the reflector's lifetime.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

/// What the adapter must do.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Command {
    /// The peer has bytes to send: call [`ReflectorCore::poll_transmit`].
    Wake(PeerId),
    /// Close the peer's socket; its state is already gone.
    Close(PeerId, String),
}

/// A token bucket in milli-tokens, refilled from `now`.
#[derive(Debug)]
struct Bucket {
    milli: u64,
    at: MonoTime,
}

impl Bucket {
    fn new(now: MonoTime) -> Self {
        Self {
            milli: u64::from(SUBSCRIPTION_BURST_MAX) * 1_000,
            at: now,
        }
    }

    fn take(&mut self, now: MonoTime) -> bool {
        let elapsed_ms =
            u64::try_from(now.saturating_since(self.at).as_millis()).unwrap_or(u64::MAX);
        let refill = elapsed_ms.saturating_mul(u64::from(SUBSCRIPTIONS_PER_SECOND));
        self.milli = self
            .milli
            .saturating_add(refill)
            .min(u64::from(SUBSCRIPTION_BURST_MAX) * 1_000);
        self.at = now;
        if self.milli < 1_000 {
            return false;
        }
        self.milli -= 1_000;
        true
    }
}

#[derive(Debug)]
struct Peer {
    remote: SocketAddr,
    session: Session,
    subscriptions: BTreeSet<Vni>,
    outbox: Outbox,
    bucket: Bucket,
    /// A Wake is outstanding (cleared when the adapter pulls): one wake-up per batch of
    /// changes instead of one per change.
    woken: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct ReflectorCore {
    keepalive: KeepaliveInterval,
    next_id: u64,
    peers: BTreeMap<PeerId, Peer>,
    table: RouteTable<PeerId>,
    subscribers: BTreeMap<Vni, BTreeSet<PeerId>>,
}

fn visible<'a>(announcers: impl IntoIterator<Item = &'a PeerId>, to: PeerId) -> bool {
    announcers.into_iter().any(|p| *p != to)
}

/// What a subscriber's view of a route depends on, computed once per change rather than once
/// per subscriber: how many peers announce it, and which one if only one does.
#[derive(Clone, Copy, Debug)]
struct Announcers {
    count: usize,
    only: Option<PeerId>,
}

impl Announcers {
    fn of<'a>(peers: impl Iterator<Item = &'a PeerId>) -> Self {
        let mut a = Self {
            count: 0,
            only: None,
        };
        for p in peers {
            a.count += 1;
            a.only = Some(*p);
        }
        a
    }

    /// Whether `s` sees the route: someone other than `s` announces it.
    fn visible_to(self, s: PeerId) -> bool {
        self.count >= 2 || (self.count == 1 && self.only != Some(s))
    }
}

impl ReflectorCore {
    /// A reflector that proposes `keepalive` to its peers.
    pub fn new(keepalive: KeepaliveInterval) -> Self {
        Self {
            keepalive,
            next_id: 1,
            peers: BTreeMap::new(),
            table: RouteTable::default(),
            subscribers: BTreeMap::new(),
        }
    }

    /// A connection was accepted from `remote`.
    pub fn connect(&mut self, now: MonoTime, remote: SocketAddr) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id += 1;
        let peer = Peer {
            remote,
            session: Session::server(now, self.keepalive),
            subscriptions: BTreeSet::new(),
            outbox: Outbox::default(),
            bucket: Bucket::new(now),
            woken: false,
        };
        self.peers.insert(id, peer);
        id
    }

    /// A frame (or a framing error) arrived from `peer`.
    pub fn receive(
        &mut self,
        now: MonoTime,
        peer: PeerId,
        frame: Result<Message, FrameError>,
    ) -> Vec<Command> {
        let mut cmds = Vec::new();
        let Some(p) = self.peers.get_mut(&peer) else {
            return cmds;
        };
        let events = match frame {
            Ok(msg) => p.session.handle(now, msg).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let events = match events {
            Ok(ev) => ev,
            Err(reason) => {
                self.close(peer, reason, &mut cmds);
                return cmds;
            }
        };
        for ev in events {
            if let Err(reason) = self.on_event(now, peer, ev, &mut cmds) {
                self.close(peer, reason, &mut cmds);
                break;
            }
        }
        cmds
    }

    /// `peer`'s connection ended (EOF or error): withdraw everything it announced.
    pub fn disconnect(&mut self, peer: PeerId) -> Vec<Command> {
        let mut cmds = Vec::new();
        self.remove_peer(peer, &mut cmds);
        cmds
    }

    /// Checks every session's timers.
    pub fn tick(&mut self, now: MonoTime) -> Vec<Command> {
        let mut cmds = Vec::new();
        let mut dead = Vec::new();
        for (id, p) in &mut self.peers {
            if let Err(e) = p.session.tick(now) {
                dead.push((*id, e.to_string()));
            }
        }
        for (id, reason) in dead {
            self.close(id, reason, &mut cmds);
        }
        cmds
    }

    /// Peers whose keepalive timeout has passed at `now` (the adapter may [`Self::touch`] those
    /// with unread bytes before calling [`Self::tick`]).
    pub fn overdue(&self, now: MonoTime) -> Vec<PeerId> {
        let late = self.peers.iter().filter(|(_, p)| p.session.overdue(now));
        late.map(|(id, _)| *id).collect()
    }

    /// Counts `peer` as alive at `now` (its bytes are waiting to be read).
    pub fn touch(&mut self, peer: PeerId, now: MonoTime) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.touch(now);
        }
    }

    /// Appends up to about `budget` bytes of whole frames for `peer` to `out`. Returns `false`
    /// if the peer is gone (the adapter closes its socket).
    pub fn poll_transmit(&mut self, peer: PeerId, budget: usize, out: &mut Vec<u8>) -> bool {
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        p.woken = false;
        let table = &self.table;
        p.outbox.pull(budget, out, |from, end| {
            table
                .range((from.cloned(), end.cloned()))
                .find(|(_, announcers)| visible(announcers.iter(), peer))
                .map(|(r, _)| *r)
        });
        true
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Whether `peer` still has something to send.
    pub fn has_pending(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| !p.outbox.is_empty())
    }

    fn on_event(
        &mut self,
        now: MonoTime,
        peer: PeerId,
        ev: SessionEvent,
        cmds: &mut Vec<Command>,
    ) -> Result<(), String> {
        match ev {
            SessionEvent::Send(msg) => self.push_control(peer, msg, cmds),
            SessionEvent::Established => Ok(()),
            SessionEvent::Deliver(Message::Subscribe(vni)) => self.subscribe(now, peer, vni, cmds),
            SessionEvent::Deliver(Message::Unsubscribe(vni)) => {
                self.unsubscribe(now, peer, vni, cmds)
            }
            SessionEvent::Deliver(Message::Update(Action::Add, route)) => {
                if self.table.count_of(peer) >= ROUTES_PER_PEER_MAX {
                    return Err(format!("More than {ROUTES_PER_PEER_MAX} routes announced"));
                }
                self.announce(peer, route, cmds);
                Ok(())
            }
            SessionEvent::Deliver(Message::Update(Action::Remove, route)) => {
                self.withdraw(peer, &route, cmds);
                Ok(())
            }
            SessionEvent::Deliver(other) => Err(format!("Unexpected {:?}", other.message_type())),
        }
    }

    fn push_control(
        &mut self,
        peer: PeerId,
        msg: Message,
        cmds: &mut Vec<Command>,
    ) -> Result<(), String> {
        let p = self.peers.get_mut(&peer).ok_or("peer gone")?;
        p.outbox.push_control(msg).map_err(|e| e.to_string())?;
        cmds.push(Command::Wake(peer));
        Ok(())
    }

    fn subscribe(
        &mut self,
        now: MonoTime,
        peer: PeerId,
        vni: Vni,
        cmds: &mut Vec<Command>,
    ) -> Result<(), String> {
        let p = self.peers.get_mut(&peer).ok_or("peer gone")?;
        if !p.bucket.take(now) {
            return Err("SUBSCRIBE/UNSUBSCRIBE flood".to_owned());
        }
        if p.subscriptions.contains(&vni) {
            return Ok(()); // Already subscribed: the peer has (or is getting) the whole VNI.
        }
        if p.subscriptions.len() >= SUBSCRIPTIONS_PER_PEER_MAX {
            return Err(format!(
                "More than {SUBSCRIPTIONS_PER_PEER_MAX} subscriptions"
            ));
        }
        p.subscriptions.insert(vni);
        p.outbox.restart_vni(vni);
        self.subscribers.entry(vni).or_default().insert(peer);
        cmds.push(Command::Wake(peer));
        Ok(())
    }

    /// metalbond semantics: UNSUBSCRIBE also withdraws the peer's own routes in the VNI.
    fn unsubscribe(
        &mut self,
        now: MonoTime,
        peer: PeerId,
        vni: Vni,
        cmds: &mut Vec<Command>,
    ) -> Result<(), String> {
        let p = self.peers.get_mut(&peer).ok_or("peer gone")?;
        if !p.bucket.take(now) {
            return Err("SUBSCRIBE/UNSUBSCRIBE flood".to_owned());
        }
        for route in self.table.routes_of_in(peer, vni) {
            self.withdraw(peer, &route, cmds);
        }
        self.drop_subscription(peer, vni);
        Ok(())
    }

    fn drop_subscription(&mut self, peer: PeerId, vni: Vni) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.subscriptions.remove(&vni);
            p.outbox.forget_vni(vni);
        }
        if let Some(s) = self.subscribers.get_mut(&vni) {
            s.remove(&peer);
            if s.is_empty() {
                self.subscribers.remove(&vni);
            }
        }
    }

    fn announce(&mut self, from: PeerId, route: Route, cmds: &mut Vec<Command>) {
        if self.table.add(from, route) {
            self.propagate(route, Some(from), None, cmds);
        }
    }

    fn withdraw(&mut self, from: PeerId, route: &Route, cmds: &mut Vec<Command>) {
        if self.table.remove(from, route) {
            self.propagate(*route, None, Some(from), cmds);
        }
    }

    /// Tells every subscriber whose view of `route` changed: `added` just joined its
    /// announcers, or `removed` just left them (the table already reflects the change).
    fn propagate(
        &mut self,
        route: Route,
        added: Option<PeerId>,
        removed: Option<PeerId>,
        cmds: &mut Vec<Command>,
    ) {
        let Some(subs) = self.subscribers.get(&route.vni) else {
            return;
        };
        let after = Announcers::of(self.table.announcers(&route));
        let before = match (added, removed) {
            (Some(a), _) => Announcers::of(self.table.announcers(&route).filter(|p| **p != a)),
            (None, Some(r)) => Announcers::of(self.table.announcers(&route).chain([&r])),
            (None, None) => after,
        };
        for s in subs {
            let (was, is) = (before.visible_to(*s), after.visible_to(*s));
            if was == is {
                continue;
            }
            if let Some(p) = self.peers.get_mut(s) {
                p.outbox
                    .set(route, if is { Action::Add } else { Action::Remove });
                if !p.woken {
                    p.woken = true;
                    cmds.push(Command::Wake(*s));
                }
            }
        }
    }

    fn close(&mut self, peer: PeerId, reason: String, cmds: &mut Vec<Command>) {
        if self.peers.contains_key(&peer) {
            self.remove_peer(peer, cmds);
            cmds.push(Command::Close(peer, reason));
        }
    }

    fn remove_peer(&mut self, peer: PeerId, cmds: &mut Vec<Command>) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let vnis: Vec<Vni> = p.subscriptions.iter().copied().collect();
        for vni in vnis {
            self.drop_subscription(peer, vni);
        }
        for route in self.table.routes_of(peer) {
            self.withdraw(peer, &route, cmds);
        }
        self.peers.remove(&peer);
    }

    /// A snapshot for the status endpoint.
    pub fn status(&self) -> Status {
        let peers = self
            .peers
            .iter()
            .map(|(id, p)| PeerStatus {
                id: *id,
                remote: p.remote,
                state: p.session.state(),
                keepalive_s: p.session.interval().map(|i| i.0),
                subscriptions: p.subscriptions.iter().copied().collect(),
                routes_announced: self.table.count_of(*id),
                backlog: p.outbox.backlog(),
            })
            .collect();
        Status {
            peers,
            subscribers: self
                .subscribers
                .iter()
                .map(|(v, s)| (*v, s.len()))
                .collect(),
            routes: self.table.len(),
            routes_by_vni: self.table.counts_by_vni(),
        }
    }

    /// Every route with its number of announcers, in key order.
    pub fn routes(&self) -> Vec<(Route, usize)> {
        self.table
            .range((Bound::Unbounded, Bound::Unbounded))
            .map(|(r, a)| (*r, a.len()))
            .collect()
    }

    /// Panics if the table, subscriptions and peers disagree (a bug, never bad input).
    pub fn check_invariants(&self) {
        self.table.check_invariants();
        for (vni, subs) in &self.subscribers {
            assert!(!subs.is_empty());
            for s in subs {
                let p = self.peers.get(s).expect("subscriber is a peer");
                assert!(p.subscriptions.contains(vni));
            }
        }
        for (id, p) in &self.peers {
            for v in &p.subscriptions {
                assert!(self.subscribers.get(v).is_some_and(|s| s.contains(id)));
            }
            assert!(p.session.state() == SessionState::Established || p.subscriptions.is_empty());
        }
    }
}

/// The reflector's state as the status endpoint shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Every connected peer.
    pub peers: Vec<PeerStatus>,
    /// Subscriber count per VNI.
    pub subscribers: BTreeMap<Vni, usize>,
    /// Distinct routes.
    pub routes: usize,
    /// Distinct routes per VNI.
    pub routes_by_vni: BTreeMap<Vni, usize>,
}

/// One peer in [`Status`].
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    /// Connection id.
    pub id: PeerId,
    /// Remote address.
    pub remote: SocketAddr,
    /// Session state.
    pub state: SessionState,
    /// Negotiated keepalive interval in seconds.
    pub keepalive_s: Option<u32>,
    /// VNIs subscribed.
    pub subscriptions: Vec<Vni>,
    /// Routes this peer announces.
    pub routes_announced: usize,
    /// Control messages and route changes not yet sent to it.
    pub backlog: usize,
}
