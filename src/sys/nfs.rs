//! The Linux kernel NFS server's state as files: what is exported, who mounted what, nfsd's knobs.
//!
//! Two export tables exist and they answer different questions:
//! - `/var/lib/nfs/etab` is the table of exportfs(8): it writes it on every `exportfs -o`/`-u` and
//!   rpc.mountd answers the kernel's upcalls from it. It is the authoritative list of what is
//!   exported, and what the reference agent's `exportfs` listing prints. It lives on disk and
//!   survives a reboot, so a line in it does not mean the export is active on this boot (hence
//!   the agents' state file under HA_RSCTMP).
//! - `/proc/net/rpc/nfsd.export/content` is the kernel's *cache* of exports, filled lazily by
//!   mountd when a client uses an export, keyed by path and auth domain (`*,192.168.48.0/24`:
//!   the client specifications that matched, joined). It lists only what clients touched; an
//!   entry holds a reference on the filesystem until it is flushed, which keeps an unexported
//!   filesystem busy.
//!
//! Both escape white space and backslashes in paths as `\ooo` octal (exportfs' `qword`, the
//! kernel's `seq_escape`).

use anyhow::{Context, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The NFS state directory (etab, rmtab, statd). `FERRO_NFS_STATEDIR` relocates it, for tests
/// that run the agents against an etab in a directory they made.
pub fn state_dir() -> PathBuf {
    std::env::var_os("FERRO_NFS_STATEDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/nfs"))
}

pub const EXPORT_CACHE: &str = "/proc/net/rpc/nfsd.export/content";
pub const NFSD_DIR: &str = "/proc/fs/nfsd";

/// One export: a directory and the client specification it is exported to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub path: String,
    /// The client (etab) or the auth domain (kernel cache: several specs joined by commas).
    pub client: String,
    /// The options between the parentheses, as listed (None: a negative cache entry).
    pub options: Option<String>,
    /// False for the kernel cache's `# ` lines: entries not (or no longer) valid, still cached.
    pub valid: bool,
}

impl Export {
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .as_deref()?
            .split(',')
            .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether this cache entry's auth domain includes the client specification `spec`.
    pub fn domain_includes(&self, spec: &str) -> bool {
        self.client.split(',').any(|d| d.eq_ignore_ascii_case(spec))
    }
}

/// `\040` → space, `\\` → `\`: undo exportfs' and the kernel's octal escapes (the same
/// escapes as in mountinfo).
pub fn unescape(s: &str) -> String {
    String::from_utf8_lossy(&super::mountinfo::unescape(s.as_bytes())).into_owned()
}

/// One `path<TAB>client(options)` line (etab and the kernel cache share the shape).
fn parse_line(line: &str) -> Option<Export> {
    let (valid, line) = match line.strip_prefix('#') {
        // The cache's header line "#path domain(flags)" has no tab.
        Some(rest) if rest.starts_with(' ') && rest.contains('\t') => (false, rest.trim_start()),
        Some(_) => return None,
        None => (true, line),
    };
    let line = line.trim_end();
    if line.is_empty() {
        return None;
    }
    let (path, rest) = line.split_once(['\t', ' '])?;
    let rest = rest.trim_start();
    let (client, options) = match rest.find('(') {
        Some(i) if rest.ends_with(')') => {
            (&rest[..i], Some(rest[i + 1..rest.len() - 1].to_owned()))
        }
        _ => (rest, None),
    };
    if path.is_empty() || client.is_empty() {
        return None;
    }
    Some(Export {
        path: unescape(path),
        client: unescape(client),
        options,
        valid,
    })
}

/// The lines of `/var/lib/nfs/etab` or of `/proc/net/rpc/nfsd.export/content` (one shape).
pub fn parse_exports(text: &str) -> Vec<Export> {
    text.lines().filter_map(parse_line).collect()
}

/// A file's text; a missing file reads as empty (no etab yet, no nfsd loaded).
pub fn read_optional(path: &Path) -> Result<String> {
    match fs::read(path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The export table as exportfs(8) left it, read once.
pub fn read_etab() -> Result<Vec<Export>> {
    Ok(parse_exports(&read_optional(&state_dir().join("etab"))?))
}

/// The kernel's export cache (empty when nfsd is not loaded).
pub fn read_export_cache() -> Result<Vec<Export>> {
    Ok(parse_exports(&read_optional(Path::new(EXPORT_CACHE))?))
}

/// The rmtab lines (`client:path:0x00000001`) that name `dir`, as the reference agent's
/// `grep ":$dir:"` selects them (a client may be an IPv6 address full of colons).
pub fn rmtab_entries_for<'a>(rmtab: &'a str, dir: &str) -> Vec<&'a str> {
    let needle = format!(":{dir}:");
    rmtab.lines().filter(|l| l.contains(&needle)).collect()
}

