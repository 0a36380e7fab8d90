//! ocf:ferro:IPaddr2 — a virtual IPv4 or IPv6 address, drop-in for ocf:heartbeat:IPaddr2.
//!
//! The runbook:
//! - start: read the configuration; find the interface and prefix (from nic / cidr_netmask, else
//!   from the routing table like findif); if the address is already there, done. Otherwise
//!   (lvs_support) take it off lo, (run_arping) make sure nobody else has it, add it, bring the
//!   link up, and tell the neighbours: gratuitous ARP, or for IPv6 unsolicited NA once DAD
//!   has passed (a failed DAD removes the address again and fails the start).
//! - stop: end a background announcer; remove the address if it is there; (flush_routes) flush
//!   the route cache; (lvs_support) give lo its address back. Nothing there = success.
//! - monitor: is the address on its interface, and (check_link_status) has the interface link?
//!   Netlink only, no process: one request for the link, one for its addresses (plus one for
//!   the routes when nic or cidr_netmask is not given). (tickle_dir) record the address's TCP
//!   connections there, for the node that takes the address over after a power loss: its start
//!   sends each recorded client a tickle ACK with the announcement, so the client reconnects at
//!   once (a ferro addition).
//!
//! Exit codes follow the reference agent, except where marked "Differs from the reference".

