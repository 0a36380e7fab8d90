#!/usr/bin/python3
"""Unit tests of tests/lab/plot.py on logs captured from a lab run (tests/fixtures/lab/, see its
README): python3 tests/lab/plot_test.py (tests/lab_plot.rs runs it in the suite)."""
import calendar
import os
import re
import subprocess
import sys
import tempfile
import types
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import plot  # noqa: E402
import series  # noqa: E402

RUN = os.path.join(HERE, "..", "fixtures", "lab", "20261130T083812-ferro-drbd9")
LOGS = os.path.join(RUN, "logs")


def lines(name):
    with open(os.path.join(LOGS, name), errors="replace") as f:
        return f.readlines()


def results(exp):
    """The lab's own figures for the experiment (results.tsv of the run)."""
    with open(os.path.join(RUN, "results.tsv")) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(head, line.rstrip("\n").split("\t")))
            if row["experiment"] == exp:
                return row
    raise KeyError(exp)


class AckLog(unittest.TestCase):
    def test_acknowledged_writes_and_errors(self):
        acks, errors = plot.parse_acks(lines("kill-primary.ack"))
        self.assertEqual(len(acks), 329)
        self.assertEqual(acks[0], (1, 1796028321.313748))
        self.assertEqual([s for s, _ in acks], list(range(acks[0][0], acks[0][0] + len(acks))))
        self.assertEqual(errors, [])

    def test_error_lines_are_not_acknowledged(self):
        acks, errors = plot.parse_acks(["1 10.5\n", "E 2 11.0 Permission denied\n", "3 12.25\n", "\n"])
        self.assertEqual(acks, [(1, 10.5), (3, 12.25)])
        self.assertEqual(errors, [(2, 11.0, "Permission denied")])

    def test_stalls_match_the_lab_verifier(self):
        # One stall after the fault, as long as writer.py verify's longest_stall in the run.
        # (The fixture's fault time was derived from the run's restored_s: not checked here.)
        acks, _ = plot.parse_acks(lines("kill-primary.ack"))
        fault, _ = plot.parse_fault(lines("kill-primary.fault"))
        stalls = plot.stall_ends(acks, fault)
        self.assertEqual(len(stalls), 1)
        a, b = stalls[0]
        self.assertAlmostEqual(b - a, float(results("kill-primary")["stall_s"]), delta=0.06)
        self.assertLess(a, fault + 1)


class FaultFile(unittest.TestCase):
    def test_fault_time_and_clock_offsets(self):
        fault, offsets = plot.parse_fault(lines("kill-primary.fault"))
        self.assertEqual(fault, 1796028332.385703)
        self.assertEqual(sorted(offsets), ["client", "node2"])  # node1 was powered off
        self.assertAlmostEqual(offsets["client"], 1796028352.285434704 - 1796028352.312532441, places=6)

    def test_no_fault_line_is_an_error(self):
        with self.assertRaises(ValueError):
            plot.parse_fault(["clock client 2.0 1.0\n"])


