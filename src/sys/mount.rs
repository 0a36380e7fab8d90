//! Mounting and unmounting.
//!
//! Local block filesystems and bind mounts are mounted with the mount(2) system call (no
//! process, and the call runs in a bounded child so a dead disk cannot hang start). Types that
//! need a userspace helper (mount.nfs, mount.cifs, FUSE, …) or libmount features (loop, an
//! unknown fstype to probe) go through `mount` with an argv, never a shell. Unmounting is
//! always umount2(2).

use crate::ocf::Deadline;
use crate::sys::command;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::ffi::OsString;
use std::path::Path;

/// Mount options split the way mount(8) splits them: per-mount flags for the system call,
/// the rest as filesystem data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    pub data: Vec<String>,
    pub bind: bool,
    /// Something only mount(8) (libmount) knows how to do: loop devices, propagation, X-mount.*.
    pub needs_mount_command: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            flags: MsFlags::empty(),
            data: Vec::new(),
            bind: false,
            needs_mount_command: false,
        }
    }
}

/// MS_NOSYMFOLLOW (Linux 5.10), which nix's MsFlags does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(nix::libc::MS_NOSYMFOLLOW);

impl Options {
    /// libmount's table of per-mount (VFS) options: each is a mount(2) flag, never filesystem
    /// data, which the filesystem would refuse with EINVAL where mount(8) works.
    pub fn parse(opts: &str) -> Options {
        let mut o = Options::default();
        for opt in opts.split(',').filter(|s| !s.is_empty()) {
            let (set, clear) = match opt {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
                "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
                "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
                "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW),
                "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
                "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
                "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
                "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
                "bind" => {
                    o.bind = true;
                    (MsFlags::MS_BIND, MsFlags::empty())
                }
                "rbind" => {
                    o.bind = true;
                    (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
                }
                // fstab-only words mount(8) drops before calling the kernel.
                "defaults" | "auto" | "noauto" | "user" | "nouser" | "users" | "owner"
                | "group" | "nofail" | "_netdev" => continue,
                _ if opt.starts_with("x-") || opt.starts_with("comment=") => continue,
                _ => {
                    if opt == "loop"
                        || opt.starts_with("loop=")
                        || opt.starts_with("offset=")
                        || opt.starts_with("sizelimit=")
                        || opt.starts_with("X-")
                        || opt.starts_with("helper=")
                        || matches!(
                            opt,
                            "shared"
                                | "private"
                                | "slave"
                                | "unbindable"
                                | "rshared"
                                | "rprivate"
                                | "rslave"
                                | "runbindable"
                                | "remount"
                                | "move"
                        )
                    {
                        o.needs_mount_command = true;
                    }
                    o.data.push(opt.to_owned());
                    continue;
                }
            };
            o.flags.insert(set);
            o.flags.remove(clear);
        }
        o
    }

    /// Per-mount flags a bind mount needs a remount to apply (the bind ignores them).
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC)
    }
}

/// Whether mount(8) would run a helper (`mount.<type>`) for this filesystem type.
pub fn has_helper(fstype: &str) -> bool {
    ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
        .iter()
        .any(|d| Path::new(d).join(format!("mount.{fstype}")).exists())
}

/// mount(2) in a bounded child: `source` on `target` as `fstype`.
pub fn mount_syscall(
    source: &Path,
    target: &Path,
    fstype: Option<&str>,
    opts: &Options,
    deadline: &Deadline,
) -> Result<()> {
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());
    let flags = if opts.bind {
        opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
    } else {
        opts.flags
    };
    command::bounded(&format!("mount {}", target.display()), deadline, || {
        nix::mount::mount(Some(source), target, fstype, flags, data)
    })?
    .with_context(|| {
        format!(
            "mount({}, {}, {}) failed",
            source.display(),
            target.display(),
            fstype.unwrap_or("none")
        )
    })
}

/// Apply per-mount flags (e.g. ro) to a bind mount: the remount mount(8) does for `bind,ro`.
pub fn remount_bind(target: &Path, flags: MsFlags, deadline: &Deadline) -> Result<()> {
    command::bounded(&format!("remount {}", target.display()), deadline, || {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
            None::<&str>,
        )
    })?
    .with_context(|| format!("remounting bind mount {} failed", target.display()))
}

