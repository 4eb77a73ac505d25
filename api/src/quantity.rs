//! Kubernetes resource quantities (`4Gi`, `500m`, `1.5`, `1e3`) with exact arithmetic and the
//! canonical printing Kubernetes uses (`1.5Gi` prints as `1536Mi`, `1.5` as `1500m`).
//!
//! A quantity is held as an exact count of nano-units in an `i128`, so every value from 1n up to
//! about 10^29 is represented without rounding; finer precision rounds up, as Kubernetes rounds.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Longest accepted quantity text; longer input is certainly not a sensible quantity.
const MAX_TEXT_LEN: usize = 64;
/// Most significant digits accepted (an `i128` holds 38 decimal digits).
const MAX_DIGITS: usize = 36;

/// How a quantity prints: binary (`Ki`..`Ei`), decimal (`m`, `k`, `M`..) or exponent (`1e3`).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum QuantityFormat {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySi,
    /// Powers of 1000: `n`, `u`, `m`, ``, `k`, `M`, `G`, `T`, `P`, `E`.
    #[default]
    DecimalSi,
    /// Powers of ten written as `e<n>`.
    DecimalExponent,
}

/// A resource quantity. Equality and ordering compare values only (`1Gi == 1024Mi`), as
/// Kubernetes' semantic equality does; the format only affects printing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

/// Text that is not a quantity, or a quantity too large to hold.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not follow `<number><suffix>`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Syntax,
    /// The value does not fit.
    #[error("quantity is too large")]
    TooLarge,
}

impl Quantity {
    /// Zero.
    pub const ZERO: Self = Self {
        nanos: 0,
        format: QuantityFormat::DecimalSi,
    };

    /// `n` units, printed in decimal SI.
    pub const fn from_units(n: i64) -> Self {
        Self {
            nanos: n as i128 * NANOS_PER_UNIT,
            format: QuantityFormat::DecimalSi,
        }
    }

    /// `n` bytes, printed in binary SI (`Ki`, `Mi`, ...).
    pub const fn from_bytes(n: i64) -> Self {
        Self {
            nanos: n as i128 * NANOS_PER_UNIT,
            format: QuantityFormat::BinarySi,
        }
    }

    /// `n` thousandths of a unit (CPU millicores).
    pub const fn from_milli(n: i64) -> Self {
        Self {
            nanos: n as i128 * 1_000_000,
            format: QuantityFormat::DecimalSi,
        }
    }

    /// The print format.
    pub const fn format(self) -> QuantityFormat {
        self.format
    }

    /// Whether the value is zero.
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// Whether the value is below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The value in whole units, rounded up (as Kubernetes' `Value()`), saturating.
    pub fn value(self) -> i64 {
        let units = self.nanos.div_euclid(NANOS_PER_UNIT)
            + i128::from(self.nanos.rem_euclid(NANOS_PER_UNIT) != 0);
        i64::try_from(units).unwrap_or(if units < 0 { i64::MIN } else { i64::MAX })
    }

    /// The value in thousandths, rounded up, saturating.
    pub fn milli_value(self) -> i64 {
        let m =
            self.nanos.div_euclid(1_000_000) + i128::from(self.nanos.rem_euclid(1_000_000) != 0);
        i64::try_from(m).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
    }

    /// The exact value in nano-units.
    pub const fn nanos(self) -> i128 {
        self.nanos
    }

    /// The sum, or `None` on overflow. The format of `self` is kept.
    pub fn checked_add(self, rhs: Self) -> Option<Self> {
        Some(Self {
            nanos: self.nanos.checked_add(rhs.nanos)?,
            format: self.format,
        })
    }

    /// The difference, or `None` on overflow. The format of `self` is kept.
    pub fn checked_sub(self, rhs: Self) -> Option<Self> {
        Some(Self {
            nanos: self.nanos.checked_sub(rhs.nanos)?,
            format: self.format,
        })
    }

    /// The product with a count, or `None` on overflow.
    pub fn checked_mul(self, n: i64) -> Option<Self> {
        Some(Self {
            nanos: self.nanos.checked_mul(i128::from(n))?,
            format: self.format,
        })
    }
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

/// The parts of `<sign><digits>[.<digits>]<suffix>`.
struct Parsed {
    negative: bool,
    digits: i128,
    /// Decimal exponent to apply to `digits` (suffix exponent minus fraction length).
    exp10: i32,
    /// Binary exponent (0, 10, 20, ... 60).
    exp2: u32,
    format: QuantityFormat,
}

fn split_number(s: &str) -> Result<(bool, &str, &str), QuantityError> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(QuantityError::Syntax);
    }
    Ok((negative, number, suffix))
}

fn parse_suffix(suffix: &str) -> Result<(i32, u32, QuantityFormat), QuantityError> {
    use QuantityFormat::{BinarySi, DecimalExponent, DecimalSi};
    let decimal = |e| Ok((e, 0, DecimalSi));
    let binary = |p| Ok((0, p, BinarySi));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or(QuantityError::Syntax)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Syntax);
            }
            let e: i32 = exp.parse().map_err(|_| QuantityError::TooLarge)?;
            Ok((e, 0, DecimalExponent))
        }
    }
}

fn parse_parts(s: &str) -> Result<Parsed, QuantityError> {
    if s.len() > MAX_TEXT_LEN {
        return Err(QuantityError::TooLarge);
    }
    let (negative, number, suffix) = split_number(s)?;
    let (exp, exp2, format) = parse_suffix(suffix)?;
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // Trailing fraction zeros and leading zeros carry no value.
    let frac_part = frac_part.trim_end_matches('0');
    let all: String = format!("{int_part}{frac_part}");
    let significant = all.trim_start_matches('0');
    if significant.len() > MAX_DIGITS {
        return Err(QuantityError::TooLarge);
    }
    let digits: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| QuantityError::Syntax)?
    };
    let frac_len = i32::try_from(frac_part.len()).map_err(|_| QuantityError::TooLarge)?;
    Ok(Parsed {
        negative,
        digits,
        exp10: exp.checked_sub(frac_len).ok_or(QuantityError::TooLarge)?,
        exp2,
        format,
    })
}

