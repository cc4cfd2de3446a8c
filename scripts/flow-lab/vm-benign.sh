#!/usr/bin/env bash
# Benign traffic of one lab VM. Runs inside the VM's network namespace until killed
# (the caller kills the whole process group).
# usage: vm-benign.sh SEED VM_IP NTP_PERIOD_S SSH(0|1) DOWNLOAD_MB WORKDIR
set -u
seed=$1 vm_ip=$2 ntp_period=$3 with_ssh=$4 download_mb=$5 work=$6
here=$(cd "$(dirname "$0")" && pwd)
RANDOM=$seed

pages=(/ /index.html /news/today /img/logo.png /css/site.css /js/app.js /api/v1/items
  /search?q=kvm /docs/install /blog/2026/11/release /favicon.ico /static/font.woff2)
sites=(www.example.com news.example.org cdn.example.net:443 api.example.org:443)

# A host-side scraper polls this, like Prometheus scraping node_exporter.
python3 "$here/servers.py" http --bind "$vm_ip" --port 9100 &

# Browsing: irregular pauses, then one page or a burst of parallel requests.
browse() {
  RANDOM=$((seed + 1))
  while true; do
    sleep "$((RANDOM % 35 + 3)).$((RANDOM % 10))"
    local site=${sites[RANDOM % ${#sites[@]}]} n=$((RANDOM % 6 + 1)) urls=()
    for ((i = 0; i < n; i++)); do urls+=("http://$site${pages[RANDOM % ${#pages[@]}]}"); done
    curl -s --max-time 20 --parallel --parallel-immediate --parallel-max 6 "${urls[@]}" >/dev/null
  done
}

# Stray name lookups (some NXDOMAIN), as resolvers of real machines see.
lookups() {
  RANDOM=$((seed + 2))
  local names=(www.example.com news.example.org mirror.example.com wpad.lan
    api.example.org printer.local.lan cdn.example.net ocsp.example.org)
  while true; do
    sleep "$((RANDOM % 70 + 15))"
    getent ahosts "${names[RANDOM % ${#names[@]}]}" >/dev/null
  done
}

# Time sync: periodic, benign, UDP to 123.
ntp() {
  while true; do
    python3 "$here/servers.py" ntp-query 192.0.2.123
    sleep "$ntp_period"
  done
}

# Package cache on the host (VM -> host service traffic), now and then.
apt_cache() {
  RANDOM=$((seed + 3))
  while true; do
    sleep "$((RANDOM % 120 + 40))"
    curl -s --max-time 20 "http://10.77.0.1:3142/debian/dists/stable/InRelease" >/dev/null
  done
}

# A long-lived admin session with a little traffic.
ssh_session() {
  while true; do
    ssh -q -i "$work/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no \
      -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=30 \
      root@bastion.example.com 'while sleep 7; do uptime; done' >/dev/null 2>&1
    sleep 5
  done
}

# One large inbound download (an ISO, an update) at a random moment.
download() {
  RANDOM=$((seed + 4))
  sleep "$((RANDOM % 90 + 20))"
  curl -s --max-time 300 --limit-rate 8M \
    "http://mirror.example.com/images/debian.iso?bytes=$((download_mb * 1000000))" >/dev/null
}

browse &
lookups &
ntp &
apt_cache &
if [ "$with_ssh" = 1 ]; then ssh_session & fi
if [ "$download_mb" -gt 0 ]; then download & fi
wait