use crate::ocf::{Ctx, OcfCode, OcfContext};
use crate::ocf_bail;
use crate::sys::findif::{self, Query};
use crate::sys::netlink::{
    Addr, Family, Link, Netlink, NewAddr, IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_NOPREFIXROUTE,
    IFA_F_TENTATIVE, RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
use crate::sys::tickle::{self, Conn};
use crate::sys::{arp, background, netns, safe_file};
use anyhow::Result;
use nix::libc;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{debug, info, warn};

mod config;

use config::{check_label_length, parse_ip, Broadcast, Config};

pub struct IPaddr2;

/// How long start waits for carrier on a link without it (check_link_status).
const CARRIER_WAIT: Duration = Duration::from_secs(5);
/// Tickle ACKs to each recorded connection, and how far apart: a client answers one
/// out-of-window segment per tcp_invalid_ratelimit (500 ms), and the first may reach it before
/// the gratuitous ARP.
const TICKLE_ROUNDS: u32 = 3;
const TICKLE_GAP: Duration = Duration::from_millis(600);
/// The most connections recorded, and the largest record read (lines of about 50 bytes).
const TICKLE_MAX: usize = 8192;
const TICKLE_RECORD_MAX: u64 = TICKLE_MAX as u64 * 128;

impl crate::ocf::Agent for IPaddr2 {
    fn name(&self) -> &'static str {
        "IPaddr2"
    }

    fn metadata_xml(&self) -> &'static str {
        include_str!("../../../ocf-metadata/IPaddr2.xml")
    }

    fn identity(&self) -> &'static [&'static str] {
        &["ip", "nic", "network_namespace"]
    }

    fn validate(&self, ctx: &Ctx) -> Result<()> {
        let cfg = Config::parse(&ctx.params, &ctx.env)?;
        let mut host = Host::enter_or_fail(&cfg)?;
        host.place_or_fail(&cfg)?;
        Ok(())
    }

    fn start(&self, ctx: &Ctx) -> Result<OcfCode> {
        require_root(ctx)?;
        let cfg = Config::parse(&ctx.params, &ctx.env)?;
        let mut host = Host::enter_or_fail(&cfg)?;
        let place = host.place_or_fail(&cfg)?;
        if host.served(&cfg, &place)?.is_some() {
            info!("{} is already on {}", cfg.ip, place.link.name);
            return Ok(OcfCode::Success);
        }
        if cfg.lvs_support {
            host.take_off_loopback(&cfg, &rsc_tmp(ctx))?;
        }
        if cfg.run_arping {
            host.check_not_in_use(&cfg, &place, ctx)?;
        }
        if let Some(label) = cfg.lvs_ipv6_addrlabel {
            host.addrlabel(&cfg, true, label);
        }
        host.add(&cfg, &place)?;
        // Differs from the reference (4.12 checks no link): start fails where the next
        // monitor would.
        if cfg.check_link_status {
            host.wait_for_carrier(&cfg, &place, ctx)?;
        }
        if !place.link.is_loopback() {
            let conns = recorded_connections(&cfg);
            announce(ctx, &cfg, &place, &mut host, cfg.arp.count, conns)?;
        }
        Ok(OcfCode::Success)
    }

    fn stop(&self, ctx: &Ctx) -> Result<OcfCode> {
        require_root(ctx)?;
        // Only ip, nic and network_namespace are judged here (the others fell back to their
        // defaults).
        let cfg = match Config::parse(&ctx.params, &ctx.env) {
            Ok(cfg) => cfg,
            Err(e) => return stop_unidentified(ctx, e),
        };
        // The reference's stop ends its send_arp the same way.
        match background::end(&announcer_pidfile(ctx, &cfg)) {
            Some(Ok(pid)) => info!("killed previously running send_arp (pid {pid})"),
            Some(Err((pid, e))) => {
                warn!("Could not kill previously running send_arp (pid {pid}): {e}")
            }
            None => {}
        }
        let Some(mut host) = Host::enter(&cfg)? else {
            info!("network namespace is gone: {} cannot be configured", cfg.ip);
            return Ok(OcfCode::Success);
        };
        let removed = match host.place(&cfg)? {
            Placed::At(place) => match host.served(&cfg, &place)? {
                Some(addr) => {
                    host.remove(&cfg, &place, &addr)?;
                    true
                }
                None => {
                    info!("{} is not on {}", cfg.ip, place.link.name);
                    false
                }
            },
            Placed::NoSuchNic(nic) => {
                info!("no interface {nic}: {} is not configured", cfg.ip);
                false
            }
            // Differs from the reference, which reports success here: an interface that went
            // down loses its IPv4 routes but keeps its addresses, so the address may well be
            // there; left behind, it would clash with the node taking over once the link is
            // back. Remove it wherever it is.
            Placed::NoRoute => host.remove_anywhere(&cfg)?,
        };
        if removed && cfg.flush_routes {
            match findif::flush_route_cache(cfg.family) {
                Ok(()) => info!("flushed the route cache"),
                Err(e) => warn!("cannot flush the route cache: {e}"),
            }
        }
        if let Some(label) = cfg.lvs_ipv6_addrlabel {
            host.addrlabel(&cfg, false, label);
        }
        if cfg.lvs_support {
            host.restore_loopback(&cfg, &rsc_tmp(ctx))?;
        }
        Ok(OcfCode::Success)
    }

    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode> {
        let cfg = Config::parse(&ctx.params, &ctx.env)?;
        // What is missing on this node (namespace, interface, route) means "not running here",
        // never a configuration error: probes run on every node, also where the nic does not
        // exist, and OCF_ERR_CONFIGURED would stop the resource everywhere.
        let Some(mut host) = Host::enter(&cfg)? else {
            let ns = cfg.netns.as_deref().unwrap_or("");
            return not_running(ctx, format!("there is no network namespace {ns}"));
        };
        let place = match host.place(&cfg)? {
            Placed::At(p) => p,
            Placed::NoSuchNic(nic) => {
                return not_running(ctx, format!("there is no interface {nic}"));
            }
            // Differs from the reference: a recurring monitor that cannot find the interface
            // returns OCF_NOT_RUNNING, not OCF_ERR_GENERIC (a probe returns 7 in both).
            Placed::NoRoute => {
                return not_running(ctx, format!("Unable to find nic or netmask for {}", cfg.ip));
            }
        };
        // resource-agents #2113: the reference answers a link without carrier with
        // OCF_ERR_INSTALLED, which bans the node; "not running" lets the cluster recover.
        if let Some(state) = link_problem(&place.link).filter(|_| cfg.check_link_status) {
            return not_running(
                ctx,
                format!("{} {state}: {} cannot be served", place.link.name, cfg.ip),
            );
        }
        let Some(addr) = host.served(&cfg, &place)? else {
            return not_running(
                ctx,
                format!("{}/{} is not on {}", cfg.ip, place.prefix, place.link.name),
            );
        };
        // A duplicate found after start (the reference does not look): unusable.
        if addr.flags & IFA_F_DADFAILED != 0 {
            return not_running(
                ctx,
                format!(
                    "IPv6 address collision {} [DAD]: the address is unusable",
                    cfg.ip
                ),
            );
        }
        if cfg.family == Family::V4 && cfg.arp.refresh > 0 && !place.link.is_loopback() {
            refresh_arp(ctx, &cfg, &place);
        }
        if let Some(dir) = &cfg.tickle_dir {
            record_connections(&cfg, dir);
        }
        debug!("monitor used {} netlink requests", host.nl.requests());
        Ok(OcfCode::Success)
    }
}