class PacemakerLog(unittest.TestCase):
    def test_failover_steps_of_the_survivor(self):
        fault, _ = plot.parse_fault(lines("kill-primary.fault"))
        steps = [(t, lab) for t, lab in plot.parse_pacemaker(lines("node2.pacemaker.log"), fault)
                 if t >= fault - 1]
        # kill-primary, then the start of failback (the log is node2's whole log's steps).
        self.assertEqual([lab for _, lab in steps], [
            "node1 lost", "node1 fenced", "promoted on node2", "group started on node2",
            "node1 joined", "group stopped on node2", "demoted on node2"])
        # "Nov 30 08:45:43.539 node2 pacemaker-controld ... Cluster node node1 is now lost"
        self.assertAlmostEqual(steps[0][0], calendar.timegm((2026, 11, 30, 8, 45, 43)) + 0.539, places=6)

    def test_failed_operations_are_steps(self):
        got = plot.parse_pacemaker([
            "Nov 30 08:57:01.250 node1 pacemaker-controld  [400] (log_executor_event) \tnotice: "
            "Result of monitor operation for nfsd on node1: not running | graph action confirmed\n",
            "Nov 30 08:57:09.000 node1 pacemaker-controld  [400] (log_executor_event) \terror: "
            "Result of start operation for nfsd on node1: error (Failed to start NFS server: systemctl -n0 start nfs-server.service failed (exit status 1)) | call=60\n",
            "Nov 30 08:57:10.000 node1 pacemaker-controld  [400] (log_executor_event) \tnotice: "
            "Result of monitor operation for drbd_r0 on node1: promoted | call=61\n",
            "Nov 30 08:57:11.000 node1 pacemaker-controld  [400] (log_executor_event) \tinfo: "
            "Result of monitor operation for vip on node1: Cancelled | call=62\n",
        ], near=1796027000.0)
        t0 = calendar.timegm((2026, 11, 30, 8, 57, 1)) + 0.25
        self.assertEqual(got, [(t0, "nfsd monitor: not running"), (t0 + 7.75, "nfsd start: error")])

    def test_drbd_fence_constraint_placed_and_removed(self):
        # Captured from the same run's node1.pacemaker.log (netcut-drbd's cut and heal).
        got = plot.parse_pacemaker([
            "Nov 30 08:43:38.579 node1 pacemaker-based     [628] (cib_perform_op) \tinfo: ++ "
            "/cib/configuration/constraints:  <rsc_location rsc=\"drbd_r0-clone\" "
            "id=\"drbd-fence-by-handler-r0-drbd_r0-clone\"/>\n",
            "Nov 30 08:43:38.579 node1 pacemaker-based     [628] (cib_perform_op) \tinfo: ++                "
            "                    <rule role=\"Master\" score=\"-INFINITY\" "
            "id=\"drbd-fence-by-handler-r0-rule-drbd_r0-clone\">\n",
            "Nov 30 08:44:17.455 node1 pacemaker-based     [628] (cib_perform_op) \tinfo: -- "
            "/cib/configuration/constraints/rsc_location[@id='drbd-fence-by-handler-r0-drbd_r0-clone']\n",
            "Nov 30 08:44:17.795 node1 pacemaker-fenced    [629] (update_cib_stonith_devices_v2) \tinfo: "
            "Updating device list from CIB: delete rsc_location[@id='drbd-fence-by-handler-r0-drbd_r0-clone']\n",
        ], near=1796027000.0)
        self.assertEqual([lab for _, lab in got],
                         ["DRBD fence constraint placed", "DRBD fence constraint removed"])

    def test_year_closest_to_the_fault(self):
        new_year = calendar.timegm((2027, 1, 1, 0, 0, 5))
        t = plot.pacemaker_time("Dec", "31", "23", "59", "58.5", new_year)
        self.assertEqual(t, new_year - 6.5)

    def test_group_members_from_the_pushed_cib(self):
        self.assertEqual(plot.group_members(os.path.join(LOGS, "cib-yes.xml")), ("fs_data", "vip"))
        self.assertEqual(plot.group_members(os.path.join(LOGS, "missing.xml")), ("fs_data", "vip"))


class Picture(unittest.TestCase):
    def test_run_on_the_client_clock(self):
        r = plot.Run(RUN, "kill-primary")
        self.assertEqual(r.label, "ferro agents, DRBD 9 (2026-11-30 08:38)")
        # Only the experiment's window (failback's steps follow in the same log), node2's
        # times moved onto the client's clock (node2's clock was 0.42 s ahead of the client's).
        self.assertEqual([lab for _, lab in r.steps], [
            "node1 lost", "node1 fenced", "promoted on node2", "group started on node2", "writes again"])
        fenced = calendar.timegm((2026, 11, 30, 8, 46, 1)) + 0.283  # node2's clock
        self.assertAlmostEqual(r.steps[1][0], fenced - 0.393458 - 0.027098 - 1796028332.385703, places=3)
        self.assertEqual(r.points[0][1] < 0 <= r.points[-1][1], True)

    def test_two_runs_on_one_axis(self):
        runs = [plot.Run(RUN, "kill-primary", "ferro"), plot.Run(RUN, "kill-primary", "reference")]
        svg = plot.svg("kill-primary", runs)
        root = ET.fromstring(svg)  # well-formed
        texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
        self.assertTrue(any(t.startswith("ferro — ") for t in texts), texts)
        self.assertTrue(any(t.startswith("reference — ") for t in texts), texts)
        self.assertEqual(len(root.findall("{http://www.w3.org/2000/svg}polyline")), 2)
        self.assertIn("qemu killed", texts)  # the fault, at x=0
        self.assertEqual(sum(t.startswith("node1 fenced") for t in texts), 2)

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            out = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), "--out", d, RUN],
                                 capture_output=True, text=True, check=True).stdout
            self.assertEqual(sorted(os.listdir(d)), ["kill-primary.svg"])
            self.assertIn("kill-primary -> ", out)
            p = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"),
                                "--out", os.path.join(d, "x.svg"), RUN], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2)
            self.assertIn("--experiment", p.stderr)


