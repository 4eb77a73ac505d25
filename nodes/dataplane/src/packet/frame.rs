//! A packet buffer view the pipeline edits in place: the frame is `buf[start..start + len]`,
//! with headroom before it (for encapsulation) and tailroom after it (for generated replies).
//!
//! Backends own the memory (a `Vec<u8>`, a DPDK mbuf's data room) and hand the pipeline this
//! view; after processing they read back `start` and `len`.

/// Headroom every backend leaves before a received frame: room for one outer Ethernet + IPv6
/// header (54 bytes) with margin, so encapsulation never copies the payload.
pub const HEADROOM: usize = 128;

/// Room for a frame plus headroom: a 1500-byte MTU frame with encapsulation, and the largest
/// reply the responders build (an ICMPv6 error quoting up to 1232 bytes).
pub const BUFFER_LEN: usize = 2048 + HEADROOM;

/// A mutable view of one frame inside a larger buffer.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

impl<'a> Frame<'a> {
    /// The frame `buf[start..start + len]`, clamped to the buffer.
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Self {
        let start = start.min(buf.len());
        let len = len.min(buf.len() - start);
        Self { buf, start, len }
    }

    /// Where the frame starts in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The frame's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frame's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame's bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Grows the frame by `n` bytes at the front; false (and unchanged) without headroom.
    pub fn push_front(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }

    /// Removes `n` bytes from the front; false (and unchanged) if the frame is shorter.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    /// Sets the length, keeping the start; false (and unchanged) past the buffer's end.
    pub fn set_len(&mut self, len: usize) -> bool {
        if self.start + len > self.buf.len() {
            return false;
        }
        self.len = len;
        true
    }

    /// Moves the frame so it starts at `start` with length `len` (for replies built from
    /// scratch); false (and unchanged) if it does not fit.
    pub fn reset(&mut self, start: usize, len: usize) -> bool {
        if start
            .checked_add(len)
            .is_none_or(|end| end > self.buf.len())
        {
            return false;
        }
        self.start = start;
        self.len = len;
        true
    }

    /// The whole buffer's capacity.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_shrinks_within_bounds() {
        let mut buf = vec![0u8; 64];
        let mut f = Frame::new(&mut buf, 16, 20);
        assert!(f.push_front(16));
        assert!(!f.push_front(1));
        assert_eq!(f.len(), 36);
        assert!(f.pull_front(36));
        assert!(!f.pull_front(1));
        assert!(f.set_len(28));
        assert!(!f.set_len(29));
        assert!(!f.reset(60, 10));
    }
}
