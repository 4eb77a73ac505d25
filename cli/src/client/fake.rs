//! Test support: a tiny in-memory API (`object.*`, `cluster.status`) behind a real
//! `RpcServer` on loopback QUIC with a fresh cluster CA, and a client config that points at
//! it. It follows docs/rpc.md closely enough to drive every client verb end to end; it is
//! not the real controller (no Raft, no admission beyond the api crate's validation).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrocore_api::decode::object_from_value;
use ferrocore_runtime::{
    Alpn, BearerToken, BoxFuture, Call, CertRequest, Clock, ClusterCa, Endpoint, ErrorCode,
    Handler, Identity, Reply, Router, RpcError, RpcServer, RpcServerConfig, Subscription,
    SystemClock, TokenSet, TransportLimits,
};
use serde_json::{Value, json};

type Key = (String, String, String);

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    revision: u64,
    /// Every event so far: (revision, event).
    log: Vec<(u64, Value)>,
    /// Revisions at or below this are compacted (watch from them is Gone).
    compacted: u64,
}

/// The fake API.
#[derive(Debug, Default)]
pub(crate) struct FakeApi {
    state: Mutex<State>,
    /// Calls still to answer with Unavailable (1006) before serving normally.
    pub(crate) unavailable: AtomicU32,
}

fn err(code: i32, message: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::new(code), message)
}

fn key_of(p: &Value) -> Key {
    let s = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("kind"), s("namespace"), s("name"))
}

fn obj_key(o: &Value) -> Key {
    let s = |ptr: &str| {
        o.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

impl State {
    fn bump(&mut self, kind: &str, obj: &Value) -> u64 {
        self.revision += 1;
        let event = json!({"type": kind, "revision": self.revision.to_string(), "object": obj});
        self.log.push((self.revision, event));
        self.revision
    }
}

/// Real admission of the api crate: strict decode, defaults, validation with every cause.
fn admit(v: &Value) -> Result<Value, RpcError> {
    let mut obj = object_from_value(v.clone()).map_err(|e| err(1002, e.to_string()))?;
    obj.set_defaults();
    let errs = obj.validate();
    if errs.is_empty() {
        return Ok(obj.to_value());
    }
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({"field": "", "type": "Invalid", "message": e.to_string()}))
        .collect();
    Err(err(1002, format!("{} is invalid", obj.key()))
        .with_data(json!({"reason": "Invalid", "causes": causes})))
}

impl FakeApi {
    /// Marks every revision up to now as compacted.
    pub(crate) fn compact(&self) {
        let mut s = self.state.lock().unwrap();
        s.compacted = s.revision;
    }

    fn create(&self, p: &Value) -> Result<Value, RpcError> {
        let mut obj = admit(p.get("object").unwrap_or(&Value::Null))?;
        let mut s = self.state.lock().unwrap();
        let key = obj_key(&obj);
        if s.objects.contains_key(&key) {
            return Err(err(1001, format!("{} {} exists", key.0, key.2)));
        }
        let rev = s.revision + 1;
        obj["metadata"]["uid"] = json!(format!("uid-{rev}"));
        obj["metadata"]["resourceVersion"] = json!(rev.to_string());
        obj["metadata"]["generation"] = json!(1);
        obj["metadata"]["creationTimestamp"] = json!("2026-11-28T10:00:00Z");
        s.bump("ADDED", &obj);
        s.objects.insert(key, obj.clone());
        Ok(json!({ "object": obj }))
    }

    fn update(&self, p: &Value) -> Result<Value, RpcError> {
        let mut obj = admit(p.get("object").unwrap_or(&Value::Null))?;
        let mut s = self.state.lock().unwrap();
        let key = obj_key(&obj);
        let Some(old) = s.objects.get(&key).cloned() else {
            return Err(err(1000, "not found"));
        };
        let want = obj.pointer("/metadata/resourceVersion").cloned();
        if want
            .as_ref()
            .is_some_and(|w| Some(w) != old.pointer("/metadata/resourceVersion"))
        {
            return Err(err(1004, "stale resourceVersion"));
        }
        let rev = s.revision + 1;
        obj["metadata"]["resourceVersion"] = json!(rev.to_string());
        if let Some(st) = old.get("status") {
            obj["status"] = st.clone();
        }
        s.bump("MODIFIED", &obj);
        s.objects.insert(key, obj.clone());
        Ok(json!({ "object": obj }))
    }

    fn delete(&self, p: &Value) -> Result<Value, RpcError> {
        let mut s = self.state.lock().unwrap();
        let key = key_of(p);
        let Some(mut obj) = s.objects.get(&key).cloned() else {
            return Err(err(1000, format!("{} {} not found", key.0, key.2)));
        };
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            obj["metadata"]["deletionTimestamp"] = json!("2026-11-28T10:05:00Z");
            s.bump("MODIFIED", &obj);
            s.objects.insert(key, obj.clone());
            return Ok(json!({"object": obj, "removed": false}));
        }
        s.objects.remove(&key);
        s.bump("DELETED", &obj);
        Ok(json!({"object": obj, "removed": true}))
    }

    fn list(&self, p: &Value) -> Value {
        let s = self.state.lock().unwrap();
        let kind = p.get("kind").and_then(Value::as_str).unwrap_or_default();
        let ns = p.get("namespace").and_then(Value::as_str);
        let limit = p.get("limit").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let skip: usize = p
            .get("continue")
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let all: Vec<&Value> = s
            .objects
            .iter()
            .filter(|((k, n, _), _)| k == kind && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
            .collect();
        let page: Vec<Value> = all
            .iter()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|v| (*v).clone())
            .collect();
        let mut reply = json!({"items": page, "resourceVersion": s.revision.to_string()});
        if skip + page.len() < all.len() {
            reply["continue"] = json!((skip + page.len()).to_string());
        }
        reply
    }

    fn watch(self: Arc<Self>, p: &Value) -> Result<Reply, RpcError> {
        let from: u64 = match p.get("resourceVersion").and_then(Value::as_str) {
            Some(r) => r.parse().map_err(|_| err(-32602, "bad resourceVersion"))?,
            None => self.state.lock().unwrap().revision,
        };
        if from < self.state.lock().unwrap().compacted {
            return Err(err(1005, format!("revision {from} compacted")));
        }
        let kind = p
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (tx, sub) = Subscription::channel(json!({"resourceVersion": from.to_string()}));
        ferrocore_runtime::spawn(async move {
            let mut next = from;
            loop {
                let events: Vec<(u64, Value)> = {
                    let s = self.state.lock().unwrap();
                    s.log.iter().filter(|(r, _)| *r > next).cloned().collect()
                };
                for (r, e) in events {
                    next = r;
                    if e.pointer("/object/kind").and_then(Value::as_str) != Some(&kind) {
                        continue;
                    }
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                ferrocore_runtime::sleep(Duration::from_millis(10)).await;
            }
        });
        Ok(Reply::Stream(sub))
    }

    fn dispatch(self: Arc<Self>, method: &str, p: &Value) -> Result<Reply, RpcError> {
        if self
            .unavailable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(err(1006, "no leader yet"));
        }
        let value = match method {
            "object.create" => self.create(p)?,
            "object.update" => self.update(p)?,
            "object.delete" => self.delete(p)?,
            "object.list" => self.list(p),
            "object.get" => {
                let s = self.state.lock().unwrap();
                let k = key_of(p);
                let obj = s
                    .objects
                    .get(&k)
                    .ok_or_else(|| err(1000, format!("{} {} not found", k.0, k.2)))?;
                json!({ "object": obj })
            }
            "object.watch" => return self.watch(p),
            "cluster.status" => json!({"cluster": "fake", "self": 1, "leader": 1, "term": 2,
                "commitIndex": 10, "appliedIndex": 10, "revision": "0",
                "members": [{"id": 1, "addr": "127.0.0.1:1", "role": "leader", "matchedIndex": 10, "lag": 0}]}),
            other => return Err(RpcError::method_not_found(other)),
        };
        Ok(Reply::Value(value))
    }
}

