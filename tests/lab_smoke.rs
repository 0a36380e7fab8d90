//! The VM lab's smoke runs (tests/lab/run.sh --smoke --agents ferro, once with DRBD 8.4 and
//! once with DRBD 9): two Debian 12 node VMs under qemu, DRBD connected and fully synced
//! between them, and ocf:ferro:drbd reading the real kernel's state (promoted on the Primary,
//! running on the Secondary), installed into the nodes as the .deb (scripts/deb.sh). The only
//! tests of the suite that run DRBD; the failover experiments are tests/lab/run.sh without
//! --smoke (docs/lab.md).
//!
//! DRBD 8.4 is Debian 12 kernel's own module; DRBD 9 is built for that kernel by
//! tests/lab/build-drbd9.sh. Image and modules are built once and cached; each run boots two
//! VMs, a few minutes on two cores. `FERRO_LAB_SMOKE=0` skips them.

mod pcmk;

use pcmk::{cmd, run, say, skip, skip_unless};
use std::sync::Mutex;

/// One lab at a time: both runs use the same network namespace and the host's two cores.
static LAB: Mutex<()> = Mutex::new(());

fn smoke(test: &str, drbd: &str) {
    if std::env::var("FERRO_LAB_SMOKE").as_deref() == Ok("0") {
        skip(test, "FERRO_LAB_SMOKE=0");
        return;
    }
    // Everything else (qemu, mmdebstrap) the lab installs itself.
    if !skip_unless(test, &["apt-get", "ip"]) {
        return;
    }
    let _one = LAB.lock().unwrap_or_else(|e| e.into_inner());
    // The nodes get the Debian package users install, made from the binary under test.
    let deb = pcmk::built_deb().unwrap_or_else(|e| panic!("{e}"));
    let script = pcmk::manifest_dir().join("tests/lab/run.sh");
    // SIGTERM first: the lab's trap powers the VMs off and removes its namespace.
    let out = run(
        cmd("timeout")
            .args(["--signal=TERM", "--kill-after=120", "2400"])
            .arg(&script)
            .args(["--smoke", "--agents", "ferro", "--drbd", drbd])
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
    let pass = pass.unwrap();
    assert!(pass.contains("ocf:ferro:drbd monitor 8"), "{pass}");
    // The kernel really ran the DRBD asked for (the SMOKE PASS line names the loaded module).
    let want = format!("DRBD {drbd}.");
    assert!(pass.contains(&want), "{pass}: not {want}");
}

#[test]
fn lab_smoke_drbd_connects_between_two_vms_and_the_agent_sees_it() {
    smoke(
        "lab_smoke_drbd_connects_between_two_vms_and_the_agent_sees_it",
        "8.4",
    );
}

#[test]
fn lab_smoke_drbd9_connects_between_two_vms_and_the_agent_sees_it() {
    smoke(
        "lab_smoke_drbd9_connects_between_two_vms_and_the_agent_sees_it",
        "9",
    );
}
