//! DRBD's fence-peer handler on a live one-node corosync + Pacemaker (tests/live/fence-peer.sh):
//! this build and drbd-utils' crm-fence-peer.9.sh, case by case, must exit alike and leave
//! the same constraint; the paths a CIB file cannot reach (quorum per crm_node, the
//! peer's state changing while the handler waits). Everything lives in namespaces and a
//! temp dir, removed at the end.

mod pcmk;

use pcmk::{skip, skip_unless};

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
    let prefix = format!("fcfp{}", std::process::id() % 100_000);
    pcmk::run_live_script(test, "fence-peer.sh", &prefix, &[], |l| {
        l.contains(" exit ")
    });
}
