#!/usr/bin/env bash
# Stops what scripts/libvirt-up.sh started, by pid file (never by name). Running domains are
# destroyed first because QEMU processes outlive libvirtd.
for d in $(virsh -c qemu:///system list --name 2>/dev/null); do
    virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
done
for n in libvirtd virtlogd; do
    f=/run/libvirt/$n.pid
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    echo "libvirt-down: stopped $n (pid $p)"
done
