//! ocf:ferro:Filesystem on real loop devices with real XFS and ext4, as root.
//!
//! Every test builds its own `ffs-*` temp dir with sparse images, loop devices and mounts, and a
//! [`Lab`] guard undoes all of it (processes, mounts, loop devices, files) even when the test
//! fails. Where a bug of the reference agent can be shown on this host, the test runs
//! ocf:heartbeat:Filesystem on the same setup and shows it failing where ours passes.

mod support;

use ferro_ocf::sys::mountinfo::MountTable;
use nix::sys::signal::Signal;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{fuse, have, run_agent, skip, Outcome};

const REFERENCE: &str = "/usr/lib/ocf/resource.d/heartbeat/Filesystem";

/// A temp dir with loop devices, mounts and processes, all undone on drop.
struct Lab {
    dir: PathBuf,
    loops: Vec<String>,
    children: Vec<Child>,
    /// Links made in /dev (and the directories made for them), as udev would make them.
    dev_links: Vec<PathBuf>,
}

impl Lab {
    /// None (and the test is skipped, saying why) when not root or without the tools.
    fn new(test: &str) -> Option<Lab> {
        Lab::with_tools(test, &[])
    }

    /// Lab::new, and these tools besides.
    fn with_tools(test: &str, tools: &[&str]) -> Option<Lab> {
        if !nix::unistd::geteuid().is_root() {
            skip(test, "needs root for loop devices and mounts");
            return None;
        }
        for &tool in ["losetup", "mkfs.ext4", "mkfs.xfs"].iter().chain(tools) {
            if !have(tool) {
                skip(test, &format!("{tool} is not installed"));
                return None;
            }
        }
        let dir = std::env::temp_dir().join(format!("ffs-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Some(Lab {
            dir,
            loops: Vec::new(),
            children: Vec::new(),
            dev_links: Vec::new(),
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn mkdir(&self, rel: &str) -> String {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p.to_str().unwrap().to_owned()
    }

    /// A loop device over a sparse image with a fresh filesystem (xfs needs >= 300 MiB).
    fn disk(&mut self, name: &str, fstype: &str, label: Option<&str>) -> String {
        let dev = self.loop_device(name, if fstype == "xfs" { 320 } else { 32 });
        let mut mkfs = Command::new(format!("mkfs.{fstype}"));
        mkfs.arg("-q");
        if fstype.starts_with("ext") {
            mkfs.arg("-F");
        }
        if let Some(l) = label {
            mkfs.args(["-L", l]);
        }
        let st = mkfs.arg(&dev).stdout(Stdio::null()).status().unwrap();
        assert!(st.success(), "mkfs.{fstype} {dev}");
        dev
    }

    /// An empty loop device over a sparse image of `mib` MiB.
    fn loop_device(&mut self, name: &str, mib: u64) -> String {
        let img = self.path(&format!("{name}.img"));
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(mib << 20).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        self.loops.push(dev.clone());
        dev
    }

    /// Point `/dev/disk/by-uuid/<uuid>` at `dev`, as udev does (this host may run no udev).
    fn udev_uuid_link(&mut self, uuid: &str, dev: &str) {
        let dir = Path::new("/dev/disk/by-uuid");
        for d in [Path::new("/dev/disk"), dir] {
            if std::fs::create_dir(d).is_ok() {
                self.dev_links.push(d.to_owned());
            }
        }
        let link = dir.join(uuid);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dev, &link).unwrap();
        if !self.dev_links.contains(&link) {
            self.dev_links.push(link);
        }
    }

    /// Keep a process for cleanup; returns its pid.
    fn spawn(&mut self, mut cmd: Command) -> i32 {
        // Its own process group, so cleanup also gets what it forks.
        cmd.process_group(0);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    /// `sleep` with its cwd in `dir`.
    fn sleeper_in(&mut self, dir: &str) -> i32 {
        let mut c = Command::new("sleep");
        c.arg("1000").current_dir(dir);
        self.spawn(c)
    }

    /// Whether the process is still alive (reaping it if it died).
    fn alive(&mut self, pid: i32) -> bool {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .expect("our child");
        matches!(c.try_wait(), Ok(None))
    }

    /// Whether the process died (allowing for its exit to finish: it lets go of its files
    /// and cwd a moment before it becomes a zombie).
    fn dead(&mut self, pid: i32) -> bool {
        for _ in 0..500 {
            if !self.alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Wait (briefly) for the processes to be ready: cwd set, files open, mappings made.
    /// Wait until every process is asleep in `sleep`: past its shell's cd, its dynamic
    /// loader's mappings, its exec.
    fn settle(&self) {
        for c in &self.children {
            for _ in 0..1000 {
                let stat =
                    std::fs::read_to_string(format!("/proc/{}/stat", c.id())).unwrap_or_default();
                if stat.is_empty() || stat.contains(") Z") || stat.contains("(sleep) S") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                Signal::SIGKILL,
            );
            let _ = c.kill();
            for _ in 0..100 {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Lazily unmount everything under the dir, deepest first, until nothing is left.
        for _ in 0..10 {
            let Ok(t) = MountTable::read() else { break };
            let mut under: Vec<PathBuf> = t
                .mounts
                .iter()
                .map(|m| m.mount_point.clone())
                .filter(|p| p.starts_with(&self.dir))
                .collect();
            if under.is_empty() {
                break;
            }
            under.sort_by(|a, b| b.cmp(a));
            for p in under {
                let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        for l in &self.loops {
            let _ = Command::new("losetup").args(["-d", l]).status();
        }
        // Links first, then the directories made for them (only if nothing else is in them).
        for p in self.dev_links.iter().rev() {
            let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir(p));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mounted(dir: &str) -> Option<ferro_ocf::sys::mountinfo::Mount> {
    MountTable::read().unwrap().at(Path::new(dir)).cloned()
}

/// Instance parameters of one resource.
#[derive(Clone)]
struct Res(Vec<(String, String)>);

impl Res {
    fn new(device: &str, directory: &str, fstype: &str) -> Res {
        Res(vec![
            ("device".into(), device.into()),
            ("directory".into(), directory.into()),
            ("fstype".into(), fstype.into()),
        ])
    }

    fn with(mut self, k: &str, v: &str) -> Res {
        self.0.retain(|(n, _)| n != k);
        self.0.push((k.into(), v.into()));
        self
    }

    fn params(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn run(&self, action: &str, env: &[(&str, &str)]) -> Outcome {
        let out = run_agent("Filesystem", action, &self.params(), env);
        eprintln!("ferro {action} {env:?} -> {}\n{}", out.code, out.stderr);
        out
    }

    fn start(&self) -> i32 {
        self.run("start", &[]).code
    }
    fn stop(&self) -> i32 {
        self.run("stop", &[]).code
    }
    /// A recurring monitor at `level`.
    fn monitor(&self, level: u32) -> Outcome {
        self.run(
            "monitor",
            &[
                ("OCF_CHECK_LEVEL", &level.to_string()),
                ("OCF_RESKEY_CRM_meta_interval", "20000"),
            ],
        )
    }
    fn probe(&self) -> i32 {
        self.run("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")])
            .code
    }

    /// The same action on ocf:heartbeat:Filesystem.
    fn reference(&self, action: &str, env: &[(&str, &str)]) -> Outcome {
        let mut cmd = Command::new(REFERENCE);
        cmd.arg(action)
            .env_clear()
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESOURCE_INSTANCE", "test-Filesystem")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (k, v) in &self.0 {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the reference agent");
        let o = Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!("reference {action} -> {}\n{}", o.code, o.stderr);
        o
    }
}

/// The reference agent runs on this host (it needs modprobe from kmod, and fuser).
fn reference_usable(test: &str) -> bool {
    let ok = Path::new(REFERENCE).exists() && have("modprobe") && have("fuser");
    if !ok {
        skip(
            test,
            "ocf:heartbeat:Filesystem (with modprobe and fuser) is not installed",
        );
    }
    ok
}

const OK: i32 = 0;
const ERR_GENERIC: i32 = 1;
const ERR_INSTALLED: i32 = 5;
const ERR_CONFIGURED: i32 = 6;
const NOT_RUNNING: i32 = 7;

/// `mount ARGS...`, which must succeed (what the test sets up around the resource).
fn mount(args: &[&str]) {
    let st = Command::new("mount").args(args).status().unwrap();
    assert!(st.success(), "mount {args:?}: {st}");
}

#[test]
fn start_monitor_stop_xfs_with_check_levels() {
    let Some(mut lab) = Lab::new("xfs") else {
        return;
    };
    let dev = lab.disk("x", "xfs", None);
    // The mount point does not exist yet: start creates it.
    let mp = lab.path("data/mnt").to_str().unwrap().to_owned();
    let r = Res::new(&dev, &mp, "xfs");
    assert_eq!(r.probe(), NOT_RUNNING);
    assert_eq!(r.start(), OK);
    assert_eq!(mounted(&mp).unwrap().fstype, "xfs");
    assert_eq!(r.start(), OK, "start of a started resource");
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.monitor(10).code, OK);
    assert_eq!(r.monitor(20).code, OK);
    let status = std::fs::read(format!(
        "{mp}/.Filesystem_status/test-Filesystem_{}",
        nodename()
    ))
    .unwrap();
    assert!(
        status.starts_with(b"test-Filesystem\n"),
        "status file content"
    );
    assert_eq!(r.monitor(30).code, ERR_CONFIGURED, "unsupported level");
    assert_eq!(r.stop(), OK);
    assert!(mounted(&mp).is_none());
    assert_eq!(r.stop(), OK, "stop of a stopped resource");
    assert_eq!(r.monitor(0).code, NOT_RUNNING);
    assert_eq!(r.monitor(20).code, NOT_RUNNING);
}

fn nodename() -> String {
    nix::sys::utsname::uname()
        .unwrap()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn ext4_with_spaces_in_the_mount_point() {
    let Some(mut lab) = Lab::new("spaces") else {
        return;
    };
    let dev = lab.disk("e", "ext4", None);
    let mp = lab.mkdir("my mount\tpoint");
    let r = Res::new(&dev, &format!("{mp}//"), "ext4");
    assert_eq!(r.start(), OK);
    assert!(mounted(&mp).is_some(), "mounted at the decoded path");
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.monitor(20).code, OK);
    assert_eq!(r.stop(), OK);
    assert!(mounted(&mp).is_none());
    assert_eq!(r.probe(), NOT_RUNNING);
}

#[test]
fn label_and_uuid_device_forms() {
    let Some(mut lab) = Lab::new("tags") else {
        return;
    };
    let label = format!("ffs{}", std::process::id() % 100000);
    let dev = lab.disk("t", "ext4", Some(&label));
    let uuid = String::from_utf8(
        Command::new("blkid")
            .args(["-s", "UUID", "-o", "value", &dev])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let mp = lab.mkdir("m");
    for device in [
        format!("LABEL={label}"),
        format!("-L {label}"),
        format!("UUID={uuid}"),
        format!("-U {uuid}"),
    ] {
        let r = Res::new(&device, &mp, "ext4");
        assert_eq!(r.start(), OK, "{device}");
        assert_eq!(mounted(&mp).unwrap().source, dev.as_str(), "{device}");
        assert_eq!(r.monitor(0).code, OK, "{device}");
        assert_eq!(r.monitor(10).code, OK, "{device}: reads the mounted device");
        assert_eq!(r.stop(), OK, "{device}");
        assert!(mounted(&mp).is_none());
    }
    let r = Res::new("LABEL=ffs-no-such-label", &mp, "ext4");
    let out = r.run("start", &[("OCF_RESKEY_CRM_meta_timeout", "4000")]);
    assert_eq!(out.code, ERR_INSTALLED);
    assert!(mounted(&mp).is_none());
}

#[test]
fn bind_mounts_and_bind_ro() {
    let Some(mut lab) = Lab::new("bind") else {
        return;
    };
    let dev = lab.disk("b", "ext4", None);
    let base = lab.mkdir("base");
    mount(&[&dev, &base]);
    let src = lab.mkdir("base/exports");
    let mp = lab.mkdir("bind");
    let r = Res::new(&src, &mp, "none").with("options", "bind");
    assert_eq!(r.start(), OK);
    let m = mounted(&mp).unwrap();
    assert_eq!(m.root, Path::new("/exports"));
    assert!(!m.read_only());
    assert_eq!(
        r.monitor(10).code,
        OK,
        "depth 10 is a no-op for bind mounts"
    );
    assert_eq!(r.monitor(20).code, OK);
    assert_eq!(r.stop(), OK);
    assert!(
        mounted(&mp).is_none() && mounted(&base).is_some(),
        "only the bind mount comes off"
    );

    let ro = r.clone().with("options", "bind,ro");
    assert_eq!(ro.start(), OK);
    let m = mounted(&mp).unwrap();
    assert!(m.read_only(), "bind,ro is read-only: {}", m.options);
    assert!(
        !mounted(&base).unwrap().read_only(),
        "the source stays writable"
    );
    assert!(std::fs::write(format!("{mp}/x"), b"x").is_err());
    assert_eq!(
        ro.monitor(20).code,
        OK,
        "depth 20 on a read-only bind reads instead"
    );
    assert_eq!(ro.stop(), OK);
    assert!(mounted(&mp).is_none());
}

#[test]
fn read_only_mount_at_check_level_20() {
    let Some(mut lab) = Lab::new("ro") else {
        return;
    };
    let dev = lab.disk("r", "ext4", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4").with("options", "ro");
    assert_eq!(r.start(), OK);
    assert!(mounted(&mp).unwrap().read_only());
    assert_eq!(r.monitor(20).code, OK);
    if reference_usable("read_only_mount_at_check_level_20") {
        // The reference cannot write its status file on a read-only mount: monitor fails forever.
        let out = r.reference("monitor", &[("OCF_CHECK_LEVEL", "20")]);
        assert_eq!(out.code, ERR_GENERIC);
    }
    assert_eq!(r.stop(), OK);

    // Configured read-write but found read-only (ext4 errors=remount-ro): that is a failure.
    let rw = Res::new(&dev, &mp, "ext4");
    assert_eq!(rw.start(), OK);
    let remount = nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY;
    nix::mount::mount(
        None::<&str>,
        mp.as_str(),
        None::<&str>,
        remount,
        None::<&str>,
    )
    .unwrap();
    let out = rw.monitor(20);
    assert_eq!(out.code, ERR_GENERIC);
    assert!(
        out.exit_reason().unwrap().contains("read-only"),
        "{:?}",
        out.exit_reason()
    );
    assert_eq!(rw.monitor(0).code, OK, "still mounted");
    assert_eq!(rw.stop(), OK);
}

#[test]
fn busy_stop_kills_cwd_open_file_and_mmap_holders_only() {
    let Some(mut lab) = Lab::new("busy") else {
        return;
    };
    if !Path::new("/lib/x86_64-linux-gnu/libm.so.6").exists() {
        skip("busy_stop", "no libm.so.6 to map");
        return;
    }
    let dev = lab.disk("b", "xfs", None);
    let mp = lab.mkdir("m");
    let outside = lab.mkdir("outside");
    let r = Res::new(&dev, &mp, "xfs");
    assert_eq!(r.start(), OK);
    std::fs::write(format!("{mp}/file"), vec![7u8; 8192]).unwrap();
    std::fs::create_dir(format!("{mp}/sub")).unwrap();

    let by_cwd = lab.sleeper_in(&format!("{mp}/sub"));
    let mut c = Command::new("sleep");
    c.arg("1000")
        .current_dir(&outside)
        .stdin(std::fs::File::open(format!("{mp}/file")).unwrap());
    let by_fd = lab.spawn(c);
    // Only a mapping: the dynamic loader maps a preloaded library and closes its fd.
    std::fs::copy("/lib/x86_64-linux-gnu/libm.so.6", format!("{mp}/libffs.so")).unwrap();
    let mut c = Command::new("sleep");
    c.arg("1000")
        .current_dir(&outside)
        .env("LD_PRELOAD", format!("{mp}/libffs.so"));
    let by_map = lab.spawn(c);
    let unrelated = lab.sleeper_in(&outside);
    lab.settle();
    let maps = std::fs::read_to_string(format!("/proc/{by_map}/maps")).unwrap();
    assert!(
        maps.contains(&format!("{mp}/libffs.so")),
        "the mmap holder maps the library"
    );
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{by_map}/fd"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_link(e.path()).unwrap())
        .collect();
    assert!(
        !fds.iter().any(|f| f.starts_with(&mp)),
        "and has no file open there: {fds:?}"
    );

    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "20000")]);
    assert_eq!(out.code, OK);
    assert!(mounted(&mp).is_none());
    for (pid, what) in [(by_cwd, "cwd"), (by_fd, "open file"), (by_map, "mmap")] {
        assert!(lab.dead(pid), "the {what} holder was killed");
    }
    assert!(lab.alive(unrelated), "an unrelated process is untouched");
}

#[test]
fn busy_stop_escalates_to_sigkill_when_sigterm_is_ignored() {
    let Some(mut lab) = Lab::new("sigkill") else {
        return;
    };
    let dev = lab.disk("k", "ext4", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    let mut c = Command::new("sleep");
    c.arg("1000").current_dir(&mp);
    // SAFETY: only async-signal-safe sigaction between fork and exec.
    unsafe {
        c.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGTERM, nix::sys::signal::SigHandler::SigIgn)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let stubborn = lab.spawn(c);
    lab.settle();
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "8000")]);
    assert_eq!(out.code, OK);
    assert!(
        out.stderr.contains("SIGTERM") && out.stderr.contains("SIGKILL"),
        "both phases ran"
    );
    assert!(lab.dead(stubborn));
    assert!(mounted(&mp).is_none());
}

#[test]
fn busy_stop_with_force_unmount_false_fails_with_a_reason() {
    let Some(mut lab) = Lab::new("nokill") else {
        return;
    };
    let dev = lab.disk("n", "ext4", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4").with("force_unmount", "false");
    assert_eq!(r.start(), OK);
    let holder = lab.sleeper_in(&mp);
    lab.settle();
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "3000")]);
    assert_eq!(out.code, ERR_GENERIC);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("Couldn't unmount") && reason.contains("busy"),
        "{reason}"
    );
    assert!(lab.alive(holder), "force_unmount=false signals nobody");
    assert!(mounted(&mp).is_some());
    assert_eq!(r.monitor(0).code, OK);
}

#[test]
fn nested_mount_below_the_mount_point_comes_off_first() {
    let Some(mut lab) = Lab::new("nested") else {
        return;
    };
    let dev = lab.disk("outer", "ext4", None);
    let inner = lab.disk("inner", "ext4", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    let nested = format!("{mp}/deep/er");
    std::fs::create_dir_all(&nested).unwrap();
    mount(&[&inner, &nested]);
    let holder = lab.sleeper_in(&nested);
    lab.settle();
    assert_eq!(r.stop(), OK);
    assert!(mounted(&nested).is_none() && mounted(&mp).is_none());
    assert!(lab.dead(holder));
}

#[test]
fn another_device_on_the_mount_point() {
    let Some(mut lab) = Lab::new("other") else {
        return;
    };
    let ours = lab.disk("ours", "ext4", None);
    let theirs = lab.disk("theirs", "ext4", None);
    let mp = lab.mkdir("m");
    mount(&[&theirs, &mp]);
    let r = Res::new(&ours, &mp, "ext4");
    let out = r.run("start", &[]);
    assert_eq!(out.code, ERR_GENERIC);
    assert!(
        out.exit_reason().unwrap().contains("Another device"),
        "{:?}",
        out.exit_reason()
    );
    assert_eq!(r.probe(), NOT_RUNNING, "a probe: ours is not running here");
    assert_eq!(r.monitor(0).code, ERR_GENERIC);
    assert_eq!(r.stop(), OK, "stop leaves the other device alone");
    assert_eq!(mounted(&mp).unwrap().source, theirs.as_str());
    if reference_usable("another_device_on_the_mount_point") {
        // resource-agents 4.12 only looks at the mount point: "already mounted", running.
        assert_eq!(r.reference("start", &[]).code, OK);
        assert_eq!(r.reference("monitor", &[]).code, OK);
    }
}

#[test]
fn bad_input_mounts_nothing() {
    let Some(mut lab) = Lab::new("badinput") else {
        return;
    };
    let dev = lab.disk("d", "ext4", None);
    let mp = lab.mkdir("m");
    let quick = [("OCF_RESKEY_CRM_meta_timeout", "4000")];
    let cases: Vec<(Res, i32, &str)> = vec![
        (
            Res::new(&dev, "relative/dir", "ext4"),
            ERR_CONFIGURED,
            "directory",
        ),
        (
            Res::new(&dev, &mp, "ext4").with("options", &format!("ro {dev} {mp}")),
            ERR_CONFIGURED,
            "options",
        ),
        (
            Res::new(&dev, &mp, "ext4").with("options", "remount,rw"),
            ERR_CONFIGURED,
            "options",
        ),
        (
            Res::new(&dev, &mp, "ext4").with("term_signals", "TERM BOGUS"),
            ERR_CONFIGURED,
            "term_signals",
        ),
        (
            Res::new(&dev, &mp, "ext4").with("force_unmount", "sometimes"),
            ERR_CONFIGURED,
            "force_unmount",
        ),
        (
            Res::new(&format!("{dev} "), &mp, "ext4"),
            ERR_CONFIGURED,
            "device",
        ),
        (
            Res::new("/dev/ffs-no-such-device", &mp, "ext4"),
            ERR_INSTALLED,
            "ffs-no-such-device",
        ),
        (
            Res::new(&dev, &mp, "ffsnosuchfs"),
            ERR_INSTALLED,
            "ffsnosuchfs",
        ),
    ];
    for (r, code, names) in cases {
        let out = r.run("start", &quick);
        assert_eq!(out.code, code, "{:?}", r.0);
        let reason = out.exit_reason().unwrap_or_default();
        assert!(reason.contains(names), "reason {reason:?} names {names}");
        assert!(mounted(&mp).is_none(), "nothing mounted for {:?}", r.0);
        if code == ERR_CONFIGURED {
            assert_eq!(r.stop(), OK, "stop of a configuration start refuses");
        }
    }
    // The device broken while it runs: stop must not call it stopped while it is mounted.
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    assert_eq!(
        r.clone().with("device", &format!("{dev} ")).stop(),
        ERR_CONFIGURED
    );
    assert!(mounted(&mp).is_some());
    assert_eq!(r.stop(), OK);
    // A local filesystem as a clone is refused, as by the reference.
    let r = Res::new(&dev, &mp, "ext4");
    let out = r.run("start", &[("OCF_RESKEY_CRM_meta_clone_max", "2")]);
    assert_eq!(out.code, ERR_CONFIGURED);
    assert!(mounted(&mp).is_none());
    let out = r
        .clone()
        .with("force_clones", "true")
        .run("start", &[("OCF_RESKEY_CRM_meta_clone_max", "2")]);
    assert_eq!(out.code, OK);
    assert_eq!(r.stop(), OK);
}

/// The one rule for stop and probes: a bad value of a parameter other than device and
/// directory falls back to its default (with a warning). Stop returns 0 only once the
/// filesystem is unmounted, probes never return 6 for such a parameter; mounted or not.
#[test]
fn stop_matrix() {
    let Some(mut lab) = Lab::new("stopmatrix") else {
        return;
    };
    let dev = lab.disk("d", "ext4", None);
    let mp = lab.mkdir("m");
    let good = Res::new(&dev, &mp, "ext4");
    let bad: &[(&str, &str)] = &[
        ("fstype", ""),
        ("fstype", "ext4 /dev/sdz"),
        ("fstype", "a/b"),
        ("options", "ro /dev/sdz /mnt"),
        ("options", "remount,rw"),
        ("options", "-o"),
        ("run_fsck", "sometimes"),
        ("fast_stop", "maybe"),
        ("force_clones", "maybe"),
        ("force_unmount", "sometimes"),
        ("term_signals", "TERM BOGUS"),
        ("kill_signals", ""),
        ("kill_signals", "NOPE"),
        ("signal_delay", "soon"),
        ("signal_delay", "-1"),
    ];
    for (k, v) in bad {
        let r = good.clone().with(k, v);
        for active in [true, false] {
            if active {
                assert_eq!(good.start(), OK);
            }
            let probe = r.probe();
            assert_eq!(
                probe,
                if active { OK } else { NOT_RUNNING },
                "probe {k}={v:?} mounted={active}"
            );
            let o = r.run("stop", &[]);
            assert_eq!(o.code, OK, "stop {k}={v:?} mounted={active}");
            assert!(mounted(&mp).is_none(), "stop {k}={v:?} left it mounted");
            // run_fsck's warning is the reference's own text ("fsck").
            let named = if *k == "run_fsck" { "fsck" } else { k };
            assert!(o.stderr.contains(named), "stop {k}={v:?} warns: {o:?}");
        }
        if *k != "run_fsck" {
            assert_eq!(r.run("validate-all", &[]).code, ERR_CONFIGURED, "{k}={v:?}");
        }
    }
    // An unusable identity: stop fails while the mount point is mounted, else succeeds.
    assert_eq!(good.start(), OK);
    let broken = good.clone().with("device", "-o remount");
    assert_eq!(broken.stop(), ERR_CONFIGURED);
    assert!(mounted(&mp).is_some());
    assert_eq!(good.stop(), OK);
    assert_eq!(broken.stop(), OK);
}

/// resource-agents #1907: stop of idle filesystems does nothing but umount. Run with a PATH
/// that holds nothing, so any process started (fuser, mount, ps, blockdev) would fail it.
#[test]
fn idle_stop_and_depth0_monitor_start_no_process() {
    let Some(mut lab) = Lab::new("idle") else {
        return;
    };
    let no_path = [("PATH", "/nonexistent")];
    let mut res = Vec::new();
    for i in 0..10 {
        let dev = lab.disk(&format!("i{i}"), "ext4", None);
        let mp = lab.mkdir(&format!("m{i}"));
        let r = Res::new(&dev, &mp, "ext4");
        assert_eq!(r.start(), OK);
        res.push((r, mp));
    }
    for (r, mp) in &res {
        let out = r.run("monitor", &no_path);
        assert_eq!(out.code, OK);
        let out = r.run("stop", &no_path);
        assert_eq!(out.code, OK, "{}", out.stderr);
        assert!(
            !out.stderr.contains("busy"),
            "no holder search for an idle filesystem"
        );
        assert!(mounted(mp).is_none());
        assert_eq!(r.run("monitor", &no_path).code, NOT_RUNNING);
    }
}

/// resource-agents #1325: a filesystem whose stat fails with EIO (here: XFS shut down, as
/// after losing its disk) is still mounted: monitor must not say "not running", and stop
/// must unmount it.
#[test]
fn eio_is_not_taken_for_not_mounted() {
    let Some(mut lab) = Lab::with_tools("eio", &["xfs_io"]) else {
        return;
    };
    let dev = lab.disk("e", "xfs", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "xfs");
    assert_eq!(r.start(), OK);
    assert!(Command::new("xfs_io")
        .args(["-x", "-c", "shutdown", &mp])
        .status()
        .unwrap()
        .success());
    let err = std::fs::metadata(&mp).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(nix::libc::EIO),
        "the mount point now fails with EIO"
    );
    assert_eq!(r.probe(), OK, "still mounted");
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.monitor(20).code, ERR_GENERIC, "but the I/O check fails");
    assert_eq!(r.stop(), OK);
    assert!(mounted(&mp).is_none(), "and stop really unmounted it");
}

/// Runs one action of one implementation.
type Runner = Box<dyn Fn(&Res, &str) -> Outcome>;

/// resource-agents #1304: stopping a busy bind mount must only kill the users of the bind
/// mount, not everything on the filesystem it was bound from. The reference's fuser -m does.
#[test]
fn busy_bind_mount_stop_kills_only_users_of_the_bind_mount() {
    let Some(mut lab) = Lab::new("bind1304") else {
        return;
    };
    let dev = lab.disk("b", "ext4", None);
    let base = lab.mkdir("base");
    mount(&[&dev, &base]);
    let src = lab.mkdir("base/share");
    let mp = lab.mkdir("bind");
    let r = Res::new(&src, &mp, "none").with("options", "bind");

    let mut implementations: Vec<(&str, Runner)> = vec![(
        "ferro",
        Box::new(|r: &Res, a: &str| r.run(a, &[("OCF_RESKEY_CRM_meta_timeout", "20000")])),
    )];
    if reference_usable("busy_bind_mount_stop") {
        implementations.push((
            "reference",
            Box::new(|r: &Res, a: &str| {
                r.reference(a, &[("OCF_RESKEY_CRM_meta_timeout", "20000")])
            }),
        ));
    }
    for (name, run) in implementations {
        assert_eq!(run(&r, "start").code, OK, "{name}");
        let user = lab.sleeper_in(&mp);
        let bystander = lab.sleeper_in(&base);
        lab.settle();
        let out = run(&r, "stop");
        assert_eq!(out.code, OK, "{name}");
        assert!(mounted(&mp).is_none() && mounted(&base).is_some(), "{name}");
        assert!(lab.dead(user), "{name}: the bind mount's user was killed");
        if name == "ferro" {
            assert!(
                lab.alive(bystander),
                "ferro: the process on the source filesystem is untouched"
            );
        } else {
            assert!(
                lab.dead(bystander),
                "reference: fuser -m killed a process that never used the bind mount"
            );
        }
    }
}

/// PR#1337: with many mounts and concurrent mount changes, monitor never misses ours.
#[test]
fn monitor_is_not_fooled_by_a_changing_mount_table() {
    let Some(mut lab) = Lab::new("churn") else {
        return;
    };
    let dev = lab.disk("c", "ext4", None);
    // Push the table well past one page, with our mount in the middle of it.
    for i in 0..40 {
        let d = lab.mkdir(&format!("pre{i:02}"));
        mount(&["-t", "tmpfs", "ffs-pre", &d]);
    }
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    for i in 0..40 {
        let d = lab.mkdir(&format!("post{i:02}"));
        mount(&["-t", "tmpfs", "ffs-post", &d]);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn_dirs: Vec<PathBuf> = (0..20)
        .map(|i| PathBuf::from(lab.mkdir(&format!("churn{i:02}"))))
        .collect();
    let s = stop.clone();
    let churn = std::thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            for d in &churn_dirs {
                let _ = nix::mount::mount(
                    Some("ffs-churn"),
                    d,
                    Some("tmpfs"),
                    nix::mount::MsFlags::empty(),
                    None::<&str>,
                );
            }
            for d in &churn_dirs {
                let _ = nix::mount::umount2(d, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    });
    let mut failures = 0;
    for _ in 0..100 {
        if run_agent("Filesystem", "monitor", &r.params(), &[]).code != OK {
            failures += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    assert_eq!(failures, 0, "monitor said not running while mounted");
    assert_eq!(r.stop(), OK);
}

#[test]
fn ocf_tester_passes() {
    let Some(mut lab) = Lab::with_tools("tester", &["ocf-tester"]) else {
        return;
    };
    let dev = lab.disk("t", "ext4", None);
    let mp = lab.mkdir("m");
    let out = support::ocf_tester(
        &lab.dir.join("agent"),
        "Filesystem",
        &[("device", &dev), ("directory", &mp), ("fstype", "ext4")],
        &[],
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    eprintln!("{text}");
    assert_eq!(out.code, 0, "ocf-tester failed:\n{text}");
    assert!(mounted(&mp).is_none(), "ocf-tester ends stopped");
}

/// Run an action on a watchdog: None when it had not returned after `secs` (it is then killed
/// with everything it started). Only to tell "returned" from "hung", never to measure speed.
fn run_watched(
    program: &str,
    args: &[&str],
    r: &Res,
    env: &[(&str, &str)],
    secs: u64,
) -> Option<i32> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESOURCE_INSTANCE", "test-Filesystem")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (k, v) in &r.0 {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..secs * 10 {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGKILL,
    );
    // A process stuck in uninterruptible I/O dies only when the I/O returns: do not wait on it.
    for _ in 0..50 {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A filesystem whose I/O never completes (a FUSE mount whose server never answers: what a
/// hard NFS mount of a dead server or a hung disk looks like to processes). Depth 0 does not
/// touch it; depth 20 reports failure within the operation timeout instead of hanging until
/// Pacemaker kills it, as the reference does.
#[test]
fn hung_filesystem_does_not_hang_monitor_or_stop() {
    let Some(lab) = Lab::new("hung") else { return };
    let mp = lab.mkdir("m");
    let Ok(fuse) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    else {
        skip("hung_filesystem", "no /dev/fuse");
        return;
    };
    let data = format!(
        "fd={},rootmode=40000,user_id=0,group_id=0",
        std::os::fd::AsRawFd::as_raw_fd(&fuse)
    );
    nix::mount::mount(
        Some("ffs-hung"),
        Path::new(&mp),
        Some("fuse.ffshung"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .unwrap();
    let r = Res::new("ffs-hung", &mp, "fuse.ffshung");
    let timeout = [
        ("OCF_RESKEY_CRM_meta_timeout", "5000"),
        ("OCF_RESKEY_CRM_meta_interval", "20000"),
    ];
    let ours = |level: &str| {
        let env = [timeout[0], timeout[1], ("OCF_CHECK_LEVEL", level)];
        run_watched(support::BIN, &["Filesystem", "monitor"], &r, &env, 30)
    };
    assert_eq!(ours("0"), Some(OK));
    assert_eq!(
        ours("10"),
        Some(OK),
        "depth 10 is a no-op without a block device"
    );
    assert_eq!(ours("20"), Some(ERR_GENERIC), "depth 20 fails in time");
    if reference_usable("hung_filesystem") {
        let env = [timeout[0], timeout[1], ("OCF_CHECK_LEVEL", "20")];
        assert_eq!(
            run_watched(REFERENCE, &["monitor"], &r, &env, 10),
            None,
            "the reference hangs on the status file until Pacemaker's timeout"
        );
    }
    let stop = run_watched(support::BIN, &["Filesystem", "stop"], &r, &timeout, 30);
    assert_eq!(stop, Some(OK));
    assert!(mounted(&mp).is_none());
    drop(fuse);
}

/// run_fsck=auto checks filesystems without a journal (ext2) before mounting, not XFS/ext4;
/// a filesystem fsck cannot repair is not mounted.
#[test]
fn fsck_runs_where_the_reference_runs_it() {
    let Some(mut lab) = Lab::with_tools("fsck", &["fsck", "mkfs.ext2"]) else {
        return;
    };
    let ext2 = lab.disk("e2", "ext2", None);
    let ext4 = lab.disk("e4", "ext4", None);
    let mp = lab.mkdir("m");
    let r2 = Res::new(&ext2, &mp, "ext2");
    let out = r2.run("start", &[]);
    assert_eq!(out.code, OK);
    assert!(
        out.stderr.contains("Starting filesystem check"),
        "fsck ran for ext2"
    );
    assert_eq!(r2.stop(), OK);
    let r4 = Res::new(&ext4, &mp, "ext4");
    let out = r4.run("start", &[]);
    assert_eq!(out.code, OK);
    assert!(
        !out.stderr.contains("filesystem check"),
        "no fsck for ext4 with run_fsck=auto"
    );
    assert_eq!(r4.stop(), OK);
    let out = r4.clone().with("run_fsck", "force").run("start", &[]);
    assert_eq!(out.code, OK);
    assert!(
        out.stderr.contains("Starting filesystem check"),
        "run_fsck=force"
    );
    assert_eq!(r4.stop(), OK);

    // Wipe the ext2 superblocks: fsck -p gives up (exit >= 4) and nothing is mounted.
    let f = std::fs::OpenOptions::new().write(true).open(&ext2).unwrap();
    for off in [1024u64, 8193 * 1024] {
        std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 1024], off).unwrap();
    }
    drop(f);
    let out = r2.run("start", &[]);
    assert_eq!(out.code, ERR_GENERIC);
    assert!(
        out.exit_reason().unwrap().contains("fsck"),
        "{:?}",
        out.exit_reason()
    );
    assert!(mounted(&mp).is_none());
}

/// resource-agents #1304 as reported: a bind mount of `/` that is busy at stop. Only the
/// process that uses the bind mount may die, not every process on the root filesystem (which
/// is all of them, this test and the cluster stack included). Runs in its own PID and mount
/// namespace, so even a wrong agent could only reach the processes of this test.
#[test]
fn bind_mount_of_root_kills_only_its_users() {
    const INNER: &str = "FFS_INNER_ROOTBIND";
    if std::env::var_os(INNER).is_none() {
        if !nix::unistd::geteuid().is_root() || !have("unshare") {
            skip("bind_mount_of_root", "needs root and unshare");
            return;
        }
        let st = Command::new("unshare")
            .args([
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
            ])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "bind_mount_of_root_kills_only_its_users",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER, "1")
            .status()
            .unwrap();
        assert!(st.success(), "the test in its own namespaces failed");
        return;
    }
    assert_eq!(std::process::id(), 1, "inside a fresh PID namespace");
    let Some(mut lab) = Lab::new("rootbind") else {
        return;
    };
    let mp = lab.mkdir("root");
    let r = Res::new("/", &mp, "none").with("options", "bind");
    assert_eq!(r.start(), OK);
    assert_eq!(mounted(&mp).unwrap().root, Path::new("/"));
    let user = lab.sleeper_in(&format!("{mp}/tmp"));
    let bystander = lab.sleeper_in("/tmp");
    lab.settle();
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "20000")]);
    assert_eq!(out.code, OK);
    assert!(mounted(&mp).is_none());
    assert!(lab.dead(user), "the user of the bind mount was killed");
    assert!(
        lab.alive(bystander),
        "a process on / that never used the bind mount lives"
    );
}

/// A cgroup-v1 freezer group: its frozen processes sit in D state and even SIGKILL only takes
/// effect once they are thawed, like processes stuck on a slow disk or server. Thawed and
/// removed on drop.
struct Freezer(PathBuf);

impl Freezer {
    fn new(name: &str) -> Option<Freezer> {
        let p = Path::new("/sys/fs/cgroup/freezer").join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir(&p).ok()?;
        let f = Freezer(p);
        f.0.join("freezer.state").exists().then_some(f)
    }
    fn freeze(&self, pid: i32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(self.0.join("freezer.state"), "FROZEN").unwrap();
        while std::fs::read_to_string(self.0.join("freezer.state"))
            .unwrap()
            .trim()
            != "FROZEN"
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn thaw(path: &Path) {
        let _ = std::fs::write(path.join("freezer.state"), "THAWED");
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        Freezer::thaw(&self.0);
        let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// PR#1555: fast_stop=yes gives up after 6 seconds whatever the stop timeout, so a user that
/// takes longer to go away (stuck in D state for a while) fails the stop and fences the node.
/// fast_stop defaults to no: stop uses its whole timeout.
#[test]
fn fast_stop_gives_up_early_and_is_off_by_default() {
    let Some(mut lab) = Lab::new("faststop") else {
        return;
    };
    let Some(freezer) = Freezer::new("ffs-faststop") else {
        skip("fast_stop", "no cgroup-v1 freezer");
        return;
    };
    let dev = lab.disk("f", "ext4", None);
    let mp = lab.mkdir("m");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    let stuck = lab.sleeper_in(&mp);
    lab.settle();
    freezer.freeze(stuck);
    let timeout = [("OCF_RESKEY_CRM_meta_timeout", "30000")];
    let out = r.clone().with("fast_stop", "yes").run("stop", &timeout);
    assert_eq!(
        out.code, ERR_GENERIC,
        "fast_stop=yes gave up on the stuck process"
    );
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("Couldn't unmount") && reason.contains("sleep"),
        "{reason}"
    );
    assert!(mounted(&mp).is_some());

    // The process comes unstuck (its I/O completes) a while into the next stop.
    let path = freezer.0.clone();
    let thaw = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(8));
        Freezer::thaw(&path);
    });
    let out = r.run("stop", &timeout);
    thaw.join().unwrap();
    assert_eq!(
        out.code, OK,
        "the default waits as long as the timeout allows"
    );
    assert!(mounted(&mp).is_none());
    assert!(lab.dead(stuck));
}

/// resource-agents #1426: the user is in another mount namespace (a VM that libvirt starts in
/// its own namespace, a systemd service with PrivateTmp) and holds its copy of the mount. The
/// unmount here is refused while that copy is busy, although no process of this namespace
/// uses the filesystem; stop must find and stop that user.
#[test]
fn holder_in_another_mount_namespace_is_found() {
    let Some(mut lab) = Lab::with_tools("mntns", &["unshare"]) else {
        return;
    };
    let dev = lab.disk("n", "ext4", None);
    // As on any systemd host, where / is shared, and so is every mount made below it.
    let shared = lab.mkdir("shared");
    nix::mount::mount(
        Some(shared.as_str()),
        shared.as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    nix::mount::mount(
        None::<&str>,
        shared.as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_SHARED,
        None::<&str>,
    )
    .unwrap();
    let mp = lab.mkdir("shared/m");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "slave",
        "--",
        "sh",
        "-c",
        r#"cd "$1" && exec sleep 1000"#,
        "vm",
        &mp,
    ]);
    let vm = lab.spawn(c);
    lab.settle();
    assert_ne!(
        std::fs::read_link(format!("/proc/{vm}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap(),
        "the user runs in its own mount namespace"
    );
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "20000")]);
    assert_eq!(out.code, OK);
    assert!(mounted(&mp).is_none());
    assert!(lab.dead(vm), "the user in the other namespace was stopped");
}

