//! The few Pacemaker tools an agent calls: the promotion score (a transient node attribute,
//! `crm_attribute -p`, or `-n master-<rsc>` before Pacemaker 2.1) and where Pacemaker thinks a resource is promoted (`crm_resource
//! --locate`). Outside a cluster (the agent run by hand, under drbd-reactor's ocf.rs wrapper,
//! on a node whose cluster stack is down) there is no score to keep: that is not an error.

use crate::ocf::Deadline;
use crate::sys::{command, procs, safe_file};
use anyhow::Result;
use std::path::Path;
use std::sync::OnceLock;

const CRM_ATTRIBUTE: &str = "crm_attribute";
/// crm_exit_t values crm_attribute returns.
const CRM_EX_NOT_CONNECTED: i32 = 102;
const CRM_EX_NOSUCH: i32 = 105;

/// The promotion score of one resource instance on one node.
pub struct PromotionScore<'a> {
    pub instance: &'a str,
    /// Pacemaker's name for this node (CRM_meta_on_node); without it crm_attribute asks the
    /// controller, one more IPC round trip.
    pub node: Option<&'a str>,
    pub form: ScoreForm,
}

/// How crm_attribute is told which attribute is the promotion score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreForm {
    /// `-p <rsc>` (--promotion), Pacemaker 2.1 and later: crm_master is deprecated there
    /// (ClusterLabs/resource-agents#1806).
    Promotion,
    /// `-n master-<rsc>`, what crm_master runs: Pacemaker 2.0 has no -p, and every score
    /// written with it would fail, so nothing would ever be promoted.
    Named,
}

impl ScoreForm {
    /// By the installed Pacemaker's version (`crm_attribute --version`), asked once per
    /// process. With `keep` (a directory only root writes, e.g. HA_RSCTMP) asked once per build
    /// of crm_attribute ([`tool_fingerprint`]): the answer is kept there in [`FORM_FILE`], so
    /// that each promote, demote, stop and notification, a process of its own on the failover's
    /// path, does not run crm_attribute once more for it. When it cannot be told, -p: current
    /// Pacemaker (and nothing is kept).
    pub fn detect(deadline: &Deadline, keep: Option<&Path>) -> ScoreForm {
        static FORM: OnceLock<ScoreForm> = OnceLock::new();
        *FORM.get_or_init(|| {
            let fingerprint = tool_fingerprint();
            // "crm_attribute=-": not found, or not readable; nothing to key the answer by.
            let known = keep.filter(|_| !fingerprint.ends_with("=-"));
            if let Some(form) = known.and_then(|dir| kept_form(dir, &fingerprint)) {
                return form;
            }
            let version = command::run(CRM_ATTRIBUTE, &["--version"], deadline)
                .ok()
                .and_then(|o| parse_pacemaker_version(&o.stdout));
            tracing::debug!("Pacemaker version {version:?}");
            let form = ScoreForm::for_version(version);
            if let (Some(dir), Some(_)) = (known, version) {
                keep_form(dir, &fingerprint, form);
            }
            form
        })
    }

    /// The form as one word, and back (for a cache of it).
    pub fn tag(self) -> &'static str {
        match self {
            ScoreForm::Promotion => "promotion",
            ScoreForm::Named => "named",
        }
    }

    pub fn from_tag(s: &str) -> Option<ScoreForm> {
        [ScoreForm::Promotion, ScoreForm::Named]
            .into_iter()
            .find(|f| f.tag() == s)
    }

    pub fn for_version(version: Option<(u32, u32, u32)>) -> ScoreForm {
        match version {
            Some(v) if v < (2, 1, 0) => ScoreForm::Named,
            _ => ScoreForm::Promotion,
        }
    }
}

/// Where [`ScoreForm::detect`] keeps its answer: `<fingerprint>\n<form>\n`.
pub const FORM_FILE: &str = "ferro-crm_attribute.form";

/// The form kept in `dir` for this build of crm_attribute, if any.
fn kept_form(dir: &Path, fingerprint: &str) -> Option<ScoreForm> {
    let text = safe_file::read(dir, Path::new(FORM_FILE), 4096)
        .map_err(|e| tracing::debug!("{e:#}"))
        .ok()??;
    let (kept, form) = text.trim_end().split_once('\n')?;
    (kept == safe_file::one_line(fingerprint))
        .then(|| ScoreForm::from_tag(form))
        .flatten()
}

