//! The handler's command line and environment, as crm-fence-peer.9.sh reads them: the same
//! options (with the same defaults), OCF_RESKEY_unfence_extra_args appended, and the
//! variables drbdadm passes (DRBD_RESOURCE, DRBD_MINOR, DRBD_PEER, DRBD_MY_NODE_ID,
//! DRBD_NODE_ID_<n>, UP_TO_DATE_NODES, ...).

use crate::sys::environ;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub resource: Option<String>,
    pub master_id: Option<String>,
    pub role: String,
    pub fencing_attribute: String,
    /// With the resource name appended (see [`Options::finish`]).
    pub id_prefix: String,
    /// How long the peer's fate is waited for in the CIB (--timeout, 90 s).
    pub timeout: Duration,
    /// How long a DC is waited for (--dc-timeout, 20 s).
    pub dc_timeout: Duration,
    pub net_hickup: Duration,
    pub quiet: bool,
    pub unfence_only_if_owner_match: bool,
    pub flock_required: bool,
    pub flock_timeout: Duration,
    /// None: --lock-file=NONE, no lock.
    pub lock_file: Option<String>,
    pub cts_mode: bool,
    pub unreachable_peer_is_outdated: bool,
    pub suicide_on_failure_if_primary: bool,
}

impl Options {
    /// Parse `args` (then the words of OCF_RESKEY_unfence_extra_args) like the reference:
    /// unknown options and stray arguments are reported in the returned notes and ignored.
    /// --unreachable-peer-is-outdated counts only when stdin is a terminal (`interactive`):
    /// it is for an operator at the console, never for drbd.conf.
    pub fn parse(args: &[String], env: &DrbdEnv, interactive: bool) -> (Options, Vec<String>) {
        let mut notes = Vec::new();
        let mut o = RawOptions::default();
        let extra: Vec<String> = env
            .get("OCF_RESKEY_unfence_extra_args")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let all: Vec<&String> = args.iter().chain(extra.iter()).collect();
        let mut i = 0;
        while i < all.len() {
            let a = all[i].as_str();
            let (key, inline) = match a.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k, Some(v.to_owned())),
                _ => (a, None),
            };
            // An option's value: after '=', else the next argument.
            let mut value = || -> Option<String> {
                inline.clone().or_else(|| {
                    i += 1;
                    all.get(i).map(|s| (*s).clone())
                })
            };
            match key {
                "--logfacility" => drop(value()),
                "-r" | "--resource" => o.resource = value(),
                "-i" | "--master-id" => o.master_id = value(),
                "-l" | "--role" => o.role = value(),
                "-a" | "--fencing-attribute" => o.fencing_attribute = value(),
                "-p" | "--id-prefix" => o.id_prefix = value(),
                "-t" | "--timeout" => o.timeout = value(),
                "-d" | "--dc-timeout" => o.dc_timeout = value(),
                "--net-hickup" | "--network-hickup" => o.net_hickup = value(),
                "--flock-timeout" => o.flock_timeout = value(),
                "--lock-dir" => o.lock_dir = value(),
                "--lock-file" => o.lock_file = value(),
                "--quiet" => o.quiet = true,
                "--unfence-only-if-owner-match" => o.owner_match = true,
                "--flock-required" => o.flock_required = true,
                "--CTS-mode" => o.cts = true,
                "--unreachable-peer-is-outdated" => o.unreachable_outdated = interactive,
                "--suicide-on-failure-if-primary" => o.suicide = true,
                _ if a.starts_with('-') => notes.push(format!("ignoring unknown option {a}")),
                _ => notes.push(format!("ignoring unexpected argument {a}")),
            }
            i += 1;
        }
        let resource = o
            .resource
            .or_else(|| env.get("DRBD_RESOURCE").map(str::to_owned))
            .filter(|r| !r.is_empty());
        let mut secs = |v: Option<String>, default: u64, name: &str| -> Duration {
            match v {
                None => Duration::from_secs(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) => Duration::from_secs(n),
                    Err(_) => {
                        notes.push(format!(
                            "--{name}={v} is not a number of seconds; using {default}"
                        ));
                        Duration::from_secs(default)
                    }
                },
            }
        };
        let timeout = secs(o.timeout, 90, "timeout");
        let dc_timeout = secs(o.dc_timeout, 20, "dc-timeout");
        let net_hickup = secs(o.net_hickup, 0, "net-hickup");
        let flock_timeout = secs(o.flock_timeout, 120, "flock-timeout");
        let mut lock_dir = o.lock_dir.unwrap_or_else(|| DEFAULT_LOCK_DIR.to_owned());
        if !lock_dir.starts_with('/') {
            notes.push(format!(
                "lock_dir needs to be an absolute path, not [{lock_dir}]; using default."
            ));
            lock_dir = DEFAULT_LOCK_DIR.to_owned();
        }
        let res_ = resource.as_deref().unwrap_or("").replace('/', "_");
        let lock_file = match o.lock_file.as_deref() {
            None | Some("") => Some(format!("{lock_dir}/fence.{res_}")),
            Some("NONE") => None,
            Some(f) if f.starts_with('/') => Some(f.to_owned()),
            Some(f) => Some(format!("{lock_dir}/{f}")),
        };
        let mut id_prefix = o
            .id_prefix
            .unwrap_or_else(|| "drbd-fence-by-handler".to_owned());
        // Each DRBD resource of a group gets its own constraint (they unfence independently);
        // a prefix that already ends in the resource name is kept.
        if let Some(r) = &resource {
            if !id_prefix.ends_with(&format!("-{r}")) {
                id_prefix = format!("{id_prefix}-{r}");
            }
        }
        let opts = Options {
            resource,
            master_id: o.master_id.filter(|m| !m.is_empty()),
            role: o.role.unwrap_or_else(|| "Master".to_owned()),
            fencing_attribute: o.fencing_attribute.unwrap_or_else(|| "#uname".to_owned()),
            id_prefix,
            timeout,
            dc_timeout,
            net_hickup,
            quiet: o.quiet,
            unfence_only_if_owner_match: o.owner_match,
            flock_required: o.flock_required,
            flock_timeout,
            lock_file,
            cts_mode: o.cts,
            unreachable_peer_is_outdated: o.unreachable_outdated,
            suicide_on_failure_if_primary: o.suicide,
        };
        (opts, notes)
    }
}

