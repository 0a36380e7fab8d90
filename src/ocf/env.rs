//! The environment Pacemaker (or a person, ocf-tester, a systemd wrapper) runs an agent with.
//!
//! A snapshot of the OCF_* and HA_* variables, taken once, so that the agent logic can be run
//! against an explicit environment in tests. Every CRM_meta_* value is optional: an action must
//! also work when an agent is run by hand with none of them.

use super::exit::OcfCode;
use super::OcfContext;
use crate::sys::environ;
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct OcfEnv {
    vars: BTreeMap<String, String>,
}

const META: &str = "OCF_RESKEY_CRM_meta_";

impl OcfEnv {
    pub fn from_process() -> OcfEnv {
        OcfEnv::from_pairs(environ::process())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> OcfEnv {
        let vars = environ::select(pairs, |k| k.starts_with("OCF_") || k.starts_with("HA_"));
        OcfEnv { vars }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `OCF_RESKEY_<name>`: an instance parameter as the admin set it.
    pub fn reskey(&self, name: &str) -> Option<&str> {
        self.var(&format!("OCF_RESKEY_{name}"))
    }

    /// The names of all instance parameters that were set (CRM_meta_* excluded).
    pub fn reskey_names(&self) -> impl Iterator<Item = &str> {
        self.vars
            .keys()
            .filter_map(|k| k.strip_prefix("OCF_RESKEY_"))
            .filter(|k| !k.starts_with("CRM_meta_"))
    }

    /// `OCF_RESKEY_CRM_meta_<name>`: meta attributes and operation details from Pacemaker.
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.var(&format!("{META}{name}"))
    }

    pub fn meta_bool(&self, name: &str) -> bool {
        self.meta(name).is_some_and(is_true)
    }

    pub fn meta_u32(&self, name: &str) -> Option<u32> {
        self.meta(name).and_then(|v| v.trim().parse().ok())
    }

    pub fn instance(&self) -> &str {
        self.var("OCF_RESOURCE_INSTANCE").unwrap_or("default")
    }

    pub fn ocf_root(&self) -> &str {
        self.var("OCF_ROOT").unwrap_or("/usr/lib/ocf")
    }

    /// Where agents keep state that must not survive a reboot (ocf-shellfuncs' HA_RSCTMP).
    pub fn rsc_tmp(&self) -> &str {
        self.var("HA_RSCTMP").unwrap_or("/run/resource-agents")
    }

    /// The operation timeout Pacemaker will enforce, if it told us.
    pub fn timeout(&self) -> Option<Duration> {
        ms(self.meta("timeout"))
    }

    pub fn interval(&self) -> Option<Duration> {
        ms(self.meta("interval"))
    }

    /// A monitor with no interval is a probe: Pacemaker asks whether the resource runs here.
    pub fn is_probe(&self) -> bool {
        self.interval().map_or(true, |d| d.is_zero())
    }

    /// OCF_CHECK_LEVEL (monitor depth). Unset means 0.
    pub fn check_level(&self) -> Result<u32> {
        match self.var("OCF_CHECK_LEVEL").map(str::trim) {
            None | Some("") => Ok(0),
            Some(v) => v.parse().ocf(
                OcfCode::ErrConfigured,
                format!("OCF_CHECK_LEVEL {v:?} is not a number"),
            ),
        }
    }

    pub fn debug(&self) -> bool {
        self.var("HA_debug")
            .is_some_and(|v| v != "0" && !v.is_empty())
            || self.var("OCF_TRACE_RA").is_some_and(is_true)
    }

    /// The node this runs on as Pacemaker names it (falls back to the kernel's node name).
    pub fn node_name(&self) -> String {
        self.meta("on_node").map(str::to_owned).unwrap_or_else(|| {
            nix::sys::utsname::uname()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    pub fn is_clone(&self) -> bool {
        self.meta("clone_max").is_some()
    }

    pub fn clone_max(&self) -> Option<u32> {
        self.meta_u32("clone_max")
    }

    pub fn clone_node_max(&self) -> Option<u32> {
        self.meta_u32("clone_node_max")
    }

    /// Pacemaker 2.1 sends both the new and the deprecated name; older ones only master_max.
    pub fn promoted_max(&self) -> Option<u32> {
        self.meta_u32("promoted_max")
            .or_else(|| self.meta_u32("master_max"))
    }

    pub fn promoted_node_max(&self) -> Option<u32> {
        self.meta_u32("promoted_node_max")
            .or_else(|| self.meta_u32("master_node_max"))
    }

    /// notify: "pre"/"post" and the operation ("start", "promote", …).
    pub fn notify_type(&self) -> Option<&str> {
        self.meta("notify_type")
    }

    pub fn notify_operation(&self) -> Option<&str> {
        self.meta("notify_operation")
    }

    /// A space-separated notification list such as `notify_promote_uname`.
    pub fn notify_list(&self, name: &str) -> Vec<&str> {
        self.meta(&format!("notify_{name}"))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }
}

fn ms(v: Option<&str>) -> Option<Duration> {
    v.and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// ocf-shellfuncs' ocf_is_true.
pub fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "1" | "on" | "ja"
    )
}

/// The values ocf_is_true treats as false, spelled out; anything else is a configuration error.
pub fn is_false(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "no" | "false" | "0" | "off" | "nein" | ""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn works_with_no_crm_meta_at_all() {
        let e = env(&[("OCF_ROOT", "/usr/lib/ocf"), ("OCF_RESKEY_ip", "10.0.0.1")]);
        assert_eq!(e.timeout(), None);
        assert!(e.is_probe());
        assert_eq!(e.check_level().unwrap(), 0);
        assert_eq!(e.instance(), "default");
        assert!(!e.is_clone());
        assert_eq!(e.reskey("ip"), Some("10.0.0.1"));
    }

    #[test]
    fn reads_meta_and_ignores_unrelated_vars() {
        let e = env(&[
            ("PATH", "/bin"),
            ("OCF_RESOURCE_INSTANCE", "vip"),
            ("OCF_RESKEY_CRM_meta_timeout", "20000"),
            ("OCF_RESKEY_CRM_meta_interval", "10000"),
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
            ("OCF_RESKEY_CRM_meta_master_max", "1"),
            ("OCF_RESKEY_CRM_meta_notify", "true"),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", "node1 node2 "),
            ("OCF_RESKEY_nic", "eth0"),
            ("OCF_CHECK_LEVEL", "20"),
        ]);
        assert_eq!(e.var("PATH"), None);
        assert_eq!(e.instance(), "vip");
        assert_eq!(e.timeout(), Some(Duration::from_secs(20)));
        assert!(!e.is_probe());
        assert_eq!(e.clone_max(), Some(2));
        assert_eq!(e.promoted_max(), Some(1));
        assert!(e.meta_bool("notify"));
        assert_eq!(e.notify_list("promote_uname"), ["node1", "node2"]);
        assert_eq!(e.check_level().unwrap(), 20);
        assert_eq!(e.reskey_names().collect::<Vec<_>>(), ["nic"]);
    }

    #[test]
    fn bad_check_level_is_a_configuration_error() {
        let e = env(&[("OCF_CHECK_LEVEL", "deep")]);
        let err = e.check_level().unwrap_err();
        assert_eq!(crate::ocf::code_of(&err), OcfCode::ErrConfigured);
    }

    #[test]
    fn truthiness_matches_ocf_shellfuncs() {
        for t in ["yes", "TRUE", "1", "on", "Ja"] {
            assert!(is_true(t), "{t}");
        }
        for f in ["no", "False", "0", "off", ""] {
            assert!(is_false(f) && !is_true(f), "{f}");
        }
        assert!(!is_true("maybe") && !is_false("maybe"));
    }
}
