//! ocf:ferro:Filesystem — mount a filesystem, check it, and make sure it comes off again.
//!
//! Drop-in for ocf:heartbeat:Filesystem: same parameters, defaults and exit codes in the same
//! situations. Deliberate differences (each with a test in tests/filesystem.rs):
//! - the mount table is one consistent read of /proc/self/mountinfo (PR#1337), and depth-0
//!   monitor and the stop of an idle filesystem start no process (#1907);
//! - holders are matched by mount id, never by path or device, so a bind mount of a busy
//!   filesystem (or of /) only costs the processes that use the bind mount (#1304);
//! - a failing stat/readlink never reads as "not mounted" (#1325);
//! - every I/O that can hang (mount, the depth 10/20 checks) runs bounded by the deadline;
//! - another device on the mount point is OCF_ERR_GENERIC on start and monitor (the reference
//!   says OCF_ERR_CONFIGURED, which bans the resource from every node for a local condition;
//!   resource-agents 4.12 even reports it as running), and only what provably is another
//!   device counts as one (device numbers, btrfs membership; never names);
//! - a directory with `..` or resolving to / is OCF_ERR_CONFIGURED, on stop too;
//! - depth 20 on a mount configured read-only reads instead of failing to write the status file;
//! - users of the mount in other mount namespaces are found (propagated copies) and private
//!   copies there are unmounted too, so the device is really free after stop (#1426);
//! - stop and probes judge only device and directory (the rest falls back to the defaults);
//!   stop with an unusable one succeeds, unless the mount point is mounted.

use crate::ocf::Agent;
use crate::ocf::{Ctx, Deadline, OcfCode, OcfContext};
use crate::ocf_bail;
use crate::sys::blockdev::{self, Device};
use crate::sys::command;
use crate::sys::mount;
use crate::sys::mountinfo::{has_option, Mount, MountTable};
use crate::sys::procs;
use anyhow::Result;
use nix::errno::Errno;
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod config;

use config::{
    cluster_safe, directory_leniently, fsck_skipped, Config, Fsck, NETWORK, NEVER_CLONED,
};

pub struct Filesystem;

/// fast_stop=yes gives up after this long, whatever the operation timeout.
const FAST_STOP: Duration = Duration::from_secs(6);
/// How long start waits for a missing device to appear (udev, multipath, DRBD promote).
const DEVICE_WAIT: Duration = Duration::from_secs(5);

/// What is mounted at the mount point.
enum State {
    Unmounted,
    /// Ours: the configured device (or, where that cannot be told, whatever is there).
    Mounted(Mount),
    /// Something else is mounted there.
    Other(Mount),
}

/// The mount point as mountinfo names it, resolved once: the lexical form if it is mounted
/// (that needs no syscall on the mounted filesystem, which may be dead (hard NFS) or failing
/// (EIO)), else the canonical path; for a directory start has still to create, the canonical
/// path of its deepest existing ancestor with the rest appended (`/var/run/x` is `/run/x`
/// where /var/run -> /run: the kernel lists the mount there). Whatever resolves to / is
/// refused: stop would otherwise unmount below / and kill its users.
fn mount_point(cfg: &Config, table: &MountTable, d: &Deadline) -> Result<PathBuf> {
    let mp = if table.at(&cfg.directory).is_some() {
        cfg.directory.clone()
    } else {
        canonical_mount_point(&cfg.directory, d)?
    };
    if mp == Path::new("/") {
        ocf_bail!(
            ErrConfigured,
            "parameter directory: {} is / (or leads there), which cannot be managed in a cluster",
            cfg.directory.display()
        );
    }
    Ok(mp)
}

fn canonical_mount_point(dir: &Path, d: &Deadline) -> Result<PathBuf> {
    // Bounded: a component on a dead mount never answers.
    command::canonicalize_planned(dir, &d.portion(0.5))?.with_ocf(OcfCode::ErrGeneric, || {
        // #1325: EIO here says nothing about whether it is mounted; never read it as "not".
        format!(
            "Could not canonicalize {} because readlink failed",
            dir.display()
        )
    })
}

/// The configured device's node, when it can be had without starting a process.
fn device_node(cfg: &Config, may_spawn: bool, deadline: &Deadline) -> Result<Option<PathBuf>> {
    Ok(match &cfg.device {
        Device::Path(p) => Some(p.clone()),
        Device::Tag(t, v) => blockdev::resolve_tag(t, v, may_spawn, deadline)?,
        Device::Other(_) => None,
    })
}

