#!/usr/bin/env bash
# Starts a 3-member etcd cluster on loopback for `ferrocore bench store`, idempotently.
#
#   scripts/etcd-up.sh DIR [BASE_PORT]
#
# Installs Debian's etcd-server when `etcd` is missing (apt-get update once first). Member i
# (0, 1, 2) listens for clients on 127.0.0.1:BASE_PORT+2i and for peers on BASE_PORT+2i+1
# (BASE_PORT defaults to 23790). Data, logs and pid files go to DIR/etcd-i. fsync stays on
# (etcd's default), as for the ferrocore controllers it is compared with. When all three are
# already running from DIR, it does nothing. Prints the client endpoints, comma-separated, as
# its last line. Stop with scripts/etcd-down.sh DIR.
set -euo pipefail

dir=${1:?usage: etcd-up.sh DIR [BASE_PORT]}
base=${2:-23790}
members=3

if ! command -v etcd >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "etcd-up: etcd is not installed; run as root or apt-get install etcd-server" >&2
        exit 1
    fi
    echo "etcd-up: installing etcd-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
fi

mkdir -p "$dir"
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

cluster=""
endpoints=""
for i in $(seq 0 $((members - 1))); do
    client=$((base + 2 * i))
    peer=$((client + 1))
    cluster+="${cluster:+,}etcd-$i=http://127.0.0.1:$peer"
    endpoints+="${endpoints:+,}127.0.0.1:$client"
done

for i in $(seq 0 $((members - 1))); do
    client=$((base + 2 * i))
    peer=$((client + 1))
    mdir="$dir/etcd-$i"
    mkdir -p "$mdir"
    if running "$mdir/pid"; then
        continue
    fi
    # A member that stopped is started afresh: the benchmark needs no data from a past run.
    rm -rf "$mdir/data"
    nohup etcd \
        --name "etcd-$i" \
        --data-dir "$mdir/data" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$cluster" \
        --initial-cluster-token "ferrocore-bench-$base" \
        --initial-cluster-state new \
        --logger zap \
        --log-outputs stderr \
        >"$mdir/etcd.log" 2>&1 &
    echo $! >"$mdir/pid"
done

# Wait (bounded: 30 s) until every member's client port accepts connections.
for i in $(seq 0 $((members - 1))); do
    client=$((base + 2 * i))
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$client") 2>/dev/null; then
            break
        fi
        if ! running "$dir/etcd-$i/pid"; then
            echo "etcd-up: member $i exited; see $dir/etcd-$i/etcd.log" >&2
            tail -5 "$dir/etcd-$i/etcd.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
done
echo "$endpoints"
