//! The agents' metadata (ocf-metadata/*.xml) against the OCF DTD and against the reference agents.
//!
//! The binary takes parameter names, defaults, required flags and types from these files, so a
//! drift from the reference agents here is a drift in behaviour: these tests pin it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

#[path = "support/skip.rs"]
mod skip_;
use skip_::skip;

const DTD: &str = "/usr/share/resource-agents/ra-api-1.dtd";
const OCF_ROOT: &str = "/usr/lib/ocf";
const AGENTS: [&str; 5] = ["IPaddr2", "Filesystem", "exportfs", "nfsserver", "drbd"];

/// A parameter that differs from the reference on purpose, and why.
struct Exception {
    param: &'static str,
    kind: Kind,
    why: &'static str,
}

enum Kind {
    /// Our default differs from the reference's.
    Default(&'static str),
    /// Our default is pinned to Debian's; the reference's depends on the distribution.
    DistroDefault(&'static str),
    /// Our content type differs from the reference's.
    Type(&'static str),
}

fn exceptions(agent: &str) -> Vec<Exception> {
    let e = |param, kind, why| Exception { param, kind, why };
    match agent {
        "Filesystem" => vec![
            e(
                "force_unmount",
                Kind::DistroDefault("true"),
                "RHEL >= 9 defaults to safe",
            ),
            e(
                "fast_stop",
                Kind::DistroDefault("no"),
                "RHEL < 9 defaults to yes",
            ),
            e(
                "force_unmount",
                Kind::Type("string"),
                "takes true|safe|false, not a boolean",
            ),
        ],
        "IPaddr2" => vec![e(
            "check_link_status",
            Kind::DistroDefault("true"),
            "RHEL < 10.1 defaults to false; older releases lack the parameter",
        )],
        "nfsserver" => vec![e(
            "nfs_init_script",
            Kind::Default(""),
            "the reference shows the placeholder text 'auto detected'; empty means detect, \
             and the binary applies defaults literally",
        )],
        "drbd" => vec![
            e(
                "unfence_extra_args",
                Kind::Type("string"),
                "a list of options; the reference declares it boolean by mistake",
            ),
            e(
                "wfc_timeout",
                Kind::Type("string"),
                "non-digits are documented as valid (no wait); the binary rejects them for integers",
            ),
        ],
        _ => vec![],
    }
}

/// Parameters we have that the installed reference may lack: they come from newer upstream
/// releases of the reference agent (the installed one is Debian 12's resource-agents 4.12).
fn newer_upstream_params(agent: &str) -> &'static [&'static str] {
    match agent {
        "IPaddr2" => &[
            "check_link_status",
            "proto",
            "clusterip_firewall",
            "clusterip_hash_seed",
            "clusterip_table",
            "clusterip_chain",
            "clusterip_mac_mangle",
        ],
        "Filesystem" => &["term_signals", "kill_signals", "signal_delay"],
        _ => &[],
    }
}

/// Parameters of ours that no release of the reference has (docs/compatibility.md, "Additions"):
/// optional, empty by default, so a configuration written for the reference behaves the same.
fn ferro_additions(agent: &str) -> &'static [&'static str] {
    match agent {
        "IPaddr2" => &["tickle_dir"],
        _ => &[],
    }
}

/// The actions each agent advertises: exactly these, no more.
fn expected_actions(agent: &str) -> BTreeSet<(&'static str, Option<&'static str>)> {
    let mut set: BTreeSet<_> = [
        ("start", None),
        ("stop", None),
        ("meta-data", None),
        ("validate-all", None),
    ]
    .into_iter()
    .collect();
    if agent == "drbd" {
        set.extend([
            ("promote", None),
            ("demote", None),
            ("notify", None),
            ("reload", None),
            ("monitor", Some("Promoted")),
            ("monitor", Some("Unpromoted")),
        ]);
    } else {
        set.extend([("status", None), ("monitor", None)]);
    }
    set
}

#[derive(Debug, Default)]
struct Param {
    name: String,
    required: bool,
    unique: bool,
    ctype: Option<String>,
    default: Option<String>,
    longdesc: bool,
    shortdesc: bool,
}

#[derive(Debug, Default)]
struct Action {
    name: String,
    timeout: Option<String>,
    interval: Option<String>,
    role: Option<String>,
}

#[derive(Debug, Default)]
struct Meta {
    name: String,
    agent_version: Option<String>,
    ocf_version: String,
    longdesc: String,
    params: Vec<Param>,
    actions: Vec<Action>,
}

impl Meta {
    fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

fn attrs(e: &BytesStart) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("malformed attribute");
            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
            (
                key,
                a.unescape_value()
                    .expect("bad attribute value")
                    .into_owned(),
            )
        })
        .collect()
}