fn state(cfg: &Config, table: &MountTable, mp: &Path, deadline: &Deadline) -> Result<State> {
    let Some(m) = table.at(mp) else {
        return Ok(State::Unmounted);
    };
    let m = m.clone();
    if !cfg.blockdevice && !matches!(cfg.device, Device::Tag(..)) {
        // NFS, CIFS, bind mounts, pseudo filesystems: the mount point is the identity.
        return Ok(State::Mounted(m));
    }
    let Some(dev) = device_node(cfg, false, deadline)? else {
        return Ok(State::Mounted(m));
    };
    if provably_other(&dev, &m)? {
        Ok(State::Other(m))
    } else {
        Ok(State::Mounted(m))
    }
}

/// Whether what is mounted is provably not the configured device: its node is present and
/// has other device numbers than the mount's real (non-zero major) ones. Names prove nothing:
/// mountinfo lists one member of a multi-device btrfs, under an anonymous device number, and
/// a by-id link may be gone while its filesystem is still mounted. Taking ours for another's
/// made start fail its own check and stop report success with the filesystem mounted, for the
/// peer to mount it too.
fn provably_other(dev: &Path, m: &Mount) -> Result<bool> {
    let ours = match blockdev::rdev(dev) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(e).with_ocf(OcfCode::ErrGeneric, || {
                format!("Could not stat device {}", dev.display())
            })
        }
    };
    let mounted = (m.major, m.minor);
    if ours == mounted || ours.0 == 0 {
        return Ok(false);
    }
    if mounted.0 != 0 {
        return Ok(true);
    }
    // An anonymous device number (btrfs): the filesystem's members tell, where known.
    let Ok(source) = blockdev::rdev(Path::new(&m.source)) else {
        return Ok(false);
    };
    if source == ours || source.0 == 0 {
        return Ok(false);
    }
    Ok(
        match (blockdev::btrfs_fsid(ours), blockdev::btrfs_fsid(source)) {
            (Some(a), Some(b)) => a != b,
            // Our device is no btrfs member, while the mounted filesystem's device is another one.
            (None, Some(_)) => true,
            _ => false,
        },
    )
}

fn another_device(m: &Mount, mp: &Path) -> String {
    format!(
        "Another device ({}) is already mounted on {}",
        m.source.to_string_lossy(),
        mp.display()
    )
}