/// The other half of #1426: a mount namespace made with private propagation (a container, a
/// service with PrivateTmp) keeps its own copy of the mount. The unmount here succeeds, yet
/// the filesystem stays mounted there and the device stays claimed: the reference reports a
/// successful stop, and the next mount elsewhere (or DRBD's demote) finds the disk in use.
/// Ours unmounts it in that namespace too, stopping only the process that uses it.
#[test]
fn private_copy_in_another_mount_namespace_is_unmounted_too() {
    let Some(mut lab) = Lab::with_tools("privns", &["unshare"]) else {
        return;
    };
    let dev = lab.disk("p", "ext4", None);
    let mp = lab.mkdir("m");
    let outside = lab.mkdir("outside");
    let r = Res::new(&dev, &mp, "ext4");
    let mut implementations: Vec<(&str, Runner)> = vec![(
        "ferro",
        Box::new(|r: &Res, a: &str| r.run(a, &[("OCF_RESKEY_CRM_meta_timeout", "20000")])),
    )];
    if reference_usable("private_copy_in_another_mount_namespace") {
        implementations.push((
            "reference",
            Box::new(|r: &Res, a: &str| {
                r.reference(a, &[("OCF_RESKEY_CRM_meta_timeout", "20000")])
            }),
        ));
    }
    for (name, run) in implementations {
        assert_eq!(run(&r, "start").code, OK, "{name}");
        // A service in its own namespace: one process uses the filesystem, one does not.
        let mut c = Command::new("unshare");
        c.current_dir(&outside).args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            r#"sleep 1000 & cd "$1" && exec sleep 1000"#,
            "service",
            &mp,
        ]);
        let user = lab.spawn(c);
        lab.settle();
        let in_service = || {
            std::fs::read(format!("/proc/{user}/mountinfo"))
                .ok()
                .and_then(|t| MountTable::parse(&t).ok())
                .is_some_and(|t| t.at(Path::new(&mp)).is_some())
        };
        assert!(
            in_service(),
            "{name}: the service has its copy of the mount"
        );
        let out = run(&r, "stop");
        assert_eq!(out.code, OK, "{name}");
        assert!(mounted(&mp).is_none(), "{name}");
        if name == "ferro" {
            assert!(
                lab.dead(user),
                "ferro: the process using the copy was stopped"
            );
            let busy = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_EXCL)
                .open(&dev)
                .is_err();
            assert!(!busy, "ferro: the device is free: mounted nowhere any more");
        } else {
            assert!(
                in_service(),
                "reference: 'stopped', but still mounted in the service's namespace"
            );
        }
    }
}

