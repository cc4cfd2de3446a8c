#!/usr/bin/env bash
# Records "days" of ordinary hypervisor administration with real auditd, for the noise figures
# (bench/noise.ts) and the learning tests (test/detectors/learning-days.test.ts):
#
#   flock /tmp/hv-system.lock bash scripts/record-benign-days.sh [--minutes 15] [--days 2] [--rulesets "hv neo23x0"] [OUTDIR]
#
#   OUTDIR/<ruleset>-day<N>.log.gz   one take ("day") of N minutes under one audit ruleset
#
# (OUTDIR defaults to test/fixtures/audit/benign-days.) Rulesets: `hv` is rules/audit/hv.rules,
# `neo23x0` is ../shared/data/audit-rulesets/neo23x0-audit.rules (its -D/-b/-f lines apply; the
# kernel's backlog limit and failure mode are put back afterwards). Each take starts a private
# auditd (`auditd -n -c DIR`, Debian's auditd.conf with its own log, log_format ENRICHED), loads
# the ruleset, starts the host's services (lighttpd with a CGI status page, cron, sshd on
# 127.0.0.1:2222), then an admin works for the given minutes: VM lifecycle with virsh and hv on the
# real test guest (/var/cache/hv-test-guest/out, see test/helpers/libvirt.ts), snapshots, backups
# with tar and rsync, a local .deb built and installed with dpkg, git, vim, sed, sudo and su, ssh to
# localhost, status checks with curl; cron runs a status job and logrotate every minute, and a
# monitoring poller reads the status page every 20 s.
#
# Only the recording's own processes are kept: the admin's audit sessions (each login writes
# /proc/self/loginuid, as pam_loginuid does) and the process trees of the services it started
# and of libvirtd/virtlogd (pid → ppid links in every record), so whatever else runs on this shared
# machine stays out. Needs root, the packages in .ci/run and scripts/install-recording-tools.sh (lighttpd sudo rsync cron openssh-server
# auditd libvirt) and a running libvirtd. Everything it creates is removed at the end.

set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }

MINUTES=15
DAYS=2
RULESETS="hv neo23x0"
FILTER_ONLY=
while (($#)); do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --days) DAYS=$2; shift 2 ;;
    --rulesets) RULESETS=$2; shift 2 ;;
    # --filter-only RAW.log.gz FILTER.txt: the filter again over a raw log kept with HV_BENIGN_KEEP_RAW
    # (FILTER.txt has its "seeds:" and "sessions:" lines); the kept events go to stdout.
    --filter-only) FILTER_ONLY=("$2" "$3"); shift 3 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
# keep_events LOG SESSIONS_FILE SEED_PIDS… : every record of the events made by the admin's
# sessions or by a process descending from a seed pid, in log order.
keep_events() {
  local log=$1 sessions=$2; shift 2
  awk -v seeds="$*" -v sesfile="$sessions" '
    function id(line) { return match(line, /msg=audit\([0-9.]+:[0-9]+\)/) ? substr(line, RSTART, RLENGTH) : "" }
    function field(line, name,   re) { re = "[ ]" name "=[0-9]+"; return match(line, re) ? substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 2) : "" }
    BEGIN {
      n = split(seeds, s, " "); for (i = 1; i <= n; i++) tree[s[i]] = 1
      while ((getline l < sesfile) > 0) if (l != "") ses[l] = 1
    }
    NR == FNR {
      p = field($0, "pid"); pp = field($0, "ppid"); se = field($0, "ses")
      if (pp != "" && (pp in tree)) tree[p] = 1
      # libvirtd double-forks qemu (its parent is then init): every qemu process is a VM of ours.
      if (p != "" && $0 ~ / exe="\/usr\/bin\/qemu-system-/) tree[p] = 1
      if ((p != "" && (p in tree)) || (se != "" && (se in ses)) || $0 ~ /^type=DAEMON_(START|END) /) keep[id($0)] = 1
      next
    }
    keep[id($0)]
  ' "$log" "$log"
}