impl Agent for Filesystem {
    fn name(&self) -> &'static str {
        "Filesystem"
    }

    fn metadata_xml(&self) -> &'static str {
        include_str!("../../../ocf-metadata/Filesystem.xml")
    }

    fn identity(&self) -> &'static [&'static str] {
        &["device", "directory"]
    }

    fn validate(&self, ctx: &Ctx) -> Result<()> {
        let cfg = Config::from(ctx)?;
        mount_point(&cfg, &MountTable::read()?, &ctx.deadline)?;
        let level = ctx.env.check_level()?;
        if ![0, 10, 20].contains(&level) {
            ocf_bail!(ErrConfigured, "unsupported monitor level {level}");
        }
        fstype_supported(&cfg.fstype, None)
    }

    fn start(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::from(ctx)?;
        let d = &ctx.deadline;
        refuse_unsafe_clone(ctx, &cfg)?;
        tracing::info!(
            "Running start for {} on {}",
            cfg.device_param,
            cfg.directory.display()
        );

        let table = MountTable::read()?;
        let mp = mount_point(&cfg, &table, d)?;
        match state(&cfg, &table, &mp, d)? {
            State::Mounted(_) => {
                tracing::info!("Filesystem {} is already mounted.", mp.display());
                return Ok(OcfCode::Success);
            }
            State::Other(m) => ocf_bail!(ErrGeneric, "{}", another_device(&m, &mp)),
            State::Unmounted => {}
        }
        if !table.below(&mp).is_empty() {
            // Mounting on top would hide them, and stop would then unmount them.
            ocf_bail!(
                ErrConfigured,
                "There is one or more mounts mounted under {}.",
                mp.display()
            );
        }
        fstype_supported(&cfg.fstype, Some(d))?;

        let source = wait_for_device(&cfg, d)?;
        if cfg.blockdevice && fsck_needed(&cfg) {
            if let Some(dev) = &source {
                run_fsck(&cfg, dev, d)?;
            }
        }
        if !mp.is_dir() {
            if let Err(e) = std::fs::create_dir_all(&mp) {
                tracing::warn!("mkdir -p {}: {e}", mp.display());
            }
        }
        if !mp.is_dir() {
            ocf_bail!(
                ErrInstalled,
                "Couldn't find directory [{}] to use as a mount point",
                mp.display()
            );
        }
        if cfg.blockdevice {
            if let Some(dev) = &source {
                blockdev::flush_buffers(dev, d);
            }
        }
        do_mount(&cfg, source.as_deref(), &mp, d).with_ocf(OcfCode::ErrGeneric, || {
            format!(
                "Couldn't mount device [{}] as {}",
                cfg.device_param,
                mp.display()
            )
        })?;

        match state(&cfg, &MountTable::read()?, &mp, d)? {
            State::Mounted(_) => Ok(OcfCode::Success),
            State::Other(m) => ocf_bail!(ErrGeneric, "{}", another_device(&m, &mp)),
            State::Unmounted => ocf_bail!(
                ErrGeneric,
                "mount of {} reported success but it is not mounted",
                mp.display()
            ),
        }
    }

    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::from(ctx)?;
        let d = &ctx.deadline;
        let table = MountTable::read()?;
        let mp = match mount_point(&cfg, &table, d) {
            // A probe of / (where it cannot run): not running here.
            Err(e) if ctx.env.is_probe() && crate::ocf::code_of(&e) == OcfCode::ErrConfigured => {
                tracing::info!("{e:#}");
                return Ok(OcfCode::NotRunning);
            }
            r => r?,
        };
        let m = match state(&cfg, &table, &mp, d)? {
            State::Unmounted => return Ok(OcfCode::NotRunning),
            State::Other(m) if ctx.env.is_probe() => {
                tracing::debug!("{}", another_device(&m, &mp));
                return Ok(OcfCode::NotRunning);
            }
            State::Other(m) => ocf_bail!(ErrGeneric, "{}", another_device(&m, &mp)),
            State::Mounted(m) => m,
        };
        match ctx.env.check_level()? {
            0 => {}
            10 => check_device(&cfg, &m, d)?,
            20 => check_status_file(ctx, &cfg, &m, &mp, d)?,
            level => ocf_bail!(ErrConfigured, "unsupported monitor level {level}"),
        }
        Ok(OcfCode::Success)
    }

    fn stop(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = match Config::from(ctx) {
            Ok(c) => c,
            // Only device and directory are judged here (the others fell back to their
            // defaults). Unusable, they were never mounted by us, and failing stop would
            // fence; unless the mount point is mounted (parameters changed while running):
            // calling that stopped would let another node mount the filesystem too.
            // A directory that leads to / is refused, never unmounted.
            Err(e) if crate::ocf::code_of(&e) == OcfCode::ErrConfigured => {
                if let Some(dir) = directory_leniently(ctx.params.str("directory"), &ctx.deadline) {
                    if MountTable::read()?.at(&dir).is_some() {
                        return Err(e);
                    }
                }
                tracing::warn!("{e:#}: nothing of ours can be mounted");
                return Ok(OcfCode::Success);
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            "Running stop for {} on {}",
            cfg.device_param,
            cfg.directory.display()
        );
        let d = &ctx.deadline;
        let table = MountTable::read()?;
        let mp = mount_point(&cfg, &table, d)?;
        let m = match state(&cfg, &table, &mp, d).or_else(|e| {
            // #1325: a device node that cannot be read says nothing about the mount on our
            // mount point; stop unmounts it rather than fail (and fence) or call it stopped.
            tracing::warn!("{e:#}; unmounting {} anyway", mp.display());
            Ok::<_, anyhow::Error>(
                table
                    .at(&mp)
                    .cloned()
                    .map_or(State::Unmounted, State::Mounted),
            )
        })? {
            State::Unmounted => return Ok(OcfCode::Success),
            State::Other(m) => {
                tracing::info!("{}; not ours, leaving it", another_device(&m, &mp));
                return Ok(OcfCode::Success);
            }
            State::Mounted(m) => m,
        };
        if ctx.env.check_level().unwrap_or(0) == 20 {
            let f = cfg.status_file.clone();
            let r = command::bounded(
                "remove the status file",
                &d.within(Duration::from_secs(2)),
                move || {
                    std::fs::remove_file(&f)
                        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(5)))
                },
            );
            if !matches!(r, Ok(Ok(()))) {
                tracing::warn!(
                    "Failed to remove status file {}.",
                    cfg.status_file.display()
                );
            }
        }

        // Submounts first (deepest first), then other mounts of the same device (bind mounts
        // of it elsewhere), then the mount point itself.
        let mut targets: Vec<PathBuf> = table
            .below(&mp)
            .iter()
            .map(|s| s.mount_point.clone())
            .collect();
        if !cfg.opts.bind && m.major != 0 {
            let mut binds: Vec<PathBuf> = table
                .mounts
                .iter()
                .filter(|o| (o.major, o.minor) == (m.major, m.minor))
                .map(|o| o.mount_point.clone())
                .filter(|p| p != &mp && !p.starts_with(&mp))
                .collect();
            binds.sort_by(|a, b| b.cmp(a));
            binds.dedup();
            targets.extend(binds);
        }
        targets.push(mp.clone());

        let budget = if cfg.fast_stop {
            d.within(FAST_STOP)
        } else {
            *d
        };
        let mut failure = None;
        for t in &targets {
            tracing::info!("Trying to unmount {}", t.display());
            if let Err(e) = unmount(&cfg, t, &budget) {
                tracing::error!("{e:#}");
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if cfg.blockdevice {
            // The node the kernel mounted (a tag, a symlink) has the same device numbers.
            let source = PathBuf::from(&m.source);
            let dev = Some(source)
                .filter(|s| blockdev::rdev(s).is_ok_and(|r| r == (m.major, m.minor)))
                .or(device_node(&cfg, false, d)?);
            if let Some(dev) = dev {
                if blockdev::claimed(&dev) {
                    release_other_namespaces(&cfg, &dev, (m.major, m.minor), &budget)?;
                }
                blockdev::flush_buffers(&dev, d);
            }
        }
        Ok(OcfCode::Success)
    }
}

