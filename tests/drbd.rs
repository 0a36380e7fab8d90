//! ocf:ferro:drbd on this host, which has drbd-utils and Pacemaker's tools but no DRBD kernel
//! module: what is real here is the metadata, the configuration checks, the answers when DRBD
//! is absent, and the promotion score against a CIB file (crm_attribute honours CIB_file).
//! The behaviour against a real DRBD is tested in the VM lab (tests/lab/drbd-agent.sh).

mod support;

use std::path::{Path, PathBuf};
use support::{have, run_agent, skip, Outcome};

const REFERENCE: &str = "/usr/lib/ocf/resource.d/linbit/drbd";

fn drbd_absent() -> bool {
    !Path::new("/proc/drbd").exists()
        && !std::process::Command::new("modinfo")
            .args(["-F", "version", "drbd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
}

/// A clone's environment as Pacemaker gives it to a promotable DRBD instance.
fn clone_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("OCF_RESKEY_CRM_meta_clone_max", "2"),
        ("OCF_RESKEY_CRM_meta_clone_node_max", "1"),
        ("OCF_RESKEY_CRM_meta_promoted_max", "1"),
        ("OCF_RESKEY_CRM_meta_promoted_node_max", "1"),
        ("OCF_RESKEY_CRM_meta_notify", "true"),
        ("OCF_RESKEY_CRM_meta_on_node", "fdrbd-node"),
    ];
    v.extend_from_slice(extra);
    v
}

fn ferro(action: &str, params: &[(&str, &str)], env: &[(&str, &str)]) -> Outcome {
    run_agent("drbd", action, params, env)
}

