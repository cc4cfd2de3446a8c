#!/usr/bin/env bash
# Records real auditd logs into test/fixtures/audit/ (or the directory given as $1).
#
#   sudo scripts/record-audit-fixtures.sh [OUTDIR]
#
# Needs root and the Debian package `auditd`; no systemd. For each fixture it starts a private
# auditd (`auditd -n -c DIR`, a copy of /etc/audit/auditd.conf with log_file and log_format
# changed and an empty plugin dir), adds the fixture's rules, runs a few commands in a subshell,
# deletes exactly those rules, stops auditd and keeps only the events of that subshell and its
# children (SYSCALL pid= or ppid= the subshell's pid, with the fixture's key), so whatever else
# the host runs meanwhile stays out. The kernel's `enabled` flag is put back as it was found.
#
#   real-execve.log    execve: plain args, args with spaces/quotes (hex-encoded), an empty arg,
#                      a 9000-byte arg (split into a1[0], a1[1], ...), a failing exec (ENOENT)
#   real-file.log      a watch `-w DIR -p wa`: create, append, chmod, rename, delete a file
#   real-connect.log   connect() to 127.0.0.1: to a listening port and to a closed one
#   real-enriched.log  a mix of the above plus auditd's own records, log_format = ENRICHED
#   real-raw.log       the same mix, log_format = RAW
#
# The first three are recorded with log_format = ENRICHED, as Debian ships it.
# Only one auditd can run per host: this refuses to start if one is registered with the kernel,
# except the one test/helpers/auditd.ts may have left behind (same pid file), which it stops.

set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }
command -v auditd >/dev/null && command -v auditctl >/dev/null || { echo "auditd/auditctl missing (apt-get install auditd)" >&2; exit 1; }

OUT=$(realpath -m "${1:-$(dirname "$0")/../test/fixtures/audit}")
mkdir -p "$OUT"
PIDFILE="${TMPDIR:-/tmp}/hv-test-auditd.pid"
WORK=$(mktemp -d /tmp/hv-fixtures.XXXXXX)
chmod 700 "$WORK"

kernel_field() { auditctl -s | awk -v f="$1" '$1 == f { print $2 }'; }

ENABLED_BEFORE=$(kernel_field enabled)
AUDITD_PID=
DELETE_RULES=()

cleanup() {
  delete_rules
  stop_auditd
  if [[ $ENABLED_BEFORE != 2 && $(kernel_field enabled) != "$ENABLED_BEFORE" ]]; then auditctl -e "$ENABLED_BEFORE" >/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -s $PIDFILE ]] && [[ $(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null) == auditd ]]; then
  kill -TERM "$(cat "$PIDFILE")"; sleep 1
fi
other=$(kernel_field pid)
if [[ $other != 0 ]] && kill -0 "$other" 2>/dev/null; then
  echo "another auditd (pid $other) is running; not touching it" >&2; exit 1
fi

start_auditd() { # FORMAT NAME -> sets LOG
  local dir="$WORK/$2"
  mkdir -p "$dir/plugins.d"
  LOG="$dir/audit.log"
  sed -E -e '/^\s*(log_file|log_format|plugin_dir|space_left_action|admin_space_left_action|disk_full_action|disk_error_action)\s*=/d' /etc/audit/auditd.conf > "$dir/auditd.conf"
  cat >> "$dir/auditd.conf" <<EOF
log_file = $LOG
log_format = $1
plugin_dir = $dir/plugins.d
space_left_action = SYSLOG
admin_space_left_action = SYSLOG
disk_full_action = SYSLOG
disk_error_action = SYSLOG
EOF
  chmod 640 "$dir/auditd.conf"
  auditd -n -c "$dir" </dev/null >/dev/null 2>&1 &
  AUDITD_PID=$!
  echo "$AUDITD_PID" > "$PIDFILE"
  for _ in $(seq 100); do
    [[ $(kernel_field pid) == "$AUDITD_PID" && -s $LOG ]] && return 0
    sleep 0.1
  done
  echo "auditd did not come up" >&2; exit 1
}

stop_auditd() {
  [[ -n $AUDITD_PID ]] || return 0
  kill -TERM "$AUDITD_PID" 2>/dev/null || true
  wait "$AUDITD_PID" 2>/dev/null || true
  AUDITD_PID=
  rm -f "$PIDFILE"
}

add_rule() { # auditctl args of a rule (-a ... or -w ...)
  auditctl "$@" >/dev/null
  case $1 in
    -a) DELETE_RULES+=("-d ${*:2}") ;;
    -w) DELETE_RULES+=("-W ${*:2}") ;;
  esac
}