/// Stop where ip, nic or network_namespace is unusable. Differs from the reference, which
/// fails (and gets the node fenced) or, with no route, reports success without looking: the
/// address the configuration names can be nowhere if ip is no address or the namespace cannot
/// exist, and stop succeeds; if the address is on an interface all the same (a link-local
/// address without nic), stop fails rather than call it stopped.
fn stop_unidentified(ctx: &Ctx, err: anyhow::Error) -> Result<OcfCode> {
    let p = &ctx.params;
    let Ok(ip) = parse_ip(p.str("ip").trim()) else {
        warn!("{err:#}: no address of this configuration can be on this node");
        return Ok(OcfCode::Success);
    };
    if let Some(ns) = p.opt("network_namespace") {
        if !netns::valid_name(ns) || !netns::exists(ns) {
            warn!("{err:#}: there is no network namespace {ns:?}");
            return Ok(OcfCode::Success);
        }
        netns::enter(ns)?;
    }
    let mut nl = Netlink::open()?;
    let lvs_support = p.bool("lvs_support")?;
    for a in nl.addrs(Family::of(&ip), None)? {
        let lo = nl.link_by_index(a.index)?.is_some_and(|l| l.is_loopback());
        // lvs_support keeps the address on lo while the resource is stopped.
        if a.ip == ip && !(lvs_support && lo) {
            return Err(err.context(crate::ocf_err!(
                ErrConfigured,
                "{ip} is still on this node, and this configuration cannot tell whether it is \
                 ours: remove it or fix the configuration"
            )));
        }
    }
    warn!("{err:#}: {ip} is not on this node");
    Ok(OcfCode::Success)
}

/// What check_link_status finds wrong with the link: down, or up without carrier.
fn link_problem(link: &Link) -> Option<&'static str> {
    if !link.is_up() {
        Some("is down")
    } else if !link.has_carrier() {
        Some("has no carrier")
    } else {
        None
    }
}

/// OCF_NOT_RUNNING. A probe finding the address absent is routine; a recurring monitor finding
/// it gone is a failure, and its reason is what crm_mon shows next to it.
fn not_running(ctx: &Ctx, reason: String) -> Result<OcfCode> {
    if ctx.env.is_probe() {
        info!("{reason}");
        return Ok(OcfCode::NotRunning);
    }
    Err(crate::ocf_err!(NotRunning, "{reason}"))
}

fn require_root(ctx: &Ctx) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        ocf_bail!(ErrPerm, "You must be root for {} operation.", ctx.action);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The host: the namespace, its interfaces and addresses, over netlink.

/// Where the address goes: its interface, prefix length, broadcast and label.
#[derive(Clone, Debug)]
struct Placement {
    link: Link,
    prefix: u8,
    broadcast: Option<Ipv4Addr>,
    label: Option<String>,
}

enum Placed {
    At(Placement),
    NoSuchNic(String),
    /// findif's "Unable to find nic or netmask".
    NoRoute,
}

struct Host {
    nl: Netlink,
}

impl Host {
    /// Enter the configured namespace (None: it does not exist) and open netlink in it.
    fn enter(cfg: &Config) -> Result<Option<Host>> {
        if let Some(ns) = &cfg.netns {
            if !netns::exists(ns) {
                return Ok(None);
            }
            netns::enter(ns)?;
        }
        Ok(Some(Host {
            nl: Netlink::open()?,
        }))
    }

    /// For start and validate-all: a missing namespace is this node's problem (the reference
    /// fails in `ip netns exec`); OCF_ERR_INSTALLED moves the address to another node.
    fn enter_or_fail(cfg: &Config) -> Result<Host> {
        match Host::enter(cfg)? {
            Some(h) => Ok(h),
            None => ocf_bail!(
                ErrInstalled,
                "parameter network_namespace: there is no network namespace {} ({})",
                cfg.netns.as_deref().unwrap_or(""),
                netns::NETNS_RUN_DIR
            ),
        }
    }