/// A small scan of resource-agent metadata: enough structure to compare, nothing more.
fn parse(xml: &str) -> Meta {
    let mut reader = Reader::from_str(xml);
    let mut meta = Meta::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("XML error at byte {}: {e}", reader.buffer_position()));
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let tag = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let a = attrs(e);
                let parent = path.last().map(String::as_str);
                match (parent, tag.as_str()) {
                    (None, "resource-agent") => {
                        meta.name = a.get("name").cloned().unwrap_or_default();
                        meta.agent_version = a.get("version").cloned();
                    }
                    (Some("parameters"), "parameter") => meta.params.push(Param {
                        name: a.get("name").cloned().expect("parameter without name"),
                        required: a.get("required").is_some_and(|v| v == "1"),
                        unique: a.get("unique").is_some_and(|v| v == "1"),
                        ..Param::default()
                    }),
                    (Some("parameter"), "content") => {
                        let p = meta.params.last_mut().unwrap();
                        p.ctype = a.get("type").cloned();
                        p.default = a.get("default").cloned();
                    }
                    (Some("parameter"), "longdesc") => {
                        meta.params.last_mut().unwrap().longdesc = true
                    }
                    (Some("parameter"), "shortdesc") => {
                        meta.params.last_mut().unwrap().shortdesc = true
                    }
                    (Some("actions"), "action") => meta.actions.push(Action {
                        name: a.get("name").cloned().expect("action without name"),
                        timeout: a.get("timeout").cloned(),
                        interval: a.get("interval").cloned(),
                        role: a.get("role").cloned(),
                    }),
                    _ => {}
                }
                if matches!(ev, Event::Start(_)) {
                    path.push(tag);
                    text.clear();
                }
            }
            Event::Text(t) => text.push_str(&t.unescape().expect("bad text")),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let tag = path.pop().unwrap();
                match (path.last().map(String::as_str), tag.as_str()) {
                    (Some("resource-agent"), "version") => meta.ocf_version = text.trim().into(),
                    (Some("resource-agent"), "longdesc") => meta.longdesc = text.clone(),
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    meta
}

fn metadata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ocf-metadata")
}

fn our_file(agent: &str) -> PathBuf {
    metadata_dir().join(format!("{agent}.xml"))
}

fn ours(agent: &str) -> Meta {
    let path = our_file(agent);
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&xml)
}