fn keep_form(dir: &Path, fingerprint: &str, form: ScoreForm) {
    let text = format!("{}\n{}\n", safe_file::one_line(fingerprint), form.tag());
    if let Err(e) = safe_file::replace_creating_base(dir, Path::new(FORM_FILE), text.as_bytes()) {
        tracing::debug!("keeping the crm_attribute form: {e:#}");
    }
}

/// "Pacemaker 2.1.5\nWritten by ..." (also "Pacemaker 2.0.1-9e909a5bdd") -> (2, 1, 5).
pub fn parse_pacemaker_version(s: &str) -> Option<(u32, u32, u32)> {
    let v = s.lines().next()?.trim().strip_prefix("Pacemaker ")?;
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let mut n = || it.next()?.parse::<u32>().ok();
    Some((n()?, n()?, n()?))
}

/// A promotion score as crm_attribute reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Score {
    Absent,
    Value(i64),
    /// Not a plain number (a manual "INFINITY", say): known to be there, not known to be what
    /// the agent wants, so it is always rewritten or deleted.
    Other(String),
}

impl Score {
    pub fn parse(stdout: &str) -> Score {
        let v = stdout.trim();
        match v.parse::<i64>() {
            Ok(n) => Score::Value(n),
            Err(_) if v.is_empty() => Score::Absent,
            Err(_) => Score::Other(v.to_owned()),
        }
    }

    /// Whether the score is already `want` (None: no score), so that writing it changes nothing.
    pub fn is(&self, want: Option<i64>) -> bool {
        match (self, want) {
            (Score::Absent, None) => true,
            (Score::Value(n), Some(w)) => *n == w,
            _ => false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// No cluster to talk to: the score is skipped.
    NoCluster,
}

impl PromotionScore<'_> {
    pub fn argv(&self, op: &[&str]) -> Vec<String> {
        let mut v = match self.form {
            ScoreForm::Promotion => vec!["-p".to_owned(), self.instance.to_owned()],
            ScoreForm::Named => vec!["-n".to_owned(), format!("master-{}", self.instance)],
        };
        v.extend(["-l".to_owned(), "reboot".to_owned()]);
        if let Some(n) = self.node.filter(|n| !n.is_empty()) {
            v.extend(["-N".to_owned(), n.to_owned()]);
        }
        v.extend(op.iter().map(|s| (*s).to_owned()));
        v
    }

    fn call(&self, op: &[&str], deadline: &Deadline) -> Result<Outcome<command::Output>> {
        if !have_program(CRM_ATTRIBUTE) {
            tracing::debug!(
                "no {CRM_ATTRIBUTE}: not in a Pacemaker cluster, promotion score skipped"
            );
            return Ok(Outcome::NoCluster);
        }
        let argv = self.argv(op);
        let out = command::run(CRM_ATTRIBUTE, &argv, deadline)?;
        if out.status.code() == Some(CRM_EX_NOT_CONNECTED) {
            tracing::debug!(
                "{CRM_ATTRIBUTE}: {}: no cluster, promotion score skipped",
                out.last_line()
            );
            return Ok(Outcome::NoCluster);
        }
        Ok(Outcome::Done(out))
    }

    /// The current score.
    pub fn get(&self, deadline: &Deadline) -> Result<Outcome<Score>> {
        Ok(match self.call(&["-G", "-q"], deadline)? {
            Outcome::NoCluster => Outcome::NoCluster,
            Outcome::Done(out) if out.success() => Outcome::Done(Score::parse(&out.stdout)),
            Outcome::Done(out) if out.status.code() == Some(CRM_EX_NOSUCH) => {
                Outcome::Done(Score::Absent)
            }
            Outcome::Done(out) => anyhow::bail!(
                "{} failed ({}): {}",
                command::display_argv(CRM_ATTRIBUTE, &self.argv(&["-G", "-q"])),
                out.describe(),
                out.last_line()
            ),
        })
    }

    /// Set (Some) or delete (None) the score.
    pub fn set(&self, score: Option<i64>, deadline: &Deadline) -> Result<Outcome<()>> {
        let v = score.map(|s| s.to_string());
        let op: Vec<&str> = match &v {
            Some(v) => vec!["-v", v],
            None => vec!["-D"],
        };
        Ok(match self.call(&op, deadline)? {
            Outcome::NoCluster => Outcome::NoCluster,
            Outcome::Done(out) if out.success() => Outcome::Done(()),
            Outcome::Done(out) => anyhow::bail!(
                "{} failed ({}): {}",
                command::display_argv(CRM_ATTRIBUTE, &self.argv(&op)),
                out.describe(),
                out.last_line()
            ),
        })
    }
}

/// The nodes where Pacemaker has `rsc` promoted, from `crm_resource --locate`
/// ("resource X is running on: node1 Promoted"; "Master" before Pacemaker 2.1).
pub fn promoted_nodes(rsc: &str, deadline: &Deadline) -> Result<Outcome<Vec<String>>> {
    if !have_program("crm_resource") {
        return Ok(Outcome::NoCluster);
    }
    let out = command::run("crm_resource", &["--resource", rsc, "--locate"], deadline)?;
    if out.status.code() == Some(CRM_EX_NOT_CONNECTED) {
        return Ok(Outcome::NoCluster);
    }
    Ok(Outcome::Done(parse_locate(&out.stdout)))
}

fn parse_locate(s: &str) -> Vec<String> {
    s.lines()
        .filter_map(|l| l.split_once("is running on:"))
        .filter_map(|(_, rest)| {
            let mut w = rest.split_whitespace();
            let node = w.next()?;
            matches!(w.next(), Some("Promoted" | "Master")).then(|| node.to_owned())
        })
        .collect()
}

/// Where a CIB query goes: the local CIB manager (`cibadmin -Ql`), or the DC's copy, waiting
/// at most `secs` for an answer (`cibadmin -Q -t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CibSource {
    Local,
    Dc { secs: u32 },
}