    /// findif: the interface and prefix length, from the parameters or the routing table.
    fn place(&mut self, cfg: &Config) -> Result<Placed> {
        let given = match &cfg.nic {
            None => None,
            Some(name) => match self.nl.link_by_name(name)? {
                Some(l) => Some(l),
                None => return Ok(Placed::NoSuchNic(name.clone())),
            },
        };
        let (link, prefix) = match (given, cfg.netmask) {
            (Some(link), Some(prefix)) => (link, prefix),
            (given, netmask) => {
                let q = Query {
                    ip: cfg.ip,
                    netmask,
                    oif: given.as_ref().map(|l| l.index),
                    proto: cfg.proto,
                };
                let routes = self.nl.routes(cfg.family, RT_TABLE_MAIN, q.oif)?;
                let route = match findif::choose(&routes, &q) {
                    Some(r) => Some(r.clone()),
                    None if matches!(cfg.ip, IpAddr::V4(a) if a.is_loopback()) => {
                        let local = self.nl.routes(Family::V4, RT_TABLE_LOCAL, q.oif)?;
                        findif::choose_loopback(&local, &q).cloned()
                    }
                    None => None,
                };
                let Some(route) = route else {
                    return Ok(Placed::NoRoute);
                };
                debug!(
                    "route {}/{} chosen for {}",
                    route.dst, route.dst_len, cfg.ip
                );
                let link = match given {
                    Some(l) => l,
                    None => match self.nl.link_by_index(route.oif.unwrap_or(0))? {
                        Some(l) => l,
                        None => return Ok(Placed::NoRoute),
                    },
                };
                (link, netmask.unwrap_or(route.dst_len))
            }
        };
        // Checked by place_or_fail: stop and monitor do not need the label.
        let label = cfg.iflabel.as_ref().map(|l| format!("{}:{l}", link.name));
        let broadcast = match (cfg.ip, cfg.broadcast) {
            (IpAddr::V6(_), _) => None,
            (IpAddr::V4(_), Broadcast::Addr(a)) => Some(a),
            (IpAddr::V4(ip), Broadcast::HostBitsSet) => Some(findif::broadcast(ip, prefix, true)),
            (IpAddr::V4(ip), Broadcast::HostBitsCleared) => {
                Some(findif::broadcast(ip, prefix, false))
            }
            (IpAddr::V4(ip), Broadcast::Derived) => {
                (prefix < 31).then(|| findif::broadcast(ip, prefix, true))
            }
        };
        Ok(Placed::At(Placement {
            link,
            prefix,
            broadcast,
            label,
        }))
    }

    /// For start and validate-all, as the reference: an unknown nic is a configuration error,
    /// no route is OCF_ERR_GENERIC.
    fn place_or_fail(&mut self, cfg: &Config) -> Result<Placement> {
        match self.place(cfg)? {
            Placed::At(p) => {
                if let Some(l) = &cfg.iflabel {
                    check_label_length(&p.link.name, l)?;
                }
                Ok(p)
            }
            Placed::NoSuchNic(nic) => {
                ocf_bail!(ErrConfigured, "parameter nic: there is no interface {nic}")
            }
            Placed::NoRoute => ocf_bail!(
                ErrGeneric,
                "Unable to find nic or netmask for {}: no directly connected route covers it \
                 (set nic and cidr_netmask)",
                cfg.ip
            ),
        }
    }

    /// The address as it is on the interface, with the same prefix length (the reference's
    /// ip_served); its label does not matter.
    fn served(&mut self, cfg: &Config, place: &Placement) -> Result<Option<Addr>> {
        Ok(self
            .nl
            .addrs(cfg.family, Some(place.link.index))?
            .into_iter()
            .find(|a| a.ip == cfg.ip && a.prefix == place.prefix))
    }