/// The reference's CLUSTERSAFE: local journalling filesystems are destroyed by a second
/// mounter, so cloning them needs force_clones.
fn refuse_unsafe_clone(ctx: &Ctx, cfg: &Config) -> Result<()> {
    if !ctx.env.is_clone() {
        return Ok(());
    }
    let fs = cfg.fstype.as_str();
    let safe = if cluster_safe(fs) {
        1
    } else if NEVER_CLONED.contains(&fs) {
        if cfg.force_clones {
            2
        } else {
            0
        }
    } else if has_option(&cfg.options, "ro") {
        2
    } else {
        0
    };
    match safe {
        0 => {
            tracing::error!(
                "DO NOT RUN IT AS A CLONE! Politely refusing to proceed to avoid data corruption."
            );
            ocf_bail!(
                ErrConfigured,
                "DANGER! {fs} on {} is NOT cluster-aware!",
                cfg.device_param
            )
        }
        2 => tracing::warn!(
            "{fs} on {} is NOT cluster-aware! Running it as a clone as configured.",
            cfg.device_param
        ),
        _ => {}
    }
    Ok(())
}

/// Whether the kernel knows the filesystem type; with a deadline, load its module if not.
fn fstype_supported(fstype: &str, modprobe: Option<&Deadline>) -> Result<()> {
    if fstype.is_empty() || fstype == "none" {
        return Ok(());
    }
    let support = match fstype {
        t if t.starts_with("fuse.") => "fuse",
        "glusterfs" | "rozofs" => "fuse",
        "efs" | "aznfs" => "nfs4",
        t => t,
    };
    let known = || {
        std::fs::read_to_string("/proc/filesystems")
            .map(|s| s.lines().any(|l| l.rsplit('\t').next() == Some(support)))
            .unwrap_or(false)
    };
    if known() {
        return Ok(());
    }
    let Some(d) = modprobe else {
        tracing::info!("It seems we do not have {fstype} support");
        return Ok(());
    };
    let loaded = command::run(
        "modprobe",
        &["-q", support],
        &d.within(Duration::from_secs(10)),
    )
    .map(|o| o.success())
    .unwrap_or(false);
    if !loaded {
        ocf_bail!(ErrInstalled, "Couldn't find filesystem {support} in /proc/filesystems and failed to load kernel module");
    }
    // A module can be loaded before it has registered its filesystem.
    if d.within(Duration::from_secs(5))
        .poll(Duration::from_millis(100), || known().then_some(()))
        .is_none()
    {
        ocf_bail!(
            ErrInstalled,
            "Couldn't find filesystem {support} in /proc/filesystems"
        );
    }
    Ok(())
}

/// The mount source: the device node for block devices and tags (waiting a bounded time for
/// it to appear), the directory of a bind mount, None for network sources mount(8) handles.
fn wait_for_device(cfg: &Config, d: &Deadline) -> Result<Option<PathBuf>> {
    let wait = d.within(DEVICE_WAIT.min(d.remaining() / 4));
    match &cfg.device {
        Device::Path(p) if cfg.opts.bind => {
            if !p.exists() {
                ocf_bail!(
                    ErrInstalled,
                    "parameter device: bind mount source {} does not exist",
                    p.display()
                );
            }
            Ok(Some(p.clone()))
        }
        Device::Path(p) if cfg.blockdevice => {
            if p == Path::new("/dev/null") {
                return Ok(Some(p.clone()));
            }
            if wait
                .poll(Duration::from_millis(100), || {
                    blockdev::is_block_device(p).then_some(())
                })
                .is_none()
            {
                ocf_bail!(
                    ErrInstalled,
                    "Couldn't find device [{}]. Expected /dev/??? to exist",
                    p.display()
                );
            }
            Ok(Some(p.clone()))
        }
        Device::Path(p) => Ok(Some(p.clone())),
        Device::Tag(t, v) => {
            let found = wait.poll(Duration::from_millis(250), || {
                blockdev::resolve_tag(t, v, true, &wait).ok().flatten()
            });
            match found {
                Some(p) => Ok(Some(p)),
                None => ocf_bail!(
                    ErrInstalled,
                    "Couldn't find device [{}]: no block device has {t}={v}",
                    cfg.device_param
                ),
            }
        }
        Device::Other(s) if cfg.blockdevice => {
            ocf_bail!(
                ErrInstalled,
                "Couldn't find device [{s}]. Expected /dev/??? to exist"
            )
        }
        Device::Other(_) => Ok(None),
    }
}

