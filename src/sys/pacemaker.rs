//! The few Pacemaker tools an agent calls: the promotion score (a transient node attribute,
//! `crm_attribute -p`) and where Pacemaker thinks a resource is promoted (`crm_resource
//! --locate`). Outside a cluster (the agent run by hand, under drbd-reactor's ocf.rs wrapper,
//! on a node whose cluster stack is down) there is no score to keep: that is not an error.

use crate::ocf::Deadline;
use crate::sys::command;
use anyhow::Result;

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
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// No cluster to talk to: the score is skipped.
    NoCluster,
}

impl PromotionScore<'_> {
    fn argv(&self, op: &[&str]) -> Vec<String> {
        // -p (--promotion) is Pacemaker's promotion attribute (master-<rsc>), lifetime reboot;
        // the deprecated crm_master wrapper did the same (ClusterLabs/resource-agents#1806).
        let mut v = vec![
            "-p".to_owned(),
            self.instance.to_owned(),
            "-l".to_owned(),
            "reboot".to_owned(),
        ];
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

    /// The current score, None when there is none.
    pub fn get(&self, deadline: &Deadline) -> Result<Outcome<Option<i64>>> {
        Ok(match self.call(&["-G", "-q"], deadline)? {
            Outcome::NoCluster => Outcome::NoCluster,
            Outcome::Done(out) if out.success() => {
                Outcome::Done(out.stdout.trim().parse::<i64>().ok())
            }
            Outcome::Done(out) if out.status.code() == Some(CRM_EX_NOSUCH) => Outcome::Done(None),
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

/// Whether `program` is on PATH (the default PATH for an agent run with none).
pub fn have_program(program: &str) -> bool {
    command::find_program(program).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        assert_eq!(
            s.argv(&["-v", "10000"]),
            ["-p", "drbd_r0", "-l", "reboot", "-N", "node1", "-v", "10000"]
        );
        let s = PromotionScore {
            instance: "drbd_r0",
            node: None,
        };
        assert_eq!(s.argv(&["-D"]), ["-p", "drbd_r0", "-l", "reboot", "-D"]);
    }
}