    fn add(&mut self, cfg: &Config, place: &Placement) -> Result<()> {
        let mut flags = 0;
        if cfg.noprefixroute {
            flags |= IFA_F_NOPREFIXROUTE;
        }
        let v6 = cfg.family == Family::V6;
        if v6 && cfg.nodad {
            flags |= IFA_F_NODAD;
        }
        if v6 && place.label.is_some() {
            info!("IPv6 addresses have no labels: iflabel is ignored");
        }
        let new = NewAddr {
            ip: cfg.ip,
            prefix: place.prefix,
            index: place.link.index,
            label: if v6 { None } else { place.label.clone() },
            broadcast: place.broadcast,
            flags,
            preferred_lft: if v6 { cfg.preferred_lft } else { None },
        };
        info!(
            "Adding {} address {}/{}{} to device {}{}",
            if v6 { "inet6" } else { "inet" },
            cfg.ip,
            place.prefix,
            place
                .broadcast
                .map(|b| format!(" with broadcast address {b}"))
                .unwrap_or_default(),
            place.link.name,
            new.label
                .as_ref()
                .map(|l| format!(" (label {l})"))
                .unwrap_or_default(),
        );
        if let Err(e) = self.nl.add_addr(&new) {
            ocf_bail!(
                ErrGeneric,
                "Failed to add {}/{} to {}: {e}",
                cfg.ip,
                place.prefix,
                place.link.name
            );
        }
        if !place.link.is_up() {
            info!("Bringing device {} up", place.link.name);
            if let Err(e) = self.nl.set_up(place.link.index) {
                ocf_bail!(ErrGeneric, "cannot bring {} up: {e}", place.link.name);
            }
        }
        Ok(())
    }

    /// check_link_status: a start on a link without carrier would be followed by a monitor
    /// that fails, and Pacemaker would restart the address in a loop; so start fails (and
    /// takes the address off again) unless carrier comes within a few seconds (a link just
    /// brought up, autonegotiation). The reference (4.12) has no link check at all.
    fn wait_for_carrier(&mut self, cfg: &Config, place: &Placement, ctx: &Ctx) -> Result<()> {
        let wait = ctx
            .deadline
            .within(CARRIER_WAIT.min(ctx.deadline.remaining() / 4));
        let mut problem = None;
        let ok = wait.poll(Duration::from_millis(100), || {
            match self.nl.link_by_index(place.link.index) {
                Ok(Some(l)) => {
                    problem = link_problem(&l);
                    problem.is_none().then_some(())
                }
                Ok(None) => {
                    problem = Some("is gone");
                    None
                }
                Err(_) => None,
            }
        });
        if ok.is_some() {
            return Ok(());
        }
        let state = problem.unwrap_or("has no carrier");
        if let Some(addr) = self.served(cfg, place)? {
            self.remove(cfg, place, &addr)?;
        }
        ocf_bail!(
            ErrGeneric,
            "{} {state} after {:.0}s: {} cannot be served (check_link_status=true); \
             address removed",
            place.link.name,
            wait.elapsed().as_secs_f64(),
            cfg.ip
        )
    }

    fn remove(&mut self, cfg: &Config, place: &Placement, addr: &Addr) -> Result<()> {
        info!(
            "Removing {}/{} from {}",
            cfg.ip, addr.prefix, place.link.name
        );
        match self.nl.del_addr(&addr.ip, addr.prefix, place.link.index) {
            Ok(()) => Ok(()),
            // Gone between the dump and the delete: what stop wants.
            Err(e) if matches!(e.errno(), Some(libc::EADDRNOTAVAIL | libc::ENOENT)) => Ok(()),
            Err(e) => ocf_bail!(
                ErrGeneric,
                "Unable to remove IP [{}] from interface [{}]: {e}",
                cfg.ip,
                place.link.name
            ),
        }
    }

    /// Stop without a route to tell the interface or prefix: the address on the configured nic
    /// (any interface if none), of the configured prefix length if given; never the copy that
    /// lvs_support keeps on lo.
    fn remove_anywhere(&mut self, cfg: &Config) -> Result<bool> {
        let nic = match &cfg.nic {
            Some(n) => match self.nl.link_by_name(n)? {
                Some(l) => Some(l.index),
                None => return Ok(false),
            },
            None => None,
        };
        let mut removed = false;
        let found: Vec<Addr> = self
            .nl
            .addrs(cfg.family, nic)?
            .into_iter()
            .filter(|a| a.ip == cfg.ip && cfg.netmask.map_or(true, |m| m == a.prefix))
            .collect();
        if found.is_empty() {
            info!(
                "Unable to find nic or netmask for {}: it is not configured",
                cfg.ip
            );
        }
        for a in found {
            let Some(link) = self.nl.link_by_index(a.index)? else {
                continue;
            };
            if cfg.lvs_support && link.is_loopback() {
                continue;
            }
            warn!(
                "no route for {}: removing it from {} all the same",
                cfg.ip, link.name
            );
            let place = Placement {
                prefix: a.prefix,
                broadcast: None,
                label: None,
                link,
            };
            self.remove(cfg, &place, &a)?;
            removed = true;
        }
        Ok(removed)
    }

