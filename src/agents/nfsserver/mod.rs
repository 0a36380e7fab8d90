//! ocf:ferro:nfsserver — the kernel NFS server as a failover resource, drop-in for
//! ocf:heartbeat:nfsserver (same parameters, defaults and exit codes).
//!
//! Two ways to drive the server, detected as the reference does:
//! - systemd (PID 1 is systemd and nfs-server.service is installed): the units nfs-server,
//!   nfs-mountd, nfs-idmapd, rpcbind and rpc-statd (or nfs-lock), started and stopped with
//!   `systemctl`; a monitor is one `systemctl show` for all units plus /proc/fs/nfsd/threads.
//! - an init script (nfs_init_script, or /etc/init.d/{nfsserver,nfs,nfs-kernel-server} when
//!   systemd is not running: containers, init= boots), with rpc.statd run directly.
//!
//! nfs_shared_infodir is bind-mounted on /var/lib/nfs (NFSv4 recovery records, statd's monitor
//! list) while the resource runs.

use crate::ocf::{Ctx, Deadline, OcfCode};
use crate::sys::mountinfo::MountTable;
use crate::sys::{command, mount, nfs, procs, systemd};
use crate::{ocf_bail, ocf_err};
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;
use tracing::{debug, info, warn};

mod config;

use config::*;

pub struct Nfsserver;

