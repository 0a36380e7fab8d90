//! The agent's metadata, parsed from the embedded `ocf-metadata/<Agent>.xml`.
//!
//! The XML is the single source: `meta-data` prints it verbatim, and parameter names, defaults,
//! `required` and types used by [`super::Params`] come from parsing it here, so the two cannot
//! disagree.

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Boolean,
    Integer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub required: bool,
    pub kind: ParamType,
    pub default: Option<String>,
    /// The one-line and the long description, for people (`ferro-ocf man`).
    pub shortdesc: String,
    pub longdesc: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: String,
    pub timeout: Option<Duration>,
    pub interval: Option<Duration>,
    pub role: Option<String>,
    pub depth: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub agent: String,
    pub shortdesc: String,
    pub longdesc: String,
    pub params: Vec<ParamSpec>,
    pub actions: Vec<ActionSpec>,
}

impl Metadata {
    pub fn parse(xml: &str) -> Result<Metadata> {
        let mut reader = Reader::from_str(xml);
        let mut md = Metadata::default();
        // The <content> element of a parameter comes after its longdesc/shortdesc.
        let mut current: Option<ParamSpec> = None;
        // Inside <shortdesc> (false) or <longdesc> (true): their text goes to the parameter
        // being read, or to the agent before the first parameter.
        let mut desc: Option<bool> = None;
        loop {
            match reader
                .read_event()
                .context("metadata XML is not well-formed")?
            {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"resource-agent" => {
                    md.agent = attr(&e, "name")?.unwrap_or_default();
                }
                Event::Start(e) if e.name().as_ref() == b"parameter" => {
                    current = Some(param_start(&e)?);
                }
                Event::Empty(e) if e.name().as_ref() == b"parameter" => {
                    md.params.push(param_start(&e)?);
                }
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"content" => {
                    if let Some(p) = current.as_mut() {
                        p.kind = match attr(&e, "type")?.as_deref() {
                            Some("boolean") => ParamType::Boolean,
                            Some("integer") => ParamType::Integer,
                            _ => ParamType::String,
                        };
                        p.default = attr(&e, "default")?;
                    }
                }
                Event::End(e) if e.name().as_ref() == b"parameter" => {
                    md.params.extend(current.take());
                }
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"action" => {
                    md.actions.push(ActionSpec {
                        name: attr(&e, "name")?.unwrap_or_default(),
                        timeout: attr(&e, "timeout")?.as_deref().and_then(parse_duration),
                        interval: attr(&e, "interval")?.as_deref().and_then(parse_duration),
                        role: attr(&e, "role")?,
                        depth: attr(&e, "depth")?.and_then(|d| d.parse().ok()),
                    });
                }
                Event::Start(e) if matches!(e.name().as_ref(), b"shortdesc" | b"longdesc") => {
                    desc = Some(e.name().as_ref() == b"longdesc");
                }
                Event::End(e) if matches!(e.name().as_ref(), b"shortdesc" | b"longdesc") => {
                    desc = None;
                }
                Event::Text(t) if desc.is_some() => {
                    let text = t.unescape().context("bad XML text")?;
                    let long = desc == Some(true);
                    // The agent's own descriptions come before the first parameter.
                    let agent_level = md.params.is_empty();
                    let target = match current.as_mut() {
                        Some(p) if long => Some(&mut p.longdesc),
                        Some(p) => Some(&mut p.shortdesc),
                        None if !agent_level => None,
                        None if long => Some(&mut md.longdesc),
                        None => Some(&mut md.shortdesc),
                    };
                    if let Some(t) = target {
                        t.push_str(&text);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if md.agent.is_empty() {
            bail!("metadata has no <resource-agent name=...>");
        }
        Ok(md)
    }

    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The timeout the metadata advertises for an action: the budget when Pacemaker did not
    /// send one (the agent run by hand, by ocf-tester, or by a systemd wrapper).
    pub fn action_timeout(&self, action: &str) -> Option<Duration> {
        let name = if action == "status" {
            "monitor"
        } else {
            action
        };
        self.actions
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.timeout)
    }
}

fn param_start(e: &BytesStart) -> Result<ParamSpec> {
    let name = attr(e, "name")?.context("<parameter> without name")?;
    Ok(ParamSpec {
        required: matches!(attr(e, "required")?.as_deref(), Some("1" | "true")),
        name,
        kind: ParamType::String,
        default: None,
        shortdesc: String::new(),
        longdesc: String::new(),
    })
}

fn attr(e: &BytesStart, key: &str) -> Result<Option<String>> {
    match e.try_get_attribute(key).context("bad XML attribute")? {
        Some(a) => Ok(Some(
            a.unescape_value()
                .context("bad XML attribute value")?
                .into_owned(),
        )),
        None => Ok(None),
    }
}

/// Pacemaker's interval/timeout syntax as used in metadata: "20s", "20", "1m", "100ms", "1h".
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "" | "s" | "sec" => n * 1000,
        "ms" | "msec" => n,
        "m" | "min" => n * 60_000,
        "h" | "hr" => n * 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Demo" version="1.0">
<version>1.1</version>
<longdesc lang="en">Demo &amp; test</longdesc>
<shortdesc lang="en">Demo</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<longdesc lang="en">The address</longdesc>
<shortdesc lang="en">IP</shortdesc>
<content type="string" default=""/>
</parameter>
<parameter name="flag">
<longdesc lang="en">A &lt;flag&gt;</longdesc>
<shortdesc lang="en">flag</shortdesc>
<content type="boolean" default="false"/>
</parameter>
<parameter name="count">
<longdesc lang="en">n</longdesc>
<shortdesc lang="en">n</shortdesc>
<content type="integer" default="5"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" timeout="20s" interval="10s" depth="0"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
"#;

    #[test]
    fn parses_params_with_types_defaults_and_required() {
        let md = Metadata::parse(XML).unwrap();
        assert_eq!(md.agent, "Demo");
        assert_eq!(md.params.len(), 3);
        let ip = md.param("ip").unwrap();
        assert!(ip.required);
        assert_eq!(ip.kind, ParamType::String);
        assert_eq!(ip.default.as_deref(), Some(""));
        assert_eq!(md.param("flag").unwrap().kind, ParamType::Boolean);
        assert_eq!(md.param("count").unwrap().default.as_deref(), Some("5"));
        assert!(!md.param("count").unwrap().required);
    }

    #[test]
    fn parses_descriptions_of_the_agent_and_each_parameter() {
        let md = Metadata::parse(XML).unwrap();
        assert_eq!(md.shortdesc, "Demo");
        assert_eq!(md.longdesc, "Demo & test");
        let flag = md.param("flag").unwrap();
        assert_eq!(
            (flag.shortdesc.as_str(), flag.longdesc.as_str()),
            ("flag", "A <flag>")
        );
    }

    #[test]
    fn parses_action_timeouts() {
        let md = Metadata::parse(XML).unwrap();
        assert_eq!(md.action_timeout("start"), Some(Duration::from_secs(20)));
        assert_eq!(md.action_timeout("status"), Some(Duration::from_secs(20)));
        assert_eq!(md.actions[1].interval, Some(Duration::from_secs(10)));
        assert_eq!(md.action_timeout("promote"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("240"), Some(Duration::from_secs(240)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
    }
}