    /// run_arping: IPv4 duplicate address detection before adding (`arping -D -c 2 -w 3`).
    fn check_not_in_use(&mut self, cfg: &Config, place: &Placement, ctx: &Ctx) -> Result<()> {
        let (IpAddr::V4(ip), Some(mac)) = (cfg.ip, place.link.ethernet_mac()) else {
            return Ok(());
        };
        if place.link.is_loopback() || !place.link.is_up() {
            return Ok(());
        }
        // Two probes a second apart, answers awaited for up to three seconds in all.
        let window = Duration::from_secs(3).min(ctx.deadline.remaining() / 2);
        let holder = arp::probe_in_use(place.link.index, mac, ip, 2, window).ocf(
            OcfCode::ErrGeneric,
            format!("cannot check whether {ip} is in use"),
        )?;
        if let Some(other) = holder {
            ocf_bail!(
                ErrGeneric,
                "IPv4 address collision {ip} [DAD]: already in use by {}",
                arp::fmt_mac(&other)
            );
        }
        debug!("nobody answered ARP probes for {ip}");
        Ok(())
    }

    /// lvs_support: an LVS real server has the address on lo; while this node directs, the
    /// address must be on the nic only. Saved where the reference saves it, so either agent
    /// can give it back.
    fn take_off_loopback(&mut self, cfg: &Config, rsc_tmp: &Path) -> Result<()> {
        let Some(lo) = self.nl.link_by_name("lo")? else {
            return Ok(());
        };
        let on_lo = self
            .nl
            .addrs(cfg.family, Some(lo.index))?
            .into_iter()
            .find(|a| a.ip == cfg.ip && a.prefix == 32);
        if let Some(a) = on_lo {
            info!("Removing conflicting loopback lo.");
            let saved = rsc_tmp.join(cfg.ip.to_string());
            let _ = std::fs::create_dir_all(rsc_tmp);
            if let Err(e) = std::fs::write(&saved, format!("{} 32 255.255.255.255 lo\n", cfg.ip)) {
                warn!("Could not save conflicting loopback lo ({e}): it will not be restored.");
            }
            if let Err(e) = self.nl.del_addr(&a.ip, 32, lo.index) {
                ocf_bail!(ErrGeneric, "cannot remove {} from lo: {e}", cfg.ip);
            }
        }
        Ok(())
    }