impl Nfsserver {
    /// The units a running server needs, in the order a failure is reported.
    fn units(&self, cfg: &Config, lock_unit: &'static str, nfsdcld: bool) -> Vec<&'static str> {
        let mut u = Vec::new();
        if !cfg.nfsv4_only {
            u.push("rpcbind.service");
        }
        // mountd also serves NFSv4 (the kernel's export cache upcalls) and nfs-server requires
        // it, so it is checked in NFSv4-only mode as well.
        u.push("nfs-mountd.service");
        u.push("nfs-idmapd.service");
        if !cfg.nfsv4_only {
            u.push(lock_unit);
        }
        if nfsdcld {
            u.push("nfsdcld.service");
        }
        u
    }

    fn monitor_systemd(&self, ctx: &Ctx, cfg: &Config, lock_unit: &'static str) -> Result<OcfCode> {
        let mut units = vec!["nfs-server.service"];
        units.extend(self.units(cfg, lock_unit, true));
        let states = systemd::show(&units, &ctx.deadline)
            .map_err(|e| e.context(ocf_err!(ErrGeneric, "cannot ask systemd for the NFS units")))?;
        let threads = nfs::nfsd_threads()?;
        let server = &states[0];
        if !server.is_active() {
            if let Some(n) = threads.filter(|n| *n > 0) {
                warn!(
                    "nfsd runs {n} threads although nfs-server.service is {}",
                    server.describe()
                );
            }
            info!("nfs-server.service is {}", server.describe());
            return Ok(OcfCode::NotRunning);
        }
        // systemd cannot see nfsd die: it is kernel threads, the unit a oneshot that remains.
        match threads {
            None => ocf_bail!(
                ErrGeneric,
                "nfs-server.service is active but {}/threads does not exist",
                nfs::NFSD_DIR
            ),
            Some(0) => {
                not_running_reason("nfsd is not running (0 threads)");
                return Ok(OcfCode::NotRunning);
            }
            Some(_) => {}
        }
        for s in &states[1..] {
            // nfsdcld is optional: checked only where it is installed and not masked.
            if s.unit == "nfsdcld.service" && !s.is_loaded() {
                continue;
            }
            if !s.is_active() {
                not_running_reason(&format!(
                    "{} is {}",
                    s.unit.trim_end_matches(".service"),
                    s.describe()
                ));
                return Ok(OcfCode::NotRunning);
            }
        }
        Ok(OcfCode::Success)
    }

    fn monitor_init(&self, ctx: &Ctx, cfg: &Config, script: &Path) -> Result<OcfCode> {
        let out = self.init_script(cfg, script, "status", &ctx.deadline)?;
        match out.status.code() {
            Some(0) => {}
            Some(3) | Some(7) => return Ok(OcfCode::NotRunning),
            _ => ocf_bail!(
                ErrGeneric,
                "{} status failed ({}): {}",
                script.display(),
                out.describe(),
                out.last_line()
            ),
        }
        // Don't report success if the NFS server is up without its locking daemon.
        if !cfg.nfsv4_only && procs::pids_by_comm("rpc.statd").is_empty() {
            ocf_bail!(
                ErrGeneric,
                "NFS server is up, but the locking daemons are down"
            );
        }
        Ok(OcfCode::Success)
    }

    /// The server's state; `Ok(Success)` with `unbound` set when it runs without the shared
    /// directory on /var/lib/nfs (started outside the cluster, e.g. enabled at boot).
    fn status(&self, ctx: &Ctx, cfg: &Config) -> Result<(OcfCode, bool)> {
        let code = match &cfg.mode {
            Mode::Systemd { lock_unit } => self.monitor_systemd(ctx, cfg, lock_unit)?,
            Mode::InitScript(s) => self.monitor_init(ctx, cfg, s)?,
        };
        let unbound = code == OcfCode::Success
            && match &cfg.infodir {
                Some(dir) => !bound(dir)?,
                None => false,
            };
        Ok((code, unbound))
    }

    fn init_script(
        &self,
        cfg: &Config,
        script: &Path,
        verb: &str,
        deadline: &Deadline,
    ) -> Result<command::Output> {
        let mut cmd = command::command(&script.to_string_lossy(), &[verb]);
        if let Some(scope) = cfg.server_scope.clone().filter(|_| verb == "start") {
            // nfsd takes its server scope from the host name of whoever starts it: start the
            // script in its own UTS namespace named after the scope (the reference runs
            // `unshare -u sh -c "hostname $scope; exec $script"`, a shell on a parameter).
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe system calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS)?;
                    // SAFETY: a valid buffer and its length.
                    if nix::libc::sethostname(scope.as_ptr().cast(), scope.len()) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        command::run_cmd(cmd, &script.to_string_lossy(), deadline)
    }

    fn start_systemd(&self, ctx: &Ctx, cfg: &Config, lock_unit: &'static str) -> Result<()> {
        let d = &ctx.deadline;
        let nfsdcld = systemd::unit_file_exists("nfsdcld.service");
        let helpers = self.units(cfg, lock_unit, false);
        systemd::systemctl("start", &helpers, d).map_err(|e| {
            e.context(ocf_err!(
                ErrGeneric,
                "Failed to start NFS server helper services"
            ))
        })?;
        // A failed start fails now. The reference polls each helper unit without a bound, and
        // when nfs-server cannot start systemd stops nfs-idmapd with it: it loops until the
        // operation times out, delaying the failover (the VM lab's nfs-fail: 257 s against 37 s).
        systemd::systemctl("start", &["nfs-server.service"], d)
            .map_err(|e| e.context(ocf_err!(ErrGeneric, "Failed to start NFS server")))?;
        // One look at everything nfs-server pulled in, to name what did not come up.
        let mut all = vec!["nfs-server.service"];
        all.extend(self.units(cfg, lock_unit, nfsdcld));
        for s in systemd::show(&all, d)? {
            if s.unit == "nfsdcld.service" && !s.is_loaded() {
                continue;
            }
            if !s.is_active() {
                ocf_bail!(
                    ErrGeneric,
                    "Failed to start NFS server: {} is {}",
                    s.unit,
                    s.describe()
                );
            }
        }
        Ok(())
    }

    fn start_init(&self, ctx: &Ctx, cfg: &Config, script: &Path) -> Result<()> {
        let d = &ctx.deadline;
        if !cfg.nfsv4_only {
            if procs::pids_by_comm("rpc.statd").is_empty() {
                info!("starting rpc.statd");
                let out = command::run("rpc.statd", &[] as &[&str], d)?;
                if !out.success() {
                    ocf_bail!(
                        ErrGeneric,
                        "Failed to start NFS server locking daemons: rpc.statd: {}",
                        out.last_line()
                    );
                }
            } else {
                info!("rpc.statd already up");
            }
        }
        let out = self.init_script(cfg, script, "start", d)?;
        if !out.success() {
            ocf_bail!(
                ErrGeneric,
                "Failed to start NFS server: {} start ({}): {}",
                script.display(),
                out.describe(),
                out.last_line()
            );
        }
        Ok(())
    }

    /// sm-notify tells NFSv3 clients to reclaim their locks. Bounded (#267: with several
    /// nfs_ip and unreachable clients it retried until the start timed out) and best effort:
    /// the server is up whether or not every client heard of it.
    fn notify_locks(&self, ctx: &Ctx, cfg: &Config) {
        if cfg.no_notify {
            return;
        }
        let opts = notify_options(cfg);
        let runs: Vec<Option<&String>> = if cfg.nfs_ip.is_empty() {
            vec![None]
        } else {
            cfg.nfs_ip.iter().map(Some).collect()
        };
        let n = runs.len() as f64;
        info!("executing sm-notify");
        for (i, ip) in runs.into_iter().enumerate() {
            let mut args = opts.clone();
            if let Some(ip) = ip {
                // Each run consumes the monitor list: give every address the full list.
                let _ = nfs::copy_tree(&cfg.statd_path.join("sm.ha"), &cfg.statd_path, false);
                args.push("-v".into());
                args.push(ip.clone());
            }
            // Share what is left of the start timeout between the addresses still to notify.
            let budget = ctx.deadline.portion(1.0 / (n - i as f64));
            match command::run("sm-notify", &args, &budget) {
                Ok(out) if out.success() => {}
                Ok(out) => warn!("sm-notify {}: {}", out.describe(), out.last_line()),
                Err(e) => warn!("sm-notify: {e:#}; clients may not reclaim their locks"),
            }
        }
    }

    fn stop_systemd(&self, ctx: &Ctx, cfg: &Config, lock_unit: &'static str) -> Result<()> {
        let d = &ctx.deadline;
        systemd::systemctl("stop", &["nfs-server.service"], d)
            .map_err(|e| e.context(ocf_err!(ErrGeneric, "Failed to stop NFS server")))?;
        info!("stop: threads");
        wait_threads_zero(d)?;
        // rpc-statd is stopped in NFSv4-only mode too: with a shared info directory it holds
        // /var/lib/nfs and the unbind fails otherwise (PR#1979).
        let mut units = vec![lock_unit, "rpc-statd-notify.service", "nfs-idmapd.service"];
        if !cfg.nfsv4_only {
            units.push("nfs-mountd.service");
        }
        units.extend(["nfsdcld.service", "rpc-gssd.service"]);
        let states = systemd::show(&units, d)?;
        let present: Vec<&str> = states
            .iter()
            .filter(|s| s.load != "not-found")
            .map(|s| s.unit.as_str())
            .collect();
        // Not fatal yet: the check below names the unit that did not stop.
        if let Err(e) = systemd::systemctl("stop", &present, d) {
            warn!("{e:#}");
        }
        for s in systemd::show(&present, d)? {
            if s.is_active() && s.unit != "rpc-gssd.service" {
                ocf_bail!(
                    ErrGeneric,
                    "Failed to stop {}: it is {}",
                    s.unit.trim_end_matches(".service"),
                    s.describe()
                );
            }
        }
        Ok(())
    }

    fn stop_server(&self, ctx: &Ctx, cfg: &Config) -> Result<()> {
        match &cfg.mode {
            Mode::Systemd { lock_unit } => self.stop_systemd(ctx, cfg, lock_unit)?,
            Mode::InitScript(s) => self.stop_init(ctx, s, cfg)?,
        }
        // sm-notify outlives the server while it retries unreachable clients, and a statd
        // started outside systemd stays too: both keep /var/lib/nfs busy (#122, PR#226/#405).
        stop_processes("sm-notify", &ctx.deadline)?;
        if matches!(cfg.mode, Mode::InitScript(_)) || cfg.infodir.is_some() {
            stop_processes("rpc.statd", &ctx.deadline)?;
        }
        Ok(())
    }

    fn stop_init(&self, ctx: &Ctx, script: &Path, cfg: &Config) -> Result<()> {
        let d = &ctx.deadline;
        let out = self.init_script(cfg, script, "stop", d)?;
        if !out.success() {
            ocf_bail!(
                ErrGeneric,
                "Failed to stop NFS server: {} stop ({}): {}",
                script.display(),
                out.describe(),
                out.last_line()
            );
        }
        // Debian's script stops nfsd by signalling its threads, which 6.x kernels ignore: the
        // server would keep running after a successful stop. `rpc.nfsd 0` is what systemd's
        // nfs-server.service runs.
        let settled = d
            .within(Duration::from_secs(2))
            .poll(Duration::from_millis(200), || {
                matches!(nfs::nfsd_threads(), Ok(None) | Ok(Some(0))).then_some(())
            });
        if settled.is_none() {
            info!(
                "nfsd still runs after {} stop: rpc.nfsd 0",
                script.display()
            );
            let out = command::run("rpc.nfsd", &["0"], d)?;
            if !out.success() {
                warn!("rpc.nfsd 0: {}", out.last_line());
            }
            wait_threads_zero(d)?;
        }
        Ok(())
    }
}

/// sm-notify's options, before the address of each nfs_ip.
fn notify_options(cfg: &Config) -> Vec<String> {
    let mut opts: Vec<String> = Vec::new();
    if cfg.notify_foreground {
        opts.push("-d".into());
    }
    if let Some(m) = cfg.smnotify_retry_time {
        opts.push("-m".into());
        opts.push(m.to_string());
    }
    if let Some(p) = cfg.statd_outgoing_port {
        opts.push("-p".into());
        opts.push(p.to_string());
    }
    // Force notifications even if they went out already on this boot.
    opts.push("-f".into());
    opts
}

/// A monitor that finds the server down says why, as the reference's ocf_exit_reason before
/// returning OCF_NOT_RUNNING does (crm_mon shows it).
fn not_running_reason(msg: &str) {
    info!("{msg}");
    eprintln!("ocf-exit-reason:{msg}");
}

/// Wait for nfsd's threads to end (the reference waits forever, logging an error every second).
fn wait_threads_zero(d: &Deadline) -> Result<()> {
    let done = d.poll(Duration::from_millis(200), || match nfs::nfsd_threads() {
        Ok(None) | Ok(Some(0)) => Some(()),
        _ => None,
    });
    if done.is_none() {
        ocf_bail!(
            ErrGeneric,
            "NFS server failed to stop: {}/threads is still {}",
            nfs::NFSD_DIR,
            nfs::nfsd_threads().ok().flatten().unwrap_or(0)
        );
    }
    Ok(())
}

/// Whether /var/lib/nfs is the bind mount of `infodir`.
fn bound(infodir: &Path) -> Result<bool> {
    let table = MountTable::read()?;
    let Some(m) = table.at(Path::new(VAR_LIB_NFS)) else {
        return Ok(false);
    };
    // The same directory of the same filesystem: compare device and inode, not paths (the
    // mount's root is relative to its filesystem).
    let (a, b) = (fs::metadata(VAR_LIB_NFS), fs::metadata(infodir));
    Ok(match (a, b) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => m.fstype != "rpc_pipefs",
    })
}

