//! The params of each method, as docs/rpc.md (Methods) defines them. Unknown members are
//! ignored, so a newer client can talk to an older controller.

use serde::Deserialize;
use serde_json::Value;

/// `object.create`, `object.update`, `object.update_status`.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectParams {
    pub(crate) object: Value,
}

/// `object.get`.
#[derive(Debug, Deserialize)]
pub(crate) struct GetParams {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) stale: bool,
}

/// `object.list`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default, rename = "labelSelector")]
    pub(crate) label_selector: Option<String>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default, rename = "continue")]
    pub(crate) continue_token: Option<String>,
    #[serde(default)]
    pub(crate) stale: bool,
}

/// `object.patch`.
#[derive(Debug, Deserialize)]
pub(crate) struct PatchParams {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) patch: Value,
    #[serde(default, rename = "resourceVersion")]
    pub(crate) resource_version: Option<String>,
}

/// `object.delete`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteParams {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    #[serde(default, rename = "resourceVersion")]
    pub(crate) resource_version: Option<String>,
}

/// `object.watch`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WatchParams {
    #[serde(default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default, rename = "labelSelector")]
    pub(crate) label_selector: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    pub(crate) resource_version: Option<String>,
}

/// `cluster.add_member`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddMemberParams {
    pub(crate) id: u64,
    pub(crate) addr: String,
    #[serde(default)]
    pub(crate) voter: Option<bool>,
}

/// `cluster.remove_member`.
#[derive(Debug, Deserialize)]
pub(crate) struct RemoveMemberParams {
    pub(crate) id: u64,
}
