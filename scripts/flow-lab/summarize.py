#!/usr/bin/env python3
"""Write BASE.inventory.json and BASE.truth.json for a flow-lab recording, with counts
(lines, NEW, DESTROY, flows per VM and per attack, lost events) taken from the log itself.

Called by scripts/record-flow-lab.sh; can be re-run on an existing recording:
  summarize.py --out DIR --base lab --attacks attacks.tsv --vms "$(printf ...)" ...
"""
import argparse
import ipaddress
import json
import re
import uuid

EVENT = re.compile(r"^\[(\d+\.\d+)\]\s+\[(NEW|DESTROY)\]\s+ipv4\s+\d+\s+(\w+)\s")
UUID_NS = uuid.UUID("3f0b6a2e-5d1c-4c1a-9a57-6c7e2b1d0a77")


def parse_event(line):
    """Time, type, protocol, original tuple (first src/dst/dport) and id of one event line."""
    m = EVENT.match(line)
    if not m:
        return None
    src = re.search(r"\bsrc=(\S+)", line)
    dst = re.search(r"\bdst=(\S+)", line)
    dport = re.search(r"\bdport=(\d+)", line)
    ids = re.findall(r"\bid=(\d+)", line)
    return {
        "ts": float(m.group(1)),
        "type": m.group(2),
        "proto": m.group(3),
        "src": src and src.group(1),
        "dst": dst and dst.group(1),
        "dport": dport and dport.group(1),
        "id": ids[-1] if ids else None,
    }


def dest_matches(dest, ip, port):
    host, _, want_port = dest.partition(":") if "/" not in dest else (dest, "", "")
    try:
        net = ipaddress.ip_network(host, strict=False)
        if ipaddress.ip_address(ip) not in net:
            return False
    except ValueError:
        return False
    return not want_port or want_port == port


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("out", "base", "attacks", "table-at-end", "started", "ended",
                 "conntrack-version", "kernel", "rcvbuf", "vms"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--benign-only", default="0")
    a = p.parse_args()

    vms = []
    for row in a.vms.strip().splitlines():
        name, ip, mac, *_ = row.split()
        vms.append({
            "name": name,
            "uuid": str(uuid.uuid5(UUID_NS, name)),
            "interfaces": [{"tap": "vnet%d" % len(vms), "mac": "52:54:00:77:00:" + mac, "ip": ip}],
        })
    ip_to_vm = {v["interfaces"][0]["ip"]: v["name"] for v in vms}

    log_path = "%s/%s.conntrack.log" % (a.out, a.base)
    lines, events = 0, []
    with open(log_path) as f:
        for line in f:
            lines += 1
            e = parse_event(line)
            if e:
                events.append(e)
    new = [e for e in events if e["type"] == "NEW"]
    destroy = [e for e in events if e["type"] == "DESTROY"]

    per_vm = {}
    for v in vms:
        ip = v["interfaces"][0]["ip"]
        per_vm[v["name"]] = {
            "flowsFrom": sum(1 for e in new if e["src"] == ip),
            "flowsTo": sum(1 for e in new if e["dst"] == ip),
            "destroyFrom": sum(1 for e in destroy if e["src"] == ip),
        }

    attacks = []
    with open(a.attacks) as f:
        for row in f:
            if not row.strip():
                continue
            kind, vm, dest, start, end, tool, notes = row.rstrip("\n").split("\t")
            start, end = float(start), float(end)
            vm_ip = next(v["interfaces"][0]["ip"] for v in vms if v["name"] == vm)
            n = sum(1 for e in new if e["src"] == vm_ip and start - 1 <= e["ts"] <= end + 2
                    and dest_matches(dest, e["dst"], e["dport"]))
            attacks.append({"kind": kind, "vm": vm, "destination": dest, "start": start, "end": end,
                            "tool": tool, "notes": notes, "newEvents": n})

    table_ids = set(re.findall(r"\bid=(\d+)", open(a.table_at_end).read()))
    new_ids = {e["id"] for e in new}
    destroy_ids = {e["id"] for e in destroy}
    stderr = open("%s/%s.conntrack.stderr" % (a.out, a.base)).read()
    lost = {
        "enobufsWarnings": stderr.count("ENOBUFS"),
        "newWithoutDestroyNotInTableAtEnd": len(new_ids - destroy_ids - table_ids),
        "newWithoutDestroyStillInTableAtEnd": len(new_ids - destroy_ids & table_ids),
        "destroyWithoutNew": len(destroy_ids - new_ids),
        "eventSocketRcvbuf": a.rcvbuf.strip(),
        "conntrackStderr": stderr.strip().splitlines()[-3:],
    }
    attacker_vms = {x["vm"] for x in attacks}
    truth = {
        "attacks": attacks,
        "benignVms": [v["name"] for v in vms if v["name"] not in attacker_vms],
        "recording": {
            "started": float(a.started),
            "ended": float(a.ended),
            "conntrackVersion": a.conntrack_version,
            "kernel": a.kernel,
            "command": "conntrack -E -e NEW,DESTROY -o timestamp,extended,id",
            "benignOnly": a.benign_only == "1",
            "lines": lines,
            "newEvents": len(new),
            "destroyEvents": len(destroy),
            "perVm": per_vm,
            "lost": lost,
        },
    }
    with open("%s/%s.inventory.json" % (a.out, a.base), "w") as f:
        json.dump(vms, f, indent=2)
        f.write("\n")
    with open("%s/%s.truth.json" % (a.out, a.base), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    print(json.dumps({"lines": lines, "new": len(new), "destroy": len(destroy), "lost": lost,
                      "attacks": [(x["kind"], x["vm"], x["newEvents"]) for x in attacks]}, indent=1))


if __name__ == "__main__":
    main()