/// The CIB as XML text (also a CIB_file, which cibadmin reads when that is set).
pub fn cib_query(source: CibSource, deadline: &Deadline) -> Result<String> {
    let args: Vec<String> = match source {
        CibSource::Local => vec!["-Q".into(), "-l".into()],
        CibSource::Dc { secs } => vec!["-Q".into(), "-t".into(), secs.max(1).to_string()],
    };
    Ok(command::run_ok("cibadmin", &args, deadline)?.stdout)
}

/// How a constraint is written: created or merged into an existing one of its id
/// (`--modify --allow-create`), or put in place of the existing one (`--replace`), which
/// also drops what the new one leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CibWrite {
    CreateOrModify,
    Replace,
}

/// One update of the constraints section with the `xml` object, bounded by `secs` for the
/// CIB manager and by `deadline` for the process.
pub fn cib_write_constraint(
    xml: &str,
    how: CibWrite,
    secs: u32,
    deadline: &Deadline,
) -> Result<()> {
    let mut args: Vec<&str> = match how {
        CibWrite::CreateOrModify => vec!["--modify", "--allow-create"],
        CibWrite::Replace => vec!["--replace"],
    };
    let t = secs.max(1).to_string();
    args.extend(["--scope", "constraints", "--timeout", &t, "--xml-text", xml]);
    command::run_ok("cibadmin", &args, deadline)?;
    Ok(())
}

/// Delete the `<rsc_location>` of this id (`cibadmin -D`); absent already is not an error.
pub fn cib_delete_location(id: &str, rsc: &str, deadline: &Deadline) -> Result<()> {
    let xml = format!(
        r#"<rsc_location rsc="{}" id="{}"/>"#,
        super::cib::escape(rsc),
        super::cib::escape(id)
    );
    let out = command::run("cibadmin", &["-D", "-X", &xml], deadline)?;
    if !out.success() && out.status.code() != Some(CRM_EX_NOSUCH) {
        anyhow::bail!(
            "cibadmin -D {xml} failed ({}): {}",
            out.describe(),
            out.last_line()
        );
    }
    Ok(())
}