/// A mount point given through a symlink is the canonical path the kernel lists.
#[test]
fn mount_point_through_a_symlink() {
    let Some(mut lab) = Lab::new("symlink") else {
        return;
    };
    let dev = lab.disk("s", "ext4", None);
    let real = lab.mkdir("real/mp");
    let link = lab.path("link");
    std::os::unix::fs::symlink(lab.path("real"), &link).unwrap();
    let r = Res::new(&dev, &format!("{}/./mp/", link.display()), "ext4");
    assert_eq!(r.start(), OK);
    assert!(mounted(&real).is_some(), "mounted at the canonical path");
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.start(), OK);
    assert_eq!(r.stop(), OK);
    assert!(mounted(&real).is_none());
    assert_eq!(r.probe(), NOT_RUNNING);
}

/// Other mounts of the same filesystem (bind mounts of parts of it elsewhere) come off before
/// the filesystem itself, as the reference's list_bindmounts does.
#[test]
fn bind_mounts_of_the_filesystem_elsewhere_come_off_first() {
    let Some(mut lab) = Lab::new("binds") else {
        return;
    };
    let dev = lab.disk("b", "ext4", None);
    let mp = lab.mkdir("m");
    let elsewhere = lab.mkdir("elsewhere");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    std::fs::create_dir(format!("{mp}/export")).unwrap();
    nix::mount::mount(
        Some(format!("{mp}/export").as_str()),
        elsewhere.as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let user = lab.sleeper_in(&elsewhere);
    lab.settle();
    assert_eq!(r.stop(), OK);
    assert!(mounted(&elsewhere).is_none() && mounted(&mp).is_none());
    assert!(lab.dead(user));
}

/// options=loop: an image file, set up as a loop device by mount(8) (run with an argv), and
/// released again with the unmount.
#[test]
fn loop_option_goes_through_mount_8() {
    let Some(lab) = Lab::new("loopopt") else {
        return;
    };
    let img = lab.path("fs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let mp = lab.mkdir("m");
    let r = Res::new(img.to_str().unwrap(), &mp, "ext4").with("options", "loop,noatime");
    assert_eq!(r.start(), OK);
    let m = mounted(&mp).unwrap();
    assert!(
        m.source.to_string_lossy().starts_with("/dev/loop"),
        "{:?}",
        m.source
    );
    assert!(m.options.contains("noatime"));
    assert_eq!(
        r.monitor(10).code,
        OK,
        "no block device of its own: depth 10 is a no-op"
    );
    assert_eq!(r.monitor(20).code, OK);
    assert_eq!(r.stop(), OK);
    assert!(mounted(&mp).is_none());
    let still = Command::new("losetup")
        .args(["-j"])
        .arg(&img)
        .output()
        .unwrap()
        .stdout;
    assert!(still.is_empty(), "the loop device went with the mount");
}

/// start waits (bounded) for a device that is not there yet: udev, multipath or a DRBD
/// promotion still making it.
#[test]
fn start_waits_for_a_device_to_appear() {
    let Some(mut lab) = Lab::new("late") else {
        return;
    };
    let dev = lab.disk("l", "ext4", None);
    let mp = lab.mkdir("m");
    let link = lab.path("late-device");
    let r = Res::new(link.to_str().unwrap(), &mp, "ext4");
    let l = link.clone();
    let appear = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        std::os::unix::fs::symlink(dev, l).unwrap();
    });
    let out = r.run("start", &[("OCF_RESKEY_CRM_meta_timeout", "60000")]);
    appear.join().unwrap();
    assert_eq!(out.code, OK);
    assert!(mounted(&mp).is_some());
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.stop(), OK);
}

