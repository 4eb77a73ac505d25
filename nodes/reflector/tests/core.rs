//! The sans-IO cores wired together through in-memory byte pipes: reflectors and clients
//! exchange real frames, time moves only when the test says, and every run is the same.

use std::collections::BTreeSet;
use std::time::Duration;

use ferrocore_node_reflector::{
    Action, ClientCommand, ClientCore, Command, FrameDecoder, KeepaliveInterval, Message, PeerId,
    ReflectorCore, ReflectorId, Route, RouteChange, Vni, frame_bytes,
};
use ferrocore_runtime::MonoTime;

const BATCH: usize = 32 * 1024;

struct Link {
    client: usize,
    reflector: usize,
    peer: PeerId,
    up: bool,
    /// Frozen links carry nothing (a peer that hangs without closing its socket).
    frozen: bool,
    to_reflector: FrameDecoder,
    to_client: FrameDecoder,
}

struct Sim {
    now: MonoTime,
    reflectors: Vec<ReflectorCore>,
    clients: Vec<ClientCore>,
    links: Vec<Link>,
}

impl Sim {
    fn new(reflectors: usize, clients: usize) -> Self {
        let mut sim = Self {
            now: MonoTime::ZERO,
            reflectors: (0..reflectors)
                .map(|_| ReflectorCore::new(KeepaliveInterval(1)))
                .collect(),
            clients: (0..clients)
                .map(|_| ClientCore::new(KeepaliveInterval(1)))
                .collect(),
            links: Vec::new(),
        };
        for c in 0..clients {
            for r in 0..reflectors {
                sim.connect(c, r);
            }
        }
        sim
    }

    fn connect(&mut self, client: usize, reflector: usize) {
        let peer = self.reflectors[reflector].connect(self.now, "[::1]:1".parse().unwrap());
        self.clients[client].connected(self.now, ReflectorId(reflector));
        self.links.push(Link {
            client,
            reflector,
            peer,
            up: true,
            frozen: false,
            to_reflector: FrameDecoder::new(),
            to_client: FrameDecoder::new(),
        });
    }

    /// Moves bytes until nothing is left to move.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.links.len() {
                moved |= self.pump_link(i);
            }
            if !moved {
                for r in &self.reflectors {
                    r.check_invariants();
                }
                for c in &self.clients {
                    c.check_invariants();
                }
                return;
            }
        }
    }

    fn pump_link(&mut self, i: usize) -> bool {
        let (c, r, peer) = (
            self.links[i].client,
            self.links[i].reflector,
            self.links[i].peer,
        );
        if !self.links[i].up || self.links[i].frozen {
            return false;
        }
        let rid = ReflectorId(r);
        let mut out = Vec::new();
        self.clients[c].poll_transmit(rid, BATCH, &mut out);
        let mut moved = !out.is_empty();
        self.links[i].to_reflector.push(&out);
        while let Some(m) = self.links[i].to_reflector.next_message().transpose() {
            let cmds = self.reflectors[r].receive(self.now, peer, m);
            self.reflector_commands(r, cmds);
        }
        out.clear();
        self.reflectors[r].poll_transmit(peer, BATCH, &mut out);
        moved |= !out.is_empty();
        self.links[i].to_client.push(&out);
        while let Some(m) = self.links[i].to_client.next_message().transpose() {
            let cmds = self.clients[c].receive(self.now, rid, m);
            self.client_commands(c, cmds);
        }
        moved
    }

    fn reflector_commands(&mut self, r: usize, cmds: Vec<Command>) {
        for cmd in cmds {
            if let Command::Close(peer, _) = cmd {
                let link = self
                    .links
                    .iter_mut()
                    .find(|l| l.reflector == r && l.peer == peer)
                    .unwrap();
                link.up = false;
                let c = link.client;
                self.clients[c].disconnected(ReflectorId(r));
            }
        }
    }

    fn client_commands(&mut self, c: usize, cmds: Vec<ClientCommand>) {
        for cmd in cmds {
            if let ClientCommand::Close(rid, _) = cmd {
                let link = self
                    .links
                    .iter_mut()
                    .find(|l| l.client == c && l.reflector == rid.0)
                    .unwrap();
                link.up = false;
                let cmds = self.reflectors[rid.0].disconnect(link.peer);
                self.reflector_commands(rid.0, cmds);
            }
        }
    }

    /// Advances time in 100 ms steps, ticking every core and pumping.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while self.now < end {
            self.now = self.now + Duration::from_millis(100);
            for r in 0..self.reflectors.len() {
                let cmds = self.reflectors[r].tick(self.now);
                self.reflector_commands(r, cmds);
            }
            for c in 0..self.clients.len() {
                let cmds = self.clients[c].tick(self.now);
                self.client_commands(c, cmds);
            }
            self.pump();
        }
    }

    /// Kills a reflector: every link to it drops at once.
    fn kill_reflector(&mut self, r: usize) {
        for l in self.links.iter_mut().filter(|l| l.reflector == r && l.up) {
            l.up = false;
            self.clients[l.client].disconnected(ReflectorId(r));
        }
    }

    /// A client vanishes: its sockets close on every reflector.
    fn kill_client(&mut self, c: usize) {
        for i in 0..self.links.len() {
            if self.links[i].client == c && self.links[i].up {
                self.links[i].up = false;
                let (r, peer) = (self.links[i].reflector, self.links[i].peer);
                let cmds = self.reflectors[r].disconnect(peer);
                self.reflector_commands(r, cmds);
            }
        }
    }
}

