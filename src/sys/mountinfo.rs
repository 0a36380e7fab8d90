//! The mount table of this mount namespace, from `/proc/self/mountinfo`.
//!
//! Read in one piece and checked for consistency: the kernel hands the file out in page-sized
//! chunks, and a mount or unmount between two chunks can hide an entry (resource-agents
//! PR#1337: a false "not mounted" with ~80 mounts). The file signals POLLPRI when the table
//! changed since it was opened, so a read that saw no change is a consistent snapshot.
//!
//! mountinfo (unlike /proc/mounts) also carries mount ids, parent ids and device numbers, which
//! is what finding submounts and the holders of one particular mount needs.

use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

const MOUNTINFO: &str = "/proc/self/mountinfo";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub parent: u64,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted here ("/" unless a bind mount).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (ro/rw, nosuid, …).
    pub options: String,
    pub fstype: String,
    pub source: OsString,
    /// Per-superblock options.
    pub super_options: String,
    /// Peer group this mount shares propagation with (`shared:N`).
    pub shared: Option<u64>,
    /// Peer group this mount receives propagation from (`master:N`).
    pub master: Option<u64>,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        has_option(&self.options, "ro") || has_option(&self.super_options, "ro")
    }

    /// The device number as stat(2) reports it for files on this mount (st_dev).
    pub fn dev(&self) -> u64 {
        nix::sys::stat::makedev(self.major.into(), self.minor.into())
    }
}

/// Whether a comma-separated option list contains `opt` as a whole word.
pub fn has_option(list: &str, opt: &str) -> bool {
    list.split(',').any(|o| o == opt)
}

#[derive(Clone, Debug, Default)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
}

impl MountTable {
    /// One consistent snapshot of this namespace's mount table.
    pub fn read() -> Result<MountTable> {
        let mut last = None;
        for _ in 0..5 {
            let (text, changed) = read_once().with_context(|| format!("reading {MOUNTINFO}"))?;
            if !changed {
                return MountTable::parse(&text);
            }
            last = Some(text);
        }
        // The table keeps changing (a storm of mounts elsewhere); each entry of a chunked read
        // is still a real mount, and the kernel's cursor never repeats one.
        MountTable::parse(&last.unwrap_or_default())
    }

    pub fn parse(text: &[u8]) -> Result<MountTable> {
        let mounts = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(parse_line)
            .collect::<Result<Vec<_>>>()?;
        Ok(MountTable { mounts })
    }

    /// The mount visible at `path` (the top one when several are stacked there).
    pub fn at(&self, path: &Path) -> Option<&Mount> {
        // Later entries are mounted later; a stacked mount is a child of the one below.
        self.mounts.iter().rev().find(|m| m.mount_point == path)
    }

    /// Mounts whose mount point is strictly below `path`, deepest first (the unmount order).
    pub fn below(&self, path: &Path) -> Vec<&Mount> {
        let mut v: Vec<&Mount> = self
            .mounts
            .iter()
            .filter(|m| m.mount_point != path && m.mount_point.starts_with(path))
            .collect();
        v.sort_by(|a, b| b.mount_point.cmp(&a.mount_point));
        v
    }

    /// `id` and the ids of every mount stacked on or below it.
    pub fn with_descendants(&self, id: u64) -> Vec<u64> {
        let mut ids = vec![id];
        let mut i = 0;
        while i < ids.len() {
            let p = ids[i];
            ids.extend(
                self.mounts
                    .iter()
                    .filter(|m| m.parent == p && m.id != p)
                    .map(|m| m.id),
            );
            i += 1;
        }
        ids
    }
}

/// Read the whole file; report whether the table changed while it was read.
fn read_once() -> Result<(Vec<u8>, bool)> {
    let mut f = File::open(MOUNTINFO)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    f.read_to_end(&mut buf)?;
    let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
    poll(&mut fds, PollTimeout::ZERO)?;
    let changed = fds[0]
        .revents()
        .is_some_and(|r| r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR));
    Ok((buf, changed))
}

