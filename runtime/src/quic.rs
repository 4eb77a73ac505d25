//! The QUIC endpoint: one UDP socket that serves the three ferrocore ALPNs, checks who is
//! connecting, and hands each admitted connection to the handler registered for its ALPN; and
//! the dialing side, which the same endpoint (or a client-only one) uses.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use quinn::VarInt;
use rustls::pki_types::CertificateDer;
use tokio::task::JoinHandle;

use crate::identity::Identity;
use crate::net::BiStream;
use crate::pki::{Credentials, PkiError, TrustRoots};
use crate::tls::{self, TlsError};

/// A boxed, sendable future: what the dyn-compatible traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The UDP port a controller listens on by default for all three ALPNs (DESIGN.md §8).
pub const DEFAULT_PORT: u16 = 7700;

/// The application protocols one controller port serves, told apart by TLS ALPN.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Alpn {
    /// `ferrocore-node/1`: controller ↔ node agent, bincode frames, client certificate required.
    Node,
    /// `ferrocore-raft/1`: controller ↔ controller Raft RPCs, controller certificate required.
    Raft,
    /// `ferrocore-rpc/1`: the JSON-RPC client API, certificate or bearer token.
    Rpc,
}

impl Alpn {
    /// Every ALPN, in the order the server offers them.
    pub const ALL: [Self; 3] = [Self::Raft, Self::Rpc, Self::Node];

    /// The ALPN token on the wire.
    pub const fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Node => b"ferrocore-node/1",
            Self::Raft => b"ferrocore-raft/1",
            Self::Rpc => b"ferrocore-rpc/1",
        }
    }

    /// The ALPN a wire token names, if any.
    pub fn from_bytes(token: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_bytes() == token)
    }

    /// Whether a connection with this (verified) client identity may use this ALPN at all.
    ///
    /// Raft is for controllers only and node traffic for node agents only. RPC admits anyone
    /// the CA vouches for, and also connections without a certificate: those must then present
    /// a bearer token in their first request (checked by the RPC server, not here).
    pub fn admits(self, identity: Option<&Identity>) -> bool {
        match self {
            Self::Raft => identity.is_some_and(Identity::is_controller),
            Self::Node => identity.is_some_and(Identity::is_node),
            Self::Rpc => true,
        }
    }
}

impl fmt::Display for Alpn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Application close codes ferrocore puts in QUIC CONNECTION_CLOSE frames.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct CloseCode(u32);

impl CloseCode {
    /// Orderly close, nothing wrong.
    pub const NORMAL: Self = Self(0);
    /// The peer did not authenticate (no certificate where one is needed, or a bad token).
    pub const UNAUTHENTICATED: Self = Self(1);
    /// The peer's certificate is valid but its identity may not use this ALPN.
    pub const FORBIDDEN: Self = Self(2);
    /// No handler serves the negotiated ALPN on this endpoint.
    pub const NO_SERVICE: Self = Self(3);
    /// The peer broke the protocol badly enough that the connection cannot continue.
    pub const PROTOCOL_VIOLATION: Self = Self(4);
    /// The endpoint is shutting down.
    pub const SHUTDOWN: Self = Self(5);

    /// The code on the wire.
    pub const fn value(self) -> u32 {
        self.0
    }

    fn var_int(self) -> VarInt {
        VarInt::from_u32(self.0)
    }
}

/// Limits that keep one peer from exhausting the endpoint. Timing values are config values
/// (DESIGN.md §8: timing knobs are configurable; tests set them short).
///
/// In a TOML config (e.g. a `[transport]` table) every field is optional, durations are in
/// milliseconds: `idle_timeout_ms = 30000`, `keep_alive_interval_ms = 5000`.
#[derive(Clone, Debug, serde::Deserialize, Eq, PartialEq, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportLimits {
    /// Bidirectional streams a peer may have open at once on one connection. Each RPC request
    /// and each Raft message is one stream, so this caps one connection's in-flight work; QUIC
    /// flow control makes a client that wants more wait instead of failing.
    pub max_concurrent_bidi_streams: u32,
    /// Connections the server accepts at once; more are refused at the handshake so a flood
    /// of connections cannot exhaust memory.
    pub max_connections: usize,
    /// A connection with no traffic (keep-alives included) for this long is closed: it is
    /// how a dead peer is noticed.
    #[serde(rename = "idle_timeout_ms", with = "millis")]
    pub idle_timeout: Duration,
    /// How often an idle connection sends a keep-alive; well under `idle_timeout` so one lost
    /// packet does not kill a healthy connection.
    #[serde(rename = "keep_alive_interval_ms", with = "millis")]
    pub keep_alive_interval: Duration,
    /// Bytes a peer may have in flight on one stream before it must wait for us to read.
    pub stream_receive_window: u32,
    /// Bytes a peer may have in flight over all streams of a connection: bounds what one
    /// connection can make us buffer.
    pub connection_receive_window: u32,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            max_concurrent_bidi_streams: 128,
            max_connections: 4096,
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(5),
            stream_receive_window: 2 * 1024 * 1024,
            connection_receive_window: 16 * 1024 * 1024,
        }
    }
}

