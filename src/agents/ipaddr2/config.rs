//! IPaddr2's parameters → [`Config`]: the one place they are checked. ip, nic and
//! network_namespace name the address and are judged in every action; the others as the action
//! reads them ([`crate::ocf::Params::parse`]). Every check is the same on every node, so a
//! failure is OCF_ERR_CONFIGURED naming the parameter; nothing on the system is touched.

use crate::ocf::env::{is_false, is_true};
use crate::ocf::{OcfEnv, Params};
use crate::ocf_bail;
use crate::sys::findif;
use crate::sys::netlink::Family;
use crate::sys::netns;
use anyhow::Result;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;
use tracing::{debug, info, warn};

// ---------------------------------------------------------------------------------------------
// The configuration, from the instance parameters. Every check here is the same on every node,
// so a failure is OCF_ERR_CONFIGURED naming the parameter; nothing on the system is touched.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Broadcast {
    /// Not given: derived from the netmask (host bits set), none for /31 and /32.
    Derived,
    HostBitsSet,
    HostBitsCleared,
    Addr(Ipv4Addr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Announce {
    pub(super) count: u32,
    pub(super) interval: Duration,
    pub(super) refresh: u32,
    pub(super) background: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Config {
    pub(super) ip: IpAddr,
    pub(super) family: Family,
    pub(super) nic: Option<String>,
    pub(super) iflabel: Option<String>,
    pub(super) netmask: Option<u8>,
    pub(super) broadcast: Broadcast,
    pub(super) lvs_support: bool,
    pub(super) lvs_ipv6_addrlabel: Option<u32>,
    pub(super) flush_routes: bool,
    pub(super) nodad: bool,
    pub(super) noprefixroute: bool,
    /// Seconds; None = forever.
    pub(super) preferred_lft: Option<u32>,
    pub(super) arp: Announce,
    pub(super) run_arping: bool,
    pub(super) netns: Option<String>,
    pub(super) check_link_status: bool,
    pub(super) proto: Option<u8>,
    /// A ferro addition (portblock's tickle_dir for this address): where the address's TCP
    /// connections are recorded, to be tickled by the node that starts it next.
    pub(super) tickle_dir: Option<PathBuf>,
}

impl Config {
    /// The parameters as [`Params::parse`] reads them: ip, nic and network_namespace are
    /// judged in every action, the others only where the action reads strictly.
    pub(super) fn parse(p: &Params, env: &OcfEnv) -> Result<Config> {
        let ip_text = p.str("ip").trim();
        let ip = match parse_ip(ip_text) {
            Ok(ip) => ip,
            Err(why) => ocf_bail!(ErrConfigured, "parameter ip: {ip_text:?} {why}"),
        };
        if !p.lenient() {
            // A start policy: a clone found running is stopped and monitored per address.
            refuse_clones(p, env)?;
        }
        let ip = unique_address(ip, p, env)?;
        let family = Family::of(&ip);

        // nic may carry a label the old way: "eth0:label" (it wins over iflabel).
        let mut iflabel = p.opt("iflabel").map(str::to_owned);
        let mut label_param = "iflabel";
        let nic = match p.opt("nic") {
            None => None,
            Some(v) => {
                let (name, label) = match v.split_once(':') {
                    Some((n, l)) => (n, Some(l)),
                    None => (v, None),
                };
                if !valid_ifname(name) {
                    ocf_bail!(
                        ErrConfigured,
                        "parameter nic: {v:?} is not a valid interface name"
                    );
                }
                if let Some(l) = label {
                    iflabel = Some(l.to_owned());
                    label_param = "nic";
                }
                Some(name.to_owned())
            }
        };
        let label_ok = match &iflabel {
            None => Ok(None),
            Some(l) => check_label(l, label_param, nic.as_deref()).map(|()| iflabel.clone()),
        };
        // The label, also in nic=eth0:label, is not needed to find the address.
        let iflabel = p.or_default("iflabel", label_ok, || Ok(None))?;
        if let (Family::V6, None, IpAddr::V6(a)) = (family, &nic, ip) {
            if a.segments()[0] & 0xffc0 == 0xfe80 {
                ocf_bail!(
                    ErrConfigured,
                    "parameter nic: mandatory for the link-local address {a}"
                );
            }
        }

        // The reference still honours the netmask parameter of old versions.
        let netmask_text = p.opt("cidr_netmask").or_else(|| {
            env.reskey("netmask")
                .map(str::trim)
                .filter(|v| !v.is_empty())
        });
        let netmask = match netmask_text {
            None => Ok(None),
            Some(m) => match parse_netmask(m, family) {
                Ok(n) => Ok(Some(n)),
                Err(why) => Err(crate::ocf_err!(
                    ErrConfigured,
                    "parameter cidr_netmask: {m:?} {why}"
                )),
            },
        };
        let netmask = p.or_default("cidr_netmask", netmask, || Ok(None))?;

        let broadcast = p.parse("broadcast", |b| match (family, b.trim()) {
            (_, "") => Ok(Broadcast::Derived),
            (Family::V6, b) => {
                info!("broadcast {b:?} has no meaning for an IPv6 address and is ignored");
                Ok(Broadcast::Derived)
            }
            (Family::V4, "+") => Ok(Broadcast::HostBitsSet),
            (Family::V4, "-") => Ok(Broadcast::HostBitsCleared),
            (Family::V4, b) => match b.parse::<Ipv4Addr>() {
                Ok(a) => Ok(Broadcast::Addr(a)),
                Err(_) => ocf_bail!(
                    ErrConfigured,
                    "parameter broadcast: {b:?} is not an IPv4 address, '+' or '-'"
                ),
            },
        })?;

        let lvs_support = p.parse("lvs_support", |v| {
            if is_true(v) && family == Family::V6 {
                ocf_bail!(
                    ErrConfigured,
                    "parameter lvs_support: not supported for the IPv6 address {ip}"
                );
            }
            Ok(is_true(v))
        })?;
        let lvs_ipv6_addrlabel = p.parse("lvs_ipv6_addrlabel", |v| {
            if !is_true(v) {
                return Ok(None);
            }
            if family == Family::V4 {
                ocf_bail!(
                    ErrConfigured,
                    "parameter lvs_ipv6_addrlabel: IPv4 does not support lvs_ipv6_addrlabel"
                );
            }
            p.parse("lvs_ipv6_addrlabel_value", |v| {
                match v.trim().parse::<u32>() {
                    Ok(v) => Ok(Some(v)),
                    _ => ocf_bail!(
                        ErrConfigured,
                        "parameter lvs_ipv6_addrlabel_value: {v:?} should be a positive integer"
                    ),
                }
            })
        })?;

        let preferred_lft = p.parse("preferred_lft", |v| match v.trim() {
            "" => ocf_bail!(
                ErrConfigured,
                "parameter preferred_lft: an empty value is invalid (use forever or seconds)"
            ),
            "forever" => Ok(None),
            v => match v.parse::<u32>() {
                Ok(n) if n != u32::MAX => Ok(Some(n)),
                _ => ocf_bail!(
                    ErrConfigured,
                    "parameter preferred_lft: {v:?} is neither forever nor a number of seconds"
                ),
            },
        })?;

        let positive = |name: &str| -> Result<u32> {
            p.parse(name, |v| match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => ocf_bail!(
                    ErrConfigured,
                    "parameter {name}: {v:?} should be a positive integer"
                ),
            })
        };
        let count = positive("arp_count")?;
        let interval = Duration::from_millis(positive("arp_interval")? as u64);
        let refresh = p.parse("arp_count_refresh", |v| match v.trim() {
            "" => Ok(0),
            v => match v.parse::<u32>() {
                Ok(n) => Ok(n),
                Err(_) => ocf_bail!(
                    ErrConfigured,
                    "parameter arp_count_refresh: {v:?} should be 0 or a positive integer"
                ),
            },
        })?;
        // IPv4 announces in the background by default, IPv6 in the foreground (after DAD).
        let background = p.parse("arp_bg", |v| match v.trim() {
            "" => Ok(family == Family::V4),
            v if is_true(v) => Ok(true),
            v if is_false(v) => Ok(false),
            v => ocf_bail!(
                ErrConfigured,
                "parameter arp_bg: {v:?} is not a boolean (use true or false)"
            ),
        })?;
        p.parse("arp_sender", |v| match v.trim() {
            "" | "send_arp" | "iputils_arping" | "libnet_arping" | "ipoibarping" => Ok(()),
            v => ocf_bail!(
                ErrConfigured,
                "parameter arp_sender: unrecognized value {v:?}"
            ),
        })?;

        let netns = match p.opt("network_namespace") {
            None => None,
            Some(ns) if netns::valid_name(ns) => Some(ns.to_owned()),
            Some(ns) => ocf_bail!(
                ErrConfigured,
                "parameter network_namespace: {ns:?} is not a valid namespace name"
            ),
        };
        let proto = p.parse("proto", |v| match v.trim() {
            "" => Ok(None),
            v => match findif::route_protocol(v) {
                Some(n) => Ok(Some(n)),
                None => ocf_bail!(
                    ErrConfigured,
                    "parameter proto: unknown route protocol {v:?}"
                ),
            },
        })?;

        let tickle_dir = p.parse("tickle_dir", |v| match v.trim() {
            "" => Ok(None),
            v if v.starts_with('/') => Ok(Some(PathBuf::from(v))),
            v => ocf_bail!(
                ErrConfigured,
                "parameter tickle_dir: {v:?} is not an absolute path"
            ),
        })?;

        Ok(Config {
            ip,
            family,
            nic,
            iflabel,
            netmask,
            broadcast,
            lvs_support,
            lvs_ipv6_addrlabel,
            flush_routes: p.bool("flush_routes")?,
            nodad: p.bool("nodad")?,
            noprefixroute: p.bool("noprefixroute")?,
            preferred_lft,
            arp: Announce {
                count,
                interval,
                refresh,
                background,
            },
            run_arping: p.bool("run_arping")?,
            netns,
            check_link_status: p.bool("check_link_status")?,
            proto,
            tickle_dir,
        })
    }
}

/// A label may only hold the characters real labels use, and fit IFNAMSIZ with the nic.
pub(super) fn check_label(l: &str, param: &str, nic: Option<&str>) -> Result<()> {
    // Differs from the reference (length only). The label ends up in `ip addr` output that
    // scripts on the node parse: quotes, backslashes, `%`, `;` or `*` there are trouble. The
    // reference documents labels as alphanumeric; `-`, `_`, `.` and `:` are common in real ones.
    if l.is_empty()
        || !l
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        ocf_bail!(
            ErrConfigured,
            "parameter {param}: label {l:?} may only contain letters, digits, \
             '-', '_', '.' and ':'"
        );
    }
    if let Some(n) = nic {
        check_label_length(n, l)?;
    }
    Ok(())
}

