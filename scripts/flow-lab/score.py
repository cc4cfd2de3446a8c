#!/usr/bin/env python3
"""Score `hv flows --replay --json` alerts against a flow-lab truth file: caught, missed, false positives.

  hv flows --replay R.conntrack.log --inventory R.inventory.json --feed R.feed.txt --json > alerts.jsonl
  score.py R.truth.json R.inventory.json alerts.jsonl

An attack segment is caught when a new alert (one JSON line) is about its VM, names its source (the
VM's address) and its destination (the address, inside the CIDR for a network; the port when the
truth gives one and the alert has one), and was raised between the segment's start and 180 s after
its end (conntrack reports a flow's end a timeout after it). The rule is not required to match the
kind (as the issue measures); `kind` says whether it did. An alert that catches no segment is a
false positive. Exit 0 when every segment is caught and there is at most one false positive.
"""
import ipaddress
import json
import sys
from datetime import datetime

LATE_S = 180
KIND = {"port-scan": "flow:port-scan", "brute-force": "flow:brute-force", "beaconing": "flow:beacon",
        "large-outbound": "flow:large-outbound", "udp-flood": "flow:udp-flood", "feed-hit": "intel:",
        "lateral": "flow:lateral-movement", "dns-tunnel": "flow:dns-tunnel", "icmp-tunnel": "flow:icmp-tunnel"}


def alert_vm(a):
    if a.get("entity", {}).get("kind") == "vm":
        return a["entity"]["id"]
    return (a.get("vm") or {}).get("name")


def names_destination(a, dest):
    host, _, port = dest.partition(":") if "/" not in dest else (dest, "", "")
    ip = (a.get("destination") or {}).get("ip")
    if ip is None:
        return False
    if ipaddress.ip_address(ip) not in ipaddress.ip_network(host, strict=False):
        return False
    aport = (a.get("destination") or {}).get("port")
    return not port or aport is None or int(port) == aport


def catches(a, atk, vm_ip):
    t = a["_t"]
    return (alert_vm(a) == atk["vm"] and (a.get("source") or {}).get("ip") == vm_ip
            and names_destination(a, atk["destination"]) and atk["start"] - 1 <= t <= atk["end"] + LATE_S)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    truth = json.load(open(sys.argv[1]))
    ips = {v["name"]: v["interfaces"][0]["ip"] for v in json.load(open(sys.argv[2]))}
    alerts = []
    for line in open(sys.argv[3]):
        if line.strip():
            a = json.loads(line)
            a["_t"] = datetime.fromisoformat(a["@timestamp"].replace("Z", "+00:00")).timestamp()
            alerts.append(a)
    rows, used = [], set()
    for atk in truth["attacks"]:
        hits = [i for i, a in enumerate(alerts) if catches(a, atk, ips[atk["vm"]])]
        used.update(hits)
        kind = any(alerts[i]["rule"]["id"].startswith(KIND.get(atk["kind"], "?")) for i in hits)
        rows.append((atk, hits, kind))
    fps = [a for i, a in enumerate(alerts) if i not in used]
    print("%-12s %-8s %-20s %-7s %-6s %s" % ("kind", "vm", "destination", "caught", "kind", "by"))
    for atk, hits, kind in rows:
        by = "; ".join("%s %s" % (alerts[i]["rule"]["id"], alerts[i].get("target", "")) for i in hits) or "-"
        print("%-12s %-8s %-20s %-7s %-6s %s" % (atk["kind"], atk["vm"], atk["destination"], "yes" if hits else "MISSED", "yes" if kind else "no", by))
    caught = sum(1 for _, h, _ in rows if h)
    print("caught %d of %d (%d with the rule of their kind), %d false positive(s) of %d alerts"
          % (caught, len(rows), sum(1 for _, h, k in rows if h and k), len(fps), len(alerts)))
    for a in fps:
        print("  false positive: %s %s=%s %s" % (a["rule"]["id"], a["entity"]["kind"], a["entity"]["id"], a.get("summary", "")))
    sys.exit(0 if caught == len(rows) and len(fps) <= 1 else 1)


if __name__ == "__main__":
    main()
