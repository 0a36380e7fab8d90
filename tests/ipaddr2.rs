//! ocf:ferro:IPaddr2 against the real kernel: every test builds two fresh network namespaces
//! joined by a veth pair (`fipt0` on the agent's side, `fipt1` on the peer's), runs the agent
//! in the first through `network_namespace`, and checks the result with `ip` and by capturing
//! packets on the peer. The namespaces go away when the test ends, also when it fails.

mod support;

use nix::libc;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use support::{have, run_agent, skip, Outcome};

const AGENT: &str = "IPaddr2";
const MAC_A: [u8; 6] = [0x02, 0xf1, 0x00, 0x00, 0x00, 0x01];
const MAC_A_STR: &str = "02:f1:00:00:00:01";
const MAC_B_STR: &str = "02:f1:00:00:00:02";

/// Two namespaces and a veth pair: a = 192.0.2.1/24, 2001:db8::1/64; b = .2 and ::2.
struct Lab {
    a: String,
    b: String,
    rsc_tmp: PathBuf,
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn ip_cmd(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces of earlier runs that were killed before their Drop ran: `fipt-<pid>-…` of a
/// process that is gone.
fn remove_stale_namespaces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("fipt-").and_then(|r| r.split('-').next());
            if let Some(pid) =
                pid.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = Command::new("ip").args(["netns", "del", &name]).output();
                }
            }
        }
    });
}

impl Lab {
    fn new(tag: &str) -> Lab {
        remove_stale_namespaces();
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "fipt-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            a: format!("{id}-a"),
            b: format!("{id}-b"),
            rsc_tmp: std::env::temp_dir().join(&id),
        };
        for ns in [&lab.a, &lab.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip_cmd(&["netns", "add", ns]);
        }
        std::fs::create_dir_all(&lab.rsc_tmp).unwrap();
        ip_cmd(&[
            "-n", &lab.a, "link", "add", "fipt0", "address", MAC_A_STR, "type", "veth", "peer",
            "name", "fipt1", "address", MAC_B_STR, "netns", &lab.b,
        ]);
        // DAD of the lab's own addresses is not under test: nodad keeps them usable at once.
        lab.ip_a(&["addr", "add", "192.0.2.1/24", "dev", "fipt0"]);
        lab.ip_a(&[
            "-6",
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            "fipt0",
            "nodad",
        ]);
        lab.ip_b(&["addr", "add", "192.0.2.2/24", "dev", "fipt1"]);
        lab.ip_b(&[
            "-6",
            "addr",
            "add",
            "2001:db8::2/64",
            "dev",
            "fipt1",
            "nodad",
        ]);
        lab.ip_a(&["link", "set", "lo", "up"]);
        lab.ip_a(&["link", "set", "fipt0", "up"]);
        lab.ip_b(&["link", "set", "fipt1", "up"]);
        lab
    }

    fn ip_a(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", &self.a];
        v.extend_from_slice(args);
        ip_cmd(&v)
    }

    fn ip_b(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", &self.b];
        v.extend_from_slice(args);
        ip_cmd(&v)
    }

    /// `ip -o addr show dev fipt0` in the agent's namespace, one address a line.
    fn addrs(&self) -> String {
        self.ip_a(&["-o", "addr", "show", "dev", "fipt0"])
    }

    fn has(&self, cidr: &str) -> bool {
        self.addrs()
            .lines()
            .any(|l| l.split_whitespace().nth(3) == Some(cidr))
    }

    /// Run the agent in namespace a with `params`.
    fn run(&self, action: &str, params: &[(&str, &str)]) -> Outcome {
        self.run_env(action, params, &[])
    }

    fn run_env(&self, action: &str, params: &[(&str, &str)], env: &[(&str, &str)]) -> Outcome {
        let mut p = vec![("network_namespace", self.a.as_str())];
        p.extend_from_slice(params);
        let tmp = self.rsc_tmp.to_str().unwrap();
        let mut e = vec![("HA_RSCTMP", tmp)];
        e.extend_from_slice(env);
        run_agent(AGENT, action, &p, &e)
    }

    fn ok(&self, action: &str, params: &[(&str, &str)]) {
        let o = self.run(action, params);
        assert_eq!(o.code, 0, "{action} {params:?}: {o:?}");
    }

    fn code(&self, action: &str, params: &[(&str, &str)]) -> i32 {
        self.run(action, params).code
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.rsc_tmp);
    }
}

macro_rules! need_root {
    ($name:literal) => {
        if !root() || !have("ip") {
            skip($name, "needs root and iproute2 to build network namespaces");
            return;
        }
    };
}

const V4: &[(&str, &str)] = &[
    ("ip", "192.0.2.10"),
    ("nic", "fipt0"),
    ("cidr_netmask", "24"),
];

#[test]
fn ipv4_start_monitor_stop_and_idempotence() {
    need_root!("ipv4_start_monitor_stop_and_idempotence");
    let lab = Lab::new("v4");
    assert_eq!(lab.code("monitor", V4), 7);
    lab.ok("start", V4);
    assert!(lab.has("192.0.2.10/24"), "{}", lab.addrs());
    assert!(lab.addrs().contains("brd 192.0.2.255"), "{}", lab.addrs());
    assert_eq!(lab.code("monitor", V4), 0);
    // Double start: success, still one address.
    lab.ok("start", V4);
    assert_eq!(lab.addrs().matches("192.0.2.10/").count(), 1);
    // The address answers from the peer's side.
    let ping = Command::new("ip")
        .args(["netns", "exec", &lab.b, "ping", "-c1", "-W2", "192.0.2.10"])
        .output()
        .unwrap();
    if have("ping") {
        assert!(ping.status.success(), "{ping:?}");
    }
    lab.ok("stop", V4);
    assert!(!lab.has("192.0.2.10/24"));
    assert_eq!(lab.code("monitor", V4), 7);
    let o = lab.run_env("monitor", V4, &[("OCF_RESKEY_CRM_meta_interval", "10000")]);
    assert_eq!(o.code, 7, "{o:?}");
    assert_eq!(o.exit_reason(), Some("192.0.2.10/24 is not on fipt0"));
    // Double stop: success.
    lab.ok("stop", V4);
    // The lab's own address was never touched.
    assert!(lab.has("192.0.2.1/24"));
}