/// `mount [-t fstype] [-o options] <device args> <target>` with an argv under the deadline.
pub fn mount_command(
    device_args: &[OsString],
    target: &Path,
    fstype: Option<&str>,
    options: Option<&str>,
    deadline: &Deadline,
) -> Result<()> {
    let argv = mount_argv(device_args, target, fstype, options);
    let out = command::run("mount", &argv, deadline)?;
    if !out.success() {
        bail!(
            "{} failed ({}): {}",
            command::display_argv("mount", &argv),
            out.describe(),
            out.last_line()
        );
    }
    Ok(())
}

/// The arguments of mount(8): one word per option list, device and target, whatever they
/// contain.
pub fn mount_argv(
    device_args: &[OsString],
    target: &Path,
    fstype: Option<&str>,
    options: Option<&str>,
) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    if let Some(t) = fstype {
        argv.extend(["-t".into(), t.into()]);
    }
    if let Some(o) = options {
        argv.extend(["-o".into(), o.into()]);
    }
    argv.extend(device_args.iter().cloned());
    argv.push(target.as_os_str().to_owned());
    argv
}

/// umount2(2) of the mount at `target`; `force` (MNT_FORCE) aborts pending NFS/CIFS requests.
pub fn umount(target: &Path, force: bool) -> nix::Result<()> {
    let mut flags = MntFlags::UMOUNT_NOFOLLOW;
    if force {
        flags |= MntFlags::MNT_FORCE;
    }
    nix::mount::umount2(target, flags)
}

/// umount2(2) of `target` as seen in the mount namespace of `pid`, from a bounded child that
/// joins that namespace (what `nsenter -m -t PID umount TARGET` does).
pub fn umount_in_namespace(
    pid: i32,
    target: &Path,
    force: bool,
    deadline: &Deadline,
) -> Result<nix::Result<()>> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .with_context(|| format!("opening the mount namespace of process {pid}"))?;
    command::bounded(
        &format!(
            "unmount {} in the mount namespace of process {pid}",
            target.display()
        ),
        deadline,
        || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
            umount(target, force)
        },
    )
}

/// What an umount2 errno means for stop.
pub fn gone(e: Errno) -> bool {
    // EINVAL: not a mount point (any more); ENOENT: the path is gone with it.
    matches!(e, Errno::EINVAL | Errno::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_from_filesystem_data() {
        let o = Options::parse("ro,noatime,nodev,defaults,_netdev,logbufs=8,inode64,x-systemd.foo");
        assert_eq!(
            o.flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOATIME | MsFlags::MS_NODEV
        );
        assert_eq!(o.data, ["logbufs=8", "inode64"]);
        assert!(!o.bind && !o.needs_mount_command);
        assert!(Options::parse("rw,ro").flags.contains(MsFlags::MS_RDONLY));
        let o = Options::parse("nosymfollow,iversion,strictatime,nostrictatime");
        assert_eq!(o.flags, MS_NOSYMFOLLOW | MsFlags::MS_I_VERSION);
        assert!(o.data.is_empty());
        assert!(Options::parse("iversion,noiversion,nosymfollow,symfollow")
            .flags
            .is_empty());
        assert!(!Options::parse("ro,rw").flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn mount_argv_keeps_each_value_one_word() {
        let argv = mount_argv(
            &["nfs1:/export/a b".into()],
            Path::new("/srv/my data"),
            Some("nfs4"),
            Some("vers=4.2,hard"),
        );
        assert_eq!(
            argv,
            [
                "-t",
                "nfs4",
                "-o",
                "vers=4.2,hard",
                "nfs1:/export/a b",
                "/srv/my data"
            ]
            .map(OsString::from)
        );
        let argv = mount_argv(&["LABEL=data".into()], Path::new("/m"), None, None);
        assert_eq!(argv, ["LABEL=data", "/m"].map(OsString::from));
    }

    #[test]
    fn bind_and_libmount_only_options() {
        let o = Options::parse("bind,ro,nosuid");
        assert!(o.bind);
        assert_eq!(
            o.bind_remount_flags(),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
        assert!(Options::parse("rbind").flags.contains(MsFlags::MS_REC));
        assert!(Options::parse("loop,offset=1024").needs_mount_command);
        assert!(Options::parse("bind,private").needs_mount_command);
    }
}
