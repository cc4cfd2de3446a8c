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
apt-get install -y -qq --no-install-recommends \
  openssh-server hydra hping3 iodine ptunnel-ng bind9-dnsutils iputils-ping postgresql \
  lighttpd sudo rsync cron >/dev/null
echo "recording tools installed"
