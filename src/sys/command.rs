//! Every process the agent starts, and every wait on one, bounded by the deadline: external
//! programs (argv only, never a shell), forked workers for system calls that can hang in the
//! kernel, and detached background work.
//!
//! Each child leads its own process group, so that a timeout reaches the whole tree (a hung
//! `mount.nfs` forks helpers). At the deadline the group gets TERM, then KILL; the child is
//! reaped for a short grace and otherwise left behind: a process in uninterruptible sleep
//! (I/O on a dead disk or a hard NFS mount, `exportfs -u`, `rpc.nfsd 0`) dies only when its
//! I/O returns, and waiting for it would make the agent overrun Pacemaker's timeout. Init
//! reaps it once the agent has exited. Output pipes are read in this thread with poll(2), so
//! a daemon that keeps a child's stdout open cannot hold the agent either, and the agent stays
//! single-threaded, which is what makes forking a worker safe.

use crate::ocf::Deadline;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, setpgid, ForkResult, Pid};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Pacemaker may run agents with an empty or minimal PATH.
const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a child that overran its deadline gets to act on TERM before KILL, and then to be
/// reaped. Together they stay within the margin the deadline leaves before Pacemaker's timeout.
const TERM_GRACE: Duration = Duration::from_millis(200);
const REAP_GRACE: Duration = Duration::from_millis(100);

