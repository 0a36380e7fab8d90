//! ocf:ferro:exportfs — exports directories over the kernel NFS server, drop-in for
//! ocf:heartbeat:exportfs (same parameters, defaults and exit codes).
//!
//! - monitor: the export is up when `/var/lib/nfs/etab` lists every directory for the client
//!   *and* the state file `$HA_RSCTMP/<instance>` exists (the reference's ha_pseudo_resource,
//!   PR#821: etab survives a reboot, a probe must not trust it alone). etab is read once per
//!   monitor instead of running and parsing `exportfs` for each directory.
//! - start: `exportfs -v -o <options>,fsid=N <clientspec>:<dir>` per directory (fsid, fsid+1, …
//!   for several), then the rmtab backup is merged back into rmtab.
//! - stop: rmtab backup, `exportfs -v -u`, unlock_filesystem, optional NFSv4 lease wait, and a
//!   bounded flush of the kernel's export cache.

use crate::ocf::{Action, Ctx, Deadline, OcfCode, OcfError};
use crate::sys::command;
use crate::sys::nfs::{self, Export};
use crate::{ocf_bail, ocf_err};
use anyhow::{Context, Result};
use std::fs;
use std::path::Path;
use std::time::Duration;
use tracing::{debug, error, info, warn};

mod config;

use config::*;

pub struct Exportfs;

/// The options passed to `exportfs -o`: the admin's, with any fsid replaced by ours.
fn export_options(options: Option<&str>, fsid: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut placed = false;
    for o in options.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        if o == "fsid" || o.starts_with("fsid=") {
            if !placed {
                out.push(format!("fsid={fsid}"));
                placed = true;
            }
        } else {
            out.push(o.to_owned());
        }
    }
    if !placed {
        out.push(format!("fsid={fsid}"));
    }
    out.join(",")
}