fn fsck_needed(cfg: &Config) -> bool {
    match cfg.run_fsck {
        Fsck::Force => true,
        Fsck::No => false,
        Fsck::Auto => !fsck_skipped(&cfg.fstype),
    }
}

fn run_fsck(cfg: &Config, dev: &Path, d: &Deadline) -> Result<()> {
    tracing::info!("Starting filesystem check on {}", dev.display());
    let args: Vec<OsString> = vec![
        "-t".into(),
        cfg.fstype.clone().into(),
        "-p".into(),
        dev.into(),
    ];
    let out = command::run("fsck", &args, d).ocf(
        OcfCode::ErrGeneric,
        format!(
            "Couldn't successfully fsck filesystem for {}",
            dev.display()
        ),
    )?;
    // fsck: 1 = errors corrected, 2 = reboot advised; 4 and up = errors left or fsck failed.
    if out.status.code().map_or(true, |c| c >= 4) {
        ocf_bail!(
            ErrGeneric,
            "Couldn't successfully fsck filesystem for {}: {} {}",
            dev.display(),
            out.describe(),
            out.last_line()
        );
    }
    Ok(())
}

/// Whether mount(2) does all mount(8) would: bind mounts, and local block filesystems that have
/// no mount.<type> helper and no option only libmount understands (loop, X-mount.*, …).
fn mount_syscall_will_do(cfg: &Config) -> bool {
    !cfg.opts.needs_mount_command
        && (cfg.opts.bind
            || (cfg.blockdevice && cfg.fstype != "none" && !mount::has_helper(&cfg.fstype)))
}

/// mount(2) where the kernel needs nothing else; mount(8) where a helper or libmount is needed.
fn do_mount(cfg: &Config, source: Option<&Path>, mp: &Path, d: &Deadline) -> Result<()> {
    let fstype = (!cfg.fstype.is_empty() && cfg.fstype != "none").then_some(cfg.fstype.as_str());
    let syscall = source.is_some() && mount_syscall_will_do(cfg);
    match source {
        Some(src) if syscall => {
            tracing::info!(
                "mounting {} on {} ({})",
                src.display(),
                mp.display(),
                cfg.fstype
            );
            mount::mount_syscall(
                src,
                mp,
                if cfg.opts.bind { None } else { fstype },
                &cfg.opts,
                d,
            )?;
        }
        _ => {
            let args = match source {
                Some(p) if !cfg.opts.bind || cfg.opts.needs_mount_command => {
                    vec![p.as_os_str().to_owned()]
                }
                _ => cfg.device.mount_args(),
            };
            let opts = (!cfg.options.is_empty()).then_some(cfg.options.as_str());
            mount::mount_command(
                &args,
                mp,
                if cfg.opts.bind { None } else { fstype },
                opts,
                d,
            )?;
        }
    }
    // The bind itself ignores per-mount flags: "bind,ro" needs the remount mount(8) would do.
    let flags = cfg.opts.bind_remount_flags();
    if cfg.opts.bind && !flags.is_empty() {
        mount::remount_bind(mp, flags, d)?;
    }
    Ok(())
}

fn check_device(cfg: &Config, m: &Mount, d: &Deadline) -> Result<()> {
    if !cfg.blockdevice {
        tracing::warn!(
            "{} is not a block device, monitor 10 is noop",
            cfg.device_param
        );
        return Ok(());
    }
    let dev = device_node(cfg, false, d)?.unwrap_or_else(|| PathBuf::from(&m.source));
    blockdev::read_direct(&dev, d).ocf(
        OcfCode::ErrGeneric,
        format!("Failed to read device {}", dev.display()),
    )
}

fn check_status_file(ctx: &Ctx, cfg: &Config, m: &Mount, mp: &Path, d: &Deadline) -> Result<()> {
    if has_option(&cfg.options, "ro") {
        // Configured read-only: nothing can be written (the reference fails here forever);
        // an uncached read still proves the storage answers.
        tracing::info!(
            "{} is configured read-only: reading instead of writing the status file",
            mp.display()
        );
        if cfg.blockdevice {
            return check_device(cfg, m, d);
        }
        return blockdev::read_dir_bounded(mp, d)
            .ocf(OcfCode::ErrGeneric, format!("Cannot read {}", mp.display()));
    }
    if m.read_only() {
        // What ext4 errors=remount-ro and XFS after a metadata error leave behind.
        ocf_bail!(
            ErrGeneric,
            "{} is mounted read-only but configured read-write (remounted after I/O errors?)",
            mp.display()
        );
    }
    let content = format!("{}\n", ctx.env.instance());
    blockdev::status_file_check(&cfg.status_file, &content, cfg.blockdevice, d).ocf(
        OcfCode::ErrGeneric,
        format!("Failed to write status file {}", cfg.status_file.display()),
    )
}

