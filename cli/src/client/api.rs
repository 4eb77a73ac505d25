//! Typed wrappers over the API's JSON-RPC methods (docs/rpc.md "Methods"). Objects stay JSON
//! values here so that every field the server sends (status included) reaches the output.

use ferrocore_api::Kind;
use ferrocore_runtime::ClientSubscription;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::session::Session;

/// Items asked for per `object.list` page: big enough that small clusters need one round trip,
/// small enough that one reply stays far below the 64 MiB response frame limit.
pub(crate) const LIST_PAGE: u32 = 500;
/// Most pages one list follows: a bound against a server whose `continue` never ends
/// (10,000 × 500 objects is far beyond any store this CLI talks to).
const MAX_PAGES: usize = 10_000;

/// Names one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectRef {
    /// The kind.
    pub(crate) kind: Kind,
    /// The namespace (empty for cluster-scoped kinds).
    pub(crate) namespace: String,
    /// The name.
    pub(crate) name: String,
}

impl ObjectRef {
    /// A reference; the namespace is dropped for cluster-scoped kinds.
    pub(crate) fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: if kind.namespaced() {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    fn params(&self) -> Value {
        let mut p = json!({"kind": self.kind.name(), "name": self.name});
        if !self.namespace.is_empty() {
            p["namespace"] = json!(self.namespace);
        }
        p
    }
}

/// A complete list.
#[derive(Debug)]
pub(crate) struct List {
    /// Every item, ordered by namespace, then name.
    pub(crate) items: Vec<Value>,
    /// The store revision of the first page: watch from here to follow changes.
    pub(crate) resource_version: String,
}

#[derive(Deserialize)]
struct ListPage {
    items: Vec<Value>,
    #[serde(rename = "resourceVersion", default)]
    resource_version: String,
    #[serde(default, rename = "continue")]
    cont: Option<String>,
}

/// The result of a delete.
#[derive(Debug, Deserialize)]
pub(crate) struct Deleted {
    /// The object (with `deletionTimestamp` when it stays for its finalizers).
    pub(crate) object: Value,
    /// Whether it is gone.
    pub(crate) removed: bool,
}

/// What to list or watch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selection {
    /// The kind (`None` = every kind; watch only).
    pub(crate) kind: Option<Kind>,
    /// The namespace (`None` = all namespaces).
    pub(crate) namespace: Option<String>,
    /// A label selector (`a=b,c!=d,e in (x,y),!f`).
    pub(crate) selector: Option<String>,
}

impl Selection {
    fn params(&self) -> Value {
        let mut p = json!({});
        if let Some(k) = self.kind {
            p["kind"] = json!(k.name());
        }
        if let Some(ns) = self
            .namespace
            .as_ref()
            .filter(|_| self.kind.is_none_or(Kind::namespaced))
        {
            p["namespace"] = json!(ns);
        }
        if let Some(s) = &self.selector {
            p["labelSelector"] = json!(s);
        }
        p
    }
}

/// The API, over one failover session.
#[derive(Debug)]
pub(crate) struct Api {
    session: Session,
}

impl Api {
    /// Wraps a session.
    pub(crate) fn new(session: Session) -> Self {
        Self { session }
    }

    /// The session (context, current server).
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    async fn object_call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        let mut reply = self.session.call(method, params).await?;
        reply
            .get_mut("object")
            .map(Value::take)
            .ok_or_else(|| ApiError::Protocol(format!("{method} reply has no object")))
    }

    /// `object.create`: the stored object.
    pub(crate) async fn create(&self, object: &Value) -> Result<Value, ApiError> {
        self.object_call("object.create", json!({ "object": object }))
            .await
    }

    /// `object.update`: the stored object.
    pub(crate) async fn update(&self, object: &Value) -> Result<Value, ApiError> {
        self.object_call("object.update", json!({ "object": object }))
            .await
    }

    /// `object.get`.
    pub(crate) async fn get(&self, r: &ObjectRef) -> Result<Value, ApiError> {
        self.object_call("object.get", r.params()).await
    }

    /// `object.delete`.
    pub(crate) async fn delete(&self, r: &ObjectRef) -> Result<Deleted, ApiError> {
        let reply = self.session.call("object.delete", r.params()).await?;
        serde_json::from_value(reply).map_err(|e| ApiError::Protocol(e.to_string()))
    }

    /// `object.list`, following `continue` until the list is complete.
    pub(crate) async fn list(&self, sel: &Selection) -> Result<List, ApiError> {
        let mut items = Vec::new();
        let mut resource_version = String::new();
        let mut cont: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut p = sel.params();
            p["limit"] = json!(LIST_PAGE);
            if let Some(c) = &cont {
                p["continue"] = json!(c);
            }
            let reply = self.session.call("object.list", p).await?;
            let page: ListPage =
                serde_json::from_value(reply).map_err(|e| ApiError::Protocol(e.to_string()))?;
            if resource_version.is_empty() {
                resource_version = page.resource_version;
            }
            items.extend(page.items);
            match page.cont.filter(|c| !c.is_empty()) {
                Some(c) => cont = Some(c),
                None => {
                    return Ok(List {
                        items,
                        resource_version,
                    });
                }
            }
        }
        Err(ApiError::Protocol(format!(
            "list did not end after {MAX_PAGES} pages"
        )))
    }

    /// `object.watch` from `resource_version` (exclusive; `None` = now).
    pub(crate) async fn watch(
        &self,
        sel: &Selection,
        resource_version: Option<&str>,
    ) -> Result<ClientSubscription, ApiError> {
        let mut p = sel.params();
        if let Some(rv) = resource_version {
            p["resourceVersion"] = json!(rv);
        }
        self.session.subscribe("object.watch", p).await
    }

    /// `cluster.status` as JSON.
    pub(crate) async fn cluster_status(&self) -> Result<Value, ApiError> {
        self.session.call("cluster.status", json!({})).await
    }
}