/// A mount point below a filesystem that stopped answering (a directory on a dead disk or hard
/// NFS mount): resolving its path waits in uninterruptible sleep, which not even SIGKILL ends.
/// Monitor and stop answer within their timeout instead of hanging until Pacemaker's timer.
#[test]
fn mount_point_below_a_dead_filesystem_does_not_hang() {
    let Some(lab) = Lab::new("deadbelow") else {
        return;
    };
    let top = lab.mkdir("top");
    let Some(dead) = fuse::DeadFuse::mount(&top) else {
        skip(
            "mount_point_below_a_dead_filesystem_does_not_hang",
            "cannot mount FUSE",
        );
        return;
    };
    let r = Res::new("/dev/ferro-no-such-disk", &format!("{top}/mp"), "ext4");
    let timeout = Duration::from_secs(4);
    let env = [("OCF_RESKEY_CRM_meta_timeout", "4000")];
    for action in ["monitor", "stop"] {
        let params: Vec<(&str, &str)> = r.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, took) = fuse::run_within(
            support::BIN,
            &["Filesystem", action],
            &params,
            &env,
            timeout * 5,
        );
        assert_eq!(code, Some(ERR_GENERIC), "{action} fails, in {took:?}");
        assert!(
            took < timeout,
            "{action} answers within its timeout: {took:?}"
        );
    }
    drop(dead);
}