#[test]
fn ipv6_start_after_dad_monitor_stop() {
    need_root!("ipv6_start_after_dad_monitor_stop");
    let lab = Lab::new("v6");
    let p = &[
        ("ip", "2001:db8::10"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
    ];
    lab.ok("start", p);
    let line = lab.addrs();
    assert!(lab.has("2001:db8::10/64"), "{line}");
    // Start waited for DAD: the address is usable when start returns.
    assert!(
        !line
            .lines()
            .any(|l| l.contains("2001:db8::10/") && l.contains("tentative")),
        "{line}"
    );
    assert_eq!(lab.code("monitor", p), 0);
    lab.ok("start", p);
    lab.ok("stop", p);
    assert!(!lab.has("2001:db8::10/64"));
    lab.ok("stop", p);
    assert_eq!(lab.code("monitor", p), 7);
}

#[test]
fn nic_and_netmask_are_found_in_the_routing_table() {
    need_root!("nic_and_netmask_are_found_in_the_routing_table");
    let lab = Lab::new("findif");
    let p4 = &[("ip", "192.0.2.20")];
    lab.ok("validate-all", p4);
    lab.ok("start", p4);
    assert!(lab.has("192.0.2.20/24"), "{}", lab.addrs());
    assert_eq!(lab.code("monitor", p4), 0);
    lab.ok("stop", p4);
    // Only the netmask given: the nic still comes from the route.
    let p = &[("ip", "192.0.2.21"), ("cidr_netmask", "25")];
    lab.ok("start", p);
    assert!(lab.has("192.0.2.21/25"), "{}", lab.addrs());
    assert!(lab.addrs().contains("brd 192.0.2.127"), "{}", lab.addrs());
    lab.ok("stop", p);
    // IPv6 with a second matching route for the same prefix, as router advertisements add:
    // resource-agents #1963 made findif fail on that.
    lab.ip_a(&[
        "-6",
        "route",
        "add",
        "2001:db8::/64",
        "dev",
        "fipt0",
        "proto",
        "ra",
        "metric",
        "1024",
    ]);
    let p6 = &[("ip", "2001:db8::20"), ("nodad", "true")];
    lab.ok("start", p6);
    assert!(lab.has("2001:db8::20/64"), "{}", lab.addrs());
    assert_eq!(lab.code("monitor", p6), 0);
    lab.ok("stop", p6);
    // 127.0.0.0/8 has no route in the main table: lo, from the local table, as findif does.
    let lo = &[("ip", "127.0.0.5")];
    lab.ok("start", lo);
    assert!(lab
        .ip_a(&["-o", "addr", "show", "dev", "lo"])
        .contains("127.0.0.5/8"));
    assert_eq!(lab.code("monitor", lo), 0);
    lab.ok("stop", lo);
    assert!(!lab
        .ip_a(&["-o", "addr", "show", "dev", "lo"])
        .contains("127.0.0.5/8"));
    // No route covers the address: the reference's "Unable to find nic or netmask".
    let far = &[("ip", "198.51.100.7")];
    let o = lab.run("start", far);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.exit_reason()
            .unwrap()
            .contains("Unable to find nic or netmask"),
        "{o:?}"
    );
    assert_eq!(lab.code("monitor", far), 7);
    assert_eq!(lab.code("stop", far), 0);
}

