//! The QUIC `Net`: one ALPN of an [`Endpoint`], with an address book for dialing and a table of
//! live connections (dialed or accepted) that streams are opened on.
//!
//! Register it as the endpoint's handler for its ALPN (`Router::route(alpn, net.clone())`) so
//! that peers' connections to us join the table, and streams they open arrive on `accept`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::identity::Identity;
use crate::net::{BiStream, IncomingStream, Net, NetError};
use crate::quic::{Alpn, BoxFuture, CloseCode, ConnectionHandler, Endpoint, PeerConnection};

/// Accepted streams waiting for `accept`. When it is full the per-connection accept loops wait,
/// and QUIC stream credit makes the peers wait in turn: back-pressure, not unbounded memory.
const ACCEPT_QUEUE: usize = 1024;

/// Where to dial a peer.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PeerAddr {
    /// Its UDP address.
    pub addr: SocketAddr,
    /// The name its certificate is checked against (a DNS name or IP in its SANs).
    pub server_name: String,
}

#[derive(Debug, Default)]
struct Table {
    addrs: BTreeMap<Identity, PeerAddr>,
    conns: BTreeMap<Identity, PeerConnection>,
}

#[derive(Debug)]
struct Shared {
    table: Mutex<Table>,
    accepted: mpsc::Sender<IncomingStream>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Two maps changed in single statements: consistent even after a panic elsewhere.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `conn` as the way to reach its peer and forwards every stream the peer opens on
    /// it, until the connection ends.
    async fn adopt(self: Arc<Self>, conn: PeerConnection) {
        let Some(peer) = conn.identity().cloned() else {
            return; // The endpoint admits no anonymous peer on Raft or node ALPNs.
        };
        self.lock().conns.insert(peer.clone(), conn.clone());
        while let Ok(stream) = conn.accept_bi().await {
            let incoming = IncomingStream {
                peer: peer.clone(),
                stream,
            };
            if self.accepted.send(incoming).await.is_err() {
                break; // The QuicNet is gone.
            }
        }
        let mut table = self.lock();
        let same = table
            .conns
            .get(&peer)
            .is_some_and(|c| c.quinn().stable_id() == conn.quinn().stable_id());
        if same {
            table.conns.remove(&peer);
        }
    }
}

/// The production `Net` over one ALPN of a QUIC endpoint.
#[derive(Debug)]
pub struct QuicNet {
    endpoint: Endpoint,
    alpn: Alpn,
    local: Identity,
    shared: Arc<Shared>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<IncomingStream>>,
}

impl QuicNet {
    /// A `Net` that dials with `endpoint` on `alpn`; `local` is this side's own identity.
    pub fn new(endpoint: Endpoint, alpn: Alpn, local: Identity) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
        Arc::new(Self {
            endpoint,
            alpn,
            local,
            shared: Arc::new(Shared {
                table: Mutex::new(Table::default()),
                accepted: tx,
            }),
            incoming: tokio::sync::Mutex::new(rx),
        })
    }

    /// Sets (or replaces) where `peer` is dialed.
    pub fn set_peer(&self, peer: Identity, addr: PeerAddr) {
        self.shared.lock().addrs.insert(peer, addr);
    }

    /// Forgets `peer`'s address and closes any connection to it (a removed member).
    pub fn remove_peer(&self, peer: &Identity) {
        let conn = {
            let mut table = self.shared.lock();
            table.addrs.remove(peer);
            table.conns.remove(peer)
        };
        if let Some(conn) = conn {
            conn.close(CloseCode::NORMAL, "peer removed");
        }
    }

    /// Peers with a live connection right now.
    pub fn connected_peers(&self) -> Vec<Identity> {
        self.shared.lock().conns.keys().cloned().collect()
    }

    async fn dial(&self, peer: &Identity) -> Result<PeerConnection, NetError> {
        let addr = self
            .shared
            .lock()
            .addrs
            .get(peer)
            .cloned()
            .ok_or_else(|| NetError::UnknownPeer(peer.clone()))?;
        let conn = self
            .endpoint
            .connect(addr.addr, &addr.server_name, self.alpn)
            .await
            .map_err(|e| NetError::Unreachable {
                peer: peer.clone(),
                reason: error_chain(&e),
            })?;
        if conn.identity() != Some(peer) {
            conn.close(CloseCode::NORMAL, "not the peer that was dialed");
            return Err(NetError::WrongPeer {
                expected: peer.clone(),
                found: conn
                    .identity()
                    .map_or_else(|| "no certificate".into(), ToString::to_string),
            });
        }
        // Two dials racing each other both succeed; the later one wins the table and the
        // earlier stays usable until idle. Rare and harmless, so no dial lock.
        crate::task::spawn(self.shared.clone().adopt(conn.clone()));
        Ok(conn)
    }

    async fn open_stream(&self, peer: &Identity) -> Result<BiStream, NetError> {
        let existing = self.shared.lock().conns.get(peer).cloned();
        // If the cached connection died, dial afresh below.
        if let Some(conn) = existing
            && let Ok(stream) = conn.open_bi().await
        {
            return Ok(stream);
        }
        let conn = self.dial(peer).await?;
        conn.open_bi().await.map_err(|e| NetError::Unreachable {
            peer: peer.clone(),
            reason: error_chain(&e),
        })
    }
}

impl Net for QuicNet {
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

impl ConnectionHandler for QuicNet {
    fn handle(&self, conn: PeerConnection) -> BoxFuture<'static, ()> {
        Box::pin(self.shared.clone().adopt(conn))
    }
}

/// An error and its sources on one line, for a `reason` string.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
