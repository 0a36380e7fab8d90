//! Instance parameters: `OCF_RESKEY_*` resolved against the metadata's names and defaults.
//!
//! Typed getters turn bad values into OCF_ERR_CONFIGURED with a reason that names the parameter,
//! so an agent's configuration parsing reads as a list of `params.bool("nodad")?` lines.
//!
//! The one rule for reading them, shared by every agent ([`Action::reads_strictly`]):
//! validate-all and start refuse a bad value. Every other action (stop, probes and recurring
//! monitors, demote, notify, …) is lenient: it judges only the agent's identity parameters (what
//! names the resource on the node: the address, the mount point, the export), and a bad value of
//! any other parameter falls back to its default with a warning, through the typed getters and
//! [`Params::parse`]. A failed stop gets the node fenced, and an OCF_ERR_CONFIGURED from a probe
//! bans the resource from every node: neither may come from a parameter they do not need.

use super::env::{is_false, is_true, OcfEnv};
use super::metadata::{Metadata, ParamType};
use super::Action;
use crate::ocf_bail;
use anyhow::Result;
use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Clone, Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    explicit: Vec<String>,
    /// Defaults, for [`Params::parse`] to fall back to.
    defaults: BTreeMap<String, String>,
    /// Resolved leniently: typed getters and [`Params::parse`] warn and fall back instead of
    /// failing, except on the identity parameters.
    lenient: bool,
    /// The parameters that name the resource on the node ([`crate::ocf::Agent::identity`]).
    identity: &'static [&'static str],
}

impl Params {
    /// Resolve every parameter the metadata declares; a required one that is missing is a
    /// configuration error. Parameters the metadata does not know are ignored (Pacemaker passes
    /// what the admin wrote; the reference agents ignore unknown ones too).
    pub fn resolve(md: &Metadata, env: &OcfEnv) -> Result<Params> {
        Params::resolve_with(md, env, true, &[])
    }