/// Stop of a busy filesystem whose server is gone: finding the processes that use it must
/// not wait for the server. The reference's fuser stats every process's files and hangs
/// until Pacemaker's timeout; ours reads mount ids without asking the filesystem.
#[test]
fn busy_stop_of_a_hung_filesystem_does_not_hang() {
    let Some(mut lab) = Lab::new("hungbusy") else {
        return;
    };
    let mp = lab.mkdir("m");
    let outside = lab.mkdir("outside");
    let r = Res::new("ffs-hung", &mp, "fuse.ffshung");
    let timeout = [("OCF_RESKEY_CRM_meta_timeout", "10000")];
    let mut implementations = vec![(support::BIN, vec!["Filesystem", "stop"])];
    if reference_usable("busy_stop_of_a_hung_filesystem") {
        implementations.push((REFERENCE, vec!["stop"]));
    }
    for (program, args) in implementations {
        let Some(fuse) = fuse::hung_fuse_mount(&mp) else {
            skip("busy_stop_of_a_hung_filesystem", "cannot mount FUSE");
            return;
        };
        let server = fuse::half_dead_fuse_server(fuse);
        let mut c = Command::new("sh");
        c.current_dir(&outside)
            .args(["-c", r#"cd "$1" && exec sleep 1000"#, "user", &mp]);
        let user = lab.spawn(c);
        lab.settle();
        assert_eq!(
            std::fs::read_link(format!("/proc/{user}/cwd")).unwrap(),
            Path::new(&mp),
            "the user is inside the filesystem"
        );
        let watchdog = if program == REFERENCE { 12 } else { 25 };
        let stop = run_watched(program, &args, &r, &timeout, watchdog);
        if program == support::BIN {
            assert_eq!(stop, Some(OK), "ferro stops it in time");
            assert!(lab.dead(user));
            assert!(mounted(&mp).is_none());
        } else {
            assert_eq!(stop, None, "the reference hangs");
            let _ = nix::mount::umount2(Path::new(&mp), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(user), Signal::SIGKILL);
        server.join().unwrap();
    }
}

/// The cluster stack is never signalled, whatever it holds: stop fails instead (and the
/// node is fenced, which is the cluster's decision, not the agent's).
#[test]
fn the_cluster_stack_is_never_signalled() {
    let Some(mut lab) = Lab::new("stack") else {
        return;
    };
    let dev = lab.disk("s", "ext4", None);
    let mp = lab.mkdir("m");
    let bin = lab.mkdir("bin");
    let r = Res::new(&dev, &mp, "ext4");
    assert_eq!(r.start(), OK);
    // A process whose name is corosync's (comm comes from the executable's file name).
    std::fs::copy("/bin/sleep", format!("{bin}/corosync")).unwrap();
    let mut c = Command::new(format!("{bin}/corosync"));
    c.arg("1000").current_dir(&mp);
    let stack = lab.spawn(c);
    for _ in 0..500 {
        if std::fs::read_to_string(format!("/proc/{stack}/comm"))
            .is_ok_and(|c| c.trim() == "corosync")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "3000")]);
    assert_eq!(out.code, ERR_GENERIC);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("cluster stack") && reason.contains("corosync"),
        "{reason}"
    );
    assert!(lab.alive(stack), "corosync was left alone");
    assert!(mounted(&mp).is_some());
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(stack), Signal::SIGKILL);
    assert!(lab.dead(stack));
    assert_eq!(r.stop(), OK);
}

