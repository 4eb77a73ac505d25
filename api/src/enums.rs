//! String enumerations as Kubernetes APIs use them: a closed set of spellings on the wire, but a
//! value outside the set still decodes (as `Unknown`) so validation can report it with the list
//! of supported values instead of a bare decoding error.

use crate::field::{ErrorList, FieldError, FieldPath};

/// An enumeration with fixed wire spellings.
pub trait StringEnum {
    /// Every supported spelling, in declaration order.
    const VALUES: &'static [&'static str];
    /// The wire spelling of this value.
    fn as_str(&self) -> &str;
    /// Whether this is one of [`Self::VALUES`].
    fn is_known(&self) -> bool;
}

/// Validation of an enum field: missing or empty → Required with `required_detail`; a spelling
/// outside the set → NotSupported listing the sorted supported values.
pub fn validate_enum<E: StringEnum>(
    value: Option<&E>,
    path: FieldPath,
    required_detail: &str,
) -> ErrorList {
    let mut errs = ErrorList::new();
    match value {
        None => errs.push(FieldError::required(path, required_detail)),
        Some(v) if v.as_str().is_empty() => errs.push(FieldError::required(path, required_detail)),
        Some(v) if !v.is_known() => {
            let mut valid: Vec<&str> = E::VALUES.to_vec();
            valid.sort_unstable();
            errs.push(FieldError::not_supported(path, v.as_str(), &valid));
        }
        Some(_) => {}
    }
    errs
}

/// Declares a string enumeration with its wire spellings and an `Unknown(String)` catch-all.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant,)+
            /// A spelling outside the enumeration, kept so validation can name it.
            Unknown(String),
        }

        impl $crate::enums::StringEnum for $name {
            const VALUES: &'static [&'static str] = &[$($text),+];

            fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(s) => s,
                }
            }

            fn is_known(&self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Unknown(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                $crate::enums::StringEnum::as_str(&v).to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::enums::StringEnum::as_str(self))
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;

    string_enum! {
        /// Test enum.
        Color { Red => "Red", Blue => "Blue" }
    }

    #[test]
    fn unknown_spellings_survive_decoding_and_fail_validation() {
        let c: Color = serde_json::from_str("\"Green\"").unwrap();
        assert_eq!(c, Color::Unknown("Green".into()));
        let errs = validate_enum(Some(&c), FieldPath::new("color"), "must specify color");
        assert_eq!(
            errs.to_string(),
            "color: Unsupported value: \"Green\": supported values: \"Blue\", \"Red\""
        );
        let errs = validate_enum::<Color>(None, FieldPath::new("color"), "must specify color");
        assert_eq!(
            errs.to_string(),
            "color: Required value: must specify color"
        );
        assert_eq!(serde_json::to_string(&Color::Red).unwrap(), "\"Red\"");
    }
}
