//! Finding and signalling the processes that keep a mount busy.
//!
//! A process holds a mount through its cwd, root, executable, open files and memory mappings.
//! Each is matched by *mount id*, not by path prefix or device number: a bind mount of `/` (or
//! of any directory of a filesystem other processes use) shares the device with everything on
//! that filesystem, and `fuser -m` then names every process on the system (resource-agents
//! #1304). Mount ids come from `statx(STATX_MNT_ID)` with AT_STATX_DONT_SYNC on the
//! /proc magic links (no round trip to an NFS server) and from /proc/PID/fdinfo.

use crate::ocf::Deadline;
use crate::sys::mountinfo::MountTable;
use anyhow::{bail, Result};
use nix::libc;
use std::collections::{BTreeSet, HashSet};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One process that uses the mount, and the first way it was found to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub comm: String,
    pub how: String,
}

/// Processes never signalled whatever they hold: the cluster stack (killing it means fencing
/// or a hung node) and the watchdog daemon whose death reboots the node.
const NEVER: &[&str] = &["corosync", "pcsd", "sbd"];

fn is_cluster_stack(comm: &str) -> bool {
    comm.starts_with("pacemaker") || NEVER.contains(&comm)
}

/// This process and its ancestors (the shell or execd that runs us), never signalled.
pub fn ancestors() -> HashSet<i32> {
    let mut set = HashSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 1 && set.insert(pid) {
        pid = match stat_ppid(pid) {
            Some(p) => p,
            None => break,
        };
    }
    set.insert(1);
    set
}

/// /proc/PID/stat as (comm, the fields after it, from the state on).
fn stat(pid: i32) -> Option<(String, Vec<String>)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: the fields after it follow the last ')'.
    let close = s.rfind(')')?;
    let comm = s.get(s.find('(')? + 1..close)?.to_owned();
    let rest = s.get(close + 2..)?.split(' ').map(str::to_owned).collect();
    Some((comm, rest))
}

fn stat_ppid(pid: i32) -> Option<i32> {
    stat(pid)?.1.get(1)?.parse().ok()
}

/// A process's name and start time (clock ticks after boot): with the boot, they tell a
/// restarted daemon from the one that ran before, even if it got the same pid.
pub fn identity(pid: i32) -> Option<(String, u64)> {
    let (comm, rest) = stat(pid)?;
    // starttime is field 22; `rest` starts at field 3.
    Some((comm, rest.get(19)?.parse().ok()?))
}

pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

