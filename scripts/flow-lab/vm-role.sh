#!/usr/bin/env bash
# Role traffic of one VM in the "segments" scenario (look-alikes of attacks that are benign).
# Runs inside the VM's (or the host's) network namespace until killed.
# usage: vm-role.sh ROLE SEED RATE_SCALE WORKDIR
#   app        a new PostgreSQL connection to db01 every 3-6 s (x RATE_SCALE), each running a query
#   mail       DNS blocklist-style lookups in bursts (reversed addresses under a zone), and a few
#              full-size pings now and then (a path MTU check)
#   healthcheck  (host) GET app01:80 every 5 s (x RATE_SCALE), ping every VM every 10 s
set -u
role=$1 seed=$2 scale=$3 work=$4
RANDOM=$seed
pause() { sleep "$(awk -v lo="$1" -v hi="$2" -v s="$scale" -v r=$RANDOM 'BEGIN{printf "%.2f", (lo + (hi - lo) * r / 32767) * s}')"; }

case "$role" in
app)
  queries=("select count(*) from orders where created > now() - interval '1 hour'"
    "select id, total from orders order by id desc limit 20"
    "insert into orders (total) values (random() * 100) returning id"
    "select sum(total) from orders")
  while true; do
    PGPASSWORD=app-secret PGCONNECT_TIMEOUT=5 psql -q -h 10.77.0.21 -U app -d appdb -c "${queries[RANDOM % ${#queries[@]}]}" >/dev/null 2>&1
    pause 3 6
  done
  ;;
mail)
  mtu() {
    while true; do
      pause 90 150
      ping -q -c 3 -i 0.5 -s 1472 -M do 192.0.2.10 >/dev/null 2>&1
    done
  }
  mtu &
  while true; do
    pause 8 30
    n=$((RANDOM % 16 + 5))
    for ((i = 0; i < n; i++)); do
      name="$((RANDOM % 223 + 1)).$((RANDOM % 256)).$((RANDOM % 256)).$((RANDOM % 256)).zen.blocklist.example.org"
      dig +short +tries=1 +time=2 "$name" A >/dev/null 2>&1
    done
  done
  ;;
healthcheck)
  pings() {
    while true; do
      for ip in "${@}"; do ping -q -c 1 -W 1 "$ip" >/dev/null 2>&1; done
      sleep 10
    done
  }
  shift 4
  pings "$@" &
  while true; do
    curl -s --max-time 3 http://10.77.0.20/healthz >/dev/null
    sleep "$(awk -v s="$scale" 'BEGIN{printf "%.2f", 5 * s}')"
  done
  ;;
*)
  echo "vm-role.sh: unknown role $role" >&2
  exit 2
  ;;
esac
