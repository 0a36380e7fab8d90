#!/usr/bin/python3
"""A picture of a lab failover experiment as the NFS client saw it (SVG, standard library only).

    tests/lab/plot.py --out docs/img/kill-primary.svg RUN_DIR [RUN_DIR]
    tests/lab/plot.py --out DIR RUN_DIR [RUN_DIR]          # DIR/EXP.svg for every experiment

x: seconds from the fault on the client's clock; y: writes acknowledged (fsync returned) since the
fault, one line per run (two runs, e.g. ferro and reference agents, share the axes). Vertical
lines mark the steps found in the run's logs: the fault, node lost / joined / fenced, DRBD demoted
and promoted, the group stopped and started, failed operations (pacemaker.log of both nodes), and
the first acknowledged write after each stall (the ack log). Inputs, in RUN_DIR/logs/ (written by
tests/lab/experiments.sh, writer_keep):
  EXP.ack              writer.py's ack log: "SEQ TIME" per acknowledged write, "E SEQ TIME MSG" per error
  EXP.fault            "fault T" (client clock, just before the fault) and "clock VM GUEST HOST" lines
  node*.pacemaker.log  collected at the end of the run (lab_collect_logs)
  cib-yes.xml          the pushed CIB (the group's members); optional
The experiment is --experiment, or the name of an --out file ending in .svg.
"""
import argparse
import calendar
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

# The experiments of tests/lab/experiments.sh, in run order: their fault, and its label at x=0.
EXPERIMENTS = {
    "standby": ("pcs node standby of the Primary, later unstandby", "standby"),
    "kill-primary": ("SIGKILL of the Primary's qemu (power loss)", "qemu killed"),
    "failback": ("the killed node is powered on again", "node powered on"),
    "stay": ("SIGKILL of the Primary's qemu, it returns (FAILBACK=no)", "qemu killed"),
    "nfs-restart": ("systemctl stop nfs-server on the Primary", "nfs-server stopped"),
    "nfs-fail": ("nfs-server stopped and made unstartable on the Primary", "nfs-server broken"),
    "netcut-drbd": ("DRBD's port cut between the nodes", "DRBD port cut"),
    "netcut-full": ("all traffic between the nodes cut", "link cut"),
}
STALL = 2.0  # a gap between two acknowledgements longer than this (s) is a stall worth marking
COLOURS = ("#1f5fa8", "#d9631e")


def parse_acks(lines):
    """writer.py's ack log -> ([(seq, time)], [(seq, time, message)])."""
    acks, errors = [], []
    for line in lines:
        p = line.split()
        if len(p) >= 3 and p[0] == "E":
            errors.append((int(p[1]), float(p[2]), " ".join(p[3:])))
        elif len(p) == 2:
            acks.append((int(p[0]), float(p[1])))
    return acks, errors


def parse_fault(lines):
    """EXP.fault -> (fault time, {vm: guest clock minus host clock})."""
    fault, offsets = None, {}
    for line in lines:
        p = line.split()
        if len(p) == 2 and p[0] == "fault":
            fault = float(p[1])
        elif len(p) == 4 and p[0] == "clock":
            offsets[p[1]] = float(p[2]) - float(p[3])
    if fault is None:
        raise ValueError("no 'fault TIME' line")
    return fault, offsets


MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
PCMK_LINE = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d(?:\.\d+)?) \S+ .*?\)\s+\w+: (.*)$")
RESULT = re.compile(r"^Result of (\w+) operation for (\S+) on (\S+): (.*?)(?: \||$)")