/// Durations as whole milliseconds in config files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl TransportLimits {
    fn transport_config(&self) -> Result<quinn::TransportConfig, TransportError> {
        if self.keep_alive_interval >= self.idle_timeout {
            return Err(TransportError::Config(
                "keep_alive_interval must be shorter than idle_timeout".into(),
            ));
        }
        let mut t = quinn::TransportConfig::default();
        t.max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_bidi_streams));
        // No ferrocore protocol uses unidirectional streams or datagrams: refuse them.
        t.max_concurrent_uni_streams(VarInt::from_u32(0));
        t.datagram_receive_buffer_size(None);
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|_| TransportError::Config("idle timeout too large".into()))?;
        t.max_idle_timeout(Some(idle));
        t.keep_alive_interval(Some(self.keep_alive_interval));
        t.stream_receive_window(VarInt::from_u32(self.stream_receive_window));
        t.receive_window(VarInt::from_u32(self.connection_receive_window));
        Ok(t)
    }
}

/// What went wrong binding, dialing or accepting.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket could not be bound.
    #[error("Cannot bind UDP {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("Bad transport configuration: {0}")]
    Config(String),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection attempt could not start (bad server name, endpoint closed).
    #[error("Cannot connect")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("Connection failed")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer's certificate names no ferrocore identity.
    #[error("Peer certificate")]
    PeerIdentity(#[from] PkiError),
    /// The handshake finished without a known ALPN.
    #[error("No ferrocore ALPN was negotiated")]
    NoAlpn,
}

/// A handler for the connections of one ALPN.
pub trait ConnectionHandler: Send + Sync + 'static {
    /// Serves one admitted connection until it ends. Runs as its own task.
    fn handle(&self, conn: PeerConnection) -> BoxFuture<'static, ()>;
}

/// Which handler serves which ALPN.
#[derive(Clone, Default)]
pub struct Router {
    routes: BTreeMap<Alpn, Arc<dyn ConnectionHandler>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.routes.keys()).finish()
    }
}

impl Router {
    /// A router with no routes (every connection is closed with [`CloseCode::NO_SERVICE`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `alpn` with `handler` (replacing any earlier one).
    #[must_use]
    pub fn route(mut self, alpn: Alpn, handler: Arc<dyn ConnectionHandler>) -> Self {
        self.routes.insert(alpn, handler);
        self
    }
}

/// An established, admitted connection and what is known about the peer.
#[derive(Clone, Debug)]
pub struct PeerConnection {
    conn: quinn::Connection,
    alpn: Alpn,
    identity: Option<Identity>,
}

impl PeerConnection {
    /// Opens a bidirectional stream to the peer.
    ///
    /// # Errors
    /// [`TransportError::Connection`] if the connection is gone.
    pub async fn open_bi(&self) -> Result<BiStream, TransportError> {
        let (send, recv) = self.conn.open_bi().await?;
        Ok(BiStream::new(send, recv))
    }

    /// Waits for the peer to open a bidirectional stream.
    ///
    /// # Errors
    /// [`TransportError::Connection`] when the connection ends (also when closed normally).
    pub async fn accept_bi(&self) -> Result<BiStream, TransportError> {
        let (send, recv) = self.conn.accept_bi().await?;
        Ok(BiStream::new(send, recv))
    }

