//! ocf:ferro:exportfs on this host, which has no nfsd: what is real here is the agent reading an
//! etab and rmtab in an NFS state directory the test made (FERRO_NFS_STATEDIR), its state file
//! under HA_RSCTMP, and its answers to bad configurations. Exporting for real is tested in the VM
//! lab (tests/lab/nfs-agents.sh).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use support::{run_agent, Outcome};

struct Scene {
    root: PathBuf,
}

impl Scene {
    fn new(tag: &str) -> Scene {
        let root = std::env::temp_dir().join(format!("fexp-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["state", "rsctmp", "data/a", "data/with space"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        Scene { root }
    }
    fn dir(&self, d: &str) -> String {
        self.root
            .join("data")
            .join(d)
            .to_string_lossy()
            .into_owned()
    }
    fn etab(&self, text: &str) {
        fs::write(self.root.join("state/etab"), text).unwrap();
    }
    fn state_file(&self) -> PathBuf {
        self.root.join("rsctmp/test-exportfs")
    }
    fn run(&self, action: &str, params: &[(&str, &str)], probe: bool) -> Outcome {
        let state = self.root.join("state");
        let rsctmp = self.root.join("rsctmp");
        let interval = if probe { "0" } else { "10000" };
        run_agent(
            "exportfs",
            action,
            params,
            &[
                ("FERRO_NFS_STATEDIR", state.to_str().unwrap()),
                ("HA_RSCTMP", rsctmp.to_str().unwrap()),
                ("OCF_RESKEY_CRM_meta_interval", interval),
                ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ],
        )
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn etab_line(path: &str, client: &str, fsid: &str) -> String {
    // exportfs(8) escapes white space in paths as octal.
    format!(
        "{}\t{client}(rw,sync,wdelay,hide,nocrossmnt,secure,no_root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid={fsid},anonuid=65534,anongid=65534,sec=sys,rw,secure,no_root_squash,no_all_squash)\n",
        path.replace(' ', "\\040")
    )
}

#[test]
fn monitor_needs_etab_and_the_state_file() {
    let s = Scene::new("mon");
    let a = s.dir("a");
    let p = [
        ("clientspec", "192.168.48.0/24"),
        ("directory", a.as_str()),
        ("fsid", "1"),
    ];
    s.etab(&etab_line(&a, "192.168.48.0/24", "1"));
    // After a reboot etab still lists the export but HA_RSCTMP is empty: a probe must not
    // report it running (PR#821).
    assert_eq!(s.run("monitor", &p, true).code, 7);
    fs::write(s.state_file(), "").unwrap();
    let o = s.run("monitor", &p, false);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Another client's export of the same directory is not ours.
    s.etab(&etab_line(&a, "10.0.0.0/8", "1"));
    assert_eq!(s.run("monitor", &p, false).code, 7);
    s.etab("");
    let o = s.run("monitor", &p, false);
    assert_eq!(o.code, 7);
    assert!(o.stderr.contains("not exported"), "{}", o.stderr);
}

#[test]
fn monitor_matches_ipv6_brackets_several_dirs_and_escaped_paths() {
    let s = Scene::new("v6");
    let (a, sp) = (s.dir("a"), s.dir("with space"));
    fs::write(s.state_file(), "").unwrap();
    // Two directories: the one with a space is exported as the octal-escaped path.
    s.etab(&(etab_line(&a, "fd00:48::/64", "5") + &etab_line(&sp, "fd00:48::/64", "6")));
    let p = [
        ("clientspec", "[fd00:48::]/64"),
        ("directory", a.as_str()),
        ("fsid", "5"),
    ];
    assert_eq!(s.run("monitor", &p, false).code, 0);
    // Paths with spaces cannot be configured (directory is a white-space separated list), but
    // a monitor of /a alone still finds its line among escaped ones.
    s.etab(&etab_line(&sp, "fd00:48::/64", "6"));
    assert_eq!(s.run("monitor", &p, false).code, 7);
}

#[test]
fn rmtab_is_backed_up_by_monitor_and_a_missing_rmtab_is_quiet() {
    let s = Scene::new("rmtab");
    let a = s.dir("a");
    let p = [
        ("clientspec", "*"),
        ("directory", a.as_str()),
        ("fsid", "1"),
    ];
    fs::write(s.state_file(), "").unwrap();
    s.etab(&etab_line(&a, "*", "1"));
    // NFSv4-only servers have no rmtab: no error, no noise (PR#1828).
    let o = s.run("monitor", &p, false);
    assert_eq!(o.code, 0);
    assert!(!o.stderr.contains("rmtab"), "{}", o.stderr);
    assert!(!Path::new(&a).join(".rmtab").exists());
    fs::write(
        s.root.join("state/rmtab"),
        format!(
            "10.1.1.1:{a}:0x00000001\n10.1.1.2:/elsewhere:0x00000001\nfd00::7:{a}:0x00000002\n"
        ),
    )
    .unwrap();
    assert_eq!(s.run("monitor", &p, false).code, 0);
    let backup = fs::read_to_string(Path::new(&a).join(".rmtab")).unwrap();
    assert_eq!(
        backup,
        format!("10.1.1.1:{a}:0x00000001\nfd00::7:{a}:0x00000002\n")
    );
}

#[test]
fn stop_of_an_export_that_is_not_listed_succeeds_and_forgets_the_state() {
    let s = Scene::new("stop");
    let a = s.dir("a");
    let p = [
        ("clientspec", "*"),
        ("directory", a.as_str()),
        ("fsid", "1"),
    ];
    let other = etab_line(&a, "10.0.0.0/8", "1");
    s.etab(&other);
    fs::write(s.state_file(), "").unwrap();
    let o = s.run("stop", &p, false);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!s.state_file().exists());
    // Nothing else was touched: exportfs was not run, etab is as it was.
    assert_eq!(
        fs::read_to_string(s.root.join("state/etab")).unwrap(),
        other
    );
    assert_eq!(s.run("stop", &p, false).code, 0);
    // A directory that is gone (its filesystem unmounted) is not an error for stop.
    let p = [
        ("clientspec", "*"),
        ("directory", "/nonexistent-fexp"),
        ("fsid", "1"),
    ];
    assert_eq!(s.run("stop", &p, false).code, 0);
}

#[test]
fn missing_directory_is_stopped_for_a_probe_and_a_failure_for_a_monitor() {
    let s = Scene::new("gone");
    let p = [
        ("clientspec", "*"),
        ("directory", "/nonexistent-fexp/x"),
        ("fsid", "1"),
    ];
    assert_eq!(s.run("monitor", &p, true).code, 7);
    let o = s.run("monitor", &p, false);
    assert_eq!(o.code, 1);
    assert!(
        o.exit_reason()
            .unwrap_or("")
            .contains("/nonexistent-fexp/x"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_configuration_is_rc6_naming_the_parameter_and_changes_nothing() {
    let s = Scene::new("bad");
    let a = s.dir("a");
    let b = s.dir("with space");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "fsid with a comma",
            vec![("clientspec", "*"), ("directory", &a), ("fsid", "1,2")],
            "fsid",
        ),
        (
            "bad fsid",
            vec![("clientspec", "*"), ("directory", &a), ("fsid", "x1")],
            "fsid",
        ),
        (
            "missing fsid",
            vec![("clientspec", "*"), ("directory", &a)],
            "fsid",
        ),
        (
            "missing clientspec",
            vec![("directory", &a), ("fsid", "1")],
            "clientspec",
        ),
        (
            "several clients",
            vec![("clientspec", "a b"), ("directory", &a), ("fsid", "1")],
            "clientspec",
        ),
        (
            "missing dir",
            vec![
                ("clientspec", "*"),
                ("directory", "/nonexistent-fexp"),
                ("fsid", "1"),
            ],
            "directory",
        ),
        (
            "bad boolean",
            vec![
                ("clientspec", "*"),
                ("directory", &a),
                ("fsid", "1"),
                ("unlock_on_stop", "perhaps"),
            ],
            "unlock_on_stop",
        ),
        (
            "options with spaces",
            vec![
                ("clientspec", "*"),
                ("directory", &a),
                ("fsid", "1"),
                ("options", "rw, sync"),
            ],
            "options",
        ),
    ];
    // "with space" as one directory is two directories to the agent, the second of which
    // does not exist.
    let two = format!("{a} {b}");
    let mut cases = cases;
    cases.push((
        "uuid for two dirs",
        vec![("clientspec", "*"), ("directory", &two), ("fsid", "root")],
        "directory",
    ));
    for (what, p, param) in &cases {
        for action in ["validate-all", "start"] {
            let o = s.run(action, p, false);
            assert_eq!(o.code, 6, "{what} {action}: {}", o.stderr);
            let reason = o.exit_reason().unwrap_or_default();
            assert!(
                reason.contains(param),
                "{what} {action}: reason {reason:?} names {param}"
            );
            assert!(
                !s.state_file().exists(),
                "{what} {action}: state file created"
            );
            assert!(
                !s.root.join("state/etab").exists(),
                "{what} {action}: etab created"
            );
        }
    }
}

/// The exported filesystem died (a failed disk under it: here a FUSE mount that stopped
/// answering), and so does exportfs -u on it: both wait in uninterruptible sleep, which not
/// even SIGKILL ends. Stop must still answer within its timeout (a failure: the export may
/// still be there), leaving the stuck process to init, not wait for it until Pacemaker's timer.
#[test]
fn stop_answers_in_time_when_the_directory_and_exportfs_hang() {
    use std::time::Duration;
    let s = Scene::new("dead");
    let top = s.root.join("dead");
    fs::create_dir_all(&top).unwrap();
    let Some(dead) = support::fuse::DeadFuse::mount(top.to_str().unwrap()) else {
        support::skip(
            "stop_answers_in_time_when_the_directory_and_exportfs_hang",
            "cannot mount FUSE (not root, or no /dev/fuse)",
        );
        return;
    };
    let dir = top.join("export").to_string_lossy().into_owned();
    s.etab(&etab_line(&dir, "192.168.48.0/24", "1"));
    // An exportfs that touches the dead filesystem, as the real one does with its path.
    let bin = s.root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("exportfs");
    fs::write(&fake, format!("#!/bin/sh\nexec stat -- '{dir}'\n")).unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (state, rsctmp) = (s.root.join("state"), s.root.join("rsctmp"));
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
    let (code, took) = support::fuse::run_within(
        support::BIN,
        &["exportfs", "stop"],
        &[
            ("clientspec", "192.168.48.0/24"),
            ("directory", &dir),
            ("fsid", "1"),
        ],
        &[
            ("FERRO_NFS_STATEDIR", state.to_str().unwrap()),
            ("HA_RSCTMP", rsctmp.to_str().unwrap()),
            ("OCF_RESKEY_CRM_meta_timeout", "4000"),
            ("PATH", &path),
        ],
        Duration::from_secs(20),
    );
    let stuck = support::fuse::processes_with(&dir);
    drop(dead);
    assert_eq!(code, Some(1), "stop fails, in {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "within the 4 s timeout: {took:?}"
    );
    // What the agent left behind: the workers and exportfs, in D state until the connection
    // closes (above).
    assert!(stuck.iter().any(|(_, st)| *st == 'D'), "{stuck:?}");
}