def pacemaker_time(mon, day, hh, mm, ss, near):
    """A syslog-style stamp (UTC, no year) as epoch seconds, the year taken closest to `near`."""
    year = int(near // 31556952) + 1970
    cands = [calendar.timegm((y, MONTHS[mon], int(day), int(hh), int(mm), 0)) + float(ss)
             for y in (year - 1, year, year + 1)]
    return min(cands, key=lambda t: abs(t - near))


def parse_pacemaker(lines, near, group=("fs_data", "vip")):
    """pacemaker.log -> [(time, label)] of the failover's steps (node clock, epoch seconds).
    `group` is the service group's (first, last) member: the last one's start is "group started"
    and its stop (the first of the group's) "group stopping", the first one's stop (the last)
    "group stopped"."""
    events = []
    for line in lines:
        m = PCMK_LINE.match(line)
        if not m:
            continue
        msg, label = m.group(6), None
        r = RESULT.match(msg)
        if r:
            op, rsc, node, status = r.groups()
            # Probes, notifications, a cancelled recurring monitor and the Primary's monitor
            # ("promoted", 8) are no step.
            if op in ("probe", "notify") or status == "Cancelled" or \
                    (op == "monitor" and status in ("ok", "promoted")):
                continue
            if status != "ok":  # "error (<exit reason>)": the reason is too long for a label
                label = "%s %s: %s" % (rsc, op, status.split(" (")[0])
            elif op in ("promote", "demote"):
                label = "%sd on %s" % (op, node)
            elif op == "start" and rsc == group[-1]:
                label = "group started on %s" % node
            elif op == "stop" and rsc == group[-1]:
                label = "group stopping on %s" % node
            elif op == "stop" and rsc == group[0]:
                label = "group stopped on %s" % node
        else:
            c = re.match(r"^Cluster node (\S+) is now (lost|member) \(was (member|lost)\)", msg)
            f = re.match(r"^Peer (\S+) was terminated \(\w+\) by \S+ .*: OK", msg)
            # DRBD's fence-peer handler's constraint (resource-level fencing) in the CIB's diff.
            k = re.match(r"^(\+\+|--) /cib/configuration/constraints(:\s+<rsc_location [^>]*id=\"|"
                         r"/rsc_location\[@id=')drbd-fence-by-handler-", msg)
            if c:
                label = "%s %s" % (c.group(1), "lost" if c.group(2) == "lost" else "joined")
            elif f:
                label = "%s fenced" % f.group(1)
            elif k:
                label = "DRBD fence constraint %s" % ("placed" if k.group(1) == "++" else "removed")
        if label:
            events.append((pacemaker_time(*m.groups()[:5], near=near), label))
    return events


def stall_ends(acks, after, min_gap=STALL):
    """[(start, end)] of the gaps between acknowledgements longer than min_gap that end after
    `after`; the longest of them is the verifier's fault->restored (writer.py verify)."""
    return [(t0, t1) for (_, t0), (_, t1) in zip(acks, acks[1:]) if t1 > after and t1 - t0 > min_gap]


def group_members(cib_path):
    """(first, last) primitive of the CIB's first group, or the lab's names."""
    try:
        g = ET.parse(cib_path).getroot().find(".//resources/group")
        ids = [p.get("id") for p in g.findall("primitive")]
        return (ids[0], ids[-1]) if ids else ("fs_data", "vip")
    except (OSError, ET.ParseError, AttributeError):
        return ("fs_data", "vip")


def run_label(run_dir):
    """20261130T083812-ferro-drbd9 -> 'ferro agents, DRBD 9 (2026-11-30 08:38)'."""
    name = os.path.basename(os.path.normpath(run_dir))
    m = re.match(r"^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)\d\d-(\w+)-drbd([\d.]+)", name)
    if not m:
        return name
    y, mo, d, h, mi, agents, drbd = m.groups()
    return "%s agents, DRBD %s (%s-%s-%s %s:%s)" % (agents, drbd, y, mo, d, h, mi)


class Run:
    """One experiment of one run, everything on the client's clock, in seconds from the fault."""

    def __init__(self, run_dir, exp, label=None):
        logs = os.path.join(run_dir, "logs")
        self.label = label or run_label(run_dir)
        with open(os.path.join(logs, exp + ".ack")) as f:
            acks, errors = parse_acks(f)
        with open(os.path.join(logs, exp + ".fault")) as f:
            fault, offsets = parse_fault(f)
        if not acks:
            raise ValueError("%s/%s.ack: no acknowledged write" % (logs, exp))
        at_fault = sum(1 for _, t in acks if t <= fault)
        self.points = [(t - fault, i + 1 - at_fault) for i, (_, t) in enumerate(acks)]
        self.errors = [(t - fault, sum(1 for _, ta in acks if ta <= t) - at_fault) for _, t, _ in errors]
        self.stalls = [(a - fault, b - fault) for a, b in stall_ends(acks, fault)]
        end = acks[-1][1]
        group = group_members(os.path.join(logs, "cib-yes.xml"))
        steps = []
        for node in ("node1", "node2"):
            try:
                with open(os.path.join(logs, node + ".pacemaker.log"), errors="replace") as f:
                    events = parse_pacemaker(f, fault, group)
            except OSError:
                continue
            # Node clock -> client clock; a VM whose clock was not read counts as in step.
            shift = offsets.get("client", 0.0) - offsets.get(node, 0.0)
            steps += [(t + shift - fault, lab) for t, lab in events if fault - 1 <= t + shift <= end]
        steps.sort()
        # The same step logged by both nodes (e.g. a peer lost) is marked once.
        self.steps = []
        for x, lab in steps:
            if not any(lab == l2 and abs(x - x2) < 3 for x2, l2 in self.steps):
                self.steps.append((x, lab))
        self.steps += [(b, "writes again") for _, b in self.stalls]
        self.steps.sort()

    def summary(self):
        longest = max((b - a for a, b in self.stalls), default=0.0)
        return "%s: %d acknowledged writes, %d errors, longest stall %.1f s; %s" % (
            self.label, len(self.points), len(self.errors), longest,
            ", ".join("%s %+.1f s" % (lab, x) for x, lab in self.steps))


def nice_step(span, n=8):
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def text_width(s, size):
    return 0.56 * size * len(s)  # DejaVu Sans: digits 0.64 em, lower case about 0.55, space 0.32


def svg(exp, runs):
    """The picture as SVG text."""
    W, left, right, plot_h, fs = 1000, 70, 30, 380, 12
    xs = [x for r in runs for x, _ in r.points] + [0.0]
    ys = [y for r in runs for _, y in r.points] + [0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    xstep, ystep = nice_step(x1 - x0), nice_step(max(y1 - y0, 1))
    x0, x1 = math.floor(x0 / xstep) * xstep, math.ceil(x1 / xstep) * xstep
    y0, y1 = math.floor(y0 / ystep) * ystep, math.ceil(y1 / ystep) * ystep
    pw = W - left - right

    def px(x):
        return left + (x - x0) / (x1 - x0) * pw

    # Step labels in rows above the plot, left to right; a step's line runs from its label's row
    # down to the plot, so it goes below every earlier label that spans its x (no line crosses
    # a label then), into the first row there with room.
    fault = EXPERIMENTS.get(exp, ("", "fault"))[1]
    marks = [(0.0, fault, "#000")]
    for i, r in enumerate(runs):
        marks += [(x, "%s %+.1f s" % (lab, x), COLOURS[i]) for x, lab in r.steps]
    rows, placed = [], []
    for x, lab, col in sorted(marks, key=lambda m: m[0]):
        w = text_width(lab, fs - 1) + 4
        a = px(x) + 3  # labels near the right edge widen the picture (below)
        row = max((r + 1 for _, _, _, r, a2, w2 in placed if a2 <= px(x) <= a2 + w2), default=0)
        while row < len(rows) and rows[row] >= a:
            row += 1
        if row == len(rows):
            rows.append(0)
        rows[row] = a + w
        placed.append((x, lab, col, row, a, w))
    title_h, legend_h, row_h = 30, 20 * len(runs) + 8, fs + 4
    top = title_h + legend_h + row_h * len(rows) + 6
    H = top + plot_h + 50
    W = max(W, int(max(a + w for *_, a, w in placed)) + 4)

    def py(y):
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="DejaVu Sans, Arial, sans-serif" font-size="%d">' % (W, H, W, H, fs),
           '<rect width="100%" height="100%" fill="#fff"/>',
           '<text x="%d" y="20" font-size="15" font-weight="bold">%s: %s</text>'
           % (left, escape(exp), escape(EXPERIMENTS.get(exp, ("",))[0]))]
    for i, r in enumerate(runs):
        y = title_h + 14 + 20 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                   % (left, y - 4, left + 24, y - 4, COLOURS[i]))
        longest = max((b - a for a, b in r.stalls), default=0.0)
        out.append('<text x="%d" y="%d">%s — %d writes acknowledged, longest stall %.1f s%s</text>'
                   % (left + 30, y, escape(r.label), len(r.points), longest,
                      ", %d client errors" % len(r.errors) if r.errors else ""))
    # Grid and axes.
    out.append('<g stroke="#ddd">')
    x = x0
    while x <= x1 + 1e-9:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (px(x), top, px(x), top + plot_h))
        x += xstep
    y = y0
    while y <= y1 + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>' % (left, py(y), left + pw, py(y)))
        y += ystep
    out.append('</g><g text-anchor="middle" fill="#333">')
    x = x0
    while x <= x1 + 1e-9:
        out.append('<text x="%.1f" y="%d">%g</text>' % (px(x), top + plot_h + 16, round(x, 6)))
        x += xstep
    out.append('</g><g text-anchor="end" fill="#333">')
    y = y0
    while y <= y1 + 1e-9:
        out.append('<text x="%d" y="%.1f">%g</text>' % (left - 6, py(y) + 4, round(y, 6)))
        y += ystep
    out.append('</g>')
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#666"/>'
               % (left, top, pw, plot_h))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">seconds from the fault (client clock)</text>'
               % (left + pw / 2, top + plot_h + 36))
    out.append('<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">'
               'writes acknowledged since the fault</text>' % (top + plot_h / 2))
    # Stalls shaded, then the curves, errors, and the step lines with their labels.
    for i, r in enumerate(runs):
        for a, b in r.stalls:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.10"/>'
                       % (px(a), top, px(b) - px(a), plot_h, COLOURS[i]))
    for i, r in enumerate(runs):
        pts = " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in r.points)
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (pts, COLOURS[i]))
        for x, y in r.errors:
            out.append('<text x="%.1f" y="%.1f" fill="#c00" text-anchor="middle" font-weight="bold">×</text>'
                       % (px(x), py(y) + 4))
    # Lines first: a label is drawn over the lines of the rows above it (with a white halo).
    def row_y(row):
        return title_h + legend_h + row_h * (row + 1)
    for x, lab, col, row, a, _ in placed:
        dash = "" if col == "#000" else ' stroke-dasharray="4 3"'
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.2"%s/>'
                   % (px(x), row_y(row) - fs + 2, px(x), top + plot_h, col, dash))
    for x, lab, col, row, a, _ in placed:
        out.append('<text x="%.1f" y="%d" fill="%s" font-size="%d" stroke="#fff" stroke-width="3" '
                   'paint-order="stroke">%s</text>' % (a, row_y(row), col, fs - 1, escape(lab)))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="FILE.svg (one experiment) or a directory (all)")
    ap.add_argument("--experiment", choices=list(EXPERIMENTS), help="default: the --out file's name")
    ap.add_argument("--label", action="append", default=[], help="legend text per RUN_DIR, in order")
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    a = ap.parse_args()
    if len(a.runs) > len(COLOURS):
        ap.error("at most %d runs on one picture" % len(COLOURS))
    labels = a.label + [None] * (len(a.runs) - len(a.label))
    if a.out.endswith(".svg"):
        exps = [a.experiment or os.path.basename(a.out)[:-4]]
        if exps[0] not in EXPERIMENTS:
            ap.error("which experiment? --experiment (%s)" % " ".join(EXPERIMENTS))
        outs = [a.out]
    else:
        exps = [a.experiment] if a.experiment else [
            e for e in EXPERIMENTS if any(os.path.exists(os.path.join(r, "logs", e + ".ack")) for r in a.runs)]
        if not exps:
            sys.exit("no logs/EXP.ack in %s (runs from before the lab kept them?)" % " ".join(a.runs))
        os.makedirs(a.out, exist_ok=True)
        outs = [os.path.join(a.out, e + ".svg") for e in exps]
    failed = 0
    for exp, out in zip(exps, outs):
        runs = []
        for r, lab in zip(a.runs, labels):
            try:
                runs.append(Run(r, exp, lab))
            except (OSError, ValueError) as e:
                print("%s: %s: left out: %s" % (exp, r, e), file=sys.stderr)
        if not runs:
            print("%s: nothing to draw" % exp, file=sys.stderr)
            failed += 1
            continue
        with open(out, "w") as f:
            f.write(svg(exp, runs))
        print("%s -> %s" % (exp, out))
        for r in runs:
            print("  " + r.summary())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