/// The NFS code paths without an NFS server: a tmpfs mounted with an NFS-style source stands
/// in for the mount an NFS resource made (the agent goes by its parameters and the mount
/// point). Depth 10 is a no-op, depth 20 writes with O_SYNC only, and a busy stop unmounts in
/// a bounded child, with MNT_FORCE in the kill phase.
#[test]
fn nfs_resource_monitor_and_busy_stop() {
    let Some(mut lab) = Lab::new("nfs") else {
        return;
    };
    let mp = lab.mkdir("m");
    nix::mount::mount(
        Some("nfs1.example.com:/export/data"),
        mp.as_str(),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=16m"),
    )
    .unwrap();
    let r = Res::new("nfs1.example.com:/export/data", &mp, "nfs4");
    assert_eq!(r.probe(), OK);
    assert_eq!(r.monitor(10).code, OK);
    assert_eq!(r.monitor(20).code, OK);
    let holder = lab.sleeper_in(&mp);
    lab.settle();
    let out = r.run("stop", &[("OCF_RESKEY_CRM_meta_timeout", "20000")]);
    assert_eq!(out.code, OK);
    assert!(lab.dead(holder));
    assert!(mounted(&mp).is_none());
    assert_eq!(r.probe(), NOT_RUNNING);
}

/// The filesystem UUID blkid reports for a device.
fn fs_uuid(dev: &str) -> String {
    let out = Command::new("blkid")
        .args(["-s", "UUID", "-o", "value", dev])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A multi-device btrfs addressed by UUID=: mountinfo names one member, udev's by-uuid link
/// may name another. That is the same filesystem: start must not fail its own check, monitor
/// must see it running and stop must unmount it (resource-agents 4.12 compares names too).
#[test]
fn btrfs_raid1_by_uuid_is_ours() {
    let Some(mut lab) = Lab::new("btrfs") else {
        return;
    };
    let btrfs_known = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.ends_with("\tbtrfs"));
    if !have("mkfs.btrfs") || !have("btrfs") || !btrfs_known {
        skip(
            "btrfs_raid1_by_uuid_is_ours",
            "needs btrfs-progs and btrfs in the kernel",
        );
        return;
    }
    let a = lab.loop_device("ba", 256);
    let b = lab.loop_device("bb", 256);
    let st = Command::new("mkfs.btrfs")
        .args(["-q", "-f", "-d", "raid1", "-m", "raid1", &a, &b])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "mkfs.btrfs");
    assert!(Command::new("btrfs")
        .args(["device", "scan", &a, &b])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    let uuid = fs_uuid(&a);
    assert_eq!(uuid, fs_uuid(&b), "one filesystem on both devices");
    let mp = lab.mkdir("m");
    let r = Res::new(&format!("UUID={uuid}"), &mp, "btrfs");
    for first in [&a, &b] {
        lab.udev_uuid_link(&uuid, first);
        assert_eq!(r.probe(), NOT_RUNNING);
        assert_eq!(r.start(), OK, "start through {first}");
        let m = mounted(&mp).expect("mounted");
        assert_eq!(m.major, 0, "btrfs has an anonymous device number");
        // udev names the member that mountinfo does not.
        let named = m.source.to_string_lossy().into_owned();
        let other = if named == a { &b } else { &a };
        lab.udev_uuid_link(&uuid, other);
        assert_eq!(
            r.monitor(0).code,
            OK,
            "mountinfo names {named}, udev {other}"
        );
        assert_eq!(r.probe(), OK);
        assert_eq!(r.start(), OK, "already running");
        assert_eq!(r.stop(), OK);
        assert!(mounted(&mp).is_none(), "stop left {mp} mounted");
    }
}