    /// For `action` as the rule says ([`Action::reads_strictly`]), `identity` being the
    /// agent's identity parameters.
    pub fn resolve_for(
        md: &Metadata,
        env: &OcfEnv,
        action: Action,
        identity: &'static [&'static str],
    ) -> Result<Params> {
        Params::resolve_with(md, env, action.reads_strictly(), identity)
    }

    /// As [`Params::resolve`]; with `strict` false nothing is refused: a missing required
    /// parameter is left empty for the agent to judge, and a value of the wrong type falls
    /// back to the default, with a warning, as ocf_is_true treats a typo as false. A resource
    /// that was never configured well enough to start is not running, and a failed stop gets
    /// the node fenced.
    pub fn resolve_with(
        md: &Metadata,
        env: &OcfEnv,
        strict: bool,
        identity: &'static [&'static str],
    ) -> Result<Params> {
        let mut p = Params {
            lenient: !strict,
            identity,
            ..Params::default()
        };
        for spec in &md.params {
            let given = env.reskey(&spec.name);
            if given.is_some() {
                p.explicit.push(spec.name.clone());
            }
            let default = spec.default.as_deref().unwrap_or("");
            p.defaults.insert(spec.name.clone(), default.to_owned());
            let mut value = given.unwrap_or(default);
            if spec.required && value.trim().is_empty() {
                if strict {
                    ocf_bail!(ErrConfigured, "required parameter {} is not set", spec.name);
                }
                tracing::warn!("required parameter {} is not set", spec.name);
            }
            let wrong_type = !value.is_empty()
                && match spec.kind {
                    ParamType::Boolean => !is_true(value) && !is_false(value),
                    ParamType::Integer => value.trim().parse::<i64>().is_err(),
                    ParamType::String => false,
                };
            if wrong_type {
                let expected = if spec.kind == ParamType::Boolean {
                    "a boolean (use true or false)"
                } else {
                    "an integer"
                };
                if strict {
                    ocf_bail!(
                        ErrConfigured,
                        "parameter {}: {value:?} is not {expected}",
                        spec.name
                    );
                }
                tracing::warn!(
                    "parameter {}: {value:?} is not {expected}; using {default:?}",
                    spec.name
                );
                value = default;
            }
            p.values.insert(spec.name.clone(), value.to_owned());
        }
        Ok(p)
    }

    /// For tests and for agents that build parameters themselves.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
        let values: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let explicit = values.keys().cloned().collect();
        Params {
            values,
            explicit,
            ..Params::default()
        }
    }

    /// Whether bad values fall back to defaults (every action but validate-all and start).
    pub fn lenient(&self) -> bool {
        self.lenient
    }

    /// Whether `name` names the resource on the node: judged in every action.
    pub fn is_identity(&self, name: &str) -> bool {
        self.identity.contains(&name)
    }

    /// Read parameter `name` with the agent's own parser `f` (given the value, the default when
    /// unset). This is where the rule is applied: in a lenient action, a value of a parameter
    /// other than an identity one that `f` refuses is replaced by the default, with a warning;
    /// everywhere else `f`'s error stands. `f` must accept the default (an empty one too, which
    /// only a required parameter has, and which strict resolution never lets through).
    pub fn parse<T>(&self, name: &str, f: impl Fn(&str) -> Result<T>) -> Result<T> {
        let default = self.defaults.get(name).map_or("", String::as_str);
        self.or_default(name, f(self.str(name)), || f(default))
    }

    /// As [`Params::parse`], for a reading of `name` the agent made itself (from several
    /// parameters, or a meta attribute): in a lenient action, an error of a parameter other
    /// than an identity one becomes `default()`, with a warning.
    pub fn or_default<T>(
        &self,
        name: &str,
        read: Result<T>,
        default: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match read {
            Err(e) if self.lenient && !self.is_identity(name) => {
                tracing::warn!("{e:#}; using the default");
                default()
            }
            r => r,
        }
    }

    /// The value (the default when unset; "" when neither). Asking for a name the metadata does
    /// not declare is a bug in the agent, caught by its tests.
    pub fn str(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some(v) => v,
            None => {
                panic!("agent asked for parameter {name:?}, which its metadata does not declare")
            }
        }
    }

    /// The value, or None when empty.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.str(name).trim()).filter(|v| !v.is_empty())
    }

    /// Whether the admin set this parameter (as opposed to it taking its default).
    pub fn is_set(&self, name: &str) -> bool {
        self.explicit.iter().any(|n| n == name)
    }

    pub fn bool(&self, name: &str) -> Result<bool> {
        let v = self.str(name);
        if is_true(v) {
            Ok(true)
        } else if is_false(v) {
            Ok(false)
        } else if self.lenient {
            tracing::warn!("parameter {name}: {v:?} is not a boolean; taken as false");
            Ok(false)
        } else {
            ocf_bail!(
                ErrConfigured,
                "parameter {name}: {v:?} is not a boolean (use true or false)"
            )
        }
    }

    /// A number; empty means None.
    pub fn num<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) if self.lenient => {
                    tracing::warn!("parameter {name}: {v:?} is not a valid number; ignored");
                    Ok(None)
                }
                Err(_) => ocf_bail!(
                    ErrConfigured,
                    "parameter {name}: {v:?} is not a valid number"
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::{code_of, OcfCode};

    fn md() -> Metadata {
        Metadata::parse(
            r#"<resource-agent name="T"><parameters>
            <parameter name="ip" required="1"><content type="string"/></parameter>
            <parameter name="nodad"><content type="boolean" default="false"/></parameter>
            <parameter name="arp_count"><content type="integer" default="5"/></parameter>
            <parameter name="nic"><content type="string" default=""/></parameter>
            </parameters></resource-agent>"#,
        )
        .unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        )
    }

    #[test]
    fn defaults_fill_in_and_explicit_is_tracked() {
        let p = Params::resolve(&md(), &env(&[("ip", "10.1.1.1")])).unwrap();
        assert_eq!(p.str("ip"), "10.1.1.1");
        assert!(!p.bool("nodad").unwrap());
        assert_eq!(p.num::<u32>("arp_count").unwrap(), Some(5));
        assert_eq!(p.opt("nic"), None);
        assert!(p.is_set("ip") && !p.is_set("nic"));
    }

    #[test]
    fn missing_required_names_the_parameter() {
        let e = Params::resolve(&md(), &env(&[])).unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured);
        assert!(e.to_string().contains("ip"), "{e}");
    }

    #[test]
    fn lenient_resolution_refuses_nothing() {
        let p = Params::resolve_with(
            &md(),
            &env(&[("nodad", "ture"), ("arp_count", "five")]),
            false,
            &["ip"],
        )
        .unwrap();
        assert_eq!(p.opt("ip"), None);
        assert!(!p.bool("nodad").unwrap());
        assert_eq!(p.num::<u32>("arp_count").unwrap(), Some(5));
        // Typed getters on values the metadata types as strings are lenient too.
        let p = Params {
            values: [("nic".to_owned(), "yess".to_owned())].into(),
            lenient: true,
            ..Params::default()
        };
        assert!(!p.bool("nic").unwrap());
        assert_eq!(p.num::<u32>("nic").unwrap(), None);
    }

    #[test]
    fn parse_falls_back_to_the_default_only_where_the_rule_says() {
        let nic = |v: &str| -> Result<String> {
            if v.contains(' ') {
                ocf_bail!(ErrConfigured, "parameter nic: {v:?} has a space");
            }
            Ok(v.to_owned())
        };
        let ip = |v: &str| -> Result<String> {
            if !v.contains('.') {
                ocf_bail!(ErrConfigured, "parameter ip: {v:?} is not an address");
            }
            Ok(v.to_owned())
        };
        let e = env(&[("ip", "ten"), ("nic", "eth 0")]);
        for (action, lenient) in [
            (Action::ValidateAll, false),
            (Action::Start, false),
            (Action::Stop, true),
            (Action::Monitor, true),
            (Action::Demote, true),
            (Action::Notify, true),
        ] {
            let p = Params::resolve_for(&md(), &e, action, &["ip"]).unwrap_or_default();
            assert_eq!(p.lenient(), lenient, "{action}");
            if lenient {
                assert_eq!(p.parse("nic", nic).unwrap(), "", "{action}");
                // The identity parameter is judged in every action.
                assert_eq!(
                    code_of(&p.parse("ip", ip).unwrap_err()),
                    OcfCode::ErrConfigured
                );
            }
        }
        let p = Params::resolve_with(&md(), &e, true, &["ip"]).unwrap();
        assert_eq!(
            code_of(&p.parse("nic", nic).unwrap_err()),
            OcfCode::ErrConfigured
        );
    }

    #[test]
    fn bad_types_are_configuration_errors_naming_the_parameter() {
        for (k, v) in [("nodad", "perhaps"), ("arp_count", "five")] {
            let e = Params::resolve(&md(), &env(&[("ip", "1.2.3.4"), (k, v)])).unwrap_err();
            assert_eq!(code_of(&e), OcfCode::ErrConfigured);
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    #[should_panic(expected = "does not declare")]
    fn undeclared_parameter_is_a_bug() {
        Params::resolve(&md(), &env(&[("ip", "1.2.3.4")]))
            .unwrap()
            .str("nope");
    }
}
