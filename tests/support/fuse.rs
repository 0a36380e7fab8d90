//! FUSE mounts whose server stops answering: what a hard NFS mount of a dead server or a hung
//! disk looks like to processes, made without a FUSE daemon (the test is the server).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A FUSE mount whose server never answers: every request waits forever. Closing the
/// returned /dev/fuse file aborts the connection.
pub fn hung_fuse_mount(mp: &str) -> Option<std::fs::File> {
    let fuse = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .ok()?;
    let data = format!(
        "fd={},rootmode=40000,user_id=0,group_id=0",
        std::os::fd::AsRawFd::as_raw_fd(&fuse)
    );
    nix::mount::mount(
        Some("ffs-hung"),
        Path::new(mp),
        Some("fuse.ffshung"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .ok()?;
    Some(fuse)
}

/// A FUSE server that answers INIT (and ACCESS, with ENOSYS: "no access checks") and then
/// nothing ever again: processes can enter the filesystem, and every later request (stat,
/// read, …) hangs, as on a hard NFS mount whose server died. Runs until the mount is gone.
pub fn half_dead_fuse_server(fuse: std::fs::File) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || serve(fuse, true, None))
}

/// The server loop: INIT and ACCESS answered, INTERRUPT when `interrupts`, nothing else. With
/// `stop`, it returns once that is set, closing the connection.
fn serve(fuse: std::fs::File, interrupts: bool, stop: Option<Arc<AtomicBool>>) {
    use std::io::Write;
    {
        let mut f = fuse;
        let mut buf = vec![0u8; 1 << 20];
        while let Some(n) = next_request(&mut f, &mut buf, stop.as_deref()) {
            if n < 40 {
                continue;
            }
            let opcode = u32::from_ne_bytes(buf[4..8].try_into().unwrap());
            let unique = u64::from_ne_bytes(buf[8..16].try_into().unwrap());
            let reply = |error: i32, body: &[u8]| {
                let mut out = Vec::with_capacity(16 + body.len());
                out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
                out.extend_from_slice(&error.to_ne_bytes());
                out.extend_from_slice(&unique.to_ne_bytes());
                out.extend_from_slice(body);
                out
            };
            let out = match opcode {
                26 => {
                    // fuse_init_out: major 7, minor 31, max_readahead, flags 0, …, max_write
                    let mut init = vec![0u8; 64];
                    init[0..4].copy_from_slice(&7u32.to_ne_bytes());
                    init[4..8].copy_from_slice(&31u32.to_ne_bytes());
                    init[8..12].copy_from_slice(&buf[48..52]);
                    init[20..24].copy_from_slice(&4096u32.to_ne_bytes());
                    init[24..28].copy_from_slice(&1u32.to_ne_bytes());
                    reply(0, &init)
                }
                34 => reply(-nix::libc::ENOSYS, &[]),
                // FUSE_INTERRUPT: a waiter was signalled; let it go (with EINTR), so a
                // killed process can die. Nothing else is ever answered.
                36 if interrupts => {
                    let interrupted = u64::from_ne_bytes(buf[40..48].try_into().unwrap());
                    let mut out = Vec::with_capacity(16);
                    out.extend_from_slice(&16u32.to_ne_bytes());
                    out.extend_from_slice(&(-nix::libc::EINTR).to_ne_bytes());
                    out.extend_from_slice(&interrupted.to_ne_bytes());
                    out
                }
                _ => continue,
            };
            let _ = f.write_all(&out);
        }
    }
}

/// Read the next request; with `stop`, poll so that a set flag ends the server.
fn next_request(f: &mut std::fs::File, buf: &mut [u8], stop: Option<&AtomicBool>) -> Option<usize> {
    use nix::poll::{poll, PollFd, PollFlags};
    use std::io::Read;
    use std::os::fd::AsFd;
    if let Some(stop) = stop {
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let mut p = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            if poll(&mut p, 100u16).is_ok_and(|n| n > 0) {
                break;
            }
        }
    }
    f.read(buf).ok()
}

/// A FUSE mount whose server answers INIT and ACCESS and then never anything, not even
/// FUSE_INTERRUPT: a process whose request the server has read waits in uninterruptible
/// sleep (D state), and SIGKILL does not end it, as with I/O on a dead disk. Dropping it
/// closes the connection, which frees those processes, and detaches the mount.
pub struct DeadFuse {
    mp: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl DeadFuse {
    pub fn mount(mp: &str) -> Option<DeadFuse> {
        let fuse = hung_fuse_mount(mp)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let server = std::thread::spawn(move || serve(fuse, false, Some(flag)));
        Some(DeadFuse {
            mp: mp.into(),
            stop,
            server: Some(server),
        })
    }
}

impl Drop for DeadFuse {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
        let _ = nix::mount::umount2(&self.mp, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Processes whose command line contains `needle`, with their state letter (R, S, D, Z…).
pub fn processes_with(needle: &str) -> Vec<(i32, char)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some(state) = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next()) {
            found.push((pid, state));
        }
    }
    found
}

/// Run `program args` as Pacemaker would, with `params` as OCF_RESKEY_* and `env`, for at most
/// `limit`: its exit code and how long it took, or None when it was still running then (it is
/// killed, not waited for: it may be stuck in uninterruptible sleep).
#[allow(clippy::zombie_processes)]
pub fn run_within(
    program: &str,
    args: &[&str],
    params: &[(&str, &str)],
    env: &[(&str, &str)],
    limit: Duration,
) -> (Option<i32>, Duration) {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("OCF_ROOT", super::OCF_ROOT)
        .env("OCF_RESOURCE_INSTANCE", "test-hung")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    cmd.envs(env.iter().copied());
    let t = std::time::Instant::now();
    let mut child = cmd.spawn().expect("run the agent");
    while t.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code(), t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    (None, t.elapsed())
}