fn is_mount_of(path: &Path, fstype: &str) -> Result<bool> {
    Ok(MountTable::read()?
        .at(path)
        .is_some_and(|m| m.fstype == fstype))
}

/// Terminate every process named `comm`: TERM, then KILL, bounded.
fn stop_processes(comm: &str, d: &Deadline) -> Result<()> {
    if procs::pids_by_comm(comm).is_empty() {
        return Ok(());
    }
    info!("stopping {comm} ({:?})", procs::pids_by_comm(comm));
    let survivors = procs::terminate_by_comm(comm, Duration::from_secs(3), d)?;
    if !survivors.is_empty() {
        ocf_bail!(
            ErrGeneric,
            "Failed to stop {comm}: {survivors:?} survived SIGKILL"
        );
    }
    Ok(())
}

/// mkdir -p with a reason.
fn mkdirs(p: &Path) -> Result<()> {
    fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))
}

fn bind_tree(cfg: &Config, d: &Deadline) -> Result<()> {
    let Some(dir) = &cfg.infodir else {
        return Ok(());
    };
    mkdirs(dir)?;
    if bound(dir)? {
        debug!("{} is already bound to {VAR_LIB_NFS}", dir.display());
        return Ok(());
    }
    // A rpc_pipefs below /var/lib/nfs would be hidden by the bind mount: let systemd let go of
    // it first (it is mounted again on top below).
    if matches!(cfg.mode, Mode::Systemd { .. })
        && cfg.pipefs_dir.starts_with(VAR_LIB_NFS)
        && is_mount_of(&cfg.pipefs_dir, "rpc_pipefs")?
    {
        let unit = systemd::mount_unit(&cfg.pipefs_dir.to_string_lossy());
        debug!("stopping {unit} before the bind mount");
        if let Err(e) = systemd::systemctl("stop", &[unit.as_str()], d) {
            warn!("{e:#}");
        }
    }
    mount::mount_syscall(
        dir,
        Path::new(VAR_LIB_NFS),
        None,
        &mount::Options::parse("bind"),
        d,
    )
    .map_err(|e| {
        e.context(ocf_err!(
            ErrGeneric,
            "cannot bind-mount {} on {VAR_LIB_NFS}",
            dir.display()
        ))
    })
}

