//! The DRBD fence-peer handler against a real CIB: each case runs this build (called as
//! crm-fence-peer.9.sh / crm-unfence-peer.9.sh) and drbd-utils' crm-fence-peer.9.sh on two
//! copies of one CIB file (`CIB_file=`, which cibadmin, crm_mon and crm_attribute then use
//! instead of a cluster), with the same environment DRBD gives a handler and the same DRBD
//! state (a drbdsetup on PATH that prints a captured `events2 --now`), and compares exit
//! codes and the constraint left in the CIB. The paths that need a live cluster (quorum per
//! crm_node, the peer's controller) are in live_fence_peer.rs.

mod pcmk;

use ferro_ocf::sys::cib::Cib;
use pcmk::{cmd, manifest_dir, run, say, skip, skip_unless, TempDir};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

const REFERENCE: &str = "/usr/lib/drbd/crm-fence-peer.9.sh";
const TOOLS: &[&str] = &[
    "cibadmin",
    "crm_mon",
    "crm_attribute",
    "unshare",
    "hostname",
];
const ID: &str = "drbd-fence-by-handler-r0-drbd_r0-clone";

/// As crm-fence-peer.9.sh places it on node1 when node2 is fenced.
const PLACED: &str = r##"<rsc_location rsc="drbd_r0-clone" id="drbd-fence-by-handler-r0-drbd_r0-clone">
 <rule role="Master" score="-INFINITY" id="drbd-fence-by-handler-r0-rule-drbd_r0-clone">
  <expression attribute="#uname" operation="ne" value="node1" id="drbd-fence-by-handler-r0-expr-0-drbd_r0-clone"/>
 </rule>
</rsc_location>"##;

/// `drbdsetup events2 --now r0` of DRBD 9: a Primary whose peer is gone, its peer's disk
/// `pdsk`.
fn events2(disk: &str, pdsk: &str) -> String {
    format!(
        "exists resource name:r0 role:Primary suspended:no write-ordering:flush\n\
         exists connection name:r0 peer-node-id:1 conn-name:node2 connection:Connecting role:Unknown\n\
         exists device name:r0 volume:0 minor:0 disk:{disk} client:no quorum:yes\n\
         exists peer-device name:r0 peer-node-id:1 conn-name:node2 volume:0 replication:Off peer-disk:{pdsk} peer-client:no resync-suspended:no\n\
         exists -\n"
    )
}