/// Runs a command with a deadline (no shell); None if it could not be started.
fn run(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Option<(i32, String, String)> {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let feeder = stdin.map(|data| {
        let data = data.to_vec();
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait failed") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Some((
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    ))
}

fn xmllint_available(test: &str) -> bool {
    if !Path::new(DTD).exists() {
        skip(
            test,
            &format!("{DTD} missing (Debian package resource-agents)"),
        );
        return false;
    }
    if run(
        Command::new("xmllint").arg("--version"),
        None,
        Duration::from_secs(10),
    )
    .is_none()
    {
        skip(test, "xmllint missing (Debian package libxml2-utils)");
        return false;
    }
    true
}

#[test]
fn every_metadata_file_is_one_of_the_agents() {
    let mut found: Vec<String> = std::fs::read_dir(metadata_dir())
        .expect("ocf-metadata/ missing")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    found.sort();
    let mut expected: Vec<String> = AGENTS.iter().map(|a| format!("{a}.xml")).collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn metadata_validates_against_the_ocf_dtd() {
    if !xmllint_available("metadata_validates_against_the_ocf_dtd") {
        return;
    }
    for agent in AGENTS {
        let file = our_file(agent);
        let (rc, _, err) = run(
            Command::new("xmllint")
                .args(["--noout", "--dtdvalid", DTD])
                .arg(&file),
            None,
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            rc,
            0,
            "{} does not validate against {DTD}:\n{err}",
            file.display()
        );

        // ocf-tester's own check: validation through the document's DOCTYPE, from the DTD's
        // directory. It needs <!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">.
        let xml = std::fs::read(&file).unwrap();
        let (rc, _, err) = run(
            Command::new("xmllint")
                .args(["--noout", "--valid", "-"])
                .current_dir(Path::new(DTD).parent().unwrap()),
            Some(&xml),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            rc,
            0,
            "{} fails ocf-tester's `xmllint --valid`:\n{err}",
            file.display()
        );
    }
}

#[test]
fn metadata_is_consistent() {
    for agent in AGENTS {
        let m = ours(agent);
        assert_eq!(m.name, agent, "{agent}: name attribute");
        // OCF 1.0 on purpose; see the comment at the top of IPaddr2.xml and drbd.xml.
        assert_eq!(m.ocf_version, "1.0", "{agent}: <version>");
        assert_eq!(
            m.agent_version.as_deref(),
            Some(env!("CARGO_PKG_VERSION")),
            "{agent}: version"
        );
        assert!(
            m.longdesc.contains("ferro-ocf's drop-in replacement"),
            "{agent}: longdesc"
        );
        assert!(
            m.longdesc.contains("Deliberate differences"),
            "{agent}: longdesc"
        );

        let mut names = BTreeSet::new();
        for p in &m.params {
            assert!(names.insert(&p.name), "{agent}: parameter {} twice", p.name);
            assert!(
                p.longdesc && p.shortdesc,
                "{agent}: {} needs longdesc and shortdesc",
                p.name
            );
            let ctype = p
                .ctype
                .as_deref()
                .unwrap_or_else(|| panic!("{agent}: {} type", p.name));
            let default = p.default.as_deref().unwrap_or("");
            match ctype {
                // The values ocf_is_true/ocf_is_false understand.
                "boolean" => assert!(
                    ["1", "0", "true", "false", "yes", "no", "on", "off"]
                        .contains(&default.to_ascii_lowercase().as_str()),
                    "{agent}: boolean {} has default {default:?}",
                    p.name
                ),
                "integer" => assert!(
                    default.is_empty() || default.parse::<i64>().is_ok(),
                    "{agent}: integer {} has default {default:?}",
                    p.name
                ),
                "string" => {}
                other => panic!("{agent}: {} has type {other}", p.name),
            }
        }

        let mut actions = BTreeSet::new();
        for a in &m.actions {
            assert!(
                a.timeout.is_some(),
                "{agent}: action {} without timeout",
                a.name
            );
            let key = (a.name.as_str(), a.role.as_deref());
            assert!(actions.insert(key), "{agent}: action {key:?} twice");
        }
        let expected = expected_actions(agent);
        let actions: BTreeSet<(&str, Option<&str>)> = actions.into_iter().collect();
        assert_eq!(actions, expected, "{agent}: actions");
        for a in m
            .actions
            .iter()
            .filter(|a| a.name == "monitor" || a.name == "status")
        {
            assert!(a.interval.is_some(), "{agent}: {} without interval", a.name);
        }
    }
}

/// "20s", "240", "5min", "500ms" as milliseconds, as Pacemaker reads them.
fn millis(t: &str) -> u64 {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad time {t:?}"));
    n * match unit.trim() {
        "" | "s" | "sec" => 1000,
        "ms" | "msec" => 1,
        "m" | "min" => 60_000,
        "h" | "hr" => 3_600_000,
        u => panic!("bad time unit {u:?} in {t:?}"),
    }
}

/// OCF 1.0 role names as the OCF 1.1 names we use.
fn role_1_1(role: Option<&str>) -> Option<String> {
    role.map(|r| match r {
        "Master" => "Promoted".into(),
        "Slave" => "Unpromoted".into(),
        r => r.into(),
    })
}

fn reference_agent(agent: &str) -> PathBuf {
    let provider = if agent == "drbd" {
        "linbit"
    } else {
        "heartbeat"
    };
    Path::new(OCF_ROOT)
        .join("resource.d")
        .join(provider)
        .join(agent)
}

#[test]
fn parameters_and_operations_match_the_reference_agents() {
    let mut compared = 0;
    for agent in AGENTS {
        let path = reference_agent(agent);
        if !path.exists() {
            skip(
                "parameters_and_operations_match_the_reference_agents",
                &format!("{agent}: reference agent {} not installed", path.display()),
            );
            continue;
        }
        let (rc, xml, err) = run(
            Command::new(&path)
                .arg("meta-data")
                .env("OCF_ROOT", OCF_ROOT),
            None,
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("cannot run {}", path.display()));
        assert_eq!(rc, 0, "{} meta-data failed: {err}", path.display());
        let reference = parse(&xml);
        let ours = ours(agent);
        let exceptions = exceptions(agent);
        let default_exception = |name: &str| {
            exceptions.iter().find_map(|e| match e.kind {
                Kind::Default(d) | Kind::DistroDefault(d) if e.param == name => Some((d, e.why)),
                _ => None,
            })
        };
        let type_exception = |name: &str| {
            exceptions.iter().find_map(|e| match e.kind {
                Kind::Type(t) if e.param == name => Some((t, e.why)),
                _ => None,
            })
        };

        for r in &reference.params {
            let o = ours
                .param(&r.name)
                .unwrap_or_else(|| panic!("{agent}: reference parameter {} missing", r.name));
            match default_exception(&r.name) {
                Some((pinned, why)) => assert_eq!(
                    o.default.as_deref(),
                    Some(pinned),
                    "{agent}: {} default (exception: {why})",
                    r.name
                ),
                None => assert_eq!(o.default, r.default, "{agent}: {} default", r.name),
            }
            assert_eq!(o.required, r.required, "{agent}: {} required", r.name);
            // Pacemaker restarts (instead of reloading) drbd when a unique="1" parameter changes,
            // and pcs checks unique parameters across resources: keep the flags identical.
            assert_eq!(o.unique, r.unique, "{agent}: {} unique", r.name);
            match type_exception(&r.name) {
                Some((t, why)) => assert_eq!(
                    o.ctype.as_deref(),
                    Some(t),
                    "{agent}: {} type (exception: {why})",
                    r.name
                ),
                None => assert_eq!(o.ctype, r.ctype, "{agent}: {} type", r.name),
            }
            compared += 1;
        }
        for o in &ours.params {
            if reference.param(&o.name).is_none() {
                assert!(
                    newer_upstream_params(agent).contains(&o.name.as_str())
                        || ferro_additions(agent).contains(&o.name.as_str()),
                    "{agent}: parameter {} is not in the reference agent",
                    o.name
                );
            }
        }
        // Pinned distribution defaults hold even where the installed reference lacks the parameter.
        for e in &exceptions {
            if let Kind::DistroDefault(pinned) = e.kind {
                let o = ours
                    .param(e.param)
                    .unwrap_or_else(|| panic!("{agent}: {} missing", e.param));
                assert_eq!(
                    o.default.as_deref(),
                    Some(pinned),
                    "{agent}: {} default",
                    e.param
                );
            }
        }

        // The advertised timeouts and intervals are what pcs copies into new resources.
        for r in &reference.actions {
            let role = role_1_1(r.role.as_deref());
            let o = ours
                .actions
                .iter()
                .find(|a| a.name == r.name && a.role == role)
                .unwrap_or_else(|| panic!("{agent}: reference action {} {role:?} missing", r.name));
            if let Some(t) = &r.timeout {
                let ours_t = o.timeout.as_deref().unwrap();
                assert_eq!(millis(ours_t), millis(t), "{agent}: {} timeout", r.name);
            }
            assert_eq!(
                o.interval.as_deref().map(millis),
                r.interval.as_deref().map(millis),
                "{agent}: {} {role:?} interval",
                r.name
            );
        }
    }
    if compared == 0 {
        skip(
            "parameters_and_operations_match_the_reference_agents",
            "no reference agent installed (Debian packages resource-agents, drbd-utils)",
        );
    }
}
