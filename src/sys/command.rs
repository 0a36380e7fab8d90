//! Running external programs: argv only (never a shell), always under a deadline, in their
//! own process group so that a timeout kills the whole tree (a hung `mount.nfs` forks helpers).

use crate::ocf::Deadline;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Pacemaker may run agents with an empty or minimal PATH.
const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// "exit status 32" / "killed by signal 9", for error messages.
    pub fn describe(&self) -> String {
        describe_status(self.status)
    }

    /// The most useful line for an error message: the last line of stderr, else of stdout.
    pub fn last_line(&self) -> &str {
        fn last(s: &str) -> Option<&str> {
            s.lines().rev().map(str::trim).find(|l| !l.is_empty())
        }
        last(&self.stderr)
            .or_else(|| last(&self.stdout))
            .unwrap_or("")
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".to_owned(),
    }
}

/// Run `program args...` to completion within `deadline`, capturing its output.
/// A timeout kills the process group and is an error.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S], deadline: &Deadline) -> Result<Output> {
    run_cmd(command(program, args), program, deadline)
}

/// Like [`run`], but a non-zero exit is an error carrying the program's last line of output.
pub fn run_ok<S: AsRef<OsStr>>(program: &str, args: &[S], deadline: &Deadline) -> Result<Output> {
    let out = run(program, args, deadline)?;
    if !out.success() {
        bail!("{program} failed ({}): {}", out.describe(), out.last_line());
    }
    Ok(out)
}

/// A `Command` for argv, with a sane PATH, no stdin and its own process group.
pub fn command<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    if std::env::var_os("PATH").map_or(true, |p| p.is_empty()) {
        cmd.env("PATH", DEFAULT_PATH);
    }
    cmd
}

pub fn run_cmd(mut cmd: Command, what: &str, deadline: &Deadline) -> Result<Output> {
    if deadline.expired() {
        bail!("no time left to run {what}");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let pid = Pid::from_raw(child.id() as i32);
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    // Polling with a growing step keeps short commands fast without a waiter thread.
    let mut step = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            break status;
        }
        if deadline.expired() {
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = child.wait();
            bail!(
                "{what} did not finish within {:.1}s and was killed",
                deadline.elapsed().as_secs_f64()
            );
        }
        deadline.sleep(step);
        step = (step * 2).min(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

type Reader = Option<std::thread::JoinHandle<String>>;

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> Reader {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

fn collect(r: Reader) -> String {
    r.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// argv as a readable string for logs (never executed).
pub fn display_argv<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut s = OsString::from(program);
    for a in args {
        s.push(" ");
        s.push(a.as_ref());
    }
    s.to_string_lossy().into_owned()
}

/// Where `program` would be found on PATH (the default PATH when unset), like `which`.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn captures_output_and_status() {
        let d = Deadline::after(Duration::from_secs(5));
        let out = run("printf", &["%s|%s", "a b", "$(echo no-shell)"], &d).unwrap();
        assert!(out.success());
        // Arguments reach the program verbatim: nothing is interpreted by a shell.
        assert_eq!(out.stdout, "a b|$(echo no-shell)");
        let out = run("false", &[] as &[&str], &d).unwrap();
        assert_eq!(out.describe(), "exit status 1");
        let err = run_ok("ls", &["/nonexistent-ferro"], &d).unwrap_err();
        assert!(
            err.to_string().contains("ls failed (exit status 2)"),
            "{err}"
        );
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let d = Deadline::after(Duration::from_millis(300));
        let t = Instant::now();
        // A grandchild holding the pipes: killing only the direct child would hang on them.
        let err = run("sh", &["-c", "sleep 30 & wait"], &d).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("did not finish"), "{err}");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let d = Deadline::after(Duration::from_secs(1));
        let err = run("ferro-no-such-program", &[] as &[&str], &d).unwrap_err();
        assert!(err.to_string().contains("ferro-no-such-program"));
    }
}
