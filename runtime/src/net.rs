//! The `Net` seam: "open a bidirectional stream to peer X" and "accept the next stream any peer
//! opened to me". Raft RPCs and node traffic go through it, so the simulator can swap QUIC
//! ([`crate::QuicNet`]) for memory ([`crate::MemNetwork`]) without the callers noticing.
//!
//! A stream carries frames ([`crate::frame`]); closing the write half (`shutdown`) tells the
//! other side no more frames follow. Who dials whom, retries and timeouts are the caller's
//! decisions, taken with the `Clock` seam.

use std::fmt;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::frame::{self, MaxFrameLen};
use crate::identity::Identity;
use crate::quic::BoxFuture;

/// One bidirectional byte stream: a write half and a read half.
pub struct BiStream {
    /// Bytes to the peer; `shutdown()` ends them.
    pub send: Box<dyn AsyncWrite + Send + Unpin>,
    /// Bytes from the peer; a read of 0 means the peer ended its half.
    pub recv: Box<dyn AsyncRead + Send + Unpin>,
}

impl fmt::Debug for BiStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BiStream").finish_non_exhaustive()
    }
}

impl BiStream {
    /// A stream from its two halves.
    pub fn new<S, R>(send: S, recv: R) -> Self
    where
        S: AsyncWrite + Send + Unpin + 'static,
        R: AsyncRead + Send + Unpin + 'static,
    {
        Self {
            send: Box::new(send),
            recv: Box::new(recv),
        }
    }
}

/// A stream some peer opened to us, with the peer's verified identity.
#[derive(Debug)]
pub struct IncomingStream {
    /// Who opened it (from its certificate on QUIC, from its membership in memory).
    pub peer: Identity,
    /// The stream.
    pub stream: BiStream,
}

/// Why a stream could not be opened or accepted.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No address is known for the peer and it has no connection to us.
    #[error("No route to {0}")]
    UnknownPeer(Identity),
    /// The peer could not be reached (dial failed, connection lost, partitioned).
    #[error("{peer} is unreachable: {reason}")]
    Unreachable {
        /// The peer.
        peer: Identity,
        /// What failed.
        reason: String,
    },
    /// The peer at the address presented a different identity than the one asked for.
    #[error("Expected {expected} at that address, found {found}")]
    WrongPeer {
        /// The identity asked for.
        expected: Identity,
        /// What the certificate said (or "no certificate").
        found: String,
    },
    /// This side of the network was shut down; no more streams will arrive.
    #[error("Network closed")]
    Closed,
    /// A stream failed or carried a bad frame part-way through an exchange.
    #[error("Exchange with {peer} failed: {reason}")]
    Exchange {
        /// The peer.
        peer: Identity,
        /// What failed.
        reason: String,
    },
}

/// The network as Raft and the node protocol see it.
///
/// Implementations: [`crate::QuicNet`] (production) and [`crate::MemNet`] (tests, simulator).
pub trait Net: Send + Sync + 'static {
    /// This side's own identity.
    fn local(&self) -> &Identity;

    /// Opens a new bidirectional stream to `peer`, reusing a connection if one is up.
    fn open(&self, peer: &Identity) -> BoxFuture<'_, Result<BiStream, NetError>>;

    /// Waits for the next stream any peer opens to us.
    ///
    /// Only one task should call this at a time (it hands each stream to one caller); run a
    /// loop that dispatches streams onward.
    fn accept(&self) -> BoxFuture<'_, Result<IncomingStream, NetError>>;
}

/// One request frame out, one reply frame back, on a fresh stream to `peer`: the shape of
/// every Raft RPC. The caller bounds the wait (with its `Clock`-driven deadline).
///
/// # Errors
/// [`NetError`] from `open`; [`NetError::Exchange`] if the stream fails, the reply exceeds
/// `max`, or the peer ends the stream without a reply.
pub async fn request_reply(
    net: &dyn Net,
    peer: &Identity,
    request: &[u8],
    max: MaxFrameLen,
) -> Result<Vec<u8>, NetError> {
    let failed = |reason: String| NetError::Exchange {
        peer: peer.clone(),
        reason,
    };
    let mut stream = net.open(peer).await?;
    frame::write_frame(&mut stream.send, request, max)
        .await
        .map_err(|e| failed(e.to_string()))?;
    stream
        .send
        .shutdown()
        .await
        .map_err(|e| failed(e.to_string()))?;
    frame::read_frame(&mut stream.recv, max)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("stream ended without a reply".into()))
}

/// A function from (peer, request frame) to reply frame, for [`serve_requests`].
pub type RequestFn = Arc<dyn Fn(Identity, Vec<u8>) -> BoxFuture<'static, Vec<u8>> + Send + Sync>;

/// The other side of [`request_reply`]: accepts streams from `net` until it closes and answers
/// each one's request frame with `answer`, each on its own task. Streams with an unreadable or
/// oversize request are dropped (the requester sees an exchange error and retries).
pub async fn serve_requests(net: Arc<dyn Net>, max: MaxFrameLen, answer: RequestFn) {
    while let Ok(incoming) = net.accept().await {
        let answer = answer.clone();
        crate::task::spawn(async move {
            let IncomingStream { peer, mut stream } = incoming;
            let Ok(Some(request)) = frame::read_frame(&mut stream.recv, max).await else {
                return;
            };
            let reply = answer(peer, request).await;
            if frame::write_frame(&mut stream.send, &reply, max)
                .await
                .is_ok()
            {
                let _ = stream.send.shutdown().await;
            }
        });
    }
}