/// What DRBD 9 passes node1's handler when it loses node2.
const DRBD9_ENV: &[(&str, &str)] = &[
    ("DRBD_RESOURCE", "r0"),
    ("DRBD_CONF", "/etc/drbd.conf"),
    ("DRBD_MINOR", "0"),
    ("DRBD_MY_NODE_ID", "0"),
    ("DRBD_NODE_ID_0", "node1"),
    ("DRBD_NODE_ID_1", "node2"),
    ("DRBD_PEER_NODE_ID", "1"),
    ("UP_TO_DATE_NODES", "0x00000001"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    Ferro,
    Reference,
}

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new(test: &str) -> Option<Fixture> {
        if !skip_unless(test, TOOLS) {
            return None;
        }
        if !Path::new(REFERENCE).is_file() {
            skip(
                test,
                "drbd-utils' crm-fence-peer.9.sh is not installed (apt-get install drbd-utils)",
            );
            return None;
        }
        let dir = TempDir::new("ferro-fence-peer");
        let d = dir.path();
        for sub in ["ferro", "reference", "bin"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        // This build under the reference's names: argv0 selects fence or unfence.
        for name in ["crm-fence-peer.9.sh", "crm-unfence-peer.9.sh"] {
            symlink(env!("CARGO_BIN_EXE_ferro-ocf"), d.join("ferro").join(name)).unwrap();
        }
        fs::copy(REFERENCE, d.join("reference/crm-fence-peer.9.sh")).unwrap();
        symlink(
            "crm-fence-peer.9.sh",
            d.join("reference/crm-unfence-peer.9.sh"),
        )
        .unwrap();
        let fake = d.join("bin/drbdsetup");
        fs::write(&fake, "#!/bin/sh\nexec cat \"$FAKE_EVENTS2\"\n").unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        Some(Fixture { dir })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A CIB file for `who`: the HA NFS example (a promotable drbd_r0-clone for r0 on node1
    /// and node2), quorate, with node2 shot (node_state: expected down, out of the membership)
    /// and `constraint`, if any, in place.
    fn cib(&self, who: Handler, constraint: Option<&str>) -> PathBuf {
        let example =
            fs::read_to_string(manifest_dir().join("crm-examples/ha-nfs.cib.xml")).unwrap();
        let xml = example
            .replacen("admin_epoch=\"0\">", "admin_epoch=\"0\" have-quorum=\"1\" dc-uuid=\"1\">", 1)
            .replace(
                "<status/>",
                "<status>\n    <node_state id=\"1\" uname=\"node1\" in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"/>\n    <node_state id=\"2\" uname=\"node2\" in_ccm=\"false\" crmd=\"offline\" join=\"down\" expected=\"down\"/>\n  </status>",
            );
        assert!(
            xml.contains("have-quorum") && xml.contains("node_state"),
            "the example CIB changed"
        );
        let f = self.path(&format!("{who:?}.cib.xml"));
        fs::write(&f, xml).unwrap();
        if let Some(c) = constraint {
            run(
                cmd("cibadmin").env("CIB_file", &f).args([
                    "--create",
                    "-o",
                    "constraints",
                    "-X",
                    c,
                ]),
                30,
            )
            .check("cibadmin --create");
        }
        f
    }

    /// Run `who`'s `program` as node1 (its own UTS namespace: `uname -n` is node1) with only
    /// `env` and the DRBD state `events2`, on its CIB file.
    fn run(
        &self,
        who: Handler,
        program: &str,
        cib: &Path,
        env: &[(&str, &str)],
        events2: &str,
    ) -> pcmk::Out {
        let sub = match who {
            Handler::Ferro => "ferro",
            Handler::Reference => "reference",
        };
        let state = self.path(&format!("{sub}.events2"));
        fs::write(&state, events2).unwrap();
        let prog = self.path(sub).join(program);
        let mut c = cmd("unshare");
        c.args(["-u", "sh", "-c", "hostname node1 && exec \"$@\"", "sh"]);
        if who == Handler::Reference {
            // Traced, its messages go to stderr instead of logger.
            c.args(["bash", "-x"]);
        }
        c.arg(&prog)
            .arg("--lock-file=NONE")
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    self.path("bin").display()
                ),
            )
            .env("CIB_file", cib)
            .env("FAKE_EVENTS2", &state)
            .envs(env.iter().copied());
        run(&mut c, 120)
    }

    /// Both handlers on their own copy of the same CIB: (exit code, the fence constraint
    /// left, as the CIB file holds it) for each, which must agree.
    fn both(
        &self,
        test: &str,
        program: &str,
        constraint: Option<&str>,
        env: &[(&str, &str)],
        events2: &str,
    ) -> (Option<i32>, Option<String>) {
        let mut results = Vec::new();
        for who in [Handler::Reference, Handler::Ferro] {
            let cib = self.cib(who, constraint);
            let out = self.run(who, program, &cib, env, events2);
            let left = Cib::parse(&fs::read_to_string(&cib).unwrap())
                .unwrap()
                .location(ID)
                .map(|l| format!("{l:?}"));
            let shown: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| who == Handler::Ferro || l.starts_with("+ echo"))
                .collect();
            say(&format!(
                "--- {test}: {who:?} {program}: exit {:?}\n{}",
                out.code,
                shown.join("\n")
            ));
            results.push((out.code, left));
        }
        assert_eq!(
            results[0], results[1],
            "{test}: crm-fence-peer.9.sh (left) and this build (right) differ"
        );
        results.pop().unwrap()
    }
}

const FENCE: &str = "crm-fence-peer.9.sh";
const UNFENCE: &str = "crm-unfence-peer.9.sh";

#[test]
fn fence_refuses_what_it_cannot_act_on() {
    let test = "fence_refuses_what_it_cannot_act_on";
    let Some(f) = Fixture::new(test) else { return };
    let lost = events2("UpToDate", "DUnknown");
    // No DRBD_RESOURCE; a resource no clone runs; a mask that is not hex; this node not in it.
    let no_res: Vec<(&str, &str)> = DRBD9_ENV
        .iter()
        .copied()
        .filter(|(k, _)| *k != "DRBD_RESOURCE")
        .collect();
    assert_eq!(f.both(test, FENCE, None, &no_res, &lost), (Some(1), None));
    let mut other = DRBD9_ENV.to_vec();
    other[0] = ("DRBD_RESOURCE", "r9");
    assert_eq!(f.both(test, FENCE, None, &other, &lost), (Some(1), None));
    let mut mask = DRBD9_ENV.to_vec();
    mask.push(("UP_TO_DATE_NODES", "1"));
    assert_eq!(f.both(test, FENCE, None, &mask, &lost), (Some(1), None));
    let mut not_me = DRBD9_ENV.to_vec();
    not_me.push(("UP_TO_DATE_NODES", "0x2"));
    assert_eq!(f.both(test, FENCE, None, &not_me, &lost), (Some(1), None));
}

