//! tests/lab/plot.py (the picture of a lab failover experiment) and tests/lab/series.py (the
//! table of a repeated run) on logs captured from a real lab run (tests/fixtures/lab/): their
//! Python unit tests, tests/lab/plot_test.py. Needs python3 only (no VM, no root).

mod pcmk;

use pcmk::{cmd, manifest_dir, run, say, skip, which};

#[test]
fn lab_plot_reads_captured_run_logs_and_draws_two_runs() {
    let test = "lab_plot_reads_captured_run_logs_and_draws_two_runs";
    if which("python3").is_none() {
        skip(test, "not installed: python3");
        return;
    }
    let out = run(
        cmd("python3")
            .arg(manifest_dir().join("tests/lab/plot_test.py"))
            .arg("-v"),
        120,
    );
    // unittest reports on stderr: one line per test, the names say what was checked.
    say(&out.stderr);
    out.check("tests/lab/plot_test.py");
}
