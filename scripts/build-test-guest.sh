#!/usr/bin/env bash
# Builds the tiny real guest that hv's VM tests and benchmarks boot under libvirt/QEMU (TCG):
#
#   OUTDIR/vmlinuz      the Debian kernel (package linux-image-<version>-amd64, what linux-image-amd64 depends on)
#   OUTDIR/initrd.img   a busybox-static initramfs (cpio newc, gzip) whose /init loads the virtio
#                       modules, prints the marker line HV-GUEST-BOOTED on the serial console
#                       (console=ttyS0), brings eth0 up with udhcpc, powers off on an ACPI power-button
#                       press (so a graceful `virsh shutdown` works), and then idles; with hv.disk on
#                       the kernel command line it lists the records an earlier life wrote on /dev/vda
#                       and then writes one more every second (see the init below)
#   OUTDIR/disk.qcow2   an empty 64 MiB qcow2 disk (the guest sees it as /dev/vda); use it as a backing
#                       file for per-VM overlays, because internal snapshots write into the image
#   OUTDIR/guest.json   what was built: kernel version, package versions, sizes, the marker, cmdline
#
# Usage: scripts/build-test-guest.sh [OUTDIR]    (default: $HV_TEST_GUEST_DIR or /var/cache/hv-test-guest/out)
#
# Needs: apt-get (with package lists: run `apt-get update` once on a fresh machine), dpkg-deb, cpio,
# gzip, qemu-img (qemu-utils). Downloaded .debs are kept in $HV_TEST_GUEST_CACHE (default
# /var/cache/hv-test-guest/debs). Idempotent: when OUTDIR already holds artifacts built by this
# same script from the same package versions, it says so and does nothing.
set -euo pipefail

OUTDIR="${1:-${HV_TEST_GUEST_DIR:-/var/cache/hv-test-guest/out}}"
CACHE="${HV_TEST_GUEST_CACHE:-/var/cache/hv-test-guest/debs}"
MARKER="HV-GUEST-BOOTED"
SCRIPT_PATH="$(readlink -f "$0")"

