//! Listing one kind: namespace filter, label selector, and pages with a continue token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ObjectStore;
use super::meta;
use super::selector::Selector;
use super::types::{JsonObject, ObjectKey, Revision, StoreError};

/// Longest continue token accepted: a bound on decoding work for untrusted input.
const CONTINUE_LEN_MAX: usize = 2048;

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    /// Only objects whose labels match.
    pub selector: Selector,
    /// At most this many items (`None` or 0: no limit).
    pub limit: Option<usize>,
    /// Resume after the page that returned this token.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// The objects, in key order (namespace, then name).
    pub items: Vec<JsonObject>,
    /// The store's revision when the page was read.
    pub revision: Revision,
    /// Set when more items may follow: pass it back to get them.
    ///
    /// Pages are not a consistent snapshot across calls (the store keeps no old versions):
    /// objects changed between pages show their newest state, as a watch from `revision` would.
    pub continue_token: Option<String>,
}

impl ObjectStore {
    /// Lists objects of `(group, kind)`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed continue token.
    pub fn list(
        &self,
        group: &str,
        kind: &str,
        options: &ListOptions,
    ) -> Result<ListPage, StoreError> {
        let namespace = options.namespace.as_deref().unwrap_or("");
        let start = match &options.continue_token {
            Some(token) => decode_token(token)?,
            None => ObjectKey::new(group, kind, namespace, ""),
        };
        let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let in_scope = |k: &ObjectKey| {
            k.group == group
                && k.kind == kind
                && options
                    .namespace
                    .as_ref()
                    .is_none_or(|ns| &k.namespace == ns)
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        let range = self
            .objects
            .range(start.clone()..)
            .filter(|(k, _)| options.continue_token.is_none() || **k != start)
            .take_while(|(k, _)| in_scope(k));
        for (key, object) in range {
            if !options.selector.matches(meta::labels(object.value())) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(object.clone());
            last = Some(key);
        }
        let continue_token = if more { last.map(encode_token) } else { None };
        Ok(ListPage {
            items,
            revision: self.revision,
            continue_token,
        })
    }
}

fn encode_token(key: &ObjectKey) -> String {
    let parts = [&key.group, &key.kind, &key.namespace, &key.name];
    let json = serde_json::to_vec(&parts).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_token(token: &str) -> Result<ObjectKey, StoreError> {
    let bad = || StoreError::invalid("malformed continue token");
    if token.len() > CONTINUE_LEN_MAX {
        return Err(bad());
    }
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let [group, kind, namespace, name]: [String; 4] =
        serde_json::from_slice(&json).map_err(|_| bad())?;
    Ok(ObjectKey {
        group,
        kind,
        namespace,
        name,
    })
}