class Series(unittest.TestCase):
    """tests/lab/series.py: a run with --runs 2, made of the captured run's kill-primary twice."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        run = self.run_dir = os.path.join(self.tmp.name, "20261130T120000-ferro-drbd9")
        os.makedirs(os.path.join(run, "logs"))
        for name in os.listdir(LOGS):
            os.symlink(os.path.join(LOGS, name), os.path.join(run, "logs", name))
        for ext in ("ack", "fault"):
            os.symlink(os.path.join(LOGS, "kill-primary." + ext), os.path.join(run, "logs", "kill-primary-2." + ext))
        with open(os.path.join(RUN, "results.tsv")) as f:
            head, rows = f.readline(), [line for line in f if "\tkill-primary\t" in line]
        with open(os.path.join(run, "results.tsv"), "w") as f:
            f.write(head + rows[0] + rows[0].replace("\tPASS\t0\t", "\tFAIL\t3\t"))

    def tearDown(self):
        self.tmp.cleanup()

    def test_repeats_in_order(self):
        self.assertEqual(series.repeats(self.run_dir, "kill-primary"), ["kill-primary", "kill-primary-2"])
        self.assertEqual(series.repeats(self.run_dir, "standby"), [])

    def test_nearest_rank_percentiles(self):
        v = list(range(20, 0, -1))
        self.assertEqual(series.percentile(v, 50), 10)
        self.assertEqual(series.percentile(v, 90), 18)
        self.assertEqual(series.percentile([7.5], 90), 7.5)

    def test_steps_of_a_power_loss(self):
        s = series.steps_of(plot.Run(self.run_dir, "kill-primary"))
        self.assertAlmostEqual(s["stall"], float(results("kill-primary")["stall_s"]), delta=0.05)
        self.assertLess(s["node lost"], s["fenced"])
        self.assertLess(s["fenced"], s["promoted"])
        self.assertLess(s["promoted"], s["group started"])
        self.assertLessEqual(s["group started"], s["writes again"])
        self.assertNotIn("demoted", s)  # a dead node demotes nothing

    def test_steps_of_a_failed_restart(self):
        """nfs-fail: the failed monitor and the failed start are steps of their own, the first
        of each kind; a later failure of either (the other node's probe) is not."""
        run = types.SimpleNamespace(stalls=[(1.0, 23.0)], steps=[
            (-0.1, "nfs-server broken"), (4.2, "export_data monitor: not running"),
            (5.0, "nfsd monitor: not running"), (8.9, "nfsd start: error"),
            (11.0, "demoted on node1"), (14.0, "promoted on node2"),
            (20.5, "nfsd start: error"), (21.0, "group started on node2"), (21.3, "writes again")])
        s = series.steps_of(run)
        self.assertEqual(s["failure seen"], 4.2)
        self.assertEqual(s["start failed"], 8.9)
        self.assertEqual(s["stall"], 22.0)
        self.assertEqual([c for c, _ in series.STEPS if c in s],
                         ["failure seen", "start failed", "demoted", "promoted", "group started", "writes again"])

    def test_table_rows_summary_and_totals(self):
        md = series.table(self.run_dir, "kill-primary")
        runs = [line for line in md if re.match(r"^\| \d+ \|", line)]
        self.assertEqual(len(runs), 2)
        self.assertTrue(runs[0].startswith("| 1 | PASS | 0 | 44.2 |"), runs[0])
        self.assertTrue(runs[1].startswith("| 2 | FAIL | 3 | 44.2 |"), runs[1])
        self.assertTrue(any(line.startswith("| median | | | **44.2** |") for line in md), md)
        self.assertIn("kill-primary: 1 of 2 passed, 3 acknowledged writes lost.", md)


if __name__ == "__main__":
    unittest.main()
