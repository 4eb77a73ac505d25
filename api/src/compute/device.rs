//! Volume device names (`oda`, `odb`, ... `odzz`) and their automatic assignment, as IronCore's
//! `MachineVolumeDevices` admission does it.

/// The prefix of automatically assigned device names.
pub const DEVICE_PREFIX: &str = "od";
/// Highest device index: 26 one-letter and 26*26 two-letter suffixes.
pub const MAX_DEVICE_INDEX: usize = 26 * 26 + 26 - 1;

const LETTERS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// The device name with `prefix` (two lower-case letters) and index `idx` (0 → `a`,
/// 26 → `aa`, ...). `None` when `idx` is past [`MAX_DEVICE_INDEX`].
pub fn device_name(prefix: &str, idx: usize) -> Option<String> {
    if idx > MAX_DEVICE_INDEX {
        return None;
    }
    let suffix = if idx < 26 {
        vec![LETTERS[idx]]
    } else {
        vec![LETTERS[idx / 26 - 1], LETTERS[idx % 26]]
    };
    Some(format!("{prefix}{}", String::from_utf8_lossy(&suffix)))
}

/// Why a device name is not one.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0} does not match device name regex ^([a-z]{{2}})([a-z][a-z]?)$")]
pub struct DeviceNameError(String);

/// Splits a device name into prefix and index.
///
/// # Errors
/// When the name is not two lower-case letters followed by one or two more.
pub fn parse_device_name(name: &str) -> Result<(&str, usize), DeviceNameError> {
    let b = name.as_bytes();
    if !(3..=4).contains(&b.len()) || !b.iter().all(u8::is_ascii_lowercase) {
        return Err(DeviceNameError(name.to_owned()));
    }
    let letter = |c: u8| usize::from(c - b'a');
    let idx = if b.len() == 3 {
        letter(b[2])
    } else {
        (letter(b[2]) + 1) * 26 + letter(b[3])
    };
    Ok((&name[..2], idx))
}

/// Hands out free device names for one prefix.
#[derive(Debug, Default)]
pub struct DeviceNamer {
    taken: std::collections::BTreeSet<(String, usize)>,
}

impl DeviceNamer {
    /// Marks `name` as used.
    ///
    /// # Errors
    /// When the name is malformed or already used.
    pub fn observe(&mut self, name: &str) -> Result<(), String> {
        let (prefix, idx) = parse_device_name(name).map_err(|e| e.to_string())?;
        if !self.taken.insert((prefix.to_owned(), idx)) {
            return Err(format!("device {name} is used twice"));
        }
        Ok(())
    }

    /// The lowest free name with `prefix`, now marked used.
    pub fn generate(&mut self, prefix: &str) -> Option<String> {
        let idx =
            (0..=MAX_DEVICE_INDEX).find(|i| !self.taken.contains(&(prefix.to_owned(), *i)))?;
        self.taken.insert((prefix.to_owned(), idx));
        device_name(prefix, idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_round_trip() {
        for idx in 0..=MAX_DEVICE_INDEX {
            let name = device_name("od", idx).unwrap();
            assert_eq!(parse_device_name(&name).unwrap(), ("od", idx));
        }
        assert_eq!(device_name("od", 0).unwrap(), "oda");
        assert_eq!(device_name("od", 26).unwrap(), "odaa");
        assert_eq!(device_name("od", MAX_DEVICE_INDEX).unwrap(), "odzz");
        assert!(device_name("od", MAX_DEVICE_INDEX + 1).is_none());
        assert!(parse_device_name("sda1").is_err());
        assert!(parse_device_name("OD").is_err());
    }

    #[test]
    fn namer_skips_taken_names() {
        let mut n = DeviceNamer::default();
        n.observe("oda").unwrap();
        assert!(n.observe("oda").is_err());
        assert_eq!(n.generate("od").unwrap(), "odb");
        assert_eq!(n.generate("od").unwrap(), "odc");
    }
}
