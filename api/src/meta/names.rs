//! Name rules shared by every kind: RFC 1123 labels and subdomains, qualified names (label and
//! annotation keys, finalizers) and label values, with Kubernetes' exact messages.

use crate::field::{ErrorList, FieldError, FieldPath};

/// Longest RFC 1123 label.
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Longest RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Longest name part of a qualified name, and longest label value.
pub const QUALIFIED_NAME_MAX_LEN: usize = 63;
/// Longest label value.
pub const LABEL_VALUE_MAX_LEN: usize = 63;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case \
alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. \
'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
(e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' \
or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  \
or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
}

/// The problems with `s` as an RFC 1123 label (empty when it is one).
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LEN {
        out.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    if !is_label_shape(s) {
        out.push(DNS1123_LABEL_MSG.to_owned());
    }
    out
}

/// The problems with `s` as an RFC 1123 subdomain (empty when it is one).
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        out.push(max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if s.is_empty() || !s.split('.').all(is_label_shape) {
        out.push(DNS1123_SUBDOMAIN_MSG.to_owned());
    }
    out
}

fn max_len_msg(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter()
            .all(|c| is_alnum(*c) || matches!(*c, b'-' | b'_' | b'.'))
}

/// The problems with `s` as a qualified name (`[prefix/]name`), the form of label keys,
/// annotation keys and finalizers.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                out.push("prefix part must be non-empty".to_owned());
            } else {
                out.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            out.push(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', \
                 and must start and end with an alphanumeric character (e.g. 'MyName',  or \
                 'my.name',  or '123-abc', regex used for validation is \
                 '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain \
                 prefix and '/' (e.g. 'example.com/MyName')"
                    .to_owned(),
            );
            return out;
        }
    };
    if name.is_empty() {
        out.push("name part must be non-empty".to_owned());
    } else if name.len() > QUALIFIED_NAME_MAX_LEN {
        out.push(format!("name part {}", max_len_msg(QUALIFIED_NAME_MAX_LEN)));
    }
    if !name.is_empty() && !is_name_part(name) {
        out.push(QUALIFIED_NAME_MSG.to_owned());
    }
    out
}

/// The problems with `s` as a label value (which may be empty).
pub fn label_value(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LEN {
        out.push(max_len_msg(LABEL_VALUE_MAX_LEN));
    }
    if !s.is_empty() && !is_name_part(s) {
        out.push(LABEL_VALUE_MSG.to_owned());
    }
    out
}

/// Errors for a reference's `name`: Required when empty, else the subdomain rules.
pub fn validate_ref_name(name: &str, path: FieldPath) -> ErrorList {
    if name.is_empty() {
        return std::iter::once(FieldError::required(path, "")).collect();
    }
    validate_with(name, path, dns1123_subdomain)
}

/// Errors for a reference's `name` that must be a DNS label: Required when empty.
pub fn validate_ref_label_name(name: &str, path: FieldPath) -> ErrorList {
    if name.is_empty() {
        return std::iter::once(FieldError::required(path, "")).collect();
    }
    validate_with(name, path, dns1123_label)
}

/// One `Invalid` error per problem `rule` finds in `value`.
pub fn validate_with(value: &str, path: FieldPath, rule: fn(&str) -> Vec<String>) -> ErrorList {
    rule(value)
        .into_iter()
        .map(|msg| FieldError::invalid(path.clone(), value, msg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns1123_label("my-name").is_empty());
        assert!(dns1123_label("123-abc").is_empty());
        assert!(!dns1123_label("My-name").is_empty());
        assert!(!dns1123_label("-a").is_empty());
        assert!(!dns1123_label("a.b").is_empty());
        assert!(!dns1123_label(&"a".repeat(64)).is_empty());
        assert!(dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!dns1123_subdomain("a..b").is_empty());
        assert!(!dns1123_subdomain("").is_empty());
        assert!(!dns1123_subdomain(&"a".repeat(254)).is_empty());
    }

    #[test]
    fn qualified_names_and_values() {
        assert!(qualified_name("app").is_empty());
        assert!(qualified_name("topology.ironcore.dev/zone").is_empty());
        assert!(qualified_name("My_Name.x").is_empty());
        assert!(!qualified_name("/x").is_empty());
        assert!(!qualified_name("a/b/c").is_empty());
        assert!(!qualified_name("Bad.Prefix/x").is_empty());
        assert!(!qualified_name("-x").is_empty());
        assert!(label_value("").is_empty());
        assert!(label_value("web_1.x").is_empty());
        assert!(!label_value("has space").is_empty());
        assert!(!label_value(&"v".repeat(64)).is_empty());
    }
}
