//! Pool taints and object tolerations, with Kubernetes' matching rules.

use serde::{Deserialize, Serialize};

use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldPath};
use crate::meta::names::{qualified_name, validate_with};

string_enum! {
    /// What a taint does to objects that do not tolerate it.
    TaintEffect { NoSchedule => "NoSchedule", NoExecute => "NoExecute" }
}

string_enum! {
    /// How a toleration compares values.
    TolerationOperator { Equal => "Equal", Exists => "Exists" }
}

/// A taint on a pool.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Taint {
    /// The taint key.
    pub key: String,
    /// The taint value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The effect.
    pub effect: TaintEffect,
}

/// A toleration on an object.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct Toleration {
    /// The key; empty matches every key (with `Exists`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The operator; absent means `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    /// The value compared with `Equal`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The effect; absent matches every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.as_ref().is_some_and(|e| *e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match &self.operator {
            None | Some(TolerationOperator::Equal) => self.value == taint.value,
            Some(TolerationOperator::Exists) => true,
            Some(TolerationOperator::Unknown(_)) => false,
        }
    }
}

/// Whether `tolerations` tolerate every one of `taints`.
pub fn tolerates_all(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    taints
        .iter()
        .all(|t| tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// Validation of a pool's taints.
pub(crate) fn validate_taints(taints: &[Taint], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_with(&t.key, p.child("key"), qualified_name));
        errs.extend(validate_enum(
            Some(&t.effect),
            p.child("effect"),
            "must specify effect",
        ));
    }
    errs
}

/// Validation of an object's tolerations.
pub(crate) fn validate_tolerations(tolerations: &[Toleration], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        if !t.key.is_empty() {
            errs.extend(validate_with(&t.key, p.child("key"), qualified_name));
        }
        if let Some(op) = &t.operator {
            errs.extend(validate_enum(
                Some(op),
                p.child("operator"),
                "must specify operator",
            ));
        }
        if let Some(effect) = &t.effect {
            errs.extend(validate_enum(
                Some(effect),
                p.child("effect"),
                "must specify effect",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn upstream_matching_rules() {
        let t = taint("dedicated", "gpu", TaintEffect::NoSchedule);
        let equal = Toleration {
            key: "dedicated".into(),
            value: "gpu".into(),
            ..Default::default()
        };
        assert!(equal.tolerates(&t));
        let wrong_value = Toleration {
            value: "cpu".into(),
            ..equal.clone()
        };
        assert!(!wrong_value.tolerates(&t));
        let exists_all = Toleration {
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        };
        assert!(exists_all.tolerates(&t));
        let wrong_effect = Toleration {
            effect: Some(TaintEffect::NoExecute),
            ..equal
        };
        assert!(!wrong_effect.tolerates(&t));
        assert!(tolerates_all(&[], &[]));
        assert!(!tolerates_all(&[], &[t]));
    }
}
