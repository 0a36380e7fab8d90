//! ferro-ocf against the reference agents, side by side in one run, on the same resources.
//!
//! For each case both agents run the same action on the same live resource (a VIP in a veth
//! network namespace, XFS/ext4 loop-device mounts) N times; the NFS agents, on a host without
//! nfsd, against the same stand-in state (an etab and an `exportfs` that lists it; an init
//! script and a process named rpc.statd). Per invocation it records wall
//! time, CPU time (user+sys of the agent and every process it waited for, from wait4) and peak
//! RSS; processes spawned are counted exactly by running the invocation once more as the only
//! child of a fresh PID namespace and reading `ns_last_pid`. The table goes to stdout and, with
//! `--out FILE`, to a Markdown file (docs/bench.md via bench/run.sh).
//!
//! Needs root. `cargo bench --bench agents -- [--quick] [--out FILE]`.

use nix::libc;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The agents under test: links to the binary cargo built for this bench (not whatever is
/// installed), named like the installed ones so argv0 dispatch is the same.
const FERRO_DIR: &str = "/run/ferro-bench/ferro";
const REF_DIR: &str = "/usr/lib/ocf/resource.d/heartbeat";

fn link_agents() {
    let _ = std::fs::remove_dir_all(FERRO_DIR);
    std::fs::create_dir_all(FERRO_DIR).unwrap();
    for agent in ["IPaddr2", "Filesystem", "exportfs", "nfsserver"] {
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_ferro-ocf"),
            Path::new(FERRO_DIR).join(agent),
        )
        .unwrap();
    }
}

/// One measured invocation.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    maxrss_kib: i64,
    rc: i32,
}

/// An agent invocation: which implementation, action, environment.
#[derive(Clone)]
struct Call {
    agent: PathBuf,
    action: &'static str,
    env: Vec<(String, String)>,
}

