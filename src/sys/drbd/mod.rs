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
use std::path::{Path, PathBuf};

pub const PROC_DRBD: &str = "/proc/drbd";
/// A file read in place of /proc/drbd, for tests of the agent on a host without DRBD: a
/// captured /proc/drbd stands for the module (loaded, its version, the state of every minor);
/// everything else (drbd.conf, drbdadm, the promotion score) is the real thing.
pub const PROC_DRBD_ENV: &str = "FERRO_PROC_DRBD";
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

fn seam() -> Option<PathBuf> {
    std::env::var_os(PROC_DRBD_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// /proc/drbd, or the file the test seam names instead.
pub fn proc_drbd() -> PathBuf {
    seam().unwrap_or_else(|| PathBuf::from(PROC_DRBD))
}

/// Whether the module is loaded (it creates /proc/drbd).
pub fn module_loaded() -> bool {
    proc_drbd().exists()
}

/// The version of the loaded module (sysfs, then /proc/drbd), else of the module modprobe
/// would load (`modinfo`, as the reference does: a probe or stop must not load it). None when
/// there is no DRBD module at all.
pub fn module_version(deadline: &Deadline) -> Result<Option<Version>> {
    // A captured /proc/drbd in place of the module is the module's only source of truth.
    let sys = seam().is_none().then_some(SYS_VERSION);
    if let Some(v) = sys
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| Version::parse_lenient(&s))
    {
        return Ok(Some(v));
    }
    if let Some(v) = std::fs::read_to_string(proc_drbd())
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

/// The files drbdadm looks for when not given `-c`, first found first (drbdadm_main.c).
const DEFAULT_CONFS: &[&str] = &[
    "/etc/drbd-90.conf",
    "/etc/drbd-84.conf",
    "/etc/drbd-83.conf",
    "/etc/drbd-82.conf",
    "/etc/drbd-08.conf",
    "/etc/drbd.conf",
];

/// A string that changes when the DRBD configuration may have: inode, size, modification and
/// change times of the configuration file, of each file its `include` lines name (drbd.d/*.res)
/// and of their directories (a file added or removed). Includes of included files are not
/// followed: what depends on this is also re-read after a bounded number of uses.
pub fn config_fingerprint(conf: Option<&str>) -> String {
    use std::os::unix::fs::MetadataExt;
    let stat = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => format!(
            "{}:{}:{}.{}:{}.{}",
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ),
        Err(_) => "-".to_owned(),
    };
    let candidates: Vec<&str> = match conf {
        Some(c) => vec![c],
        None => DEFAULT_CONFS.to_vec(),
    };
    let mut files: Vec<PathBuf> = candidates.iter().map(PathBuf::from).collect();
    if let Some(main) = files.iter().find(|p| p.is_file()).cloned() {
        let text = std::fs::read_to_string(&main).unwrap_or_default();
        let base = main.parent().unwrap_or(Path::new("/"));
        for pattern in include_patterns(&text) {
            let pattern = base.join(pattern);
            let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            files.push(dir.to_path_buf());
            if let Ok(entries) = std::fs::read_dir(dir) {
                let mut matched: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect();
                matched.sort();
                files.extend(matched);
            }
        }
    }
    files
        .iter()
        .map(|p| format!("{}={}", p.display(), stat(p)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The patterns of `include "drbd.d/*.res";` lines.
fn include_patterns(conf: &str) -> Vec<&str> {
    conf.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let rest = l.strip_prefix("include")?.trim_start();
            let rest = rest.strip_suffix(';')?.trim_end();
            Some(rest.trim_matches('"')).filter(|p| !p.is_empty())
        })
        .collect()
}

/// Shell wildcards `*` and `?` (no brackets), as drbdadm's glob(3) sees them in a file name.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Where to resume after the last `*`: (pattern index, name index).
    let (mut pi, mut ni, mut star) = (0, 0, None::<(usize, usize)>);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    // glob(3) leaves hidden files to patterns that start with a dot.
    (pattern.starts_with('.') || !name.starts_with('.')) && p[pi..].iter().all(|c| *c == '*')
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

    /// For a resource whose minors were found before: whether it is stacked (`-S`).
    pub fn with_stacked(mut self, stacked: bool) -> Drbdadm {
        self.stacked = stacked;
        self
    }

    pub fn stacked(&self) -> bool {
        self.stacked
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
    let path = proc_drbd();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
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

    #[test]
    fn includes_and_wildcards() {
        let conf = "# comment\ninclude \"drbd.d/global_common.conf\";\n  include \"drbd.d/*.res\";\n#include \"x\";\nresource r0 {}\n";
        assert_eq!(
            include_patterns(conf),
            ["drbd.d/global_common.conf", "drbd.d/*.res"]
        );
        assert!(wildcard_match("*.res", "r0.res"));
        assert!(!wildcard_match("*.res", ".res"));
        assert!(!wildcard_match("*.res", "r0.res~"));
        assert!(wildcard_match("r?.res", "r1.res") && !wildcard_match("r?.res", "r10.res"));
        assert!(wildcard_match("global_common.conf", "global_common.conf"));
        assert!(wildcard_match("*a*b", "xaxxb") && !wildcard_match("*a*b", "xaxxbc"));
    }

    /// A change to an included resource file, or a new one, changes the fingerprint.
    #[test]
    fn fingerprint_sees_included_files() {
        let d = std::env::temp_dir().join(format!("fdrbd-fp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("drbd.d")).unwrap();
        let conf = d.join("drbd.conf");
        std::fs::write(&conf, "include \"drbd.d/*.res\";\n").unwrap();
        std::fs::write(d.join("drbd.d/r0.res"), "resource r0 {}\n").unwrap();
        let c = conf.to_str().unwrap();
        let fp = config_fingerprint(Some(c));
        assert!(fp.contains("r0.res="), "{fp}");
        assert_eq!(config_fingerprint(Some(c)), fp);
        std::fs::write(d.join("drbd.d/r0.res"), "resource r0 { }\n").unwrap();
        let fp2 = config_fingerprint(Some(c));
        assert_ne!(fp2, fp);
        std::fs::write(d.join("drbd.d/r1.res"), "resource r1 {}\n").unwrap();
        let fp3 = config_fingerprint(Some(c));
        assert_ne!(fp3, fp2);
        assert!(fp3.contains("r1.res="), "{fp3}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// `drbdadm sh-ll-dev` (drbd-utils 9.22) of a one-volume resource and of a two-volume
    /// resource whose second volume has `disk none`.
    #[test]
    fn backing_disks_from_drbdadm() {
        assert_eq!(parse_ll_devs("/dev/loop7\n"), [true]);
        assert_eq!(parse_ll_devs("/dev/loop8\nnone\n"), [true, false]);
    }
}