#[test]
fn iflabel_broadcast_and_ipv6_flags() {
    need_root!("iflabel_broadcast_and_ipv6_flags");
    let lab = Lab::new("flags");
    let p = &[
        ("ip", "192.0.2.30"),
        ("nic", "fipt0"),
        ("cidr_netmask", "24"),
        ("iflabel", "vip"),
        ("broadcast", "192.0.2.254"),
    ];
    lab.ok("start", p);
    let line = lab
        .addrs()
        .lines()
        .find(|l| l.contains("192.0.2.30/"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("fipt0:vip") && line.contains("brd 192.0.2.254"),
        "{line}"
    );
    lab.ok("stop", p);
    // The old nic:label form.
    let p = &[
        ("ip", "192.0.2.31"),
        ("nic", "fipt0:old"),
        ("cidr_netmask", "24"),
    ];
    lab.ok("start", p);
    assert!(
        lab.addrs()
            .lines()
            .any(|l| l.contains("192.0.2.31/") && l.contains("fipt0:old")),
        "{}",
        lab.addrs()
    );
    assert_eq!(lab.code("monitor", p), 0);
    lab.ok("stop", p);
    let p6 = &[
        ("ip", "2001:db8::31"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
        ("nodad", "true"),
        ("noprefixroute", "true"),
        ("preferred_lft", "0"),
    ];
    lab.ok("start", p6);
    let line = lab
        .addrs()
        .lines()
        .find(|l| l.contains("2001:db8::31/"))
        .unwrap()
        .to_owned();
    for flag in ["nodad", "noprefixroute", "deprecated", "preferred_lft 0sec"] {
        assert!(line.contains(flag), "{flag}: {line}");
    }
    assert_eq!(lab.code("monitor", p6), 0);
    lab.ok("stop", p6);
    // lvs_ipv6_addrlabel: an address label keeps the address from being chosen as source.
    let p6 = &[
        ("ip", "2001:db8::32"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
        ("nodad", "true"),
        ("lvs_ipv6_addrlabel", "true"),
        ("lvs_ipv6_addrlabel_value", "77"),
    ];
    lab.ok("start", p6);
    let labels = lab.ip_a(&["addrlabel", "list"]);
    assert!(
        labels.contains("prefix 2001:db8::32/128 label 77"),
        "{labels}"
    );
    lab.ok("stop", p6);
    assert!(!lab
        .ip_a(&["addrlabel", "list"])
        .contains("2001:db8::32/128"));
}

#[test]
fn link_down_is_not_running() {
    need_root!("link_down_is_not_running");
    let lab = Lab::new("link");
    lab.ok("start", V4);
    // The peer goes away: no carrier (IFF_LOWER_UP) on fipt0, the address is still there.
    lab.ip_b(&["link", "set", "fipt1", "down"]);
    assert!(lab.has("192.0.2.10/24"));
    assert_eq!(
        lab.code("monitor", V4),
        7,
        "resource-agents #2113: not a hard error"
    );
    // A recurring monitor says why: crm_mon shows the reason next to the failure.
    let o = lab.run_env("monitor", V4, &[("OCF_RESKEY_CRM_meta_interval", "10000")]);
    assert_eq!(o.code, 7, "{o:?}");
    assert_eq!(
        o.exit_reason(),
        Some("fipt0 has no carrier: 192.0.2.10 cannot be served")
    );
    let mut unchecked = V4.to_vec();
    unchecked.push(("check_link_status", "false"));
    assert_eq!(lab.code("monitor", &unchecked), 0);
    lab.ip_b(&["link", "set", "fipt1", "up"]);
    assert_eq!(lab.code("monitor", V4), 0);
    // Administratively down.
    lab.ip_a(&["link", "set", "fipt0", "down"]);
    assert_eq!(lab.code("monitor", V4), 7);
    lab.ok("stop", V4);
    // Down, the interface keeps the address but loses the route that told its prefix: stop
    // still finds and removes it (the reference reports success and leaves it behind).
    let nic_only = &[("ip", "192.0.2.12"), ("nic", "fipt0")];
    lab.ip_a(&["link", "set", "fipt0", "up"]);
    lab.ok("start", nic_only);
    lab.ip_a(&["link", "set", "fipt0", "down"]);
    assert!(lab.has("192.0.2.12/24"));
    assert_eq!(lab.code("monitor", nic_only), 7);
    lab.ok("stop", nic_only);
    assert!(!lab.has("192.0.2.12/24"), "{}", lab.addrs());
    // Start brings the link up, as the reference does.
    lab.ok("start", V4);
    assert!(lab.ip_a(&["link", "show", "fipt0"]).contains(",UP"));
    lab.ok("stop", V4);
}

/// Bad input: OCF_ERR_CONFIGURED, a reason naming the parameter, nothing changed.
#[test]
fn bad_input_is_refused_before_anything_changes() {
    need_root!("bad_input_is_refused_before_anything_changes");
    let lab = Lab::new("bad");
    let before = lab.addrs();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ip", "192.0.2.999")], "ip"),
        (&[("ip", "not-an-address"), ("nic", "fipt0")], "ip"),
        (&[("ip", "224.0.0.9"), ("nic", "fipt0")], "ip"),
        (
            &[("ip", "192.0.2.40"), ("cidr_netmask", "33")],
            "cidr_netmask",
        ),
        (
            &[("ip", "192.0.2.40"), ("cidr_netmask", "0")],
            "cidr_netmask",
        ),
        (
            &[("ip", "2001:db8::40"), ("cidr_netmask", "129")],
            "cidr_netmask",
        ),
        (
            &[("ip", "2001:db8::40"), ("cidr_netmask", "255.255.255.0")],
            "cidr_netmask",
        ),
        (&[("ip", "192.0.2.40"), ("nic", "fipt9")], "nic"),
        (&[("ip", "192.0.2.40"), ("nic", "fipt0;reboot")], "nic"),
        (&[("ip", "192.0.2.40"), ("nic", "fipt0 x")], "nic"),
        (&[("ip", "fe80::40")], "nic"),
        (
            &[
                ("ip", "192.0.2.40"),
                ("nic", "fipt0"),
                ("iflabel", "muchtoolong"),
            ],
            "iflabel",
        ),
        (
            &[("ip", "192.0.2.40"), ("iflabel", "muchtoolong")],
            "iflabel",
        ),
        // Labels end up in `ip addr` output that scripts on the node parse.
        (&[("ip", "192.0.2.40"), ("iflabel", "a\"b")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("iflabel", "a'b")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("iflabel", "a\\b")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("iflabel", "a%n")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("iflabel", "a;b")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("iflabel", "a*")], "iflabel"),
        (&[("ip", "192.0.2.40"), ("nic", "fipt0:a$b")], "nic"),
        (
            &[("ip", "192.0.2.40"), ("broadcast", "192.0.2")],
            "broadcast",
        ),
        (&[("ip", "192.0.2.40"), ("arp_count", "0")], "arp_count"),
        (&[("ip", "192.0.2.40"), ("nodad", "maybe")], "nodad"),
        (
            &[("ip", "192.0.2.40"), ("unique_clone_address", "true")],
            "unique_clone_address",
        ),
        (
            &[("ip", "2001:db8::40"), ("lvs_support", "true")],
            "lvs_support",
        ),
        (
            &[("ip", "2001:db8::40"), ("preferred_lft", "later")],
            "preferred_lft",
        ),
    ];
    for (params, name) in cases {
        for action in ["validate-all", "start"] {
            let o = lab.run(action, params);
            assert_eq!(o.code, 6, "{action} {params:?}: {o:?}");
            let reason = o
                .exit_reason()
                .unwrap_or_else(|| panic!("no reason: {o:?}"));
            assert!(
                reason.contains(name),
                "{action} {params:?}: {reason:?} should name {name}"
            );
        }
        // A probe judges only ip, nic and network_namespace; stop has nothing to undo.
        let probe = lab.code("monitor", params);
        match *name {
            "ip" => assert_eq!(probe, 6, "monitor {params:?}"),
            "nic" => {}
            _ => assert_eq!(probe, 7, "monitor {params:?}"),
        }
        assert_eq!(lab.code("stop", params), 0, "stop {params:?}");
    }
    // CLUSTERIP: a cloned IPaddr2.
    let o = lab.run_env(
        "start",
        &[("ip", "192.0.2.40")],
        &[
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
            ("OCF_RESKEY_CRM_meta_globally_unique", "true"),
        ],
    );
    assert_eq!(o.code, 6, "{o:?}");
    assert!(o.exit_reason().unwrap().contains("not supported"), "{o:?}");
    assert_eq!(lab.addrs(), before, "bad input changed the interface");
}

/// start and stop need root, as in the reference (OCF_ERR_PERM); nothing is tried without it.
#[test]
fn start_and_stop_need_root() {
    need_root!("start_and_stop_need_root");
    use std::os::unix::process::CommandExt;
    let lab = Lab::new("perm");
    for action in ["start", "stop"] {
        let out = Command::new(support::BIN)
            .args([AGENT, action])
            .env_clear()
            .env("OCF_ROOT", support::OCF_ROOT)
            .env("OCF_RESKEY_ip", "192.0.2.10")
            .env("OCF_RESKEY_network_namespace", &lab.a)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{action}: {stderr}");
        assert!(
            stderr.contains("ocf-exit-reason:You must be root"),
            "{stderr}"
        );
    }
    assert!(!lab.has("192.0.2.10/24"));
}

#[test]
fn missing_namespace_or_interface_on_this_node() {
    need_root!("missing_namespace_or_interface_on_this_node");
    let lab = Lab::new("absent");
    let ns = format!("{}-none", lab.a);
    let p = &[("ip", "192.0.2.50"), ("network_namespace", ns.as_str())];
    let o = run_agent(AGENT, "start", p, &[]);
    assert_eq!(o.code, 5, "{o:?}");
    assert!(
        o.exit_reason().unwrap().contains("network_namespace"),
        "{o:?}"
    );
    assert_eq!(run_agent(AGENT, "monitor", p, &[]).code, 7);
    assert_eq!(run_agent(AGENT, "stop", p, &[]).code, 0);
    // A probe on a node without the interface: not running, no configuration error.
    let p = &[
        ("ip", "192.0.2.50"),
        ("nic", "fipt9"),
        ("cidr_netmask", "24"),
    ];
    assert_eq!(
        lab.run_env("monitor", p, &[("OCF_RESKEY_CRM_meta_interval", "0")])
            .code,
        7
    );
    assert_eq!(lab.code("stop", p), 0);
}

/// A raw AF_PACKET socket on the peer's interface, opened from a thread that entered the
/// peer's namespace (the socket stays bound to it).
struct Capture {
    fd: OwnedFd,
}

impl Capture {
    fn open(ns: &str, ifname: &str, ethertype: u16) -> Capture {
        let ns = ns.to_owned();
        let ifname = std::ffi::CString::new(ifname).unwrap();
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            // SAFETY: plain libc calls on values owned here.
            unsafe {
                let idx = libc::if_nametoindex(ifname.as_ptr());
                assert!(idx > 0, "no {ifname:?}");
                let fd = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    ethertype.to_be() as i32,
                );
                assert!(fd >= 0, "{}", std::io::Error::last_os_error());
                let mut sa: libc::sockaddr_ll = std::mem::zeroed();
                sa.sll_family = libc::AF_PACKET as u16;
                sa.sll_protocol = ethertype.to_be();
                sa.sll_ifindex = idx as i32;
                let r = libc::bind(
                    fd,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&sa) as u32,
                );
                assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
                Capture {
                    fd: OwnedFd::from_raw_fd(fd),
                }
            }
        })
        .join()
        .unwrap()
    }

    /// Everything that arrives until `quiet` passes without a packet (or `max` in all).
    fn drain(&self, quiet: Duration, max: Duration) -> Vec<Vec<u8>> {
        let end = Instant::now() + max;
        let mut out = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now()).min(quiet);
            if left.is_zero() {
                return out;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
                return out;
            }
            let mut buf = vec![0u8; 2048];
            // SAFETY: valid buffer.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut _,
                    buf.len(),
                    0,
                )
            };
            if n > 0 {
                buf.truncate(n as usize);
                out.push(buf);
            }
        }
    }
}