if [[ -n ${FILTER_ONLY[*]} ]]; then
  tmp=$(mktemp -d)
  seeds=$(sed -n 's/^seeds: //p' "${FILTER_ONLY[1]}")
  sed -n 's/^sessions: //p' "${FILTER_ONLY[1]}" | tr ' ' '\n' > "$tmp/sessions"
  zcat -f "${FILTER_ONLY[0]}" > "$tmp/audit.log"
  # shellcheck disable=SC2086 # the seed pids, one word each
  keep_events "$tmp/audit.log" "$tmp/sessions" $seeds
  rm -rf "$tmp"
  exit 0
fi
ROOT=$(realpath "$(dirname "$0")/..")
OUT=$(realpath -m "${1:-$ROOT/test/fixtures/audit/benign-days}")
GUEST=${HV_TEST_GUEST_DIR:-/var/cache/hv-test-guest/out}
SHARED=${HV_SHARED_DATA:-$ROOT/../../shared/data}
[[ -d $SHARED ]] || SHARED=/work/shared/data
declare -A RULEFILE=([hv]="$ROOT/rules/audit/hv.rules" [neo23x0]="$SHARED/audit-rulesets/neo23x0-audit.rules")
for r in $RULESETS; do [[ -f ${RULEFILE[$r]:-} ]] || { echo "no rules file for ruleset $r (${RULEFILE[$r]:-unknown})" >&2; exit 2; }; done
for f in vmlinuz initrd.img disk.qcow2; do [[ -f $GUEST/$f ]] || { echo "$GUEST/$f missing: run scripts/build-test-guest.sh $GUEST" >&2; exit 2; }; done
for p in auditd lighttpd sudo rsync cron sshd virsh git vim dpkg-deb curl logrotate node; do
  command -v "$p" >/dev/null || { echo "$p is missing (bash scripts/install-recording-tools.sh installs it)" >&2; exit 2; }
done
virsh -q -c qemu:///system version >/dev/null 2>&1 || { echo "libvirtd is not running (see .ci/run)" >&2; exit 2; }
mkdir -p "$OUT"

# Its own pid file: a test helper that finds "its" leftover auditd in /tmp/hv-test-auditd.pid
# stops it, which once cut a take short.
PIDFILE="${TMPDIR:-/tmp}/hv-benign-days-auditd.pid"
WORK=$(mktemp -d /tmp/hv-benign-days.XXXXXX)
chmod 755 "$WORK"
IMAGES=/var/lib/libvirt/images
HV="node $ROOT/bin/hv.js"
kernel_field() { auditctl -s | awk -v f="$1" '$1 == f { print $2 }'; }
ENABLED_BEFORE=$(kernel_field enabled)
BACKLOG_BEFORE=$(kernel_field backlog_limit)
FAILURE_BEFORE=$(kernel_field failure)
AUDITD_PID=
SERVICE_PIDS=()
CREATED_USER=0

if [[ $(auditctl -l) != "No rules" ]]; then echo "the kernel has audit rules loaded already; not recording over them" >&2; exit 1; fi
other=$(kernel_field pid)
if [[ $other != 0 ]] && kill -0 "$other" 2>/dev/null; then echo "another auditd (pid $other) is running; not touching it" >&2; exit 1; fi

