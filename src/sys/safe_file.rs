//! Small files that root reads and replaces in directories others can write (the root of an
//! NFS export, where clients create what they like: symlinks, FIFOs, device nodes).
//!
//! Below a trusted base directory every path component is opened relative to the one before
//! it with O_NOFOLLOW, so a symlink planted anywhere below the base is refused, never followed.
//! Reads take regular files only, opened O_NONBLOCK (a FIFO cannot block the open) and capped
//! in size (a file that grows without end cannot exhaust memory). Writes go to a new file of an
//! unpredictable name created with O_EXCL, renamed over the old one: rename replaces a symlink
//! or FIFO by the new file, it never follows one.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path};

fn open_at(
    dir: Option<&OwnedFd>,
    name: &(impl AsRef<OsStr> + ?Sized),
    flags: OFlag,
    mode: Mode,
) -> nix::Result<OwnedFd> {
    let fd = openat(
        dir.map(|d| d.as_raw_fd()),
        Path::new(name.as_ref()),
        flags | OFlag::O_CLOEXEC,
        mode,
    )?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The directory holding `base/rel`, opened without following symlinks below `base`, and the
/// file's name in it.
fn open_parent<'a>(base: &Path, rel: &'a Path) -> Result<(OwnedFd, &'a OsStr)> {
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    let mut dir = open_at(None, base, dir_flags, Mode::empty())
        .with_context(|| format!("opening {}", base.display()))?;
    let mut comps: Vec<Component> = rel.components().collect();
    let Some(Component::Normal(name)) = comps.pop() else {
        bail!(
            "{}: not a file name below {}",
            rel.display(),
            base.display()
        );
    };
    let mut walked = base.to_path_buf();
    for c in comps {
        let c = match c {
            Component::CurDir => continue,
            Component::Normal(c) => c,
            Component::ParentDir => OsStr::new(".."),
            _ => bail!("{}: not a path below {}", rel.display(), base.display()),
        };
        walked.push(c);
        dir = open_at(Some(&dir), c, dir_flags | OFlag::O_NOFOLLOW, Mode::empty()).with_context(
            || {
                format!(
                    "opening {} (symbolic links are not followed)",
                    walked.display()
                )
            },
        )?;
    }
    Ok((dir, name))
}

/// The text of `base/rel` if it is a regular file of at most `max` bytes; None if it does not
/// exist. A symlink, FIFO, device or directory there is an error.
pub fn read(base: &Path, rel: &Path, max: u64) -> Result<Option<String>> {
    let path = base.join(rel);
    let (dir, name) = match open_parent(base, rel) {
        Err(e) if e.root_cause().downcast_ref::<Errno>() == Some(&Errno::ENOENT) => {
            return Ok(None)
        }
        r => r?,
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = match open_at(Some(&dir), name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => bail!("{} is a symbolic link, not a regular file", path.display()),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let f = File::from(fd);
    let md = f
        .metadata()
        .with_context(|| format!("fstat {}", path.display()))?;
    if !md.file_type().is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    if buf.len() as u64 > max {
        bail!("{} holds more than {max} bytes", path.display());
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Replace `base/rel` with `text` (mode 0644 before the umask), atomically.
pub fn replace(base: &Path, rel: &Path, text: &[u8]) -> Result<()> {
    let (dir, name) = open_parent(base, rel)?;
    let tmp = format!(".{}.ferro-{:016x}", name.to_string_lossy(), unpredictable());
    replace_via(&dir, name, OsStr::new(&tmp), text)
        .with_context(|| format!("writing {}", base.join(rel).display()))
}

/// [`replace`], creating `base` first when it is not there (HA_RSCTMP, emptied by a reboot,
/// may be missing until an agent keeps something in it).
pub fn replace_creating_base(base: &Path, rel: &Path, text: &[u8]) -> Result<()> {
    std::fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
    replace(base, rel, text)
}

/// A value as one line of a small record: line breaks (a path may hold one) become '?', so
/// what is written compares equal to what is read back.
pub fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], "?")
}

/// Write `tmp` in `dir` (which must not exist yet) and rename it to `name`.
fn replace_via(dir: &OwnedFd, name: &OsStr, tmp: &OsStr, text: &[u8]) -> Result<()> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = open_at(Some(dir), tmp, flags, Mode::from_bits_truncate(0o644))
        .with_context(|| format!("creating {}", tmp.to_string_lossy()))?;
    let mut f = File::from(fd);
    let res = f
        .write_all(text)
        .and_then(|_| f.sync_all())
        .map_err(anyhow::Error::from)
        .and_then(|_| {
            renameat(Some(dir.as_raw_fd()), tmp, Some(dir.as_raw_fd()), name).context("rename")
        });
    if res.is_err() {
        let _ = unlinkat(Some(dir.as_raw_fd()), tmp, UnlinkatFlags::NoRemoveDir);
    }
    res
}

