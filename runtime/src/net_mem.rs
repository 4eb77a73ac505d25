//! The in-memory `Net`: members of one [`MemNetwork`] open streams to each other through
//! `tokio::io::duplex` pipes. For tests and the simulator, which also cut and heal links.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::identity::Identity;
use crate::net::{BiStream, IncomingStream, Net, NetError};
use crate::quic::BoxFuture;

/// Bytes buffered in each direction of an in-memory stream before the writer waits: about what
/// a QUIC stream window holds, so back-pressure behaves alike.
const PIPE_BUFFER: usize = 256 * 1024;

/// Streams queued for a member that has not accepted them yet; an opener waits beyond this,
/// as a QUIC peer waits for stream credit.
const ACCEPT_QUEUE: usize = 1024;

#[derive(Debug, Default)]
struct State {
    members: BTreeMap<Identity, mpsc::Sender<IncomingStream>>,
    /// Cut links, stored both ways round.
    cut: BTreeSet<(Identity, Identity)>,
}

/// A set of in-memory peers. Clones share the same network.
#[derive(Clone, Debug, Default)]
pub struct MemNetwork {
    state: Arc<Mutex<State>>,
}

impl MemNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `identity` (replacing an earlier member of that name, as a restart would) and
    /// returns its handle.
    pub fn join(&self, identity: Identity) -> MemNet {
        let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
        self.lock().members.insert(identity.clone(), tx);
        MemNet {
            local: identity,
            network: self.clone(),
            incoming: tokio::sync::Mutex::new(rx),
        }
    }

    /// Removes `identity`: opens to it fail, and its `accept` ends once its queue drains.
    pub fn leave(&self, identity: &Identity) {
        self.lock().members.remove(identity);
    }

    /// Cuts the link between `a` and `b` in both directions (streams already open live on).
    pub fn partition(&self, a: &Identity, b: &Identity) {
        let mut state = self.lock();
        state.cut.insert((a.clone(), b.clone()));
        state.cut.insert((b.clone(), a.clone()));
    }

    /// Restores the link between `a` and `b`.
    pub fn heal(&self, a: &Identity, b: &Identity) {
        let mut state = self.lock();
        state.cut.remove(&(a.clone(), b.clone()));
        state.cut.remove(&(b.clone(), a.clone()));
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        self.lock().cut.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two maps updated in single statements: still consistent after a panic
        // elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One member's view of a [`MemNetwork`].
#[derive(Debug)]
pub struct MemNet {
    local: Identity,
    network: MemNetwork,
    incoming: tokio::sync::Mutex<mpsc::Receiver<IncomingStream>>,
}

impl MemNet {
    async fn open_stream(&self, peer: &Identity) -> Result<BiStream, NetError> {
        let sender = {
            let state = self.network.lock();
            if state.cut.contains(&(self.local.clone(), peer.clone())) {
                return Err(NetError::Unreachable {
                    peer: peer.clone(),
                    reason: "partitioned".into(),
                });
            }
            state
                .members
                .get(peer)
                .cloned()
                .ok_or_else(|| NetError::UnknownPeer(peer.clone()))?
        };
        let (mine, theirs) = tokio::io::duplex(PIPE_BUFFER);
        let (my_recv, my_send) = tokio::io::split(mine);
        let (their_recv, their_send) = tokio::io::split(theirs);
        let incoming = IncomingStream {
            peer: self.local.clone(),
            stream: BiStream::new(their_send, their_recv),
        };
        sender
            .send(incoming)
            .await
            .map_err(|_| NetError::Unreachable {
                peer: peer.clone(),
                reason: "left the network".into(),
            })?;
        Ok(BiStream::new(my_send, my_recv))
    }
}

impl Net for MemNet {
    fn local(&self) -> &Identity {
        &self.local
    }

    fn open(&self, peer: &Identity) -> BoxFuture<'_, Result<BiStream, NetError>> {
        let peer = peer.clone();
        Box::pin(async move { self.open_stream(&peer).await })
    }

    fn accept(&self) -> BoxFuture<'_, Result<IncomingStream, NetError>> {
        Box::pin(async move {
            self.incoming
                .lock()
                .await
                .recv()
                .await
                .ok_or(NetError::Closed)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::frame::{MaxFrameLen, read_frame, write_frame};

    #[test]
    fn members_talk_and_partitions_cut() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let net = MemNetwork::new();
            let a = net.join(Identity::Controller(1));
            let b = net.join(Identity::Controller(2));
            let max = MaxFrameLen::mib(1);
            let mut s = a.open(&Identity::Controller(2)).await.unwrap();
            write_frame(&mut s.send, b"ping", max).await.unwrap();
            s.send.shutdown().await.unwrap();
            let mut inc = b.accept().await.unwrap();
            assert_eq!(inc.peer, Identity::Controller(1));
            let got = read_frame(&mut inc.stream.recv, max).await.unwrap();
            assert_eq!(got.as_deref(), Some(&b"ping"[..]));
            assert!(
                read_frame(&mut inc.stream.recv, max)
                    .await
                    .unwrap()
                    .is_none()
            );

            net.partition(&Identity::Controller(1), &Identity::Controller(2));
            assert!(matches!(
                b.open(&Identity::Controller(1)).await,
                Err(NetError::Unreachable { .. })
            ));
            net.heal_all();
            assert!(b.open(&Identity::Controller(1)).await.is_ok());
            assert!(matches!(
                a.open(&Identity::Controller(9)).await,
                Err(NetError::UnknownPeer(_))
            ));
        });
    }

    #[test]
    fn request_reply_round_trips_through_serve_requests() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let net = MemNetwork::new();
            let a = net.join(Identity::Controller(1));
            let b: Arc<dyn Net> = Arc::new(net.join(Identity::Controller(2)));
            let answer: crate::net::RequestFn = Arc::new(|peer, mut req: Vec<u8>| {
                Box::pin(async move {
                    req.extend_from_slice(peer.to_string().as_bytes());
                    req
                })
            });
            let max = MaxFrameLen::mib(1);
            let server = crate::task::spawn(crate::net::serve_requests(b, max, answer));
            let reply = crate::net::request_reply(&a, &Identity::Controller(2), b"from ", max)
                .await
                .unwrap();
            assert_eq!(reply, b"from controller:1");
            net.leave(&Identity::Controller(2));
            server.abort();
        });
    }
}