    /// Closes the connection with `code` and a short human-readable `reason`.
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.conn.close(code.var_int(), reason.as_bytes());
    }

    /// The negotiated ALPN.
    pub fn alpn(&self) -> Alpn {
        self.alpn
    }

    /// The peer's verified identity: its client certificate's CN on the server side, the
    /// server certificate's CN on the dialing side; `None` for a client without a certificate.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// Why the connection closed, or `None` while it is open.
    pub fn close_reason(&self) -> Option<quinn::ConnectionError> {
        self.conn.close_reason()
    }

    /// The underlying quinn connection, for protocols that need stream-level control
    /// (the RPC server watches `stopped()` on notification streams).
    pub fn quinn(&self) -> &quinn::Connection {
        &self.conn
    }

    fn from_established(conn: quinn::Connection) -> Result<Self, TransportError> {
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol)
            .and_then(|p| Alpn::from_bytes(&p))
            .ok_or(TransportError::NoAlpn)?;
        let chain = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok());
        let identity = match chain.as_deref().and_then(|c| c.first()) {
            Some(leaf) => Some(tls::identity_of(leaf)?),
            None => None,
        };
        Ok(Self {
            conn,
            alpn,
            identity,
        })
    }
}

/// A QUIC endpoint: a bound UDP socket that can serve (if it has a server certificate) and
/// dial. Clones share the socket.
#[derive(Clone, Debug)]
pub struct Endpoint {
    inner: quinn::Endpoint,
    dialers: Arc<BTreeMap<Alpn, quinn::ClientConfig>>,
    max_connections: usize,
}

impl Endpoint {
    /// Binds `listen` as a server presenting `server` (a controller certificate, which also
    /// serves as its client certificate when it dials peers), trusting `trust`.
    ///
    /// Incoming connections wait in the handshake queue until [`Endpoint::serve`] is called.
    ///
    /// # Errors
    /// [`TransportError::Bind`], [`TransportError::Tls`], [`TransportError::Config`].
    pub fn server(
        listen: SocketAddr,
        server: &Credentials,
        trust: &TrustRoots,
        limits: &TransportLimits,
    ) -> Result<Self, TransportError> {
        let transport = Arc::new(limits.transport_config()?);
        let mut config =
            quinn::ServerConfig::with_crypto(Arc::new(tls::server_config(server, trust)?));
        config.transport_config(transport.clone());
        let socket = bind(listen)?;
        let inner = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| TransportError::Bind {
            addr: listen,
            source,
        })?;
        let dialers = dialers(Some(server), trust, &transport)?;
        Ok(Self {
            inner,
            dialers,
            max_connections: limits.max_connections,
        })
    }

    /// Binds `bind` (usually `0.0.0.0:0`) for dialing only, presenting `client` if given.
    ///
    /// # Errors
    /// [`TransportError::Bind`], [`TransportError::Tls`], [`TransportError::Config`].
    pub fn client(
        bind_addr: SocketAddr,
        client: Option<&Credentials>,
        trust: &TrustRoots,
        limits: &TransportLimits,
    ) -> Result<Self, TransportError> {
        let transport = Arc::new(limits.transport_config()?);
        let socket = bind(bind_addr)?;
        let inner = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            None,
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| TransportError::Bind {
            addr: bind_addr,
            source,
        })?;
        let dialers = dialers(client, trust, &transport)?;
        Ok(Self {
            inner,
            dialers,
            max_connections: limits.max_connections,
        })
    }

    /// Starts accepting: every admitted connection is handed to `router`'s handler for its
    /// ALPN, each on its own task. The task ends when the endpoint is closed.
    pub fn serve(&self, router: Router) -> JoinHandle<()> {
        let endpoint = self.inner.clone();
        let max_connections = self.max_connections;
        let router = Arc::new(router);
        crate::task::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                if endpoint.open_connections() >= max_connections {
                    incoming.refuse();
                    continue;
                }
                crate::task::spawn(admit(incoming, router.clone()));
            }
        })
    }

    /// Dials `addr`, checking its certificate against `server_name` (a DNS name or IP in the
    /// server's SANs), with `alpn`.
    ///
    /// # Errors
    /// [`TransportError::Connect`] / [`TransportError::Connection`] if the handshake fails.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
        alpn: Alpn,
    ) -> Result<PeerConnection, TransportError> {
        let config = self
            .dialers
            .get(&alpn)
            .cloned()
            .ok_or(TransportError::NoAlpn)?;
        let conn = self.inner.connect_with(config, addr, server_name)?.await?;
        PeerConnection::from_established(conn)
    }

    /// The bound UDP address (useful after binding port 0).
    ///
    /// # Errors
    /// If the socket has no local address (never, for a bound socket).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.inner
            .close(CloseCode::SHUTDOWN.var_int(), b"shutting down");
    }

    /// Waits until every connection's close has been sent (call after [`Endpoint::close`]).
    pub async fn wait_idle(&self) {
        self.inner.wait_idle().await;
    }
}

