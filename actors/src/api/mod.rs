//! The API service: the `object.*` and `cluster.*` methods of docs/rpc.md as a JSON-RPC
//! [`Handler`], over one controller's consensus [`Node`].
//!
//! ```text
//!  RpcServer ──► ApiService::call ──► objects / update / watch / cluster
//!                                        │ admission (strict decode, defaults, validation)
//!                                        │ Secrets sealed (secrets.rs)
//!                                        ▼
//!                            Node::write / read_linearizable / watch
//!                 (a follower forwards writes and read indexes to the leader over Raft)
//! ```
//!
//! Admission runs on the controller that received the call, against a linearizable read of the
//! stored object, and the proposal carries the `resourceVersion` admission saw: the store applies
//! it only if nothing changed in between, which is what admitting on the leader guarantees. A
//! precondition the service added itself (the client sent none) is retried on conflict.

mod cluster;
mod error;
mod forward;
mod objects;
mod params;
mod quota;
mod secrets;
mod update;
mod watch;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrocore_api::{KINDS, Kind};
use ferrocore_consensus::{Command, Node, ObjectKey, ObjectStore, Outcome, TokioRuntime};
use ferrocore_runtime::{BoxFuture, Call, Handler, Principal, Reply, RpcError, timeout};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use error::{ApiError, Reason, Target};
pub(crate) use forward::{LeaderLink, resolve};
pub use secrets::{CipherError, SECRET_KEY_BYTES, SecretCipher};

/// A write whose proposal conflicts with a change that slipped in after admission read the
/// object is admitted again this many times (only when the client set no precondition).
pub const ADMISSION_RETRIES_MAX: u32 = 5;

/// Largest page `object.list` returns; a client asking for more (or for no limit) gets a
/// continue token. Bounds the memory and reply size of one call.
pub const LIST_LIMIT_MAX: usize = 5_000;

/// Tunables of the API service.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// How long a write may take to commit before the caller gets `Timeout` (1007).
    pub write_timeout: Duration,
    /// How long a linearizable read may wait for the leader before `Unavailable` (1006).
    pub read_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            write_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
        }
    }
}

/// The API service of one controller. Cheap to clone.
#[derive(Clone)]
pub struct ApiService {
    inner: Arc<Inner>,
}

struct Inner {
    node: Node<TokioRuntime>,
    cipher: SecretCipher,
    settings: ApiSettings,
    cluster: String,
    /// Set once the node has recovered what it held before a restart; object calls wait.
    ready: AtomicBool,
    leader: Option<LeaderLink>,
    /// Serialises quota admission per namespace.
    quota_locks: quota::QuotaLocks,
}

impl fmt::Debug for ApiService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiService")
            .field("node", &self.inner.node.id())
            .field("cluster", &self.inner.cluster)
            .finish_non_exhaustive()
    }
}

impl ApiService {
    /// A service over `node` for cluster `cluster`. `leader` forwards membership changes that
    /// arrive on a follower (without it they get `Unavailable`). Object calls are refused with
    /// `Unavailable` until [`set_ready`](Self::set_ready).
    pub(crate) fn new(
        node: Node<TokioRuntime>,
        cipher: SecretCipher,
        settings: ApiSettings,
        cluster: String,
        leader: Option<LeaderLink>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                node,
                cipher,
                settings,
                cluster,
                ready: AtomicBool::new(false),
                leader,
                quota_locks: quota::QuotaLocks::default(),
            }),
        }
    }

    /// A service without forwarding of membership changes (tests, embedding).
    pub fn standalone(
        node: Node<TokioRuntime>,
        cipher: SecretCipher,
        settings: ApiSettings,
        cluster: String,
    ) -> Self {
        Self::new(node, cipher, settings, cluster, None)
    }

    /// Marks the node recovered: object calls are served from now on.
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }

    /// Creates `object` through the same admission as `object.create` (defaults, validation,
    /// quota, Secret sealing): how the control plane's actors create ephemeral objects.
    pub(crate) async fn create_internal(&self, object: Value) -> Result<Value, ApiError> {
        self.inner.create(params::ObjectParams { object }).await
    }

    /// Patches through the same admission as `object.patch` (Secrets are sealed again).
    pub(crate) async fn patch_internal(
        &self,
        key: &ferrocore_api::ObjectKey,
        patch: Value,
        resource_version: Option<String>,
    ) -> Result<Value, ApiError> {
        let params = params::PatchParams {
            kind: key.kind.name().to_owned(),
            namespace: Some(key.namespace.clone()),
            name: key.name.clone(),
            patch,
            resource_version,
        };
        self.inner.patch(params).await
    }

    /// The cipher that seals and opens Secret data.
    pub(crate) fn cipher(&self) -> &SecretCipher {
        &self.inner.cipher
    }
}

