//! The journal tells resources apart: each line of an agent carries the resource's name in
//! its tag (`IPaddr2(vip)`, as the reference agents' ocf_log) and in the field
//! OCF_RESOURCE_INSTANCE. Runs a real systemd-journald in a private mount namespace (a tmpfs
//! on /run), two resources of one agent logging to it, and journalctl selecting one of them.

mod support;

use std::process::Command;
use support::{have, skip, BIN};

#[test]
fn journalctl_finds_one_resources_lines() {
    let test = "journalctl_finds_one_resources_lines";
    if !nix::unistd::geteuid().is_root() {
        return skip(test, "needs root for a private mount namespace");
    }
    let journald = "/lib/systemd/systemd-journald";
    if !std::path::Path::new(journald).exists() || !have("journalctl") || !have("unshare") {
        return skip(test, "systemd-journald, journalctl or unshare is missing");
    }
    // HA_debug=1: every action logs at least its result. Nothing on the host changes (monitor
    // of an address that is not there), and the namespace's /run goes away with it.
    let script = r#"
        set -e
        mount -t tmpfs ferro-journal /run
        mkdir -p /run/systemd/journal /run/log/journal
        "$JOURNALD" & jpid=$!
        trap 'kill $jpid' EXIT
        for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
        for rsc in vip-a vip-b; do
          env -i OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=$rsc HA_debug=1 \
            OCF_RESKEY_ip=192.0.2.77 "$BIN" IPaddr2 monitor || true
        done
        sleep 1
        journalctl --sync 2>/dev/null || true
        echo "== by field"
        journalctl -D /run/log/journal --no-pager -o cat OCF_RESOURCE_INSTANCE=vip-a
        echo "== by tag"
        journalctl -D /run/log/journal --no-pager -o short -t 'IPaddr2(vip-b)'
    "#;
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "bash", "-c", script])
        .env("JOURNALD", journald)
        .env("BIN", BIN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    let (by_field, by_tag) = text.split_once("== by tag").unwrap();
    let by_field = by_field.split_once("== by field").unwrap().1;
    assert!(by_field.contains("monitor returned"), "{by_field}");
    assert!(!by_field.contains("vip-b"));
    // journalctl's short format shows the tag and the agent's pid: IPaddr2(vip-b)[1234]:
    let lines: Vec<&str> = by_tag.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no line tagged IPaddr2(vip-b)");
    assert!(
        lines.iter().all(|l| l.contains("IPaddr2(vip-b)[")),
        "{by_tag}"
    );
}