/// The layout statd and nfsd expect, on the shared directory (now mounted on /var/lib/nfs).
fn prepare_directory(cfg: &Config, statd_owner: Option<(u32, u32)>) -> Result<()> {
    let Some(_) = &cfg.infodir else { return Ok(()) };
    let root = Path::new(VAR_LIB_NFS);
    mkdirs(&root.join("v4recovery"))?;
    // nfsdcld keeps the NFSv4 client records (what v4recovery was) in a database here; without
    // the directory on a fresh shared directory nfsdcld.service fails.
    let cld = root.join("nfsdcld");
    if !cld.exists() {
        mkdirs(&cld)?;
        let _ = fs::set_permissions(&cld, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    }
    let statd = match cfg.statd_subdir() {
        Some(s) => root.join(s),
        None => root.to_owned(),
    };
    for sub in ["sm", "sm.ha", "sm.bak"] {
        mkdirs(&statd.join(sub))?;
        if let Some((u, g)) = statd_owner {
            // rpc.statd drops its privileges to the owner of its directory.
            let _ = std::os::unix::fs::chown(statd.join(sub), Some(u), Some(g));
        }
    }
    for f in ["etab", "xtab", "rmtab"] {
        let p = root.join(f);
        if !p.exists() {
            fs::write(&p, b"").with_context(|| format!("creating {}", p.display()))?;
        }
    }
    // A new statd state number, as the reference does on every start.
    let mut state = [0u8; 4];
    if let Ok(mut r) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = r.read_exact(&mut state);
    }
    let sp = statd.join("state");
    fs::write(&sp, state).with_context(|| format!("writing {}", sp.display()))?;
    if let Some((u, g)) = statd_owner {
        let _ = std::os::unix::fs::chown(&sp, Some(u), Some(g));
    }
    Ok(())
}

/// Sync statd's monitor list with the copy kept across stops: the sm.ha half of the reference's
/// `cp -rpfn sm.ha/* .; rm -rf sm.ha/*; cp -rpf sm sm.bak state sm.ha`.
fn restore_sm(cfg: &Config) {
    let ha = cfg.statd_path.join("sm.ha");
    if ha.is_dir() {
        let _ = nfs::copy_tree(&ha, &cfg.statd_path, false);
    }
    save_sm(cfg);
}