/// A device given by a link (/dev/disk/by-id/…) whose target vanished after the mount: nothing
/// shows that the filesystem on the mount point is another one, so stop unmounts it.
#[test]
fn device_link_that_vanished_is_still_unmounted() {
    let Some(mut lab) = Lab::new("vanished") else {
        return;
    };
    let dev = lab.disk("v", "ext4", None);
    let mp = lab.mkdir("m");
    let link = lab.path("by-id-disk");
    std::os::unix::fs::symlink(&dev, &link).unwrap();
    let r = Res::new(link.to_str().unwrap(), &mp, "ext4");
    // Mounted by mount(8) (as by the reference agent), which lists the link's target.
    assert!(Command::new("mount")
        .arg(&link)
        .arg(&mp)
        .status()
        .unwrap()
        .success());
    assert_eq!(r.monitor(0).code, OK);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/dev/ffs-gone", &link).unwrap();
    assert_eq!(r.monitor(0).code, OK, "still mounted");
    assert_eq!(r.stop(), OK);
    assert!(mounted(&mp).is_none(), "stop left {mp} mounted");
    // Provably another device (a present node with other numbers) is still left alone.
    let theirs = lab.disk("t", "ext4", None);
    let other = lab.disk("o", "ext4", None);
    mount(&[&theirs, &mp]);
    let r = Res::new(&other, &mp, "ext4");
    assert_eq!(r.stop(), OK);
    assert_eq!(mounted(&mp).unwrap().source, theirs.as_str());
}

