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
