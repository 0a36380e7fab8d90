//! Work that outlives the process that started it, tracked by a pid file so that a later
//! process can end it.

use anyhow::Result;
use std::path::Path;

/// Run `f` in a detached process (see [`super::command::detached`]) so that the caller returns
/// at once. The process writes its pid to `pidfile` before this returns, and removes the file
/// when done (unless another has taken it over).
pub fn spawn(
    pidfile: &Path,
    what: &str,
    d: &crate::ocf::Deadline,
    f: impl FnOnce(),
) -> Result<i32> {
    let pid = || std::process::id().to_string();
    let setup = || {
        if let Some(dir) = pidfile.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(pidfile, format!("{}\n", pid()));
    };
    let child = super::command::detached(what, d, setup, || {
        f();
        if std::fs::read_to_string(pidfile).is_ok_and(|s| s.trim() == pid()) {
            let _ = std::fs::remove_file(pidfile);
        }
    })?;
    Ok(child.as_raw())
}

/// End the process `pidfile` names with SIGTERM, and remove the file. Only a process running
/// this very binary is signalled: the pid may have been reused since. None: nothing to end.
pub fn end(pidfile: &Path) -> Option<std::result::Result<i32, (i32, nix::Error)>> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let _ = std::fs::remove_file(pidfile);
    let pid = text.trim().parse::<i32>().ok().filter(|p| *p > 1)?;
    let exe = |p: &str| std::fs::read_link(format!("/proc/{p}/exe")).ok();
    let ours = exe(&pid.to_string()).is_some() && exe(&pid.to_string()) == exe("self");
    if !ours {
        return None;
    }
    Some(
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map(|()| pid)
        .map_err(|e| (pid, e)),
    )
}
