//! Framing: the 4-byte metalbond header and a decoder that reassembles frames from a byte
//! stream however it was split into reads (the Go reader does not).
//!
//! ```text
//! byte 0     version, always 1
//! bytes 1..2 payload length, big-endian u16, at most 1188
//! byte 3     message type (1 HELLO, 2 KEEPALIVE, 3 SUBSCRIBE, 4 UNSUBSCRIBE, 5 UPDATE)
//! bytes 4..  proto3 payload
//! ```

use bytes::{Buf, BytesMut};

use crate::message::{DecodeError, Message, MessageType};

/// The only protocol version.
pub const VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4;
/// The largest payload: a frame then fits 1280 (IPv6 minimum MTU) − 40 (IPv6) − 20 (TCP) − 4
/// (header) − 28 of slack, which is metalbond's limit. Go enforces it only on send; we also
/// refuse larger frames on receive, since no conforming peer sends one.
pub const PAYLOAD_LEN_MAX: usize = 1188;

/// Appends one whole frame for `msg` to `out`.
pub fn encode_frame(msg: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[VERSION, 0, 0, msg.message_type() as u8]);
    msg.encode_payload(out);
    let len = out.len() - start - HEADER_LEN;
    // Our largest message (an IPv6 NAT update) is under 100 bytes; a bigger one is a bug here.
    assert!(len <= PAYLOAD_LEN_MAX, "encoded payload of {len} bytes");
    let len = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    out[start + 1..start + 3].copy_from_slice(&len);
}

/// The bytes of one frame for `msg`.
pub fn frame_bytes(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_frame(msg, &mut out);
    out
}

/// Why a byte stream is not a metalbond stream. Every one of these ends the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The version byte is not 1.
    #[error("Wrong protocol version {0}")]
    WrongVersion(u8),
    /// The length field is above [`PAYLOAD_LEN_MAX`].
    #[error("Frame payload of {0} bytes exceeds 1188")]
    Oversized(usize),
    /// The type byte is not one of the five messages.
    #[error("Unknown message type {0}")]
    UnknownType(u8),
    /// The payload does not decode.
    #[error("Bad {ty:?} payload")]
    Payload {
        /// The frame's type.
        ty: MessageType,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
}

/// Reassembles frames from arbitrary chunks of a stream.
///
/// Feed it with [`FrameDecoder::push`] and drain it with [`FrameDecoder::next_message`] until it
/// returns `Ok(None)`. It holds at most one partial frame plus the last chunk pushed. After an
/// error the stream is unusable and the decoder keeps returning that error.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// [`FrameError`] as soon as a header or payload is invalid; a header is checked before its
    /// payload has arrived, so an oversized length fails without buffering anything.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone_shallow());
        }
        match self.parse() {
            Err(err) => {
                self.buf.clear();
                self.failed = Some(err.clone_shallow());
                Err(err)
            }
            ok => ok,
        }
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn parse(&mut self) -> Result<Option<Message>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let h = &self.buf[..HEADER_LEN];
        if h[0] != VERSION {
            return Err(FrameError::WrongVersion(h[0]));
        }
        let len = usize::from(u16::from_be_bytes([h[1], h[2]]));
        if len > PAYLOAD_LEN_MAX {
            return Err(FrameError::Oversized(len));
        }
        let ty = MessageType::from_byte(h[3]).ok_or(FrameError::UnknownType(h[3]))?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len);
        Message::decode_payload(ty, &payload)
            .map(Some)
            .map_err(|source| FrameError::Payload { ty, source })
    }
}

impl FrameError {
    /// A copy for re-reporting (prost's error is not `Clone`; its text is kept generic).
    fn clone_shallow(&self) -> Self {
        match self {
            Self::WrongVersion(v) => Self::WrongVersion(*v),
            Self::Oversized(l) => Self::Oversized(*l),
            Self::UnknownType(t) => Self::UnknownType(*t),
            Self::Payload { ty, source } => Self::Payload {
                ty: *ty,
                source: match source {
                    DecodeError::Field(f) => DecodeError::Field(f),
                    DecodeError::Protobuf(_) => DecodeError::Field("protobuf"),
                },
            },
        }
    }
}