/// Cloned IPaddr2 is the reference's CLUSTERIP load sharing (iptables/nft rules and a
/// multicast MAC); this agent manages one address on one node only.
pub(super) fn refuse_clones(p: &Params, env: &OcfEnv) -> Result<()> {
    if let Some(v) = env.meta("clone_max") {
        match v.trim().parse::<u32>() {
            Ok(n) if n > 1 => ocf_bail!(
                ErrConfigured,
                "cloned IPaddr2 (CLUSTERIP load sharing, clone-max={n}) is not supported by \
                 ocf:ferro:IPaddr2; use one primitive per address"
            ),
            Ok(n) if n > 0 => {}
            _ => ocf_bail!(
                ErrConfigured,
                "Invalid meta-attribute clone_max [{v}], should be positive integer"
            ),
        }
    }
    for name in [
        "mac",
        "clusterip_hash",
        "clusterip_hash_seed",
        "clusterip_firewall",
    ] {
        if p.is_set(name) {
            debug!("parameter {name} only applies to cloned addresses and has no effect");
        }
    }
    Ok(())
}

/// unique_clone_address: ip plus the clone instance number, as the reference computes it
/// (the number added to the last byte; no carry into the others).
pub(super) fn unique_address(ip: IpAddr, p: &Params, env: &OcfEnv) -> Result<IpAddr> {
    pub(super) fn bump<const N: usize>(mut o: [u8; N], n: u32) -> Option<[u8; N]> {
        o[N - 1] = u8::try_from(u32::from(o[N - 1]) + n).ok()?;
        Some(o)
    }
    p.parse("unique_clone_address", |v| {
        if !is_true(v) {
            return Ok(ip);
        }
        // As in the reference: the clone number is added to ip, which needs distinct
        // instances. With clone-max 1 (all this agent runs) the address is ip itself.
        if !env.meta_bool("globally_unique") {
            ocf_bail!(
                ErrConfigured,
                "parameter unique_clone_address: makes sense only with meta globally_unique set"
            );
        }
        let n = env.meta_u32("clone").unwrap_or(0);
        let bumped = match ip {
            IpAddr::V4(a) => bump(a.octets(), n).map(IpAddr::from),
            IpAddr::V6(a) => bump(a.octets(), n).map(IpAddr::from),
        };
        match bumped {
            Some(a) => Ok(a),
            None => ocf_bail!(
                ErrConfigured,
                "parameter unique_clone_address: {ip} plus clone instance {n} is not an address"
            ),
        }
    })
}

