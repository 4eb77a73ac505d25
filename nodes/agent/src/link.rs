//! The decisions of the node's side of the node protocol, sans-IO: which controller to dial
//! next and how long to pause ([`Dialer`]), and what a controller frame or a timer means for
//! one session ([`SessionCore`]). `session.rs` does the I/O and carries the answers out.

use std::time::Duration;

use ferrocore_api::iri::protocol::{
    ControllerMessage, ErrorCode, Frame, NodeCommand, decode_frame,
};
use ferrocore_runtime::MonoTime;

/// Longest pause between connection attempts.
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Why a session ended.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Ended {
    /// The controller does not lead; the leader's address if it knows it.
    Redirect(Option<String>),
    /// The connection failed or closed.
    Closed(String),
}

/// Where to dial next.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Target {
    /// A controller from the config (`host:port`, to resolve).
    Configured(String),
    /// The leader a controller named (`host:port`, to resolve).
    Named(String),
}

/// The reconnect policy: the configured controllers round-robin, a named leader first, and a
/// pause that doubles after every failure up to [`RECONNECT_MAX`] and starts over after a
/// session that lasted.
#[derive(Debug)]
pub(crate) struct Dialer {
    controllers: Vec<String>,
    first_pause: Duration,
    pause: Duration,
    next: usize,
    hint: Option<String>,
}

impl Dialer {
    /// A dialer over `controllers` (non-empty; the config checks it) starting at `first_pause`.
    pub(crate) fn new(controllers: Vec<String>, first_pause: Duration) -> Self {
        Self {
            controllers,
            first_pause,
            pause: first_pause,
            next: 0,
            hint: None,
        }
    }

    /// The next controller to try.
    pub(crate) fn target(&mut self) -> Option<Target> {
        if let Some(hint) = self.hint.take() {
            return Some(Target::Named(hint));
        }
        if self.controllers.is_empty() {
            return None;
        }
        let addr = self.controllers[self.next % self.controllers.len()].clone();
        self.next = self.next.wrapping_add(1);
        Some(Target::Configured(addr))
    }

    /// A session on `dialed` ended after `lasted`: whether to dial again at once (a named
    /// leader that is not the controller just dialed) instead of pausing.
    pub(crate) fn ended(&mut self, dialed: &str, ended: &Ended, lasted: Duration) -> bool {
        if lasted > RECONNECT_MAX {
            self.pause = self.first_pause;
        }
        match ended {
            Ended::Redirect(Some(leader)) if leader != dialed => {
                self.hint = Some(leader.clone());
                true
            }
            _ => false,
        }
    }

    /// The pause before the next attempt (it doubles for the one after).
    pub(crate) fn pause(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(RECONNECT_MAX);
        pause
    }
}

/// What the session should do after a frame from the controller.
#[derive(Debug, PartialEq)]
pub(crate) enum Reaction {
    /// Nothing to do.
    Nothing,
    /// The registration was answered: send the inventory.
    SendInventory,
    /// Run a command.
    Run(Box<NodeCommand>),
    /// End the session.
    End(Ended),
}

/// What a timer means.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Due {
    /// Send a heartbeat.
    Heartbeat,
    /// Poll the runtimes and report changes.
    Poll,
}

/// One session's state: whether the registration was answered, and when to heartbeat and
/// poll next.
#[derive(Debug)]
pub(crate) struct SessionCore {
    register_seq: u64,
    registered: bool,
    heartbeat_every: Duration,
    poll_every: Duration,
    next_heartbeat: MonoTime,
    next_poll: MonoTime,
}

impl SessionCore {
    /// A session whose Register frame was `register_seq`, started at `now` (it heartbeats and
    /// polls at once).
    pub(crate) fn new(
        register_seq: u64,
        now: MonoTime,
        heartbeat: Duration,
        poll: Duration,
    ) -> Self {
        Self {
            register_seq,
            registered: false,
            heartbeat_every: heartbeat,
            poll_every: poll,
            next_heartbeat: now,
            next_poll: now,
        }
    }

    /// Whether the controller answered the registration (reports go out only after it).
    pub(crate) fn registered(&self) -> bool {
        self.registered
    }

    /// When [`SessionCore::on_timer`] should be called next.
    pub(crate) fn deadline(&self) -> MonoTime {
        self.next_heartbeat.min(self.next_poll)
    }

