//! The binary as Pacemaker and people call it: through a symlink named after the agent, as
//! `ferro-ocf <agent> <action>`, and `ferro-ocf install --root`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferro-ocf");
const AGENTS: [&str; 5] = ["drbd", "Filesystem", "exportfs", "nfsserver", "IPaddr2"];

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferro-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

fn metadata_file(agent: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/ocf-metadata/{agent}.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn symlink_under_each_agent_name_dispatches_to_that_agent() {
    let dir = tempdir("argv0");
    for agent in AGENTS {
        let link = dir.join(agent);
        symlink(BIN, &link).unwrap();
        let out = run(&link, &["meta-data"]);
        assert_eq!(out.status.code(), Some(0), "{agent}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            metadata_file(agent),
            "{agent}: meta-data is the XML file verbatim"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn multicall_form_matches_the_symlink_form() {
    for agent in AGENTS {
        let out = run(Path::new(BIN), &[agent, "meta-data"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), metadata_file(agent));
    }
    let out = run(Path::new(BIN), &["--list"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    for agent in AGENTS {
        assert!(
            listed.lines().any(|l| l == format!("ocf:ferro:{agent}")),
            "{listed}"
        );
    }
}

#[test]
fn unknown_action_is_unimplemented_with_a_reason() {
    let out = run(Path::new(BIN), &["IPaddr2", "migrate_sideways"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("ocf-exit-reason:action \"migrate_sideways\" is not supported"),
        "{err}"
    );
}

#[test]
fn missing_action_and_unknown_agent_are_argument_errors() {
    assert_eq!(run(Path::new(BIN), &["IPaddr2"]).status.code(), Some(2));
    let out = run(Path::new(BIN), &["NoSuchAgent", "start"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("unknown agent"));
}

#[test]
fn install_into_a_root_is_idempotent_and_uninstall_removes_it() {
    let root = tempdir("install");
    let root_s = root.to_str().unwrap();
    for _ in 0..2 {
        let out = run(Path::new(BIN), &["install", "--root", root_s]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for agent in AGENTS {
        let link = root.join("usr/lib/ocf/resource.d/ferro").join(agent);
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // The link resolves inside the root: it works in an image as well as on /.
        let out = run(&link, &["meta-data"]);
        assert_eq!(out.status.code(), Some(0), "{agent}");
    }
    // DRBD's fence-peer handler under drbd-utils' names: without DRBD_RESOURCE it says so
    // and exits 1, as crm-fence-peer.9.sh.
    for handler in ["crm-fence-peer.9.sh", "crm-unfence-peer.9.sh"] {
        let link = root.join("usr/lib/ferro-ocf").join(handler);
        let out = Command::new(&link)
            .env_remove("DRBD_RESOURCE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{handler}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("DRBD_RESOURCE"));
    }
    let out = run(Path::new(BIN), &["uninstall", "--root", root_s]);
    assert!(out.status.success());
    assert!(!root.join("usr/lib/ocf/resource.d/ferro").exists());
    assert!(!root.join("usr/lib/ferro-ocf").exists());
    assert!(!root.join("usr/sbin/ferro-ocf").exists());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn version_names_the_release_and_the_git_revision() {
    let out = run(Path::new(BIN), &["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!("ferro-ocf {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&want), "{text:?}");
    let rev = text
        .trim()
        .strip_prefix(&want)
        .unwrap()
        .trim_end_matches(')');
    // In a checkout it is this checkout's commit (a source tarball says "unknown").
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(h) if h.status.success() => {
            let head = String::from_utf8(h.stdout).unwrap();
            assert_eq!(rev.trim_end_matches("-dirty"), head.trim(), "{text:?}");
        }
        _ => assert_eq!(rev, "unknown"),
    }
}
