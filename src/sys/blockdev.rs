//! Block devices: naming them (path, LABEL=/UUID=, mount's -L/-U), finding them, and the
//! monitor's I/O checks, each bounded by the deadline in a child process.

use crate::ocf::Deadline;
use crate::sys::command;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How the `device` parameter names the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// A path: block device, bind source, image file.
    Path(PathBuf),
    /// A tag mount(8) resolves: ("LABEL" | "UUID" | "PARTLABEL" | "PARTUUID", value).
    Tag(&'static str, String),
    /// Anything else: host:/export, //server/share, a pseudo source (tmpfs, overlay, …).
    Other(String),
}

impl Device {
    /// Parse the forms the reference agent and mount(8) accept: `/dev/x`, `-U uuid`, `-Uuuid`,
    /// `--uuid=uuid`, `--uuid uuid`, the same for labels, and `LABEL=`/`UUID=`/`PART…=`.
    pub fn parse(s: &str) -> Device {
        for (short, long, tag) in [("-U", "--uuid", "UUID"), ("-L", "--label", "LABEL")] {
            if let Some(rest) = s.strip_prefix(long) {
                if let Some(v) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' ')) {
                    return Device::Tag(tag, v.trim().to_owned());
                }
            } else if let Some(rest) = s.strip_prefix(short) {
                return Device::Tag(tag, rest.trim().to_owned());
            }
        }
        for tag in ["LABEL", "UUID", "PARTLABEL", "PARTUUID"] {
            if let Some(v) = s.strip_prefix(tag).and_then(|r| r.strip_prefix('=')) {
                let v = v.trim_matches('"');
                return Device::Tag(tag, v.to_owned());
            }
        }
        if s.starts_with('/') {
            Device::Path(PathBuf::from(s))
        } else {
            Device::Other(s.to_owned())
        }
    }

    /// The argv mount(8) gets for this device.
    pub fn mount_args(&self) -> Vec<OsString> {
        match self {
            Device::Path(p) => vec![p.as_os_str().to_owned()],
            Device::Tag(t, v) => vec![format!("{t}={v}").into()],
            Device::Other(s) => vec![s.into()],
        }
    }
}

/// The udev symlink for a tag, as udev names it (`/dev/disk/by-label/my\x20disk`).
pub fn by_tag_link(tag: &str, value: &str) -> PathBuf {
    let dir = match tag {
        "LABEL" => "by-label",
        "UUID" => "by-uuid",
        "PARTLABEL" => "by-partlabel",
        _ => "by-partuuid",
    };
    let mut name = String::new();
    for c in value.chars() {
        // udev keeps valid UTF-8 and a few safe ASCII characters, and hex-escapes the rest.
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            name.push(c);
        } else {
            name.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    Path::new("/dev/disk").join(dir).join(name)
}

/// The device node for a tag: the udev link when udev runs, else `blkid` (which scans the
/// devices itself), only when `may_spawn` (not on the cheap monitor path).
pub fn resolve_tag(
    tag: &str,
    value: &str,
    may_spawn: bool,
    deadline: &Deadline,
) -> Result<Option<PathBuf>> {
    if let Ok(p) = std::fs::canonicalize(by_tag_link(tag, value)) {
        return Ok(Some(p));
    }
    if !may_spawn {
        return Ok(None);
    }
    let token = format!("{tag}={value}");
    let out = command::run(
        "blkid",
        &["-l", "-o", "device", "-t", &token],
        &deadline.within(std::time::Duration::from_secs(10)),
    )?;
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('/'))
        .map(PathBuf::from))
}

pub fn is_block_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
}

/// Whether something still has the block device claimed: a filesystem mounted from it in any
/// mount namespace, a device-mapper or MD layer. An exclusive open fails with EBUSY then.
pub fn claimed(dev: &Path) -> bool {
    matches!(
        open_fd(
            dev,
            OFlag::O_RDONLY | OFlag::O_EXCL | OFlag::O_NONBLOCK,
            Mode::empty()
        ),
        Err(Errno::EBUSY)
    )
}

/// st_rdev of a device node, split into (major, minor).
pub fn rdev(p: &Path) -> std::io::Result<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let r = std::fs::metadata(p)?.rdev();
    Ok((
        nix::sys::stat::major(r) as u32,
        nix::sys::stat::minor(r) as u32,
    ))
}

/// The btrfs filesystem (its fsid) the block device (major, minor) is a member of, from
/// /sys/fs/btrfs/<fsid>/devices/<kernel name>: a multi-device btrfs is mounted under an
/// anonymous device number, and mountinfo names only one of its members.
pub fn btrfs_fsid(dev: (u32, u32)) -> Option<String> {
    let node = std::fs::canonicalize(format!("/sys/dev/block/{}:{}", dev.0, dev.1)).ok()?;
    let name = node.file_name()?;
    std::fs::read_dir("/sys/fs/btrfs")
        .ok()?
        .flatten()
        .find(|fs| fs.path().join("devices").join(name).exists())
        .map(|fs| fs.file_name().to_string_lossy().into_owned())
}

/// A page-aligned buffer: O_DIRECT needs the memory aligned to the logical block size.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Aligned { ptr, layout }
    }
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for layout.size() bytes and owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

const BLOCK: usize = 4096;