/// How long the output of a child that has exited is still read: what a daemon it started
/// writes to an inherited stdout is not the child's output, and the daemon may never close it.
const DRAIN_GRACE: Duration = Duration::from_millis(250);

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
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let pid = Pid::from_raw(child.id() as i32);
    // From here on the child is waited for by pid (std's Child neither waits nor kills on drop).
    let pipes = [
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    ];
    let (status, [stdout, stderr]) = supervise(pid, pipes, what, deadline)?;
    Ok(Output {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Run `f` in a forked child and return what it returned, or an error when it did not finish
/// within `deadline` (the child is then killed and left behind, see the module comment).
///
/// For system calls that can hang in the kernel: in a thread of the agent one would keep the
/// agent process from exiting; in a child it can only strand the child. `f` runs in a copy of
/// this single-threaded process and reports through its result (an errno), not through memory.
pub fn bounded(
    what: &str,
    deadline: &Deadline,
    f: impl FnOnce() -> Result<(), Errno>,
) -> Result<Result<(), Errno>> {
    Ok(bounded_bytes(what, deadline, || f().map(|()| Vec::new()))?.map(drop))
}

/// [`bounded`] for a worker that returns bytes (through a pipe).
pub fn bounded_bytes(
    what: &str,
    deadline: &Deadline,
    f: impl FnOnce() -> Result<Vec<u8>, Errno>,
) -> Result<Result<Vec<u8>, Errno>> {
    if deadline.expired() {
        bail!("no time left to {what}");
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .with_context(|| format!("cannot make a pipe to {what}"))?;
    // SAFETY: the agent is single-threaded (no helper threads: output is read with poll), and
    // the child leaves only through _exit.
    match unsafe { fork() }.with_context(|| format!("cannot fork to {what}"))? {
        ForkResult::Child => {
            drop(r);
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(bytes)) => match write_all(&w, &bytes) {
                    Ok(()) => 0,
                    Err(_) => 255,
                },
                Ok(Err(e)) => (e as i32).clamp(1, 254),
                Err(_) => 255,
            };
            // SAFETY: _exit skips atexit handlers and stdio flushing of the parent's copies.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            // Also here: the group must exist before the child gets to it, for killpg.
            let _ = setpgid(child, child);
            let (status, [bytes]) = supervise(child, [Some(r)], what, deadline)?;
            match (status.code(), status.signal()) {
                (Some(0), _) => Ok(Ok(bytes)),
                (Some(255), _) => bail!("{what}: the worker process failed"),
                (Some(code), _) => Ok(Err(Errno::from_raw(code))),
                (None, sig) => bail!(
                    "{what}: the worker process was killed by signal {}",
                    sig.unwrap_or(0)
                ),
            }
        }
    }
}

/// realpath(3) of `path` in a bounded worker: resolving a path stats every component, and a
/// component on a dead mount (hard NFS, failed disk) never answers.
pub fn canonicalize(path: &Path, deadline: &Deadline) -> Result<std::io::Result<PathBuf>> {
    resolve(path, deadline, || std::fs::canonicalize(path))
}

/// The canonical form of a path that may not exist yet: realpath(3) of its deepest existing
/// ancestor with the rest appended (`/var/run/x` is `/run/x` where /var/run -> /run, before x
/// is made). One bounded worker walks the ancestors. An error other than "not there" (EIO,
/// EACCES) is returned as it is: it says nothing about whether the path exists.
pub fn canonicalize_planned(path: &Path, deadline: &Deadline) -> Result<std::io::Result<PathBuf>> {
    resolve(path, deadline, || {
        for existing in path.ancestors() {
            match std::fs::canonicalize(existing) {
                Ok(p) => {
                    let rest = path.strip_prefix(existing).unwrap_or(Path::new(""));
                    return Ok(if rest.as_os_str().is_empty() {
                        p
                    } else {
                        p.join(rest)
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(path.to_owned())
    })
}

fn resolve(
    path: &Path,
    deadline: &Deadline,
    f: impl FnOnce() -> std::io::Result<PathBuf>,
) -> Result<std::io::Result<PathBuf>> {
    let r = bounded_bytes(&format!("resolve {}", path.display()), deadline, || {
        f().map(|p| p.into_os_string().into_vec())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)))
    })?;
    Ok(r.map(|b| PathBuf::from(OsString::from_vec(b)))
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32)))
}

/// Run `f` in a detached process (its own session, stdio on /dev/null) that outlives the
/// agent. `setup` runs in it first; the pid is returned once `setup` is done (or the deadline
/// has passed), so that what it leaves behind (a pid file) is in place when the caller goes on.
pub fn detached(
    what: &str,
    deadline: &Deadline,
    setup: impl FnOnce(),
    f: impl FnOnce(),
) -> Result<Pid> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .with_context(|| format!("cannot make a pipe to {what}"))?;
    // SAFETY: the agent is single-threaded (see bounded_bytes), so the child can go on using
    // the allocator and the logger.
    match unsafe { fork() }.with_context(|| format!("cannot fork to {what}"))? {
        ForkResult::Parent { child } => {
            drop(w);
            // EOF (or the deadline): setup is done, or the child died.
            let mut pipes = Pipes::new([Some(r)]);
            while pipes.open() && !deadline.expired() {
                pipes.pump(deadline.remaining().min(Duration::from_millis(50)));
            }
            Ok(child)
        }
        ForkResult::Child => {
            drop(r);
            let _ = nix::unistd::setsid();
            // Pacemaker and ocf-tester read the agent's output until it is closed: the child
            // must not hold it.
            detach_stdio();
            setup();
            drop(w);
            f();
            std::process::exit(0);
        }
    }
}

fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Wait for `pid` (the leader of its own process group) and read its `pipes`, within
/// `deadline`; at the deadline, [`terminate`] it and fail.
fn supervise<const N: usize>(
    pid: Pid,
    pipes: [Option<OwnedFd>; N],
    what: &str,
    deadline: &Deadline,
) -> Result<(ExitStatus, [Vec<u8>; N])> {
    let mut pipes = Pipes::new(pipes);
    let mut status = None;
    let mut drain = *deadline;
    // Polling with a growing step keeps short commands fast without a waiter thread.
    let mut step = Duration::from_millis(1);
    loop {
        if status.is_none() {
            status = reap(pid).with_context(|| format!("waiting for {what}"))?;
            if status.is_some() {
                drain = deadline.within(DRAIN_GRACE);
            }
        }
        if status.is_some() && !pipes.open() {
            break;
        }
        if drain.expired() {
            if status.is_some() {
                tracing::debug!("{what} exited, but its output is still open (a daemon?)");
                break;
            }
            terminate(pid);
            bail!(
                "{what} did not finish within {:.1}s and was killed",
                deadline.elapsed().as_secs_f64()
            );
        }
        let wait = step.min(drain.remaining());
        if pipes.open() {
            if pipes.pump(wait) {
                step = Duration::from_millis(1);
                continue;
            }
        } else {
            drain.sleep(wait);
        }
        step = (step * 2).min(Duration::from_millis(50));
    }
    Ok((status.expect("reaped"), pipes.into_bytes()))
}