fn route(vni: u32, client: usize, i: usize) -> Route {
    let (a, b) = (i / 256, i % 256);
    format!("{vni}#10.{client}.{a}.{b}/32#2001:db8::{client:x}")
        .parse()
        .unwrap()
}

fn drain(c: &mut ClientCore) -> Vec<RouteChange> {
    c.take_changes(usize::MAX)
}

/// 2 reflectors, 20 clients, each announcing 100 routes in one of 3 VNIs and subscribing to all.
fn converged() -> (Sim, Vec<Vec<Route>>) {
    let mut sim = Sim::new(2, 20);
    sim.pump();
    let mut mine = Vec::new();
    for c in 0..20 {
        for v in 0..3 {
            sim.clients[c].subscribe(Vni(v));
        }
        let routes: Vec<Route> = (0..100)
            .map(|i| route(u32::try_from(c % 3).unwrap(), c, i))
            .collect();
        for r in &routes {
            sim.clients[c].announce(*r);
        }
        mine.push(routes);
    }
    sim.pump();
    (sim, mine)
}

fn expected_for(mine: &[Vec<Route>], c: usize, alive: &[usize]) -> BTreeSet<Route> {
    alive
        .iter()
        .filter(|o| **o != c)
        .flat_map(|o| mine[*o].iter().copied())
        .collect()
}

#[test]
fn every_subscriber_converges_to_the_same_table() {
    let (sim, mine) = converged();
    let all: Vec<usize> = (0..20).collect();
    for c in 0..20 {
        let table: BTreeSet<Route> = sim.clients[c].table().into_iter().collect();
        assert_eq!(table, expected_for(&mine, c, &all), "client {c}");
        assert_eq!(sim.clients[c].established(), 2);
    }
    for r in &sim.reflectors {
        assert_eq!(r.status().routes, 2_000);
    }
}

#[test]
fn killing_a_reflector_withdraws_nothing_the_other_provides() {
    let (mut sim, _) = converged();
    for c in 0..20 {
        drain(&mut sim.clients[c]);
    }
    let before: Vec<Vec<Route>> = sim.clients.iter().map(ClientCore::table).collect();
    sim.kill_reflector(0);
    sim.advance(Duration::from_secs(5));
    for (c, before) in before.iter().enumerate() {
        assert_eq!(&sim.clients[c].table(), before);
        assert!(
            drain(&mut sim.clients[c]).is_empty(),
            "client {c} saw a change"
        );
        assert_eq!(sim.clients[c].established(), 1);
    }
}

#[test]
fn a_vanished_client_is_withdrawn_everywhere() {
    let (mut sim, mine) = converged();
    sim.kill_client(7);
    sim.pump();
    let alive: Vec<usize> = (0..20).filter(|c| *c != 7).collect();
    for c in &alive {
        let table: BTreeSet<Route> = sim.clients[*c].table().into_iter().collect();
        assert_eq!(table, expected_for(&mine, *c, &alive));
    }
}

