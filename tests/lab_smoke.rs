//! The VM lab's smoke run (tests/lab/run.sh --smoke --agents ferro): two Debian 12 node VMs
//! under qemu, DRBD 8.4 from Debian's kernel connected and fully synced between them, and
//! ocf:ferro:drbd reading the real kernel's state (promoted on the Primary, running on the
//! Secondary), installed into the nodes as the .deb (scripts/deb.sh). The only test of the
//! suite that runs DRBD; the failover experiments are
//! tests/lab/run.sh without --smoke (docs/lab.md).
//!
//! It builds (once, cached) a VM image from Debian packages and boots two VMs, a few minutes
//! on two cores. `FERRO_LAB_SMOKE=0` skips it.

mod pcmk;

use pcmk::{cmd, run, say, skip, skip_unless};

#[test]
fn lab_smoke_drbd_connects_between_two_vms_and_the_agent_sees_it() {
    let test = "lab_smoke_drbd_connects_between_two_vms_and_the_agent_sees_it";
    if std::env::var("FERRO_LAB_SMOKE").as_deref() == Ok("0") {
        skip(test, "FERRO_LAB_SMOKE=0");
        return;
    }
    // Everything else (qemu, mmdebstrap) the lab installs itself.
    if !skip_unless(test, &["apt-get", "ip"]) {
        return;
    }
    // The nodes get the Debian package users install, made from the binary under test.
    let deb = pcmk::built_deb().unwrap_or_else(|e| panic!("{e}"));
    let script = pcmk::manifest_dir().join("tests/lab/run.sh");
    // SIGTERM first: the lab's trap powers the VMs off and removes its namespace.
    let out = run(
        cmd("timeout")
            .args(["--signal=TERM", "--kill-after=120", "2400"])
            .arg(&script)
            .args(["--smoke", "--agents", "ferro"])
            // Its own namespace: a lab run by hand (flab) does not block it.
            .env("FERRO_LAB_NETNS", "flabsmoke")
            .env("FERRO_DEB", &deb),
        2600,
    );
    let pass = out.stdout.lines().find(|l| l.starts_with("SMOKE PASS"));
    say(&format!(
        "--- {test}: {}",
        pass.unwrap_or("no SMOKE PASS line")
    ));
    if out.code != Some(0) || pass.is_none() {
        // The tail says where it stopped; the whole run is in the lab's run directory.
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        panic!(
            "{} failed ({:?})\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            script.display(),
            out.code,
            tail(&out.stdout),
            tail(&out.stderr)
        );
    }
    assert!(pass.unwrap().contains("ocf:ferro:drbd monitor 8"));
}
