#!/usr/bin/env bash
# Builds the compute node's test guest from Debian packages (linux-image-amd64, busybox-static):
#   vmlinuz      the Debian kernel, booted directly (no bootloader)
#   initrd.gz    a busybox initramfs whose /init loads virtio (blk, net, console), fw_cfg and the
#                ACPI button, prints one "DISK ..." line per disk, the ignition and host name from
#                fw_cfg, starts acpid (power button -> poweroff), a shell on ttyS0 and a DHCP client
#                on eth0, then prints the marker FERROCORE-GUEST-READY
#   rootdisk.raw a 16 MiB raw disk starting with "FERROCORE-ROOTDISK" (an image for the store)
#   efidisk.raw  (only if systemd-boot-efi, mtools, dosfstools and fdisk are installed) a GPT disk
#                whose ESP holds a UKI of the same kernel+initramfs, bootable by OVMF
# Output goes to $FERROCORE_GUEST_DIR (default /var/cache/ferrocore/guest), outside the repo;
# binaries are never committed. Idempotent: rebuilds only when the kernel or this script changed.
set -euo pipefail
OUT=${FERROCORE_GUEST_DIR:-/var/cache/ferrocore/guest}
KV=$(ls /lib/modules | sort -V | tail -1)
EFI_TOOLS=no
if [ -f /usr/lib/systemd/boot/efi/linuxx64.efi.stub ] && command -v mcopy >/dev/null \
    && command -v mkfs.vfat >/dev/null && command -v sfdisk >/dev/null; then
    EFI_TOOLS=yes
fi
STAMP="$KV efi=$EFI_TOOLS $(sha256sum "$0" | cut -d' ' -f1)"
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/initrd.gz" ]; then
    echo "guest-build: up to date in $OUT"
    exit 0
fi
[ -x /bin/busybox ] || { echo "guest-build: install busybox-static" >&2; exit 1; }
[ -f "/boot/vmlinuz-$KV" ] || { echo "guest-build: install linux-image-amd64" >&2; exit 1; }
mkdir -p "$OUT"
chmod 755 "$OUT" "$(dirname "$OUT")"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/root/{bin,proc,sys,dev,etc/acpi/PWRF,mod,usr/share/udhcpc}
cp "/boot/vmlinuz-$KV" "$W/vmlinuz"
cp /bin/busybox "$W/root/bin/busybox"
# Load order matters: busybox insmod does no dependency resolution.
MODS="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk
      failover net_failover virtio_net virtio_console evdev button qemu_fw_cfg"
for m in $MODS; do cp "$(modinfo -k "$KV" -n "$m")" "$W/root/mod/"; done
echo "$MODS" | tr -s ' \n' ' ' > "$W/root/mod/order"
cat > "$W/root/usr/share/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "DHCP: $interface $ip" > /dev/ttyS0 ;;
esac
DHCP
chmod +x "$W/root/usr/share/udhcpc/default.script"
cat > "$W/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mod/order); do insmod /mod/$m.ko 2>/dev/null || echo "INSMOD-FAIL $m"; done
for i in 1 2 3 4 5; do [ -b /dev/vda ] && break; sleep 1; done
echo "FERROCORE-GUEST-BOOTED kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
for d in /sys/block/vd*; do
  [ -e "$d" ] && echo "DISK /dev/${d##*/} size=$(cat $d/size) serial=$(cat $d/serial 2>/dev/null)"
done
FW=/sys/firmware/qemu_fw_cfg/by_name
[ -f $FW/opt/com.coreos/config/raw ] && echo "IGNITION: $(cat $FW/opt/com.coreos/config/raw)"
if [ -f $FW/opt/ferrocore/hostname/raw ]; then hostname "$(cat $FW/opt/ferrocore/hostname/raw)"; fi
echo "HOSTNAME: $(hostname)"
printf '#!/bin/sh\npoweroff -f\n' > /etc/acpi/PWRF/00000080; chmod +x /etc/acpi/PWRF/00000080
acpid -d -c /etc/acpi >/dev/null 2>&1 &    # foreground mode: daemonized busybox acpid does not fire
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then ip link set eth0 up; udhcpc -b -q -t 5 -i eth0 >/dev/null 2>&1 & fi
setsid sh -c "exec sh </dev/ttyS0 >/dev/ttyS0 2>&1" &
echo "FERROCORE-GUEST-READY"
while true; do sleep 1; done
INIT
chmod +x "$W/root/init"
(cd "$W/root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$W/initrd.gz"
truncate -s 16M "$W/rootdisk.raw"
printf 'FERROCORE-ROOTDISK' | dd of="$W/rootdisk.raw" conv=notrunc status=none
if [ "$EFI_TOOLS" = yes ]; then
    echo -n "console=ttyS0 panic=-1 loglevel=4" > "$W/cmdline"
    objcopy --add-section .osrel=/etc/os-release --change-section-vma .osrel=0x20000 \
        --add-section .cmdline="$W/cmdline" --change-section-vma .cmdline=0x30000 \
        --add-section .linux="$W/vmlinuz" --change-section-vma .linux=0x2000000 \
        --add-section .initrd="$W/initrd.gz" --change-section-vma .initrd=0x3000000 \
        /usr/lib/systemd/boot/efi/linuxx64.efi.stub "$W/uki.efi"
    truncate -s 64M "$W/efidisk.raw"
    printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"\n' \
        | sfdisk -q "$W/efidisk.raw"
    truncate -s 62M "$W/esp.img"; mkfs.vfat -F 32 "$W/esp.img" >/dev/null
    mmd -i "$W/esp.img" ::/EFI ::/EFI/BOOT
    mcopy -i "$W/esp.img" "$W/uki.efi" ::/EFI/BOOT/BOOTX64.EFI
    dd if="$W/esp.img" of="$W/efidisk.raw" bs=1M seek=1 conv=notrunc status=none
    mv "$W/efidisk.raw" "$OUT/efidisk.raw"
fi
mv "$W/vmlinuz" "$W/initrd.gz" "$W/rootdisk.raw" "$OUT/"
chmod 644 "$OUT"/*
echo "$STAMP" > "$OUT/stamp"
echo "guest-build: built $OUT ($(du -sh "$OUT" | cut -f1), kernel $KV)"