    /// What is due at `now` (heartbeats first), if anything; schedules the next one.
    pub(crate) fn on_timer(&mut self, now: MonoTime) -> Option<Due> {
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.heartbeat_every;
            return Some(Due::Heartbeat);
        }
        if now >= self.next_poll {
            self.next_poll = now + self.poll_every;
            return Some(Due::Poll);
        }
        None
    }

    /// Takes one frame read from the controller (`None`: the stream ended).
    pub(crate) fn on_frame(&mut self, bytes: Option<&[u8]>) -> Reaction {
        let Some(bytes) = bytes else {
            return Reaction::End(Ended::Closed("the controller closed the stream".into()));
        };
        let frame: Frame<ControllerMessage> = match decode_frame(bytes) {
            Ok(f) => f,
            Err(e) => {
                let why = format!("undecodable frame from the controller: {e}");
                return Reaction::End(Ended::Closed(why));
            }
        };
        self.on_message(frame.body)
    }

    fn on_message(&mut self, message: ControllerMessage) -> Reaction {
        match message {
            ControllerMessage::Ack { seq } if seq == self.register_seq => self.answered(),
            ControllerMessage::Ack { .. } | ControllerMessage::JoinAccepted(_) => Reaction::Nothing,
            ControllerMessage::Error(e) if e.code == ErrorCode::NotLeader => {
                Reaction::End(Ended::Redirect(e.leader))
            }
            ControllerMessage::Error(e) => {
                tracing::warn!(code = ?e.code, message = %e.message, seq = e.seq, "controller refused");
                // A partly refused registration still registered the other pools.
                if e.seq == self.register_seq {
                    self.answered()
                } else {
                    Reaction::Nothing
                }
            }
            ControllerMessage::Command(command) => Reaction::Run(Box::new(command)),
        }
    }

    fn answered(&mut self) -> Reaction {
        if self.registered {
            return Reaction::Nothing;
        }
        self.registered = true;
        tracing::info!("registered");
        Reaction::SendInventory
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::protocol::{ProtocolErrorMessage, encode_frame};
    use ferrocore_runtime::{Clock, ManualClock, WallTime};

    use super::*;

    fn frame(body: ControllerMessage) -> Vec<u8> {
        encode_frame(&Frame { seq: 1, body }).unwrap()
    }

    fn error(seq: u64, code: ErrorCode, leader: Option<&str>) -> ControllerMessage {
        ControllerMessage::Error(ProtocolErrorMessage {
            seq,
            code,
            message: "no".into(),
            leader: leader.map(str::to_owned),
        })
    }

    #[test]
    fn the_dialer_follows_a_named_leader_then_round_robins_with_backoff() {
        let mut d = Dialer::new(vec!["a:1".into(), "b:1".into()], Duration::from_millis(100));
        assert_eq!(d.target(), Some(Target::Configured("a:1".into())));
        let redirect = Ended::Redirect(Some("b:1".into()));
        assert!(d.ended("a:1", &redirect, Duration::ZERO));
        assert_eq!(d.target(), Some(Target::Named("b:1".into())));
        assert!(
            !d.ended("b:1", &Ended::Redirect(Some("b:1".into())), Duration::ZERO),
            "a controller naming itself is not followed again"
        );
        assert_eq!(d.target(), Some(Target::Configured("b:1".into())));
        assert_eq!(d.pause(), Duration::from_millis(100));
        assert_eq!(d.pause(), Duration::from_millis(200));
        for _ in 0..10 {
            d.pause();
        }
        assert_eq!(d.pause(), RECONNECT_MAX);
        assert!(!d.ended("a:1", &Ended::Closed("x".into()), RECONNECT_MAX * 2));
        assert_eq!(
            d.pause(),
            Duration::from_millis(100),
            "a long session resets"
        );
    }

    #[test]
    fn the_session_registers_once_heartbeats_first_and_ends_on_garbage() {
        let clock = ManualClock::new(WallTime::UNIX_EPOCH);
        let t0 = clock.now();
        let hb = Duration::from_secs(1);
        let mut s = SessionCore::new(1, t0, hb, Duration::from_millis(300));
        assert_eq!(s.deadline(), t0);
        assert_eq!(s.on_timer(t0), Some(Due::Heartbeat));
        assert_eq!(s.on_timer(t0), Some(Due::Poll));
        assert_eq!(s.on_timer(t0), None);
        assert_eq!(s.deadline(), t0 + Duration::from_millis(300));
        assert!(!s.registered());
        let ack = frame(ControllerMessage::Ack { seq: 2 });
        assert_eq!(
            s.on_frame(Some(&ack)),
            Reaction::Nothing,
            "not the Register"
        );
        let refused = frame(error(1, ErrorCode::NotOwner, None));
        assert_eq!(s.on_frame(Some(&refused)), Reaction::SendInventory);
        let ack = frame(ControllerMessage::Ack { seq: 1 });
        assert_eq!(s.on_frame(Some(&ack)), Reaction::Nothing, "only once");
        assert!(s.registered());
        let moved = frame(error(0, ErrorCode::NotLeader, Some("c:1")));
        assert_eq!(
            s.on_frame(Some(&moved)),
            Reaction::End(Ended::Redirect(Some("c:1".into())))
        );
        assert!(matches!(
            s.on_frame(Some(b"\xff\xff garbage")),
            Reaction::End(Ended::Closed(_))
        ));
        assert!(matches!(s.on_frame(None), Reaction::End(Ended::Closed(_))));
    }
}