/// Gratuitous ARPs for `ip` from the agent's side: request, sender = target = ip, our MAC.
fn garps(pkts: &[Vec<u8>], ip: Ipv4Addr) -> usize {
    pkts.iter()
        .filter(|p| {
            p.len() >= 28
                && p[0..8] == [0, 1, 8, 0, 6, 4, 0, 1]
                && p[8..14] == MAC_A
                && p[14..18] == ip.octets()
                && p[24..28] == ip.octets()
        })
        .count()
}

#[test]
fn gratuitous_arp_reaches_the_peer() {
    need_root!("gratuitous_arp_reaches_the_peer");
    let lab = Lab::new("garp");
    let cap = Capture::open(&lab.b, "fipt1", 0x0806);
    let mut p = V4.to_vec();
    p.extend([
        ("arp_bg", "false"),
        ("arp_count", "3"),
        ("arp_interval", "100"),
    ]);
    lab.ok("start", &p);
    // In the foreground: all three were sent when start returned.
    let pkts = cap.drain(Duration::from_millis(300), Duration::from_secs(2));
    assert_eq!(garps(&pkts, Ipv4Addr::new(192, 0, 2, 10)), 3, "{pkts:?}");
    // arp_count_refresh: re-announced on monitor.
    p.push(("arp_count_refresh", "2"));
    assert_eq!(lab.code("monitor", &p), 0);
    let pkts = cap.drain(Duration::from_millis(300), Duration::from_secs(2));
    assert_eq!(garps(&pkts, Ipv4Addr::new(192, 0, 2, 10)), 2, "{pkts:?}");
    lab.ok("stop", &p);
}

#[test]
fn arp_bg_returns_before_the_announcements_are_sent() {
    need_root!("arp_bg_returns_before_the_announcements_are_sent");
    let lab = Lab::new("arpbg");
    let vip = Ipv4Addr::new(192, 0, 2, 10);
    let cap = Capture::open(&lab.b, "fipt1", 0x0806);
    let mut p = V4.to_vec();
    p.extend([
        ("arp_bg", "true"),
        ("arp_count", "3"),
        ("arp_interval", "1500"),
    ]);
    lab.ok("start", &p);
    // Start is back while the sender still has two packets to go, 1.5 s apart.
    let early = cap.drain(Duration::from_millis(200), Duration::from_millis(500));
    assert!(garps(&early, vip) < 3, "start waited for all announcements");
    let late = cap.drain(Duration::from_secs(3), Duration::from_secs(6));
    assert_eq!(garps(&early, vip) + garps(&late, vip), 3);
    assert!(
        !lab.rsc_tmp.join("send_arp-192.0.2.10").exists(),
        "pid file left behind"
    );
    lab.ok("stop", &p);

    // Stop ends a sender that is still at work.
    let mut p = V4.to_vec();
    p.extend([
        ("arp_bg", "true"),
        ("arp_count", "20"),
        ("arp_interval", "500"),
    ]);
    lab.ok("start", &p);
    assert!(lab.rsc_tmp.join("send_arp-192.0.2.10").exists());
    lab.ok("stop", &p);
    let _ = cap.drain(Duration::from_millis(100), Duration::from_millis(200));
    let after = cap.drain(Duration::from_millis(1500), Duration::from_secs(2));
    assert_eq!(garps(&after, vip), 0, "sender kept going after stop");
}

