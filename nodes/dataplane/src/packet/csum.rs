//! Internet checksum helpers: incremental updates (RFC 1624) for address and port rewrites,
//! so NAT never re-sums a whole payload.

/// Folds a 32-bit one's-complement sum into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    #[allow(clippy::cast_possible_truncation)] // folded into 16 bits just above
    let folded = sum as u16;
    folded
}

/// The checksum after replacing 16-bit word `old` by `new` in the covered data (RFC 1624 eq. 3).
pub(crate) fn update16(check: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    !fold(sum)
}

/// The checksum after replacing the bytes `old` by `new` (same even length).
pub(crate) fn update_bytes(check: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut sum = u32::from(!check);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(sum)
}

/// The one's-complement sum of `data`, not yet inverted (odd lengths padded with zero).
pub(crate) fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    while acc > 0xffff_ffff {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    #[allow(clippy::cast_possible_truncation)] // folded into 32 bits just above
    let acc32 = acc as u32;
    acc32
}

/// The finished checksum of data whose running sum is `s`.
pub(crate) fn finish(s: u32) -> u16 {
    !fold(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_update_matches_full_sum() {
        let mut data = [
            0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0, 0, 10, 0, 0, 1, 10, 0,
            0, 2,
        ];
        let c = finish(sum(&data, 0));
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(finish(sum(&data, 0)), 0);
        let old = [data[12], data[13], data[14], data[15]];
        let new = [192u8, 0, 2, 7];
        data[12..16].copy_from_slice(&new);
        let c2 = update_bytes(c, &old, &new);
        data[10..12].copy_from_slice(&c2.to_be_bytes());
        assert_eq!(finish(sum(&data, 0)), 0);
        let c3 = update16(c2, 0x4001, 0x3f01);
        data[8] = 0x3f;
        data[10..12].copy_from_slice(&c3.to_be_bytes());
        assert_eq!(finish(sum(&data, 0)), 0);
    }
}
