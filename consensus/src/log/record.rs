//! Record framing shared by log segments, the hard-state file and snapshots:
//!
//! ```text
//! [payload length: u32 LE][crc32c(payload): u32 LE][crc32c(first 8 bytes): u32 LE][payload]
//! ```
//!
//! The header has its own checksum so that a damaged length is caught as corruption instead of
//! being read as a record that runs past the end of the file (which would look like a torn tail).

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 12;

/// Largest payload accepted when reading: a damaged header cannot make us allocate more. A log
/// entry is one command (one object); 64 MiB is far above any object the API admits.
pub(crate) const RECORD_LEN_MAX: usize = 64 << 20;

/// Appends one framed record holding `payload` to `out`.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("records are far below 4 GiB");
    assert!(
        payload.len() <= RECORD_LEN_MAX,
        "record of {} bytes is too large",
        payload.len()
    );
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

/// What is found at an offset of a file.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Found<'a> {
    /// A whole, intact record; the next one starts at `next`.
    Record {
        /// The payload.
        payload: &'a [u8],
        /// Offset of the byte after the record.
        next: usize,
    },
    /// The file ends inside a record (or only zero bytes follow): the signature of a write that
    /// a crash cut short.
    Incomplete,
    /// Bytes that cannot be a record: damage.
    Corrupt(&'static str),
}

/// Reads the record at `offset` of `bytes` (`offset < bytes.len()`).
pub(crate) fn decode_at(bytes: &[u8], offset: usize) -> Found<'_> {
    let rest = &bytes[offset..];
    match decode(rest, offset) {
        Found::Corrupt(_) if rest.iter().all(|b| *b == 0) => Found::Incomplete,
        found => found,
    }
}

fn decode(rest: &[u8], offset: usize) -> Found<'_> {
    if rest.len() < HEADER_LEN {
        return Found::Incomplete;
    }
    let word = |at: usize| u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
    if crc32c::crc32c(&rest[0..8]) != word(8) {
        return Found::Corrupt("record header checksum mismatch");
    }
    let len = usize::try_from(word(0)).unwrap_or(usize::MAX);
    if len > RECORD_LEN_MAX {
        return Found::Corrupt("record length out of range");
    }
    let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
        return Found::Incomplete;
    };
    if crc32c::crc32c(payload) != word(4) {
        return Found::Corrupt("record payload checksum mismatch");
    }
    Found::Record {
        payload,
        next: offset + HEADER_LEN + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_classes() {
        let mut buf = Vec::new();
        encode(b"first", &mut buf);
        encode(b"second", &mut buf);
        let Found::Record { payload, next } = decode_at(&buf, 0) else {
            panic!("first record unreadable");
        };
        assert_eq!(payload, b"first");
        assert!(matches!(
            decode_at(&buf, next),
            Found::Record {
                payload: b"second",
                ..
            }
        ));
        for cut in [next + 3, next + HEADER_LEN + 2] {
            assert_eq!(
                decode_at(&buf[..cut], next),
                Found::Incomplete,
                "cut at {cut}"
            );
        }
        let mut zeros = buf.clone();
        zeros[next..].fill(0);
        assert_eq!(decode_at(&zeros, next), Found::Incomplete);
        let mut flipped = buf.clone();
        flipped[HEADER_LEN + 1] ^= 1;
        assert!(matches!(decode_at(&flipped, 0), Found::Corrupt(_)));
        let mut bad_len = buf;
        bad_len[0] ^= 0x40;
        assert!(matches!(decode_at(&bad_len, 0), Found::Corrupt(_)));
    }
}