/// A mount point that does not exist yet below a symlinked parent (/var/run/x on Debian, where
/// /var/run -> /run): start creates and mounts it, and finds it mounted at the canonical path.
#[test]
fn new_mount_point_below_a_symlinked_parent() {
    let Some(mut lab) = Lab::new("symparent") else {
        return;
    };
    let dev = lab.disk("p", "ext4", None);
    lab.mkdir("real");
    let link = lab.path("run-link");
    std::os::unix::fs::symlink(lab.path("real"), &link).unwrap();
    let dir = format!("{}/new/mp", link.display());
    let real = lab.path("real/new/mp").to_str().unwrap().to_owned();
    let r = Res::new(&dev, &dir, "ext4");
    assert_eq!(r.probe(), NOT_RUNNING);
    let out = r.run("start", &[]);
    assert_eq!(out.code, OK, "{:?}", out.exit_reason());
    assert!(mounted(&real).is_some(), "mounted at the canonical path");
    assert_eq!(r.monitor(0).code, OK);
    assert_eq!(r.monitor(20).code, OK);
    assert_eq!(r.start(), OK);
    assert_eq!(r.stop(), OK);
    assert!(mounted(&real).is_none());
    assert_eq!(r.probe(), NOT_RUNNING);
    // /var/run itself, where this host has it.
    if std::fs::read_link("/var/run").is_ok_and(|t| t.ends_with("run")) {
        let name = format!("ffs-varrun-{}", std::process::id());
        let r = Res::new(&dev, &format!("/var/run/{name}"), "ext4");
        let real = format!("/run/{name}");
        assert_eq!(r.start(), OK);
        assert!(mounted(&real).is_some());
        assert_eq!(r.monitor(0).code, OK);
        assert_eq!(r.stop(), OK);
        let gone = mounted(&real).is_none();
        let _ = nix::mount::umount2(real.as_str(), nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&real);
        assert!(gone, "stop left {real} mounted");
    }
}

/// A directory that resolves to / (`..`, or a symlink to /) is refused like / itself, by stop
/// too, and nothing using / is signalled.
#[test]
fn directory_resolving_to_root_is_refused() {
    let Some(mut lab) = Lab::new("rootdir") else {
        return;
    };
    let dev = lab.disk("r", "ext4", None);
    let m = lab.mkdir("m");
    let to_root = lab.path("to-root");
    std::os::unix::fs::symlink("/", &to_root).unwrap();
    let bystander = lab.sleeper_in("/");
    lab.settle();
    for dir in [
        "/srv/..".to_owned(),
        format!("{}/../../..", lab.dir.display()),
        to_root.to_str().unwrap().to_owned(),
        format!("{}/", to_root.display()),
    ] {
        let r = Res::new(&dev, &dir, "ext4");
        for action in ["validate-all", "start", "stop"] {
            let out = r.run(action, &[("OCF_RESKEY_CRM_meta_timeout", "5000")]);
            assert_eq!(out.code, ERR_CONFIGURED, "{action} {dir}");
            let reason = out.exit_reason().unwrap_or_default();
            assert!(reason.contains("directory"), "{action} {dir}: {reason:?}");
        }
        assert_eq!(r.monitor(0).code, ERR_CONFIGURED, "monitor {dir}");
        assert_ne!(r.probe(), OK, "probe {dir}");
        assert!(lab.alive(bystander), "{dir}: a user of / was signalled");
    }
    // `..` that does not lead to / is refused as well: the mount point is a plain path.
    for dir in [format!("{m}/../m"), format!("{m}/..")] {
        let r = Res::new(&dev, &dir, "ext4");
        assert_eq!(r.run("start", &[]).code, ERR_CONFIGURED, "{dir}");
        assert!(mounted(&m).is_none());
        assert_eq!(
            r.stop(),
            OK,
            "{dir}: nothing mounted there, nothing to refuse"
        );
    }
}

/// mount(2) takes per-mount flags that are not filesystem options: nosymfollow, iversion,
/// noiversion and nostrictatime must not reach the filesystem (EINVAL) where mount(8) works.
#[test]
fn vfs_options_on_the_mount_syscall() {
    let Some(mut lab) = Lab::new("vfsopts") else {
        return;
    };
    let dev = lab.disk("o", "ext4", None);
    let mp = lab.mkdir("m");
    for (options, shown, hidden) in [
        ("nosymfollow", Some("nosymfollow"), None),
        ("nosymfollow,symfollow", None, Some("nosymfollow")),
        ("iversion", None, None),
        ("noiversion", None, None),
        ("strictatime,nostrictatime", None, Some("strictatime")),
        ("nodev,nosymfollow,noatime", Some("nosymfollow"), None),
    ] {
        let r = Res::new(&dev, &mp, "ext4").with("options", options);
        let out = r.run("start", &[]);
        assert_eq!(out.code, OK, "{options}: {:?}", out.exit_reason());
        let m = mounted(&mp).expect("mounted");
        let opts: Vec<&str> = m.options.split(',').collect();
        if let Some(o) = shown {
            assert!(opts.contains(&o), "{options}: {}", m.options);
        }
        if let Some(o) = hidden {
            assert!(!opts.contains(&o), "{options}: {}", m.options);
        }
        assert_eq!(r.monitor(20).code, OK, "{options}");
        assert_eq!(r.stop(), OK);
        assert!(mounted(&mp).is_none());
    }
}