/// One umount(2): true when the mount point is unmounted (or was gone), false while it is busy.
fn umount_unless_busy(
    cfg: &Config,
    target: &Path,
    force: bool,
    attempt: &Deadline,
    budget: &Deadline,
) -> Result<bool> {
    match try_umount(target, force, attempt)? {
        Ok(()) => still_mounted_after(target, cfg, budget).map(|()| true),
        Err(e) if mount::gone(e) => Ok(true),
        Err(Errno::EBUSY) => Ok(false),
        Err(e) => Err(e).with_ocf(OcfCode::ErrGeneric, || {
            format!("Couldn't unmount {}", target.display())
        }),
    }
}

/// Unmount one mount point: a plain umount first; only if busy, signal the processes using it,
/// term_signals for half of the remaining time, then kill_signals, signal_delay apart.
fn unmount(cfg: &Config, target: &Path, budget: &Deadline) -> Result<()> {
    if umount_unless_busy(cfg, target, false, &budget.portion(0.5), budget)? {
        return Ok(());
    }
    tracing::info!("{} is busy", target.display());
    let force = NETWORK.contains(&cfg.fstype.as_str());
    let protected = procs::ancestors();
    let term = budget.portion(0.5);
    let mut last_holders = String::new();
    let mut spared_holders = String::new();
    for (signals, phase, force) in [
        (&cfg.term_signals, term, false),
        (&cfg.kill_signals, *budget, force),
    ] {
        while !phase.expired() {
            let table = MountTable::read()?;
            let Some(m) = table.at(target) else {
                return Ok(());
            };
            let mut ids: HashSet<u64> = table.with_descendants(m.id).into_iter().collect();
            let mut devs: HashSet<(u32, u32)> = table
                .mounts
                .iter()
                .filter(|x| ids.contains(&x.id))
                .map(|x| (x.major, x.minor))
                .collect();
            if let Some(group) = m.shared {
                ids.extend(procs::propagated_copies(group, (m.major, m.minor), &phase));
                devs.insert((m.major, m.minor));
            }
            let mut signalled = false;
            if cfg.kill {
                let (holders, spared) = procs::holders_and_spared(&ids, &devs, &protected, &phase)?;
                if !spared.is_empty() {
                    spared_holders = procs::describe(&spared);
                }
                if holders.is_empty() {
                    tracing::info!("No processes on {} were signalled.", target.display());
                } else {
                    last_holders = signal_all(&holders, signals)?;
                    signalled = true;
                }
            }
            // Give them signal_delay to go, unmounting as soon as they have.
            let wait = phase.within(if signalled {
                cfg.signal_delay
            } else {
                Duration::from_millis(500)
            });
            loop {
                if umount_unless_busy(cfg, target, force, &phase, budget)? {
                    return Ok(());
                }
                if !wait.sleep(Duration::from_millis(50)) || wait.expired() {
                    break;
                }
            }
        }
    }
    let held = if !spared_holders.is_empty() {
        format!("used by the cluster stack, which is never signalled: {spared_holders}")
    } else if last_holders.is_empty() {
        if cfg.kill {
            "no process found using it".to_owned()
        } else {
            "force_unmount is false".to_owned()
        }
    } else {
        format!("last used by {last_holders}")
    };
    ocf_bail!(
        ErrGeneric,
        "Couldn't unmount {} within {:.0}s: still busy ({held})",
        target.display(),
        budget.elapsed().as_secs_f64()
    )
}