#[test]
fn unsolicited_neighbour_advertisement_reaches_the_peer() {
    need_root!("unsolicited_neighbour_advertisement_reaches_the_peer");
    let lab = Lab::new("na");
    let vip: Ipv6Addr = "2001:db8::60".parse().unwrap();
    let cap = Capture::open(&lab.b, "fipt1", 0x86dd);
    let p = &[
        ("ip", "2001:db8::60"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
        ("arp_count", "2"),
        ("arp_interval", "100"),
    ];
    lab.ok("start", p);
    let pkts = cap.drain(Duration::from_millis(300), Duration::from_secs(2));
    // IPv6 header (40 bytes) + ICMPv6 NA: from the address itself, to all nodes, hop limit 255,
    // Override set, target = the address, target link-layer option = our MAC.
    let nas: Vec<_> = pkts
        .iter()
        .filter(|p| p.len() >= 72 && p[6] == 58 && p[40] == 136)
        .filter(|p| p[48..64] == vip.octets())
        .collect();
    assert_eq!(nas.len(), 2, "{pkts:?}");
    for na in nas {
        assert_eq!(na[7], 255, "hop limit");
        assert_eq!(na[8..24], vip.octets(), "source");
        assert_eq!(na[24..40], "ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(na[44] & 0xe0, 0x20, "flags: override only");
        assert_eq!(
            na[64..72],
            [2, 1, MAC_A[0], MAC_A[1], MAC_A[2], MAC_A[3], MAC_A[4], MAC_A[5]]
        );
    }
    // DAD had passed before: no advertisement while the address was tentative would have
    // left the socket (the kernel refuses a tentative source).
    lab.ok("stop", p);
}

#[test]
fn duplicate_addresses_fail_the_start() {
    need_root!("duplicate_addresses_fail_the_start");
    let lab = Lab::new("dup");
    // IPv4, run_arping: the peer already has the address and answers the probes.
    lab.ip_b(&["addr", "add", "192.0.2.70/24", "dev", "fipt1"]);
    let p = &[
        ("ip", "192.0.2.70"),
        ("nic", "fipt0"),
        ("cidr_netmask", "24"),
        ("run_arping", "true"),
    ];
    let o = lab.run("start", p);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.exit_reason().unwrap().contains("collision"), "{o:?}");
    assert!(!lab.has("192.0.2.70/24"));
    // Nobody has it: start goes ahead.
    let p = &[
        ("ip", "192.0.2.71"),
        ("nic", "fipt0"),
        ("cidr_netmask", "24"),
        ("run_arping", "true"),
    ];
    lab.ok("start", p);
    assert!(lab.has("192.0.2.71/24"));
    lab.ok("stop", p);
    // IPv6: the kernel's DAD finds the peer's address; start fails and takes it away again.
    lab.ip_b(&[
        "-6",
        "addr",
        "add",
        "2001:db8::70/64",
        "dev",
        "fipt1",
        "nodad",
    ]);
    let p = &[
        ("ip", "2001:db8::70"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
    ];
    let o = lab.run("start", p);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.exit_reason().unwrap().contains("collision"), "{o:?}");
    assert!(!lab.has("2001:db8::70/64"), "{}", lab.addrs());
}

#[test]
fn lvs_support_moves_the_address_off_and_back_onto_lo() {
    need_root!("lvs_support_moves_the_address_off_and_back_onto_lo");
    let lab = Lab::new("lvs");
    lab.ip_a(&["addr", "add", "192.0.2.80/32", "dev", "lo"]);
    let p = &[
        ("ip", "192.0.2.80"),
        ("nic", "fipt0"),
        ("cidr_netmask", "24"),
        ("lvs_support", "true"),
        ("flush_routes", "true"),
    ];
    lab.ok("start", p);
    assert!(!lab
        .ip_a(&["-o", "addr", "show", "dev", "lo"])
        .contains("192.0.2.80/32"));
    assert!(lab.has("192.0.2.80/24"));
    assert_eq!(lab.code("monitor", p), 0);
    lab.ok("stop", p);
    assert!(!lab.has("192.0.2.80/24"));
    assert!(lab
        .ip_a(&["-o", "addr", "show", "dev", "lo"])
        .contains("192.0.2.80/32"));
}

/// Labels of letters, digits, `-`, `_`, `.` and `:` (up to 15 characters with the nic) work.
#[test]
fn plain_labels_are_accepted() {
    need_root!("plain_labels_are_accepted");
    let lab = Lab::new("labels");
    for label in ["vip-1", "a_b.c", "0", "x:1"] {
        let p = &[
            ("ip", "192.0.2.33"),
            ("nic", "fipt0"),
            ("cidr_netmask", "24"),
            ("iflabel", label),
        ];
        lab.ok("start", p);
        let want = format!("fipt0:{label}");
        assert!(
            lab.addrs().lines().any(|l| l.contains("192.0.2.33/")
                && l.split_whitespace()
                    .any(|w| w.trim_end_matches('\\') == want)),
            "{label}: {}",
            lab.addrs()
        );
        lab.ok("stop", p);
    }
}

/// A link without carrier (the veth peer is down): with check_link_status=true the very next
/// monitor would fail ("no carrier"), and Pacemaker would restart the address in a loop. So
/// start fails, and leaves nothing behind. resource-agents 4.12 has no link check: its start
/// and monitor both succeed there.
#[test]
fn start_without_carrier_fails_when_monitor_would() {
    need_root!("start_without_carrier_fails_when_monitor_would");
    let lab = Lab::new("carrier");
    lab.ip_b(&["link", "set", "fipt1", "down"]);
    // The kernel's own link-local address changes state by itself (DAD): not compared.
    let global = |lab: &Lab| -> Vec<String> {
        lab.addrs()
            .lines()
            .filter(|l| !l.contains("scope link"))
            .map(str::to_owned)
            .collect()
    };
    let before = global(&lab);
    let started = Instant::now();
    let o = lab.run("start", V4);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.exit_reason().unwrap_or_default().contains("no carrier"),
        "{o:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!lab.has("192.0.2.10/24"), "{}", lab.addrs());
    assert_eq!(global(&lab), before);
    assert_eq!(lab.code("monitor", V4), 7);
    lab.ok("stop", V4);
    // Without the link check, start and monitor agree the other way.
    let mut unchecked = V4.to_vec();
    unchecked.push(("check_link_status", "false"));
    lab.ok("start", &unchecked);
    assert_eq!(lab.code("monitor", &unchecked), 0);
    lab.ok("stop", &unchecked);
    // Carrier that comes within the wait (the peer coming up): start succeeds.
    let peer = lab.b.clone();
    let up = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        ip_cmd(&["-n", &peer, "link", "set", "fipt1", "up"]);
    });
    let o = lab.run("start", V4);
    up.join().unwrap();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(lab.code("monitor", V4), 0);
    lab.ok("stop", V4);
    if std::path::Path::new(REFERENCE).exists() {
        let reference = Lab::new("carrier-ref");
        reference.ip_b(&["link", "set", "fipt1", "down"]);
        assert_eq!(run_reference(&reference, "start", V4), 0);
        assert_eq!(run_reference(&reference, "monitor", V4), 0);
        assert_eq!(run_reference(&reference, "stop", V4), 0);
    }
}