fn to_nanos(p: &Parsed) -> Result<i128, QuantityError> {
    let mut magnitude = p
        .digits
        .checked_mul(1i128 << p.exp2)
        .ok_or(QuantityError::TooLarge)?;
    let scale = p.exp10 + 9;
    if magnitude != 0 {
        if scale >= 0 {
            let factor = u32::try_from(scale)
                .ok()
                .and_then(pow10)
                .ok_or(QuantityError::TooLarge)?;
            magnitude = magnitude
                .checked_mul(factor)
                .ok_or(QuantityError::TooLarge)?;
        } else {
            // Below nano precision: round away from zero, as Kubernetes does.
            let divisor = u32::try_from(-scale).ok().and_then(pow10);
            magnitude = match divisor {
                Some(d) => magnitude / d + i128::from(magnitude % d != 0),
                None => 1,
            };
        }
    }
    Ok(if p.negative { -magnitude } else { magnitude })
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = parse_parts(s)?;
        Ok(Self {
            nanos: to_nanos(&parsed)?,
            format: parsed.format,
        })
    }
}

/// `(mantissa, exponent)` with the exponent a multiple of 3 in -9..=18, as large as keeps the
/// mantissa whole.
fn decimal_canonical(nanos: i128) -> (i128, i32) {
    let mut mantissa = nanos;
    let mut exp = -9;
    while exp < 18 && mantissa % 1000 == 0 {
        mantissa /= 1000;
        exp += 3;
    }
    (mantissa, exp)
}

fn decimal_suffix(exp: i32) -> &'static str {
    match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => "",
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let whole = self.nanos % NANOS_PER_UNIT == 0;
        let units = self.nanos / NANOS_PER_UNIT;
        match self.format {
            QuantityFormat::BinarySi if whole && units.abs() >= 1024 => {
                let mut mantissa = units;
                let mut i = 0;
                while i < 6 && mantissa % 1024 == 0 {
                    mantissa /= 1024;
                    i += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i];
                write!(f, "{mantissa}{suffix}")
            }
            QuantityFormat::DecimalExponent => {
                let (mantissa, exp) = decimal_canonical(self.nanos);
                if exp == 0 {
                    write!(f, "{mantissa}")
                } else {
                    write!(f, "{mantissa}e{exp}")
                }
            }
            QuantityFormat::BinarySi | QuantityFormat::DecimalSi => {
                let (mantissa, exp) = decimal_canonical(self.nanos);
                write!(f, "{mantissa}{}", decimal_suffix(exp))
            }
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as \"4Gi\", \"500m\" or 2")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        v.parse()
            .map_err(|e: QuantityError| E::custom(format!("{v:?}: {e}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom("a quantity must be a finite number"));
        }
        self.visit_str(&v.to_string())
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        s.parse::<Quantity>().unwrap().to_string()
    }

    #[test]
    fn canonical_forms_match_kubernetes() {
        let cases = [
            ("4Gi", "4Gi"),
            ("1.5Gi", "1536Mi"),
            ("1024", "1024"),
            ("1024Ki", "1Mi"),
            ("0.5Ki", "512"),
            ("1.5", "1500m"),
            ("500m", "500m"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("15000", "15k"),
            ("0.1", "100m"),
            ("100Mi", "100Mi"),
            ("10Ti", "10Ti"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1500e-3", "1500e-3"),
            ("-4Gi", "-4Gi"),
            ("0", "0"),
            ("0Gi", "0"),
            ("+5", "5"),
            ("1n", "1n"),
            ("0.0000000001", "1n"),
            ("12.30", "12300m"),
            ("16Gi", "16Gi"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn values_are_exact() {
        let q: Quantity = "1.5Gi".parse().unwrap();
        assert_eq!(q.value(), 1_610_612_736);
        assert_eq!(
            "1Gi".parse::<Quantity>().unwrap(),
            "1024Mi".parse().unwrap()
        );
        assert_eq!("500m".parse::<Quantity>().unwrap().milli_value(), 500);
        assert_eq!("500m".parse::<Quantity>().unwrap().value(), 1);
        let sum = "1Gi"
            .parse::<Quantity>()
            .unwrap()
            .checked_add("512Mi".parse().unwrap());
        assert_eq!(sum.unwrap().to_string(), "1536Mi");
    }

    #[test]
    fn rejects_junk_and_overflow() {
        for bad in [
            "", ".", "1..2", "Gi", "1Gb", "1e", "1ee3", "abc", "1 Gi", "--1", "1.2.3",
        ] {
            assert_eq!(
                bad.parse::<Quantity>(),
                Err(QuantityError::Syntax),
                "{bad:?}"
            );
        }
        assert_eq!("1e40".parse::<Quantity>(), Err(QuantityError::TooLarge));
        assert_eq!(
            "99999999999999999999Ei".parse::<Quantity>(),
            Err(QuantityError::TooLarge)
        );
        assert!("1e99999999999".parse::<Quantity>().is_err());
        assert!("9".repeat(100).parse::<Quantity>().is_err());
    }

    #[test]
    fn json_numbers_are_accepted() {
        let q: Quantity = serde_json::from_str("4").unwrap();
        assert_eq!(q.to_string(), "4");
        let q: Quantity = serde_json::from_str("1.5").unwrap();
        assert_eq!(q.to_string(), "1500m");
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"1500m\"");
    }
}