/// Unmounted here, the filesystem can live on in another mount namespace that got a private
/// copy of the mount (a container, a service with PrivateTmp, a VM's namespace): the device
/// stays claimed, and the next layer (DRBD demote) or another node's mount would fail or
/// corrupt it. Unmount it there too, stopping its users there as here. The reference
/// reports success in this case.
fn release_other_namespaces(
    cfg: &Config,
    dev: &Path,
    numbers: (u32, u32),
    budget: &Deadline,
) -> Result<()> {
    let protected = procs::ancestors();
    let term = budget.portion(0.5);
    let mut last = String::new();
    for (signals, phase) in [(&cfg.term_signals, term), (&cfg.kill_signals, *budget)] {
        while !phase.expired() {
            let spaces = procs::namespaces_with(numbers, &phase);
            if spaces.is_empty() {
                if blockdev::claimed(dev) {
                    tracing::warn!(
                        "{} is still in use, but not mounted in any mount namespace",
                        dev.display()
                    );
                }
                return Ok(());
            }
            let mut busy: HashSet<u64> = HashSet::new();
            for (pid, table) in &spaces {
                let mut mine: Vec<&Mount> = table
                    .mounts
                    .iter()
                    .filter(|m| (m.major, m.minor) == numbers)
                    .collect();
                mine.sort_by(|a, b| b.mount_point.cmp(&a.mount_point));
                for m in mine {
                    tracing::info!(
                        "{} is still mounted on {} in the mount namespace of {} [{pid}]",
                        dev.display(),
                        m.mount_point.display(),
                        procs::comm(*pid)
                    );
                    match mount::umount_in_namespace(*pid, &m.mount_point, false, &phase)? {
                        Ok(()) => {}
                        Err(e) if mount::gone(e) => {}
                        Err(_) => busy.extend(table.with_descendants(m.id)),
                    }
                }
            }
            if busy.is_empty() {
                continue;
            }
            let mut signalled = false;
            if cfg.kill {
                let holders = procs::holders(&busy, &HashSet::from([numbers]), &protected, &phase)?;
                if !holders.is_empty() {
                    last = signal_all(&holders, signals)?;
                    signalled = true;
                }
            }
            phase.sleep(if signalled {
                cfg.signal_delay
            } else {
                Duration::from_millis(200)
            });
        }
    }
    ocf_bail!(
        ErrGeneric,
        "Couldn't unmount {} in other mount namespaces within {:.0}s{}",
        dev.display(),
        budget.elapsed().as_secs_f64(),
        if last.is_empty() {
            String::new()
        } else {
            format!(": still used by {last}")
        }
    )
}

/// Send each of `signals` to every holder; what they are, for the reason of a failure.
fn signal_all(holders: &[procs::Holder], signals: &[procs::Sig]) -> Result<String> {
    let who = procs::describe(holders);
    for sig in signals {
        tracing::info!("sending signal {sig} to: {who}");
        for h in holders {
            procs::signal(h.pid, *sig)?;
        }
    }
    Ok(who)
}

/// umount2 in a bounded child (a fork, no program): a network filesystem's unmount may wait
/// for a server that is gone, a local one's for writeback to a dead disk.
/// An unmount that did not finish in time counts as busy: the kill phase retries with
/// MNT_FORCE, which aborts the requests to a network server.
fn try_umount(target: &Path, force: bool, d: &Deadline) -> Result<nix::Result<()>> {
    let what = format!("unmount {}", target.display());
    match command::bounded(&what, d, || mount::umount(target, force)) {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::warn!("{e:#}");
            Ok(Err(Errno::EBUSY))
        }
    }
}