impl Exportfs {
    /// Whether every directory is exported to the client on this boot.
    fn exported(&self, ctx: &Ctx, cfg: &Config) -> Result<bool> {
        if !cfg.state_file.exists() {
            debug!(
                "state file {} absent: not started on this boot",
                cfg.state_file.display()
            );
            return Ok(false);
        }
        let etab = nfs::read_etab()?;
        for dir in &cfg.dirs {
            if !cfg.listed(&etab, dir) {
                if ctx.action == Action::Monitor {
                    if ctx.env.is_probe() {
                        info!("{dir} not exported to {} (stopped)", cfg.client);
                    } else {
                        error!("{dir} not exported to {} (stopped)", cfg.client);
                    }
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Copy the rmtab lines of each directory into its backup file (only when they changed:
    /// a monitor every 10 s need not rewrite a file on the exported filesystem). A missing rmtab
    /// (NFSv4-only servers have none) is not an error and not worth a log line (PR#1828).
    fn backup_rmtab(&self, cfg: &Config, quiet: bool) {
        let Some(rel) = cfg.backup_path() else {
            return;
        };
        let report = |msg: String| {
            if quiet {
                debug!("{msg}")
            } else {
                warn!("{msg}")
            }
        };
        let rmtab = match nfs::read_rmtab_file(&nfs::state_dir(), Path::new("rmtab")) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => return report(format!("rmtab backup: {e:#}")),
        };
        for dir in &cfg.dirs {
            let mut text = nfs::rmtab_entries_for(&rmtab, dir).join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            // Whatever is not a regular file of ours (a client's FIFO or symlink) is replaced.
            let old = nfs::read_rmtab_file(Path::new(dir), rel);
            if old
                .as_ref()
                .is_ok_and(|o| o.as_deref() == Some(text.as_str()))
            {
                continue;
            }
            if let Err(e) = nfs::write_rmtab_file(Path::new(dir), rel, &text) {
                report(format!("rmtab backup: {e:#}"));
            }
        }
    }

    fn restore_rmtab(&self, cfg: &Config) -> Result<()> {
        let Some(rel) = cfg.backup_path() else {
            return Ok(());
        };
        let mut backups = String::new();
        for dir in &cfg.dirs {
            match nfs::read_rmtab_file(Path::new(dir), rel) {
                Ok(Some(t)) => backups.push_str(&t),
                // The first start has no backup yet.
                Ok(None) => info!("rmtab backup {dir}/{} not found", rel.display()),
                Err(e) => warn!("rmtab backup not restored: {e:#}"),
            }
        }
        if backups.trim().is_empty() {
            return Ok(());
        }
        // A missing rmtab is created: the reference's `sort -u backup rmtab` fails on it and
        // silently drops the backup.
        let (state, rmtab) = (nfs::state_dir(), Path::new("rmtab"));
        let current = nfs::read_rmtab_file(&state, rmtab)?.unwrap_or_default();
        let merged = nfs::rmtab_merge(&current, &backups);
        if merged != current {
            nfs::write_rmtab_file(&state, rmtab, &merged)?;
            debug!("restored {} rmtab entries", backups.lines().count());
        }
        Ok(())
    }

    fn exportfs(&self, args: &[&str], deadline: &Deadline) -> Result<command::Output> {
        let out = command::run("exportfs", args, deadline)?;
        for l in out.stdout.lines().chain(out.stderr.lines()) {
            if !l.trim().is_empty() {
                info!("exportfs: {l}");
            }
        }
        Ok(out)
    }

    fn require_exportfs(&self) -> Result<()> {
        if command::find_program("exportfs").is_none() {
            ocf_bail!(
                ErrInstalled,
                "exportfs: required binary not installed (nfs-kernel-server)"
            );
        }
        Ok(())
    }

    fn unlock(&self, dir: &str) {
        // Drops the NLM locks held on the filesystem, so that it can be unmounted and the
        // clients reclaim them on the node taking over.
        let file = Path::new(nfs::NFSD_DIR).join("unlock_filesystem");
        match fs::OpenOptions::new().write(true).open(&file) {
            Ok(mut f) => {
                use std::io::Write;
                // nfsd rejects a write that does not end in a newline (EINVAL).
                match f.write_all(format!("{dir}\n").as_bytes()) {
                    Ok(()) => info!("unlocked NFS export {dir}"),
                    Err(e) => warn!("unable to unlock NFS export {dir}: {e}"),
                }
            }
            Err(e) => warn!(
                "unable to unlock NFS export {dir}: {} not writable ({e})",
                file.display()
            ),
        }
    }

    fn wait_for_leasetime(&self, deadline: &Deadline) {
        let lease = match nfs::nfsd_file("nfsv4leasetime") {
            Ok(Some(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let Some(lease) = lease else {
            warn!(
                "unable to read the NFSv4 lease time from {}/nfsv4leasetime",
                nfs::NFSD_DIR
            );
            return;
        };
        let wait = Duration::from_secs(lease + 2);
        if wait > deadline.remaining() {
            // Bounded by the operation's timeout: a stop that overruns is a failed stop.
            warn!(
                "the NFSv4 lease time is {lease}s but only {:.0}s are left of the stop timeout; \
                 waiting what is left (raise the stop timeout)",
                deadline.remaining().as_secs_f64()
            );
        } else {
            info!(
                "sleeping {}s to accommodate for NFSv4 lease expiry",
                wait.as_secs()
            );
        }
        deadline.sleep(wait);
    }

    /// After unexporting, the kernel may still cache the export (a client raced the flush
    /// exportfs -u does), which keeps the filesystem busy. Flush until no cache entry of ours
    /// remains, bounded: the reference loops forever here (and its fsid regex breaks, #2070).
    fn cleanup_export_cache(&self, cfg: &Config, deadline: &Deadline) {
        let budget = deadline.within(Duration::from_secs(30));
        let ours = |c: &[Export]| {
            c.iter()
                // `# ` lines are entries the kernel no longer serves (expired or negative,
                // re-created by clients that still hold the mount): flushing cannot remove
                // them and they do not export anything.
                .filter(|e| e.valid && cfg.dirs.contains(&e.path) && e.domain_includes(&cfg.client))
                .count()
        };
        let mut tries = 0;
        let left = budget.poll(Duration::from_millis(500), || {
            let cache = nfs::read_export_cache().unwrap_or_default();
            if ours(&cache) == 0 {
                return Some(());
            }
            tries += 1;
            info!("cleanup export cache ... (try {tries})");
            let _ = self.exportfs(&["-f"], &budget);
            None
        });
        if left.is_none() {
            warn!(
                "the kernel still caches exports of {} after {tries} flushes; they expire by \
                 themselves",
                cfg.dirs.join(" ")
            );
        }
    }
}

impl crate::ocf::Agent for Exportfs {
    fn name(&self) -> &'static str {
        "exportfs"
    }

    fn metadata_xml(&self) -> &'static str {
        include_str!("../../../ocf-metadata/exportfs.xml")
    }

    fn identity(&self) -> &'static [&'static str] {
        &["clientspec", "directory"]
    }

    fn validate(&self, ctx: &Ctx) -> Result<()> {
        Config::from_ctx(ctx)?;
        self.require_exportfs()
    }

    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = match Config::from_ctx(ctx) {
            Ok(c) => c,
            // As ocf-rarun's handle_invalid_env: a probe finds it stopped, a recurring monitor
            // of a configuration that cannot work is a failure.
            Err(e) if crate::ocf::code_of(&e) == OcfCode::ErrConfigured => {
                if ctx.env.is_probe() {
                    info!("{e:#}: resource considered stopped");
                    return Ok(OcfCode::NotRunning);
                }
                return Err(e.context(OcfError::new(OcfCode::ErrGeneric, "invalid configuration")));
            }
            Err(e) => return Err(e),
        };
        if !cfg.missing.is_empty() {
            let msg = format!(
                "{} does not exist or is not a directory",
                cfg.missing.join(" ")
            );
            if ctx.env.is_probe() {
                info!("{msg}");
                return Ok(OcfCode::NotRunning);
            }
            return Err(ocf_err!(ErrGeneric, "{msg}"));
        }
        if !self.exported(ctx, &cfg)? {
            return Ok(OcfCode::NotRunning);
        }
        self.backup_rmtab(&cfg, true);
        Ok(OcfCode::Success)
    }

    fn start(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::from_ctx(ctx)?;
        self.require_exportfs()?;
        if self.exported(ctx, &cfg)? {
            debug!("already exported");
            return Ok(OcfCode::Success);
        }
        info!("exporting file system(s) ...");
        let state_dir = cfg.state_file.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(state_dir)
            .and_then(|_| fs::write(&cfg.state_file, b""))
            .with_context(|| format!("creating the state file {}", cfg.state_file.display()))?;
        for (i, dir) in cfg.dirs.iter().enumerate() {
            let opts = export_options(cfg.options.as_deref(), &cfg.fsid_of(i));
            let target = cfg.target(dir);
            let args = ["-v", "-o", opts.as_str(), target.as_str()];
            let out = self.exportfs(&args, &ctx.deadline)?;
            if !out.success() {
                ocf_bail!(
                    ErrGeneric,
                    "exportfs failed - {}: {}",
                    command::display_argv("exportfs", &args),
                    out.last_line()
                );
            }
            info!("directory {dir} exported");
        }
        // Restore the rmtab to ensure smooth NFSv3-over-TCP failover.
        if let Err(e) = self.restore_rmtab(&cfg) {
            warn!("rmtab restore: {e:#}");
        }
        let etab = nfs::read_etab()?;
        if let Some(d) = cfg.dirs.iter().find(|d| !cfg.listed(&etab, d)) {
            ocf_bail!(
                ErrGeneric,
                "exportfs succeeded but {} does not list {d} for {}",
                nfs::state_dir().join("etab").display(),
                cfg.client
            );
        }
        Ok(OcfCode::Success)
    }

    fn stop(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = match Config::from_ctx(ctx) {
            Ok(c) => c,
            // Only clientspec and directory are judged here (the others fell back to their
            // defaults). Unusable, they name no export of ours, unless etab lists one of the
            // directories for one of the clients all the same: then stop fails rather than
            // call it stopped (the reference's handle_invalid_env does not look).
            Err(e) if crate::ocf::code_of(&e) == OcfCode::ErrConfigured => {
                let p = &ctx.params;
                let clients: Vec<String> = p
                    .str("clientspec")
                    .split_whitespace()
                    .map(|c| c.replace(['[', ']'], ""))
                    .collect();
                let dirs: Vec<&str> = p
                    .str("directory")
                    .split_whitespace()
                    .map(|d| {
                        Some(d.trim_end_matches('/'))
                            .filter(|d| !d.is_empty())
                            .unwrap_or("/")
                    })
                    .collect();
                let listed = nfs::read_etab()?.into_iter().find(|x| {
                    dirs.contains(&x.path.as_str())
                        && clients.iter().any(|c| x.client.eq_ignore_ascii_case(c))
                });
                if let Some(x) = listed {
                    return Err(e.context(ocf_err!(
                        ErrConfigured,
                        "{} is still exported to {}, and this configuration cannot unexport it: \
                         unexport it or fix the configuration",
                        x.path,
                        x.client
                    )));
                }
                info!("{e:#}: resource considered stopped");
                return Ok(OcfCode::Success);
            }
            Err(e) => return Err(e),
        };
        // Unexport whatever etab lists for us, state file or not: a stop that leaves an export
        // behind keeps the filesystem busy for the Filesystem resource stopped next.
        let etab = nfs::read_etab()?;
        let listed: Vec<&String> = cfg.dirs.iter().filter(|d| cfg.listed(&etab, d)).collect();
        if listed.is_empty() {
            debug!("not exported");
            remove_state(&cfg)?;
            return Ok(OcfCode::Success);
        }
        info!("un-exporting file system ...");
        self.require_exportfs()?;
        // Back up the rmtab to ensure smooth NFSv3-over-TCP failover.
        self.backup_rmtab(&cfg, false);
        let mut failed = Vec::new();
        for dir in &listed {
            let target = cfg.target(dir);
            match self.exportfs(&["-v", "-u", target.as_str()], &ctx.deadline) {
                Ok(out) if out.success() => {}
                Ok(out) => failed.push(format!("{target}: {}", out.last_line())),
                Err(e) => failed.push(format!("{target}: {e:#}")),
            }
        }
        if cfg.unlock_on_stop {
            for dir in &listed {
                self.unlock(dir);
            }
        }
        if cfg.wait_for_leasetime_on_stop {
            self.wait_for_leasetime(&ctx.deadline);
        }
        let etab = nfs::read_etab()?;
        for dir in &listed {
            if cfg.listed(&etab, dir) && failed.iter().all(|f| !f.contains(dir.as_str())) {
                failed.push(format!("etab still lists {dir} for {}", cfg.client));
            }
        }
        if !failed.is_empty() {
            ocf_bail!(
                ErrGeneric,
                "Failed to un-export file system(s): {}",
                failed.join("; ")
            );
        }
        self.cleanup_export_cache(&cfg, &ctx.deadline);
        remove_state(&cfg)?;
        info!("un-exported file system(s)");
        Ok(OcfCode::Success)
    }
}

fn remove_state(cfg: &Config) -> Result<()> {
    match fs::remove_file(&cfg.state_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the state file {}", cfg.state_file.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsid_replaces_or_is_appended() {
        assert_eq!(export_options(None, "1"), "fsid=1");
        assert_eq!(export_options(Some("rw,sync"), "1"), "rw,sync,fsid=1");
        // The fsid parameter overrides one in options, in its place.
        assert_eq!(
            export_options(Some("rw,fsid=9,sync"), "root"),
            "rw,fsid=root,sync"
        );
        assert_eq!(export_options(Some("fsid=9,rw,fsid=8"), "2"), "fsid=2,rw");
        assert_eq!(export_options(Some(",rw,"), "3"), "rw,fsid=3");
    }

    #[test]
    fn fsid_forms_exportfs_accepts() {
        let fsid = |v: &str, dirs: &str| {
            cfg(
                Action::ValidateAll,
                &[("clientspec", "*"), ("directory", dirs), ("fsid", v)],
            )
        };
        for ok in [
            "0",
            "1",
            "4711",
            "root",
            "0x1f",
            "017",
            "4294967295",
            "0xffffffff",
            "3a1f5e3c-2b9d-4c6e-8f00-112233445566",
            "3a1f5e3c2b9d4c6e8f00112233445566",
        ] {
            assert!(fsid(ok, "/tmp").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "x1",
            "-1",
            "08",
            "3a1f5e3c-2b9d",
            "root2",
            // More than 32 bits: exportfs would keep the low ones (or 0xffffffff).
            "4294967296",
            "0x100000000",
            "12345678901234567890",
            // All digits: a number to exportfs, not a UUID.
            "12345678901234567890123456789012",
        ] {
            let e = fsid(bad, "/tmp").unwrap_err();
            assert_eq!(crate::ocf::code_of(&e), OcfCode::ErrConfigured, "{bad}");
            assert!(e.to_string().contains("fsid"), "{bad}: {e}");
        }
        // The last of several directories gets fsid + n - 1.
        assert!(fsid("4294967294", "/tmp /usr").is_ok());
        assert!(fsid("4294967295", "/tmp /usr").is_err());
        assert_eq!(fsid_number("017"), Some(15));
        assert_eq!(fsid_number("99999999999999999999999"), Some(u64::MAX));
        assert!(is_decimal("12") && !is_decimal("root") && !is_decimal("0x1"));
    }

    fn cfg(action: Action, params: &[(&str, &str)]) -> Result<Config> {
        let env = crate::ocf::OcfEnv::from_pairs(
            params
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
                .chain([
                    ("OCF_RESOURCE_INSTANCE".to_owned(), "exp1".to_owned()),
                    ("HA_RSCTMP".to_owned(), "/run/ferro-test".to_owned()),
                ]),
        );
        let ctx = crate::ocf::run::prepare(&Exportfs, action, env)?;
        Config::from_ctx(&ctx)
    }

    #[test]
    fn ipv6_brackets_are_kept_for_exportfs_and_dropped_for_etab() {
        let c = cfg(
            Action::Start,
            &[
                ("clientspec", "[fd00:48::]/64"),
                ("directory", "/tmp/"),
                ("fsid", "1"),
            ],
        )
        .unwrap();
        assert_eq!(c.client, "fd00:48::/64");
        assert_eq!(c.target("/tmp"), "[fd00:48::]/64:/tmp");
        assert_eq!(c.dirs, ["/tmp"]);
        assert_eq!(c.state_file, Path::new("/run/ferro-test/exp1"));
        // An IPv4 network is used as given.
        let c = cfg(
            Action::Start,
            &[
                ("clientspec", "10.0.0.0/8"),
                ("directory", "/"),
                ("fsid", "root"),
            ],
        )
        .unwrap();
        assert_eq!((c.client.as_str(), c.dirs[0].as_str()), ("10.0.0.0/8", "/"));
    }

    #[test]
    fn several_directories_get_consecutive_fsids() {
        let c = cfg(
            Action::Start,
            &[
                ("clientspec", "*"),
                ("directory", "/tmp /usr//"),
                ("fsid", "7"),
            ],
        )
        .unwrap();
        assert_eq!(c.dirs, ["/tmp", "/usr"]);
        assert_eq!(
            (c.fsid_of(0), c.fsid_of(1)),
            ("7".to_owned(), "8".to_owned())
        );
        let e = cfg(
            Action::Start,
            &[
                ("clientspec", "*"),
                ("directory", "/tmp /usr"),
                ("fsid", "root"),
            ],
        )
        .unwrap_err();
        assert_eq!(crate::ocf::code_of(&e), OcfCode::ErrConfigured);
        assert!(e.to_string().contains("fsid"), "{e}");
    }

    #[test]
    fn configuration_errors_name_the_parameter() {
        let base = [("clientspec", "*"), ("directory", "/tmp"), ("fsid", "1")];
        for (k, v) in [
            ("fsid", "1,2"),
            ("fsid", "abc"),
            ("clientspec", "a b"),
            ("options", "rw, sync"),
            ("directory", "/nonexistent-ferro-exportfs"),
            ("unlock_on_stop", "maybe"),
        ] {
            let mut p: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != k).collect();
            p.push((k, v));
            let e = cfg(Action::ValidateAll, &p).unwrap_err();
            assert_eq!(
                crate::ocf::code_of(&e),
                OcfCode::ErrConfigured,
                "{k}={v}: {e:#}"
            );
            assert!(format!("{e:#}").contains(k), "{k}: {e:#}");
        }
        // A missing directory is tolerated for stop and monitor (the filesystem may be gone).
        let c = cfg(
            Action::Stop,
            &[
                ("clientspec", "*"),
                ("directory", "/nonexistent-ferro-exportfs/"),
                ("fsid", "1"),
            ],
        )
        .unwrap();
        assert_eq!(c.missing, ["/nonexistent-ferro-exportfs"]);
    }

    #[test]
    fn rmtab_backup_none_disables_and_paths_stay_below_the_directory() {
        let c = cfg(
            Action::Start,
            &[
                ("clientspec", "*"),
                ("directory", "/tmp"),
                ("fsid", "1"),
                ("rmtab_backup", "none"),
            ],
        )
        .unwrap();
        assert!(c.backup_path().is_none());
        let c = cfg(
            Action::Start,
            &[
                ("clientspec", "*"),
                ("directory", "/tmp"),
                ("fsid", "1"),
                ("rmtab_backup", "/x/.rmtab"),
            ],
        )
        .unwrap();
        assert_eq!(c.backup_path().unwrap(), Path::new("x/.rmtab"));
        let c = cfg(
            Action::Start,
            &[("clientspec", "*"), ("directory", "/tmp"), ("fsid", "1")],
        )
        .unwrap();
        assert_eq!(c.backup_path().unwrap(), Path::new(".rmtab"));
    }
}