/// The handler is an `Arc<FakeApi>` wrapper so watches can hold the state.
#[derive(Debug)]
pub(crate) struct FakeHandler(pub(crate) Arc<FakeApi>);

impl Handler for FakeHandler {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>> {
        let api = self.0.clone();
        Box::pin(async move {
            let p = call.params.clone().unwrap_or(Value::Null);
            api.dispatch(&call.method, &p)
        })
    }
}

/// A running fake controller and a config directory for it.
#[derive(Debug)]
pub(crate) struct Fake {
    pub(crate) api: Arc<FakeApi>,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) token: BearerToken,
    _endpoint: Endpoint,
}

impl Fake {
    /// Starts the fake on 127.0.0.1 (inside a tokio runtime) and writes `ca.crt`,
    /// `admin.crt`/`admin.key` to a temp dir.
    pub(crate) fn start() -> Self {
        let now = SystemClock::new().wall();
        let ca = ClusterCa::generate("fake", now).unwrap();
        let dir = tempfile::tempdir().unwrap();
        ca.save(dir.path()).unwrap();
        let req = CertRequest::server(Identity::Controller(1), vec!["ferrocore".into()], vec![]);
        let server = ca.issue(&req, now).unwrap();
        ca.issue(&CertRequest::client(Identity::Admin), now)
            .unwrap()
            .save(dir.path(), "admin")
            .unwrap();
        let endpoint = Endpoint::server(
            "127.0.0.1:0".parse().unwrap(),
            &server,
            &ca.trust_roots(),
            &TransportLimits::default(),
        )
        .unwrap();
        let token = BearerToken::generate().unwrap();
        let api = Arc::new(FakeApi::default());
        let rpc = RpcServer::new(
            Arc::new(FakeHandler(api.clone())),
            RpcServerConfig {
                tokens: TokenSet::new().with(&token, "test"),
                ..RpcServerConfig::default()
            },
        );
        endpoint.serve(Router::new().route(Alpn::Rpc, rpc));
        Self {
            api,
            addr: endpoint.local_addr().unwrap(),
            dir,
            token,
            _endpoint: endpoint,
        }
    }

    /// Writes a config with one context `fake` (servers as given; `auth` is the TOML lines for
    /// credentials) and returns its path.
    pub(crate) fn config(&self, servers: &[SocketAddr], auth: &str) -> PathBuf {
        let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
        let text = format!(
            "current_context = \"fake\"\n[contexts.fake]\nservers = [{}]\nserver_name = \"ferrocore\"\n\
             ca = \"ca.crt\"\n{auth}\nnamespace = \"shop\"\n",
            list.join(", ")
        );
        let path = self.dir.path().join("admin.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}