/// unique_clone_address adds the clone instance number to ip, as in the reference, and like
/// there needs globally-unique=true. This agent runs one instance only (clone-max 1): the
/// address is ip itself.
#[test]
fn unique_clone_address_of_a_single_instance() {
    need_root!("unique_clone_address_of_a_single_instance");
    let lab = Lab::new("uca");
    let p = &[
        ("ip", "192.0.2.50"),
        ("nic", "fipt0"),
        ("cidr_netmask", "24"),
        ("unique_clone_address", "true"),
    ];
    let meta = [
        ("OCF_RESKEY_CRM_meta_clone_max", "1"),
        ("OCF_RESKEY_CRM_meta_clone", "0"),
        ("OCF_RESKEY_CRM_meta_globally_unique", "true"),
    ];
    for action in ["validate-all", "start", "monitor"] {
        let o = lab.run_env(action, p, &meta);
        assert_eq!(o.code, 0, "{action}: {o:?}");
    }
    assert!(lab.has("192.0.2.50/24"), "{}", lab.addrs());
    assert_eq!(lab.run_env("stop", p, &meta).code, 0);
    assert!(!lab.has("192.0.2.50/24"));
    // Without globally-unique it makes no sense (the reference's reason and code).
    let o = lab.run_env("start", p, &meta[..2]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(o.exit_reason().unwrap().contains("unique_clone_address"));
}

#[test]
fn stop_with_a_configuration_start_refuses_succeeds() {
    need_root!("stop_with_a_configuration_start_refuses_succeeds");
    // Differs from the reference (which fails such a stop with OCF_ERR_CONFIGURED, and a
    // failed stop gets the node fenced): nothing can have been started, so stop succeeds.
    let lab = Lab::new("stopbad");
    assert_eq!(
        lab.code("stop", &[("ip", "2001:db8::90"), ("lvs_support", "true")]),
        0
    );
    assert_eq!(
        lab.code("stop", &[("ip", "192.0.2.90"), ("arp_count", "0")]),
        0
    );
}

/// The one rule for stop and probes: a bad value of a parameter other than ip, nic and
/// network_namespace falls back to its default. Stop returns 0 only once the address is gone,
/// probes never return 6 for such a parameter; with the resource running and stopped.
#[test]
fn stop_matrix() {
    need_root!("stop_matrix");
    let lab = Lab::new("matrix");
    let bad: &[(&str, &str)] = &[
        ("cidr_netmask", "33"),
        ("cidr_netmask", "255.0.255.0"),
        ("broadcast", "192.0.2"),
        ("iflabel", "a;b"),
        ("iflabel", "muchtoolongforit"),
        ("lvs_support", "maybe"),
        ("lvs_ipv6_addrlabel", "true"),
        ("unique_clone_address", "true"),
        ("arp_interval", "0"),
        ("arp_count", "0"),
        ("arp_count", "many"),
        ("arp_count_refresh", "x"),
        ("arp_bg", "maybe"),
        ("arp_sender", "carrier-pigeon"),
        ("flush_routes", "maybe"),
        ("run_arping", "maybe"),
        ("nodad", "maybe"),
        ("noprefixroute", "maybe"),
        ("preferred_lft", ""),
        ("preferred_lft", "later"),
        ("check_link_status", "maybe"),
        ("proto", "nope"),
    ];
    for (k, v) in bad {
        let mut params = V4.to_vec();
        params.push((*k, *v));
        for active in [true, false] {
            if active {
                lab.ok("start", V4);
            }
            let probe = lab.run("monitor", &params);
            assert_eq!(
                probe.code,
                if active { 0 } else { 7 },
                "probe {k}={v:?} active={active}: {probe:?}"
            );
            let o = lab.run("stop", &params);
            assert_eq!(o.code, 0, "stop {k}={v:?} active={active}: {o:?}");
            assert!(!lab.has("192.0.2.10/24"), "stop {k}={v:?} left the address");
            assert!(
                o.stderr.contains(k),
                "stop {k}={v:?} should warn about it: {o:?}"
            );
        }
        // validate-all still refuses it.
        assert_eq!(lab.code("validate-all", &params), 6, "{k}={v:?}");
    }
    // An unusable identity: stop succeeds only where the address cannot be there.
    let link_local = [("ip", "fe80::4:40")];
    assert_eq!(lab.code("stop", &link_local), 0);
    lab.ip_a(&[
        "-6",
        "addr",
        "add",
        "fe80::4:40/64",
        "dev",
        "fipt0",
        "nodad",
    ]);
    let o = lab.run("stop", &link_local);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        o.exit_reason().unwrap().contains("still on this node"),
        "{o:?}"
    );
    lab.ip_a(&["-6", "addr", "del", "fe80::4:40/64", "dev", "fipt0"]);
    for id in [[("ip", "192.0.2.999")], [("network_namespace", "no/such")]] {
        let mut params = V4.to_vec();
        params.extend_from_slice(&id);
        assert_eq!(run_agent(AGENT, "stop", &params, &[]).code, 0, "{id:?}");
    }
}

