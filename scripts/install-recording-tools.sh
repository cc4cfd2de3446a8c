#!/usr/bin/env bash
# The tools hv's recording scripts drive and the benchmarks' peers, on top of what .ci/run installs
# (tests only replay the committed recordings and never run a benchmark peer, so CI does not need
# these). Run once, as root, before re-recording or benchmarking:
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
# bench/decode.ts: laurel, a peer of hv's audit decoder (beside ausearch, which auditd brings); hv
#   never runs it.
# scripts/record-hv-rule-fixtures.sh (docs/hv-rules.md): the hypervisor techniques' own tools —
#   ptrace and process_vm_readv with strace/gdb, module loads with insmod/modprobe (kmod), the guest
#   agent started on the host (qemu-guest-agent), iptables next to nft, hv's own database
#   tampered with sqlite3, ssh and curl clients (migration, exfiltration steps).
apt-get install -y -qq --no-install-recommends \
  openssh-server hydra hping3 iodine ptunnel-ng bind9-dnsutils iputils-ping postgresql \
  lighttpd sudo rsync cron laurel \
  strace gdb kmod qemu-guest-agent iptables sqlite3 openssh-client curl >/dev/null
# laurel's package turns its auditd plugin on; the benchmark runs it by hand on a file, so a system
# auditd must not start it.
sed -i -E 's/^active\s*=\s*yes/active = no/' /etc/audit/plugins.d/laurel.conf
echo "recording tools installed"
