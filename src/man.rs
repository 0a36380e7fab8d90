//! `ferro-ocf man`: the manual page ferro-ocf(8), made from the agents' embedded metadata
//! (ocf-metadata/*.xml) so that it cannot drift from what the agents accept: one section per
//! agent with every parameter, whether it is required, its default and its meaning.

use crate::agents::AGENTS;
use crate::ocf::Metadata;
use anyhow::Result;
use std::fmt::Write;

pub fn page() -> Result<String> {
    let mut m = String::new();
    let version = crate::cli::VERSION;
    let _ = writeln!(
        m,
        ".TH FERRO-OCF 8 \"\" \"ferro-ocf {}\" \"System Administration\"",
        roff_inline(version)
    );
    m.push_str(concat!(
        ".SH NAME\n",
        "ferro-ocf \\- Pacemaker OCF resource agents for a highly available NFS server\n",
        ".SH SYNOPSIS\n",
        ".B /usr/lib/ocf/resource.d/ferro/\\fIAgent\\fB \\fIaction\\fR\n",
        ".br\n",
        ".B ferro-ocf \\fIAgent\\fB \\fIaction\\fR\n",
        ".br\n",
        ".B ferro-ocf\n",
        "[\\fB\\-\\-list\\fR | \\fB\\-\\-version\\fR | \\fBinstall\\fR | \\fBuninstall\\fR | \\fBman\\fR]\n",
        ".SH DESCRIPTION\n",
        "One binary acting as the OCF resource agents\n",
    ));
    let names: Vec<String> = AGENTS
        .iter()
        .map(|a| format!("\\fBocf:ferro:{}\\fR", a.name()))
        .collect();
    let _ = writeln!(m, "{}.", names.join(", "));
    m.push_str(concat!(
        "Each is a drop-in for the agent of the same name in resource-agents\n",
        "(\\fBocf:heartbeat:\\fR) or drbd-utils (\\fBocf:linbit:drbd\\fR): same parameter\n",
        "names, defaults and exit codes. Pacemaker runs them through the links in\n",
        ".IR /usr/lib/ocf/resource.d/ferro/ ,\n",
        "the name of the link selecting the agent; parameters come as\n",
        ".BI OCF_RESKEY_ name\n",
        "environment variables. Configure them with\n",
        ".BR pcs (8),\n",
        "e.g.\n",
        ".PP\n",
        ".RS\n",
        "pcs resource create vip ocf:ferro:IPaddr2 ip=192.168.48.200 cidr_netmask=24\n",
        ".RE\n",
        ".PP\n",
        "and watch them with\n",
        ".BR crm_mon (8).\n",
        "Run by hand, \\fBferro-ocf\\fR \\fIAgent action\\fR reads the same variables.\n",
        "Each action logs to standard error and to the journal, tagged\n",
        "\\fIAgent\\fB(\\fIresource\\fB)\\fR with the field OCF_RESOURCE_INSTANCE.\n",
        ".SH EXIT STATUS\n",
        "The OCF codes: 0 success, 1 generic error, 2 invalid arguments, 3 unimplemented\n",
        "action, 4 insufficient privileges, 5 not installed, 6 not configured,\n",
        "7 not running, 8 running promoted, 9 failed promoted. A failure also prints an\n",
        ".B ocf-exit-reason:\n",
        "line, which Pacemaker shows in \\fBcrm_mon\\fR.\n",
    ));
    for agent in AGENTS {
        let md = Metadata::parse(agent.metadata_xml())?;
        agent_section(&mut m, &md);
    }
    m.push_str(concat!(
        ".SH FILES\n",
        ".TP\n",
        ".I /usr/lib/ocf/resource.d/ferro/\n",
        "the agents, links to \\fI/usr/sbin/ferro-ocf\\fR\n",
        ".TP\n",
        ".I /usr/share/doc/ferro-ocf/examples/\n",
        "the highly available NFS server (DRBD, XFS, NFS, a virtual IP) as a pcs script,\n",
        "in crmsh syntax and as CIB XML\n",
        ".SH SEE ALSO\n",
        ".BR pcs (8),\n",
        ".BR crm_mon (8),\n",
        ".BR drbdadm (8),\n",
        ".BR exportfs (8),\n",
        ".BR ip (8)\n",
    ));
    Ok(m)
}

