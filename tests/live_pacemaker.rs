//! A real one-node corosync + Pacemaker on this machine (tests/live/pacemaker.sh) runs
//! IPaddr2 in a network namespace and Filesystem on a loop device, created with pcs;
//! both are broken behind Pacemaker's back, the failed monitors and their exit reasons
//! show in crm_mon, and Pacemaker recovers them. Everything the script makes lives in
//! namespaces, a loop device and a temp dir, and is removed at the end.

mod pcmk;

use pcmk::{cmd, run, skip, skip_unless};

const TOOLS: &[&str] = &[
    "corosync",
    "pacemakerd",
    "pcs",
    "crm_mon",
    "ip",
    "losetup",
    "mkfs.ext4",
    "findmnt",
    "unshare",
];

/// Whether this build's ferro agent does more than answer meta-data yet: a monitor of
/// something that is not there answers OCF_NOT_RUNNING, not OCF_ERR_UNIMPLEMENTED.
fn implemented(agent: &str, params: &[(&str, &str)]) -> bool {
    let mut c = cmd(env!("CARGO_BIN_EXE_ferro-ocf"));
    c.args([agent, "monitor"]).env("OCF_ROOT", "/usr/lib/ocf");
    for (k, v) in params {
        c.env(format!("OCF_RESKEY_{k}"), v);
    }
    run(&mut c, 30).code != Some(3)
}

/// One cluster at a time: four corosync + Pacemaker stacks at once on a 2-core machine left
/// a node unable to join within the scripts' timeouts.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn live(test: &str, script: &str, env: &[(&str, &str)], tag: &str) {
    let _turn = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Short and unique: interface names are at most 15 characters.
    let prefix = format!("fc{tag}{}", std::process::id() % 100_000);
    let out = pcmk::run_live_script(test, script, &prefix, env, |l| {
        l.starts_with("failover: ") || l.contains("_monitor_5000: ")
    });
    for want in ["Started", "Failed Resource Actions"] {
        assert!(
            out.stdout.contains(want),
            "{want:?} missing from the output"
        );
    }
}

fn ferro_implemented(test: &str) -> bool {
    // Monitors only: nothing is changed, no packet is sent (TEST-NET-3 address).
    let ip = implemented("IPaddr2", &[("ip", "203.0.113.9"), ("cidr_netmask", "24")]);
    let fs = implemented(
        "Filesystem",
        &[
            ("device", "/dev/null"),
            ("directory", "/nonexistent"),
            ("fstype", "ext4"),
        ],
    );
    if !(ip && fs) {
        skip(
            test,
            "ocf:ferro:IPaddr2 or ocf:ferro:Filesystem is not implemented in this build",
        );
    }
    ip && fs
}

#[test]
fn live_pacemaker_runs_the_reference_agents() {
    if !skip_unless("live_pacemaker_runs_the_reference_agents", TOOLS) {
        return;
    }
    live("reference", "pacemaker.sh", &[("AGENTS", "reference")], "r");
}

#[test]
fn live_pacemaker_runs_the_ferro_agents() {
    let test = "live_pacemaker_runs_the_ferro_agents";
    if !skip_unless(test, TOOLS) {
        return;
    }
    if !ferro_implemented(test) {
        return;
    }
    live("ferro", "pacemaker.sh", &[("AGENTS", "ferro")], "f");
}

/// tests/live/pacemaker-2node.sh: two nodes, each in its own network and mount
/// namespace, fail a filesystem and an address over: on a failed monitor, on standby
/// and on the power loss of a node, and back.
#[test]
fn two_live_nodes_fail_over_with_the_reference_agents() {
    if !skip_unless("two_live_nodes_fail_over_with_the_reference_agents", TOOLS) {
        return;
    }
    live(
        "reference, two nodes",
        "pacemaker-2node.sh",
        &[("AGENTS", "reference")],
        "r2",
    );
}

#[test]
fn two_live_nodes_fail_over_with_the_ferro_agents() {
    let test = "two_live_nodes_fail_over_with_the_ferro_agents";
    if !skip_unless(test, TOOLS) || !ferro_implemented(test) {
        return;
    }
    live(
        "ferro, two nodes",
        "pacemaker-2node.sh",
        &[("AGENTS", "ferro")],
        "f2",
    );
}

/// The same two nodes with a quorum arbiter instead of two_node: corosync-qnetd on the
/// client's address, corosync-qdevice (ffsplit) on both nodes. The same steps, then the link
/// between the nodes is cut while both still reach the arbiter: exactly one partition stays
/// quorate and runs g, the other runs nothing, and the cut heals.
#[test]
fn two_live_nodes_with_a_quorum_arbiter_keep_the_service_in_one_partition() {
    let test = "two_live_nodes_with_a_quorum_arbiter_keep_the_service_in_one_partition";
    let arbiter = [
        "corosync-qnetd",
        "corosync-qdevice",
        "corosync-quorumtool",
        "bridge",
    ];
    if !skip_unless(test, TOOLS) || !skip_unless(test, &arbiter) || !ferro_implemented(test) {
        return;
    }
    live(
        "ferro, two nodes and an arbiter",
        "pacemaker-2node.sh",
        &[("AGENTS", "ferro"), ("ARBITER", "qnetd")],
        "q2",
    );
}