    fn restore_loopback(&mut self, cfg: &Config, rsc_tmp: &Path) -> Result<()> {
        let saved = rsc_tmp.join(cfg.ip.to_string());
        let Ok(text) = std::fs::read_to_string(&saved) else {
            return Ok(());
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if let [ip, prefix, brd, dev] = fields[..] {
            if let (Ok(ip), Ok(prefix), Ok(brd), Some(lo)) = (
                ip.parse::<IpAddr>(),
                prefix.parse::<u8>(),
                brd.parse::<Ipv4Addr>(),
                self.nl.link_by_name(dev)?,
            ) {
                info!("Restoring loopback IP Address {ip}/{prefix} on {dev}.");
                let new = NewAddr {
                    ip,
                    prefix,
                    index: lo.index,
                    label: None,
                    broadcast: Some(brd),
                    flags: 0,
                    preferred_lft: None,
                };
                match self.nl.add_addr(&new) {
                    Ok(()) => {}
                    Err(e) if e.errno() == Some(libc::EEXIST) => {}
                    Err(e) => ocf_bail!(ErrGeneric, "cannot restore {ip} on {dev}: {e}"),
                }
                if !lo.is_up() {
                    let _ = self.nl.set_up(lo.index);
                }
            }
        }
        let _ = std::fs::remove_file(&saved);
        Ok(())
    }

    /// lvs_ipv6_addrlabel: keep the address from being chosen as source (RFC 6724). Failures
    /// are logged only, as in the reference.
    fn addrlabel(&mut self, cfg: &Config, add: bool, label: u32) {
        if let IpAddr::V6(ip) = cfg.ip {
            match self.nl.addrlabel(add, &ip, label) {
                Ok(()) => info!(
                    "{} IPv6 address label prefix {ip} label {label}",
                    if add { "Added" } else { "Deleted" }
                ),
                Err(e) if add => warn!("adding IPv6 address label for {ip} failed: {e}"),
                Err(e) => debug!("deleting IPv6 address label for {ip}: {e}"),
            }
        }
    }

    /// IPv6: wait until the kernel's duplicate address detection is over (the reference polls
    /// `ip addr` up to 10 s). A duplicate removes the address again and fails the start.
    fn wait_for_dad(&mut self, cfg: &Config, place: &Placement, ctx: &Ctx) -> Result<bool> {
        let budget = ctx.deadline.within(Duration::from_secs(10));
        let mut last: Option<Addr> = None;
        let done = budget.poll(Duration::from_millis(50), || {
            match self.served(cfg, place) {
                Ok(Some(a)) if a.flags & IFA_F_DADFAILED != 0 => Some(Err(a)),
                Ok(Some(a)) if a.flags & IFA_F_TENTATIVE == 0 => Some(Ok(())),
                Ok(a) => {
                    last = a;
                    None
                }
                Err(_) => None,
            }
        });
        match done {
            Some(Ok(())) => Ok(true),
            Some(Err(a)) => {
                let _ = self.nl.del_addr(&a.ip, a.prefix, place.link.index);
                ocf_bail!(
                    ErrGeneric,
                    "IPv6 address collision {} [DAD]: another node on {} has it; address removed",
                    cfg.ip,
                    place.link.name
                )
            }
            None => {
                if last.is_none() {
                    ocf_bail!(
                        ErrGeneric,
                        "{} disappeared from {} during DAD",
                        cfg.ip,
                        place.link.name
                    );
                }
                warn!("IPv6 address {}: DAD is still in tentative", cfg.ip);
                Ok(false)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Telling the neighbours.

/// Gratuitous ARPs (IPv6: unsolicited NAs), and with them the tickle ACKs to `conns`.
fn announce(
    ctx: &Ctx,
    cfg: &Config,
    place: &Placement,
    host: &mut Host,
    count: u32,
    conns: Vec<Conn>,
) -> Result<()> {
    let dad_done = match cfg.ip {
        IpAddr::V6(_) if !cfg.nodad => host.wait_for_dad(cfg, place, ctx)?,
        _ => true,
    };
    let Some(mac) = place.link.ethernet_mac() else {
        info!(
            "{} does not use ARP/ND over Ethernet: no announcement",
            place.link.name
        );
        return Ok(());
    };
    if !dad_done {
        warn!("{} is still tentative: no neighbour advertisement", cfg.ip);
        return Ok(());
    }
    let (ip, index, interval) = (cfg.ip, place.link.index, cfg.arp.interval);
    let send = move |deadline: &crate::ocf::Deadline| -> Result<u32> {
        std::thread::scope(|s| {
            let tickles = (!conns.is_empty()).then(|| {
                s.spawn(|| tickle::tickle(ip, index, &conns, TICKLE_ROUNDS, TICKLE_GAP, deadline))
            });
            let sent = match ip {
                IpAddr::V4(a) => arp::send_gratuitous_arp(index, mac, a, count, interval, deadline),
                IpAddr::V6(a) => arp::send_unsolicited_na(index, mac, a, count, interval, deadline),
            };
            match tickles.map(|t| t.join()) {
                Some(Ok(Ok(n))) => info!(
                    "sent {n} tickle ACKs for {ip} ({} recorded connections)",
                    conns.len()
                ),
                Some(Ok(Err(e))) => warn!("Could not send tickle ACKs for {ip}: {e:#}"),
                Some(Err(_)) => warn!("the tickle ACK sender for {ip} failed"),
                None => {}
            }
            sent
        })
    };
    let what = if cfg.family == Family::V4 {
        "gratuitous ARPs"
    } else {
        "unsolicited NAs"
    };
    if cfg.arp.background {
        let pidfile = announcer_pidfile(ctx, cfg);
        // The background sender is not bound by this action's deadline, only by its own count.
        let budget = interval * count + Duration::from_secs(5);
        let spawned = background::spawn(&pidfile, "send in the background", &ctx.deadline, || {
            let d = crate::ocf::Deadline::after(budget);
            match send(&d) {
                Ok(n) => info!("sent {n} {what} for {ip} on {}", index),
                Err(e) => warn!("Could not send {what} for {ip}: {e:#}"),
            }
        });
        match spawned {
            Ok(pid) => info!("sending {count} {what} for {ip} in the background (pid {pid})"),
            Err(e) => warn!("cannot send {what} in the background: {e:#}"),
        }
        return Ok(());
    }
    match send(&ctx.deadline) {
        Ok(n) => info!("sent {n} {what} for {ip} on {}", place.link.name),
        // The address is up; a neighbour cache that is stale for a while is no reason to fail.
        Err(e) => warn!("Could not send {what} for {ip}: {e:#}"),
    }
    Ok(())
}

/// arp_count_refresh: re-announce on every monitor (stale caches after a split brain), in the
/// foreground and within the monitor's deadline.
fn refresh_arp(ctx: &Ctx, cfg: &Config, place: &Placement) {
    if let (IpAddr::V4(ip), Some(mac)) = (cfg.ip, place.link.ethernet_mac()) {
        let r = arp::send_gratuitous_arp(
            place.link.index,
            mac,
            ip,
            cfg.arp.refresh,
            cfg.arp.interval,
            &ctx.deadline,
        );
        match r {
            Ok(n) => debug!("refreshed neighbours' ARP caches for {ip} ({n} packets)"),
            Err(e) => warn!("Could not send gratuitous arps: {e:#}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tickle_dir: the connections a node taking the address over wakes up.

/// The file in tickle_dir named after the address.
fn tickle_record(cfg: &Config) -> PathBuf {
    PathBuf::from(cfg.ip.to_string())
}

/// monitor: write the address's established connections to its record when they changed.
/// Never fails the monitor: the address is served either way.
fn record_connections(cfg: &Config, dir: &Path) {
    let rel = tickle_record(cfg);
    let record = || -> Result<bool> {
        let mut conns = tickle::established_to(cfg.ip)?;
        conns.truncate(TICKLE_MAX);
        let text = tickle::format_list(&conns);
        if safe_file::read(dir, &rel, TICKLE_RECORD_MAX)
            .ok()
            .flatten()
            .as_deref()
            == Some(text.as_str())
        {
            return Ok(false);
        }
        safe_file::replace(dir, &rel, text.as_bytes())?;
        Ok(true)
    };
    match record() {
        Ok(true) => debug!(
            "recorded the connections to {} in {}",
            cfg.ip,
            dir.display()
        ),
        Ok(false) => {}
        Err(e) => warn!(
            "tickle_dir: cannot record the connections to {}: {e:#}",
            cfg.ip
        ),
    }
}

/// start: the connections the address's last holder recorded (none when there is no record).
fn recorded_connections(cfg: &Config) -> Vec<Conn> {
    let Some(dir) = &cfg.tickle_dir else {
        return Vec::new();
    };
    match safe_file::read(dir, &tickle_record(cfg), TICKLE_RECORD_MAX) {
        // Lines of another address are skipped by tickle::tickle, which sends from this one.
        Ok(Some(text)) => {
            let mut conns = tickle::parse_list(&text);
            conns.truncate(TICKLE_MAX);
            conns
        }
        Ok(None) => Vec::new(),
        Err(e) => {
            warn!("tickle_dir: cannot read the recorded connections: {e:#}");
            Vec::new()
        }
    }
}

fn rsc_tmp(ctx: &Ctx) -> PathBuf {
    PathBuf::from(ctx.env.rsc_tmp())
}

/// The reference's send_arp pid file, so that stop of either agent ends the other's sender.
fn announcer_pidfile(ctx: &Ctx, cfg: &Config) -> PathBuf {
    rsc_tmp(ctx).join(format!("send_arp-{}", cfg.ip))
}