fn agent_section(m: &mut String, md: &Metadata) {
    let _ = writeln!(m, ".SH \"AGENT ocf:ferro:{}\"", md.agent);
    let _ = writeln!(m, ".B {}", roff_inline(md.shortdesc.trim()));
    paragraphs(m, &md.longdesc);
    let _ = writeln!(m, ".SS \"Parameters of ocf:ferro:{}\"", md.agent);
    for p in &md.params {
        let _ = writeln!(m, ".TP\n.B {}", roff_inline(&p.name));
        let mut facts = Vec::new();
        if p.required {
            facts.push("required".to_owned());
        }
        match p.default.as_deref() {
            Some("") | None => {}
            Some(d) => facts.push(format!("default: {d}")),
        }
        let head = p.shortdesc.trim();
        let line = if facts.is_empty() {
            head.to_owned()
        } else {
            format!("{head} ({})", facts.join("; "))
        };
        let _ = writeln!(m, "{}", roff_line(&line));
        if p.longdesc.trim() != head {
            let _ = writeln!(m, ".br");
            // Bullets as plain lines: .IP would leave the parameter's indentation.
            for line in p.longdesc.trim().lines().map(str::trim) {
                match line.strip_prefix("- ") {
                    Some(item) => {
                        let _ = writeln!(m, ".br\n\\(bu {}", roff_inline(item));
                    }
                    None if line.is_empty() => {
                        let _ = writeln!(m, ".sp");
                    }
                    None => {
                        let _ = writeln!(m, "{}", roff_line(line));
                    }
                }
            }
        }
    }
    let _ = writeln!(m, ".SS \"Actions of ocf:ferro:{}\"", md.agent);
    let _ = writeln!(m, ".nf");
    for a in &md.actions {
        let mut line = a.name.clone();
        if let Some(r) = &a.role {
            let _ = write!(line, " (role {r})");
        }
        if let Some(t) = a.timeout {
            let _ = write!(line, ", timeout {}s", t.as_secs());
        }
        if let Some(i) = a.interval {
            let _ = write!(line, ", interval {}s", i.as_secs());
        }
        if let Some(d) = a.depth {
            let _ = write!(line, ", depth {d}");
        }
        let _ = writeln!(m, "{}", roff_line(&line));
    }
    let _ = writeln!(m, ".fi");
}

/// Blank lines separate paragraphs; lines that start with "- " are bullets.
fn paragraphs(m: &mut String, text: &str) {
    for para in text.trim().split("\n\n") {
        let _ = writeln!(m, ".PP");
        body(m, para);
    }
}

fn body(m: &mut String, text: &str) {
    for line in text.trim().lines().map(str::trim) {
        if line.is_empty() {
            let _ = writeln!(m, ".PP");
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = writeln!(m, ".IP \\(bu 2\n{}", roff_line(item));
        } else {
            let _ = writeln!(m, "{}", roff_line(line));
        }
    }
}

/// A text line: backslashes escaped, and a leading '.' or '\'' kept from reading as a request.
fn roff_line(s: &str) -> String {
    let s = roff_inline(s);
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

fn roff_inline(s: &str) -> String {
    s.replace('\\', "\\e")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_of_every_agent_is_in_the_page_with_its_default() {
        let page = page().unwrap();
        for agent in AGENTS {
            let md = Metadata::parse(agent.metadata_xml()).unwrap();
            assert!(page.contains(&format!(".SH \"AGENT ocf:ferro:{}\"", md.agent)));
            let section = page
                .split(&format!(".SH \"AGENT ocf:ferro:{}\"", md.agent))
                .nth(1)
                .unwrap()
                .split(".SH ")
                .next()
                .unwrap();
            for p in &md.params {
                assert!(
                    section.contains(&format!(".TP\n.B {}\n", p.name)),
                    "{}",
                    p.name
                );
                if let Some(d) = p.default.as_deref().filter(|d| !d.is_empty()) {
                    assert!(
                        section.contains(&format!("default: {}", roff_inline(d))),
                        "{}",
                        p.name
                    );
                }
            }
        }
    }

    #[test]
    fn text_cannot_become_a_request() {
        assert_eq!(roff_line(".TH x"), "\\&.TH x");
        assert_eq!(roff_line("'x"), "\\&'x");
        assert_eq!(roff_line("a\\b"), "a\\eb");
    }
}