fn open_fd(p: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    let fd = open(p, flags | OFlag::O_CLOEXEC, mode)?;
    // SAFETY: open returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// OCF_CHECK_LEVEL 10: read the first 4 KiB of the device bypassing the page cache.
pub fn read_direct(dev: &Path, deadline: &Deadline) -> Result<()> {
    command::bounded(&format!("read {}", dev.display()), deadline, || {
        let fd = open_fd(dev, OFlag::O_RDONLY | OFlag::O_DIRECT, Mode::empty())?;
        let mut buf = Aligned::new(BLOCK);
        nix::sys::uio::pread(&fd, buf.as_mut(), 0)?;
        Ok(())
    })?
    .with_context(|| format!("reading {} with O_DIRECT failed", dev.display()))
}

/// OCF_CHECK_LEVEL 20: write `content` to the status file with O_DIRECT|O_SYNC (O_SYNC only
/// when `direct` is false or the filesystem has no O_DIRECT), then read it back.
pub fn status_file_check(
    file: &Path,
    content: &str,
    direct: bool,
    deadline: &Deadline,
) -> Result<()> {
    let mut block = content.as_bytes().to_vec();
    block.resize(BLOCK, 0); // dd conv=sync: one full block, NUL-padded
    command::bounded(
        &format!("write and read back {}", file.display()),
        deadline,
        || {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(io_errno)?;
            }
            let mut buf = Aligned::new(BLOCK);
            buf.as_mut().copy_from_slice(&block);
            let wflags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_SYNC;
            let mode = Mode::from_bits_truncate(0o644);
            let (fd, direct) = match direct {
                true => match open_fd(file, wflags | OFlag::O_DIRECT, mode) {
                    Err(Errno::EINVAL) => (open_fd(file, wflags, mode)?, false),
                    r => (r?, true),
                },
                false => (open_fd(file, wflags, mode)?, false),
            };
            if nix::sys::uio::pwrite(&fd, buf.as_mut(), 0)? != BLOCK {
                return Err(Errno::EIO);
            }
            nix::unistd::fsync(fd.as_raw_fd())?;
            drop(fd);
            let rflags = if direct {
                OFlag::O_RDONLY | OFlag::O_DIRECT
            } else {
                OFlag::O_RDONLY
            };
            let fd = open_fd(file, rflags, Mode::empty())?;
            let mut back = Aligned::new(BLOCK);
            let n = nix::sys::uio::pread(&fd, back.as_mut(), 0)?;
            if n != BLOCK || back.as_mut() != block.as_slice() {
                return Err(Errno::EBADMSG);
            }
            Ok(())
        },
    )?
    .map_err(|e| match e {
        Errno::EBADMSG => anyhow::anyhow!("read back different contents"),
        e => anyhow::Error::new(e),
    })
    .with_context(|| format!("status file {}", file.display()))
}

/// OCF_CHECK_LEVEL 20 on a read-only mount: nothing can be written, so read the mount's root
/// directory instead (an uncached read of the device for block filesystems comes separately).
pub fn read_dir_bounded(dir: &Path, deadline: &Deadline) -> Result<()> {
    command::bounded(&format!("read {}", dir.display()), deadline, || {
        std::fs::read_dir(dir).map_err(io_errno)?.for_each(drop);
        Ok(())
    })?
    .with_context(|| format!("reading directory {} failed", dir.display()))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO))
}

/// BLKFLSBUF: drop the device's cached blocks (blockdev --flushbufs), so a mount after a
/// failover reads what the other node wrote. Best effort, in a bounded child: the flush
/// writes dirty blocks back first, and on a dead disk that never ends.
pub fn flush_buffers(dev: &Path, deadline: &Deadline) {
    nix::ioctl_none!(blkflsbuf, 0x12, 97);
    let what = format!("flush the buffers of {}", dev.display());
    let r = command::bounded(
        &what,
        &deadline.within(std::time::Duration::from_secs(10)),
        || {
            let fd = open_fd(dev, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty())?;
            // SAFETY: BLKFLSBUF takes no argument.
            unsafe { blkflsbuf(fd.as_raw_fd()) }.map(drop)
        },
    );
    if let Err(e) = r {
        tracing::warn!("{e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_forms() {
        assert_eq!(
            Device::parse("/dev/drbd0"),
            Device::Path("/dev/drbd0".into())
        );
        for s in [
            "-U 1234-ab",
            "-U1234-ab",
            "--uuid=1234-ab",
            "--uuid 1234-ab",
            "UUID=1234-ab",
            "UUID=\"1234-ab\"",
        ] {
            assert_eq!(
                Device::parse(s),
                Device::Tag("UUID", "1234-ab".into()),
                "{s}"
            );
        }
        for s in ["-L data", "-Ldata", "--label=data", "LABEL=data"] {
            assert_eq!(Device::parse(s), Device::Tag("LABEL", "data".into()), "{s}");
        }
        assert_eq!(
            Device::parse("nfs1:/export"),
            Device::Other("nfs1:/export".into())
        );
        assert_eq!(
            Device::parse("//srv/share").mount_args(),
            [OsString::from("//srv/share")]
        );
        assert_eq!(
            Device::parse("-L data").mount_args(),
            [OsString::from("LABEL=data")]
        );
    }

    #[test]
    fn udev_link_names_are_encoded() {
        assert_eq!(
            by_tag_link("LABEL", "my disk/1"),
            Path::new("/dev/disk/by-label/my\\x20disk\\x2f1")
        );
        assert_eq!(
            by_tag_link("UUID", "ab-12"),
            Path::new("/dev/disk/by-uuid/ab-12")
        );
    }

    #[test]
    fn status_file_round_trip_on_tmp() {
        let dir = std::env::temp_dir().join(format!("ffs-unit-{}", std::process::id()));
        let f = dir.join("sub/status");
        let d = Deadline::after(std::time::Duration::from_secs(10));
        status_file_check(&f, "res\n", true, &d).unwrap();
        assert!(std::fs::read(&f).unwrap().starts_with(b"res\n"));
        read_dir_bounded(&dir, &d).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
