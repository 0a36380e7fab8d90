//! ocf:ferro:nfsserver on this host, which has no nfsd (and no systemd as PID 1): what is real
//! here is the configuration checking (rc 6 naming the parameter, nothing changed) and the
//! agent's contract with an init script given as nfs_init_script (its exit codes, its argv).
//! Starting and stopping the real server is tested in the VM lab (tests/lab/nfs-agents.sh).

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use support::run_agent;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fnfsd-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// An init script that records its arguments and exits with `code` for `status`.
fn script(dir: &std::path::Path, code: i32) -> String {
    let p = dir.join("nfs-init");
    fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}/argv\nexit {code}\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}

const ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ("OCF_RESKEY_CRM_meta_interval", "10000"),
];

#[test]
fn validate_all_accepts_the_defaults() {
    let o = run_agent("nfsserver", "validate-all", &[], ENV);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn bad_configuration_is_rc6_naming_the_parameter_and_changes_nothing() {
    let d = tempdir("bad");
    let infodir = d.join("info");
    let infodir = infodir.to_str().unwrap();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let cases: &[(&str, &str)] = &[
        ("nfs_ip", "192.168.48.200,nfs.example.com"),
        ("nfs_shared_infodir", "relative/info"),
        ("rpcpipefs_dir", "rpc_pipefs"),
        ("nfs_server_scope", "scope with spaces"),
        ("nfs_server_scope", "$(reboot)"),
        ("nfs_smnotify_retry_time", "soon"),
        ("nfs_no_notify", "perhaps"),
        ("nfsv4_only", "2"),
    ];
    for (k, v) in cases {
        let mut params = vec![(*k, *v)];
        if *k != "nfs_shared_infodir" {
            params.push(("nfs_shared_infodir", infodir));
        }
        for action in ["validate-all", "start", "monitor"] {
            let o = run_agent("nfsserver", action, &params, ENV);
            // Monitor judges only nfs_shared_infodir (see stop_matrix).
            if action == "monitor" && *k != "nfs_shared_infodir" {
                assert_ne!(o.code, 6, "{k}={v} {action}: {}", o.stderr);
                continue;
            }
            assert_eq!(o.code, 6, "{k}={v} {action}: {}", o.stderr);
            let reason = o.exit_reason().unwrap_or_default();
            assert!(reason.contains(k), "{k} {action}: reason {reason:?}");
        }
    }
    // A shared info directory in a clone: rejected as the reference does.
    let o = run_agent(
        "nfsserver",
        "start",
        &[("nfs_shared_infodir", infodir)],
        &[ENV, &[("OCF_RESKEY_CRM_meta_clone_max", "2")]].concat(),
    );
    assert_eq!(o.code, 6, "{}", o.stderr);
    assert!(o
        .exit_reason()
        .unwrap_or_default()
        .contains("nfs_shared_infodir"));
    assert!(
        !PathBuf::from(infodir).exists(),
        "start created the info directory"
    );
    assert_eq!(fs::read_to_string("/proc/self/mountinfo").unwrap(), mounts);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_missing_init_script_is_not_installed() {
    let o = run_agent(
        "nfsserver",
        "validate-all",
        &[("nfs_init_script", "/nonexistent/init.d/nfs")],
        ENV,
    );
    assert_eq!(o.code, 5);
    assert!(o
        .exit_reason()
        .unwrap_or_default()
        .contains("nfs_init_script"));
}

#[test]
fn monitor_maps_the_init_scripts_status() {
    let d = tempdir("lsb");
    // LSB status 3 (stopped) is OCF_NOT_RUNNING; the script gets one argument, no shell.
    let s = script(&d, 3);
    let o = run_agent("nfsserver", "monitor", &[("nfs_init_script", &s)], ENV);
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert_eq!(fs::read_to_string(d.join("argv")).unwrap(), "status\n");
    // Running, NFSv4 only: no locking daemon needed.
    let s = script(&d, 0);
    let o = run_agent(
        "nfsserver",
        "monitor",
        &[("nfs_init_script", &s), ("nfsv4_only", "true")],
        ENV,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Running without rpc.statd (there is none on this host): a failure, as the reference.
    let o = run_agent("nfsserver", "monitor", &[("nfs_init_script", &s)], ENV);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.exit_reason().unwrap_or_default().contains("locking"),
        "{}",
        o.stderr
    );
    // Any other status is an error.
    let s = script(&d, 4);
    let o = run_agent("nfsserver", "monitor", &[("nfs_init_script", &s)], ENV);
    assert_eq!(o.code, 1, "{}", o.stderr);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn red_hat_sysconfig_parameters_are_refused_not_ignored() {
    let d = tempdir("redhat");
    let s = script(&d, 3);
    let cases: &[(&str, &str, &str)] = &[
        ("nfsd_args", "-V 4.2 8", "[nfsd]"),
        ("lockd_udp_port", "32768", "[lockd]"),
        ("lockd_tcp_port", "32768", "[lockd]"),
        ("statd_port", "662", "[statd]"),
        ("mountd_port", "892", "[mountd]"),
        ("rquotad_port", "875", "rpc.rquotad"),
        ("statd_outgoing_port", "not-a-port", "port number"),
        ("statd_outgoing_port", "70000", "port number"),
    ];
    for (k, v, hint) in cases {
        let params = [("nfs_init_script", s.as_str()), (k, v)];
        for action in ["validate-all", "start"] {
            let _ = fs::remove_file(d.join("argv"));
            let o = run_agent("nfsserver", action, &params, ENV);
            assert_eq!(o.code, 6, "{k}={v} {action}: {}", o.stderr);
            let reason = o.exit_reason().unwrap_or_default();
            assert!(
                reason.contains(k) && reason.contains(hint),
                "{k} {action}: {reason:?}"
            );
            assert!(
                !d.join("argv").exists(),
                "{k} {action}: the init script ran"
            );
        }
        // Monitor and stop do not need them.
        let o = run_agent("nfsserver", "monitor", &params, ENV);
        assert_eq!(o.code, 7, "{k} monitor: {}", o.stderr);
        script(&d, 0);
        let o = run_agent("nfsserver", "stop", &params, ENV);
        assert_eq!(o.code, 0, "{k} stop: {}", o.stderr);
        script(&d, 3);
    }
    // A port number is accepted (sm-notify -p).
    let o = run_agent(
        "nfsserver",
        "validate-all",
        &[("nfs_init_script", &s), ("statd_outgoing_port", "4001")],
        ENV,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    fs::remove_dir_all(d).unwrap();
}

/// The one rule for stop and probes: a bad value of a parameter other than
/// nfs_shared_infodir falls back to its default (with a warning). With an init script that
/// keeps its state in a file (this host has no nfsd), stop returns 0 only once the server is
/// stopped, probes never return 6 for such a parameter; running or not.
#[test]
fn stop_matrix() {
    let d = tempdir("matrix");
    let running = d.join("running");
    let init = d.join("nfs-init");
    fs::write(
        &init,
        format!(
            "#!/bin/sh\ncase \"$1\" in\nstatus) [ -e {r} ] && exit 0; exit 3 ;;\n\
             stop) rm -f {r} ;;\nstart) touch {r} ;;\nesac\nexit 0\n",
            r = running.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).unwrap();
    let init = init.to_str().unwrap();
    let bad: &[(&str, &str)] = &[
        ("nfs_ip", "nfs.example.com"),
        ("rpcpipefs_dir", "rpc_pipefs"),
        ("nfs_server_scope", "scope with spaces"),
        ("nfs_smnotify_retry_time", "soon"),
        ("nfs_no_notify", "perhaps"),
        ("nfs_notify_foreground", "perhaps"),
        ("nfsv4_only", "2"),
    ];
    let probe_env = [ENV[0], ("OCF_RESKEY_CRM_meta_interval", "0")];
    for (k, v) in bad {
        let mut params = vec![("nfs_init_script", init), (k, v)];
        if *k != "nfsv4_only" {
            // No rpc.statd on this host: NFSv4 only, so that a running server monitors 0.
            params.push(("nfsv4_only", "true"));
        }
        for active in [true, false] {
            if active {
                fs::write(&running, "").unwrap();
            }
            let probe = run_agent("nfsserver", "monitor", &params, &probe_env);
            assert_ne!(probe.code, 6, "probe {k}={v:?} running={active}: {probe:?}");
            if *k != "nfsv4_only" {
                assert_eq!(
                    probe.code,
                    if active { 0 } else { 7 },
                    "{k}={v:?}: {probe:?}"
                );
            }
            let o = run_agent("nfsserver", "stop", &params, ENV);
            assert_eq!(o.code, 0, "stop {k}={v:?} running={active}: {o:?}");
            assert!(!running.exists(), "stop {k}={v:?} left the server running");
            assert!(o.stderr.contains(k), "stop {k}={v:?} warns: {o:?}");
        }
        let o = run_agent("nfsserver", "validate-all", &params, ENV);
        assert_eq!(o.code, 6, "{k}={v:?}: {o:?}");
    }
    // An unusable nfs_shared_infodir: nothing of it can run here (no nfsd, nothing mounted on
    // /var/lib/nfs), so stop succeeds; a probe names it.
    let params = [
        ("nfs_init_script", init),
        ("nfs_shared_infodir", "relative/info"),
    ];
    let o = run_agent("nfsserver", "stop", &params, ENV);
    assert_eq!(o.code, 0, "{o:?}");
    let o = run_agent("nfsserver", "monitor", &params, &probe_env);
    assert_eq!(o.code, 6, "{o:?}");
    fs::remove_dir_all(d).unwrap();
}