stop_services() {
  local pid
  for pid in "${SERVICE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVICE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SERVICE_PIDS=()
}
stop_auditd() {
  [[ -n $AUDITD_PID ]] || return 0
  auditctl -D >/dev/null 2>&1 || true
  kill -TERM "$AUDITD_PID" 2>/dev/null || true
  wait "$AUDITD_PID" 2>/dev/null || true
  AUDITD_PID=
  rm -f "$PIDFILE"
}
remove_domains() {
  local d
  for d in web1 ci-runner; do
    virsh -q -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
    for s in $(virsh -q -c qemu:///system snapshot-list "$d" --name 2>/dev/null); do virsh -q -c qemu:///system snapshot-delete "$d" "$s" --metadata >/dev/null 2>&1 || true; done
    virsh -q -c qemu:///system undefine "$d" >/dev/null 2>&1 || true
    rm -f "$IMAGES/$d.qcow2" "$IMAGES/$d".*.qcow2
  done
}
cleanup() {
  set +e
  stop_services
  stop_auditd
  auditctl -b "$BACKLOG_BEFORE" >/dev/null; auditctl -f "$FAILURE_BEFORE" >/dev/null
  [[ $ENABLED_BEFORE != 2 && $(kernel_field enabled) != "$ENABLED_BEFORE" ]] && auditctl -e "$ENABLED_BEFORE" >/dev/null
  remove_domains
  dpkg -s hv-status-tools >/dev/null 2>&1 && dpkg -r hv-status-tools >/dev/null
  rm -f /etc/sudoers.d/hv-benign /etc/cron.d/hv-benign /etc/logrotate.d/hv-benign /usr/local/sbin/hv-benign-status /var/lib/hv-benign-status /var/lib/hv-benign-logrotate.state
  rm -rf /var/log/hv-benign /var/backups/hv-benign /srv/hv-benign /root/hv-config /root/.ssh/hv-benign*
  [[ -f $WORK/authorized_keys.orig ]] && cp "$WORK/authorized_keys.orig" /root/.ssh/authorized_keys
  [[ -f $WORK/authorized_keys.none ]] && rm -f /root/.ssh/authorized_keys
  ((CREATED_USER)) && userdel -r hvadmin 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# The host as it is before the first day (nothing here is recorded).

if ! id hvadmin >/dev/null 2>&1; then useradd -m -s /bin/bash hvadmin; CREATED_USER=1; fi
HVADMIN_UID=$(id -u hvadmin)
echo 'hvadmin ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/hv-benign
chmod 440 /etc/sudoers.d/hv-benign
mkdir -p /var/log/hv-benign /var/backups/hv-benign /srv/hv-benign/www/cgi-bin "$IMAGES"

# The status page: lighttpd runs CGI scripts as its user (www-data).
cat > /srv/hv-benign/www/index.html <<'EOF'
<html><body><h1>hypervisor status</h1><a href="/cgi-bin/status.cgi">status</a></body></html>
EOF
cat > /srv/hv-benign/www/cgi-bin/status.cgi <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "host: $(hostname)"
uptime
df -h / | tail -1
free -m | awk 'NR==2 { print "memory used MiB: " $3 }'
cat /var/lib/hv-benign-status 2>/dev/null
EOF
chmod 755 /srv/hv-benign/www/cgi-bin/status.cgi
cat > "$WORK/lighttpd.conf" <<EOF
server.document-root = "/srv/hv-benign/www"
server.bind = "127.0.0.1"
server.port = 8088
server.username = "www-data"
server.groupname = "www-data"
server.errorlog = "/var/log/hv-benign/lighttpd-error.log"
server.pid-file = "$WORK/lighttpd.pid"
server.modules = ("mod_cgi", "mod_alias")
alias.url = ("/cgi-bin/" => "/srv/hv-benign/www/cgi-bin/")
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = (".cgi" => "") }
index-file.names = ("index.html")
EOF
chown www-data /var/log/hv-benign

# cron: a status job and log rotation, every minute (a real host runs them hourly/daily).
cat > /usr/local/sbin/hv-benign-status <<'EOF'
#!/bin/sh
# What a monitoring cron job on a hypervisor does: record the VMs and the disk use.
{ date -Is; virsh -q -c qemu:///system list --all; df -h /var/lib/libvirt/images | tail -1; } > /var/lib/hv-benign-status
echo "$(date -Is) status ok" >> /var/log/hv-benign/status.log
EOF
chmod 755 /usr/local/sbin/hv-benign-status
cat > /etc/logrotate.d/hv-benign <<'EOF'
/var/log/hv-benign/*.log {
  rotate 3
  size 1
  compress
  missingok
  notifempty
  copytruncate
}
EOF
cat > /etc/cron.d/hv-benign <<'EOF'
* * * * * root /usr/local/sbin/hv-benign-status
* * * * * root /usr/sbin/logrotate --state /var/lib/hv-benign-logrotate.state /etc/logrotate.d/hv-benign
* * * * * root curl -s -o /dev/null http://127.0.0.1:8088/cgi-bin/status.cgi
EOF
chmod 644 /etc/cron.d/hv-benign

# sshd on loopback only, with its own host key; root logs in with a key.
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh_host_key"
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/hv-benign -C hv-benign 2>/dev/null || { mkdir -p /root/.ssh; chmod 700 /root/.ssh; ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/hv-benign -C hv-benign; }
if [[ -f /root/.ssh/authorized_keys ]]; then cp /root/.ssh/authorized_keys "$WORK/authorized_keys.orig"; else touch "$WORK/authorized_keys.none"; fi
cat /root/.ssh/hv-benign.pub >> /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
mkdir -p /run/sshd
cat > "$WORK/sshd_config" <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey $WORK/ssh_host_key
PermitRootLogin prohibit-password
UsePAM yes
PidFile $WORK/sshd.pid
EOF
SSH="ssh -q -p 2222 -i /root/.ssh/hv-benign -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes root@127.0.0.1"

# A local package, as an admin would build for their own tools.
mkdir -p "$WORK/pkg/DEBIAN" "$WORK/pkg/usr/local/bin"
cat > "$WORK/pkg/DEBIAN/control" <<'EOF'
Package: hv-status-tools
Version: 1.0
Architecture: all
Maintainer: hv admin <root@localhost>
Description: local status helpers
EOF
printf '#!/bin/sh\nset -e\n[ "$1" = configure ] && echo "hv-status-tools configured" >/var/log/hv-benign/pkg.log\nexit 0\n' > "$WORK/pkg/DEBIAN/postinst"
chmod 755 "$WORK/pkg/DEBIAN/postinst"
printf '#!/bin/sh\nvirsh -q -c qemu:///system list --all\n' > "$WORK/pkg/usr/local/bin/vms"
chmod 755 "$WORK/pkg/usr/local/bin/vms"

# The VMs: the real test guest (kernel + busybox initramfs) on qcow2 overlays.
guest_xml() { # NAME → XML on stdout
  cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>$GUEST/vmlinuz</kernel><initrd>$GUEST/initrd.img</initrd><cmdline>console=ttyS0 quiet</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$IMAGES/$1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='virtio'/>
  </devices>
</domain>
EOF
}
remove_domains
qemu-img create -q -f qcow2 -b "$GUEST/disk.qcow2" -F qcow2 "$IMAGES/web1.qcow2"
guest_xml web1 > "$WORK/web1.xml"
virsh -q -c qemu:///system define "$WORK/web1.xml" >/dev/null
guest_xml ci-runner > /srv/hv-benign/ci-runner.xml

# ---------------------------------------------------------------------------------------------
# The admin's work. `session` is a login: a fresh audit session for the admin (auid hvadmin, as
# after `ssh hvadmin@host; sudo -i`); its id goes to $WORK/sessions for the filter.

session() {
  bash -c 'echo '"$HVADMIN_UID"' > /proc/self/loginuid && cat /proc/self/sessionid >> '"$WORK/sessions"' && echo >> '"$WORK/sessions"' && exec bash -s'
}

# One round of work: roughly a minute of what an admin does; ROUND picks the variant.
admin_round() { # ROUND DAY
  local round=$1 day=$2 v=$(( $1 % 6 ))
  cat <<EOF
set +e
cd /root
export PATH=$PATH HOME=/root
exec >>$WORK/admin.out 2>&1
echo "== round $round"
uptime; df -h /; free -m; ps aux --sort=-%cpu | head -5; ip -br addr; ss -tln
virsh -c qemu:///system list --all
$HV vm list
curl -s http://127.0.0.1:8088/cgi-bin/status.cgi
EOF
  case $v in
    0) cat <<EOF
virsh -c qemu:///system start web1 || true
sleep 8
virsh -c qemu:///system dominfo web1; virsh -c qemu:///system domstats web1 | head -20
$HV vm info web1
virsh -c qemu:///system snapshot-create-as web1 daily-d${day}r${round} --description "before maintenance"
virsh -c qemu:///system snapshot-list web1
EOF
       ;;
    1) cat <<EOF
# backups: configuration with tar, the images with rsync
tar czf /var/backups/hv-benign/libvirt-etc-d${day}r${round}.tgz -C / etc/libvirt 2>/dev/null
virsh -c qemu:///system dumpxml web1 > /var/backups/hv-benign/web1.xml
mkdir -p /var/backups/hv-benign/images
rsync -a --inplace $IMAGES/web1.qcow2 /var/backups/hv-benign/images/
rsync -a /etc/hosts /etc/hostname /var/backups/hv-benign/
ls -la /var/backups/hv-benign; du -sh /var/backups/hv-benign
find /var/backups/hv-benign -name '*.tgz' -mmin +3 -delete
EOF
       ;;
    2) cat <<EOF
# a short-lived VM through hv: define, start, snapshot, stop, delete
qemu-img create -q -f qcow2 -b $GUEST/disk.qcow2 -F qcow2 $IMAGES/ci-runner.qcow2
$HV vm define /srv/hv-benign/ci-runner.xml
$HV vm start ci-runner
sleep 10
$HV vm snapshot create ci-runner build-d${day}r${round}
$HV vm snapshot list ci-runner
$HV vm stop ci-runner --timeout 5 --force
$HV vm snapshot delete ci-runner build-d${day}r${round}
$HV vm delete ci-runner
rm -f $IMAGES/ci-runner.qcow2
EOF
       ;;
    3) cat <<EOF
# configuration under git, edited with vim and sed
mkdir -p /root/hv-config && cd /root/hv-config
[ -d .git ] || git init -q
git config user.email root@localhost; git config user.name admin
virsh -c qemu:///system dumpxml web1 > web1.xml
echo "# round $round" >> notes.txt
vim -n -es -c '%s/quiet/quiet loglevel=3/e' -c 'wq' web1.xml
sed -i 's/loglevel=3/loglevel=4/' web1.xml
git add -A; git commit -q -m "day $day round $round"; git log --oneline | head -3; git diff HEAD~1 --stat 2>/dev/null
cd /root
EOF
       ;;
    4) cat <<EOF
# a local package; sudo and su
dpkg-deb --build -Zgzip $WORK/pkg /srv/hv-benign/hv-status-tools.deb >/dev/null
dpkg -i /srv/hv-benign/hv-status-tools.deb
/usr/local/bin/vms
runuser -u hvadmin -- sudo -n virsh -c qemu:///system list --all
runuser -u hvadmin -- sudo -n tail -5 /var/log/hv-benign/status.log
su - hvadmin -c 'id; ls -la ~' 
dpkg -r hv-status-tools
EOF
       ;;
    5) cat <<EOF
# remote checks over ssh, logs, the guest
$SSH 'uptime; virsh -c qemu:///system list --all; tail -3 /var/log/hv-benign/status.log'
$SSH 'df -h /var/lib/libvirt/images'
tail -n 20 /var/log/hv-benign/lighttpd-error.log
zcat -f /var/log/hv-benign/status.log.1.gz 2>/dev/null | tail -2
for s in \$(virsh -c qemu:///system snapshot-list web1 --name); do virsh -c qemu:///system snapshot-delete web1 "\$s"; done
virsh -c qemu:///system shutdown web1 || true
sleep 5
virsh -c qemu:///system destroy web1 || true
EOF
       ;;
  esac
}

# ---------------------------------------------------------------------------------------------

start_services() {
  lighttpd -D -f "$WORK/lighttpd.conf" </dev/null >/dev/null 2>&1 &
  SERVICE_PIDS+=($!)
  cron -f </dev/null >/dev/null 2>&1 &
  SERVICE_PIDS+=($!)
  /usr/sbin/sshd -D -f "$WORK/sshd_config" </dev/null >/dev/null 2>&1 &
  SERVICE_PIDS+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8088/ && break; sleep 0.2; done
}

# A monitoring system polling the status page (from outside the admin's session).
poller() { # SECONDS
  local end=$(( $(date +%s) + $1 ))
  while (( $(date +%s) < end )); do curl -s -o /dev/null http://127.0.0.1:8088/cgi-bin/status.cgi; sleep 20; done
}

start_auditd() { # DIR
  local dir=$1
  mkdir -p "$dir/plugins.d"
  chmod 700 "$dir"
  LOG="$dir/audit.log"
  sed -E -e '/^\s*(log_file|log_format|plugin_dir|space_left_action|admin_space_left_action|disk_full_action|disk_error_action|max_log_file_action|max_log_file)\s*=/d' /etc/audit/auditd.conf > "$dir/auditd.conf"
  cat >> "$dir/auditd.conf" <<EOF
log_file = $LOG
log_format = ENRICHED
plugin_dir = $dir/plugins.d
space_left_action = SYSLOG
admin_space_left_action = SYSLOG
disk_full_action = SYSLOG
disk_error_action = SYSLOG
max_log_file = 4096
max_log_file_action = IGNORE
EOF
  chmod 640 "$dir/auditd.conf"
  auditd -n -c "$dir" </dev/null >/dev/null 2>&1 &
  AUDITD_PID=$!
  echo "$AUDITD_PID" > "$PIDFILE"
  for _ in $(seq 100); do [[ $(kernel_field pid) == "$AUDITD_PID" && -s $LOG ]] && break; sleep 0.1; done
  [[ $(kernel_field pid) == "$AUDITD_PID" ]] || { echo "auditd did not come up" >&2; exit 1; }
}


record_day() { # RULESET DAY
  local ruleset=$1 day=$2 dir="$WORK/auditd-$1-$2"
  : > "$WORK/sessions"
  start_services
  start_auditd "$dir"
  auditctl -R "${RULEFILE[$ruleset]}" >/dev/null 2>"$WORK/auditctl.err" || true
  echo "$(date -Is) $ruleset day $day: $(auditctl -l | wc -l) audit rules loaded; recording $MINUTES minutes" >&2
  local seeds="${SERVICE_PIDS[*]} $(pgrep -x libvirtd | tr '\n' ' ') $(pgrep -x virtlogd | tr '\n' ' ')"
  local end=$(( $(date +%s) + MINUTES * 60 )) round=$(( (day - 1) * 3 ))
  poller $(( MINUTES * 60 )) &
  local poller_pid=$!
  while (( $(date +%s) < end )); do
    admin_round "$round" "$day" | session || true
    round=$((round + 1))
    # The admin reads, thinks, types: 20–40 s between bursts.
    sleep "${HV_BENIGN_PAUSE:-$(( 20 + RANDOM % 20 ))}"
  done
  wait "$poller_pid" 2>/dev/null || true
  if ! kill -0 "$AUDITD_PID" 2>/dev/null; then
    echo "auditd (pid $AUDITD_PID) ended before the take did (stopped by another process?): $ruleset day $day is incomplete, not kept" >&2
    exit 1
  fi
  virsh -q -c qemu:///system destroy web1 >/dev/null 2>&1 || true
  stop_auditd
  stop_services
  # HV_BENIGN_KEEP_RAW=DIR keeps the whole log with the filter's inputs (to check the filter).
  if [[ -n ${HV_BENIGN_KEEP_RAW:-} ]]; then
    mkdir -p "$HV_BENIGN_KEEP_RAW"
    gzip -c "$LOG" > "$HV_BENIGN_KEEP_RAW/$ruleset-day$day.raw.log.gz"
    { echo "seeds: $seeds"; echo "sessions: $(tr '\n' ' ' < "$WORK/sessions")"; } > "$HV_BENIGN_KEEP_RAW/$ruleset-day$day.filter.txt"
    cp "$WORK/admin.out" "$HV_BENIGN_KEEP_RAW/$ruleset-day$day.admin.out" 2>/dev/null || true
  fi
  keep_events "$LOG" "$WORK/sessions" $seeds | gzip -9 > "$OUT/$ruleset-day$day.log.gz"
  : > "$WORK/admin.out"
  echo "$(date -Is) $ruleset day $day: $(zcat "$OUT/$ruleset-day$day.log.gz" | wc -l) of $(wc -l < "$LOG") lines kept → $OUT/$ruleset-day$day.log.gz" >&2
}

RANDOM=15
for ruleset in $RULESETS; do
  for day in $(seq 1 "$DAYS"); do record_day "$ruleset" "$day"; done
done
