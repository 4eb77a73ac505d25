//! Label selectors in the Kubernetes string form: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::types::StoreError;

/// Longest selector string accepted: a bound on parsing work for untrusted input.
pub const SELECTOR_LEN_MAX: usize = 4096;

/// One requirement of a selector.
#[derive(Clone, Debug, Eq, PartialEq)]
enum Requirement {
    Equals(String, String),
    Exists(String),
    In(String, BTreeSet<String>),
    NotEquals(String, String),
    NotExists(String),
    NotIn(String, BTreeSet<String>),
}

/// A parsed label selector: every requirement must hold (an empty selector matches everything).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the string form.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if text.len() > SELECTOR_LEN_MAX {
            return Err(StoreError::invalid("label selector too long"));
        }
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(StoreError::invalid("empty requirement in label selector"));
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self { requirements })
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, StoreError> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0u32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err(StoreError::invalid("nested parentheses in label selector")),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(StoreError::invalid("unbalanced ')' in label selector")),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(StoreError::invalid("unclosed '(' in label selector"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, StoreError> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(label_key(key.trim())?));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            label_key(key.trim())?,
            label_value(value.trim())?,
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(
            label_key(key.trim())?,
            label_value(value.trim())?,
        ));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = label_key(words.next().unwrap_or_default())?;
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Requirement::Exists(key));
    };
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(key, value_set(set)?));
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok(Requirement::In(key, value_set(set)?));
    }
    Err(StoreError::invalid(format!(
        "cannot parse label requirement {part:?}"
    )))
}

fn value_set(text: &str) -> Result<BTreeSet<String>, StoreError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| StoreError::invalid("a set must be written (a,b,...)"))?;
    inner.split(',').map(|v| label_value(v.trim())).collect()
}

fn label_key(key: &str) -> Result<String, StoreError> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(StoreError::invalid(format!("invalid label key {key:?}")))
    }
}

fn label_value(value: &str) -> Result<String, StoreError> {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(StoreError::invalid(format!(
            "invalid label value {value:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_operator_selects_what_it_should() {
        let l = labels(json!({"a": "b", "c": "x", "e": "y"}));
        let yes = [
            "",
            "a=b",
            "a==b",
            "c!=d",
            "e in (x,y)",
            "e notin (z)",
            "!f",
            "a",
            "a=b,c!=d,e in (x, y),!f",
            "nokey notin (q)",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(Some(&l)), "{s:?}");
        }
        let no = [
            "a=c",
            "c!=x",
            "e in (q)",
            "e notin (y)",
            "!a",
            "zz",
            "a=b,!c",
        ];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(Some(&l)), "{s:?}");
        }
        assert!(Selector::parse("a!=b").unwrap().matches(None));
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for s in [
            "a in (b",
            "a in b",
            "(a)",
            "a=b,,c",
            "a b c",
            "a=(",
            "=b",
            "a in ((b))",
        ] {
            assert!(Selector::parse(s).is_err(), "{s:?}");
        }
        assert!(Selector::parse(&"a".repeat(SELECTOR_LEN_MAX + 1)).is_err());
    }
}
