#!/usr/bin/env bash
# Stops the daemons ceph-up.sh started, by their pid files (never by name). SIGCONTs them first,
# in case a test paused one to act out an outage.
D=${CEPH_TEST_DIR:-/var/lib/ferrocore-ceph}
for f in "$D"/run/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill -CONT "$p" 2>/dev/null
    kill "$p" 2>/dev/null && echo "stopped $(basename "$f" .pid) pid $p"
done
for f in "$D"/run/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
    rm -f "$f"
done
true