/// umount2 took the top mount; another one may have been stacked below it.
fn still_mounted_after(target: &Path, cfg: &Config, budget: &Deadline) -> Result<()> {
    if MountTable::read()?.at(target).is_some() {
        if budget.expired() {
            ocf_bail!(
                ErrGeneric,
                "Couldn't unmount {}: still mounted",
                target.display()
            );
        }
        return unmount(cfg, target, budget);
    }
    tracing::info!("unmounted {} successfully", target.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::{Action, Metadata, OcfEnv, Params};

    fn ctx(params: &[(&str, &str)], extra: &[(&str, &str)]) -> Result<Ctx> {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
            .collect();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = OcfEnv::from_pairs(pairs);
        let metadata = Metadata::parse(Filesystem.metadata_xml())?;
        let params = Params::resolve(&metadata, &env)?;
        Ok(Ctx {
            action: Action::Start,
            env,
            params,
            deadline: Deadline::after(Duration::from_secs(5)),
            metadata,
        })
    }

    fn config(params: &[(&str, &str)]) -> Result<Config> {
        let base = [
            ("device", "/dev/loop7"),
            ("directory", "/srv/x"),
            ("fstype", "xfs"),
        ];
        let mut all: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
            .collect();
        all.extend_from_slice(params);
        Config::from(&ctx(&all, &[])?)
    }

    fn configured_error(params: &[(&str, &str)], names: &str) {
        let e = config(params)
            .err()
            .unwrap_or_else(|| panic!("{params:?} accepted"));
        assert_eq!(crate::ocf::code_of(&e), OcfCode::ErrConfigured, "{e:#}");
        assert!(e.to_string().contains(names), "{e:#} should name {names}");
    }

    #[test]
    fn bad_input_is_a_configuration_error_naming_the_parameter() {
        configured_error(&[("directory", "srv/x")], "directory");
        configured_error(&[("directory", " /srv/x")], "directory");
        configured_error(&[("device", "/dev/loop7 ")], "device");
        configured_error(&[("device", "-o remount")], "device");
        configured_error(&[("fstype", "xfs /dev/sdb")], "fstype");
        configured_error(&[("options", "ro /dev/sdb /mnt")], "options");
        configured_error(&[("options", "remount,rw")], "options");
        configured_error(&[("force_unmount", "maybe")], "force_unmount");
        configured_error(&[("term_signals", "TERM NOPE")], "term_signals");
        configured_error(&[("kill_signals", "")], "kill_signals");
    }

    #[test]
    fn directory_is_normalized_like_mountinfo() {
        assert_eq!(
            config(&[("directory", "/srv//x/./")]).unwrap().directory,
            Path::new("/srv/x")
        );
        assert_eq!(
            config(&[("directory", "///")]).unwrap().directory,
            Path::new("/")
        );
        configured_error(&[("directory", "/srv/..")], "directory");
        configured_error(&[("directory", "/srv/../x")], "directory");
    }

    #[test]
    fn block_device_decision_matches_the_reference() {
        assert!(config(&[]).unwrap().blockdevice);
        assert!(
            !config(&[("fstype", "nfs4"), ("device", "srv:/x")])
                .unwrap()
                .blockdevice
        );
        assert!(
            !config(&[("fstype", "none"), ("options", "bind"), ("device", "/tmp")])
                .unwrap()
                .blockdevice
        );
        assert!(!config(&[("device", "-L data")]).unwrap().blockdevice);
        assert!(!config(&[("options", "loop")]).unwrap().blockdevice);
    }

    #[test]
    fn mount_syscall_for_block_and_bind_mount_command_for_helpers() {
        assert!(mount_syscall_will_do(&config(&[]).unwrap()));
        assert!(mount_syscall_will_do(
            &config(&[
                ("fstype", "none"),
                ("options", "bind,ro"),
                ("device", "/tmp")
            ])
            .unwrap()
        ));
        for p in [
            [
                ("fstype", "nfs4"),
                ("device", "srv:/x"),
                ("options", "vers=4.2"),
            ],
            [
                ("fstype", "cifs"),
                ("device", "//srv/x"),
                ("options", "guest"),
            ],
            [
                ("fstype", "xfs"),
                ("device", "/srv/img"),
                ("options", "loop"),
            ],
            [
                ("fstype", "fuse.sshfs"),
                ("device", "u@h:/x"),
                ("options", "ro"),
            ],
        ] {
            assert!(!mount_syscall_will_do(&config(&p).unwrap()), "{p:?}");
        }
    }

    #[test]
    fn status_file_name_is_the_references() {
        let c = Config::from(
            &ctx(
                &[
                    ("device", "/dev/x"),
                    ("directory", "/srv/x/"),
                    ("fstype", "xfs"),
                ],
                &[
                    ("OCF_RESOURCE_INSTANCE", "fs1"),
                    ("OCF_RESKEY_CRM_meta_clone", "2"),
                ],
            )
            .unwrap(),
        )
        .unwrap();
        let node = nix::sys::utsname::uname()
            .unwrap()
            .nodename()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            c.status_file,
            PathBuf::from(format!("/srv/x/.Filesystem_status/fs1_2_{node}"))
        );
    }

    #[test]
    fn fsck_only_where_the_reference_runs_it() {
        assert!(!fsck_needed(&config(&[]).unwrap()));
        assert!(fsck_needed(&config(&[("fstype", "ext2")]).unwrap()));
        assert!(fsck_needed(&config(&[("run_fsck", "force")]).unwrap()));
        assert!(!fsck_needed(
            &config(&[("fstype", "ext2"), ("run_fsck", "no")]).unwrap()
        ));
    }

    #[test]
    fn local_filesystems_are_not_cloned_without_force_clones() {
        let clone = [("OCF_RESKEY_CRM_meta_clone_max", "2")];
        let base = [
            ("device", "/dev/x"),
            ("directory", "/srv/x"),
            ("fstype", "xfs"),
        ];
        let c = ctx(&base, &clone).unwrap();
        let e = refuse_unsafe_clone(&c, &Config::from(&c).unwrap()).unwrap_err();
        assert_eq!(crate::ocf::code_of(&e), OcfCode::ErrConfigured);
        let forced = [
            ("device", "/dev/x"),
            ("directory", "/srv/x"),
            ("fstype", "xfs"),
            ("force_clones", "true"),
        ];
        let c = ctx(&forced, &clone).unwrap();
        refuse_unsafe_clone(&c, &Config::from(&c).unwrap()).unwrap();
        let nfs = [
            ("device", "h:/x"),
            ("directory", "/srv/x"),
            ("fstype", "nfs4"),
        ];
        let c = ctx(&nfs, &clone).unwrap();
        refuse_unsafe_clone(&c, &Config::from(&c).unwrap()).unwrap();
    }
}