fn save_sm(cfg: &Config) {
    let ha = cfg.statd_path.join("sm.ha");
    if let Ok(rd) = fs::read_dir(&ha) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
    if !cfg.statd_path.exists() {
        return;
    }
    let _ = fs::create_dir_all(&ha);
    for (src, name) in [
        (cfg.statd_path.join("sm"), "sm"),
        (cfg.statd_path.join("sm.bak"), "sm.bak"),
        (Path::new(VAR_LIB_NFS).join("state"), "state"),
    ] {
        if src.exists() {
            let _ = nfs::copy_tree(&src, &ha.join(name), true);
        }
    }
}

/// Mount rpc_pipefs where the daemons expect it, unless it is there.
fn mount_pipefs(cfg: &Config, d: &Deadline) -> Result<()> {
    if is_mount_of(&cfg.pipefs_dir, "rpc_pipefs")? {
        return Ok(());
    }
    mkdirs(&cfg.pipefs_dir)?;
    mount::mount_syscall(
        Path::new("sunrpc"),
        &cfg.pipefs_dir,
        Some("rpc_pipefs"),
        &mount::Options::parse("defaults"),
        d,
    )
    .map_err(|e| {
        e.context(ocf_err!(
            ErrGeneric,
            "cannot mount rpc_pipefs on {}",
            cfg.pipefs_dir.display()
        ))
    })
}

/// Undo bind_tree: rpc_pipefs mounted inside the shared directory first, then the bind mount.
/// Processes still in /var/lib/nfs are named in the failure (#122: sm-notify and rpc.statd are
/// stopped before, they were the usual holders).
fn unbind_tree(cfg: &Config, d: &Deadline) -> Result<()> {
    let Some(dir) = &cfg.infodir else {
        return Ok(());
    };
    if cfg.pipefs_dir.starts_with(VAR_LIB_NFS) {
        let mut tries = 0;
        while is_mount_of(&cfg.pipefs_dir, "rpc_pipefs")? {
            tries += 1;
            info!(
                "stop: umount {} ({tries}/10 attempts)",
                cfg.pipefs_dir.display()
            );
            let _ = mount::umount(&cfg.pipefs_dir, false);
            if tries >= 10 || !d.sleep(Duration::from_millis(500)) {
                break;
            }
        }
        if is_mount_of(&cfg.pipefs_dir, "rpc_pipefs")? {
            ocf_bail!(ErrGeneric, "Failed to unmount {}", cfg.pipefs_dir.display());
        }
    }
    if !bound(dir)? {
        return Ok(());
    }
    let target = Path::new(VAR_LIB_NFS);
    let res = d.poll(Duration::from_millis(200), || {
        match mount::umount(target, false) {
            Ok(()) => Some(Ok(())),
            Err(e) if mount::gone(e) => Some(Ok(())),
            Err(nix::errno::Errno::EBUSY) => None,
            Err(e) => Some(Err(e)),
        }
    });
    match res {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(anyhow::Error::new(e).context(ocf_err!(
            ErrGeneric,
            "Failed to unmount a bind mount: umount {VAR_LIB_NFS}"
        ))),
        None => {
            let table = MountTable::read()?;
            let holders = table
                .at(target)
                .map(|m| {
                    let ids = table.with_descendants(m.id).into_iter().collect();
                    crate::sys::procs::holders(
                        &ids,
                        &Default::default(),
                        &crate::sys::procs::ancestors(),
                        &Deadline::after(Duration::from_secs(2)),
                    )
                    .map(|h| crate::sys::procs::describe(&h))
                    .unwrap_or_default()
                })
                .unwrap_or_default();
            ocf_bail!(
                ErrGeneric,
                "Failed to unmount a bind mount: {VAR_LIB_NFS} is busy{}",
                if holders.is_empty() {
                    String::new()
                } else {
                    format!(" (used by {holders})")
                }
            )
        }
    }
}

const SCOPE_ENV: &str = "/run/sysconfig/nfs-server-scope";
const SCOPE_END: &str = "# END OF DROP-IN FOR NFS SERVER SCOPE";
const SCOPE_DROPIN: &str =
    "/run/systemd/system/nfs-server.service.d/51-resource-agents-unshare-uts.conf";

/// Whether systemd runs nfsd, whichever way the agent drives the server: an init script under
/// systemd (Debian's) only redirects to systemctl, so the scope must be in nfs-server.service.
fn systemd_runs_nfsd() -> bool {
    systemd::booted() && systemd::unit_file_exists("nfs-server.service")
}