/// monitor spawns nothing and needs at most two netlink requests when nic and cidr_netmask
/// are given (counted with strace).
#[test]
fn monitor_spawns_no_process() {
    need_root!("monitor_spawns_no_process");
    if !have("strace") {
        skip("monitor_spawns_no_process", "strace is not installed");
        return;
    }
    let lab = Lab::new("cost");
    lab.ok("start", V4);
    let trace = lab.rsc_tmp.join("strace.out");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=process,sendto,sendmsg", "-o"])
        .arg(&trace)
        .args([support::BIN, AGENT, "monitor"])
        .env_clear()
        .env("OCF_ROOT", support::OCF_ROOT)
        .env("OCF_RESKEY_ip", "192.0.2.10")
        .env("OCF_RESKEY_nic", "fipt0")
        .env("OCF_RESKEY_cidr_netmask", "24")
        .env("OCF_RESKEY_network_namespace", &lab.a)
        // Recording the connections reads /proc and writes a file: no process either.
        .env("OCF_RESKEY_tickle_dir", &lab.rsc_tmp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        lab.rsc_tmp.join("192.0.2.10").is_file(),
        "no record written"
    );
    let t = std::fs::read_to_string(&trace).unwrap();
    let calls = |name: &str| {
        t.lines()
            .filter(|l| l.contains(&format!("{name}(")))
            .count()
    };
    assert_eq!(
        calls("execve"),
        1,
        "only the agent itself is executed:\n{t}"
    );
    assert_eq!(
        calls("clone") + calls("clone3") + calls("fork") + calls("vfork"),
        0,
        "{t}"
    );
    let netlink = t
        .lines()
        .filter(|l| l.contains("AF_NETLINK") || l.contains("nlmsg_type"))
        .count();
    assert!(
        (1..=2).contains(&netlink),
        "{netlink} netlink requests:\n{t}"
    );
    lab.ok("stop", V4);
}

#[test]
fn ocf_tester_passes() {
    need_root!("ocf_tester_passes");
    if !have("ocf-tester") {
        skip(
            "ocf_tester_passes",
            "ocf-tester (resource-agents) is not installed",
        );
        return;
    }
    let lab = Lab::new("tester");
    let rsc_tmp = lab.rsc_tmp.to_str().unwrap();
    for (ip, mask) in [("192.0.2.99", "24"), ("2001:db8::99", "64")] {
        let out = support::ocf_tester(
            &lab.rsc_tmp.join("agents"),
            AGENT,
            &[
                ("ip", ip),
                ("nic", "fipt0"),
                ("cidr_netmask", mask),
                ("network_namespace", &lab.a),
            ],
            &[("HA_RSCTMP", rsc_tmp)],
        );
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            out.code == 0 && text.contains("passed all tests"),
            "{ip}: {text}"
        );
    }
}

