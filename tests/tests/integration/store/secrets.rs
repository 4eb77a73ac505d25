//! Secrets at rest: the plaintext of a Secret never reaches a controller's disk.

use std::path::Path;

use anyhow::ensure;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferrocore_tests::cluster::Cluster;
use serde_json::{Value, json};

use super::support::NS;

/// Base64 of `text`, as Secret `data` carries it.
pub(crate) fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

/// A Secret `canary` in [`NS`] whose `token` holds `plain`.
pub(crate) fn secret_with(plain: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"namespace": NS, "name": "canary"},
           "data": {"token": b64(plain)}})
}

/// No file under any controller's Raft directory (log segments, hard state, snapshots) holds
/// `plain` or its base64; and there is at least one snapshot, so snapshots were checked too.
pub(crate) fn assert_sealed_on_disk(cluster: &Cluster, plain: &str) -> anyhow::Result<()> {
    let needles = [plain.as_bytes().to_vec(), b64(plain).into_bytes()];
    let mut files = Vec::new();
    for id in cluster.ids() {
        collect(&cluster.data_dir(id).join("raft"), &mut files)?;
    }
    ensure!(
        files.iter().any(|f| f.to_string_lossy().contains("snap-")),
        "no snapshot written"
    );
    for file in &files {
        let bytes = std::fs::read(file)?;
        for needle in &needles {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_slice());
            ensure!(!found, "{} holds the Secret's plaintext", file.display());
        }
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