#[test]
fn a_hung_client_is_withdrawn_within_two_keepalive_timeouts() {
    let (mut sim, mine) = converged();
    for l in sim.links.iter_mut().filter(|l| l.client == 3) {
        l.frozen = true;
    }
    // Keepalive 1 s: timeout 2.5 s; two timeouts are 5 s.
    sim.advance(Duration::from_millis(2_400));
    assert!(
        sim.clients[0].table().contains(&mine[3][0]),
        "withdrawn too early"
    );
    sim.advance(Duration::from_millis(2_600));
    let alive: Vec<usize> = (0..20).filter(|c| *c != 3).collect();
    for c in &alive {
        let table: BTreeSet<Route> = sim.clients[*c].table().into_iter().collect();
        assert_eq!(table, expected_for(&mine, *c, &alive), "client {c}");
        assert_eq!(
            sim.clients[*c].established(),
            2,
            "healthy client {c} lost a session"
        );
    }
}

#[test]
fn withdraw_propagates_only_when_no_announcer_remains() {
    let mut sim = Sim::new(1, 3);
    sim.pump();
    sim.clients[2].subscribe(Vni(9));
    let r: Route = "9#10.9.0.0/24#2001:db8::99".parse().unwrap();
    sim.clients[0].announce(r);
    sim.clients[1].announce(r);
    sim.pump();
    assert_eq!(
        drain(&mut sim.clients[2]),
        vec![RouteChange {
            action: Action::Add,
            route: r
        }]
    );
    assert_eq!(sim.reflectors[0].routes(), vec![(r, 2)]);
    sim.clients[0].withdraw(&r);
    sim.pump();
    assert!(drain(&mut sim.clients[2]).is_empty());
    sim.clients[1].withdraw(&r);
    sim.pump();
    assert_eq!(
        drain(&mut sim.clients[2]),
        vec![RouteChange {
            action: Action::Remove,
            route: r
        }]
    );
}

#[test]
fn unsubscribe_withdraws_then_the_client_announces_again() {
    let (mut sim, mine) = converged();
    // Client 0 announces in VNI 0; UNSUBSCRIBE makes the reflectors withdraw its routes there
    // (metalbond semantics), and our client re-announces them right after.
    sim.clients[0].unsubscribe(Vni(0));
    sim.pump();
    assert!(sim.clients[0].table().iter().all(|r| r.vni != Vni(0)));
    let table: BTreeSet<Route> = sim.clients[3].table().into_iter().collect();
    assert!(mine[0].iter().all(|r| table.contains(r)));
}

#[test]
fn a_subscribe_flood_costs_only_the_flooder_its_connection() {
    let (mut sim, mine) = converged();
    let flooder = sim.reflectors[0].connect(sim.now, "[::1]:2".parse().unwrap());
    let hello = Message::Hello {
        keepalive: KeepaliveInterval(1),
        is_server: false,
    };
    let _ = sim.reflectors[0].receive(sim.now, flooder, Ok(hello));
    let _ = sim.reflectors[0].receive(sim.now, flooder, Ok(Message::Keepalive));
    let mut closed = false;
    for v in 0..100_000u32 {
        let cmds = sim.reflectors[0].receive(sim.now, flooder, Ok(Message::Subscribe(Vni(v))));
        if cmds
            .iter()
            .any(|c| matches!(c, Command::Close(p, _) if *p == flooder))
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the flood was not cut off");
    assert!(!sim.reflectors[0].poll_transmit(flooder, BATCH, &mut Vec::new()));
    sim.advance(Duration::from_secs(3));
    let all: Vec<usize> = (0..20).collect();
    for c in 0..20 {
        let table: BTreeSet<Route> = sim.clients[c].table().into_iter().collect();
        assert_eq!(table, expected_for(&mine, c, &all));
    }
    assert_eq!(frame_bytes(&Message::Keepalive).len(), 4);
}

#[test]
fn reconnecting_client_resyncs_its_announcements() {
    let (mut sim, mine) = converged();
    sim.kill_client(5);
    sim.pump();
    for r in 0..2 {
        sim.connect(5, r);
    }
    sim.pump();
    let all: Vec<usize> = (0..20).collect();
    for c in 0..20 {
        let table: BTreeSet<Route> = sim.clients[c].table().into_iter().collect();
        assert_eq!(table, expected_for(&mine, c, &all), "client {c}");
    }
}
