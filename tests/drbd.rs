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
        ScoreForm::detect(&deadline()),
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
