//! Formatting the leader's clock and random bits into what objects carry: RFC 3339 timestamps
//! and RFC 4122 version-4 uids.

use ferrocore_runtime::WallTime;

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, as Kubernetes writes timestamps).
pub(crate) fn rfc3339(time: WallTime) -> String {
    let secs = time.as_unix_seconds();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A version-4 UUID from 16 random bytes.
pub(crate) fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(WallTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = WallTime::from_unix_nanos(1_709_210_096_000_000_000);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
        assert_eq!(
            rfc3339(WallTime::from_unix_nanos(-1_000_000_000)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(&u[19..20], "b");
    }
}