impl Call {
    fn new(dir: &str, agent: &str, action: &'static str, params: &[(&str, &str)]) -> Call {
        let mut env = vec![
            ("OCF_ROOT".to_owned(), "/usr/lib/ocf".to_owned()),
            ("OCF_RESOURCE_INSTANCE".to_owned(), "bench".to_owned()),
            (
                "PATH".to_owned(),
                "/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            ),
            // What Pacemaker passes for a recurring monitor.
            ("OCF_RESKEY_CRM_meta_timeout".to_owned(), "20000".to_owned()),
            (
                "OCF_RESKEY_CRM_meta_interval".to_owned(),
                "10000".to_owned(),
            ),
        ];
        env.extend(
            params
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        Call {
            agent: Path::new(dir).join(agent),
            action,
            env,
        }
    }

    fn with_env(mut self, k: &str, v: &str) -> Call {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.agent);
        c.arg(self.action)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Run once, measuring wall, CPU (self + reaped descendants) and peak RSS via wait4.
    fn measure(&self) -> Sample {
        let start = Instant::now();
        // Reaped by wait4 below, which std's Child cannot do (it has no rusage).
        #[allow(clippy::zombie_processes)]
        let child = self.command().spawn().expect("spawn agent");
        let mut status = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = child.id() as libc::pid_t;
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        assert_eq!(r, pid, "wait4");
        let wall = start.elapsed();
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Sample {
            wall,
            cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss,
            rc: if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            },
        }
    }

    /// Processes this invocation creates besides itself: run it as the first child in a new PID
    /// namespace (so it is pid 1's only child, pid 2), then read the namespace's last pid.
    fn processes_spawned(&self) -> u32 {
        // unshare(1) makes its child pid 1 of a new PID namespace; that child (this program in
        // counting mode) runs the agent as pid 2 and reports the namespace's last pid.
        let out = Command::new("unshare")
            .args(["--pid", "--fork", "--"])
            .arg(std::env::current_exe().unwrap())
            .arg("--count-in-pidns")
            .arg(&self.agent)
            .arg(self.action)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("unshare");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(u32::MAX)
    }
}

/// pid-namespace init: run argv as pid 2, wait, print how many pids were used after it.
fn count_in_pidns(args: &[OsString]) -> ! {
    let mut c = Command::new(&args[0]);
    c.args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn");
    let first = child.id();
    child.wait().unwrap();
    // Reap anything orphaned onto us (background helpers) so they are counted, too.
    std::thread::sleep(Duration::from_millis(200));
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!("{}", last - first);
    std::process::exit(0)
}

struct Row {
    case: String,
    ferro: Stats,
    reference: Stats,
}

#[derive(Default)]
struct Stats {
    n: usize,
    wall_median: Duration,
    cpu_mean: Duration,
    maxrss_kib: i64,
    spawned: u32,
    rcs: String,
}

fn stats(samples: &[Sample], spawned: u32) -> Stats {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    let mut rcs: Vec<i32> = samples.iter().map(|s| s.rc).collect();
    rcs.sort();
    rcs.dedup();
    Stats {
        n: samples.len(),
        wall_median: walls[walls.len() / 2],
        cpu_mean: samples.iter().map(|s| s.cpu).sum::<Duration>() / samples.len() as u32,
        maxrss_kib: samples.iter().map(|s| s.maxrss_kib).max().unwrap_or(0),
        spawned,
        rcs: rcs
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Measure `ferro` and `reference` alternately, so drift in machine load hits both alike.
fn compare(case: &str, n: usize, ferro: &Call, reference: &Call) -> Row {
    let (mut f, mut r) = (Vec::new(), Vec::new());
    for _ in 0..n {
        f.push(ferro.measure());
        r.push(reference.measure());
    }
    let row = Row {
        case: case.to_owned(),
        ferro: stats(&f, ferro.processes_spawned()),
        reference: stats(&r, reference.processes_spawned()),
    };
    eprintln!(
        "  {case}: ferro {:?} / reference {:?}",
        row.ferro.wall_median, row.reference.wall_median
    );
    row
}

/// A sequence of calls timed as one unit (e.g. stopping ten filesystems).
fn measure_seq(calls: &[Call]) -> Sample {
    let mut total = Sample::default();
    for c in calls {
        let s = c.measure();
        total.wall += s.wall;
        total.cpu += s.cpu;
        total.maxrss_kib = total.maxrss_kib.max(s.maxrss_kib);
        total.rc = total.rc.max(s.rc);
    }
    total
}

fn sh(argv: &[&str]) {
    let st = Command::new(argv[0])
        .args(&argv[1..])
        .status()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(st.success(), "{argv:?} failed");
}

fn out(argv: &[&str]) -> String {
    let o = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A veth pair in two fresh namespaces; this process enters the first so that both agents run
/// inside it without a wrapper process. Removed on drop.
struct NetLab;

impl NetLab {
    fn new() -> NetLab {
        // Left over from an interrupted run.
        for ns in ["fbench", "fbench-peer"] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        sh(&["ip", "netns", "add", "fbench"]);
        sh(&["ip", "netns", "add", "fbench-peer"]);
        sh(&[
            "ip",
            "link",
            "add",
            "fbench0",
            "netns",
            "fbench",
            "type",
            "veth",
            "peer",
            "name",
            "fbench1",
            "netns",
            "fbench-peer",
        ]);
        sh(&[
            "ip",
            "-n",
            "fbench",
            "addr",
            "add",
            "192.0.2.1/24",
            "dev",
            "fbench0",
        ]);
        sh(&["ip", "-n", "fbench", "link", "set", "fbench0", "up"]);
        sh(&["ip", "-n", "fbench", "link", "set", "lo", "up"]);
        sh(&["ip", "-n", "fbench-peer", "link", "set", "fbench1", "up"]);
        let f = std::fs::File::open("/run/netns/fbench").unwrap();
        assert_eq!(
            unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns"
        );
        NetLab
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", "fbench"]).status();
        let _ = Command::new("ip")
            .args(["netns", "del", "fbench-peer"])
            .status();
    }
}

/// Loop-device filesystems in a temp dir. Removed on drop.
struct Disks {
    dir: PathBuf,
    loops: Vec<String>,
}

impl Disks {
    fn new(n: usize, fstype: &str, size: &str) -> Disks {
        let dir = std::env::temp_dir().join(format!("fbench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut loops = Vec::new();
        for i in 0..n {
            let img = dir.join(format!("d{i}.img"));
            sh(&["truncate", "-s", size, img.to_str().unwrap()]);
            let mkfs = format!("mkfs.{fstype}");
            sh(&[&mkfs, "-q", img.to_str().unwrap()]);
            loops.push(out(&["losetup", "--find", "--show", img.to_str().unwrap()]));
            std::fs::create_dir_all(dir.join(format!("m{i}"))).unwrap();
        }
        Disks { dir, loops }
    }

    fn mnt(&self, i: usize) -> String {
        self.dir.join(format!("m{i}")).to_str().unwrap().to_owned()
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        for i in 0..self.loops.len() {
            let _ = Command::new("umount")
                .arg(self.mnt(i))
                .stderr(Stdio::null())
                .status();
        }
        for l in &self.loops {
            let _ = Command::new("losetup").args(["-d", l]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ipaddr2_cases(n: usize, rows: &mut Vec<Row>) {
    let _lab = NetLab::new();
    let params = [
        ("ip", "192.0.2.200"),
        ("cidr_netmask", "24"),
        ("nic", "fbench0"),
    ];
    let start = Call::new(FERRO_DIR, "IPaddr2", "start", &params);
    assert_eq!(start.measure().rc, 0, "ocf:ferro:IPaddr2 start");
    rows.push(compare(
        "IPaddr2 monitor (VIP up)",
        n,
        &Call::new(FERRO_DIR, "IPaddr2", "monitor", &params),
        &Call::new(REF_DIR, "IPaddr2", "monitor", &params),
    ));
    Call::new(FERRO_DIR, "IPaddr2", "stop", &params).measure();
    rows.push(compare(
        "IPaddr2 monitor (VIP down)",
        n,
        &Call::new(FERRO_DIR, "IPaddr2", "monitor", &params),
        &Call::new(REF_DIR, "IPaddr2", "monitor", &params),
    ));
}

fn filesystem_cases(n: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let disks = Disks::new(10, "ext4", "64M");
    let fs = |i: usize| {
        vec![
            ("device".to_owned(), disks.loops[i].clone()),
            ("directory".to_owned(), disks.mnt(i)),
            ("fstype".to_owned(), "ext4".to_owned()),
        ]
    };
    let call = |dir: &str, action: &'static str, i: usize| {
        let p = fs(i);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Call::new(dir, "Filesystem", action, &p)
    };
    assert_eq!(
        call(FERRO_DIR, "start", 0).measure().rc,
        0,
        "ocf:ferro:Filesystem start"
    );
    rows.push(compare(
        "Filesystem monitor depth 0",
        n,
        &call(FERRO_DIR, "monitor", 0),
        &call(REF_DIR, "monitor", 0),
    ));
    rows.push(compare(
        "Filesystem monitor depth 20",
        n,
        &call(FERRO_DIR, "monitor", 0).with_env("OCF_CHECK_LEVEL", "20"),
        &call(REF_DIR, "monitor", 0).with_env("OCF_CHECK_LEVEL", "20"),
    ));
    call(FERRO_DIR, "stop", 0).measure();

    // Stop of ten idle filesystems (resource-agents #1907): mount all ten, time the ten stops.
    let rounds = (n / 10).max(3);
    let (mut f, mut r, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let mount_all = || {
        for i in 0..10 {
            sh(&["mount", "-t", "ext4", &disks.loops[i], &disks.mnt(i)]);
        }
    };
    for _ in 0..rounds {
        for (dir, acc) in [(FERRO_DIR, &mut f), (REF_DIR, &mut r)] {
            mount_all();
            let stops: Vec<Call> = (0..10).map(|i| call(dir, "stop", i)).collect();
            acc.push(measure_seq(&stops));
        }
        // The floor the issue sets: plain umount(8) of the same ten.
        mount_all();
        let t = Instant::now();
        for i in 0..10 {
            sh(&["umount", &disks.mnt(i)]);
        }
        plain.push(t.elapsed());
    }
    plain.sort();
    notes.push(format!(
        "- Floor for the stop case: plain `umount` of the same ten filesystems took {} ms (median of {rounds}).",
        ms(plain[plain.len() / 2])
    ));
    rows.push(Row {
        case: "Filesystem stop of 10 idle filesystems (total)".to_owned(),
        ferro: stats(&f, u32::MAX),
        reference: stats(&r, u32::MAX),
    });
}

/// A scratch directory for the NFS cases, with a `bin` to put first on PATH. Removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("fbench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("bin")).unwrap();
        Scratch(d)
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_str().unwrap().to_owned()
    }

    fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join("bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The environment both agents get: the stand-ins first on PATH.
    fn call(&self, dir: &str, agent: &str, params: &[(&str, &str)]) -> Call {
        Call::new(dir, agent, "monitor", params).with_env(
            "PATH",
            &format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.path("bin")),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// exportfs monitor with 1 to 500 exports in the table. ferro reads etab once (the state
/// directory relocated with FERRO_NFS_STATEDIR); the reference runs `exportfs` and greps its
/// whole listing, here from a stand-in printing the same etab as `exportfs` does (one process,
/// like the real one). Both need the same state file under HA_RSCTMP.
fn exportfs_cases(n: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let s = Scratch::new("exportfs");
    for d in ["state", "rsctmp"] {
        std::fs::create_dir_all(s.0.join(d)).unwrap();
    }
    std::fs::write(s.0.join("state/rmtab"), "").unwrap();
    // ha_pseudo_resource's file of the instance "bench": exported on this boot.
    std::fs::write(s.0.join("rsctmp/bench"), "").unwrap();
    s.script(
        "exportfs",
        &format!("exec sed -e 's/(.*//' '{}'", s.path("state/etab")),
    );
    for exports in [1usize, 50, 200, 500] {
        let mut etab = String::new();
        for i in 0..exports {
            let dir = s.path(&format!("data/{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let _ = writeln!(
                etab,
                "{dir}\t192.0.2.0/24(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid={},anonuid=65534,anongid=65534,sec=sys,rw,secure,root_squash,no_all_squash)",
                i + 1
            );
        }
        std::fs::write(s.0.join("state/etab"), etab).unwrap();
        // The last one listed: the reference's grep reads the whole listing.
        let dir = s.path(&format!("data/{}", exports - 1));
        let fsid = exports.to_string();
        let params = [
            ("clientspec", "192.0.2.0/24"),
            ("directory", dir.as_str()),
            ("fsid", fsid.as_str()),
        ];
        let call = |agent_dir: &str| {
            s.call(agent_dir, "exportfs", &params)
                .with_env("FERRO_NFS_STATEDIR", &s.path("state"))
                .with_env("HA_RSCTMP", &s.path("rsctmp"))
        };
        rows.push(compare(
            &format!(
                "exportfs monitor, {exports} export{}",
                if exports == 1 { "" } else { "s" }
            ),
            n,
            &call(FERRO_DIR),
            &call(REF_DIR),
        ));
    }
    notes.push(
        "- exportfs (no nfsd here): both agents see the same table. ferro reads etab from the \
         state directory (FERRO_NFS_STATEDIR); the reference runs `exportfs` on PATH, a stand-in \
         printing that etab as exportfs lists it (one process, as the real one). Both find the \
         same state file under HA_RSCTMP; the resource monitored is the last export listed. \
         The reference also copies /var/lib/nfs/rmtab lines into `<dir>/.rmtab` (ferro: from \
         the state directory's empty rmtab)."
            .to_owned(),
    );
}

/// nfsserver monitor, both agents given the same init script (nfs_init_script: its status
/// exits 0) and a process named rpc.statd for the locking check.
fn nfsserver_cases(n: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let s = Scratch::new("nfsserver");
    s.script("nfs-init", "exit 0");
    let statd = s.0.join("bin/rpc.statd");
    std::fs::copy("/bin/sleep", &statd).unwrap();
    let mut statd = Command::new(&statd).arg("3600").spawn().unwrap();
    let init = s.path("bin/nfs-init");
    let params = [("nfs_init_script", init.as_str())];
    rows.push(compare(
        "nfsserver monitor (init script)",
        n,
        &s.call(FERRO_DIR, "nfsserver", &params),
        &s.call(REF_DIR, "nfsserver", &params),
    ));
    let _ = statd.kill();
    let _ = statd.wait();
    notes.push(
        "- ferro's exportfs monitor creates one process: the bounded worker that resolves the \
         directory (a path on a dead mount never answers)."
            .to_owned(),
    );
    notes.push(
        "- nfsserver (no nfsd, no systemd here): both agents run the same init script as \
         nfs_init_script (`status` exits 0) and find the same process named rpc.statd."
            .to_owned(),
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    if a.is_zero() {
        return "∞".into();
    }
    format!("{:.0}×", b.as_secs_f64() / a.as_secs_f64())
}

fn spawned(n: u32) -> String {
    if n == u32::MAX {
        "–".into()
    } else {
        n.to_string()
    }
}

fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| case | N | wall ms ferro | wall ms ref | wall ratio | CPU ms ferro | CPU ms ref | CPU ratio | procs ferro | procs ref | max RSS KiB ferro | max RSS KiB ref | rc ferro/ref |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (f, x) = (&r.ferro, &r.reference);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            r.case,
            f.n,
            ms(f.wall_median),
            ms(x.wall_median),
            ratio(f.wall_median, x.wall_median),
            ms(f.cpu_mean),
            ms(x.cpu_mean),
            ratio(f.cpu_mean, x.cpu_mean),
            spawned(f.spawned),
            spawned(x.spawned),
            f.maxrss_kib,
            x.maxrss_kib,
            f.rcs,
            x.rcs
        );
    }
    s
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--count-in-pidns") {
        count_in_pidns(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out_file = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let n = if quick { 10 } else { 100 };
    link_agents();

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    eprintln!("benchmarking, N={n}");
    ipaddr2_cases(n, &mut rows);
    filesystem_cases(n, &mut rows, &mut notes);
    exportfs_cases(n, &mut rows, &mut notes);
    nfsserver_cases(n, &mut rows, &mut notes);

    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "# Benchmarks: ferro-ocf against the reference agents\n"
    );
    let _ = writeln!(
        doc,
        "Run {} on {} (kernel {}), {} CPUs, load average {} at the start; resource-agents {}.",
        out(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
        out(&["hostname"]),
        out(&["uname", "-r"]),
        out(&["nproc"]),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .next()
            .unwrap_or("?")
            .to_owned(),
        out(&["dpkg-query", "-W", "-f=${Version}", "resource-agents"])
    );
    let _ = writeln!(doc, "Both agents run the same action on the same live resource, alternately, N times, as Pacemaker runs a recurring monitor (CRM_meta_interval set). `bench/run.sh` regenerates this file.\n");
    let _ = writeln!(doc, "- wall: median; CPU: mean user+sys of the agent and every process it waited for (wait4); procs: processes the invocation created besides itself (counted in a fresh PID namespace); max RSS: largest resident set of the agent or any waited-for child.");
    let _ = writeln!(doc, "- ratio: reference / ferro.\n");
    doc.push_str(&table(&rows));
    doc.push('\n');
    notes.push(
        "- drbd is not measured here: this host has no DRBD module, without which the reference \
         cannot monitor. In steady state ocf:ferro:drbd's recurring monitor runs no process on \
         DRBD 8.4 and only `drbdsetup events2` on DRBD 9 (docs/compatibility.md; test \
         `steady_state_monitor_runs_nothing_and_a_deleted_score_comes_back`)."
            .to_owned(),
    );
    for note in &notes {
        let _ = writeln!(doc, "{note}");
    }
    print!("{doc}");
    let _ = std::fs::remove_dir_all(Path::new(FERRO_DIR).parent().unwrap());
    if let Some(f) = out_file {
        std::fs::write(&f, &doc).unwrap();
        eprintln!("wrote {}", f.display());
    }
}
