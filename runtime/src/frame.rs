//! The frame codec every ferrocore stream uses: a 4-byte big-endian length, then that many
//! payload bytes. Payloads are JSON (the RPC) or bincode 2 via serde (fixed-shape envelopes:
//! Raft RPCs, node protocol, data plane API).
//!
//! A frame longer than the reader's limit is refused from its header alone, before a byte of
//! it is buffered; the payload buffer then grows only as bytes actually arrive, so a peer that
//! announces a large frame and sends nothing costs nothing.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes in a frame header.
pub const FRAME_HEADER_LEN: usize = 4;

/// Upper bound bincode may claim while decoding one payload, whatever the length fields inside
/// it say: the payload itself is already bounded by the frame limit, and this stops a lying
/// inner length from reserving more than that.
const BINCODE_CLAIM_LIMIT: usize = 256 * 1024 * 1024;

/// A frame size limit in bytes (payload only, header not counted).
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub struct MaxFrameLen(u32);

impl MaxFrameLen {
    /// A limit of `bytes`.
    pub const fn new(bytes: u32) -> Self {
        Self(bytes)
    }

    /// A limit of `mib` MiB (saturating at `u32::MAX`).
    pub const fn mib(mib: u32) -> Self {
        Self(mib.saturating_mul(1024 * 1024))
    }

    /// The limit in bytes.
    pub const fn bytes(self) -> u32 {
        self.0
    }
}

/// What went wrong reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header announced (or the writer tried) a payload longer than the limit.
    #[error("Frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced or attempted payload length.
        len: u64,
        /// The limit in force.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("Stream ended inside a frame: {received} of {expected} bytes")]
    Truncated {
        /// Bytes the header announced (4 while still in the header).
        expected: u64,
        /// Bytes that arrived.
        received: u64,
    },
    /// The stream failed.
    #[error("Stream I/O failed")]
    Io(#[from] io::Error),
    /// A value could not be encoded.
    #[error("Encoding failed: {0}")]
    Encode(String),
    /// A payload did not decode as the expected type.
    #[error("Decoding failed: {0}")]
    Decode(String),
}

/// Reads one frame header. `Ok(None)` means the stream ended cleanly before any header byte.
///
/// # Errors
/// [`FrameError::Truncated`] if it ended inside the header, [`FrameError::Io`] on I/O failure.
pub async fn read_header<R>(reader: &mut R) -> Result<Option<u32>, FrameError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut got = 0;
    while got < FRAME_HEADER_LEN {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                expected: FRAME_HEADER_LEN as u64,
                received: got as u64,
            });
        }
        got += n;
    }
    Ok(Some(u32::from_be_bytes(header)))
}

/// Reads the payload of a frame whose header announced `len` bytes, refusing it unread if
/// `len` exceeds `max`.
///
/// # Errors
/// [`FrameError::TooLarge`] before reading anything if `len > max`; [`FrameError::Truncated`]
/// if the stream ends early; [`FrameError::Io`] on I/O failure.
pub async fn read_payload<R>(
    reader: &mut R,
    len: u32,
    max: MaxFrameLen,
) -> Result<Vec<u8>, FrameError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    if len > max.0 {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            max: max.0,
        });
    }
    // `take` + `read_to_end` grows the buffer with the bytes that arrive instead of reserving
    // the announced length up front.
    let mut payload = Vec::new();
    let received = (&mut *reader)
        .take(u64::from(len))
        .read_to_end(&mut payload)
        .await?;
    if received as u64 != u64::from(len) {
        return Err(FrameError::Truncated {
            expected: u64::from(len),
            received: received as u64,
        });
    }
    Ok(payload)
}

/// Reads one whole frame. `Ok(None)` means the stream ended cleanly between frames.
///
/// # Errors
/// As [`read_header`] and [`read_payload`].
pub async fn read_frame<R>(reader: &mut R, max: MaxFrameLen) -> Result<Option<Vec<u8>>, FrameError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    match read_header(reader).await? {
        None => Ok(None),
        Some(len) => read_payload(reader, len, max).await.map(Some),
    }
}

/// Writes one frame.
///
/// # Errors
/// [`FrameError::TooLarge`] (nothing written) if `payload` exceeds `max`; [`FrameError::Io`].
pub async fn write_frame<W>(
    writer: &mut W,
    payload: &[u8],
    max: MaxFrameLen,
) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= max.0)
        .ok_or(FrameError::TooLarge {
            len: payload.len() as u64,
            max: max.0,
        })?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(payload).await?;
    Ok(())
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BINCODE_CLAIM_LIMIT>()
}

/// Encodes a fixed-shape envelope with bincode 2 (serde).
///
/// # Errors
/// [`FrameError::Encode`] if serde refuses the value (e.g. an untagged or skipped field).
pub fn encode_bincode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, FrameError> {
    bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| FrameError::Encode(e.to_string()))
}