/// `sort -u` of two rmtabs: the merged file the reference agent installs on start.
pub fn rmtab_merge(current: &str, backup: &str) -> String {
    let mut lines: Vec<&str> = current
        .lines()
        .chain(backup.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines.sort_unstable();
    lines.dedup();
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// The most an rmtab (or a backup of its lines) may hold: a few hundred thousand mounts. A file
/// that grows without end (a planted link to /dev/zero) stops the read there.
pub const RMTAB_MAX: u64 = 16 << 20;

/// The text of `base/rel` when it is an rmtab: a regular file, read without following a symlink
/// below `base` and without blocking on a FIFO (backups live in the export root, which NFS clients
/// may write). None when it does not exist.
pub fn read_rmtab_file(base: &Path, rel: &Path) -> Result<Option<String>> {
    super::safe_file::read(base, rel, RMTAB_MAX)
}

/// Replace `base/rel` with `text`, without following symlinks or writing through a planted name.
pub fn write_rmtab_file(base: &Path, rel: &Path, text: &str) -> Result<()> {
    super::safe_file::replace(base, rel, text.as_bytes())
}

/// `/proc/fs/nfsd/<name>` as text, None when nfsd is not loaded/mounted.
pub fn nfsd_file(name: &str) -> Result<Option<String>> {
    let p = Path::new(NFSD_DIR).join(name);
    match fs::read_to_string(&p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// The number of nfsd threads: None when the nfsd filesystem is not mounted.
pub fn nfsd_threads() -> Result<Option<u32>> {
    nfsd_file("threads")?.map(|s| parse_threads(&s)).transpose()
}

pub fn parse_threads(s: &str) -> Result<u32> {
    s.trim()
        .parse()
        .with_context(|| format!("{NFSD_DIR}/threads holds {:?}, not a number", s.trim()))
}

/// A value from nfs.conf(5) text: `[section]` headers, `key = value` lines, `#`/`;` comments.
/// The last assignment wins, as with nfs-utils' conffile.
pub fn nfs_conf_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = s.trim().to_ascii_lowercase();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim().eq_ignore_ascii_case(key) {
                found = Some(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    found
}

/// Where the NFS daemons expect rpc_pipefs: nfs.conf's `[general] pipefs-directory` (Debian 12
/// sets /run/rpc_pipefs), else nfs-utils' default /var/lib/nfs/rpc_pipefs.
pub fn pipefs_directory() -> String {
    let mut texts = vec![read_optional(Path::new("/etc/nfs.conf")).unwrap_or_default()];
    if let Ok(rd) = fs::read_dir("/etc/nfs.conf.d") {
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        texts.extend(files.iter().map(|f| read_optional(f).unwrap_or_default()));
    }
    texts
        .iter()
        .rev()
        .find_map(|t| nfs_conf_value(t, "general", "pipefs-directory"))
        .unwrap_or_else(|| "/var/lib/nfs/rpc_pipefs".to_owned())
}

/// `cp -rp src/* dst/` (`clobber`: overwrite; else `cp -n`): statd's monitor lists are small
/// directories of small files.
pub fn copy_tree(src: &Path, dst: &Path, clobber: bool) -> Result<()> {
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    let md = fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if md.is_dir() {
        if !dst.is_dir() {
            fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
        }
        for e in fs::read_dir(src)?.flatten() {
            copy_tree(&e.path(), &dst.join(e.file_name()), clobber)?;
        }
    } else if md.is_file() {
        if dst.exists() && !clobber {
            return Ok(());
        }
        fs::copy(src, dst)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    } else {
        return Ok(());
    }
    let _ = fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777));
    let _ = chown(dst, Some(md.uid()), Some(md.gid()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAB: &str = include_str!("../../tests/fixtures/nfs/etab");
    const CACHE: &str = include_str!("../../tests/fixtures/nfs/nfsd.export.content");
    const RMTAB: &str = include_str!("../../tests/fixtures/nfs/rmtab");

    #[test]
    fn etab_from_a_real_server() {
        let e = parse_exports(ETAB);
        assert_eq!(e.len(), 6);
        let find = |p: &str| e.iter().find(|x| x.path == p).unwrap();
        let a = find("/srv/exp/a");
        assert_eq!(a.client, "192.168.48.0/24");
        assert_eq!(a.option("fsid"), Some("1"));
        assert!(a.valid);
        // IPv6 networks are listed without the brackets the clientspec may carry.
        assert_eq!(find("/srv/exp").client, "fd00:48::/64");
        assert_eq!(find("/srv/exp").option("fsid"), Some("0"));
        // \040 is a space in the path.
        assert_eq!(find("/srv/exp/with space").client, "@labnet");
        assert_eq!(find("/srv/exp/c").client, "*");
        assert_eq!(
            find("/srv/exp/c").option("fsid"),
            Some("3a1f5e3c-2b9d-4c6e-8f00-112233445566")
        );
        assert_eq!(find("/srv/local").client, "node*.lab");
    }

    #[test]
    fn kernel_export_cache_from_a_real_server() {
        let c = parse_exports(CACHE);
        // The header line is not an entry; the NFSv4 pseudo-root entries are.
        assert!(c.iter().all(|x| !x.path.starts_with('#')));
        let a = c.iter().find(|x| x.path == "/srv/exp/a").unwrap();
        assert_eq!(a.client, "*,192.168.48.0/24");
        assert!(a.domain_includes("192.168.48.0/24") && a.domain_includes("*"));
        assert!(!a.domain_includes("192.168.48.0"));
        assert_eq!(a.option("fsid"), Some("1"));
        assert!(c
            .iter()
            .any(|x| x.path == "/srv/exp/with space" && x.option("fsid") == Some("7")));
        assert!(c
            .iter()
            .any(|x| x.path == "/" && x.option("fsid") == Some("0")));
        assert!(parse_exports("#path domain(flags)\n").is_empty());
    }

    #[test]
    fn cache_lines_of_invalid_and_negative_entries() {
        let c = parse_exports("#path domain(flags)\n# /srv/x\t*\n/srv/y\t*\n");
        assert_eq!(c.len(), 2);
        assert!(!c[0].valid && c[0].path == "/srv/x" && c[0].options.is_none());
        assert!(c[1].valid && c[1].options.is_none());
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn rmtab_selection_and_merge() {
        assert_eq!(
            rmtab_entries_for(RMTAB, "/srv/exp/a"),
            ["192.168.48.180:/srv/exp/a:0x00000001"]
        );
        // A directory that is a prefix of another does not select the other's lines.
        assert!(rmtab_entries_for(RMTAB, "/srv/exp").is_empty());
        let v6 = "fd00:48::5:/srv/exp/a:0x00000002\n";
        assert_eq!(rmtab_entries_for(v6, "/srv/exp/a").len(), 1);
        let merged = rmtab_merge(
            RMTAB,
            "10.0.0.9:/srv/exp/a:0x00000001\n127.0.0.1:/srv/exp/c:0x00000001\n",
        );
        assert_eq!(merged.lines().count(), 3);
        assert!(merged.ends_with('\n'));
        assert_eq!(rmtab_merge("", ""), "");
    }

    #[test]
    fn threads() {
        assert_eq!(parse_threads("8\n").unwrap(), 8);
        assert_eq!(parse_threads("0\n").unwrap(), 0);
        assert!(parse_threads("x").is_err());
    }

    #[test]
    fn nfs_conf_values() {
        let debian =
            "[general]\npipefs-directory=/run/rpc_pipefs\n[nfsd]\n# threads=8\nthreads = 16\n";
        assert_eq!(
            nfs_conf_value(debian, "general", "pipefs-directory").as_deref(),
            Some("/run/rpc_pipefs")
        );
        assert_eq!(
            nfs_conf_value(debian, "nfsd", "threads").as_deref(),
            Some("16")
        );
        assert_eq!(nfs_conf_value(debian, "nfsd", "pipefs-directory"), None);
        assert_eq!(nfs_conf_value("", "general", "pipefs-directory"), None);
    }

    #[test]
    fn copy_tree_with_and_without_clobber() {
        let d = std::env::temp_dir().join(format!("fnfs-copy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("src/sm")).unwrap();
        fs::write(d.join("src/sm/client1"), "new").unwrap();
        fs::write(d.join("src/state"), "s").unwrap();
        fs::create_dir_all(d.join("dst/sm")).unwrap();
        fs::write(d.join("dst/sm/client1"), "old").unwrap();
        copy_tree(&d.join("src"), &d.join("dst"), false).unwrap();
        assert_eq!(fs::read_to_string(d.join("dst/sm/client1")).unwrap(), "old");
        assert_eq!(fs::read_to_string(d.join("dst/state")).unwrap(), "s");
        copy_tree(&d.join("src"), &d.join("dst"), true).unwrap();
        assert_eq!(fs::read_to_string(d.join("dst/sm/client1")).unwrap(), "new");
        fs::remove_dir_all(&d).unwrap();
    }
}
