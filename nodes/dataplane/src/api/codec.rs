//! Frames on the API socket: a 4-byte big-endian length, then a bincode 2 (serde, standard
//! configuration) encoding of one message.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// Largest frame accepted: far above any real message (a full route listing of 100,000 routes
/// is about 5 MB, so listings are the limit), and a cap on what a peer can make us allocate.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The socket failed or closed.
    #[error("API socket I/O failed")]
    Io(#[from] io::Error),
    /// The frame is longer than [`MAX_FRAME`].
    #[error("API frame of {0} bytes exceeds the limit")]
    TooLong(usize),
    /// The bytes are not a valid message.
    #[error("API frame does not decode")]
    Decode(#[from] bincode::error::DecodeError),
    /// The message could not be encoded.
    #[error("API message does not encode")]
    Encode(#[from] bincode::error::EncodeError),
}

/// Writes one message as a frame.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), CodecError> {
    let body = bincode::serde::encode_to_vec(msg, bincode::config::standard())?;
    if body.len() > MAX_FRAME {
        return Err(CodecError::TooLong(body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|_| CodecError::TooLong(body.len()))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame and decodes its message. `Ok(None)` on a clean end of stream.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> Result<Option<T>, CodecError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(CodecError::TooLong(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    // The limit bounds what a length prefix inside the body can make the decoder allocate
    // (garbage claiming a 2^60-byte string must be an error, not an abort).
    let config = bincode::config::standard().with_limit::<MAX_FRAME>();
    let (msg, _) = bincode::serde::decode_from_slice(&body, config)?;
    Ok(Some(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::proto::Request;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::ListInterfaces).unwrap();
        let back: Option<Request> = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(back, Some(Request::ListInterfaces));
        let huge = (u32::MAX).to_be_bytes();
        assert!(matches!(
            read_frame::<Request>(&mut &huge[..]),
            Err(CodecError::TooLong(_))
        ));
        assert!(matches!(read_frame::<Request>(&mut &[][..]), Ok(None)));
    }

    /// A body whose string length prefix claims about 2^60 bytes (the proptest once drew one):
    /// a decode error, not an allocation failure that aborts the process.
    #[test]
    fn a_huge_length_prefix_inside_the_body_is_an_error() {
        let mut body = Vec::new();
        write_frame(&mut body, &Request::ListInterfaces).unwrap();
        // Any variant index that carries a string, then a varint u64 length of 2^60.
        for variant in 0u8..32 {
            let inner = [variant, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0x10];
            let mut framed = u32::try_from(inner.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&inner);
            let _ = read_frame::<Request>(&mut framed.as_slice());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut framed = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = read_frame::<Request>(&mut framed.as_slice());
        }
    }
}
