#!/usr/bin/env bash
# The test command README.md names: format, lints, the binary, then every test in the workspace.
# Services the tests need (libvirtd, Ceph, ...) are started by .ci/run through scripts/ first.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo build --bins (the integration tests run the real binary)"
cargo build --workspace --bins
step "cargo test --workspace"
cargo test --workspace
