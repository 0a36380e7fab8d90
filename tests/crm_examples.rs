//! crm-examples/ checked by Pacemaker's own tools: pcs builds the CIB offline,
//! crmsh loads its file into a CIB file, crm_verify accepts both, and crm_simulate
//! shows that Pacemaker places and moves the HA NFS stack as the seed cluster expects:
//! everything on node1 with DRBD Promoted there; on node loss everything on node2;
//! failback to node1 (or not, with the stickier variant); a failed NFS server
//! restarted in place once, then failed over.
//!
//! pcs and crmsh read the agents' meta-data, so every tool runs inside
//! tests/pcmk/with-agents.sh: a private mount namespace in which
//! /usr/lib/ocf/resource.d/ferro holds this build's agents. Nothing is installed on
//! the host. Needs root (for the namespace) and pacemaker, pcs and crmsh; without
//! them each test prints why it is skipped and passes.

mod pcmk;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use pcmk::{run, skip_unless, Agents, TempDir};

const NODE1: &str = "node1";
const NODE2: &str = "node2";
const TIEBREAKER: &str = "node3";
const TOOLS: &[&str] = &[
    "pcs",
    "crm",
    "cibadmin",
    "crm_verify",
    "crm_simulate",
    "crm_mon",
    "crm_attribute",
    "unshare",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crm-examples")
}

/// One test's workspace: a temp dir and the agent overlay.
struct Lab {
    dir: TempDir,
    agents: Agents,
}

impl Lab {
    fn new(name: &str) -> Option<Lab> {
        if !skip_unless(name, TOOLS) {
            return None;
        }
        let dir = TempDir::new(&format!("fcrm-{name}"));
        let agents = Agents::new(&dir.path().join("agents"));
        Some(Lab { dir, agents })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A CIB with only the two node entries, quorate (two_node semantics).
    fn empty_cib(&self, name: &str) -> PathBuf {
        let cib = self.path(name);
        let out = run(self.agents.cmd("cibadmin").arg("--empty"), 30);
        // Quorate, as a two_node cluster is: crmsh reports the lack of quorum as an ERROR.
        let xml =
            out.stdout_checked("cibadmin --empty")
                .replacen("<cib ", "<cib have-quorum=\"1\" ", 1);
        fs::write(&cib, xml).unwrap();
        self.add_node(&cib, 1, NODE1);
        self.add_node(&cib, 2, NODE2);
        cib
    }

    /// Adds a node entry to a CIB file.
    fn add_node(&self, cib: &Path, id: u32, uname: &str) {
        run(
            self.agents.cmd("cibadmin").env("CIB_file", cib).args([
                "-C",
                "-o",
                "nodes",
                "-X",
                &format!("<node id=\"{id}\" uname=\"{uname}\"/>"),
            ]),
            30,
        )
        .check("cibadmin -C node");
    }

    /// Runs crm-examples/ha-nfs.pcs.sh offline (CIB=file) with the given settings and,
    /// unless they say otherwise, STONITH=no: these CIBs have no fence device.
    fn pcs_cib(&self, name: &str, env: &[(&str, &str)]) -> PathBuf {
        let cib = self.empty_cib(name);
        let mut cmd = self.agents.cmd("bash");
        cmd.arg(examples().join("ha-nfs.pcs.sh"))
            .env("CIB", &cib)
            .env("STONITH", "no");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd, 300).check(&format!("ha-nfs.pcs.sh {env:?}"));
        cib
    }

    /// Loads crm-examples/ha-nfs.crm (or a variant of its text) with crmsh into an
    /// empty CIB file: `crm configure load update`, with CIB_file pointing crmsh at it.
    fn crm_cib(&self, name: &str, text: &str) -> PathBuf {
        let cib = self.empty_cib(name);
        let src = self.path(&format!("{name}.crm"));
        fs::write(&src, text).unwrap();
        let out = run(
            self.agents
                .cmd("crm")
                .env("CIB_file", &cib)
                .args(["configure", "load", "update"])
                .arg(&src),
            300,
        );
        out.check("crm configure load update");
        // crmsh runs crm_verify before it commits and prints its findings as ERROR/WARNING.
        assert!(!out.stderr.contains("ERROR"), "crmsh: {}", out.stderr);
        assert!(
            fs::read_to_string(&cib).unwrap().contains("<primitive"),
            "crmsh committed nothing"
        );
        cib
    }