/// An address that can be managed: not unspecified, multicast or broadcast.
pub(super) fn parse_ip(s: &str) -> std::result::Result<IpAddr, &'static str> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| "is not a valid IPv4 or IPv6 address")?;
    let ok = match ip {
        IpAddr::V4(a) => !(a.octets()[0] == 0 || a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    };
    if !ok {
        return Err("cannot be assigned to an interface");
    }
    Ok(ip)
}

/// A prefix length 1..=32 (IPv4; dotted quads of old configurations are converted, as findif
/// does) or 1..=128 (IPv6).
pub(super) fn parse_netmask(s: &str, family: Family) -> std::result::Result<u8, String> {
    if s.contains('.') {
        if family == Family::V6 {
            return Err("is an IPv4 netmask, but ip is an IPv6 address".into());
        }
        let m: Ipv4Addr = s.parse().map_err(|_| "is not a netmask".to_string())?;
        let bits = u32::from(m);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Err("is not a contiguous netmask".into());
        }
        let n = bits.leading_ones() as u8;
        warn!("Please convert dotted quad netmask {s} to CIDR notation {n}!");
        if n == 0 {
            return Err(format!(
                "is not a valid prefix length (1 to {})",
                family.max_prefix()
            ));
        }
        return Ok(n);
    }
    match s.parse::<u8>() {
        Ok(n) if s.len() <= 3 && (1..=family.max_prefix()).contains(&n) => Ok(n),
        _ => Err(format!(
            "is not a valid prefix length (1 to {})",
            family.max_prefix()
        )),
    }
}

