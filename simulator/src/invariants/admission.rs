//! Admission guards the store: an object admission refuses never reaches it, and every object
//! in it passes the schema's decoding and validation (DESIGN.md §2 step 2; `actors/src/api`).
//! Each write carries a unique token, so an invalid write's token in the agreed log proves it
//! got through.

use std::collections::BTreeSet;

use ferrocore_api::decode::object_from_value;
use ferrocore_consensus::EventType;

use super::Violation;
use crate::agreed::AgreedLog;
use crate::history::History;
use crate::workload::{spec_token, status_token};

const NAME: &str = "admission";

/// Tokens of invalid writes, and how far the log has been checked.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    ops_seen: usize,
    invalid: BTreeSet<String>,
    checked: u64,
}

impl Admission {
    pub(crate) fn check(
        &mut self,
        history: &History,
        agreed: &AgreedLog,
        out: &mut Vec<Violation>,
    ) {
        for op in history.since(self.ops_seen) {
            self.ops_seen += 1;
            if !op.valid
                && let Some(token) = op.token
            {
                self.invalid.insert(token);
            }
        }
        for entry in agreed.entries_after(self.checked) {
            self.checked += 1;
            if entry.kind == EventType::Deleted {
                continue;
            }
            let value = entry.object.value();
            for token in [spec_token(value), status_token(value)]
                .into_iter()
                .flatten()
            {
                if self.invalid.contains(token) {
                    out.push(Violation::new(
                        NAME,
                        format!(
                            "invalid write {token} reached the store as {} at revision {}",
                            entry.key, self.checked
                        ),
                    ));
                }
            }
            match object_from_value(value.clone()) {
                Ok(object) => {
                    let errors = object.validate();
                    if !errors.is_empty() {
                        out.push(Violation::new(
                            NAME,
                            format!("stored {} fails validation: {errors:?}", entry.key),
                        ));
                    }
                }
                Err(e) => out.push(Violation::new(
                    NAME,
                    format!("stored {} does not decode: {e}", entry.key),
                )),
            }
        }
    }
}
