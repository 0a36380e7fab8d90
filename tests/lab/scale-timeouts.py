#!/usr/bin/python3
"""Scale every operation timeout in a CIB file (in place): scale-timeouts.py CIB FACTOR.

The crm-examples script takes operation timeouts from the agents' meta-data, sized for real
machines. Lab nodes are TCG guests sharing 2 host cores with other VMs, 10-30x slower, where a
20 s stop of ocf:heartbeat:nfsserver times out, fails, and gets its node fenced.
"""
import re
import sys
import xml.etree.ElementTree as ET


def seconds(v):
    m = re.fullmatch(r"\s*(\d+)\s*(ms|msec|s|sec|m|min|h|hr)?\s*", v)
    if not m:
        return None
    n, unit = int(m.group(1)), (m.group(2) or "s")
    return {"ms": n / 1000, "msec": n / 1000, "s": n, "sec": n, "m": n * 60, "min": n * 60,
            "h": n * 3600, "hr": n * 3600}[unit]


path, factor = sys.argv[1], float(sys.argv[2])
tree = ET.parse(path)
changed = 0
for op in tree.iter("op"):
    t = op.get("timeout")
    s = seconds(t) if t else None
    if s is not None:
        op.set("timeout", "%ds" % max(int(s * factor), 60))
        changed += 1
tree.write(path)
print("scaled %d operation timeouts by %g" % (changed, factor))
