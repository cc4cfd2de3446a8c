#!/usr/bin/env bash
# The tools hv's recording scripts drive, on top of what .ci/run installs (tests only replay the
# committed recordings, so CI does not need these). Run once, as root, before re-recording:
#   bash scripts/install-recording-tools.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# scripts/record-flow-lab.sh (docs/flow-lab.md): sshd as the brute-force and lateral-movement
#   target, hydra and hping3 as attack tools, iodine (DNS tunnel), ptunnel-ng (ICMP tunnel), dig as a
#   real DNS client, ping (large-payload echoes, monitoring pings), PostgreSQL as the database an
#   app server queries.
# scripts/record-benign-days.sh (docs/noise.md): a CGI status page served by lighttpd, sudo and su,
#   rsync backups, cron jobs, sshd on localhost.
# scripts/record-hv-rule-fixtures.sh (docs/hv-rules.md): the hypervisor techniques' own tools —
#   ptrace and process_vm_readv with strace/gdb, module loads with insmod/modprobe (kmod), the guest
#   agent started on the host (qemu-guest-agent), iptables next to nft, hv's own database
#   tampered with sqlite3, ssh and curl clients (migration, exfiltration steps).
apt-get install -y -qq --no-install-recommends \
  openssh-server hydra hping3 iodine ptunnel-ng bind9-dnsutils iputils-ping postgresql \
  lighttpd sudo rsync cron \
  strace gdb kmod qemu-guest-agent iptables sqlite3 openssh-client curl >/dev/null
echo "recording tools installed"
