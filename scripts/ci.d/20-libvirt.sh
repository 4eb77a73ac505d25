#!/usr/bin/env bash
# Compute node tests need libvirtd (+ virtlogd) and the test guest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/libvirt-up.sh"
"$here/guest-build.sh"
