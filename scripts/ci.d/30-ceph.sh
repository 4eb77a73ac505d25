#!/usr/bin/env bash
# Starts the single-node Ceph (mon, mgr, memstore OSD, RGW) the storage tests use.
set -euo pipefail
exec "$(dirname "$0")/../ceph-up.sh"
