//! Kubernetes label selectors (`matchLabels` and `matchExpressions`): matching and validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::meta::names::{label_value, qualified_name, validate_with};

/// Labels of an object, or the equality part of a selector.
pub type Labels = BTreeMap<String, String>;

string_enum! {
    /// A set-based selector operator.
    SelectorOperator { In => "In", NotIn => "NotIn", Exists => "Exists", DoesNotExist => "DoesNotExist" }
}

/// One set-based requirement: `key In (a, b)`, `key Exists`, ...
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: SelectorOperator,
    /// The values for In and NotIn; empty for Exists and DoesNotExist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A label selector. An empty selector matches everything.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: Labels,
    /// Set-based requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelectorRequirement {
    /// Whether `labels` satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
            SelectorOperator::Unknown(_) => false,
        }
    }
}

impl LabelSelector {
    /// Whether `labels` satisfy every part of the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Validation as Kubernetes' `ValidateLabelSelector`.
    pub fn validate(&self, path: &FieldPath) -> ErrorList {
        let mut errs = validate_labels(&self.match_labels, &path.child("matchLabels"));
        for (i, req) in self.match_expressions.iter().enumerate() {
            let p = path.child("matchExpressions").index(i);
            errs.extend(validate_with(&req.key, p.child("key"), qualified_name));
            let op = p.child("operator");
            errs.extend(validate_enum(
                Some(&req.operator),
                op,
                "must specify operator",
            ));
            let values = p.child("values");
            match req.operator {
                SelectorOperator::In | SelectorOperator::NotIn if req.values.is_empty() => {
                    errs.push(FieldError::required(
                        values,
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
                SelectorOperator::Exists | SelectorOperator::DoesNotExist
                    if !req.values.is_empty() =>
                {
                    errs.push(FieldError::forbidden(
                        values,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
                _ => {
                    for (j, v) in req.values.iter().enumerate() {
                        errs.extend(validate_with(v, values.index(j), label_value));
                    }
                }
            }
        }
        errs
    }
}

/// Validation of a label map (keys qualified names, values label values).
pub(crate) fn validate_labels(labels: &Labels, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (k, v) in labels {
        errs.extend(validate_with(k, path.clone(), qualified_name));
        errs.extend(validate_with(v, path.clone(), label_value));
    }
    errs
}

/// Whether an equality-only selector (`machinePoolSelector`) matches `labels`.
pub fn matches_map(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn matching() {
        let sel: LabelSelector = serde_json::from_str(
            r#"{"matchLabels":{"app":"web"},"matchExpressions":[
                {"key":"tier","operator":"In","values":["a","b"]},
                {"key":"legacy","operator":"DoesNotExist"}]}"#,
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "c")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a"), ("legacy", "")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn validation() {
        let sel: LabelSelector = serde_json::from_str(
            r#"{"matchExpressions":[{"key":"x","operator":"In"},
                {"key":"y","operator":"Exists","values":["v"]},
                {"key":"z","operator":"Near","values":["v"]}]}"#,
        )
        .unwrap();
        let errs = sel.validate(&FieldPath::new("sel"));
        let text = errs.to_string();
        assert!(
            text.contains("sel.matchExpressions[0].values: Required value"),
            "{text}"
        );
        assert!(
            text.contains("sel.matchExpressions[1].values: Forbidden"),
            "{text}"
        );
        assert!(
            text.contains("sel.matchExpressions[2].operator: Unsupported value: \"Near\""),
            "{text}"
        );
    }
}
