#!/usr/bin/env bash
# Installs libvirt + QEMU when missing and starts virtlogd and libvirtd without systemd.
# Idempotent: running daemons (by pid file) are left alone. Stop them with scripts/libvirt-down.sh.
# Facts behind it: /work/shared/reference/real-backends.md §a (Debian 12, libvirt 9.0, QEMU 7.2).
set -euo pipefail

need=()
for bin in virtlogd libvirtd virsh qemu-system-x86_64 qemu-img; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || need+=(ovmf)
if [ ${#need[@]} -gt 0 ]; then
    echo "libvirt-up: installing libvirt and QEMU (missing: ${need[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # qemu-utils/bookworm: a newer qemu-utils from backports "Breaks" QEMU 7.2's qemu-system-common.
    apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends --allow-downgrades \
        libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86 \
        qemu-utils/bookworm qemu-block-extra/bookworm ovmf >/dev/null
fi

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
mkdir -p /run/libvirt
# virtlogd must run: <serial><log file=.../> and QEMU's stdout go through it.
alive /run/libvirt/virtlogd.pid || virtlogd -d -p /run/libvirt/virtlogd.pid
alive /run/libvirt/libvirtd.pid || libvirtd -d -p /run/libvirt/libvirtd.pid
# The first start probes QEMU's capabilities (about 8 s); give it 60 s.
for _ in $(seq 600); do
    virsh -c qemu:///system version >/dev/null 2>&1 && { echo "libvirt-up: libvirtd ready"; exit 0; }
    sleep 0.1
done
echo "libvirt-up: libvirtd did not answer within 60 s" >&2
exit 1
