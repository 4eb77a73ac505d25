//! Helpers shared by ferrocore's integration tests (`tests/integration/`): locating the
//! workspace and the `ferrocore` binary, temporary directories, free ports.
//!
//! It is test support only; nothing in the product depends on it.

use std::path::{Path, PathBuf};

pub mod cluster;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives in `<root>/tests`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `ferrocore` binary of the current build profile. `.ci/run` builds it before the tests
/// (`cargo build --bins`), and so does `scripts/test.sh`.
pub fn ferrocore_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join("ferrocore")
}
