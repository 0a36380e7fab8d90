//! DRBD as the kernel reports it: module version, and the state of one resource.
//!
//! State is read with the least work the kernel allows: DRBD 8.4 lists every minor in
//! /proc/drbd (no process at all); DRBD 9 moved that to netlink, read with one
//! `drbdsetup events2 --now <res>`. Every program runs under the action's deadline: drbdsetup
//! can block on a frozen resource (LINBIT/drbd#51) and must not take the agent with it.

mod events2;
mod proc84;
mod state;

pub use events2::parse as parse_events2;
pub use proc84::parse as parse_proc_drbd;
pub use state::{Device, Peer, PeerDisk, ResourceState, Role, Summary};

use crate::ocf::Deadline;
use crate::sys::command;
use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::Path;

pub const PROC_DRBD: &str = "/proc/drbd";
const SYS_VERSION: &str = "/sys/module/drbd/version";

/// A DRBD version x.y.z, ordered like the reference's version codes (x<<16 | y<<8 | z).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// "8.4.11", "9.2.8-1", "version: 8.4.11 (api:1/proto:86-101)" -> the leading x.y.z.
    pub fn parse_lenient(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix("version:").unwrap_or(s).trim_start();
        let mut it = s.split(|c: char| !c.is_ascii_digit());
        let mut n = || it.next()?.parse::<u32>().ok();
        let v = Version(n()?, n()?, n()?);
        // The three numbers must be dot-separated: "8.4.11", not "8 4 11".
        s.starts_with(&format!("{}.{}.{}", v.0, v.1, v.2))
            .then_some(v)
    }

    /// Exactly "x.y.z", as the require_drbd_module_version_* parameters are written.
    pub fn parse_strict(s: &str) -> Option<Version> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(Version(
            parts[0].parse().ok()?,
            parts[1].parse().ok()?,
            parts[2].parse().ok()?,
        ))
    }

    pub fn is_v9(self) -> bool {
        self.0 >= 9
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Whether the module is loaded (it creates /proc/drbd).
pub fn module_loaded() -> bool {
    Path::new(PROC_DRBD).exists()
}

/// The version of the loaded module (sysfs, then /proc/drbd), else of the module modprobe
/// would load (`modinfo`, as the reference does: a probe or stop must not load it). None when
/// there is no DRBD module at all.
pub fn module_version(deadline: &Deadline) -> Result<Option<Version>> {
    if let Some(v) = std::fs::read_to_string(SYS_VERSION)
        .ok()
        .and_then(|s| Version::parse_lenient(&s))
    {
        return Ok(Some(v));
    }
    if let Some(v) = std::fs::read_to_string(PROC_DRBD)
        .ok()
        .and_then(|s| s.lines().next().and_then(Version::parse_lenient))
    {
        return Ok(Some(v));
    }
    match command::run("modinfo", &["-F", "version", "drbd"], deadline) {
        Ok(out) if out.success() => Ok(out.stdout.lines().next().and_then(Version::parse_lenient)),
        Ok(_) => Ok(None),
        // No modinfo (no kmod package): no way to load a module either.
        Err(e) if !deadline.expired() => {
            tracing::debug!("modinfo: {e:#}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// drbdadm for one configuration file, remembering whether the resource is stacked.
#[derive(Clone, Debug)]
pub struct Drbdadm {
    conf: Option<String>,
    stacked: bool,
}

impl Drbdadm {
    pub fn new(conf: Option<&str>) -> Drbdadm {
        Drbdadm {
            conf: conf.map(str::to_owned),
            stacked: false,
        }
    }

    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = &self.conf {
            v.extend(["-c".to_owned(), c.clone()]);
        }
        if self.stacked {
            v.push("-S".to_owned());
        }
        v.extend(args.iter().map(|s| (*s).to_owned()));
        v
    }

    pub fn display(&self, args: &[&str]) -> String {
        command::display_argv("drbdadm", &self.argv(args))
    }

    /// Run drbdadm; the outcome is the caller's to judge (exit codes carry meaning).
    pub fn run(&self, args: &[&str], deadline: &Deadline) -> Result<command::Output> {
        self.run_env(args, &[], deadline)
    }

    /// Run drbdadm with extra environment (the handlers it calls read their options there).
    pub fn run_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        deadline: &Deadline,
    ) -> Result<command::Output> {
        let argv = self.argv(args);
        let shown = command::display_argv("drbdadm", &argv);
        tracing::debug!("calling {shown}");
        let mut cmd = command::command("drbdadm", &argv);
        cmd.envs(env.iter().copied());
        let out = command::run_cmd(cmd, &shown, deadline)?;
        if !out.success() {
            tracing::debug!("{shown} -> {}: {}", out.describe(), out.last_line());
        }
        Ok(out)
    }

    pub fn run_ok(&self, args: &[&str], deadline: &Deadline) -> Result<command::Output> {
        let out = self.run(args, deadline)?;
        if !out.success() {
            bail!(
                "{} failed ({}): {}",
                self.display(args),
                out.describe(),
                out.last_line()
            );
        }
        Ok(out)
    }

    /// Whether the configuration gives each volume of `res` (in sh-minor order) a backing
    /// disk; "none" is a diskless client. None when drbdadm cannot tell.
    pub fn has_disks(&self, res: &str, deadline: &Deadline) -> Option<Vec<bool>> {
        match self.run(&["sh-ll-dev", res], deadline) {
            Ok(out) if out.success() => Some(parse_ll_devs(&out.stdout)),
            Ok(out) => {
                tracing::debug!("drbdadm sh-ll-dev {res}: {}", out.last_line());
                None
            }
            Err(e) => {
                tracing::debug!("drbdadm sh-ll-dev {res}: {e:#}");
                None
            }
        }
    }

    /// The minor numbers of `res` from the configuration (not the kernel): None when the
    /// configuration does not define the resource. A stacked resource is found with -S, which
    /// is then kept for every later call.
    pub fn minors(&mut self, res: &str, deadline: &Deadline) -> Result<Option<Vec<u32>>> {
        for stacked in [false, true] {
            self.stacked = stacked;
            let out = self.run(&["sh-minor", res], deadline)?;
            if out.success() {
                let minors = parse_minors(&out.stdout).with_context(|| {
                    format!("unexpected output of {}", self.display(&["sh-minor", res]))
                })?;
                if !minors.is_empty() {
                    return Ok(Some(minors));
                }
            }
        }
        self.stacked = false;
        Ok(None)
    }
}

/// `drbdadm sh-ll-dev`: one backing device per volume, "none" for a volume without one.
fn parse_ll_devs(s: &str) -> Vec<bool> {
    s.split_whitespace().map(|w| w != "none").collect()
}

fn parse_minors(s: &str) -> Result<Vec<u32>> {
    s.split_whitespace()
        .map(|w| {
            w.parse::<u32>()
                .with_context(|| format!("{w:?} is not a minor number"))
        })
        .collect()
}

/// The kernel's state of `res`, whose minors the configuration lists.
pub fn resource_state(
    version: Version,
    res: &str,
    minors: &[u32],
    deadline: &Deadline,
) -> Result<ResourceState> {
    if !module_loaded() {
        return Ok(ResourceState::default());
    }
    if version.is_v9() {
        events2_state(res, deadline)
    } else {
        proc_drbd_state(minors)
    }
}

/// `drbdsetup events2 --now <res>`: DRBD 9 (drbd-utils' drbdsetup also answers it for 8.4).
pub fn events2_state(res: &str, deadline: &Deadline) -> Result<ResourceState> {
    let out = command::run_ok("drbdsetup", &["events2", "--now", res], deadline)
        .with_context(|| format!("cannot read the state of DRBD resource {res}"))?;
    Ok(events2::parse(&out.stdout, res))
}

/// The state of these minors in /proc/drbd (DRBD 8.4): no netlink, which a handler called
/// back from the kernel during a state change must not recurse into on 8.4.
pub fn proc_drbd_state(minors: &[u32]) -> Result<ResourceState> {
    let text =
        std::fs::read_to_string(PROC_DRBD).with_context(|| format!("reading {PROC_DRBD}"))?;
    Ok(proc84::parse(&text, minors))
}

/// The block devices the kernel names after the minors (udev creates /dev/drbdN; the
/// configuration's own name is a symlink to it).
pub fn device_nodes_exist(minors: &[u32]) -> bool {
    use std::os::unix::fs::FileTypeExt;
    minors.iter().all(|m| {
        std::fs::metadata(format!("/dev/drbd{m}"))
            .map(|md| md.file_type().is_block_device())
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse_lenient("8.4.11\n"), Some(Version(8, 4, 11)));
        assert_eq!(
            Version::parse_lenient("version: 8.4.11 (api:1/proto:86-101)"),
            Some(Version(8, 4, 11))
        );
        assert_eq!(Version::parse_lenient("9.2.8-1"), Some(Version(9, 2, 8)));
        assert_eq!(Version::parse_lenient("srcversion: 983FCB77"), None);
        assert_eq!(Version::parse_lenient("8 4 11"), None);
        assert_eq!(Version::parse_strict("9.0.16"), Some(Version(9, 0, 16)));
        for bad in ["9.0", "9.0.16.1", "9.x.1", "", "v9.0.0", "9.0.0-1"] {
            assert_eq!(Version::parse_strict(bad), None, "{bad}");
        }
        assert!(Version(8, 4, 11) < Version(10, 0, 0) && Version(8, 4, 11) >= Version(8, 0, 0));
        assert!(!Version(8, 4, 11).is_v9() && Version(9, 0, 0).is_v9());
    }

    #[test]
    fn minors_from_drbdadm() {
        assert_eq!(parse_minors("0\n").unwrap(), [0]);
        assert_eq!(parse_minors("3\n4\n").unwrap(), [3, 4]);
        assert!(parse_minors("/dev/drbd0").is_err());
    }

    /// A stacked resource keeps -S for every call, the unfence hook's included.
    #[test]
    fn stacked_is_kept() {
        let adm = Drbdadm {
            conf: Some("/etc/drbd.conf".to_owned()),
            stacked: true,
        };
        assert_eq!(
            adm.display(&["unfence-peer", "r0"]),
            "drbdadm -c /etc/drbd.conf -S unfence-peer r0"
        );
    }

    /// `drbdadm sh-ll-dev` (drbd-utils 9.22) of a one-volume resource and of a two-volume
    /// resource whose second volume has `disk none`.
    #[test]
    fn backing_disks_from_drbdadm() {
        assert_eq!(parse_ll_devs("/dev/loop7\n"), [true]);
        assert_eq!(parse_ll_devs("/dev/loop8\nnone\n"), [true, false]);
    }
}
