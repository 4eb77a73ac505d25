//! One metalbond connection's handshake and keepalive state machine, sans-IO.
//!
//! ```text
//! client: connect ─send HELLO─► HelloSent ─recv HELLO / send KEEPALIVE─► HelloReceived
//!         ─recv KEEPALIVE─► Established (then KEEPALIVE every interval)
//! server: accept ─► Connecting ─recv HELLO / send HELLO{isServer}─► HelloSent
//!         ─recv KEEPALIVE / send KEEPALIVE─► Established (answers every KEEPALIVE)
//! ```
//! The interval is the smaller of both HELLOs; a peer silent for 2.5 × the interval is dead.
//! Unlike metalbond, any received frame (not only a KEEPALIVE) proves the peer alive, so a
//! KEEPALIVE stuck behind a large dump cannot time a healthy peer out.

use ferrocore_runtime::MonoTime;
use serde::Serialize;

use crate::message::{KeepaliveInterval, Message, MessageType};

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Role {
    /// We dialled; we send KEEPALIVEs.
    Client,
    /// We accepted; we answer KEEPALIVEs.
    Server,
}

/// metalbond's connection states (RETRY and CLOSED live in the adapters).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionState {
    /// Accepted, no HELLO yet.
    Connecting,
    /// Our HELLO is out (client), or our HELLO answered theirs (server).
    HelloSent,
    /// Client: the server's HELLO arrived and our KEEPALIVE is out.
    HelloReceived,
    /// Routes may flow.
    Established,
}

/// Why a session ends.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message the current state does not allow.
    #[error("Unexpected {ty:?} in state {state:?}")]
    Unexpected {
        /// The state.
        state: SessionState,
        /// The message's type.
        ty: MessageType,
    },
    /// HELLO proposed a keepalive interval of 0.
    #[error("HELLO with keepalive interval 0")]
    ZeroKeepalive,
    /// Nothing was received for 2.5 × the interval.
    #[error("Keepalive timeout")]
    Timeout,
}

/// What the session wants done after an input.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum SessionEvent {
    /// Send this control message.
    Send(Message),
    /// The session just became established.
    Established,
    /// A routing message for the layer above (SUBSCRIBE, UNSUBSCRIBE, UPDATE).
    Deliver(Message),
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Session {
    role: Role,
    state: SessionState,
    own: KeepaliveInterval,
    interval: Option<KeepaliveInterval>,
    last_rx: MonoTime,
    next_keepalive: Option<MonoTime>,
}

impl Session {
    /// A client session that has just connected; send the returned HELLO first.
    pub(crate) fn client(now: MonoTime, own: KeepaliveInterval) -> (Self, Message) {
        let hello = Message::Hello {
            keepalive: own,
            is_server: false,
        };
        let s = Self {
            role: Role::Client,
            state: SessionState::HelloSent,
            own,
            interval: None,
            last_rx: now,
            next_keepalive: None,
        };
        (s, hello)
    }