/// The mount id of the file a /proc magic link points to, without talking to its filesystem.
fn link_mount_id(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: a valid C string and a statx buffer of the right size.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_MNT_ID,
            stx.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: statx succeeded and filled the buffer.
    let stx = unsafe { stx.assume_init() };
    (stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

fn fdinfo_mount_id(pid: i32, fd: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// How `pid` uses one of the mounts in `ids` (cwd, root, exe, an fd, a mapping), if at all.
/// `devs` are their device numbers, to skip the many mappings that cannot be on them.
fn holds(pid: i32, ids: &HashSet<u64>, devs: &HashSet<(u32, u32)>) -> Option<String> {
    let base = format!("/proc/{pid}");
    for link in ["cwd", "root", "exe"] {
        if link_mount_id(Path::new(&format!("{base}/{link}"))).is_some_and(|id| ids.contains(&id)) {
            return Some(link.to_owned());
        }
    }
    if let Ok(fds) = fs::read_dir(format!("{base}/fd")) {
        for fd in fds.flatten() {
            let name = fd.file_name();
            let name = name.to_string_lossy();
            if fdinfo_mount_id(pid, &name).is_some_and(|id| ids.contains(&id)) {
                let target = fs::read_link(fd.path()).unwrap_or_default();
                return Some(format!("fd {name} ({})", target.display()));
            }
        }
    }
    let maps = fs::read_to_string(format!("{base}/maps")).unwrap_or_default();
    for line in maps.lines() {
        // address perms offset dev inode path
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(_), Some(_), Some(dev), Some(inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if inode == "0" {
            continue;
        }
        let dev = dev.split_once(':').and_then(|(a, b)| {
            Some((
                u32::from_str_radix(a, 16).ok()?,
                u32::from_str_radix(b, 16).ok()?,
            ))
        });
        if !dev.is_some_and(|d| devs.contains(&d)) {
            continue;
        }
        // Same device; whether through this mount only map_files can tell.
        if link_mount_id(Path::new(&format!("{base}/map_files/{range}")))
            .is_some_and(|id| ids.contains(&id))
        {
            let path: String = f.collect::<Vec<_>>().join(" ");
            return Some(format!("mapping of {path}"));
        }
    }
    None
}

/// Every process (except the protected ones) that uses one of the mounts `ids`.
pub fn holders(
    ids: &HashSet<u64>,
    devs: &HashSet<(u32, u32)>,
    protected: &HashSet<i32>,
    deadline: &Deadline,
) -> Result<Vec<Holder>> {
    holders_and_spared(ids, devs, protected, deadline).map(|(users, _)| users)
}

/// [`holders`], and apart from them those of the cluster stack, which are never signalled.
pub fn holders_and_spared(
    ids: &HashSet<u64>,
    devs: &HashSet<(u32, u32)>,
    protected: &HashSet<i32>,
    deadline: &Deadline,
) -> Result<(Vec<Holder>, Vec<Holder>)> {
    let (mut found, mut spared) = (Vec::new(), Vec::new());
    for pid in all_pids()? {
        if deadline.expired() {
            // What was found is still worth signalling; the caller decides what time is left.
            tracing::warn!("the search for processes using the filesystem ran out of time");
            break;
        }
        if protected.contains(&pid) {
            continue;
        }
        let Some(how) = holds(pid, ids, devs) else {
            continue;
        };
        // Kernel threads have no user memory and cannot be signalled away.
        if stat_ppid(pid) == Some(2) || pid == 2 {
            continue;
        }
        let comm = comm(pid);
        if is_cluster_stack(&comm) {
            tracing::warn!(
                "{comm} [{pid}] uses the filesystem ({how}); not signalling the cluster stack"
            );
            spared.push(Holder { pid, comm, how });
            continue;
        }
        found.push(Holder { pid, comm, how });
    }
    Ok((found, spared))
}

/// The mount table of every other mount namespace, each read through one of its processes.
fn other_namespaces(deadline: &Deadline) -> Vec<(i32, MountTable)> {
    let own = fs::read_link("/proc/self/ns/mnt").ok();
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for pid in all_pids().into_iter().flatten() {
        if deadline.expired() {
            break;
        }
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/mnt")) else {
            continue;
        };
        if Some(&ns) == own.as_ref() || seen.contains(&ns) {
            continue;
        }
        // Marked as seen only once read: if this process exits in between, another one of
        // the same namespace later in the walk is read instead.
        if let Ok(t) = fs::read(format!("/proc/{pid}/mountinfo"))
            .map_err(anyhow::Error::from)
            .and_then(|b| MountTable::parse(&b))
        {
            seen.insert(ns);
            found.push((pid, t));
        }
    }
    found
}

/// The mount ids, in other mount namespaces, of the copies of a mount that an unmount here
/// propagates to (its peers `shared:N` and slaves `master:N`, transitively, with what is
/// mounted below them). The kernel refuses the unmount while any of those is busy, so their
/// users hold ours too, although no process in this namespace does (resource-agents #1426:
/// a VM in its own mount namespace; fuser -m only catches it through the device number).
pub fn propagated_copies(group: u64, dev: (u32, u32), deadline: &Deadline) -> HashSet<u64> {
    let tables = other_namespaces(deadline);
    let mut groups = HashSet::from([group]);
    let mut ids = HashSet::new();
    loop {
        let before = (groups.len(), ids.len());
        for (_, t) in &tables {
            for m in &t.mounts {
                let fed = m.shared.is_some_and(|g| groups.contains(&g))
                    || m.master.is_some_and(|g| groups.contains(&g));
                if fed && (m.major, m.minor) == dev {
                    ids.extend(t.with_descendants(m.id));
                    groups.extend(m.shared);
                }
            }
        }
        if (groups.len(), ids.len()) == before {
            return ids;
        }
    }
}

/// The other mount namespaces (each by one of its processes) where the filesystem of device
/// `dev` is still mounted, with their mount tables.
pub fn namespaces_with(dev: (u32, u32), deadline: &Deadline) -> Vec<(i32, MountTable)> {
    other_namespaces(deadline)
        .into_iter()
        .filter(|(_, t)| t.mounts.iter().any(|m| (m.major, m.minor) == dev))
        .collect()
}

/// A signal given by name (TERM, SIGTERM, kill) or number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig(pub i32);

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match nix::sys::signal::Signal::try_from(self.0) {
            Ok(s) => f.write_str(s.as_str()),
            Err(_) => write!(f, "signal {}", self.0),
        }
    }
}

/// Parse a whitespace-separated signal list; None names the bad word.
pub fn parse_signals(list: &str) -> std::result::Result<Vec<Sig>, String> {
    let sigs: Vec<Sig> = list
        .split_whitespace()
        .map(|w| {
            if let Ok(n) = w.parse::<i32>() {
                return (1..=64)
                    .contains(&n)
                    .then_some(Sig(n))
                    .ok_or_else(|| w.to_owned());
            }
            let up = w.to_ascii_uppercase();
            let name = if up.starts_with("SIG") {
                up
            } else {
                format!("SIG{up}")
            };
            name.parse::<nix::sys::signal::Signal>()
                .map(|s| Sig(s as i32))
                .map_err(|_| w.to_owned())
        })
        .collect::<std::result::Result<_, _>>()?;
    if sigs.is_empty() {
        return Err(String::new());
    }
    Ok(sigs)
}

/// Send `sig` to `pid`; a process that is already gone is fine.
pub fn signal(pid: i32, sig: Sig) -> Result<()> {
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(pid, sig.0) } != 0 {
        let e = nix::errno::Errno::last();
        if e != nix::errno::Errno::ESRCH {
            bail!("kill -{} {pid}: {e}", sig.0);
        }
    }
    Ok(())
}