#[test]
fn pcs_describes_the_agent() {
    need_root!("pcs_describes_the_agent");
    if !have("pcs") {
        skip("pcs_describes_the_agent", "pcs is not installed");
        return;
    }
    support::installed_agent(AGENT);
    let out = Command::new("pcs")
        .args(["resource", "describe", "ocf:ferro:IPaddr2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for want in [
        "ocf:ferro:IPaddr2",
        "Manages virtual IPv4 and IPv6 addresses",
        "ip (required) (unique)",
        "cidr_netmask",
        "check_link_status",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

const REFERENCE: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

/// Run the reference agent the way `Lab::run` runs ours.
fn run_reference(lab: &Lab, action: &str, params: &[(&str, &str)]) -> i32 {
    let mut cmd = Command::new(REFERENCE);
    cmd.arg(action)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", support::OCF_ROOT)
        .env("OCF_RESOURCE_INSTANCE", "test-reference")
        .env("HA_RSCTMP", &lab.rsc_tmp)
        .env("OCF_RESKEY_network_namespace", &lab.a);
    for (k, v) in params {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    cmd.output()
        .expect("run the reference IPaddr2")
        .status
        .code()
        .unwrap_or(-1)
}

/// The same sequence of actions through ocf:heartbeat:IPaddr2 and ocf:ferro:IPaddr2 in
/// identical labs gives the same exit codes.
#[test]
fn exit_codes_match_the_reference_agent() {
    need_root!("exit_codes_match_the_reference_agent");
    if !std::path::Path::new(REFERENCE).exists() {
        skip(
            "exit_codes_match_the_reference_agent",
            "resource-agents is not installed",
        );
        return;
    }
    let v6 = &[
        ("ip", "2001:db8::10"),
        ("nic", "fipt0"),
        ("cidr_netmask", "64"),
        ("nodad", "true"),
    ];
    let steps: &[(&str, &[(&str, &str)])] = &[
        ("validate-all", V4),
        ("monitor", V4),
        ("start", V4),
        ("monitor", V4),
        ("start", V4),
        ("stop", V4),
        ("stop", V4),
        ("monitor", V4),
        ("start", &[("ip", "192.0.2.11")]),
        ("monitor", &[("ip", "192.0.2.11")]),
        ("stop", &[("ip", "192.0.2.11")]),
        ("start", v6),
        ("monitor", v6),
        ("stop", v6),
        ("monitor", v6),
        ("start", &[("ip", "127.0.0.5")]),
        ("monitor", &[("ip", "127.0.0.5")]),
        ("stop", &[("ip", "127.0.0.5")]),
        ("start", &[("ip", "192.0.2.999")]),
        ("start", &[("ip", "192.0.2.12"), ("cidr_netmask", "33")]),
        ("start", &[("ip", "192.0.2.12"), ("nic", "fipt9")]),
        ("validate-all", &[("ip", "192.0.2.12"), ("nic", "fipt9")]),
        (
            "monitor",
            &[
                ("ip", "192.0.2.12"),
                ("nic", "fipt9"),
                ("cidr_netmask", "24"),
            ],
        ),
        (
            "start",
            &[
                ("ip", "192.0.2.12"),
                ("nic", "fipt0"),
                ("iflabel", "muchtoolong"),
            ],
        ),
        ("start", &[("ip", "192.0.2.12"), ("arp_count", "0")]),
        ("start", &[("ip", "198.51.100.12")]),
        ("stop", &[("ip", "198.51.100.12")]),
    ];
    let reference = Lab::new("ref");
    let ferro = Lab::new("ferro");
    let mut diffs = Vec::new();
    for (action, params) in steps {
        let want = run_reference(&reference, action, params);
        let got = ferro.code(action, params);
        if want != got {
            diffs.push(format!(
                "{action} {params:?}: reference {want}, ferro {got}"
            ));
        }
        // The same addresses, except that an unset broadcast is derived from the netmask here
        // (as the metadata says) and left out by the reference's findif.
        let normal = |lab: &Lab| {
            lab.addrs()
                .lines()
                .map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    match w.iter().position(|x| *x == "brd") {
                        Some(i) => [&w[..i], &w[i + 2..]].concat().join(" "),
                        None => w.join(" "),
                    }
                })
                .filter(|l| !l.contains("scope link"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            normal(&reference),
            normal(&ferro),
            "after {action} {params:?}"
        );
    }
    assert!(diffs.is_empty(), "exit codes differ:\n{}", diffs.join("\n"));

    // Documented differences (bug fixes), each checked against the reference as it is:
    // an IPv4 netmask on an IPv6 address is a configuration error (the reference converts the
    // dotted quad, then fails to look up a route with it: OCF_ERR_GENERIC).
    let p = &[("ip", "2001:db8::12"), ("cidr_netmask", "255.255.255.0")];
    assert_eq!(
        (
            run_reference(&reference, "start", p),
            ferro.code("start", p)
        ),
        (1, 6)
    );
    // A stop with a configuration that start refuses: nothing to undo, success.
    let p = &[("ip", "2001:db8::12"), ("lvs_support", "true")];
    assert_eq!(
        (run_reference(&reference, "stop", p), ferro.code("stop", p)),
        (6, 0)
    );
    // A missing namespace: the reference's `ip netns exec` exits 255.
    let ns = format!("{}-none", ferro.a);
    let p = &[("ip", "192.0.2.12"), ("network_namespace", ns.as_str())];
    assert_eq!(run_agent(AGENT, "start", p, &[]).code, 5);
}

/// A process in a namespace whose stdout lines arrive on a channel; killed when dropped.
struct InNs {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl InNs {
    fn python(ns: &str, script: &str) -> InNs {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-u", "-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 in the namespace");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        InNs { child, lines }
    }

    fn line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }
}

impl Drop for InNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address's last holder loses power with a client connected; the node that starts the
/// address next (here the same namespace, with no trace of the connection left) tickles the
/// client, which gets a reset at once. Without the tickle an idle client would never notice.
#[test]
fn tickle_dir_resets_the_clients_of_a_node_that_died() {
    need_root!("tickle_dir_resets_the_clients_of_a_node_that_died");
    if !have("python3") {
        skip(
            "tickle_dir_resets_the_clients_of_a_node_that_died",
            "python3 (the test's TCP server and client) is not installed",
        );
        return;
    }
    for (vip, prefix, peer) in [
        ("192.0.2.10", "24", "192.0.2.2"),
        ("2001:db8::10", "64", "2001:db8::2"),
    ] {
        tickle_after_power_loss(vip, prefix, peer);
    }
}

fn tickle_after_power_loss(vip: &str, prefix: &str, peer: &str) {
    let lab = Lab::new("tickle");
    let dir = lab.rsc_tmp.join("shared");
    std::fs::create_dir(&dir).unwrap();
    let dir_s = dir.to_str().unwrap();
    let params = [
        ("ip", vip),
        ("nic", "fipt0"),
        ("cidr_netmask", prefix),
        ("tickle_dir", dir_s),
    ];
    lab.ok("start", &params);

    // A server on the address that aborts its connections when killed (SO_LINGER 0: a reset,
    // never a FIN), and a client that waits for data and reports how its connection ended.
    let server = InNs::python(
        &lab.a,
        &format!(
            "import socket, struct, time\n\
             f = socket.AF_INET6 if ':' in '{vip}' else socket.AF_INET\n\
             l = socket.create_server(('{vip}', 2049), family=f); print('listening')\n\
             c, _ = l.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n\
             print('accepted'); time.sleep(600)\n"
        ),
    );
    assert_eq!(
        server.line(Duration::from_secs(10)).as_deref(),
        Some("listening")
    );
    let client = InNs::python(
        &lab.b,
        &format!(
            "import socket\n\
             s = socket.create_connection(('{vip}', 2049)); print('connected', s.getsockname()[1])\n\
             try:\n    print('eof' if not s.recv(1) else 'data')\n\
             except ConnectionResetError:\n    print('reset')\n"
        ),
    );
    let connected = client
        .line(Duration::from_secs(10))
        .expect("client connects");
    let port = connected
        .strip_prefix("connected ")
        .expect(&connected)
        .to_owned();
    assert_eq!(
        server.line(Duration::from_secs(10)).as_deref(),
        Some("accepted")
    );

    // The monitor records the connection (and leaves an unchanged record alone).
    lab.ok("monitor", &params);
    let record = dir.join(vip);
    let sock = |ip: &str, port: &str| match ip.contains(':') {
        true => format!("[{ip}]:{port}"),
        false => format!("{ip}:{port}"),
    };
    let want = format!("{} {}\n", sock(vip, "2049"), sock(peer, &port));
    assert_eq!(std::fs::read_to_string(&record).unwrap(), want);
    let written = std::fs::metadata(&record).unwrap().modified().unwrap();
    lab.ok("monitor", &params);
    assert_eq!(
        std::fs::metadata(&record).unwrap().modified().unwrap(),
        written
    );

    // Power loss: the link goes dead first, so that nothing the dying node sends arrives.
    lab.ip_a(&["link", "set", "fipt0", "down"]);
    drop(server);
    // (IPv6 addresses go with the link; IPv4 ones stay until removed.)
    let cidr = format!("{vip}/{prefix}");
    let _ = Command::new("ip")
        .args(["-n", &lab.a, "addr", "del", &cidr, "dev", "fipt0"])
        .output();
    assert!(!lab.has(&cidr));
    lab.ip_a(&["link", "set", "fipt0", "up"]);
    assert_eq!(
        client.line(Duration::from_secs(2)),
        None,
        "{vip}: the client must not have noticed the loss by itself"
    );

    let o = lab.run("start", &params);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        client.line(Duration::from_secs(20)).as_deref(),
        Some("reset"),
        "{vip}: the tickle must reset the client's connection; start said: {}",
        o.stderr
    );
    lab.ok("stop", &params);
}

/// tickle_dir is checked where it is used, and a bad value changes nothing; stop and probes
/// do not need it.
#[test]
fn tickle_dir_must_be_absolute_where_it_is_used() {
    need_root!("tickle_dir_must_be_absolute_where_it_is_used");
    let lab = Lab::new("tickle-bad");
    let mut params = V4.to_vec();
    params.push(("tickle_dir", "relative/dir"));
    let o = lab.run("start", &params);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        o.stderr.contains("ocf-exit-reason:parameter tickle_dir"),
        "{o:?}"
    );
    assert!(
        !lab.has("192.0.2.10/24"),
        "start refused but changed something"
    );
    let probe = lab.run_env("monitor", &params, &[("OCF_RESKEY_CRM_meta_interval", "0")]);
    assert_eq!(probe.code, 7, "{probe:?}");
    assert_eq!(lab.code("stop", &params), 0);
}
