//! ocf:ferro:exportfs on this host, which has no nfsd: what is real here is the agent reading an
//! etab and rmtab in an NFS state directory the test made (FERRO_NFS_STATEDIR), its state file
//! under HA_RSCTMP, and its answers to bad configurations. Exporting for real is tested in the VM
//! lab (tests/lab/nfs-agents.sh). `exportfs` itself is a stand-in on PATH that logs its argv and
//! edits the test's etab, so no test touches the host's export table.

mod support;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{run_agent, Outcome, BIN};

struct Scene {
    root: PathBuf,
}

impl Scene {
    fn new(tag: &str) -> Scene {
        let root = std::env::temp_dir().join(format!("fexp-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["state", "rsctmp", "bin", "data/a", "data/with space"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        // exportfs -v -o OPTS CLIENT:DIR adds the etab line, -v -u CLIENT:DIR removes it.
        let fake = root.join("bin/exportfs");
        fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{log}'\netab='{etab}'\ncase \"$2\" in\n\
                 -o) t=\"$4\"; printf '%s\\t%s(%s)\\n' \"${{t#*:}}\" \"${{t%%:*}}\" \"$3\" >> \"$etab\" ;;\n\
                 -u) t=\"$3\"; grep -v -F \"$(printf '%s\\t%s(' \"${{t#*:}}\" \"${{t%%:*}}\")\" \"$etab\" > \"$etab.new\"; \
                 mv \"$etab.new\" \"$etab\" ;;\nesac\nexit 0\n",
                log = root.join("exportfs.log").display(),
                etab = root.join("state/etab").display(),
            ),
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        Scene { root }
    }
    fn env(&self, probe: bool) -> Vec<(&'static str, String)> {
        let p = |d: &str| self.root.join(d).to_string_lossy().into_owned();
        vec![
            ("FERRO_NFS_STATEDIR", p("state")),
            ("HA_RSCTMP", p("rsctmp")),
            (
                "OCF_RESKEY_CRM_meta_interval",
                if probe { "0" } else { "10000" }.to_owned(),
            ),
            ("OCF_RESKEY_CRM_meta_timeout", "10000".to_owned()),
            (
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", p("bin")),
            ),
        ]
    }
    /// What the stand-in exportfs was asked to do.
    fn exportfs_log(&self) -> String {
        fs::read_to_string(self.root.join("exportfs.log")).unwrap_or_default()
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
        let env = self.env(probe);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_agent("exportfs", action, params, &env)
    }
    /// As `run`, for an action that might hang or eat memory: killed after 20 s (the operation's
    /// timeout is 10 s), with 1 GiB of address space. Also returns how long it ran.
    fn run_bounded(&self, action: &str, params: &[(&str, &str)]) -> (Outcome, Duration) {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "ulimit -v 1048576; exec timeout -s KILL 20 \"$@\"",
            "sh",
            BIN,
            "exportfs",
            action,
        ])
        .env_clear()
        .env("OCF_ROOT", support::OCF_ROOT)
        .env("OCF_RESOURCE_INSTANCE", "test-exportfs")
        .envs(self.env(false));
        for (k, v) in params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        let t = Instant::now();
        let out = cmd.output().expect("run ferro-ocf");
        let o = Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        (o, t.elapsed())
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
        // exportfs(8) keeps 32 bits of a number (strtoul, then an unsigned int): these would
        // be exported under another fsid.
        (
            "fsid of 20 digits",
            vec![
                ("clientspec", "*"),
                ("directory", &a),
                ("fsid", "12345678901234567890"),
            ],
            "fsid",
        ),
        (
            "fsid of 33 bits",
            vec![
                ("clientspec", "*"),
                ("directory", &a),
                ("fsid", "4294967296"),
            ],
            "fsid",
        ),
        (
            "fsid of 32 decimal digits, a number to exportfs, not a UUID",
            vec![
                ("clientspec", "*"),
                ("directory", &a),
                ("fsid", "12345678901234567890123456789012"),
            ],
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

/// What a client that can write the export root may leave where the rmtab backup goes.
fn plant(what: &str, at: &Path, victim: &Path) {
    let _ = fs::remove_file(at);
    match what {
        "fifo" => nix::unistd::mkfifo(at, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap(),
        "/dev/zero" => symlink("/dev/zero", at).unwrap(),
        "victim" => symlink(victim, at).unwrap(),
        _ => unreachable!(),
    }
}

#[test]
fn rmtab_backup_is_never_a_fifo_a_symlink_or_endless() {
    let s = Scene::new("plant");
    let a = s.dir("a");
    let p = [
        ("clientspec", "*"),
        ("directory", a.as_str()),
        ("fsid", "1"),
    ];
    let entry = format!("10.1.1.1:{a}:0x00000001\n");
    fs::write(s.root.join("state/rmtab"), &entry).unwrap();
    let victim = s.root.join("victim");
    fs::write(&victim, "precious").unwrap();
    let backup = Path::new(&a).join(".rmtab");
    for what in ["fifo", "/dev/zero", "victim"] {
        for action in ["start", "monitor", "stop"] {
            if action == "start" {
                // Restored on start, before anything replaced it.
                s.etab("");
                let _ = fs::remove_file(s.state_file());
            }
            plant(what, &backup, &victim);
            let (o, took) = s.run_bounded(action, &p);
            assert_eq!(o.code, 0, "{what} {action} ({took:?}): {}", o.stderr);
            assert!(
                took < Duration::from_secs(10),
                "{what} {action} took {took:?}"
            );
            assert_eq!(
                fs::read_to_string(&victim).unwrap(),
                "precious",
                "{what} {action}"
            );
            let md = fs::symlink_metadata(&backup).unwrap();
            if action == "start" {
                // Refused, and said so (the reference reads /dev/zero until memory runs out).
                assert!(
                    o.stderr.contains("rmtab backup not restored"),
                    "{what}: {}",
                    o.stderr
                );
                // Nothing of it was read into rmtab.
                assert_eq!(
                    fs::read_to_string(s.root.join("state/rmtab")).unwrap(),
                    entry
                );
            } else {
                // Backed up: the planted entry is replaced by a regular file of ours.
                assert!(md.is_file(), "{what} {action}: {md:?}");
                assert_eq!(fs::read_to_string(&backup).unwrap(), entry);
            }
        }
    }
    // The NFS state directory's rmtab is read with the same care.
    let rmtab = s.root.join("state/rmtab");
    fs::remove_file(&rmtab).unwrap();
    plant("fifo", &rmtab, &victim);
    s.etab("");
    let _ = fs::remove_file(s.state_file());
    let (o, took) = s.run_bounded("start", &p);
    assert_eq!(o.code, 0, "rmtab fifo start ({took:?}): {}", o.stderr);
    let (o, took) = s.run_bounded("monitor", &p);
    assert_eq!(o.code, 0, "rmtab fifo monitor ({took:?}): {}", o.stderr);
}

#[test]
fn start_of_a_non_directory_is_refused_before_exportfs_runs() {
    let s = Scene::new("nondir");
    let file = s.root.join("data/file");
    fs::write(&file, "").unwrap();
    let file = file.to_string_lossy().into_owned();
    for dir in ["/dev/null", file.as_str()] {
        let p = [("clientspec", "*"), ("directory", dir), ("fsid", "1")];
        for action in ["validate-all", "start"] {
            let o = s.run(action, &p, false);
            assert_eq!(o.code, 6, "{dir} {action}: {}", o.stderr);
            let reason = o.exit_reason().unwrap_or_default();
            assert!(
                reason.contains("directory") && reason.contains(dir),
                "{dir} {action}: {reason:?}"
            );
            assert_eq!(s.exportfs_log(), "", "{dir} {action}: exportfs ran");
            assert!(!s.state_file().exists(), "{dir} {action}: state file");
            assert!(!s.root.join("state/etab").exists(), "{dir} {action}: etab");
        }
        // A probe finds it stopped; stop has nothing to do.
        assert_eq!(s.run("monitor", &p, true).code, 7);
        assert_eq!(s.run("stop", &p, false).code, 0);
    }
}

/// The one rule for stop and probes: a bad value of a parameter other than clientspec and
/// directory falls back to its default (with a warning). Stop returns 0 only once etab no
/// longer lists the export, probes never return 6 for such a parameter; exported or not.
#[test]
fn stop_matrix() {
    let s = Scene::new("matrix");
    let a = s.dir("a");
    let good = [
        ("clientspec", "192.168.48.0/24"),
        ("directory", a.as_str()),
        ("fsid", "1"),
    ];
    let listed = || {
        fs::read_to_string(s.root.join("state/etab"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{a}\t192.168.48.0/24(")))
    };
    let bad: &[(&str, &str)] = &[
        ("fsid", ""),
        ("fsid", "x1"),
        ("fsid", "1,2"),
        ("fsid", "4294967296"),
        ("options", "rw, sync"),
        ("unlock_on_stop", "perhaps"),
        ("wait_for_leasetime_on_stop", "perhaps"),
    ];
    for (k, v) in bad {
        let mut p: Vec<(&str, &str)> = good.iter().copied().filter(|(n, _)| n != k).collect();
        p.push((k, v));
        for active in [true, false] {
            if active {
                let o = s.run("start", &good, false);
                assert_eq!(o.code, 0, "{}", o.stderr);
                assert!(listed());
            }
            let probe = s.run("monitor", &p, true);
            assert_eq!(
                probe.code,
                if active { 0 } else { 7 },
                "probe {k}={v:?} exported={active}: {}",
                probe.stderr
            );
            let o = s.run("stop", &p, false);
            assert_eq!(o.code, 0, "stop {k}={v:?} exported={active}: {}", o.stderr);
            assert!(!listed(), "stop {k}={v:?} left the export");
            assert!(!s.state_file().exists());
            assert!(o.stderr.contains(k), "stop {k}={v:?} warns: {}", o.stderr);
        }
        assert_eq!(s.run("validate-all", &p, false).code, 6, "{k}={v:?}");
    }
    // An unusable identity: stop fails while etab lists the export for one of the clients.
    let several = [
        ("clientspec", "192.168.48.0/24 10.0.0.0/8"),
        ("directory", &a),
        ("fsid", "1"),
    ];
    assert_eq!(s.run("start", &good, false).code, 0);
    let o = s.run("stop", &several, false);
    assert_eq!(o.code, 6, "{}", o.stderr);
    assert!(
        o.exit_reason().unwrap().contains("still exported"),
        "{}",
        o.stderr
    );
    assert!(listed());
    assert_eq!(s.run("stop", &good, false).code, 0);
    assert_eq!(s.run("stop", &several, false).code, 0);
}
