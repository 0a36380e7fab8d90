//! DRBD's fence-peer handler on a live one-node corosync + Pacemaker (tests/live/fence-peer.sh):
//! this build and drbd-utils' crm-fence-peer.9.sh, case by case, must exit alike and leave
//! the same constraint; the paths a CIB file cannot reach (quorum per crm_node, the
//! peer's state changing while the handler waits). Everything lives in namespaces and a
//! temp dir, removed at the end.

mod pcmk;

use pcmk::{cmd, run, say, skip, skip_unless};

#[test]
fn live_fence_peer_matches_crm_fence_peer() {
    let test = "live_fence_peer_matches_crm_fence_peer";
    if !skip_unless(
        test,
        &[
            "corosync",
            "pacemakerd",
            "cibadmin",
            "crm_mon",
            "crm_node",
            "crmadmin",
            "unshare",
            "ip",
        ],
    ) {
        return;
    }
    if !std::path::Path::new("/usr/lib/drbd/crm-fence-peer.9.sh").is_file() {
        skip(
            test,
            "drbd-utils' crm-fence-peer.9.sh is not installed (apt-get install drbd-utils)",
        );
        return;
    }
    let script = pcmk::manifest_dir().join("tests/live/fence-peer.sh");
    let prefix = format!("fcfp{}", std::process::id() % 100_000);
    let out = run(
        cmd("bash")
            .arg(&script)
            .env("PREFIX", &prefix)
            .env("FERRO_BIN", env!("CARGO_BIN_EXE_ferro-ocf")),
        600,
    );
    let shown: String = if out.code == Some(0) {
        out.stdout
            .lines()
            .filter(|l| l.starts_with("== ") || l.starts_with("ok: ") || l.contains(" exit "))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        format!("{}{}", out.stdout, out.stderr)
    };
    say(&format!("--- {test}: {}\n{shown}", script.display()));
    out.check(&script.display().to_string());
    assert!(
        out.stdout.contains("== PASS"),
        "== PASS missing from the output"
    );
}