/// 64 bits an outsider cannot guess: SipHash under the process's random keys.
fn unpredictable() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::{Duration, Instant};

    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("fsafe-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_regular_files_and_missing_ones() {
        let d = Dir::new("read");
        let r = Path::new(".rmtab");
        assert_eq!(read(&d.0, r, 100).unwrap(), None);
        assert_eq!(read(&d.0, Path::new("no/such/.rmtab"), 100).unwrap(), None);
        fs::write(d.0.join(r), "a:/x:0x1\n").unwrap();
        assert_eq!(read(&d.0, r, 100).unwrap().as_deref(), Some("a:/x:0x1\n"));
        assert!(read(&d.0, r, 3).is_err(), "larger than the cap");
    }

    #[test]
    fn a_fifo_does_not_block_and_is_not_a_file() {
        let d = Dir::new("fifo");
        nix::unistd::mkfifo(&d.0.join(".rmtab"), Mode::from_bits_truncate(0o666)).unwrap();
        let t = Instant::now();
        let e = read(&d.0, Path::new(".rmtab"), 1 << 20).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(format!("{e:#}").contains("not a regular file"), "{e:#}");
        // Replacing it puts a regular file in its place.
        replace(&d.0, Path::new(".rmtab"), b"x\n").unwrap();
        assert!(fs::symlink_metadata(d.0.join(".rmtab")).unwrap().is_file());
    }

    #[test]
    fn symlinks_are_not_followed_to_read_or_to_write() {
        let d = Dir::new("link");
        symlink("/dev/zero", d.0.join(".rmtab")).unwrap();
        let e = read(&d.0, Path::new(".rmtab"), 1 << 20).unwrap_err();
        assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
        // A victim outside, reached through a link at the name and through a directory link.
        let victim = d.0.join("victim");
        fs::write(&victim, "precious").unwrap();
        fs::remove_file(d.0.join(".rmtab")).unwrap();
        symlink(&victim, d.0.join(".rmtab")).unwrap();
        replace(&d.0, Path::new(".rmtab"), b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(d.0.join(".rmtab")).unwrap().is_file());
        fs::create_dir(d.0.join("real")).unwrap();
        symlink(d.0.join("real"), d.0.join("sub")).unwrap();
        assert!(replace(&d.0, Path::new("sub/.rmtab"), b"x").is_err());
        assert!(read(&d.0, Path::new("sub/.rmtab"), 10).is_err());
        assert!(!d.0.join("real/.rmtab").exists());
    }

    #[test]
    fn a_planted_temporary_name_fails_the_write_and_leaves_its_target() {
        let d = Dir::new("tmp");
        let victim = d.0.join("victim");
        fs::write(&victim, "precious").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        // The name the writer used before: `.<name>.ferro-<pid>` (it truncated the victim).
        symlink(
            &victim,
            d.0.join(format!("..rmtab.ferro-{}", std::process::id())),
        )
        .unwrap();
        replace(&d.0, Path::new(".rmtab"), b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(d.0.join(".rmtab")).unwrap(), "new\n");
        // Whatever name is planted, O_EXCL refuses it instead of writing through it.
        let dir = open_parent(&d.0, Path::new(".rmtab")).unwrap().0;
        symlink(&victim, d.0.join(".planted")).unwrap();
        let e =
            replace_via(&dir, OsStr::new(".rmtab"), OsStr::new(".planted"), b"evil").unwrap_err();
        assert!(format!("{e:#}").contains("exists"), "{e:#}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(d.0.join(".rmtab")).unwrap(), "new\n");
        // Names differ from one write to the next.
        assert_ne!(unpredictable(), unpredictable());
    }
}