    /// A server session for a connection just accepted.
    pub(crate) fn server(now: MonoTime, own: KeepaliveInterval) -> Self {
        Self {
            role: Role::Server,
            state: SessionState::Connecting,
            own,
            interval: None,
            last_rx: now,
            next_keepalive: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> SessionState {
        self.state
    }

    /// The negotiated interval, once both HELLOs are known.
    pub(crate) fn interval(&self) -> Option<KeepaliveInterval> {
        self.interval
    }

    /// Handles one received message.
    pub(crate) fn handle(
        &mut self,
        now: MonoTime,
        msg: Message,
    ) -> Result<Vec<SessionEvent>, ProtocolError> {
        self.last_rx = now;
        let unexpected = |s: &Self, m: &Message| ProtocolError::Unexpected {
            state: s.state,
            ty: m.message_type(),
        };
        match (self.role, self.state, msg) {
            (
                _,
                SessionState::Established,
                msg @ (Message::Subscribe(_) | Message::Unsubscribe(_) | Message::Update(..)),
            ) => Ok(vec![SessionEvent::Deliver(msg)]),
            (Role::Server, SessionState::Established, Message::Keepalive) => {
                Ok(vec![SessionEvent::Send(Message::Keepalive)])
            }
            (Role::Client, SessionState::Established, Message::Keepalive) => Ok(vec![]),
            (Role::Server, SessionState::Connecting, Message::Hello { keepalive, .. }) => {
                let interval = self.negotiate(keepalive)?;
                self.state = SessionState::HelloSent;
                Ok(vec![SessionEvent::Send(Message::Hello {
                    keepalive: interval,
                    is_server: true,
                })])
            }
            (Role::Server, SessionState::HelloSent, Message::Keepalive) => {
                self.state = SessionState::Established;
                Ok(vec![
                    SessionEvent::Send(Message::Keepalive),
                    SessionEvent::Established,
                ])
            }
            (Role::Client, SessionState::HelloSent, Message::Hello { keepalive, .. }) => {
                let interval = self.negotiate(keepalive)?;
                self.state = SessionState::HelloReceived;
                self.next_keepalive = Some(now + interval.as_duration());
                Ok(vec![SessionEvent::Send(Message::Keepalive)])
            }
            (Role::Client, SessionState::HelloReceived, Message::Keepalive) => {
                self.state = SessionState::Established;
                Ok(vec![SessionEvent::Established])
            }
            (_, _, msg) => Err(unexpected(self, &msg)),
        }
    }

    /// Records that the peer showed signs of life that have not been processed yet (bytes
    /// waiting in our receive queue): a busy reflector must not time out a healthy peer.
    pub(crate) fn touch(&mut self, now: MonoTime) {
        self.last_rx = self.last_rx.max(now);
    }

    /// Whether the next `tick` at `now` would time the session out.
    pub(crate) fn overdue(&self, now: MonoTime) -> bool {
        let timeout = self.interval.unwrap_or(self.own).timeout();
        now.saturating_since(self.last_rx) > timeout
    }

    /// Checks the timers: returns a KEEPALIVE to send when one is due (client), or the timeout.
    pub(crate) fn tick(&mut self, now: MonoTime) -> Result<Option<Message>, ProtocolError> {
        if self.overdue(now) {
            return Err(ProtocolError::Timeout);
        }
        match self.next_keepalive {
            Some(due) if self.role == Role::Client && now >= due => {
                let interval = self.interval.unwrap_or(self.own).as_duration();
                self.next_keepalive = Some(now + interval);
                Ok(Some(Message::Keepalive))
            }
            _ => Ok(None),
        }
    }

    fn negotiate(&mut self, theirs: KeepaliveInterval) -> Result<KeepaliveInterval, ProtocolError> {
        if theirs.0 == 0 {
            return Err(ProtocolError::ZeroKeepalive);
        }
        let interval = self.own.min(theirs);
        self.interval = Some(interval);
        Ok(interval)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::route::Vni;

    fn at(ms: u64) -> MonoTime {
        MonoTime::from_nanos(ms * 1_000_000)
    }

    /// Runs a client and a server against each other, message by message.
    #[test]
    fn handshake_negotiates_the_smaller_interval() {
        let (mut c, hello) = Session::client(at(0), KeepaliveInterval(5));
        let mut s = Session::server(at(0), KeepaliveInterval(3));
        let ev = s.handle(at(1), hello).unwrap();
        let SessionEvent::Send(reply) = ev[0].clone() else {
            panic!()
        };
        assert_eq!(
            reply,
            Message::Hello {
                keepalive: KeepaliveInterval(3),
                is_server: true
            }
        );
        let ev = c.handle(at(2), reply).unwrap();
        assert_eq!(ev, vec![SessionEvent::Send(Message::Keepalive)]);
        let ev = s.handle(at(3), Message::Keepalive).unwrap();
        assert_eq!(
            ev,
            vec![
                SessionEvent::Send(Message::Keepalive),
                SessionEvent::Established
            ]
        );
        assert_eq!(
            c.handle(at(4), Message::Keepalive).unwrap(),
            vec![SessionEvent::Established]
        );
        assert_eq!(c.interval(), Some(KeepaliveInterval(3)));
        assert_eq!(s.state(), SessionState::Established);
        // The client keeps time; the server answers.
        assert_eq!(c.tick(at(3_001)).unwrap(), None);
        assert_eq!(c.tick(at(3_002)).unwrap(), Some(Message::Keepalive));
        assert_eq!(s.tick(at(3_002)).unwrap(), None);
        assert_eq!(
            s.handle(at(3_003), Message::Keepalive).unwrap(),
            vec![SessionEvent::Send(Message::Keepalive)]
        );
    }

    #[test]
    fn silence_times_out_after_two_and_a_half_intervals() {
        let mut s = Session::server(at(0), KeepaliveInterval(2));
        s.handle(
            at(0),
            Message::Hello {
                keepalive: KeepaliveInterval(2),
                is_server: false,
            },
        )
        .unwrap();
        assert_eq!(s.tick(at(0) + Duration::from_millis(5_000)), Ok(None));
        assert_eq!(
            s.tick(at(0) + Duration::from_millis(5_001)),
            Err(ProtocolError::Timeout)
        );
    }

    #[test]
    fn out_of_state_messages_and_zero_keepalive_are_errors() {
        let mut s = Session::server(at(0), KeepaliveInterval(5));
        assert!(s.handle(at(0), Message::Keepalive).is_err());
        let mut s = Session::server(at(0), KeepaliveInterval(5));
        assert!(s.handle(at(0), Message::Subscribe(Vni(1))).is_err());
        let mut s = Session::server(at(0), KeepaliveInterval(5));
        assert_eq!(
            s.handle(
                at(0),
                Message::Hello {
                    keepalive: KeepaliveInterval(0),
                    is_server: false
                }
            ),
            Err(ProtocolError::ZeroKeepalive)
        );
        let (mut c, _) = Session::client(at(0), KeepaliveInterval(5));
        assert!(c.handle(at(0), Message::Keepalive).is_err());
    }
}