/// What the kernel accepts as an interface name (IFNAMSIZ), limited to the characters real
/// interface names use: whatever else an admin typed is a mistake, not a name.
pub(super) fn valid_ifname(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub(super) fn check_label_length(nic: &str, label: &str) -> Result<()> {
    let full = format!("{nic}:{label}");
    if full.len() > 15 {
        ocf_bail!(
            ErrConfigured,
            "parameter iflabel: Interface label [{full}] exceeds maximum character limit of 15"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::{code_of, Metadata, OcfCode};

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        cfg_env(pairs, &[])
    }

    fn cfg_env(pairs: &[(&str, &str)], meta: &[(&str, &str)]) -> Result<Config> {
        let md = Metadata::parse(include_str!("../../../ocf-metadata/IPaddr2.xml")).unwrap();
        let env = OcfEnv::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
                .chain(
                    meta.iter()
                        .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_{k}"), v.to_string())),
                ),
        );
        let params = Params::resolve(&md, &env)?;
        Config::parse(&params, &env)
    }

    /// A configuration error naming `param`.
    fn refused(pairs: &[(&str, &str)], param: &str) {
        let e = cfg(pairs).expect_err(&format!("{pairs:?} must be refused"));
        assert_eq!(code_of(&e), OcfCode::ErrConfigured, "{pairs:?}: {e:#}");
        assert!(
            e.to_string().contains(param),
            "{pairs:?}: {e} should name {param}"
        );
    }

    #[test]
    fn reference_defaults() {
        let c = cfg(&[("ip", "192.0.2.10")]).unwrap();
        assert_eq!(c.family, Family::V4);
        assert_eq!(
            (c.nic.as_deref(), c.netmask, c.broadcast),
            (None, None, Broadcast::Derived)
        );
        assert_eq!(c.arp.count, 5);
        assert_eq!(c.arp.interval, Duration::from_millis(200));
        assert_eq!(c.arp.refresh, 0);
        assert!(
            c.arp.background,
            "IPv4 announces in the background by default"
        );
        assert!(c.check_link_status && !c.nodad && !c.noprefixroute && !c.run_arping);
        assert_eq!(c.preferred_lft, None);
        let c6 = cfg(&[("ip", "2001:DB8:0::10")]).unwrap();
        assert_eq!(c6.ip, "2001:db8::10".parse::<IpAddr>().unwrap());
        assert!(
            !c6.arp.background,
            "IPv6 announces in the foreground by default"
        );
    }

    #[test]
    fn full_configuration() {
        let c = cfg(&[
            ("ip", "2001:db8::10"),
            ("nic", "eth0"),
            ("cidr_netmask", "64"),
            ("nodad", "true"),
            ("noprefixroute", "yes"),
            ("preferred_lft", "0"),
            ("arp_bg", "true"),
            ("arp_count", "3"),
            ("arp_interval", "1000"),
            ("network_namespace", "blue"),
            ("proto", "ra"),
            ("check_link_status", "false"),
        ])
        .unwrap();
        assert_eq!((c.nic.as_deref(), c.netmask), (Some("eth0"), Some(64)));
        assert!(c.nodad && c.noprefixroute && c.arp.background && !c.check_link_status);
        assert_eq!(c.preferred_lft, Some(0));
        assert_eq!((c.arp.count, c.arp.interval), (3, Duration::from_secs(1)));
        assert_eq!((c.netns.as_deref(), c.proto), (Some("blue"), Some(9)));
    }

    #[test]
    fn nic_label_and_old_netmask_forms() {
        let c = cfg(&[
            ("ip", "10.0.0.5"),
            ("nic", "eth0:web"),
            ("iflabel", "other"),
        ])
        .unwrap();
        assert_eq!(
            (c.nic.as_deref(), c.iflabel.as_deref()),
            (Some("eth0"), Some("web"))
        );
        let c = cfg(&[("ip", "10.0.0.5"), ("cidr_netmask", "255.255.255.0")]).unwrap();
        assert_eq!(c.netmask, Some(24));
        let c = cfg(&[("ip", "10.0.0.5"), ("netmask", "16")]).unwrap();
        assert_eq!(c.netmask, Some(16));
        let c = cfg(&[("ip", "10.0.0.5"), ("broadcast", "-")]).unwrap();
        assert_eq!(c.broadcast, Broadcast::HostBitsCleared);
        let c = cfg(&[("ip", "10.0.0.5"), ("broadcast", "10.0.0.255")]).unwrap();
        assert_eq!(c.broadcast, Broadcast::Addr(Ipv4Addr::new(10, 0, 0, 255)));
    }

    #[test]
    fn bad_input_is_a_configuration_error_naming_the_parameter() {
        let ip = ("ip", "192.0.2.10");
        let ip6 = ("ip", "2001:db8::10");
        for bad in [
            "not-an-ip",
            "192.0.2",
            "192.0.2.300",
            "0.1.2.3",
            "224.0.0.5",
            "255.255.255.255",
            "::",
            "ff02::1",
            "fe80::1%eth0",
            "2001:db8::g",
        ] {
            refused(&[("ip", bad)], "ip");
        }
        for bad in ["0", "33", "-1", "24x", "0024", "255.0.255.0", "300.0.0.0"] {
            refused(&[ip, ("cidr_netmask", bad)], "cidr_netmask");
        }
        refused(&[ip6, ("cidr_netmask", "129")], "cidr_netmask");
        refused(&[ip6, ("cidr_netmask", "255.255.255.0")], "cidr_netmask");
        for bad in [
            "eth0; reboot",
            "eth 0",
            "a/b",
            "averyveryverylongname",
            "$(x)",
            "..",
        ] {
            refused(&[ip, ("nic", bad)], "nic");
        }
        refused(&[("ip", "fe80::10")], "nic");
        refused(
            &[ip, ("nic", "eth0"), ("iflabel", "waytoolonglabel")],
            "iflabel",
        );
        refused(&[ip, ("iflabel", "a b")], "iflabel");
        for bad in ["a\"b", "a'b", "a\\b", "50%", "a;b", "a*", "$x", "é"] {
            refused(&[ip, ("iflabel", bad)], "iflabel");
        }
        refused(&[ip, ("nic", "eth0:a;b")], "nic");
        for ok in ["vip", "vip-1", "a_b.c", "0", "x:1"] {
            assert!(cfg(&[ip, ("iflabel", ok)]).is_ok(), "{ok}");
        }
        refused(&[ip, ("broadcast", "10.0.0.x")], "broadcast");
        for (k, v) in [
            ("arp_count", "0"),
            ("arp_interval", "0"),
            ("arp_count", "-3"),
            ("arp_count_refresh", "-1"),
        ] {
            refused(&[ip, (k, v)], k);
        }
        refused(&[ip, ("arp_bg", "sometimes")], "arp_bg");
        refused(&[ip, ("arp_sender", "magic")], "arp_sender");
        refused(&[ip, ("nodad", "perhaps")], "nodad");
        refused(&[ip6, ("preferred_lft", "")], "preferred_lft");
        refused(&[ip6, ("preferred_lft", "soon")], "preferred_lft");
        refused(&[ip, ("network_namespace", "../etc")], "network_namespace");
        refused(&[ip, ("proto", "carrier-pigeon")], "proto");
        refused(&[ip6, ("lvs_support", "true")], "lvs_support");
        refused(&[ip, ("lvs_ipv6_addrlabel", "true")], "lvs_ipv6_addrlabel");
    }

    #[test]
    fn cloned_addresses_are_refused() {
        let e = cfg_env(
            &[("ip", "192.0.2.10")],
            &[("clone_max", "2"), ("globally_unique", "true")],
        )
        .unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured);
        assert!(e.to_string().contains("not supported"), "{e}");
        assert!(cfg_env(&[("ip", "192.0.2.10")], &[("clone_max", "1")]).is_ok());
        let e = cfg_env(&[("ip", "192.0.2.10")], &[("clone_max", "two")]).unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured);
        refused(
            &[("ip", "192.0.2.10"), ("unique_clone_address", "true")],
            "unique_clone_address",
        );
        // As the reference: with globally-unique, the clone number is added to ip.
        let unique = |ip: &str, clone: &str| {
            cfg_env(
                &[("ip", ip), ("unique_clone_address", "true")],
                &[("globally_unique", "true"), ("clone", clone)],
            )
            .map(|c| c.ip.to_string())
        };
        assert_eq!(unique("192.0.2.10", "0").unwrap(), "192.0.2.10");
        assert_eq!(unique("192.0.2.10", "3").unwrap(), "192.0.2.13");
        assert_eq!(unique("2001:db8::10", "1").unwrap(), "2001:db8::11");
        let e = unique("192.0.2.254", "2").unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured, "{e}");
        // CLUSTERIP parameters on a primitive do nothing, in the reference as here.
        assert!(cfg(&[("ip", "192.0.2.10"), ("clusterip_hash", "sourceip")]).is_ok());
    }

    #[test]
    fn label_length_counts_the_interface_name() {
        assert!(check_label_length("eth0", "0123456789").is_ok()); // 15
        assert!(check_label_length("eth0", "01234567890").is_err()); // 16
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "br-lan", "bond0.100", "enp0s31f6", "veth_x", "lo"] {
            assert!(valid_ifname(ok), "{ok}");
        }
        for bad in [
            "",
            "eth0:1",
            "a b",
            "x/y",
            "eth0\n",
            "0123456789abcdef",
            ".",
        ] {
            assert!(!valid_ifname(bad), "{bad:?}");
        }
    }
}