/// crm_node --quorum cannot answer for a CIB file: without quorum confirmed, both place
/// nothing and exit 1.
#[test]
fn fence_without_confirmed_quorum_places_nothing() {
    let test = "fence_without_confirmed_quorum_places_nothing";
    let Some(f) = Fixture::new(test) else { return };
    let r = f.both(
        test,
        FENCE,
        None,
        DRBD9_ENV,
        &events2("UpToDate", "DUnknown"),
    );
    assert_eq!(r, (Some(1), None));
}

#[test]
fn fence_finds_its_constraint_in_place_and_answers_4() {
    let test = "fence_finds_its_constraint_in_place_and_answers_4";
    let Some(f) = Fixture::new(test) else { return };
    let (code, left) = f.both(
        test,
        FENCE,
        Some(PLACED),
        DRBD9_ENV,
        &events2("UpToDate", "DUnknown"),
    );
    assert_eq!(code, Some(4));
    assert!(left.is_some_and(|l| l.contains("node1")));
}

/// The peer came back meanwhile (its disk UpToDate again): the constraint goes, exit 1.
#[test]
fn fence_takes_the_constraint_back_when_the_peer_is_up_to_date_again() {
    let test = "fence_takes_the_constraint_back_when_the_peer_is_up_to_date_again";
    let Some(f) = Fixture::new(test) else { return };
    let r = f.both(
        test,
        FENCE,
        Some(PLACED),
        DRBD9_ENV,
        &events2("UpToDate", "UpToDate"),
    );
    assert_eq!(r, (Some(1), None));
}

/// A constraint of this id that lets only the peer promote (placed by the peer's handler):
/// this node leaves it alone and reports failure.
#[test]
fn fence_leaves_a_constraint_that_rejects_this_node() {
    let test = "fence_leaves_a_constraint_that_rejects_this_node";
    let Some(f) = Fixture::new(test) else { return };
    let theirs = PLACED.replace("value=\"node1\"", "value=\"node2\"");
    let (code, left) = f.both(
        test,
        FENCE,
        Some(&theirs),
        DRBD9_ENV,
        &events2("UpToDate", "DUnknown"),
    );
    assert_eq!(code, Some(1));
    assert!(left.is_some_and(|l| l.contains("node2")));
}

#[test]
fn unfence_removes_the_constraint_once_all_disks_are_up_to_date() {
    let test = "unfence_removes_the_constraint_once_all_disks_are_up_to_date";
    let Some(f) = Fixture::new(test) else { return };
    let synced = events2("UpToDate", "UpToDate");
    let all_up = [DRBD9_ENV, &[("UP_TO_DATE_NODES", "0x3")]].concat();
    assert_eq!(
        f.both(test, UNFENCE, Some(PLACED), &all_up, &synced),
        (Some(0), None)
    );
    // Nothing to remove: fine too.
    assert_eq!(
        f.both(test, UNFENCE, None, &all_up, &synced),
        (Some(0), None)
    );
    // DRBD 8.4's environment (no node ids): the same.
    let env84 = [
        ("DRBD_RESOURCE", "r0"),
        ("DRBD_PEER", "node2"),
        ("DRBD_MINOR", "0"),
    ];
    assert_eq!(f.both(test, UNFENCE, None, &env84, &synced).0, Some(0));
}

/// Still resyncing (the peer Inconsistent): the expected constraint stays.
#[test]
fn unfence_keeps_the_constraint_while_the_peer_resyncs() {
    let test = "unfence_keeps_the_constraint_while_the_peer_resyncs";
    let Some(f) = Fixture::new(test) else { return };
    let (code, left) = f.both(
        test,
        UNFENCE,
        Some(PLACED),
        DRBD9_ENV,
        &events2("UpToDate", "Inconsistent"),
    );
    assert_eq!(code, Some(0));
    assert!(left.is_some());
}