fn bind(addr: SocketAddr) -> Result<std::net::UdpSocket, TransportError> {
    std::net::UdpSocket::bind(addr).map_err(|source| TransportError::Bind { addr, source })
}

fn dialers(
    client: Option<&Credentials>,
    trust: &TrustRoots,
    transport: &Arc<quinn::TransportConfig>,
) -> Result<Arc<BTreeMap<Alpn, quinn::ClientConfig>>, TransportError> {
    let mut out = BTreeMap::new();
    for alpn in Alpn::ALL {
        let mut config =
            quinn::ClientConfig::new(Arc::new(tls::client_config(alpn, client, trust)?));
        config.transport_config(transport.clone());
        out.insert(alpn, config);
    }
    Ok(Arc::new(out))
}

/// Finishes one handshake, checks the peer against its ALPN, and runs the ALPN's handler.
async fn admit(incoming: quinn::Incoming, router: Arc<Router>) {
    let Ok(conn) = incoming.await else {
        return; // Handshake failed (bad certificate, timeout): quinn has already closed it.
    };
    let peer = match PeerConnection::from_established(conn.clone()) {
        Ok(peer) => peer,
        Err(e) => {
            conn.close(CloseCode::FORBIDDEN.var_int(), e.to_string().as_bytes());
            return;
        }
    };
    if !peer.alpn.admits(peer.identity.as_ref()) {
        let code = if peer.identity.is_none() {
            CloseCode::UNAUTHENTICATED
        } else {
            CloseCode::FORBIDDEN
        };
        peer.close(code, &format!("identity not admitted to {}", peer.alpn));
        return;
    }
    let Some(handler) = router.routes.get(&peer.alpn) else {
        peer.close(CloseCode::NO_SERVICE, "no service for this ALPN");
        return;
    };
    handler.handle(peer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_from_config_with_defaults_and_millis() {
        let limits: TransportLimits =
            serde_json::from_str(r#"{"idle_timeout_ms": 1500, "max_connections": 8}"#).unwrap();
        assert_eq!(limits.idle_timeout, Duration::from_millis(1500));
        assert_eq!(limits.max_connections, 8);
        assert_eq!(
            limits.keep_alive_interval,
            TransportLimits::default().keep_alive_interval
        );
        assert!(serde_json::from_str::<TransportLimits>(r#"{"idle_timeout": 1}"#).is_err());
        let back: TransportLimits =
            serde_json::from_value(serde_json::to_value(&limits).unwrap()).unwrap();
        assert_eq!(back, limits);
    }

    #[test]
    fn keep_alive_must_be_shorter_than_idle_timeout() {
        let limits = TransportLimits {
            keep_alive_interval: Duration::from_secs(30),
            ..TransportLimits::default()
        };
        assert!(matches!(
            limits.transport_config(),
            Err(TransportError::Config(_))
        ));
        assert!(TransportLimits::default().transport_config().is_ok());
    }

    #[test]
    fn alpn_tokens_round_trip_and_admission_follows_roles() {
        for alpn in Alpn::ALL {
            assert_eq!(Alpn::from_bytes(alpn.as_bytes()), Some(alpn));
        }
        assert_eq!(Alpn::from_bytes(b"h3"), None);
        let ctl = Identity::Controller(1);
        let node = Identity::Node("n".into());
        assert!(Alpn::Raft.admits(Some(&ctl)));
        assert!(!Alpn::Raft.admits(Some(&node)));
        assert!(!Alpn::Raft.admits(None));
        assert!(Alpn::Node.admits(Some(&node)));
        assert!(!Alpn::Node.admits(Some(&Identity::Admin)));
        assert!(Alpn::Rpc.admits(None));
    }
}