/// The reference's systemd drop-in for nfs_server_scope: rpc.nfsd runs in its own UTS
/// namespace named after the scope. The scope (checked to be host name characters) reaches
/// the shell as an argument, never as script text.
fn scope_dropin(scope: &str, d: &Deadline) -> Result<()> {
    mkdirs(Path::new(SCOPE_ENV).parent().unwrap())?;
    fs::write(SCOPE_ENV, format!("NFS_SERVER_SCOPE={scope}\n"))
        .with_context(|| format!("writing {SCOPE_ENV}"))?;
    // Every ExecStart of the unit and the admin's drop-ins, verbatim; ours left out, so that
    // the text is the same on every start and a wrapped command is never wrapped again.
    let cat = systemd::cat("nfs-server.service", d)?;
    let starts = systemd::service_list_setting(&cat, "ExecStart", SCOPE_DROPIN);
    if starts.is_empty() {
        ocf_bail!(
            ErrGeneric,
            "nfs-server.service has no ExecStart to run in the UTS namespace of \
             nfs_server_scope"
        );
    }
    let text = scope_dropin_text(&starts);
    if fs::read_to_string(SCOPE_DROPIN).is_ok_and(|t| t == text) {
        return Ok(());
    }
    mkdirs(Path::new(SCOPE_DROPIN).parent().unwrap())?;
    fs::write(SCOPE_DROPIN, &text).with_context(|| format!("writing {SCOPE_DROPIN}"))?;
    command::run_ok("systemctl", &["daemon-reload"], d)?;
    Ok(())
}

/// The drop-in wrapping each of nfs-server's ExecStart command lines (unit-file syntax, with
/// their `-+!:` prefixes kept in front). `$$` is a literal `$` for systemd: the shell's own
/// "$1"/"$@"; `$NFS_SERVER_SCOPE` is expanded by systemd into one argument.
fn scope_dropin_text(exec_starts: &[String]) -> String {
    let mut t = format!(
        "[Service]\nEnvironmentFile={SCOPE_ENV}\n\
         # reset list of exec start, then re-populate with unshared uts namespace\n\
         ExecStart=\n"
    );
    for line in exec_starts {
        let cmd = line.trim_start_matches(['-', '+', '!', ':', '@', '|']);
        let prefix = &line[..line.len() - cmd.len()];
        t.push_str(&format!(
            "ExecStart={prefix}/usr/bin/unshare --uts /bin/sh -c \
             'hostname \"$$1\" && shift && exec \"$$@\"' nfsd-scope $NFS_SERVER_SCOPE {cmd}\n"
        ));
    }
    t + SCOPE_END + "\n"
}

fn remove_scope_dropin(d: &Deadline) -> Result<()> {
    let _ = fs::remove_file(SCOPE_ENV);
    if Path::new(SCOPE_DROPIN).exists() {
        fs::remove_file(SCOPE_DROPIN).with_context(|| format!("removing {SCOPE_DROPIN}"))?;
        command::run_ok("systemctl", &["daemon-reload"], d)?;
    }
    Ok(())
}

/// Stop where nfs_shared_infodir is unusable: this configuration cannot have started the
/// server, which stop leaves alone; but if nfsd runs or something is mounted on /var/lib/nfs,
/// stop fails rather than call it stopped (the reference fails in any case, and the node is
/// fenced).
fn stop_unidentified(err: anyhow::Error) -> Result<OcfCode> {
    let threads = nfs::nfsd_threads().ok().flatten().unwrap_or(0);
    let mounted = MountTable::read()?
        .at(Path::new(VAR_LIB_NFS))
        .filter(|m| m.fstype != "rpc_pipefs")
        .map(|m| m.source.to_string_lossy().into_owned());
    if threads > 0 || mounted.is_some() {
        return Err(err.context(ocf_err!(
            ErrConfigured,
            "the NFS server is still running here ({}), and this configuration cannot stop it: \
             stop it or fix the configuration",
            match mounted {
                Some(src) => format!("{src} is mounted on {VAR_LIB_NFS}"),
                None => format!("nfsd runs {threads} threads"),
            }
        )));
    }
    info!("{err:#}: the NFS server is not running");
    Ok(OcfCode::Success)
}

