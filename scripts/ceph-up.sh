#!/usr/bin/env bash
# Single-node Ceph 16 (Debian bookworm packages) on 127.0.0.1 without systemd: one mon, one mgr,
# one memstore OSD, an `rbd` pool, the `client.volumes` user the storage node hands to machines,
# and radosgw (S3 on 127.0.0.1:7480) with an admin-ops user for the bucket runtime.
#
# Idempotent: installs what is missing, does nothing when the cluster already answers, and
# otherwise stops leftovers (by pid file) and builds a fresh cluster (memstore keeps no data
# across daemon restarts anyway).
#
# Env: CEPH_TEST_DIR (default /var/lib/ferrocore-ceph), WITH_RGW (default 1).
# Writes $CEPH_TEST_DIR/env (sourceable) for tests: CEPH_CONF, CEPH_MONITORS, CEPH_POOL,
# RGW_ENDPOINT, RGW_ADMIN_ACCESS_KEY, RGW_ADMIN_SECRET_KEY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
D=${CEPH_TEST_DIR:-/var/lib/ferrocore-ceph}
export CEPH_CONF=$D/ceph.conf
ts() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(ts)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(ts)

need=()
for p in ceph-mon ceph-mgr ceph-osd ceph-common radosgw uuid-runtime curl python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "ceph-up: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f "$D/env" ] && timeout 5 ceph -s >/dev/null 2>&1 \
    && { [ "${WITH_RGW:-1}" != 1 ] || curl -sf -o /dev/null http://127.0.0.1:7480/; }; then
    echo "ceph-up: already running ($D)"
    exit 0
fi
"$here/ceph-down.sh" >/dev/null 2>&1 || true

rm -rf "$D"; mkdir -p "$D"/{mon/ceph-a,mgr/ceph-x,osd/ceph-0,run,log,rgw}
FSID=$(uuidgen)
cat > "$CEPH_CONF" <<CONF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $D/run
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
admin socket = $D/run/\$name.asok
mon data = $D/mon/ceph-\$id
mgr data = $D/mgr/ceph-\$id
osd data = $D/osd/ceph-\$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon warn on osd down out interval zero = false
auth allow insecure global id reclaim = false
mon max pg per osd = 1000
mon osd down out interval = 0
osd objectstore = memstore
memstore device bytes = 2147483648
osd memory target = 939524096
ms bind ipv4 = true
ms bind ipv6 = false
[client.admin]
keyring = $D/ceph.client.admin.keyring
[client.volumes]
keyring = $D/ceph.client.volumes.keyring
[mgr]
mgr initial modules =
[client.rgw.gw]
keyring = $D/ceph.client.rgw.gw.keyring
rgw frontends = beast endpoint=127.0.0.1:7480
rgw dns name = localhost
CONF
# Keys: the mon keeps its own keyring; the admin key goes under [client.admin] only (putting it
# in [global] makes the mon use it and fail with handle_auth_bad_method).
ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$D/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$D/mon.keyring" --import-keyring "$D/ceph.client.admin.keyring" >/dev/null
monmaptool --create --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/mon.keyring"
ceph-mon -i a
until ceph -s >/dev/null 2>&1; do sleep 0.2; done
echo "ceph-up: mon ready $(since "$T0")s"
ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$D/mgr/ceph-x/keyring"
ceph-mgr -i x
OSD_UUID=$(uuidgen); OSD_SECRET=$(ceph-authtool --gen-print-key)
OSD_ID=$(echo "{\"cephx_secret\": \"$OSD_SECRET\"}" | ceph osd new "$OSD_UUID" -i -)
ceph-authtool --create-keyring "$D/osd/ceph-$OSD_ID/keyring" --name "osd.$OSD_ID" --add-key "$OSD_SECRET" >/dev/null
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >/dev/null 2>&1
ceph-osd -i "$OSD_ID"
until ceph osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1'; do sleep 0.2; done
echo "ceph-up: osd up $(since "$T0")s"
ceph osd pool create rbd 8 8 >/dev/null 2>&1
rbd pool init rbd
pgs_clean() {
    ceph pg stat -f json 2>/dev/null | python3 -c 'import json,sys
s=json.load(sys.stdin)["pg_summary"]; c={x["name"]:x["num"] for x in s["num_pg_by_state"]}
sys.exit(0 if s["num_pgs"]>0 and c.get("active+clean",0)==s["num_pgs"] else 1)'
}
until pgs_clean; do sleep 0.2; done
echo "ceph-up: rbd pool active+clean $(since "$T0")s"
# The identity the storage node hands to machines in status.access (userID/userKey).
ceph auth get-or-create client.volumes mon 'profile rbd' osd 'profile rbd pool=rbd' \
    mgr 'profile rbd pool=rbd' -o "$D/ceph.client.volumes.keyring"
ADMIN_AK=""; ADMIN_SK=""
if [ "${WITH_RGW:-1}" = 1 ]; then
    ceph auth get-or-create client.rgw.gw mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
        -o "$D/ceph.client.rgw.gw.keyring"
    radosgw -n client.rgw.gw --rgw-data="$D/rgw"
    until curl -sf -o /dev/null http://127.0.0.1:7480/; do sleep 0.2; done
    # The bucket runtime's admin-ops identity: may create and remove users and buckets.
    ADMIN_AK=FERROCOREADMIN$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
    ADMIN_SK=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32)
    radosgw-admin user create --uid=ferrocore-admin --display-name=ferrocore-admin \
        --access-key="$ADMIN_AK" --secret-key="$ADMIN_SK" >/dev/null
    radosgw-admin caps add --uid=ferrocore-admin --caps="users=*;buckets=*" >/dev/null
    echo "ceph-up: rgw ready $(since "$T0")s"
fi
umask 077
cat > "$D/env" <<ENV
CEPH_CONF=$CEPH_CONF
CEPH_MONITORS=127.0.0.1:6789
CEPH_POOL=rbd
RGW_ENDPOINT=${ADMIN_AK:+http://127.0.0.1:7480}
RGW_ADMIN_ACCESS_KEY=$ADMIN_AK
RGW_ADMIN_SECRET_KEY=$ADMIN_SK
ENV
echo "ceph-up: done in $(since "$T0")s ($D/env)"
