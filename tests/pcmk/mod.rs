//! Shared by the Pacemaker integration tests: commands with a deadline, temp dirs that
//! go away, skipping with a visible reason, and the agent overlay (with-agents.sh).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

pub const AGENTS: &[&str] = &["drbd", "Filesystem", "IPaddr2", "exportfs", "nfsserver"];

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Printed straight to the process's stderr: libtest's capture would hide it.
pub fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[path = "../support/skip.rs"]
mod skip_;
pub use skip_::skip;

/// True when the test can run: root, and every tool installed. Otherwise records why the
/// test is skipped (tests/support/skip.rs).
pub fn skip_unless(test: &str, tools: &[&str]) -> bool {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root (private mount and network namespaces)");
        return false;
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if !missing.is_empty() {
        skip(
            test,
            &format!(
                "not installed: {} (Debian: apt-get install pacemaker pacemaker-cli-utils pcs crmsh corosync resource-agents)",
                missing.join(", ")
            ),
        );
        return false;
    }
    true
}

pub fn cmd(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null());
    c
}

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Out {
    pub fn check(&self, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn stdout_checked(&self, what: &str) -> String {
        self.check(what);
        self.stdout.clone()
    }
}

/// Runs a command to completion or kills it after `secs` seconds (then code is None).
pub fn run(cmd: &mut Command, secs: u64) -> Out {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let te = thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let code = loop {
        match child.try_wait().expect("wait") {
            Some(st) => break st.code(),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut stdout = to.join().unwrap();
    let mut stderr = te.join().unwrap();
    if code.is_none() {
        stderr.push_str(&format!("\n(killed after {secs} s)"));
    }
    stdout.truncate(1 << 20);
    stderr.truncate(1 << 20);
    Out {
        code,
        stdout,
        stderr,
        what,
    }
}

/// Runs one of the live-cluster scripts (tests/live/*.sh) with a unique name `prefix` for what
/// it makes and this build's binary, then shows its steps (the lines `step` picks, and the
/// whole output when it failed) and asserts it passed ("== PASS").
pub fn run_live_script(
    test: &str,
    script: &str,
    prefix: &str,
    envs: &[(&str, &str)],
    step: impl Fn(&str) -> bool,
) -> Out {
    let script = manifest_dir().join("tests/live").join(script);
    let mut c = cmd("bash");
    c.arg(&script)
        .env("PREFIX", prefix)
        .env("FERRO_BIN", env!("CARGO_BIN_EXE_ferro-ocf"))
        .envs(envs.iter().copied());
    let out = run(&mut c, 600);
    let shown: String = if out.code == Some(0) {
        let step = |l: &str| l.starts_with("== ") || l.starts_with("ok: ") || step(l);
        out.stdout
            .lines()
            .filter(|l| step(l))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        format!("{}{}", out.stdout, out.stderr)
    };
    let envs: Vec<String> = envs.iter().map(|(k, v)| format!(" {k}={v}")).collect();
    say(&format!(
        "--- {test}: {}{}\n{shown}",
        script.display(),
        envs.concat()
    ));
    out.check(&script.display().to_string());
    assert!(
        out.stdout.contains("== PASS"),
        "== PASS missing from the output"
    );
    out
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A directory under /tmp, removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The ferro agents as Pacemaker's tools see them: a directory that with-agents.sh
/// mounts on /usr/lib/ocf/resource.d/ferro in a private mount namespace.
pub struct Agents {
    pub dir: PathBuf,
}

impl Agents {
    /// This build's binary, installed with its own installer into a private root.
    pub fn new(root: &Path) -> Agents {
        fs::create_dir_all(root).unwrap();
        let bin = env!("CARGO_BIN_EXE_ferro-ocf");
        run(cmd(bin).arg("install").arg("--root").arg(root), 60).check("ferro-ocf install --root");
        let dir = root.join("usr/lib/ocf/resource.d/ferro");
        for a in AGENTS {
            assert!(
                dir.join(a).exists(),
                "ferro-ocf install made no {a} in {}",
                dir.display()
            );
        }
        Agents { dir }
    }

    /// `program` run inside the namespace where these agents are ocf:ferro:*.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = cmd(manifest_dir().join("tests/pcmk/with-agents.sh"));
        c.arg(&self.dir).arg(program);
        c
    }
}

/// The .deb that scripts/deb.sh made from the binary under test (tests/run.sh builds it before
/// the tests: cargo holds the build directory's lock while they run). An error says why not.
pub fn built_deb() -> Result<PathBuf, String> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ferro-ocf"));
    let target = bin.parent().and_then(Path::parent).unwrap();
    let deb = target.join(format!(
        "debian/ferro-ocf_{}-1_{}.deb",
        env!("CARGO_PKG_VERSION"),
        "amd64"
    ));
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(&deb), mtime(&bin)) {
        (Some(d), Some(b)) if d >= b => Ok(deb),
        (Some(_), _) => Err(format!(
            "{} is older than {}: run scripts/deb.sh (tests/run.sh does)",
            deb.display(),
            bin.display()
        )),
        (None, _) => Err(format!(
            "no {}: run scripts/deb.sh (tests/run.sh does)",
            deb.display()
        )),
    }
}