impl crate::ocf::Agent for Nfsserver {
    fn name(&self) -> &'static str {
        "nfsserver"
    }

    fn metadata_xml(&self) -> &'static str {
        include_str!("../../../ocf-metadata/nfsserver.xml")
    }

    fn identity(&self) -> &'static [&'static str] {
        &["nfs_shared_infodir"]
    }

    fn validate(&self, ctx: &Ctx) -> Result<()> {
        let cfg = Config::from_ctx(ctx)?;
        refuse_sysconfig_params(ctx)?;
        statd_outgoing_port(ctx)?;
        if !cfg.no_notify && command::find_program("sm-notify").is_none() {
            ocf_bail!(
                ErrInstalled,
                "sm-notify: required binary not installed (nfs-common)"
            );
        }
        if let Some(d) = &cfg.infodir {
            if d.exists() && !d.is_dir() {
                ocf_bail!(
                    ErrConfigured,
                    "parameter nfs_shared_infodir: {} is not a directory",
                    d.display()
                );
            }
        }
        Ok(())
    }

    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::from_ctx(ctx)?;
        let (code, unbound) = self.status(ctx, &cfg)?;
        if unbound {
            // Its state goes to the local /var/lib/nfs and is lost on failover. A probe reports
            // it running so that Pacemaker stops it or restarts it properly.
            let msg = format!(
                "the NFS server runs but nfs_shared_infodir {} is not mounted on {VAR_LIB_NFS}",
                cfg.infodir.as_deref().unwrap_or(Path::new("")).display()
            );
            if !ctx.env.is_probe() {
                ocf_bail!(ErrGeneric, "{msg}");
            }
            warn!("{msg}");
        }
        Ok(code)
    }

    fn start(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::from_ctx(ctx)?;
        self.validate(ctx)?;
        let d = &ctx.deadline;
        match self.status(ctx, &cfg) {
            Ok((OcfCode::Success, false)) => {
                debug!("NFS server is already started");
                return Ok(OcfCode::Success);
            }
            Ok((OcfCode::Success, true)) => {
                warn!("the NFS server runs without nfs_shared_infodir: restarting it");
                self.stop_server(ctx, &cfg)?;
            }
            _ => {}
        }
        // statd's directory owner, from the local /var/lib/nfs before it is covered.
        let statd_owner = fs::metadata(cfg.statd_path.join("sm"))
            .ok()
            .map(|m| (m.uid(), m.gid()));
        bind_tree(&cfg, d)?;
        prepare_directory(&cfg, statd_owner)?;
        mount_pipefs(&cfg, d)?;
        // Let sm-notify run again without a reboot.
        let _ = fs::remove_file("/run/sm-notify.pid");
        restore_sm(&cfg);
        // Under systemd nfsd is started by nfs-server.service even through an init script
        // (Debian's redirects to systemctl): the scope goes into the unit whatever the mode.
        if systemd_runs_nfsd() {
            match &cfg.server_scope {
                Some(scope) => scope_dropin(scope, d)?,
                None => remove_scope_dropin(d)?,
            }
        }
        info!("starting NFS server ...");
        if !Path::new("/sys/module/nfsd").exists() {
            // Loads the module; systemd's proc-fs-nfsd.mount or the init script mounts it.
            let out = command::run("modprobe", &["nfsd"], d)?;
            if !out.success() {
                warn!("modprobe nfsd: {}", out.last_line());
            }
        }
        match &cfg.mode {
            Mode::Systemd { lock_unit } => self.start_systemd(ctx, &cfg, lock_unit)?,
            Mode::InitScript(s) => self.start_init(ctx, &cfg, s)?,
        }
        match nfs::nfsd_threads()? {
            Some(n) if n > 0 => {}
            _ => ocf_bail!(
                ErrGeneric,
                "Failed to start NFS server: {}/threads",
                nfs::NFSD_DIR
            ),
        }
        self.notify_locks(ctx, &cfg);
        info!("NFS server started");
        Ok(OcfCode::Success)
    }

    fn stop(&self, ctx: &Ctx) -> Result<OcfCode> {
        // Only nfs_shared_infodir is judged here (the others fell back to their defaults).
        let cfg = match Config::from_ctx(ctx) {
            Ok(c) => c,
            Err(e) if crate::ocf::code_of(&e) == OcfCode::ErrConfigured => {
                return stop_unidentified(e)
            }
            Err(e) => return Err(e),
        };
        let d = &ctx.deadline;
        info!("stopping NFS server ...");
        // Keep the current monitor list for the next start (here or on the other node).
        save_sm(&cfg);
        self.stop_server(ctx, &cfg)?;
        unbind_tree(&cfg, d)?;
        // As the reference: whatever the mode and the scope, nothing of ours stays in the unit.
        if systemd_runs_nfsd() {
            remove_scope_dropin(d)?;
        }
        info!("NFS server stopped");
        Ok(OcfCode::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::{Action, OcfEnv};
    use std::path::PathBuf;

    fn cfg(params: &[(&str, &str)]) -> Result<Config> {
        let env = OcfEnv::from_pairs(
            params
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        let ctx = crate::ocf::run::prepare(&Nfsserver, Action::ValidateAll, env)?;
        Config::from_ctx(&ctx)
    }

    #[test]
    fn configuration_errors_name_the_parameter() {
        for (k, v) in [
            ("nfs_ip", "10.0.0.1,not-an-ip"),
            ("nfs_shared_infodir", "relative/dir"),
            ("nfs_shared_infodir", "/var/lib/nfs/"),
            ("rpcpipefs_dir", "run/x"),
            ("nfs_server_scope", "a b"),
            ("nfs_server_scope", "x;reboot"),
            ("nfs_smnotify_retry_time", "-1"),
            ("nfsv4_only", "perhaps"),
        ] {
            let e = cfg(&[("nfs_init_script", "/bin/true"), (k, v)]).unwrap_err();
            assert_eq!(
                crate::ocf::code_of(&e),
                OcfCode::ErrConfigured,
                "{k}={v}: {e:#}"
            );
            assert!(format!("{e:#}").contains(k), "{k}: {e:#}");
        }
        let e = cfg(&[("nfs_init_script", "/nonexistent/nfs")]).unwrap_err();
        assert_eq!(crate::ocf::code_of(&e), OcfCode::ErrInstalled);
        assert!(e.to_string().contains("nfs_init_script"));
    }

    #[test]
    fn values_are_parsed() {
        let c = cfg(&[
            ("nfs_init_script", "/bin/true"),
            ("nfs_ip", "192.168.48.200, fd00::200"),
            ("nfs_shared_infodir", "/data/nfsinfo/"),
            ("nfs_smnotify_retry_time", "2"),
            ("rpcpipefs_dir", "/var/lib/nfs/rpc_pipefs/"),
            ("nfs_server_scope", "192.168.48.200"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::InitScript("/bin/true".into()));
        assert_eq!(c.nfs_ip, ["192.168.48.200", "fd00::200"]);
        assert_eq!(c.infodir.as_deref(), Some(Path::new("/data/nfsinfo")));
        assert_eq!(c.smnotify_retry_time, Some(2));
        assert_eq!(c.pipefs_dir, Path::new("/var/lib/nfs/rpc_pipefs"));
        assert!(!c.nfsv4_only && !c.no_notify);
        // Unset, rpcpipefs_dir follows nfs.conf (this host: Debian 12, /run/rpc_pipefs).
        let c = cfg(&[("nfs_init_script", "/bin/true")]).unwrap();
        assert_eq!(c.pipefs_dir, PathBuf::from(nfs::pipefs_directory()));
    }

    #[test]
    fn units_by_mode() {
        let c = cfg(&[("nfs_init_script", "/bin/true")]).unwrap();
        let u = Nfsserver.units(&c, "rpc-statd.service", true);
        assert_eq!(
            u,
            [
                "rpcbind.service",
                "nfs-mountd.service",
                "nfs-idmapd.service",
                "rpc-statd.service",
                "nfsdcld.service"
            ]
        );
        let c = cfg(&[("nfs_init_script", "/bin/true"), ("nfsv4_only", "true")]).unwrap();
        assert_eq!(
            Nfsserver.units(&c, "rpc-statd.service", false),
            ["nfs-mountd.service", "nfs-idmapd.service"]
        );
    }

    #[test]
    fn scope_dropin_keeps_the_scope_out_of_the_script() {
        let t = scope_dropin_text(&["/usr/sbin/rpc.nfsd".to_owned()]);
        assert!(t.contains(
            "ExecStart=\nExecStart=/usr/bin/unshare --uts /bin/sh -c 'hostname \"$$1\" && shift && \
             exec \"$$@\"' nfsd-scope $NFS_SERVER_SCOPE /usr/sbin/rpc.nfsd\n"
        ), "{t}");
        assert!(t.starts_with("[Service]\nEnvironmentFile=/run/sysconfig/nfs-server-scope\n"));
        assert!(t.trim_end().ends_with(SCOPE_END));
    }

    #[test]
    fn sm_notify_options_include_statd_outgoing_port() {
        let c = cfg(&[
            ("nfs_init_script", "/bin/true"),
            ("nfs_smnotify_retry_time", "2"),
            ("statd_outgoing_port", "4001"),
        ])
        .unwrap();
        assert_eq!(notify_options(&c), ["-m", "2", "-p", "4001", "-f"]);
        let c = cfg(&[
            ("nfs_init_script", "/bin/true"),
            ("nfs_notify_foreground", "1"),
        ])
        .unwrap();
        assert_eq!(notify_options(&c), ["-d", "-f"]);
    }

    #[test]
    fn scope_dropin_wraps_every_exec_start_whole() {
        // The reference kept only what `systemctl show` printed after the first argv[]=, up to
        // " ;": Fedora's shell line lost its quoting and was cut, a second command was lost.
        let starts = [
            "/bin/sh -c '/usr/sbin/rpc.nfsd && if systemctl -q is-active gssproxy; then \
             systemctl reload gssproxy ; fi'"
                .to_owned(),
            "-/usr/bin/logger \"nfsd %n up\"".to_owned(),
        ];
        let t = scope_dropin_text(&starts);
        let wrap = "/usr/bin/unshare --uts /bin/sh -c 'hostname \"$$1\" && shift && exec \"$$@\"' \
                    nfsd-scope $NFS_SERVER_SCOPE";
        let lines: Vec<&str> = t.lines().filter(|l| l.starts_with("ExecStart=")).collect();
        assert_eq!(
            lines,
            [
                "ExecStart=".to_owned(),
                format!("ExecStart={wrap} {}", starts[0]),
                format!("ExecStart=-{wrap} /usr/bin/logger \"nfsd %n up\""),
            ]
        );
    }
}
