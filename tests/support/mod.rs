//! Shared helpers for the integration tests: running an agent the way Pacemaker does (an
//! environment of OCF_RESKEY_* and CRM_meta_*, nothing else), and finding it installed.
#![allow(dead_code)]

pub mod fuse;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const BIN: &str = env!("CARGO_BIN_EXE_ferro-ocf");
pub const OCF_ROOT: &str = "/usr/lib/ocf";

/// What an agent action returned.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The `ocf-exit-reason:` Pacemaker would show, if any (the last one, as Pacemaker takes).
    pub fn exit_reason(&self) -> Option<&str> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
    }
}

/// Run `agent action` with instance parameters `params` and extra environment (e.g.
/// `OCF_CHECK_LEVEL`, `OCF_RESKEY_CRM_meta_timeout`), with an otherwise empty environment.
pub fn run_agent(
    agent: &str,
    action: &str,
    params: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Outcome {
    let mut cmd = Command::new(BIN);
    cmd.args([agent, action])
        .env_clear()
        .env("OCF_ROOT", OCF_ROOT)
        .env("OCF_RESOURCE_INSTANCE", format!("test-{agent}"))
        // What an agent keeps between runs stays with the tests, not in the host's /run.
        .env("HA_RSCTMP", concat!(env!("CARGO_TARGET_TMPDIR"), "/rsctmp"));
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ferro-ocf");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether a program is on PATH (for tests that need a package and skip, saying so, without it).
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[path = "skip.rs"]
mod skip_;
#[allow(unused_imports)]
pub use skip_::skip;

/// `/usr/lib/ocf/resource.d/ferro/<agent>`, installed from the binary under test: tools such as
/// pcs, crm_resource and crm_simulate only find agents there. The test command installs the
/// agents before running the tests; this makes sure the installed copy is this build.
pub fn installed_agent(agent: &str) -> PathBuf {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let installed = Path::new("/usr/sbin/ferro-ocf");
        let current = std::fs::read(installed).ok() == std::fs::read(BIN).ok();
        if !current {
            let st = Command::new(BIN)
                .args(["install", "--root", "/"])
                .status()
                .expect("ferro-ocf install");
            assert!(st.success(), "ferro-ocf install failed");
        }
    });
    Path::new(OCF_ROOT).join("resource.d/ferro").join(agent)
}

/// Run resource-agents' `ocf-tester` on this build as `agent`, from a copy in `dir`.
/// ocf-tester runs some actions as nobody, so `dir` and its parent are made world-readable.
pub fn ocf_tester(
    dir: &Path,
    agent: &str,
    params: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    for d in [dir, dir.parent().unwrap()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A copy, not a link to the build: a checkout under a 0700 directory (/root) is out of
    // nobody's reach, and ocf-tester runs some actions as nobody.
    let link = dir.join(agent);
    let _ = std::fs::remove_file(&link);
    std::fs::copy(BIN, &link).unwrap();
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new("ocf-tester");
    cmd.args(["-n", &format!("ferro-{agent}")])
        .env("OCF_ROOT", OCF_ROOT);
    for (k, v) in params {
        cmd.args(["-o", &format!("{k}={v}")]);
    }
    cmd.arg(&link).envs(env.iter().copied());
    let out = cmd.output().expect("run ocf-tester");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
