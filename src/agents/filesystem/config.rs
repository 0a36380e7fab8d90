//! Filesystem's parameters → [`Config`]: the one place they are checked. device and directory
//! name the resource and are judged in every action; the others as the action reads them
//! ([`crate::ocf::Params::parse`]).

use crate::ocf::env::{is_false, is_true};
use crate::ocf::{Ctx, Deadline};
use crate::sys::blockdev::Device;
use crate::sys::command;
use crate::sys::mount::Options;
use crate::sys::mountinfo::has_option;
use crate::sys::procs::{self, Sig};
use crate::{ocf_bail, ocf_err};
use anyhow::Result;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Filesystem types that are not on a local block device (the reference's list).
pub(super) const NOT_BLOCK: &[&str] = &[
    "nfs4",
    "nfs",
    "aznfs",
    "efs",
    "smbfs",
    "cifs",
    "none",
    "glusterfs",
    "ceph",
    "tmpfs",
    "overlay",
    "overlayfs",
    "rozofs",
    "zfs",
    "cvfs",
    "lustre",
];
/// Network filesystems: the kill phase of stop unmounts with MNT_FORCE.
pub(super) const NETWORK: &[&str] = &["nfs4", "nfs", "aznfs", "efs", "cifs", "smbfs"];
/// run_fsck=auto skips these journalling and cluster filesystems, and those not on a local
/// block device.
const NO_FSCK: &[&str] = &[
    "ext4", "ext4dev", "ext3", "reiserfs", "reiser4", "nss", "xfs", "jfs", "vfat", "fat", "ocfs2",
    "gfs2",
];

/// Whether run_fsck=auto skips `fstype` (the reference's list).
pub(super) fn fsck_skipped(fstype: &str) -> bool {
    NO_FSCK.contains(&fstype) || NOT_BLOCK.contains(&fstype)
}

/// Safe to mount on several nodes at once (the reference's list): the cluster filesystems, and
/// those not on a local block device but rozofs and zfs.
pub(super) fn cluster_safe(fstype: &str) -> bool {
    matches!(fstype, "gfs2" | "ocfs2")
        || (NOT_BLOCK.contains(&fstype) && !matches!(fstype, "rozofs" | "zfs"))
}

/// Destroyed by mounting on two nodes, even read-only (journal replay).
pub(super) const NEVER_CLONED: &[&str] = &[
    "ext4", "ext4dev", "ext3", "reiserfs", "reiser4", "xfs", "jfs",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fsck {
    Auto,
    Force,
    No,
}

/// The parameters, checked once. Every error names the parameter.
pub(super) struct Config {
    pub(super) device_param: String,
    pub(super) device: Device,
    /// Absolute, without trailing slashes, `.` or empty components.
    pub(super) directory: PathBuf,
    pub(super) fstype: String,
    pub(super) options: String,
    pub(super) opts: Options,
    /// A local block device, as the reference decides it (not for bind, network, tags, loop).
    pub(super) blockdevice: bool,
    pub(super) run_fsck: Fsck,
    pub(super) fast_stop: bool,
    pub(super) force_clones: bool,
    pub(super) kill: bool,
    pub(super) term_signals: Vec<Sig>,
    pub(super) kill_signals: Vec<Sig>,
    pub(super) signal_delay: Duration,
    pub(super) status_file: PathBuf,
}

impl Config {
    pub(super) fn from(ctx: &Ctx) -> Result<Config> {
        let p = &ctx.params;
        let device_param = p.str("device").to_owned();
        if device_param.trim() != device_param {
            ocf_bail!(
                ErrConfigured,
                "parameter device: {device_param:?} has leading or trailing whitespace"
            );
        }
        let device = Device::parse(&device_param);
        if matches!(&device, Device::Other(s) if s.starts_with('-')) {
            ocf_bail!(
                ErrConfigured,
                "parameter device: {device_param:?} is an option, not a device"
            );
        }
        let directory = normalize_directory(p.str("directory"))?;

        let fstype = p.parse("fstype", parse_fstype)?;
        let (options, opts) = p.parse("options", parse_options)?;

        // FUSE filesystems (fuse.sshfs, …) have no block device either; fuseblk (ntfs-3g) has.
        let blockdevice = !NOT_BLOCK.contains(&fstype.as_str())
            && fstype != "fuse"
            && !fstype.starts_with("fuse.")
            && !has_option(&options, "loop")
            && !opts.bind
            && match &device {
                Device::Path(p) => !p.is_dir(),
                Device::Tag(..) => false,
                Device::Other(_) => true,
            };

        let run_fsck = match p.str("run_fsck").trim() {
            "" | "auto" => Fsck::Auto,
            "force" => Fsck::Force,
            "no" => Fsck::No,
            other => {
                tracing::warn!("Invalid parameter value for fsck: '{other}'; setting to 'auto'");
                Fsck::Auto
            }
        };
        let kill = p.parse("force_unmount", |v| {
            let v = v.trim();
            if is_true(v) || v == "safe" {
                Ok(true)
            } else if is_false(v) {
                Ok(false)
            } else {
                ocf_bail!(
                    ErrConfigured,
                    "parameter force_unmount: {v:?} is not one of true, safe, false"
                )
            }
        })?;
        let signals = |name: &str| -> Result<Vec<Sig>> {
            p.parse(name, |v| {
                procs::parse_signals(v).map_err(|w| {
                    ocf_err!(
                        ErrConfigured,
                        "parameter {name}: {w:?} is not a signal name or number"
                    )
                })
            })
        };
        let term_signals = signals("term_signals")?;
        let kill_signals = signals("kill_signals")?;
        let signal_delay = match p.num::<u64>("signal_delay") {
            Ok(d) => Duration::from_secs(d.unwrap_or(1)),
            Err(_) => ocf_bail!(
                ErrConfigured,
                "parameter signal_delay: {:?} is not a number of seconds",
                p.str("signal_delay")
            ),
        };

        // ${directory}/${statusfile_prefix}${instance}[_${clone}]_${uname -n}, as the reference.
        let prefix = p.opt("statusfile_prefix").unwrap_or(".Filesystem_status/");
        let mut suffix = ctx.env.instance().to_owned();
        if let Some(c) = ctx.env.meta("clone") {
            suffix = format!("{suffix}_{c}");
        }
        let uname = nix::sys::utsname::uname()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut sf = directory.as_os_str().to_owned();
        sf.push(format!("/{prefix}{suffix}_{uname}"));

        Ok(Config {
            device_param,
            device,
            directory,
            fstype,
            options,
            opts,
            blockdevice,
            run_fsck,
            fast_stop: p.bool("fast_stop")?,
            force_clones: p.bool("force_clones")?,
            kill,
            term_signals,
            kill_signals,
            signal_delay,
            status_file: PathBuf::from(sf),
        })
    }
}

/// A filesystem type as mount(2) takes it (empty only where the parameter is unset, which
/// start refuses as a missing required parameter).
pub(super) fn parse_fstype(v: &str) -> Result<String> {
    let fstype = v.trim();
    if fstype.contains(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '/' | ',')) {
        ocf_bail!(
            ErrConfigured,
            "parameter fstype: {fstype:?} is not a filesystem type"
        );
    }
    Ok(fstype.to_owned())
}

/// The mount options: one comma-separated word that mounts the device.
pub(super) fn parse_options(v: &str) -> Result<(String, Options)> {
    let options = v.trim();
    // mount -o takes one comma-separated word: a space would smuggle a second device or
    // mount point into the reference's unquoted `mount $options`.
    if options.contains(|c: char| c.is_whitespace() || c.is_control()) {
        ocf_bail!(
            ErrConfigured,
            "parameter options: {options:?} must be one comma-separated list without spaces"
        );
    }
    if options.starts_with('-') {
        ocf_bail!(
            ErrConfigured,
            "parameter options: {options:?} must not start with '-'"
        );
    }
    for o in ["remount", "move", "rmove"] {
        if has_option(options, o) {
            ocf_bail!(
                ErrConfigured,
                "parameter options: {o:?} does not mount the device"
            );
        }
    }
    Ok((options.to_owned(), Options::parse(options)))
}

/// An absolute path in the form mountinfo prints mount points (no `//`, `/./`, trailing `/`).
pub(super) fn normalize_directory(d: &str) -> Result<PathBuf> {
    if d.trim() != d {
        ocf_bail!(
            ErrConfigured,
            "parameter directory: {d:?} has leading or trailing whitespace"
        );
    }
    if !d.starts_with('/') {
        ocf_bail!(
            ErrConfigured,
            "parameter directory: {d:?} is not an absolute path"
        );
    }
    if d.contains(['\n', '\0']) {
        ocf_bail!(
            ErrConfigured,
            "parameter directory: {d:?} contains a newline"
        );
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(d).components() {
        match c {
            Component::Normal(n) => out.push(n),
            // `/srv/..` passed the check for / and stop then unmounted below / (killing its
            // users); a mount point has one plain name.
            Component::ParentDir => ocf_bail!(
                ErrConfigured,
                "parameter directory: {d:?} contains '..'; give the mount point's plain path"
            ),
            _ => {}
        }
    }
    Ok(out)
}

/// For stop of a configuration start refuses: where the directory parameter leads, as far as
/// it can be told (canonical if it exists, else lexical with `..` applied).
pub(super) fn directory_leniently(d: &str, deadline: &Deadline) -> Option<PathBuf> {
    if !d.starts_with('/') || d.contains('\0') {
        return None;
    }
    if let Ok(Ok(p)) = command::canonicalize(Path::new(d), &deadline.portion(0.5)) {
        return Some(p);
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(d).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out)
}