say() { echo "build-test-guest: $*"; }
die() { echo "build-test-guest: error: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb cpio gzip qemu-img sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install cpio gzip qemu-utils)"
done

# The versioned kernel package that the linux-image-amd64 metapackage points at, e.g. linux-image-6.1.0-56-amd64.
KPKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 to a versioned kernel package (run apt-get update first)"
KVER_PKG="$(apt-cache policy "$KPKG" | awk '/Candidate:/ { print $2 }')"
BB_VER="$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')"
[ -n "$KVER_PKG" ] && [ "$KVER_PKG" != "(none)" ] || die "no installable version of $KPKG"
[ -n "$BB_VER" ] && [ "$BB_VER" != "(none)" ] || die "no installable version of busybox-static"

# Everything that determines the output; when it matches the stamp in OUTDIR, there is nothing to do.
STAMP="$KPKG=$KVER_PKG busybox-static=$BB_VER script=$(sha256sum "$SCRIPT_PATH" | cut -c1-16)"
if [ -f "$OUTDIR/.stamp" ] && [ "$(cat "$OUTDIR/.stamp")" = "$STAMP" ] \
   && [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/initrd.img" ] && [ -s "$OUTDIR/disk.qcow2" ]; then
  say "up to date in $OUTDIR ($STAMP); nothing to do"
  exit 0
fi

mkdir -p "$CACHE" "$OUTDIR"
# qemu runs as libvirt-qemu: the guest files and every directory above them must be readable.
# Only ever add permission bits (never chmod a parent such as /tmp to a fixed mode).
chmod a+rx "$OUTDIR"
d="$(readlink -f "$OUTDIR")"
while [ "$d" != "/" ]; do
  [ "$(( 0$(stat -c %a "$d") & 01 ))" -ne 0 ] || say "warning: $d is not searchable by others; qemu (libvirt-qemu) may not reach the guest files"
  d="$(dirname "$d")"
done

# deb file names escape ':' (epochs) as %3a.
deb_path() { echo "$CACHE/${1}_$(echo "$2" | sed 's/:/%3a/g')_amd64.deb"; }
fetch() {
  local pkg="$1" ver="$2" path
  path="$(deb_path "$pkg" "$ver")"
  if [ -s "$path" ]; then
    say "cached $(basename "$path")"
  else
    say "downloading $pkg=$ver"
    (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null)
    [ -s "$path" ] || die "apt-get download $pkg=$ver did not produce $path"
  fi
}
fetch "$KPKG" "$KVER_PKG"
fetch busybox-static "$BB_VER"

WORK="$(mktemp -d /tmp/hv-test-guest.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
say "extracting into $WORK"
dpkg-deb -x "$(deb_path "$KPKG" "$KVER_PKG")" "$WORK/kernel"
dpkg-deb -x "$(deb_path busybox-static "$BB_VER")" "$WORK/busybox"

KREL="$(ls "$WORK/kernel/lib/modules" | head -1)"
MODROOT="$WORK/kernel/lib/modules/$KREL"
[ -f "$WORK/kernel/boot/vmlinuz-$KREL" ] || die "no boot/vmlinuz-$KREL in $KPKG"
# The package ships no modules.dep (the postinst runs depmod): make one for the extracted tree.
if command -v depmod >/dev/null || [ -x /sbin/depmod ]; then
  PATH="$PATH:/sbin:/usr/sbin" depmod -b "$WORK/kernel" "$KREL"
else
  "$WORK/busybox/bin/busybox" depmod -b "$WORK/kernel" "$KREL"
fi
[ -s "$MODROOT/modules.dep" ] || die "depmod produced no modules.dep"

# The modules the guest needs (those that are modular in this kernel), with their dependencies
# from modules.dep, in load order (dependencies first). Missing ones are built in, or absent: skip.
WANTED="button evdev virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net virtio_console virtio_balloon virtio-rng"
declare -A SEEN=()
ORDER=()
modpath() { # name -> path relative to MODROOT, from modules.dep ("kernel/.../name.ko: deps")
  local n="${1//-/[-_]}"
  grep -E "(^|/)${n}\.ko(\.[a-z]+)?:" "$MODROOT/modules.dep" | head -1 | cut -d: -f1
}
add_module() { # path relative to MODROOT
  local rel="$1" dep
  [ -n "${SEEN[$rel]:-}" ] && return 0
  SEEN[$rel]=1
  for dep in $(grep -E "^${rel}:" "$MODROOT/modules.dep" | cut -d: -f2-); do add_module "$dep"; done
  ORDER+=("$rel")
}
for m in $WANTED; do
  rel="$(modpath "$m")"
  if [ -n "$rel" ]; then add_module "$rel"; else say "module $m is not modular in $KREL (built in or absent); skipping"; fi
done

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,run,etc/acpi/PWRF,usr/share/udhcpc,lib/modules}
cp "$WORK/busybox/bin/busybox" "$ROOT/bin/busybox"
for applet in sh mount insmod ip udhcpc sleep echo cat ls poweroff acpid mkdir ifconfig route uname ping grep dd tr; do
  ln -sf busybox "$ROOT/bin/$applet"
done
: > "$ROOT/etc/modules.order"
for rel in "${ORDER[@]}"; do
  base="$(basename "$rel")"
  case "$base" in
    *.ko) cp "$MODROOT/$rel" "$ROOT/lib/modules/$base" ;;
    *.ko.xz) xz -dc "$MODROOT/$rel" > "$ROOT/lib/modules/${base%.xz}"; base="${base%.xz}" ;;
    *.ko.zst) zstd -qdc "$MODROOT/$rel" > "$ROOT/lib/modules/${base%.zst}"; base="${base%.zst}" ;;
    *) die "unknown module format: $rel" ;;
  esac
  echo "$base" >> "$ROOT/etc/modules.order"
done

cat > "$ROOT/init" <<EOF
#!/bin/sh
# hv test guest: load virtio modules, say we booted, get an address, idle.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in \$(cat /etc/modules.order); do
  insmod /lib/modules/\$m 2>/dev/null || echo "hv-guest: insmod \$m failed"