impl Handler for ApiService {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.dispatch(call).await.map_err(RpcError::from) })
    }
}

impl Inner {
    async fn dispatch(self: Arc<Self>, call: Call) -> Result<Reply, ApiError> {
        let value = |v: Result<Value, ApiError>| v.map(Reply::Value);
        if call.method.starts_with("object.") && !self.ready.load(Ordering::Acquire) {
            return Err(ApiError::unavailable(
                "This controller is still recovering its store; retry shortly or elsewhere",
            ));
        }
        match call.method.as_str() {
            "object.create" => value(self.create(params(&call)?).await),
            "object.get" => value(self.get(params(&call)?).await),
            "object.list" => value(self.list(params(&call)?).await),
            "object.update" => value(self.update(params(&call)?).await),
            "object.update_status" => value(self.update_status(params(&call)?).await),
            "object.patch" => value(self.patch(params(&call)?).await),
            "object.delete" => value(self.delete(params(&call)?).await),
            "object.watch" => self.watch(params(&call)?).map(Reply::Stream),
            "cluster.status" => value(Ok(self.status())),
            "cluster.members" => value(Ok(self.members())),
            "cluster.add_member" => {
                let from_peer = from_controller(&call.principal);
                value(self.add_member(params(&call)?, from_peer).await)
            }
            "cluster.remove_member" => {
                let from_peer = from_controller(&call.principal);
                value(self.remove_member(params(&call)?, from_peer).await)
            }
            other => Err(ApiError::Remote(RpcError::method_not_found(other))),
        }
    }

    /// Proposes `command` (forwarded to the leader from a follower), bounded in time.
    async fn write(&self, command: Command) -> Result<Outcome, ApiError> {
        match timeout(self.settings.write_timeout, self.node.write(command)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(ApiError::app(
                Reason::Timeout,
                "The write was not committed in time; it may still be applied",
            )),
        }
    }

    /// Runs `read` on the store: linearizable (read index through the leader), or on whatever
    /// this controller has applied when `stale`.
    async fn read<T>(
        &self,
        stale: bool,
        read: impl FnOnce(&ObjectStore) -> T,
    ) -> Result<T, ApiError> {
        if stale {
            return Ok(self.node.read_stale(read));
        }
        match timeout(
            self.settings.read_timeout,
            self.node.read_linearizable(read),
        )
        .await
        {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(ApiError::unavailable(
                "No leader confirmed the read in time; retry shortly",
            )),
        }
    }

    /// The stored object with Secret data opened.
    fn reveal(&self, object: &Value) -> Result<Value, ApiError> {
        let mut object = object.clone();
        self.cipher.open(&mut object)?;
        Ok(object)
    }
}

/// Decodes the call's params, or -32602.
fn params<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    call.params()
        .map_err(|e: RpcError| ApiError::Params(e.message))
}

fn from_controller(principal: &Principal) -> bool {
    matches!(principal, Principal::Certificate(id) if id.is_controller())
}

/// The kind a method's `kind` param names: the kind name (`Machine`), or any name the command
/// line accepts (`machines`, `ma`).
fn kind_named(name: &str) -> Result<Kind, ApiError> {
    KINDS
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.kind)
        .or_else(|| Kind::from_cli(name))
        .ok_or_else(|| ApiError::Params(format!("No kind {name:?}")))
}

/// The store key of `kind`/`namespace`/`name`: cluster-scoped kinds ignore the namespace, and
/// namespaced kinds need one.
fn key_of(kind: Kind, namespace: Option<&str>, name: &str) -> Result<ObjectKey, ApiError> {
    let namespace = if kind.namespaced() {
        match namespace.filter(|ns| !ns.is_empty()) {
            Some(ns) => ns,
            None => {
                return Err(ApiError::Params(format!(
                    "{kind} is namespaced: namespace is required"
                )));
            }
        }
    } else {
        ""
    };
    if name.is_empty() {
        return Err(ApiError::Params("name is required".into()));
    }
    Ok(ObjectKey::new(kind.group(), kind.name(), namespace, name))
}

#[cfg(test)]
mod tests;