/// For logs: "sleep [1234] (cwd), …".
pub fn describe(holders: &[Holder]) -> String {
    let set: BTreeSet<String> = holders
        .iter()
        .map(|h| format!("{} [{}] ({})", h.comm, h.pid, h.how))
        .collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

/// The pids of live processes whose command name (/proc/PID/comm) is `comm`; a zombie has
/// ended already, only its parent has not reaped it yet.
pub fn pids_by_comm(comm: &str) -> Vec<i32> {
    let zombie =
        |pid: i32| stat(pid).map_or(true, |(_, rest)| rest.first().is_some_and(|s| s == "Z"));
    all_pids()
        .into_iter()
        .flatten()
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
                && !zombie(pid)
        })
        .collect()
}

/// Terminate every process named `comm` (daemons that are not our children): TERM, then KILL,
/// each given `grace` (bounded by `d`) to take effect. Returns the pids that survived.
pub fn terminate_by_comm(comm: &str, grace: std::time::Duration, d: &Deadline) -> Result<Vec<i32>> {
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        let pids = pids_by_comm(comm);
        if pids.is_empty() {
            return Ok(pids);
        }
        for pid in pids {
            signal(pid, Sig(sig))?;
        }
        let gone = d
            .within(grace)
            .poll(std::time::Duration::from_millis(100), || {
                pids_by_comm(comm).is_empty().then_some(())
            });
        if gone.is_some() {
            return Ok(Vec::new());
        }
    }
    Ok(pids_by_comm(comm))
}

/// Every process's pid, read lazily from /proc.
pub fn all_pids() -> std::io::Result<impl Iterator<Item = i32>> {
    Ok(fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_of_this_process() {
        let (comm, start) = identity(std::process::id() as i32).unwrap();
        assert_eq!(comm, super::comm(std::process::id() as i32));
        assert!(start > 0);
        assert_eq!(
            stat_ppid(std::process::id() as i32),
            Some(nix::unistd::getppid().as_raw())
        );
        assert_eq!(identity(-1), None);
    }

    #[test]
    fn signal_lists_by_name_and_number() {
        assert_eq!(parse_signals("TERM").unwrap(), [Sig(15)]);
        assert_eq!(
            parse_signals(" sigterm  HUP 9 ").unwrap(),
            [Sig(15), Sig(1), Sig(9)]
        );
        assert_eq!(parse_signals("TERM BOGUS").unwrap_err(), "BOGUS");
        assert!(parse_signals("99").is_err());
        assert!(parse_signals("  ").is_err());
        assert_eq!(Sig(9).to_string(), "SIGKILL");
    }

    #[test]
    fn ancestors_include_self_and_init() {
        let a = ancestors();
        assert!(a.contains(&(std::process::id() as i32)) && a.contains(&1));
    }

    #[test]
    fn cluster_stack_is_recognised() {
        for c in ["pacemakerd", "pacemaker-execd", "corosync", "pcsd", "sbd"] {
            assert!(is_cluster_stack(c), "{c}");
        }
        assert!(!is_cluster_stack("postgres"));
    }

    #[test]
    fn finds_own_cwd_by_mount_id() {
        let cwd_id = link_mount_id(Path::new("/proc/self/cwd")).expect("statx mnt_id");
        let ids = HashSet::from([cwd_id]);
        let me = std::process::id() as i32;
        assert_eq!(holds(me, &ids, &HashSet::new()).as_deref(), Some("cwd"));
        assert_eq!(holds(me, &HashSet::from([u64::MAX]), &HashSet::new()), None);
    }

    #[test]
    fn finds_processes_by_command_name() {
        let me = std::process::id() as i32;
        let comm = fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert!(pids_by_comm(comm.trim_end()).contains(&me));
        assert!(pids_by_comm("ferro-no-such-comm").is_empty());
    }

    #[test]
    fn terminate_by_comm_ends_a_process_that_ignores_term() {
        use std::process::Command;
        // A shell that ignores TERM, under a name of its own (exec -a sets argv0, comm follows
        // the executable: copy sleep under a unique name instead).
        let dir = std::env::temp_dir().join(format!("ferro-tbc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let name = "ferro-tbc-t";
        let exe = dir.join(name);
        fs::copy("/bin/sleep", &exe).unwrap();
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; exec \"$0\" 100"])
            .arg(&exe)
            .spawn()
            .unwrap();
        let d = Deadline::for_timeout(Some(std::time::Duration::from_secs(10)));
        assert!(d
            .poll(std::time::Duration::from_millis(20), || {
                (!pids_by_comm(name).is_empty()).then_some(())
            })
            .is_some());
        let left = terminate_by_comm(name, std::time::Duration::from_millis(500), &d).unwrap();
        let _ = child.wait();
        fs::remove_dir_all(&dir).unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