    fn verify(&self, cib: &Path) {
        let out = run(
            self.agents.cmd("crm_verify").arg("-V").arg("-x").arg(cib),
            60,
        );
        out.check(&format!("crm_verify -x {}", cib.display()));
        assert!(
            !out.stderr.contains("error"),
            "crm_verify {}: {}",
            cib.display(),
            out.stderr
        );
    }

    /// crm_simulate: applies the events, simulates the transition, saves the result.
    /// Returns the transition summary.
    fn simulate(&self, input: &Path, output: &str, events: &[&str]) -> (PathBuf, String) {
        let (path, summary, _) = self.simulate_full(input, output, events);
        (path, summary)
    }

    /// simulate(), also returning the actions as crm_simulate executed them, in order.
    fn simulate_full(
        &self,
        input: &Path,
        output: &str,
        events: &[&str],
    ) -> (PathBuf, String, String) {
        let out_path = self.path(output);
        let out = run(
            self.agents
                .cmd("crm_simulate")
                .arg("-x")
                .arg(input)
                .args(events)
                .arg("-S")
                .arg("-O")
                .arg(&out_path),
            120,
        );
        let text = out.stdout_checked(&format!("crm_simulate {events:?}"));
        let summary = text
            .split("Transition Summary:")
            .nth(1)
            .and_then(|s| s.split("Executing Cluster Transition:").next())
            .unwrap_or("")
            .trim()
            .to_string();
        let executed = text
            .split("Executing Cluster Transition:")
            .nth(1)
            .and_then(|s| s.split("Revised Cluster Status:").next())
            .unwrap_or("")
            .trim()
            .to_string();
        eprintln!("crm_simulate {events:?}:\n{summary}\n");
        (out_path, summary, executed)
    }

    /// Sets the promotion score the drbd agent would set (crm_attribute -p).
    fn promotion_score(&self, cib: &Path, node: &str, score: &str) {
        run(
            self.agents.cmd("crm_attribute").env("CIB_file", cib).args([
                "-N",
                node,
                "-n",
                "master-drbd_r0",
                "-l",
                "reboot",
                "-v",
                score,
            ]),
            30,
        )
        .check("crm_attribute");
    }

    fn placement(&self, cib: &Path) -> Placement {
        let out = run(
            self.agents
                .cmd("crm_mon")
                .env("CIB_file", cib)
                .args(["-1", "--output-as=xml"]),
            60,
        );
        Placement::parse(&out.stdout_checked("crm_mon"))
    }

    /// The cluster from `cib` with both nodes up and both DRBD disks UpToDate.
    fn started(&self, cib: &Path, tag: &str) -> PathBuf {
        let (s0, _) = self.simulate(
            cib,
            &format!("{tag}-0.xml"),
            &["-u", NODE1, "-u", NODE2, "-q", "1"],
        );
        for n in [NODE1, NODE2] {
            self.promotion_score(&s0, n, "10000");
        }
        let (s1, _) = self.simulate(&s0, &format!("{tag}-1.xml"), &[]);
        s1
    }
}

/// Where crm_mon says each resource runs, and in which role.
#[derive(Debug, Default)]
struct Placement {
    /// resource id -> (role, node) for every instance
    rsc: BTreeMap<String, Vec<(String, Option<String>)>>,
}