fn parse_line(line: &[u8]) -> Result<Mount> {
    let bad = || {
        format!(
            "malformed mountinfo line {:?}",
            String::from_utf8_lossy(line)
        )
    };
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    // Optional fields (shared:N, master:N, …) end at a lone "-".
    let sep = fields.iter().position(|f| *f == b"-").with_context(bad)?;
    if sep < 6 || fields.len() < sep + 4 {
        bail!(bad());
    }
    let num = |f: &[u8]| -> Result<u64> {
        std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse().ok())
            .with_context(bad)
    };
    let (major, minor) = std::str::from_utf8(fields[2])
        .ok()
        .and_then(|s| s.split_once(':'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .with_context(bad)?;
    let text = |f: &[u8]| String::from_utf8_lossy(&unescape(f)).into_owned();
    Ok(Mount {
        id: num(fields[0])?,
        parent: num(fields[1])?,
        major,
        minor,
        root: PathBuf::from(OsString::from_vec(unescape(fields[3]))),
        mount_point: PathBuf::from(OsString::from_vec(unescape(fields[4]))),
        options: text(fields[5]),
        fstype: text(fields[sep + 1]),
        source: OsString::from_vec(unescape(fields[sep + 2])),
        super_options: text(fields[sep + 3]),
        shared: tagged(&fields[6..sep], "shared:"),
        master: tagged(&fields[6..sep], "master:"),
    })
}

/// The number of an optional field such as `shared:12`.
fn tagged(fields: &[&[u8]], tag: &str) -> Option<u64> {
    fields
        .iter()
        .find_map(|f| std::str::from_utf8(f).ok()?.strip_prefix(tag)?.parse().ok())
}

/// Undo the kernel's octal escapes of space, tab, newline and backslash (`\040` …).
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() {
            let oct = &s[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                if v <= 0xff {
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from /proc/self/mountinfo on this project's test host (kernel 6.18) with a
    /// loop-mounted XFS at /srv/data, a bind mount of a subdirectory of it at "/srv/home dir",
    /// an ext4 at "/srv/data/nested<TAB>tab", a read-only bind ("bind,ro") and an overlay; the
    /// temp dir prefix was replaced by /srv. The last two lines are NFS client mounts in the
    /// kernel's format (the test host has no NFS server to capture them from).
    const CAPTURED: &str = r"22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683656k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
48 27 7:0 / /srv/data rw,relatime - xfs /dev/loop0 rw,inode64,logbufs=8,logbsize=32k,noquota
49 27 7:0 /exports/home /srv/home\040dir rw,relatime - xfs /dev/loop0 rw,inode64,logbufs=8,logbsize=32k,noquota
50 48 7:1 / /srv/data/nested\011tab rw,relatime - ext4 /dev/loop1 rw
51 27 7:0 /exports /srv/ro\040bind ro,relatime - xfs /dev/loop0 rw,inode64,logbufs=8,logbsize=32k,noquota
55 27 0:40 / /srv/merged rw,relatime - overlay overlay rw,lowerdir=/srv/l1:/srv/l2,upperdir=/srv/u,workdir=/srv/w,uuid=on
330 27 0:70 / /mnt/nfs4 rw,relatime shared:140 master:7 - nfs4 fs1.example.com:/export/data rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=192.168.1.10,local_lock=none,addr=192.168.1.5
331 27 0:71 / /mnt/nfs3 ro,relatime shared:141 - nfs 192.168.1.5:/export/old\040stuff ro,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=192.168.1.5,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=192.168.1.5
";

    fn table() -> MountTable {
        MountTable::parse(CAPTURED.as_bytes()).unwrap()
    }

    #[test]
    fn parses_every_captured_line() {
        let t = table();
        assert_eq!(t.mounts.len(), 16);
        let root = t.at(Path::new("/")).unwrap();
        assert_eq!(
            (root.id, root.parent, root.major, root.minor),
            (27, 1, 254, 0)
        );
        assert_eq!(root.fstype, "ext4");
        assert_eq!(root.source, "/dev/vda");
        // Optional fields (shared:1) before the separator.
        assert_eq!(
            t.at(Path::new("/run/netns")).unwrap().root,
            Path::new("/run/netns")
        );
    }

    #[test]
    fn decodes_octal_escapes_in_paths_and_sources() {
        let t = table();
        let home = t.at(Path::new("/srv/home dir")).unwrap();
        assert_eq!(home.root, Path::new("/exports/home"));
        assert_eq!(home.dev(), t.at(Path::new("/srv/data")).unwrap().dev());
        assert!(t.at(Path::new("/srv/data/nested\ttab")).is_some());
        let nfs3 = t.at(Path::new("/mnt/nfs3")).unwrap();
        assert_eq!(nfs3.source, "192.168.1.5:/export/old stuff");
        assert_eq!(unescape(br"a\134b\012c\0"), b"a\\b\nc\\0");
    }

    #[test]
    fn bind_mounts_nfs_and_overlay() {
        let t = table();
        let ro = t.at(Path::new("/srv/ro bind")).unwrap();
        assert!(ro.read_only() && ro.root == Path::new("/exports"));
        assert!(!t.at(Path::new("/srv/data")).unwrap().read_only());
        let nfs4 = t.at(Path::new("/mnt/nfs4")).unwrap();
        assert_eq!((nfs4.fstype.as_str(), nfs4.major), ("nfs4", 0));
        assert_eq!((nfs4.shared, nfs4.master), (Some(140), Some(7)));
        assert_eq!(nfs4.source, "fs1.example.com:/export/data");
        assert!(t.at(Path::new("/mnt/nfs3")).unwrap().read_only());
        let ov = t.at(Path::new("/srv/merged")).unwrap();
        assert_eq!(ov.fstype, "overlay");
        assert!(ov.super_options.contains("lowerdir=/srv/l1:/srv/l2"));
    }

    #[test]
    fn submounts_and_descendants() {
        let t = table();
        let below: Vec<_> = t
            .below(Path::new("/srv/data"))
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(below, [50]);
        // A path prefix that is not a path component is not "below".
        assert!(t.below(Path::new("/srv/dat")).is_empty());
        assert_eq!(t.with_descendants(48), [48, 50]);
    }

    #[test]
    fn stacked_mounts_report_the_top_one() {
        let t = MountTable::parse(
            b"27 1 254:0 / / rw - ext4 /dev/vda rw\n50 27 7:1 / /m rw - xfs /dev/loop1 rw\n51 50 7:2 / /m rw - xfs /dev/loop2 rw\n",
        )
        .unwrap();
        assert_eq!(t.at(Path::new("/m")).unwrap().id, 51);
    }

    #[test]
    fn rejects_garbage() {
        assert!(MountTable::parse(b"27 1 254:0 / / rw ext4 /dev/vda rw\n").is_err());
        assert!(MountTable::parse(b"x 1 254:0 / / rw - ext4 /dev/vda rw\n").is_err());
    }

    #[test]
    fn reads_this_namespace() {
        let t = MountTable::read().unwrap();
        assert!(t.mounts.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