done
sleep 1
echo "hv-guest: kernel \$(uname -r), interfaces: \$(ls /sys/class/net | tr '\n' ' ')disks: \$(ls /sys/block | tr '\n' ' ')"
echo "$MARKER"
# A power-button press (virsh shutdown, ACPI) powers the guest off.
acpid -d -c /etc/acpi -a /etc/acpid.conf >/dev/console 2>&1 &
echo "hv-guest: acpid pid \$(pidof acpid), input: \$(ls /dev/input 2>&1 | tr '\n' ' ')"
# With hv.disk on the kernel command line the guest keeps a numbered log on its raw disk, one
# 512-byte sector per record from sector 1: at boot it prints every record it finds (HV-DISK-FOUND n,
# then HV-DISK-FOUND-END with the count), then writes the next record every second, flushed to the
# disk (conv=fsync), and says so (HV-DISK-WROTE n) only once it is on the disk. The backup tests
# restore a copy and boot it to see which records it holds.
if grep -qw hv.disk /proc/cmdline && [ -b /dev/vda ]; then
  n=1
  while :; do
    rec="\$(dd if=/dev/vda bs=512 skip=\$n count=1 2>/dev/null | tr -d '\\000\\n')"
    case "\$rec" in "HV-DISK-REC \$n") echo "HV-DISK-FOUND \$n"; n=\$((n + 1)) ;; *) break ;; esac
  done
  echo "HV-DISK-FOUND-END \$((n - 1))"
  (
    while true; do
      echo "HV-DISK-REC \$n" | dd of=/dev/vda bs=512 seek=\$n count=1 conv=sync,notrunc,fsync 2>/dev/null && echo "HV-DISK-WROTE \$n"
      n=\$((n + 1))
      sleep 1
    done
  ) &
fi
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  udhcpc -i eth0 -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 || echo "hv-guest: no DHCP lease on eth0"
  echo "hv-guest: eth0 \$(ip -4 -o addr show dev eth0 | awk '{print \$4}')"
  # Renew in the background so the lease stays visible to the host.
  udhcpc -i eth0 -b -s /usr/share/udhcpc/default.script >/dev/null 2>&1
  # With hv.ping on the kernel command line the guest pings its router every second and says
  # whether it got an answer: the quarantine tests watch this from inside the guest.
  if grep -qw hv.ping /proc/cmdline && [ -s /run/router ]; then
    while true; do
      if ping -c 1 -W 1 "\$(cat /run/router)" >/dev/null 2>&1; then echo "HV-PING ok"; else echo "HV-PING fail"; fi
      sleep 1
    done &
  fi
fi
while true; do sleep 3600; done
EOF
chmod 0755 "$ROOT/init"

cat > "$ROOT/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    # An isolated libvirt network announces no router: the DHCP server (the host's bridge) stands in.
    echo "${router%% *}" | grep -q . && echo "${router%% *}" > /run/router || echo "${serverid:-$siaddr}" > /run/router
    ;;
esac
exit 0
EOF
chmod 0755 "$ROOT/usr/share/udhcpc/default.script"

# busybox acpid maps the power button (PWRF) to the action PWRF/00000080 under its config dir.
printf '#!/bin/sh\necho "hv-guest: power button, powering off" >/dev/console\nsync\npoweroff -f\n' > "$ROOT/etc/acpi/PWRF/00000080"
chmod 0755 "$ROOT/etc/acpi/PWRF/00000080"
# An empty acpid.conf would mean "no actions at all"; spell out the default mapping.
echo "PWRF PWRF/00000080" > "$ROOT/etc/acpid.conf"

say "building initramfs with busybox $BB_VER and ${#ORDER[@]} modules: $(tr '\n' ' ' < "$ROOT/etc/modules.order")"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -9 -n > "$WORK/initrd.img"

install -m 0644 "$WORK/kernel/boot/vmlinuz-$KREL" "$OUTDIR/vmlinuz"
install -m 0644 "$WORK/initrd.img" "$OUTDIR/initrd.img"
rm -f "$OUTDIR/disk.qcow2"
qemu-img create -q -f qcow2 "$OUTDIR/disk.qcow2" 64M
chmod 0644 "$OUTDIR/disk.qcow2"

cat > "$OUTDIR/guest.json" <<EOF
{
  "kernelRelease": "$KREL",
  "kernelPackage": "$KPKG=$KVER_PKG",
  "busybox": "busybox-static=$BB_VER",
  "marker": "$MARKER",
  "cmdline": "console=ttyS0 panic=-1",
  "vmlinuzBytes": $(stat -c %s "$OUTDIR/vmlinuz"),
  "initrdBytes": $(stat -c %s "$OUTDIR/initrd.img"),
  "modules": [$(sed 's/.*/"&"/' "$ROOT/etc/modules.order" | paste -sd, -)]
}
EOF
echo "$STAMP" > "$OUTDIR/.stamp"
say "built in $OUTDIR: vmlinuz $(stat -c %s "$OUTDIR/vmlinuz") bytes (kernel $KREL), initrd.img $(stat -c %s "$OUTDIR/initrd.img") bytes, disk.qcow2 64M"