impl Placement {
    fn parse(xml: &str) -> Placement {
        use quick_xml::events::Event;
        let mut p = Placement::default();
        let mut r = quick_xml::Reader::from_str(xml);
        let mut in_resources = false;
        let mut current: Option<(String, String)> = None;
        loop {
            match r.read_event().expect("crm_mon XML") {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"resources" => {
                    in_resources = true;
                }
                Event::End(e) if e.name().as_ref() == b"resources" => in_resources = false,
                Event::Start(e) if in_resources && e.name().as_ref() == b"resource" => {
                    current = Some((attr(&e, "id"), attr(&e, "role")));
                }
                Event::Empty(e) if in_resources && e.name().as_ref() == b"resource" => {
                    p.rsc
                        .entry(attr(&e, "id"))
                        .or_default()
                        .push((attr(&e, "role"), None));
                }
                Event::Empty(e) if in_resources && e.name().as_ref() == b"node" => {
                    if let Some((id, role)) = current.take() {
                        p.rsc
                            .entry(id)
                            .or_default()
                            .push((role, Some(attr(&e, "name"))));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        p
    }

    fn nodes_in_role(&self, rsc: &str, role: &str) -> Vec<String> {
        self.rsc
            .get(rsc)
            .map(|v| {
                v.iter()
                    .filter(|(r, _)| r == role)
                    .filter_map(|(_, n)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// DRBD Promoted on `node`, Unpromoted on `other` (if it is up), and every group
    /// member Started on `node`.
    fn assert_all_on(&self, node: &str, other: Option<&str>, what: &str) {
        assert_eq!(
            self.nodes_in_role("drbd_r0", "Promoted"),
            vec![node.to_string()],
            "{what}: {self:?}"
        );
        let unpromoted: Vec<String> = other.into_iter().map(String::from).collect();
        assert_eq!(
            self.nodes_in_role("drbd_r0", "Unpromoted"),
            unpromoted,
            "{what}: {self:?}"
        );
        for rsc in ["fs_data", "nfsd", "export_data", "vip"] {
            assert_eq!(
                self.nodes_in_role(rsc, "Started"),
                vec![node.to_string()],
                "{what}: {rsc}: {self:?}"
            );
        }
    }
}

fn attr(e: &quick_xml::events::BytesStart, name: &str) -> String {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .map(|a| a.unescape_value().unwrap().into_owned())
        .unwrap_or_default()
}

/// Node loss, return without and with a usable disk, as the seed expects with
/// failback (the Primary takes everything back) or without it (stickiness).
fn node_loss_and_return(lab: &Lab, cib: &Path, tag: &str, failback: bool) {
    let s1 = lab.started(cib, tag);
    lab.placement(&s1)
        .assert_all_on(NODE1, Some(NODE2), "both nodes up");

    let (s2, _) = lab.simulate(&s1, &format!("{tag}-2.xml"), &["-d", NODE1]);
    lab.placement(&s2).assert_all_on(NODE2, None, "node1 lost");

    // node1 is back but resyncing: the drbd agent gives it no promotion score yet.
    let (s3, summary) = lab.simulate(&s2, &format!("{tag}-3.xml"), &["-u", NODE1]);
    lab.placement(&s3)
        .assert_all_on(NODE2, Some(NODE1), "node1 back, resyncing");
    assert!(
        !summary.contains("Move"),
        "nothing moves while node1 resyncs: {summary}"
    );

    // Resync done: both disks UpToDate.
    lab.promotion_score(&s3, NODE1, "10000");
    let (s4, _) = lab.simulate(&s3, &format!("{tag}-4.xml"), &[]);
    if failback {
        lab.placement(&s4)
            .assert_all_on(NODE1, Some(NODE2), "node1 UpToDate again: failback");
    } else {
        lab.placement(&s4).assert_all_on(
            NODE2,
            Some(NODE1),
            "node1 UpToDate again: stays on node2",
        );
    }
}

/// A failed nfsserver monitor restarts it in place; the second failure reaches
/// migration-threshold=2 and the group fails over with the Promoted role; once
/// failure-timeout has passed the node may run it again (with failback it returns).
fn nfsserver_failures(lab: &Lab, cib: &Path, tag: &str, failback: bool) {
    let s1 = lab.started(cib, tag);
    let (f1, summary) = lab.simulate(
        &s1,
        &format!("{tag}-f1.xml"),
        &["-i", "nfsd_monitor_10000@node1=7"],
    );
    assert!(
        summary.contains("Recover") && summary.contains("nfsd"),
        "first failure recovers nfsd: {summary}"
    );
    assert!(
        !summary.contains("Move") && !summary.contains("Promote"),
        "first failure: no failover: {summary}"
    );
    lab.placement(&f1)
        .assert_all_on(NODE1, Some(NODE2), "nfsd restarted in place");

    let (f2, summary) = lab.simulate(
        &f1,
        &format!("{tag}-f2.xml"),
        &["-i", "nfsd_monitor_10000@node1=7"],
    );
    assert!(
        summary.contains("Promote"),
        "second failure fails over: {summary}"
    );
    lab.placement(&f2)
        .assert_all_on(NODE2, Some(NODE1), "nfsd failed twice on node1");

    // 15 minutes later the 600 s failure-timeout has expired the fail count.
    let later = run(
        pcmk::cmd("date").args(["-u", "-d", "+15 min", "+%Y-%m-%dT%H:%M:%SZ"]),
        10,
    )
    .stdout_checked("date");
    let (f3, _) = lab.simulate(&f2, &format!("{tag}-f3.xml"), &["-t", later.trim()]);
    let home = if failback { NODE1 } else { NODE2 };
    lab.placement(&f3).assert_all_on(
        home,
        Some(if failback { NODE2 } else { NODE1 }),
        "after failure-timeout",
    );
}

#[test]
fn pcs_script_runs_offline_and_crm_verify_accepts_every_variant() {
    let Some(lab) = Lab::new("pcs-variants") else {
        return;
    };
    for agents in ["ferro", "reference"] {
        for failback in ["yes", "no"] {
            let cib = lab.pcs_cib(
                &format!("{agents}-{failback}.xml"),
                &[("AGENTS", agents), ("FAILBACK", failback)],
            );
            lab.verify(&cib);
            let xml = fs::read_to_string(&cib).unwrap();
            let providers = |p: &str| xml.matches(&format!("provider=\"{p}\"")).count();
            // The VIP's connections are tickled from the replicated NFS state directory by
            // default (ferro's IPaddr2 only; the reference has no tickle_dir).
            assert_eq!(
                xml.contains("name=\"tickle_dir\" value=\"/data/.nfsinfo\""),
                agents == "ferro",
                "{agents}: {xml}"
            );
            match agents {
                "ferro" => assert_eq!(providers("ferro"), 5, "{agents}: {xml}"),
                _ => assert_eq!(
                    (providers("linbit"), providers("heartbeat")),
                    (1, 4),
                    "{agents}: {xml}"
                ),
            }
            assert_eq!(
                xml.contains("loc_drbd_promoted_prefers_node1"),
                failback == "yes"
            );
            assert_eq!(
                xml.contains("name=\"resource-stickiness\" value=\"100\""),
                failback == "no"
            );
        }
    }
    // STONITH=yes (the default) leaves fencing on, for a cluster that brings its own
    // fence device: Pacemaker refuses to start resources until one exists.
    let cib = lab.pcs_cib("stonith.xml", &[("STONITH", "yes")]);
    let xml = fs::read_to_string(&cib).unwrap();
    assert!(!xml.contains("stonith-enabled"), "{xml}");
    assert!(
        xml.contains("name=\"priority-fencing-delay\" value=\"15s\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"priority\" value=\"10\""), "{xml}");
    let out = run(
        lab.agents.cmd("crm_verify").args(["-V", "-x"]).arg(&cib),
        60,
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("STONITH"),
        "crm_verify without fence device: {}",
        out.stderr
    );
    // TIEBREAKER=node3 (DRBD 9, crm-examples/drbd9-tiebreaker.res): a third, diskless clone
    // instance never promoted there, g_nfs never there.
    for agents in ["ferro", "reference"] {
        let cib = lab.pcs_cib(
            &format!("tiebreaker-{agents}.xml"),
            &[("AGENTS", agents), ("TIEBREAKER", TIEBREAKER)],
        );
        lab.verify(&cib);
        let xml = fs::read_to_string(&cib).unwrap();
        assert!(xml.contains("name=\"clone-max\" value=\"3\""), "{xml}");
        assert!(xml.contains("id=\"loc_drbd_never_promoted_on_tiebreaker\""));
        assert!(xml.contains(&format!(
            "rsc=\"g_nfs\" node=\"{TIEBREAKER}\" score=\"-INFINITY\""
        )));
    }
    // With three votes there is no fence race: no priority-fencing-delay, no priority.
    let cib = lab.pcs_cib(
        "tiebreaker-stonith.xml",
        &[("STONITH", "yes"), ("TIEBREAKER", TIEBREAKER)],
    );
    let xml = fs::read_to_string(&cib).unwrap();
    assert!(!xml.contains("stonith-enabled"), "{xml}");
    assert!(!xml.contains("priority"), "{xml}");
    // ARBITER (a corosync-qnetd host): three votes as well, the same CIB without the delay.
    let cib = lab.pcs_cib("arbiter.xml", &[("STONITH", "yes"), ("ARBITER", "qnetd")]);
    let xml = fs::read_to_string(&cib).unwrap();
    assert!(!xml.contains("priority"), "{xml}");
    assert!(xml.contains("name=\"clone-max\" value=\"2\""), "{xml}");
    for (k, v, why) in [
        ("ARBITER", NODE2, "ARBITER must be a third machine"),
        ("TIEBREAKER", TIEBREAKER, "one of them"),
    ] {
        let mut cmd = lab.agents.cmd("bash");
        cmd.arg(examples().join("ha-nfs.pcs.sh"))
            .env("CIB", lab.empty_cib("arbiter-bad.xml"))
            .env("ARBITER", "qnetd")
            .env(k, v);
        let out = run(&mut cmd, 60);
        assert_eq!(out.code, Some(2), "{k}={v}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{}", out.stderr);
    }
    // The tiebreaker must be a third node.
    let mut cmd = lab.agents.cmd("bash");
    cmd.arg(examples().join("ha-nfs.pcs.sh"))
        .env("CIB", lab.empty_cib("tiebreaker-bad.xml"))
        .env("TIEBREAKER", NODE2);
    let out = run(&mut cmd, 60);
    assert_eq!(out.code, Some(2), "TIEBREAKER=NODE2: {}", out.stderr);
    assert!(out.stderr.contains("TIEBREAKER"), "{}", out.stderr);
}

/// The tiebreaker variant in crm_simulate: node3 runs a diskless Unpromoted instance with the
/// score the drbd agents give a diskless client (9999, one below UpToDate), and is never
/// Promoted nor runs g_nfs, not even when it is the only node with a score.
#[test]
fn tiebreaker_runs_an_unpromoted_diskless_instance_and_never_the_service() {
    let Some(lab) = Lab::new("pcs-tiebreaker") else {
        return;
    };
    let cib = lab.pcs_cib("tb.xml", &[("TIEBREAKER", TIEBREAKER)]);
    lab.add_node(&cib, 3, TIEBREAKER);
    let (s0, _) = lab.simulate(
        &cib,
        "tb-0.xml",
        &["-u", NODE1, "-u", NODE2, "-u", TIEBREAKER, "-q", "1"],
    );
    for (n, score) in [(NODE1, "10000"), (NODE2, "10000"), (TIEBREAKER, "9999")] {
        lab.promotion_score(&s0, n, score);
    }
    let (s1, _) = lab.simulate(&s0, "tb-1.xml", &[]);
    let p = lab.placement(&s1);
    let mut unpromoted = p.nodes_in_role("drbd_r0", "Unpromoted");
    unpromoted.sort();
    assert_eq!(unpromoted, vec![NODE2, TIEBREAKER], "{p:?}");
    assert_eq!(p.nodes_in_role("drbd_r0", "Promoted"), vec![NODE1], "{p:?}");
    assert_eq!(p.nodes_in_role("vip", "Started"), vec![NODE1], "{p:?}");

    // node1 lost: node2 (10000) over node3 (9999) anyway, but by the constraint, not by 1.
    let (s2, _) = lab.simulate(&s1, "tb-2.xml", &["-d", NODE1]);
    let p = lab.placement(&s2);
    assert_eq!(p.nodes_in_role("drbd_r0", "Promoted"), vec![NODE2], "{p:?}");
    assert_eq!(p.nodes_in_role("drbd_r0", "Unpromoted"), vec![TIEBREAKER]);
    assert_eq!(p.nodes_in_role("vip", "Started"), vec![NODE2], "{p:?}");

    // node2 lost too, node1 back without usable data (no score): node3 alone has a score
    // and must still not be promoted; nothing runs g_nfs.
    let (s3, _) = lab.simulate(&s2, "tb-3.xml", &["-d", NODE2, "-u", NODE1]);
    let (s4, summary) = lab.simulate(&s3, "tb-4.xml", &[]);
    let p = lab.placement(&s4);
    assert!(p.nodes_in_role("drbd_r0", "Promoted").is_empty(), "{p:?}");
    assert!(p.nodes_in_role("vip", "Started").is_empty(), "{p:?}");
    assert!(!summary.contains("Promote"), "{summary}");
}

/// The other settings reach the CIB as given.
#[test]
fn pcs_script_takes_its_settings_from_the_environment() {
    let Some(lab) = Lab::new("pcs-env") else {
        return;
    };
    let env = [
        ("NODE1", "alpha"),
        ("NODE2", "beta"),
        ("DRBD_RESOURCE", "r7"),
        ("DEVICE", "/dev/drbd7"),
        ("DIRECTORY", "/srv/nfs"),
        ("FSTYPE", "ext4"),
        ("CLIENTSPEC", "10.1.2.0/24"),
        ("VIP", "10.1.2.50"),
        ("CIDR", "16"),
        ("NFS_INFODIR", ""),
        ("TICKLE_DIR", "/srv/nfs/.t"),
        ("AGENT_exportfs", "ocf:heartbeat:exportfs"),
    ];
    let cib = lab.pcs_cib("env.xml", &env);
    lab.verify(&cib);
    let xml = fs::read_to_string(&cib).unwrap();
    for (name, value) in [
        ("drbd_resource", "r7"),
        ("device", "/dev/drbd7"),
        ("directory", "/srv/nfs"),
        ("fstype", "ext4"),
        ("clientspec", "10.1.2.0/24"),
        ("ip", "10.1.2.50"),
        ("cidr_netmask", "16"),
    ] {
        assert!(
            xml.contains(&format!("name=\"{name}\" value=\"{value}\"")),
            "{name}={value} missing: {xml}"
        );
    }
    assert!(
        xml.contains("value=\"alpha\""),
        "failback rule names NODE1: {xml}"
    );
    assert!(
        !xml.contains("nfs_shared_infodir"),
        "NFS_INFODIR= leaves it out: {xml}"
    );
    assert!(
        xml.contains("name=\"tickle_dir\" value=\"/srv/nfs/.t\""),
        "TICKLE_DIR: {xml}"
    );
    assert_eq!(xml.matches("provider=\"ferro\"").count(), 4, "{xml}");
    assert!(
        xml.contains("type=\"exportfs\" provider=\"heartbeat\""),
        "AGENT_exportfs: {xml}"
    );
    // TICKLE_DIR= (empty): no tickle ACKs, as with the reference agents.
    let cib = lab.pcs_cib("no-tickle.xml", &[("TICKLE_DIR", "")]);
    let xml = fs::read_to_string(&cib).unwrap();
    assert!(!xml.contains("tickle_dir"), "TICKLE_DIR=: {xml}");
    let bad = run(
        lab.agents
            .cmd("bash")
            .arg(examples().join("ha-nfs.pcs.sh"))
            .env("CIB", &cib)
            .env("AGENTS", "other"),
        60,
    );
    assert_eq!(bad.code, Some(2), "AGENTS=other is refused: {}", bad.stderr);
}

/// ha-nfs.cib.xml is exactly what make-cib.sh makes from the pcs script with the
/// agents' meta-data of this build (regenerate it with make-cib.sh when they change).
#[test]
fn committed_cib_is_what_the_pcs_script_makes() {
    let Some(lab) = Lab::new("cib-committed") else {
        return;
    };
    let made = lab.path("made.xml");
    run(
        lab.agents
            .cmd("bash")
            .arg(examples().join("make-cib.sh"))
            .arg(&made),
        300,
    )
    .check("make-cib.sh");
    let committed = fs::read_to_string(examples().join("ha-nfs.cib.xml")).unwrap();
    assert_eq!(
        configuration(&fs::read_to_string(&made).unwrap()),
        configuration(&committed),
        "crm-examples/ha-nfs.cib.xml is stale: run crm-examples/make-cib.sh crm-examples/ha-nfs.cib.xml \
         with this build's agents installed"
    );
    lab.verify(&examples().join("ha-nfs.cib.xml"));
}

fn configuration(cib: &str) -> String {
    let start = cib.find("<configuration>").expect("<configuration>");
    let end = cib.find("</configuration>").expect("</configuration>");
    cib[start..end].to_string()
}

#[test]
fn committed_cib_places_everything_with_drbd_promoted_on_node1_and_fails_back() {
    let Some(lab) = Lab::new("cib-nodeloss") else {
        return;
    };
    node_loss_and_return(&lab, &examples().join("ha-nfs.cib.xml"), "nl", true);
}

#[test]
fn failback_wins_over_the_stickiness_pcs_gives_new_clusters() {
    let Some(lab) = Lab::new("cib-sticky") else {
        return;
    };
    let cib = lab.path("sticky.xml");
    fs::copy(examples().join("ha-nfs.cib.xml"), &cib).unwrap();
    run(
        lab.agents.cmd("pcs").arg("-f").arg(&cib).args([
            "resource",
            "defaults",
            "update",
            "resource-stickiness=100",
        ]),
        60,
    )
    .check("pcs resource defaults");
    node_loss_and_return(&lab, &cib, "st", true);
}

#[test]
fn without_failback_resources_stay_on_the_node_that_took_over() {
    let Some(lab) = Lab::new("pcs-nofailback") else {
        return;
    };
    let cib = lab.pcs_cib("nofb.xml", &[("FAILBACK", "no")]);
    node_loss_and_return(&lab, &cib, "nofb", false);
    nfsserver_failures(&lab, &cib, "nofb", false);
}

/// With fencing on (the script's default) and a fence device per node, as a production
/// cluster and the VM lab have: a Primary that crashes is fenced before DRBD is promoted
/// on the other node, and only then does the group start there.
#[test]
fn with_fencing_a_crashed_primary_is_fenced_before_the_failover() {
    let Some(lab) = Lab::new("pcs-fencing") else {
        return;
    };
    let cib = lab.pcs_cib("fencing.xml", &[("STONITH", "yes")]);
    for n in [NODE1, NODE2] {
        // Any stonith agent: the scheduler only needs a device that can fence the node.
        let device = format!(
            "<primitive id=\"fence_{n}\" class=\"stonith\" type=\"fence_legacy\">\
             <instance_attributes id=\"fence_{n}-ia\"><nvpair id=\"fence_{n}-ia-hosts\" \
             name=\"pcmk_host_list\" value=\"{n}\"/></instance_attributes></primitive>"
        );
        let avoid = format!("<rsc_location id=\"loc_fence_{n}\" rsc=\"fence_{n}\" node=\"{n}\" score=\"-INFINITY\"/>");
        for (section, xml) in [("resources", device), ("constraints", avoid)] {
            run(
                lab.agents
                    .cmd("cibadmin")
                    .env("CIB_file", &cib)
                    .args(["-C", "-o", section, "-X", &xml]),
                30,
            )
            .check("cibadmin -C");
        }
    }
    let s1 = lab.started(&cib, "fe");
    lab.placement(&s1)
        .assert_all_on(NODE1, Some(NODE2), "both nodes up, fencing on");

    let (s2, summary, executed) = lab.simulate_full(&s1, "fe-2.xml", &["-f", NODE1]);
    assert!(
        summary.contains(&format!("Fence (reboot) {NODE1}")),
        "node1 is fenced: {summary}"
    );
    // Index of the first executed action whose line has all these words.
    let pos = |words: &[&str]| {
        executed
            .lines()
            .position(|l| words.iter().all(|w| l.split_whitespace().any(|x| x == *w)))
            .unwrap_or_else(|| panic!("{words:?} not executed:\n{executed}"))
    };
    let fenced = pos(&["Fencing", NODE1]);
    assert!(
        fenced < pos(&["drbd_r0", "promote", "on", NODE2]),
        "{executed}"
    );
    assert!(
        fenced < pos(&["fs_data", "start", "on", NODE2]),
        "{executed}"
    );
    lab.placement(&s2)
        .assert_all_on(NODE2, None, "node1 crashed and fenced");
}

#[test]
fn failed_nfsserver_restarts_in_place_then_fails_over() {
    let Some(lab) = Lab::new("cib-nfsfail") else {
        return;
    };
    nfsserver_failures(&lab, &examples().join("ha-nfs.cib.xml"), "nf", true);
}

#[test]
fn reference_agents_variant_behaves_the_same() {
    let Some(lab) = Lab::new("pcs-reference") else {
        return;
    };
    let cib = lab.pcs_cib(
        "ref.xml",
        &[("AGENTS", "reference"), ("TICKLE_DIR", "/data/.nfsinfo")],
    );
    let xml = fs::read_to_string(&cib).unwrap();
    // The reference IPaddr2 has no tickle_dir (ferro's addition): left out, not refused.
    assert!(!xml.contains("tickle_dir"), "{xml}");
    assert!(xml.contains("name=\"nfs_shared_infodir\""), "{xml}");
    node_loss_and_return(&lab, &cib, "ref", true);
}

/// The crmsh file loads into a CIB, crm_verify accepts it, its operations are the
/// ones pcs took from the agents' meta-data, and Pacemaker treats it like the pcs one.
#[test]
fn crmsh_file_loads_and_behaves_like_the_pcs_script() {
    let Some(lab) = Lab::new("crmsh") else { return };
    let text = fs::read_to_string(examples().join("ha-nfs.crm")).unwrap();
    let cib = lab.crm_cib("crm.xml", &text);
    lab.verify(&cib);

    let from_crm = primitives(&fs::read_to_string(&cib).unwrap());
    let from_pcs = primitives(&fs::read_to_string(examples().join("ha-nfs.cib.xml")).unwrap());
    assert_eq!(
        from_crm, from_pcs,
        "ha-nfs.crm and ha-nfs.cib.xml differ in agents, parameters or operations"
    );

    node_loss_and_return(&lab, &cib, "crm", true);
    nfsserver_failures(&lab, &cib, "crmf", true);

    // The stickier alternative given in the file's comments.
    let loc = text
        .find("location loc_drbd_promoted_prefers_node1")
        .unwrap();
    let loc_end = loc + text[loc..].find("master-drbd_r0\n").unwrap() + "master-drbd_r0\n".len();
    let sticky = format!("{}{}", &text[..loc], &text[loc_end..]).replace(
        "# rsc_defaults resource-stickiness=100",
        "rsc_defaults resource-stickiness=100",
    );
    assert_ne!(sticky, text);
    let cib = lab.crm_cib("crm-sticky.xml", &sticky);
    lab.verify(&cib);
    node_loss_and_return(&lab, &cib, "crms", false);
}

/// Per primitive: agent, parameters and operations (name, role, interval and timeout
/// in seconds), independent of ids, order and "20" vs "20s".
fn primitives(cib: &str) -> BTreeMap<String, Vec<String>> {
    use quick_xml::events::Event;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut r = quick_xml::Reader::from_str(cib);
    let mut prim: Option<String> = None;
    let mut in_params = false;
    loop {
        match r.read_event().expect("CIB XML") {
            Event::Start(e) if e.name().as_ref() == b"primitive" => {
                let id = attr(&e, "id");
                let agent = format!(
                    "{}:{}:{}",
                    attr(&e, "class"),
                    attr(&e, "provider"),
                    attr(&e, "type")
                );
                out.entry(id.clone()).or_default().push(agent);
                prim = Some(id);
            }
            Event::End(e) if e.name().as_ref() == b"primitive" => prim = None,
            Event::Start(e) if e.name().as_ref() == b"instance_attributes" => in_params = true,
            Event::End(e) if e.name().as_ref() == b"instance_attributes" => in_params = false,
            Event::Empty(e) => {
                let Some(p) = &prim else { continue };
                let entry = out.get_mut(p).unwrap();
                match e.name().as_ref() {
                    b"nvpair" if in_params => {
                        entry.push(format!("{}={}", attr(&e, "name"), attr(&e, "value")))
                    }
                    b"op" => entry.push(format!(
                        "op {} role={} interval={} timeout={}",
                        attr(&e, "name"),
                        attr(&e, "role"),
                        seconds(&attr(&e, "interval")),
                        seconds(&attr(&e, "timeout"))
                    )),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn seconds(v: &str) -> u64 {
    let v = v.trim();
    let (num, mult) = if let Some(n) = v.strip_suffix("ms") {
        return n.parse::<u64>().unwrap_or(0) / 1000;
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = v.strip_suffix("min") {
        (n, 60)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60)
    } else {
        (v, 1)
    };
    num.parse::<u64>().unwrap_or(0) * mult
}