/// The reference agent with the same environment (it needs PATH for its tools).
fn reference(action: &str, params: &[(&str, &str)], env: &[(&str, &str)]) -> Option<Outcome> {
    if !Path::new(REFERENCE).exists() {
        return None;
    }
    let mut cmd = std::process::Command::new(REFERENCE);
    cmd.arg(action)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", support::OCF_ROOT)
        .env("OCF_RESOURCE_INSTANCE", "test-drbd");
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run reference drbd");
    Some(Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[test]
fn meta_data_is_the_xml_file() {
    let o = ferro("meta-data", &[], &[]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, include_str!("../ocf-metadata/drbd.xml"));
}

#[test]
fn bad_parameters_are_err_configured_naming_them() {
    for (param, value, needle) in [
        ("drbd_resource", "r0 ; reboot", "drbd_resource"),
        ("drbdconf", "/etc/drbd.conf;x", "drbdconf"),
        ("adjust_master_score", "0 10 1000", "adjust_master_score"),
        (
            "adjust_master_score",
            "10000 1000 10 0",
            "adjust_master_score",
        ),
        (
            "require_drbd_module_version_ge",
            "9.0",
            "require_drbd_module_version_ge",
        ),
        (
            "require_drbd_module_version_lt",
            "x.y.z",
            "require_drbd_module_version_lt",
        ),
        (
            "connect_only_after_promote",
            "sometimes",
            "connect_only_after_promote",
        ),
    ] {
        let o = ferro(
            "validate-all",
            &[("drbd_resource", "r0"), (param, value)],
            &clone_env(&[]),
        );
        assert_eq!(o.code, 6, "{param}={value}: {o:?}");
        let reason = o.exit_reason().unwrap_or_default();
        assert!(
            reason.contains(needle),
            "{param}={value}: reason {reason:?}"
        );
    }
    let o = ferro("validate-all", &[], &clone_env(&[]));
    assert_eq!(o.code, 6);
    assert!(
        o.exit_reason()
            .unwrap_or_default()
            .contains("drbd_resource"),
        "{o:?}"
    );
}

#[test]
fn clone_misconfiguration_is_err_configured_with_the_references_reason() {
    for (k, v, reason) in [
        (
            "OCF_RESKEY_CRM_meta_clone_node_max",
            "2",
            "expected clone-node-max = 1, but found 2.",
        ),
        (
            "OCF_RESKEY_CRM_meta_promoted_node_max",
            "2",
            "expected promoted-node-max = 1, but found 2.",
        ),
        (
            "OCF_RESKEY_CRM_meta_promoted_max",
            "3",
            "expected promoted-max -le 2, but found 3.",
        ),
    ] {
        let o = ferro("start", &[("drbd_resource", "r0")], &clone_env(&[(k, v)]));
        assert_eq!(o.code, 6, "{k}={v}: {o:?}");
        assert_eq!(
            o.exit_reason(),
            Some(format!("meta parameter misconfigured, {reason}").as_str())
        );
    }
    let o = ferro(
        "start",
        &[("drbd_resource", "r0")],
        &clone_env(&[("OCF_RESKEY_CRM_meta_notify", "false")]),
    );
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        o.exit_reason().unwrap_or_default().contains("notify"),
        "{o:?}"
    );
    // Stop never refuses over meta attributes: a failed stop gets the node fenced.
    if drbd_absent() {
        let o = ferro(
            "stop",
            &[("drbd_resource", "r0")],
            &clone_env(&[("OCF_RESKEY_CRM_meta_clone_node_max", "2")]),
        );
        assert_eq!(o.code, 0, "{o:?}");
    }
}

#[test]
fn without_drbd_probe_is_not_installed_and_stop_succeeds_like_the_reference() {
    if !drbd_absent() {
        return skip("without_drbd", "this host has a DRBD module");
    }
    let params = [("drbd_resource", "r0")];
    let probe = clone_env(&[("OCF_RESKEY_CRM_meta_interval", "0")]);
    let o = ferro("monitor", &params, &probe);
    assert_eq!(o.code, 5, "{o:?}");
    assert_eq!(o.exit_reason(), Some("DRBD kernel (module) not available?"));
    let o = ferro("validate-all", &params, &clone_env(&[]));
    assert_eq!(o.code, 5, "{o:?}");
    let o = ferro("stop", &params, &clone_env(&[]));
    assert_eq!(o.code, 0, "{o:?}");
    if let Some(r) = reference("monitor", &params, &probe) {
        assert_eq!(r.code, 5, "reference probe: {r:?}");
        assert_eq!(r.exit_reason(), Some("DRBD kernel (module) not available?"));
    }
    if let Some(r) = reference("stop", &params, &clone_env(&[])) {
        assert_eq!(r.code, 0, "reference stop: {r:?}");
    }
    // Start cannot load a module that does not exist: not installed, and nothing is left behind.
    if have("modprobe") {
        let o = ferro("start", &params, &clone_env(&[]));
        assert_eq!(o.code, 5, "{o:?}");
        assert!(!Path::new("/proc/drbd").exists());
    }
}

/// A CIB file with one node, for crm_attribute (CIB_file makes it work without a cluster).
struct Cib {
    dir: PathBuf,
}

impl Cib {
    fn new(name: &str) -> Option<Cib> {
        if !have("cibadmin") || !have("crm_attribute") {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("fdrbd-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("cibadmin")
            .arg("--empty")
            .output()
            .unwrap();
        let xml = String::from_utf8(out.stdout)
            .unwrap()
            .replace(
                "<nodes/>",
                r#"<nodes><node id="1" uname="fdrbd-node"/></nodes>"#,
            )
            .replace(
                "<status/>",
                r#"<status><node_state id="1" uname="fdrbd-node"/></status>"#,
            );
        std::fs::write(dir.join("cib.xml"), xml).unwrap();
        Some(Cib { dir })
    }

    fn path(&self) -> String {
        self.dir.join("cib.xml").to_string_lossy().into_owned()
    }

    fn attr(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("crm_attribute")
            .args(["-N", "fdrbd-node", "-n", "master-test-drbd", "-l", "reboot"])
            .args(args)
            .env("CIB_file", self.path())
            .output()
            .unwrap()
    }

    fn score(&self) -> Option<String> {
        let o = self.attr(&["-G", "-q"]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    }
}

impl Drop for Cib {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn stop_removes_the_promotion_score() {
    if !drbd_absent() {
        return skip(
            "stop_removes_the_promotion_score",
            "this host has a DRBD module",
        );
    }
    let Some(cib) = Cib::new("stop") else {
        return skip(
            "stop_removes_the_promotion_score",
            "no cibadmin/crm_attribute",
        );
    };
    assert!(cib.attr(&["-v", "10000"]).status.success());
    assert_eq!(cib.score().as_deref(), Some("10000"));
    let path = cib.path();
    let o = ferro(
        "stop",
        &[("drbd_resource", "r0")],
        &clone_env(&[("CIB_file", &path)]),
    );
    assert_eq!(o.code, 0, "{o:?}");
    // An old score would let Pacemaker promote a stopped node (e.g. after standby).
    assert_eq!(cib.score(), None, "{o:?}");
    // And a second stop, with no score left, still succeeds.
    let o = ferro(
        "stop",
        &[("drbd_resource", "r0")],
        &clone_env(&[("CIB_file", &path)]),
    );
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn validate_changes_nothing() {
    let Some(cib) = Cib::new("validate") else {
        return skip("validate_changes_nothing", "no cibadmin/crm_attribute");
    };
    assert!(cib.attr(&["-v", "1000"]).status.success());
    let before = std::fs::read_to_string(cib.path()).unwrap();
    let path = cib.path();
    for params in [
        vec![("drbd_resource", "r0")],
        vec![("drbd_resource", "r0"), ("adjust_master_score", "1 2")],
    ] {
        let o = ferro("validate-all", &params, &clone_env(&[("CIB_file", &path)]));
        assert_ne!(o.code, 0, "{o:?}");
    }
    assert_eq!(std::fs::read_to_string(cib.path()).unwrap(), before);
    assert_eq!(Path::new("/proc/drbd").exists(), !drbd_absent());
}

/// A boolean typo makes monitor, notify and reload read it as false, as the reference's
/// ocf_is_true does, instead of OCF_ERR_CONFIGURED (which stops the clone everywhere); here,
/// without DRBD, they get as far as the module check. validate-all and start still name it.
#[test]
fn boolean_typo_is_fatal_only_to_validate_and_start() {
    if !drbd_absent() {
        return skip(
            "boolean_typo_is_fatal_only_to_validate_and_start",
            "this host has a DRBD module",
        );
    }
    let params = [("drbd_resource", "r0"), ("stop_outdates_secondary", "ture")];
    let recurring = clone_env(&[("OCF_RESKEY_CRM_meta_interval", "20000")]);
    let notify = clone_env(&[
        ("OCF_RESKEY_CRM_meta_notify_type", "post"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "start"),
    ]);
    for (action, env) in [
        ("monitor", &recurring),
        ("notify", &notify),
        ("reload", &recurring),
    ] {
        let o = ferro(action, &params, env);
        assert_eq!(o.code, 5, "{action}: {o:?}");
        if let Some(r) = reference(action, &params, env) {
            assert_eq!(r.code, o.code, "reference {action}: {r:?}");
        }
    }
    for action in ["validate-all", "start"] {
        let o = ferro(action, &params, &clone_env(&[]));
        assert_eq!(o.code, 6, "{action}: {o:?}");
        assert!(
            o.exit_reason()
                .unwrap_or_default()
                .contains("stop_outdates_secondary"),
            "{action}: {o:?}"
        );
    }
}

/// The one rule for stop and probes: a bad value of a parameter other than drbd_resource
/// falls back to its default. Without DRBD (this host) a probe is OCF_ERR_INSTALLED, never 6,
/// and stop succeeds (no module, no resource); drbd_resource itself is judged by probes.
#[test]
fn stop_matrix() {
    if !drbd_absent() {
        return skip("stop_matrix", "this host has a DRBD module");
    }
    let probe = clone_env(&[("OCF_RESKEY_CRM_meta_interval", "0")]);
    for (k, v) in [
        ("drbdconf", "/etc/drbd.conf;x"),
        ("adjust_master_score", "0 10 1000"),
        ("adjust_master_score", "10000 1000 10 0"),
        ("stop_outdates_secondary", "ture"),
        ("ignore_missing_notifications", "ture"),
        ("fail_promote_early_if_peer_primary", "ture"),
        ("unfence_if_all_uptodate", "ture"),
        ("connect_only_after_promote", "sometimes"),
        ("require_drbd_module_version_ge", "9.0"),
        ("require_drbd_module_version_lt", "x.y.z"),
    ] {
        let params = [("drbd_resource", "r0"), (k, v)];
        let o = ferro("monitor", &params, &probe);
        assert_eq!(o.code, 5, "probe {k}={v}: {o:?}");
        let o = ferro("stop", &params, &clone_env(&[]));
        assert_eq!(o.code, 0, "stop {k}={v}: {o:?}");
        let o = ferro("validate-all", &params, &clone_env(&[]));
        assert_eq!(o.code, 6, "validate-all {k}={v}: {o:?}");
    }
    let params = [("drbd_resource", "r0 ; reboot")];
    assert_eq!(ferro("monitor", &params, &probe).code, 6);
    assert_eq!(ferro("stop", &params, &clone_env(&[])).code, 0);
}

/// A scratch directory with a drbd.conf naming this host and one peer.
struct DrbdConf {
    dir: PathBuf,
}

impl DrbdConf {
    fn new(name: &str, body: &str) -> Option<DrbdConf> {
        if !have("drbdadm") {
            return None;
        }
        let host = String::from_utf8(
            std::process::Command::new("uname")
                .arg("-n")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("fdrbd-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = body
            .replace("@HOST@", host.trim())
            .replace("@DIR@", &dir.to_string_lossy());
        std::fs::write(dir.join("drbd.conf"), conf).unwrap();
        Some(DrbdConf { dir })
    }

    fn path(&self) -> String {
        self.dir.join("drbd.conf").to_string_lossy().into_owned()
    }

    fn adm(&self) -> ferro_ocf::sys::drbd::Drbdadm {
        ferro_ocf::sys::drbd::Drbdadm::new(Some(&self.path()))
    }
}

impl Drop for DrbdConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TWO_VOLUMES: &str = r#"
resource r0 {
  volume 0 { device /dev/drbd1; disk /dev/loop8; meta-disk internal; }
  volume 1 { device /dev/drbd2; disk none; }
  handlers { unfence-peer "/bin/sh -c 'echo \"$OCF_RESKEY_unfence_extra_args\" > @DIR@/unfence-args'"; }
  on @HOST@ { address 10.0.0.1:7790; }
  on peer { address 10.0.0.2:7790; }
}
"#;

fn deadline() -> ferro_ocf::ocf::Deadline {
    ferro_ocf::ocf::Deadline::after(std::time::Duration::from_secs(20))
}

/// What start asks drbd-utils, answered by the real drbdadm: which volumes have a disk to
/// attach, and which connection to wait for (`drbdadm -d connect` names it by resource and
/// peer node id, the two arguments of `drbdsetup wait-connect-connection`).
#[test]
fn start_reads_disks_and_connections_from_real_drbdadm() {
    let Some(conf) = DrbdConf::new("adm", TWO_VOLUMES) else {
        return skip(
            "start_reads_disks_and_connections_from_real_drbdadm",
            "no drbdadm",
        );
    };
    let mut adm = conf.adm();
    assert_eq!(adm.minors("r0", &deadline()).unwrap(), Some(vec![1, 2]));
    assert_eq!(adm.has_disks("r0", &deadline()), Some(vec![true, false]));
    let dry = adm.run(&["-d", "connect", "r0:peer"], &deadline()).unwrap();
    assert!(dry.success(), "{dry:?}");
    assert_eq!(
        ferro_ocf::agents::drbd::wait_connect_connection(&dry.stdout).unwrap(),
        ["wait-connect-connection", "r0", "1"],
        "{}",
        dry.stdout
    );
    let usage = std::process::Command::new("drbdsetup")
        .args(["help", "wait-connect-connection"])
        .output()
        .unwrap();
    let usage = String::from_utf8_lossy(&usage.stdout);
    assert!(
        usage.contains("wait-connect-connection {resource} {peer_node_id}\n"),
        "{usage}"
    );
}

/// The unfence hook reads its options from OCF_RESKEY_unfence_extra_args: drbdadm passes the
/// environment the agent gives it on to the handler.
#[test]
fn unfence_hook_gets_the_extra_args() {
    let Some(conf) = DrbdConf::new("unfence", TWO_VOLUMES) else {
        return skip("unfence_hook_gets_the_extra_args", "no drbdadm");
    };
    let args = "--quiet --flock-required --flock-timeout 0 --unfence-only-if-owner-match";
    let out = conf
        .adm()
        .run_env(
            &["unfence-peer", "r0"],
            &[("OCF_RESKEY_unfence_extra_args", args)],
            &deadline(),
        )
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(conf.dir.join("unfence-args"))
            .unwrap()
            .trim(),
        args
    );
}

/// The promotion score against a CIB file (crm_attribute honours CIB_file): both ways of
/// naming it (-p for Pacemaker 2.1+, `-n master-<rsc>` for 2.0) are the same attribute, and a
/// score that is not a number (a manual INFINITY) is reported as such, not as "no score".
#[test]
fn promotion_score_forms_and_a_manual_infinity() {
    use ferro_ocf::sys::pacemaker::{Outcome, PromotionScore, Score, ScoreForm};
    let Some(cib) = Cib::new("forms") else {
        return skip(
            "promotion_score_forms_and_a_manual_infinity",
            "no cibadmin/crm_attribute",
        );
    };
    // Only this test sets CIB_file in this process; the agents run with their own environment.
    std::env::set_var("CIB_file", cib.path());
    let version = std::process::Command::new("crm_attribute")
        .arg("--version")
        .output()
        .unwrap();
    let version = ferro_ocf::sys::pacemaker::parse_pacemaker_version(&String::from_utf8_lossy(
        &version.stdout,
    ));
    assert!(version.is_some(), "crm_attribute --version");
    assert_eq!(
        ScoreForm::detect(&deadline(), None),
        ScoreForm::for_version(version)
    );
    let forms = if version >= Some((2, 1, 0)) {
        vec![ScoreForm::Promotion, ScoreForm::Named]
    } else {
        vec![ScoreForm::Named]
    };
    for form in forms {
        let score = PromotionScore {
            instance: "test-drbd",
            node: Some("fdrbd-node"),
            form,
        };
        assert_eq!(
            score.get(&deadline()).unwrap(),
            Outcome::Done(Score::Absent),
            "{form:?}"
        );
        assert_eq!(
            score.set(Some(1000), &deadline()).unwrap(),
            Outcome::Done(())
        );
        assert_eq!(cib.score().as_deref(), Some("1000"), "{form:?}");
        assert_eq!(
            score.get(&deadline()).unwrap(),
            Outcome::Done(Score::Value(1000))
        );
        assert!(cib.attr(&["-v", "INFINITY"]).status.success());
        let got = score.get(&deadline()).unwrap();
        assert_eq!(got, Outcome::Done(Score::Other("INFINITY".to_owned())));
        let Outcome::Done(got) = got else {
            unreachable!()
        };
        assert!(
            !got.is(None),
            "INFINITY is not 'no score': it must be deleted"
        );
        assert_eq!(score.set(None, &deadline()).unwrap(), Outcome::Done(()));
        assert_eq!(cib.score(), None, "{form:?}");
    }
    std::env::remove_var("CIB_file");
}

const ONE_VOLUME: &str = r#"
resource r0 {
  device /dev/drbd0; disk /dev/loop9; meta-disk internal;
  on @HOST@ { address 10.0.0.1:7789; }
  on peer { address 10.0.0.2:7789; }
}
"#;

/// Programs the agent may run, each replaced on PATH by a script that logs its arguments and
/// runs the real one.
struct Wrapped {
    bin: PathBuf,
    log: PathBuf,
}

impl Wrapped {
    fn new(dir: &Path, programs: &[&str]) -> Wrapped {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = dir.join("calls.log");
        for p in programs {
            let Some(real) = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(p))
                .find(|p| p.is_file())
            else {
                continue;
            };
            let script = bin.join(p);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"{p} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                    log.display(),
                    real.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Wrapped { bin, log }
    }

    fn path(&self) -> String {
        format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display())
    }

    /// The calls logged since the last take.
    fn take(&self) -> Vec<String> {
        let calls = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        calls.lines().map(str::to_owned).collect()
    }
}

/// The monitor's cost in steady state (issue 14): with DRBD 8.4 (a captured /proc/drbd read in
/// place of the real one: the seam; drbd.conf, drbdadm and the CIB are real) the first
/// recurring monitor asks drbdadm and crm_attribute, and the next ones run no program at all.
/// A score deleted by hand behind the agent's back is written again within TRUSTED_MONITORS
/// monitors, and a probe (after a cleanup, a cluster start) trusts nothing it kept; a post
/// notification leaves the score it wrote for the next monitor; crm_attribute's version is
/// asked once per build of it, not once per action.
#[test]
fn steady_state_monitor_runs_nothing_and_a_deleted_score_comes_back() {
    const NAME: &str = "steady_state_monitor_runs_nothing_and_a_deleted_score_comes_back";
    use ferro_ocf::agents::drbd::TRUSTED_MONITORS;
    if !have("drbdsetup") {
        return skip(NAME, "no drbdsetup");
    }
    let Some(conf) = DrbdConf::new("steady", ONE_VOLUME) else {
        return skip(NAME, "no drbdadm");
    };
    let Some(cib) = Cib::new("steady") else {
        return skip(NAME, "no cibadmin/crm_attribute");
    };
    let wrapped = Wrapped::new(
        &conf.dir,
        &[
            "crm_attribute",
            "crm_resource",
            "drbdadm",
            "drbdsetup",
            "modinfo",
        ],
    );
    let proc_drbd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drbd/84/connected-secondary/node1.proc_drbd"
    );
    let rsc_tmp = conf.dir.join("rsctmp");
    let (cib_path, conf_path, path) = (cib.path(), conf.path(), wrapped.path());
    let rsc_tmp_s = rsc_tmp.to_string_lossy().into_owned();
    let params = [("drbd_resource", "r0"), ("drbdconf", conf_path.as_str())];
    let env = |interval: &'static str| {
        clone_env(&[
            ("OCF_RESKEY_CRM_meta_interval", interval),
            ("CIB_file", &cib_path),
            ("HA_RSCTMP", &rsc_tmp_s),
            ("FERRO_PROC_DRBD", proc_drbd),
            ("PATH", &path),
        ])
    };
    let monitor = |interval: &'static str| {
        let o = ferro("monitor", &params, &env(interval));
        assert_eq!(o.code, 0, "Secondary, UpToDate/UpToDate: {o:?}");
        wrapped.take()
    };
    let asked = |calls: &[String]| calls.iter().any(|c| c.starts_with("crm_attribute"));

    // The first recurring monitor reads everything and writes the score.
    let calls = monitor("20000");
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("drbdadm") && c.contains("sh-minor")),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.contains(" -G")) && calls.iter().any(|c| c.contains("-v 10000")),
        "{calls:?}"
    );
    assert_eq!(cib.score().as_deref(), Some("10000"));
    // The next one runs nothing.
    assert_eq!(monitor("20000"), Vec::<String>::new());
    let cache_file = rsc_tmp.join("ferro-drbd-test-drbd.cache");
    assert!(std::fs::symlink_metadata(&cache_file).unwrap().is_file());

    // An admin deletes the score: written again within the bound, by a monitor that asks.
    assert!(cib.attr(&["-D"]).status.success());
    assert_eq!(cib.score(), None);
    let mut repaired = None;
    for i in 1..=TRUSTED_MONITORS {
        let calls = monitor("20000");
        if cib.score().as_deref() == Some("10000") {
            assert!(asked(&calls), "{calls:?}");
            repaired = Some(i);
            break;
        }
        assert_eq!(calls, Vec::<String>::new(), "monitor {i} trusts the cache");
    }
    let repaired = repaired.expect("the deleted score is written again");
    assert!(repaired > 1, "the cache was trusted until then");
    assert_eq!(monitor("20000"), Vec::<String>::new());

    // Seen with strace: not even a fork.
    if have("strace") {
        let trace = conf.dir.join("strace.out");
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=process", "-o"])
            .arg(&trace)
            .args([support::BIN, "drbd", "monitor"])
            .env_clear()
            .env("OCF_ROOT", support::OCF_ROOT)
            .env("OCF_RESOURCE_INSTANCE", "test-drbd");
        for (k, v) in params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        cmd.envs(env("20000"));
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let t = std::fs::read_to_string(&trace).unwrap();
        let n = |name: &str| {
            t.lines()
                .filter(|l| l.contains(&format!("{name}(")))
                .count()
        };
        assert_eq!(n("execve"), 1, "only the agent itself is executed:\n{t}");
        assert_eq!(n("clone") + n("clone3") + n("fork") + n("vfork"), 0, "{t}");
        wrapped.take();
    } else {
        skip(
            NAME,
            "strace is not installed (the PATH wrappers still counted)",
        );
    }

    // Another node name is another attribute: not the cached one.
    let o = ferro(
        "monitor",
        &params,
        &[env("20000"), vec![("OCF_RESKEY_CRM_meta_on_node", "other")]].concat(),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(asked(&wrapped.take()));
    // A probe asks again and drops the cache; so does every other action.
    assert!(asked(&monitor("0")));
    assert!(!cache_file.exists());
    assert!(asked(&monitor("20000")));
    assert_eq!(monitor("20000"), Vec::<String>::new());
    let o = ferro("validate-all", &params, &env("0"));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!cache_file.exists());

    // A post notification writes the score without reading it first, and leaves what it wrote
    // for the next monitor: the first monitor after a promote asks no one.
    let post = [
        env("0"),
        vec![
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
        ],
    ]
    .concat();
    let o = ferro("notify", &params, &post);
    assert_eq!(o.code, 0, "{o:?}");
    let calls = wrapped.take();
    assert!(
        calls.iter().any(|c| c.contains("-v 10000")) && !calls.iter().any(|c| c.contains(" -G")),
        "{calls:?}"
    );
    assert!(cache_file.exists());
    assert_eq!(monitor("20000"), Vec::<String>::new());

    // crm_attribute's form (-p or -n master-) was asked once, by the first monitor, and kept
    // for this build of crm_attribute: no action since (the notification above, a process of
    // its own) asked again. Another build (here: the program changed) is asked again.
    let version = |calls: &[String]| calls.iter().any(|c| c.contains("--version"));
    assert!(
        !version(&calls),
        "the notification asked crm_attribute --version: {calls:?}"
    );
    let form_file = rsc_tmp.join(ferro_ocf::sys::pacemaker::FORM_FILE);
    assert!(std::fs::symlink_metadata(&form_file).unwrap().is_file());
    let o = ferro("notify", &params, &post);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!version(&wrapped.take()));
    // Written again: another modification time, another build as far as the agent can tell.
    Wrapped::new(&conf.dir, &["crm_attribute"]);
    let o = ferro("notify", &params, &post);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(version(&wrapped.take()));
}
