#!/usr/bin/python3
"""A lab run's repeated experiments (tests/lab/run.sh --runs N) as a table, with median, p90 and max.

    tests/lab/series.py RUN_DIR [EXPERIMENT...]

Per experiment and repeat: the lab's verdict and lost writes (RUN_DIR/results.tsv, in run order),
the client's longest stall, and the time from the fault to each failover step found in the logs
(tests/lab/plot.py reads them: logs/EXP.ack, EXP-2.ack, ..., EXP.fault, node*.pacemaker.log), the
first of each kind: a failed monitor, a failed start, node lost, fenced, DRBD's fence constraint
placed, demoted, group stopped, promoted, group started, writes again. Then the median, p90 (nearest rank) and max of each
column, and the totals. Markdown, for docs/lab.md.
"""
import argparse
import math
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402

# A step label of plot.parse_pacemaker (or "writes again") -> its column; node names dropped.
STEPS = (
    # A failed monitor (the fault noticed) and a failed start (the restart in place failed).
    ("failure seen", re.compile(r"^\S+ monitor: ")),
    ("start failed", re.compile(r"^\S+ start: ")),
    ("node lost", re.compile(r"^\S+ lost$")),
    ("fenced", re.compile(r"^\S+ fenced$")),
    ("constraint", re.compile(r"^DRBD fence constraint placed$")),
    ("demoted", re.compile(r"^demoted on ")),
    ("group stopped", re.compile(r"^group stopped on ")),
    ("promoted", re.compile(r"^promoted on ")),
    ("group started", re.compile(r"^group started on ")),
    ("writes again", re.compile(r"^writes again$")),
)


def repeats(run_dir, exp):
    """The logs/ names of an experiment's repeats, in order: EXP, EXP-2, EXP-3, ..."""
    names, k = [], 1
    while os.path.exists(os.path.join(run_dir, "logs", (exp if k == 1 else "%s-%d" % (exp, k)) + ".ack")):
        names.append(exp if k == 1 else "%s-%d" % (exp, k))
        k += 1
    return names


def verdicts(run_dir, exp):
    """[(verdict, lost)] of the experiment's rows in results.tsv, in run order."""
    rows = []
    try:
        with open(os.path.join(run_dir, "results.tsv")) as f:
            head = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(head, line.rstrip("\n").split("\t")))
                if row.get("experiment") == exp:
                    rows.append((row["verdict"], row["lost"]))
    except OSError:
        pass
    return rows


def steps_of(run):
    """{column: seconds from the fault} of a plot.Run, the first step of each kind after it."""
    out = {"stall": max((b - a for a, b in run.stalls), default=0.0)}
    for x, label in run.steps:
        if x < 0:
            continue
        for col, pat in STEPS:
            if col not in out and pat.search(label):
                out[col] = x
    return out


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def table(run_dir, exp):
    """Markdown lines for one experiment; [] when the run has no logs of it."""
    names = repeats(run_dir, exp)
    if not names:
        return []
    rows = verdicts(run_dir, exp)
    runs = []
    for name in names:
        try:
            runs.append(steps_of(plot.Run(run_dir, name)))
        except (OSError, ValueError) as e:
            print("%s: left out: %s" % (name, e), file=sys.stderr)
            runs.append({})
    cols = ["stall"] + [c for c, _ in STEPS if any(c in r for r in runs)]
    out = ["#### %s: %d runs" % (exp, len(runs)), "",
           "| run | verdict | lost | " + " | ".join(c + " s" for c in cols) + " |",
           "|---" * (3 + len(cols)) + "|"]
    for i, r in enumerate(runs):
        verdict, lost = rows[i] if i < len(rows) else ("?", "?")
        out.append("| %d | %s | %s | %s |" % (i + 1, verdict, lost, " | ".join(
            "%.1f" % r[c] if c in r else "–" for c in cols)))
    for what, f in (("median", lambda v: percentile(v, 50)), ("p90", lambda v: percentile(v, 90)), ("max", max)):
        cells = []
        for c in cols:
            v = [r[c] for r in runs if c in r]
            cells.append("**%.1f**" % f(v) if v else "–")
        out.append("| %s | | | %s |" % (what, " | ".join(cells)))
    passed = sum(1 for v, _ in rows if v == "PASS")
    lost = sum(int(n) for _, n in rows if n.isdigit())
    unknown = sum(1 for _, n in rows if not n.isdigit())
    out += ["", "%s: %d of %d passed, %d acknowledged writes lost%s." % (
        exp, passed, len(rows), lost, " (%d runs without a figure)" % unknown if unknown else ""), ""]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", metavar="RUN_DIR")
    ap.add_argument("experiments", nargs="*", metavar="EXPERIMENT")
    a = ap.parse_args()
    lines = []
    for exp in a.experiments or list(plot.EXPERIMENTS):
        lines += table(a.run, exp)
    if not lines:
        sys.exit("no logs/EXP.ack in %s" % a.run)
    print("Run %s. Seconds from the fault on the client's clock; p90 by nearest rank.\n" % plot.run_label(a.run))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