/// Decodes a fixed-shape envelope with bincode 2 (serde); trailing bytes are an error.
///
/// # Errors
/// [`FrameError::Decode`] for anything that is not exactly one `T`.
pub fn decode_bincode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FrameError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode_config())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(FrameError::Decode(format!(
            "{} trailing bytes after the value",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Writes `value` as one bincode frame.
///
/// # Errors
/// As [`encode_bincode`] and [`write_frame`].
pub async fn write_bincode<W, T>(
    writer: &mut W,
    value: &T,
    max: MaxFrameLen,
) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin + ?Sized,
    T: Serialize + ?Sized,
{
    write_frame(writer, &encode_bincode(value)?, max).await
}

/// Reads one bincode frame as `T`; `Ok(None)` on a clean end of stream.
///
/// # Errors
/// As [`read_frame`] and [`decode_bincode`].
pub async fn read_bincode<R, T>(reader: &mut R, max: MaxFrameLen) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin + ?Sized,
    T: DeserializeOwned,
{
    match read_frame(reader, max).await? {
        None => Ok(None),
        Some(bytes) => decode_bincode(&bytes).map(Some),
    }
}

/// Writes `value` as one JSON frame.
///
/// # Errors
/// [`FrameError::Encode`] if serde refuses the value; as [`write_frame`].
pub async fn write_json<W, T>(writer: &mut W, value: &T, max: MaxFrameLen) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin + ?Sized,
    T: Serialize + ?Sized,
{
    let bytes = serde_json::to_vec(value).map_err(|e| FrameError::Encode(e.to_string()))?;
    write_frame(writer, &bytes, max).await
}

/// Reads one JSON frame as `T`; `Ok(None)` on a clean end of stream.
///
/// # Errors
/// As [`read_frame`]; [`FrameError::Decode`] if the payload is not a JSON `T`.
pub async fn read_json<R, T>(reader: &mut R, max: MaxFrameLen) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin + ?Sized,
    T: DeserializeOwned,
{
    match read_frame(reader, max).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| FrameError::Decode(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq, Serialize)]
    enum Envelope {
        Ping { seq: u64 },
        Data { term: u64, entries: Vec<Vec<u8>> },
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn frames_round_trip_back_to_back() {
        rt().block_on(async {
            let max = MaxFrameLen::mib(1);
            let mut buf = Vec::new();
            let a = Envelope::Ping { seq: 7 };
            let b = Envelope::Data {
                term: 3,
                entries: vec![vec![1, 2], vec![]],
            };
            write_bincode(&mut buf, &a, max).await.unwrap();
            write_json(&mut buf, &serde_json::json!({"k": 1}), max)
                .await
                .unwrap();
            write_bincode(&mut buf, &b, max).await.unwrap();
            let mut r = buf.as_slice();
            assert_eq!(
                read_bincode::<_, Envelope>(&mut r, max).await.unwrap(),
                Some(a)
            );
            let v: serde_json::Value = read_json(&mut r, max).await.unwrap().unwrap();
            assert_eq!(v["k"], 1);
            assert_eq!(
                read_bincode::<_, Envelope>(&mut r, max).await.unwrap(),
                Some(b)
            );
            assert!(read_frame(&mut r, max).await.unwrap().is_none());
        });
    }

    #[test]
    fn oversize_is_refused_from_the_header() {
        rt().block_on(async {
            // Announces 100 MB but carries 3 bytes: must be refused without waiting for more.
            let mut input: &[u8] = &[0x05, 0xF5, 0xE1, 0x00, 1, 2, 3];
            let err = read_frame(&mut input, MaxFrameLen::mib(1))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    FrameError::TooLarge {
                        len: 100_000_000,
                        ..
                    }
                ),
                "{err}"
            );
            let mut sink = Vec::new();
            let err = write_frame(&mut sink, &[0; 11], MaxFrameLen::new(10))
                .await
                .unwrap_err();
            assert!(matches!(err, FrameError::TooLarge { len: 11, max: 10 }));
            assert!(sink.is_empty());
        });
    }

    #[test]
    fn truncation_is_reported() {
        rt().block_on(async {
            let max = MaxFrameLen::mib(1);
            let mut short_header: &[u8] = &[0, 0];
            assert!(matches!(
                read_frame(&mut short_header, max).await,
                Err(FrameError::Truncated {
                    expected: 4,
                    received: 2
                })
            ));
            let mut short_body: &[u8] = &[0, 0, 0, 5, 1, 2];
            assert!(matches!(
                read_frame(&mut short_body, max).await,
                Err(FrameError::Truncated {
                    expected: 5,
                    received: 2
                })
            ));
        });
    }

    #[test]
    fn bincode_rejects_garbage_and_trailing_bytes() {
        let bytes = encode_bincode(&Envelope::Ping { seq: 1 }).unwrap();
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_bincode::<Envelope>(&longer).is_err());
        assert!(decode_bincode::<Envelope>(&[0xFF; 9]).is_err());
        // A Vec length of ~2^60 must fail cleanly, not try to allocate.
        let lying = [1u8, 3, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x10];
        assert!(decode_bincode::<Envelope>(&lying).is_err());
    }

    proptest::proptest! {
        #[test]
        fn bincode_round_trips(seq: u64, term: u64, entries: Vec<Vec<u8>>) {
            for v in [Envelope::Ping { seq }, Envelope::Data { term, entries: entries.clone() }] {
                let bytes = encode_bincode(&v).unwrap();
                proptest::prop_assert_eq!(decode_bincode::<Envelope>(&bytes).unwrap(), v);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = decode_bincode::<Envelope>(&bytes);
            let rt = rt();
            let _ = rt.block_on(read_frame(&mut bytes.as_slice(), MaxFrameLen::new(64)));
        }
    }
}
