#!/usr/bin/env bash
# Stops the etcd members scripts/etcd-up.sh started from DIR and removes their data.
#   scripts/etcd-down.sh DIR
set -euo pipefail
dir=${1:?usage: etcd-down.sh DIR}
for pidfile in "$dir"/etcd-*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
done
rm -rf "$dir"/etcd-*/data