/// The one escalation for a child that overran its deadline: TERM to its process group, KILL
/// after [`TERM_GRACE`], reaped within [`REAP_GRACE`] or left behind (see the module comment).
fn terminate(pid: Pid) {
    for (signal, grace) in [(Signal::SIGTERM, TERM_GRACE), (Signal::SIGKILL, REAP_GRACE)] {
        let _ = killpg(pid, signal);
        let grace = Deadline::after(grace);
        if grace
            .poll(Duration::from_millis(5), || reap(pid).ok().flatten())
            .is_some()
        {
            return;
        }
    }
    tracing::warn!("process {pid} did not exit after SIGKILL (uninterruptible I/O?); leaving it");
}

/// waitpid without blocking: the exit status once the child has ended.
fn reap(pid: Pid) -> nix::Result<Option<ExitStatus>> {
    loop {
        return match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::from_raw((code & 0xff) << 8))),
            Ok(WaitStatus::Signaled(_, sig, core)) => Ok(Some(ExitStatus::from_raw(
                sig as i32 | if core { 0x80 } else { 0 },
            ))),
            Ok(_) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(e),
        };
    }
}

/// A child's output pipes, read as data arrives (never blocking: poll, then one read).
struct Pipes<const N: usize> {
    fds: [Option<OwnedFd>; N],
    bytes: [Vec<u8>; N],
}

impl<const N: usize> Pipes<N> {
    fn new(fds: [Option<OwnedFd>; N]) -> Self {
        Pipes {
            fds,
            bytes: std::array::from_fn(|_| Vec::new()),
        }
    }

    fn open(&self) -> bool {
        self.fds.iter().any(Option::is_some)
    }

