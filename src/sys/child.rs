//! I/O that can hang forever, bounded by a deadline.
//!
//! A read from a dead disk or a hard NFS mount sleeps uninterruptibly in the kernel. In a
//! thread of the agent it would keep the agent process from exiting (the kernel cannot reap a
//! process while one of its threads is stuck), so Pacemaker would hit its timeout instead of
//! getting our answer. In a forked child it can only strand the child: the agent reports the
//! failure in time, kills the child and leaves it to init.

use crate::ocf::Deadline;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::time::Duration;

/// Run `f` in a forked child and return what it returned, or an error when it did not finish
/// within `deadline` (the child is then killed and not waited for).
///
/// `f` runs in a copy of this single-threaded process; it must only do system calls and
/// report through its result (an errno), not through memory.
pub fn bounded(
    what: &str,
    deadline: &Deadline,
    f: impl FnOnce() -> Result<(), Errno>,
) -> Result<Result<(), Errno>> {
    if deadline.expired() {
        bail!("no time left to {what}");
    }
    // SAFETY: the agent is single-threaded when it forks (commands' reader threads are joined
    // before run returns), and the child only performs system calls and then _exits.
    match unsafe { fork() }.with_context(|| format!("cannot fork to {what}"))? {
        ForkResult::Child => {
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => (e as i32).clamp(1, 254),
                Err(_) => 255,
            };
            // SAFETY: _exit skips atexit handlers and stdio flushing of the parent's copies.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            let mut step = Duration::from_micros(200);
            loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, 0)) => return Ok(Ok(())),
                    Ok(WaitStatus::Exited(_, 255)) => bail!("{what}: the worker process failed"),
                    Ok(WaitStatus::Exited(_, code)) => return Ok(Err(Errno::from_raw(code))),
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        bail!("{what}: the worker process was killed by {sig}")
                    }
                    Ok(_) => {}
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e).with_context(|| format!("waiting to {what}")),
                }
                if deadline.expired() {
                    // Stuck in the kernel (D state): SIGKILL takes effect when the I/O returns.
                    let _ = kill(child, Signal::SIGKILL);
                    bail!(
                        "{what} did not complete within {:.1}s (hung I/O?)",
                        deadline.elapsed().as_secs_f64()
                    );
                }
                deadline.sleep(step);
                step = (step * 2).min(Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn returns_the_childs_result() {
        let d = Deadline::after(Duration::from_secs(5));
        assert_eq!(bounded("ok", &d, || Ok(())).unwrap(), Ok(()));
        assert_eq!(
            bounded("fail", &d, || Err(Errno::EIO)).unwrap(),
            Err(Errno::EIO)
        );
    }

    #[test]
    fn a_hanging_child_does_not_hang_the_caller() {
        let d = Deadline::after(Duration::from_millis(300));
        let t = Instant::now();
        let err = bounded("hang", &d, || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        })
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("did not complete"), "{err}");
    }
}