/// `crm_node --quorum`: Some(true/false), None when it cannot tell (no cluster).
pub fn partition_has_quorum(deadline: &Deadline) -> Option<bool> {
    let out = command::run("crm_node", &["--quorum"], deadline).ok()?;
    match out.stdout.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// Whether the controller of `node` answers (`crmadmin -S`), within `timeout_ms`.
pub fn controller_answers(node: &str, timeout_ms: u64, deadline: &Deadline) -> bool {
    let t = format!("{timeout_ms}ms");
    command::run("crmadmin", &["-t", &t, "-S", node], deadline)
        .is_ok_and(|o| o.success() && controller_ok(&o.stdout))
}

/// "Controller on node2 in state S_NOT_DC: ok" (Pacemaker 2.1), "Status of crmd@node2: S_NOT_DC (ok)"
/// (1.1).
fn controller_ok(stdout: &str) -> bool {
    let s = stdout.trim_end();
    s.ends_with(": ok") || s.ends_with(" (ok)")
}

/// Ask Pacemaker to fence this node (the transient `terminate` attribute).
pub fn request_self_termination(node: &str, deadline: &Deadline) -> Result<()> {
    command::run_ok(
        CRM_ATTRIBUTE,
        &["-t", "status", "-N", node, "-n", "terminate", "-v", "1"],
        deadline,
    )?;
    Ok(())
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
/// The daemons that keep a node's transient attributes, by /proc comm (15 characters at most):
/// pacemaker-attrd (attrd before Pacemaker 2.0); on a remote node pacemaker-remoted (before
/// 2.0 pacemaker_remoted), which relays to the cluster node's attrd.
const ATTRIBUTE_KEEPERS: &[&str] = &[
    "pacemaker-attrd",
    "attrd",
    "pacemaker-remot",
    "pacemaker_remot",
];

/// What the cluster's view of this node's transient attributes (the promotion score) lives
/// and dies with, as a string that changes when that view may have been reset: the boot (the
/// attributes are lost at a reboot) and the process keeping them, by pid and start time (a
/// cluster stop or restart on this node clears them and starts a new one). With `CIB_file`
/// the tools read and write that file instead, so its name stands for the process. None when
/// no cluster runs here.
///
/// `known`, an epoch returned before, is checked first with one /proc read; otherwise every
/// process is looked at.
pub fn transient_epoch(known: Option<&str>) -> Option<String> {
    let boot = std::fs::read_to_string(BOOT_ID).ok()?;
    let cib = std::env::var("CIB_file").ok().filter(|v| !v.is_empty());
    epoch(boot.trim(), cib.as_deref(), known)
}

fn epoch(boot: &str, cib_file: Option<&str>, known: Option<&str>) -> Option<String> {
    if let Some(cib) = cib_file {
        return Some(format!("{boot} CIB_file={cib}"));
    }
    let keeper = |pid: i32| {
        let (comm, start) = procs::identity(pid)?;
        ATTRIBUTE_KEEPERS
            .contains(&comm.as_str())
            .then(|| format!("{boot} {comm}/{pid}/{start}"))
    };
    let known_pid = known.and_then(|k| {
        k.strip_prefix(boot)?
            .trim_start()
            .split('/')
            .nth(1)?
            .parse()
            .ok()
    });
    if let Some(epoch) = known_pid
        .and_then(keeper)
        .filter(|e| Some(e.as_str()) == known)
    {
        return Some(epoch);
    }
    procs::all_pids().ok()?.find_map(keeper)
}

/// Which crm_attribute would run, and which build of it (path, inode, modification time): the
/// score form depends on its version.
pub fn tool_fingerprint() -> String {
    use std::os::unix::fs::MetadataExt;
    match command::find_program(CRM_ATTRIBUTE) {
        Some(p) => match std::fs::metadata(&p) {
            Ok(m) => format!(
                "{}={}:{}.{}",
                p.display(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec()
            ),
            Err(_) => format!("{}=-", p.display()),
        },
        None => format!("{CRM_ATTRIBUTE}=-"),
    }
}

/// Whether `program` is on PATH (the default PATH for an agent run with none).
pub fn have_program(program: &str) -> bool {
    command::find_program(program).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crmadmin_status_answers() {
        assert!(controller_ok("Controller on node2 in state S_NOT_DC: ok\n"));
        assert!(controller_ok("Status of crmd@node2: S_NOT_DC (ok)\n"));
        assert!(!controller_ok(
            "error: No reply received from controller before timeout\n"
        ));
        assert!(!controller_ok(""));
    }

    #[test]
    fn epoch_is_this_boot_and_the_cib_file() {
        let boot = "2f0c6d2e-1f7a-4c1e-9a53-0d2b1f9c4e11";
        assert_eq!(
            epoch(boot, Some("/tmp/x/cib.xml"), None).as_deref(),
            Some("2f0c6d2e-1f7a-4c1e-9a53-0d2b1f9c4e11 CIB_file=/tmp/x/cib.xml")
        );
        // A hint naming a process that is not an attribute keeper (this test) is not taken
        // at its word, nor one of another boot.
        let me = std::process::id();
        let (comm, start) = procs::identity(me as i32).unwrap();
        let fake = format!("{boot} {comm}/{me}/{start}");
        assert_ne!(epoch(boot, None, Some(&fake)), Some(fake));
        assert!(transient_epoch(None).map_or(true, |e| !e.contains(&comm)));
        // A stand-in keeper (sleep under attrd's name): found by the scan, then by the hint;
        // once it is gone (a cluster stop), the old epoch is over.
        let dir = std::env::temp_dir().join(format!("fepoch-{me}"));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("attrd");
        std::fs::copy("/bin/sleep", &bin).unwrap();
        let mut child = std::process::Command::new(&bin).arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        // Until exec has happened, the child still has the test's name.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while procs::identity(pid).map(|i| i.0).as_deref() != Some("attrd") {
            assert!(
                std::time::Instant::now() < deadline,
                "the stand-in never ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let start = procs::identity(pid).unwrap().1;
        let mine = format!("{boot} attrd/{pid}/{start}");
        assert_eq!(
            epoch(boot, None, Some(&mine)).as_deref(),
            Some(mine.as_str())
        );
        let scanned = epoch(boot, None, None).unwrap();
        assert!(scanned.starts_with(boot), "{scanned}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_ne!(epoch(boot, None, Some(&mine)), Some(mine));
        std::fs::remove_dir_all(&dir).unwrap();
        for f in [ScoreForm::Promotion, ScoreForm::Named] {
            assert_eq!(ScoreForm::from_tag(f.tag()), Some(f));
        }
        assert_eq!(ScoreForm::from_tag("x"), None);
    }

    #[test]
    fn locate_output_of_old_and_new_pacemaker() {
        let new = "resource drbd_r0 is running on: node1 Promoted\nresource drbd_r0 is running on: node2\n";
        assert_eq!(parse_locate(new), ["node1"]);
        let old = "resource drbd_r0 is running on: node2 Master\n";
        assert_eq!(parse_locate(old), ["node2"]);
        assert!(parse_locate("resource drbd_r0 is NOT running\n").is_empty());
    }

    #[test]
    fn argv_names_instance_and_node() {
        let s = PromotionScore {
            instance: "drbd_r0",
            node: Some("node1"),
            form: ScoreForm::Promotion,
        };
        assert_eq!(
            s.argv(&["-v", "10000"]),
            ["-p", "drbd_r0", "-l", "reboot", "-N", "node1", "-v", "10000"]
        );
        let s = PromotionScore {
            instance: "drbd_r0",
            node: None,
            form: ScoreForm::Promotion,
        };
        assert_eq!(s.argv(&["-D"]), ["-p", "drbd_r0", "-l", "reboot", "-D"]);
        // What crm_master runs, for Pacemaker 2.0 (no -p there).
        let s = PromotionScore {
            instance: "drbd_r0",
            node: Some("node1"),
            form: ScoreForm::Named,
        };
        assert_eq!(
            s.argv(&["-D"]),
            ["-n", "master-drbd_r0", "-l", "reboot", "-N", "node1", "-D"]
        );
    }

    #[test]
    fn score_form_by_pacemaker_version() {
        // `crm_attribute --version` of Pacemaker 2.1.5 (Debian 12) and 2.0.1 (Debian 10).
        let v215 =
            "Pacemaker 2.1.5\nWritten by Andrew Beekhof and the Pacemaker project contributors\n";
        let v201 = "Pacemaker 2.0.1\nWritten by Andrew Beekhof\n";
        assert_eq!(parse_pacemaker_version(v215), Some((2, 1, 5)));
        assert_eq!(parse_pacemaker_version(v201), Some((2, 0, 1)));
        assert_eq!(
            parse_pacemaker_version("Pacemaker 2.0.5-ba59be7122\n"),
            Some((2, 0, 5))
        );
        assert_eq!(
            parse_pacemaker_version("crm_attribute: unknown option"),
            None
        );
        let form = |s: &str| ScoreForm::for_version(parse_pacemaker_version(s));
        assert_eq!(form(v215), ScoreForm::Promotion);
        assert_eq!(form(v201), ScoreForm::Named);
        assert_eq!(form("Pacemaker 3.0.0\n"), ScoreForm::Promotion);
        assert_eq!(form("Pacemaker 1.1.23\n"), ScoreForm::Named);
        // Unknown: current Pacemaker.
        assert_eq!(form(""), ScoreForm::Promotion);
    }

    #[test]
    fn a_score_that_is_not_a_number_is_not_no_score() {
        assert_eq!(Score::parse("10000\n"), Score::Value(10000));
        assert_eq!(Score::parse("\n"), Score::Absent);
        let inf = Score::parse("INFINITY\n");
        assert_eq!(inf, Score::Other("INFINITY".to_owned()));
        // Unknown: deleting or writing it is never skipped.
        assert!(!inf.is(None) && !inf.is(Some(10000)));
        assert!(Score::Absent.is(None) && !Score::Absent.is(Some(1)));
        assert!(Score::Value(10).is(Some(10)) && !Score::Value(10).is(None));
    }
}