const DEFAULT_LOCK_DIR: &str = "/var/lock/drbd";

#[derive(Default)]
struct RawOptions {
    resource: Option<String>,
    master_id: Option<String>,
    role: Option<String>,
    fencing_attribute: Option<String>,
    id_prefix: Option<String>,
    timeout: Option<String>,
    dc_timeout: Option<String>,
    net_hickup: Option<String>,
    flock_timeout: Option<String>,
    lock_dir: Option<String>,
    lock_file: Option<String>,
    quiet: bool,
    owner_match: bool,
    flock_required: bool,
    cts: bool,
    unreachable_outdated: bool,
    suicide: bool,
}

/// The variables drbdadm passes to a handler, and the few others the reference reads.
#[derive(Clone, Debug, Default)]
pub struct DrbdEnv {
    vars: BTreeMap<String, String>,
}

impl DrbdEnv {
    pub fn from_process() -> DrbdEnv {
        DrbdEnv::from_pairs(environ::process())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> DrbdEnv {
        let vars = environ::select(pairs, |k| {
            k.starts_with("DRBD_")
                || k == "UP_TO_DATE_NODES"
                || k == "OCF_RESKEY_unfence_extra_args"
        });
        DrbdEnv { vars }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.vars.get(k).map(String::as_str)
    }

    /// `K=V ...` of DRBD_* and UP_TO_DATE_NODES, for the log line the reference starts with.
    pub fn describe(&self) -> String {
        self.vars
            .iter()
            .filter(|(k, _)| *k != "OCF_RESKEY_unfence_extra_args")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Who may be Promoted once the constraint is in place, and who is fenced off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeLists {
    /// (DRBD node id, node name): UpToDate nodes, which the constraint lets promote.
    pub include: Vec<(u32, String)>,
    /// The peers to fence.
    pub exclude: Vec<(u32, String)>,
    /// DRBD 9 passes UP_TO_DATE_NODES; DRBD 8.4 does not (then this node against DRBD_PEER).
    pub drbd9: bool,
}

impl NodeLists {
    /// From the environment, as setup_node_lists_{8,9} in the reference.
    pub fn from_env(env: &DrbdEnv, hostname: &str) -> Result<NodeLists, String> {
        let Some(mask) = env.get("UP_TO_DATE_NODES").filter(|m| !m.is_empty()) else {
            // DRBD 8.4: this node, and its one peer (DRBD_PEER; drbdadm 8.4 passes the peer's
            // name in DRBD_PEERS, which the reference does not read).
            let peer = env
                .get("DRBD_PEER")
                .filter(|p| !p.is_empty())
                .or_else(|| {
                    env.get("DRBD_PEERS")
                        .filter(|p| p.split_whitespace().count() == 1)
                })
                .map(|p| p.trim().to_owned());
            return Ok(NodeLists {
                include: vec![(0, hostname.to_owned())],
                exclude: peer.into_iter().map(|p| (0, p)).collect(),
                drbd9: false,
            });
        };
        let mask = mask
            .strip_prefix("0x")
            .filter(|h| !h.is_empty())
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| {
                format!("Unexpected input UP_TO_DATE_NODES={mask}, expected 0x... hex mask")
            })?;
        let me = env.get("DRBD_MY_NODE_ID").unwrap_or("");
        let my_id = me
            .parse::<u32>()
            .ok()
            .filter(|_| me.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n < 100 && (me.len() == 1 || !me.starts_with('0')))
            .ok_or_else(|| {
                format!("Unexpected input, DRBD_MY_NODE_ID={me} should be a decimal number")
            })?;
        let up = |i: u32| i < 64 && mask & (1 << i) != 0;
        if !up(my_id) {
            return Err(format!(
                "I ({my_id}) am not a member of the UP_TO_DATE_NODES={} set myself.",
                env.get("UP_TO_DATE_NODES").unwrap_or("")
            ));
        }
        let mut lists = NodeLists {
            drbd9: true,
            ..NodeLists::default()
        };
        for i in 0..32 {
            let Some(name) = env
                .get(&format!("DRBD_NODE_ID_{i}"))
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let entry = (i, name.to_owned());
            if up(i) {
                lists.include.push(entry);
            } else {
                lists.exclude.push(entry);
            }
        }
        Ok(lists)
    }

    /// The name DRBD gives this node, when it is not the host name (a warning in the reference).
    pub fn my_drbd_name<'a>(&self, env: &'a DrbdEnv) -> Option<&'a str> {
        let id = env.get("DRBD_MY_NODE_ID")?;
        env.get(&format!("DRBD_NODE_ID_{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> DrbdEnv {
        DrbdEnv::from_pairs(pairs.iter().copied())
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_are_the_references() {
        let (o, notes) = Options::parse(&[], &env(&[("DRBD_RESOURCE", "r0")]), false);
        assert!(notes.is_empty());
        assert_eq!(o.resource.as_deref(), Some("r0"));
        assert_eq!(o.id_prefix, "drbd-fence-by-handler-r0");
        assert_eq!(o.role, "Master");
        assert_eq!(o.fencing_attribute, "#uname");
        assert_eq!(o.timeout, Duration::from_secs(90));
        assert_eq!(o.dc_timeout, Duration::from_secs(20));
        assert_eq!(o.flock_timeout, Duration::from_secs(120));
        assert_eq!(o.net_hickup, Duration::ZERO);
        assert_eq!(o.lock_file.as_deref(), Some("/var/lock/drbd/fence.r0"));
    }

    #[test]
    fn options_in_both_spellings_and_the_extra_args() {
        let e = env(&[
            ("DRBD_RESOURCE", "r0"),
            ("OCF_RESKEY_unfence_extra_args", "--quiet --role=Promoted"),
        ]);
        let (o, notes) = Options::parse(
            &args(&[
                "-t",
                "5",
                "--dc-timeout=7",
                "--id-prefix",
                "x-r0",
                "--lock-file=NONE",
                "--bogus",
                "stray",
                "--unreachable-peer-is-outdated",
                "-i",
                "ms",
            ]),
            &e,
            false,
        );
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.dc_timeout, Duration::from_secs(7));
        // Already ends in the resource name: kept.
        assert_eq!(o.id_prefix, "x-r0");
        assert_eq!(o.lock_file, None);
        assert_eq!(o.master_id.as_deref(), Some("ms"));
        assert!(o.quiet);
        assert_eq!(o.role, "Promoted");
        // Not at a terminal: ignored, as in the reference.
        assert!(!o.unreachable_peer_is_outdated);
        assert_eq!(
            notes,
            [
                "ignoring unknown option --bogus",
                "ignoring unexpected argument stray"
            ]
        );
        let (o, _) = Options::parse(&args(&["--unreachable-peer-is-outdated"]), &e, true);
        assert!(o.unreachable_peer_is_outdated);
        let (o, _) = Options::parse(&args(&["--lock-file", "mine", "-r", "a/b"]), &e, false);
        assert_eq!(o.lock_file.as_deref(), Some("/var/lock/drbd/mine"));
        assert_eq!(o.id_prefix, "drbd-fence-by-handler-a/b");
        let (o, _) = Options::parse(
            &args(&["--lock-dir=rel"]),
            &env(&[("DRBD_RESOURCE", "a/b")]),
            false,
        );
        assert_eq!(o.lock_file.as_deref(), Some("/var/lock/drbd/fence.a_b"));
    }

    #[test]
    fn drbd9_node_lists_from_the_mask() {
        let e = env(&[
            ("UP_TO_DATE_NODES", "0x00000005"),
            ("DRBD_MY_NODE_ID", "0"),
            ("DRBD_NODE_ID_0", "alpha"),
            ("DRBD_NODE_ID_1", "beta"),
            ("DRBD_NODE_ID_2", "gamma"),
        ]);
        let l = NodeLists::from_env(&e, "alpha").unwrap();
        assert!(l.drbd9);
        assert_eq!(l.include, [(0, "alpha".into()), (2, "gamma".into())]);
        assert_eq!(l.exclude, [(1, "beta".into())]);
        assert_eq!(l.my_drbd_name(&e), Some("alpha"));
        let bad = |pairs: &[(&str, &str)]| NodeLists::from_env(&env(pairs), "alpha").unwrap_err();
        assert!(bad(&[("UP_TO_DATE_NODES", "5"), ("DRBD_MY_NODE_ID", "0")]).contains("hex mask"));
        assert!(bad(&[("UP_TO_DATE_NODES", "0xz"), ("DRBD_MY_NODE_ID", "0")]).contains("hex mask"));
        assert!(bad(&[("UP_TO_DATE_NODES", "0x1"), ("DRBD_MY_NODE_ID", "x")]).contains("decimal"));
        assert!(
            bad(&[("UP_TO_DATE_NODES", "0x2"), ("DRBD_MY_NODE_ID", "0")]).contains("not a member")
        );
    }

    #[test]
    fn drbd84_node_lists_are_this_node_against_its_peer() {
        let l = NodeLists::from_env(&env(&[("DRBD_PEER", "beta")]), "alpha").unwrap();
        assert!(!l.drbd9);
        assert_eq!(l.include, [(0, "alpha".into())]);
        assert_eq!(l.exclude, [(0, "beta".into())]);
        let l = NodeLists::from_env(&env(&[("DRBD_PEERS", "beta")]), "alpha").unwrap();
        assert_eq!(l.exclude, [(0, "beta".into())]);
        let l = NodeLists::from_env(&env(&[]), "alpha").unwrap();
        assert!(l.exclude.is_empty());
    }
}