delete_rules() {
  local rule
  for rule in "${DELETE_RULES[@]}"; do
    # shellcheck disable=SC2086 # the words of a rule, split as they were given
    auditctl $rule >/dev/null || echo "could not delete rule: $rule" >&2
  done
  DELETE_RULES=()
}

# filter LOG SUBSHELL_PID KEY_REGEX KEEP_DAEMON_RECORDS: the events whose SYSCALL record has the key
# and was made by the subshell or one of its children, every record of them, in log order.
filter() {
  awk -v sub_pid="$2" -v keyre="$3" -v meta="$4" '
    function id(line) { return match(line, /msg=audit\([0-9.]+:[0-9]+\)/) ? substr(line, RSTART, RLENGTH) : "" }
    NR == FNR {
      if ($0 ~ /^type=SYSCALL / && $0 ~ keyre && (index($0, " pid=" sub_pid " ") || index($0, " ppid=" sub_pid " "))) keep[id($0)] = 1
      if (meta && $0 ~ /^type=(DAEMON_[A-Z]+|CONFIG_CHANGE) /) keep[id($0)] = 1
      next
    }
    keep[id($0)]
  ' "$1" "$1"
}

record() { # FORMAT NAME OUTFILE KEEP_DAEMON_RECORDS KEY_REGEX SCENARIO
  start_auditd "$1" "$2"
  "$6"
  delete_rules
  sleep 0.5
  stop_auditd
  filter "$LOG" "$SUB" "$5" "$4" > "$OUT/$3"
  echo "$3: $(wc -l < "$OUT/$3") lines, $(wc -c < "$OUT/$3") bytes"
}

BIG=$(head -c 9000 /dev/zero | tr '\0' x)
WATCHED="$WORK/watched"
mkdir -p "$WATCHED"

execve_rules() { add_rule -a always,exit -F arch=b64 -S execve -k hvexec; }
execve_cmds() {
  /bin/echo hv-fx plain words
  /bin/echo hv-fx "with space" 'and "quotes"'
  /bin/echo hv-fx "" after-empty
  /bin/echo hv-fx "$BIG" >/dev/null
  /nonexistent/hv-missing 2>/dev/null || true
}
file_rules() { add_rule -w "$WATCHED" -p wa -k hvwatch; }
file_cmds() {
  echo hello > "$WATCHED/file.txt"
  echo more >> "$WATCHED/file.txt"
  chmod 600 "$WATCHED/file.txt"
  mv "$WATCHED/file.txt" "$WATCHED/renamed.txt"
  rm "$WATCHED/renamed.txt"
}
connect_rules() { add_rule -a always,exit -F arch=b64 -S connect -k hvconnect; }
connect_cmds() {
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  exec 3>&-
  (exec 4<>/dev/tcp/127.0.0.1/1) 2>/dev/null || true
}

# The commands run in a background subshell so that its pid tells its events apart; `true` at the
# end keeps bash from exec'ing the last command in place of the subshell.
run_sub() { ( "$@"; true ) & SUB=$!; wait "$SUB" || true; sleep 0.3; }

scenario_execve() { execve_rules; run_sub execve_cmds; }
scenario_file() { file_rules; run_sub file_cmds; }
scenario_connect() { connect_rules; run_sub connect_cmds; }
scenario_mixed() {
  execve_rules; file_rules; connect_rules
  run_sub mixed_cmds
}
mixed_cmds() {
  /bin/echo hv-fx "mixed run" 'with "quotes"'
  file_cmds
  connect_cmds
}

# A listener for the connect scenarios; it accepts whatever comes until killed.
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
while True:
    s.accept()[0].close()
' > "$WORK/port" &
LISTENER=$!
for _ in $(seq 50); do [[ -s $WORK/port ]] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

record ENRICHED execve real-execve.log 0 'key="hvexec"' scenario_execve
record ENRICHED file real-file.log 0 'key="hvwatch"' scenario_file
record ENRICHED connect real-connect.log 0 'key="hvconnect"' scenario_connect
record ENRICHED enriched real-enriched.log 1 'key="hv(exec|watch|connect)"' scenario_mixed
record RAW raw real-raw.log 1 'key="hv(exec|watch|connect)"' scenario_mixed

kill "$LISTENER" 2>/dev/null || true
echo "recorded with $(dpkg-query -W -f='auditd ${Version}' auditd 2>/dev/null), kernel $(uname -r)"