    /// Wait up to `timeout` for output and read what there is; true when something happened
    /// (data or a pipe closed).
    fn pump(&mut self, timeout: Duration) -> bool {
        let ready: Vec<usize> = {
            let (idx, mut polled): (Vec<usize>, Vec<PollFd>) = self
                .fds
                .iter()
                .enumerate()
                .filter_map(|(i, fd)| {
                    Some((i, PollFd::new(fd.as_ref()?.as_fd(), PollFlags::POLLIN)))
                })
                .unzip();
            let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
            match poll(&mut polled, ms) {
                Ok(n) if n > 0 => idx
                    .into_iter()
                    .zip(&polled)
                    .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect(),
                _ => return false,
            }
        };
        for i in &ready {
            let mut buf = [0u8; 8192];
            let fd = self.fds[*i].as_ref().expect("polled").as_raw_fd();
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => self.fds[*i] = None,
                Ok(n) => self.bytes[*i].extend_from_slice(&buf[..n]),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => self.fds[*i] = None,
            }
        }
        !ready.is_empty()
    }

    fn into_bytes(self) -> [Vec<u8>; N] {
        self.bytes
    }
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
    fn large_output_on_both_pipes_is_read_whole() {
        let d = Deadline::after(Duration::from_secs(10));
        // More than a pipe holds, on both pipes at once: a reader that waited for the child
        // before reading would deadlock with it.
        let script =
            "head -c 300000 /dev/zero | tr '\\0' a; head -c 200000 /dev/zero | tr '\\0' b >&2";
        let out = run("sh", &["-c", script], &d).unwrap();
        assert_eq!(out.stdout.len(), 300000);
        assert_eq!(out.stderr.len(), 200000);
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
    fn a_daemon_holding_stdout_does_not_hold_the_caller() {
        // The child exits at once; the background sleep keeps its stdout open for 100s.
        let d = Deadline::after(Duration::from_secs(5));
        let t = Instant::now();
        let out = run("sh", &["-c", "echo started; sleep 100 & exit 0"], &d).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, "started\n");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn a_child_that_ignores_term_is_killed() {
        let pidfile = std::env::temp_dir().join(format!("ferro-ignterm-{}", std::process::id()));
        let script = format!(
            "trap '' TERM; echo $$ > {}; exec sleep 30",
            pidfile.display()
        );
        let d = Deadline::after(Duration::from_millis(500));
        let t = Instant::now();
        let err = run("sh", &["-c", &script], &d).unwrap_err();
        assert!(err.to_string().contains("was killed"), "{err}");
        assert!(t.elapsed() < Duration::from_millis(500) + TERM_GRACE + REAP_GRACE * 2);
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let _ = std::fs::remove_file(&pidfile);
        // Reaped by us: gone, not even a zombie.
        assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists());
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let d = Deadline::after(Duration::from_secs(1));
        let err = run("ferro-no-such-program", &[] as &[&str], &d).unwrap_err();
        assert!(err.to_string().contains("ferro-no-such-program"));
    }

    #[test]
    fn bounded_returns_the_workers_result() {
        let d = Deadline::after(Duration::from_secs(5));
        assert_eq!(bounded("ok", &d, || Ok(())).unwrap(), Ok(()));
        assert_eq!(
            bounded("fail", &d, || Err(Errno::EIO)).unwrap(),
            Err(Errno::EIO)
        );
        let big = vec![7u8; 200_000];
        assert_eq!(
            bounded_bytes("big", &d, || Ok(big.clone())).unwrap(),
            Ok(big)
        );
        assert_eq!(
            canonicalize(Path::new("/proc/self/.."), &d)
                .unwrap()
                .unwrap(),
            Path::new("/proc")
        );
        let missing = canonicalize(Path::new("/nonexistent-ferro"), &d).unwrap();
        assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_planned_path_resolves_through_its_deepest_existing_ancestor() {
        let d = Deadline::after(Duration::from_secs(5));
        let dir = std::env::temp_dir().join(format!("ferro-planned-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
        let planned = |p: &Path| canonicalize_planned(p, &d).unwrap();
        let real = std::fs::canonicalize(dir.join("real")).unwrap();
        assert_eq!(planned(&dir.join("link/a/b")).unwrap(), real.join("a/b"));
        assert_eq!(planned(&dir.join("link")).unwrap(), real);
        // A file in the way: its "child" resolves through the file's directory, as realpath
        // of the parent would; mkdir then fails there, not here.
        std::fs::write(dir.join("real/f"), b"").unwrap();
        assert_eq!(planned(&dir.join("link/f/x")).unwrap(), real.join("f/x"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hanging_worker_does_not_hang_the_caller() {
        let d = Deadline::after(Duration::from_millis(300));
        let t = Instant::now();
        let err = bounded("hang", &d, || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        })
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("did not finish"), "{err}");
    }

    #[test]
    fn detached_returns_once_setup_is_done() {
        let d = Deadline::after(Duration::from_secs(5));
        let file = std::env::temp_dir().join(format!("ferro-detached-{}", std::process::id()));
        let t = Instant::now();
        let f = file.clone();
        let pid = detached(
            "test",
            &d,
            || std::fs::write(&f, "x").unwrap(),
            || std::thread::sleep(Duration::from_secs(30)),
        )
        .unwrap();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(file.exists());
        let _ = std::fs::remove_file(&file);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
}
