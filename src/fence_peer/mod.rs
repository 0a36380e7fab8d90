//! DRBD's fence-peer and unfence-peer handlers for Pacemaker: a drop-in for drbd-utils'
//! crm-fence-peer.9.sh and crm-unfence-peer.9.sh (same options, environment, constraint and
//! exit codes), not an OCF agent. DRBD runs it (drbd.conf `handlers { fence-peer ...; }`)
//! when it loses a peer whose data it must keep from being promoted.
//!
//! Fence: place `drbd-fence-by-handler-<res>-<clone>`, a location rule that bans the
//! Promoted role from every node but the UpToDate ones, once Pacemaker's view of the peer
//! allows it, and tell DRBD what became of the peer:
//!
//! | exit | meaning for DRBD | when |
//! |------|------------------|------|
//! | 4 | peer fenced (outdated) | constraint placed with the peer reachable and this disk at least Consistent, or a suitable one already there |
//! | 5 | peer unreachable | constraint placed with this disk UpToDate but the peer not (yet) cleanly down; or not placed: not UpToDate and the peer not reachable |
//! | 7 | peer STONITHed | constraint placed, the peer cleanly down (fenced) per the CIB |
//! | 1 | error | no quorum, no CIB, no clone for the resource, the update failed, or every peer disk is UpToDate |
//!
//! (3 and 6, "peer already outdated" and "peer is primary", are DRBD codes the reference
//! never returns; nor does this.) Unfence (unfence-peer, after-resync-target) removes the
//! constraint once every disk is UpToDate, or lets the nodes that are UpToDate promote again.
//!
//! Where the reference polls the CIB in a shell loop, this reads it once from the DC, decides
//! from the peer's node_state, and writes the constraint with one `cibadmin` update; only a
//! peer whose fate the CIB does not yet tell (fencing in progress) is waited for, polling the
//! DC's CIB, bounded by --timeout.

mod options;

pub use options::{DrbdEnv, NodeLists, Options};

use crate::ocf::Deadline;
use crate::sys::cib::{escape, Cib, Location};
use crate::sys::drbd::{self, Summary};
use crate::sys::pacemaker::{self, CibSource, CibWrite};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The handler's exit codes, as DRBD reads them.
pub mod exit {
    pub const ERROR: u8 = 1;
    pub const PEER_OUTDATED: u8 = 4;
    pub const PEER_UNREACHABLE: u8 = 5;
    pub const PEER_STONITHED: u8 = 7;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Fence,
    Unfence,
}

impl Action {
    /// By the name the handler is called as: `crm-fence-peer*` and `crm-unfence-peer*`, as
    /// the reference tells itself apart (crm-fence-peer.9.sh, crm-fence-peer.sh, ...).
    pub fn from_program(name: &str) -> Option<Action> {
        if name.starts_with("crm-fence-peer") {
            Some(Action::Fence)
        } else if name.starts_with("crm-unfence-peer") {
            Some(Action::Unfence)
        } else {
            None
        }
    }

    /// The `ferro-ocf` subcommand.
    pub fn from_subcommand(name: &str) -> Option<Action> {
        match name {
            "fence-peer" => Some(Action::Fence),
            "unfence-peer" => Some(Action::Unfence),
            _ => None,
        }
    }
}

/// The handler: `program` names it in the log (as the reference's syslog tag).
pub fn main(action: Action, program: &str, args: &[String]) -> u8 {
    let env = DrbdEnv::from_process();
    let interactive = nix::unistd::isatty(0).unwrap_or(false);
    let (opts, notes) = Options::parse(args, &env, interactive);
    let log_env = crate::ocf::OcfEnv::from_pairs([(
        "OCF_RESOURCE_INSTANCE",
        opts.resource.clone().unwrap_or_default(),
    )]);
    let verb = match action {
        Action::Fence => "fence",
        Action::Unfence => "unfence",
    };
    let _span = crate::ocf::log::init(program, &log_env, verb);
    for n in notes {
        warn!("{n}");
    }
    let Some(res) = opts.resource.clone() else {
        eprintln!("Environment variable $DRBD_RESOURCE not found (this is normally passed in by drbdadm).");
        return exit::ERROR;
    };
    if !opts.quiet {
        info!("{} {program} {}", env.describe(), args.join(" "));
    }
    // `uname -n`, as the reference.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let _lock = match take_lock(&opts) {
        Ok(l) => l,
        Err(e) => {
            warn!(
                "Could not get flock on {}: {e:#}",
                opts.lock_file.as_deref().unwrap_or("")
            );
            if opts.flock_required {
                return exit::ERROR;
            }
            // Without the lock, placing the constraint is still better than not.
            None
        }
    };
    let mut h = Handler {
        action,
        opts: &opts,
        env: &env,
        res: &res,
        hostname: &hostname,
        start: Instant::now(),
        cib_timeout_ds: 18,
        cib: Cib::default(),
        master_id: String::new(),
        lists: None,
        new: None,
    };
    let code = match action {
        Action::Fence => h.fence(),
        Action::Unfence => match h.unfence() {
            Ok(()) => 0,
            Err(e) => {
                warn!("{e:#}");
                exit::ERROR
            }
        },
    };
    tracing::debug!("{} ms", h.start.elapsed().as_millis());
    code
}

/// The lock file (taken with flock, bounded by --flock-timeout) that serializes handlers of
/// one resource; kept open until the handler exits.
fn take_lock(opts: &Options) -> Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let Some(path) = opts.lock_file.as_deref() else {
        return Ok(None);
    };
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        // 0700, owned by root: nobody else can plant anything in it.
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    // O_NOFOLLOW: the lock directory may be below world-writable /var/lock.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if !f.metadata()?.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let fd = f.as_raw_fd();
    // A blocking flock in a bounded worker: the lock belongs to the open file, which the
    // worker shares, so it stays held here when the worker exits.
    let took = crate::sys::command::bounded("lock", &Deadline::after(opts.flock_timeout), || {
        // SAFETY: fd is the open lock file, inherited by the worker.
        nix::errno::Errno::result(unsafe { nix::libc::flock(fd, nix::libc::LOCK_EX) }).map(drop)
    })?;
    took.with_context(|| format!("flock {}", path.display()))?;
    Ok(Some(f))
}

/// Pacemaker's view of one peer, as the reference names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Its controller answers.
    Reachable,
    /// Cleanly down (expected down, out of the membership): fenced, if STONITH is on.
    Fenced,
    /// Down but not (yet) confirmed clean.
    Unreachable,
    /// The CIB still says up, but the controller does not answer.
    Unknown,
    DcUnreachable,
}

/// Whether Pacemaker is going to fence the node (so waiting for its state to settle is
/// worth it), from its node_state; guess_if_pacemaker_will_fence in the reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// "online", "offline", "banned" or "" (Pacemaker 2.1.7 timestamps read as online).
    pub crmd: String,
    /// "true", "false" or "".
    pub in_ccm: String,
    pub expected: String,
    pub will_fence: bool,
}

pub fn node_view(
    state: Option<&crate::sys::cib::NodeState>,
    stonith_enabled: bool,
    startup_fencing: bool,
) -> NodeView {
    let mut v = NodeView::default();
    if let Some(s) = state {
        v.crmd = if s.crmd_online() {
            "online".to_owned()
        } else {
            s.crmd.clone().unwrap_or_default()
        };
        v.in_ccm = match s.in_ccm() {
            Some(true) => "true".to_owned(),
            Some(false) => "false".to_owned(),
            None => String::new(),
        };
        v.expected = s.expected.clone().unwrap_or_default();
    }
    if !stonith_enabled {
        // Nothing will fence it: no point waiting. Pacemaker 1.0's ha="dead" is final.
        if state.is_some_and(|s| s.ha_dead) {
            v.crmd = "offline".to_owned();
        }
        return v;
    }
    if state.is_none() && !startup_fencing {
        return v;
    }
    // After pacemaker's determine_online_status_fencing().
    v.will_fence = v.in_ccm.is_empty() || v.crmd == "banned";
    let clean_down = v.expected == "down" && v.in_ccm == "false" && v.crmd != "online";
    if !clean_down && (v.in_ccm == "false" || v.crmd != "online") {
        v.will_fence = true;
    }
    v
}

/// What to do once the peers' states and the local disk are known (try_place_constraint's
/// decision in the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Place the constraint; on success exit with the code.
    Place(u8),
    /// Do not place it; exit with the code.
    Skip(u8, &'static str),
}

pub fn decide(
    s: &Summary,
    all_reachable: bool,
    all_fenced: bool,
    unreachable_is_outdated: bool,
) -> Decision {
    if s.pdsk_all_up_to_date {
        Decision::Skip(
            exit::ERROR,
            "All peer disks are UpToDate! Did not place the constraint.",
        )
    } else if s.unconfigured {
        Decision::Skip(
            exit::ERROR,
            "could not determine my disk state: did not place the constraint!",
        )
    } else if all_reachable && s.disk_all_consistent {
        // Reachable peers: they would have had a higher promotion score with better data.
        Decision::Place(exit::PEER_OUTDATED)
    } else if all_fenced && s.disk_all_up_to_date {
        Decision::Place(exit::PEER_STONITHED)
    } else if s.disk_all_up_to_date {
        // A peer is neither reachable nor cleanly down: the timeout passed. UpToDate data
        // goes on.
        Decision::Place(exit::PEER_UNREACHABLE)
    } else if !all_reachable && unreachable_is_outdated && s.disk_all_consistent {
        Decision::Place(exit::PEER_UNREACHABLE)
    } else {
        Decision::Skip(
            exit::PEER_UNREACHABLE,
            "some peer is UNCLEAN, my disk is not UpToDate, did not place the constraint!",
        )
    }
}

/// The fence constraint as the reference writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub id: String,
    pub rsc: String,
    pub rule_id: String,
    pub role: String,
    /// (id, attribute, value) of each `attribute ne value` expression.
    pub exprs: Vec<(String, String, String)>,
}

impl Constraint {
    pub fn to_xml(&self) -> String {
        let mut s = format!(
            "<rsc_location rsc=\"{}\" id=\"{}\">\n <rule role=\"{}\" score=\"-INFINITY\" id=\"{}\">\n",
            escape(&self.rsc),
            escape(&self.id),
            escape(&self.role),
            escape(&self.rule_id)
        );
        for (id, a, v) in &self.exprs {
            s += &format!(
                "  <expression attribute=\"{}\" operation=\"ne\" value=\"{}\" id=\"{}\"/>\n",
                escape(a),
                escape(v),
                escape(id)
            );
        }
        s + " </rule>\n</rsc_location>\n"
    }

    /// The constraint in the CIB says the same: same resource, one -INFINITY rule for the same
    /// role, the same expressions (ids aside). Master and Promoted are one role.
    pub fn matches(&self, loc: &Location) -> bool {
        let role = |r: &str| match r {
            "Promoted" => "Master".to_owned(),
            r => r.to_owned(),
        };
        let [rule] = loc.rules.as_slice() else {
            return false;
        };
        let mut have: Vec<(&str, &str, &str)> = rule
            .expressions
            .iter()
            .map(|e| (e.attribute.as_str(), e.operation.as_str(), e.value.as_str()))
            .collect();
        let mut want: Vec<(&str, &str, &str)> = self
            .exprs
            .iter()
            .map(|(_, a, v)| (a.as_str(), "ne", v.as_str()))
            .collect();
        have.sort_unstable();
        want.sort_unstable();
        loc.rsc == self.rsc
            && !rule.other
            && rule.score == "-INFINITY"
            && role(&rule.role) == role(&self.role)
            && have == want
    }

    /// The constraint in the CIB without the expressions that let the excluded nodes
    /// promote: fencing only ever restricts further (another handler may have raced us).
    pub fn restricted(loc: &Location, excluded: &[(String, String)]) -> Option<Constraint> {
        let [rule] = loc.rules.as_slice() else {
            return None;
        };
        if rule.other {
            return None;
        }
        Some(Constraint {
            id: loc.id.clone(),
            rsc: loc.rsc.clone(),
            rule_id: rule.id.clone(),
            role: rule.role.clone(),
            exprs: rule
                .expressions
                .iter()
                .filter(|e| e.operation == "ne")
                .filter(|e| {
                    !excluded
                        .iter()
                        .any(|(a, v)| *a == e.attribute && *v == e.value)
                })
                .map(|e| (e.id.clone(), e.attribute.clone(), e.value.clone()))
                .collect(),
        })
    }
}

/// Pacemaker's `crm_is_true` negated the reference's way: anything but an explicit "no" is yes.
fn not_false(v: Option<&str>) -> bool {
    !matches!(v, Some("no" | "n" | "false" | "0" | "off"))
}

/// Bound on each Pacemaker or DRBD tool call that has no timeout of its own.
const TOOL_LIMIT: Duration = Duration::from_secs(30);
/// How often the DC's CIB is read again while a peer's fate is open.
const POLL_STEP: Duration = Duration::from_millis(500);

struct Handler<'a> {
    action: Action,
    opts: &'a Options,
    env: &'a DrbdEnv,
    res: &'a str,
    hostname: &'a str,
    start: Instant,
    /// cibadmin's timeout in tenths of a second, grown by 5/4 on each DC that does not answer
    /// (the reference's sequence: 1 2 2 3 4 5 ... s).
    cib_timeout_ds: u64,
    cib: Cib,
    master_id: String,
    lists: Option<NodeLists>,
    new: Option<Constraint>,
}

impl Handler<'_> {
    fn id(&self) -> String {
        format!("{}-{}", self.opts.id_prefix, self.master_id)
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Read the local CIB, find the clone, set up the node lists and the new constraint.
    fn init(&mut self, need_lists: bool) -> Result<()> {
        let xml = pacemaker::cib_query(CibSource::Local, &Deadline::after(TOOL_LIMIT))
            .context("cannot query the local CIB")?;
        self.cib = Cib::parse(&xml)?;
        self.master_id = match &self.opts.master_id {
            Some(m) => m.clone(),
            None => self
                .cib
                .drbd_clone(self.res)
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "drbd-fencing could not determine the master id of drbd resource {}",
                        self.res
                    )
                })?,
        };
        if need_lists {
            let lists = NodeLists::from_env(self.env, self.hostname).map_err(anyhow::Error::msg)?;
            if let Some(n) = lists.my_drbd_name(self.env).filter(|n| *n != self.hostname) {
                warn!(
                    "My node id ({}) does not resolve to my hostname ({}) but to {n}",
                    self.env.get("DRBD_MY_NODE_ID").unwrap_or(""),
                    self.hostname
                );
            }
            let id = self.id();
            let p = &self.opts.id_prefix;
            let m = &self.master_id;
            let exprs = lists
                .include
                .iter()
                .map(|(i, n)| {
                    let (a, v) = self.fencing_attr(n);
                    (format!("{p}-expr-{i}-{m}"), a, v)
                })
                .collect();
            self.new = Some(Constraint {
                id,
                rsc: m.clone(),
                rule_id: format!("{p}-rule-{m}"),
                role: self.opts.role.clone(),
                exprs,
            });
            self.lists = Some(lists);
        }
        Ok(())
    }

    /// The (attribute, value) that names node `n` in the rule: --fencing-attribute when the
    /// node has it, else #uname.
    fn fencing_attr(&self, n: &str) -> (String, String) {
        let a = &self.opts.fencing_attribute;
        match self.cib.node_attr(n, a) {
            Some(v) if a != "#uname" => (a.clone(), v),
            _ => ("#uname".to_owned(), n.to_owned()),
        }
    }

    /// The DC's CIB, waiting for a DC until --dc-timeout (counted from the start).
    fn cib_from_dc(&mut self) -> Result<()> {
        loop {
            let t = Instant::now();
            let secs = (self.cib_timeout_ds / 10).max(1);
            let bound = Deadline::after(Duration::from_secs(secs + 2));
            let err = match pacemaker::cib_query(CibSource::Dc { secs: secs as u32 }, &bound)
                .and_then(|x| Cib::parse(&x))
            {
                Ok(cib) => {
                    self.cib = cib;
                    return Ok(());
                }
                Err(e) => e,
            };
            if self.elapsed() > self.opts.dc_timeout {
                return Err(err.context("no DC answered"));
            }
            if t.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_secs(1) - t.elapsed());
            }
            self.cib_timeout_ds = self.cib_timeout_ds * 5 / 4;
        }
    }

    fn drbd_state(&self) -> Summary {
        let deadline = Deadline::after(TOOL_LIMIT);
        let state = if self
            .env
            .get("UP_TO_DATE_NODES")
            .is_some_and(|m| !m.is_empty())
        {
            drbd::events2_state(self.res, &deadline)
        } else {
            self.minors(&deadline)
                .and_then(|m| drbd::proc_drbd_state(&m))
        };
        match state {
            Ok(s) => s.summary(),
            Err(e) => {
                warn!("{e:#}");
                drbd::ResourceState::default().summary()
            }
        }
    }

    /// DRBD_MINOR (drbdadm exports it since 8.3.3), else `drbdadm sh-minor`.
    fn minors(&self, deadline: &Deadline) -> Result<Vec<u32>> {
        let text = match self.env.get("DRBD_MINOR").filter(|m| !m.trim().is_empty()) {
            Some(m) => m.to_owned(),
            None => {
                let mut adm = drbd::Drbdadm::new(self.env.get("DRBD_CONF"));
                return Ok(adm.minors(self.res, deadline)?.unwrap_or_default());
            }
        };
        text.split_whitespace()
            .map(|w| {
                w.parse::<u32>()
                    .with_context(|| format!("DRBD_MINOR={text}"))
            })
            .collect()
    }

    fn fence(&mut self) -> u8 {
        if let Err(e) = self.init(true) {
            warn!("{e:#}");
            return exit::ERROR;
        }
        let stonith = not_false(self.cib.property("stonith-enabled"));
        let startup_fencing = not_false(self.cib.property("startup-fencing"));
        let id = self.id();
        let new = self.new.clone().expect("init made it");
        if self.cib.location(&id).is_none() {
            match self.try_place(stonith, startup_fencing) {
                Ok(code) => return self.double_check(code),
                // Maybe another handler, or the operator, placed it meanwhile.
                Err(e) => {
                    warn!("{e:#}");
                    let _ = self.cib_from_dc();
                }
            }
        }
        if let Some(have) = self.cib.location(&id).cloned() {
            if new.matches(&have) {
                info!("suitable constraint already placed: '{id}'");
                return self.double_check(exit::PEER_OUTDATED);
            }
            if self.cib.bans(&have, &self.master_id, self.hostname) {
                warn!("constraint already exists, and rejects me: {have:?}");
            } else {
                match self.try_place(stonith, startup_fencing) {
                    Ok(code) => return self.double_check(code),
                    Err(e) => warn!("constraint already exists, could not modify it: {e:#}"),
                }
            }
        }
        warn!("DATA INTEGRITY at RISK: could not place the fencing constraint!");
        if self.opts.suicide_on_failure_if_primary && self.drbd_state().primary {
            self.commit_suicide(stonith);
        }
        exit::ERROR
    }

    /// The reference's double_check_after_fencing: the peer may have come back meanwhile.
    fn double_check(&mut self, code: u8) -> u8 {
        if ![3, exit::PEER_OUTDATED, exit::PEER_STONITHED].contains(&code) {
            return code;
        }
        if self.drbd_state().pdsk_all_up_to_date {
            warn!("All peer disks are UpToDate (again), trying to remove the constraint again.");
            return match self.remove_constraint() {
                Ok(()) => exit::ERROR,
                Err(e) => {
                    warn!("{e:#}");
                    code
                }
            };
        }
        code
    }

    /// Wait for the peers' fate as far as needed, then place the constraint or not.
    /// Ok(exit code) when decided (placed or deliberately not), Err when the update failed.
    fn try_place(&mut self, stonith: bool, startup_fencing: bool) -> Result<u8> {
        let (reachable, fenced) = loop {
            let (reachable, fenced) = self.check_peers(stonith, startup_fencing);
            // A reachable peer may just have had a network hiccup: give the link a chance.
            if !reachable || self.opts.net_hickup <= self.elapsed() {
                break (reachable, fenced);
            }
            std::thread::sleep(self.opts.net_hickup - self.elapsed());
        };
        if !self.quorate() {
            warn!(
                "Found <cib {}>",
                self.cib
                    .header
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            warn!("I don't have quorum; did not place the constraint!");
            return Ok(exit::ERROR);
        }
        let s = self.drbd_state();
        match decide(
            &s,
            reachable,
            fenced,
            self.opts.unreachable_peer_is_outdated,
        ) {
            Decision::Skip(code, why) => {
                warn!("{why}");
                Ok(code)
            }
            Decision::Place(code) => {
                self.write_constraint()?;
                let id = self.id();
                match code {
                    exit::PEER_OUTDATED => {
                        info!("peers are reachable, my disk is at least Consistent: placed constraint '{id}'")
                    }
                    exit::PEER_STONITHED => {
                        info!("peers are (node-level) fenced, my disk is UpToDate: placed constraint '{id}'")
                    }
                    _ if s.disk_all_up_to_date => {
                        info!("some peer is still UNCLEAN, my disk is UpToDate: placed constraint '{id}' anyways")
                    }
                    _ => warn!("peer is unreachable, my disk is only Consistent: --unreachable-peer-is-outdated FORCED constraint '{id}'. This MAY RISK DATA INTEGRITY"),
                }
                Ok(code)
            }
        }
    }

    /// The CIB says quorum, and so does crm_node (the reference double-checks).
    fn quorate(&self) -> bool {
        if !self.cib.have_quorum() {
            return false;
        }
        match pacemaker::partition_has_quorum(&Deadline::after(TOOL_LIMIT)) {
            Some(true) => true,
            Some(false) => {
                warn!("Cib still had quorum, but no quorum according to crm_node --quorum");
                false
            }
            None => false,
        }
    }

    /// (all excluded peers reachable, all excluded peers fenced), reading the DC's CIB.
    fn check_peers(&mut self, stonith: bool, startup_fencing: bool) -> (bool, bool) {
        let others: Vec<String> = self
            .cib
            .nodes
            .iter()
            .filter(|n| n.kind != "ping" && n.uname != self.hostname)
            .map(|n| n.uname.clone())
            .collect();
        let lists = self.lists.clone().unwrap_or_default();
        let peers: Vec<String> = if lists.drbd9 {
            lists.exclude.iter().map(|(_, n)| n.clone()).collect()
        } else {
            // DRBD 8.4 without a peer name, and only one other node: that is the peer.
            match lists.exclude.first() {
                Some((_, p)) => vec![p.clone()],
                None if others.len() == 1 => vec![others[0].clone()],
                None => vec![String::new()],
            }
        };
        if let Err(e) = self.cib_from_dc() {
            warn!("{e:#}");
            return (false, false);
        }
        let (mut reachable, mut fenced) = (true, true);
        let id = self.id();
        for peer in peers {
            // Already banned by our constraint: what's done is done.
            if let Some(loc) = self.cib.location(&id) {
                if !peer.is_empty() && self.cib.bans(loc, &self.master_id, &peer) {
                    continue;
                }
            }
            let state = self.peer_state(&peer, &others, stonith, startup_fencing);
            info!("peer {peer:?}: {state:?}");
            reachable &= state == PeerState::Reachable;
            fenced &= state == PeerState::Fenced;
        }
        (reachable, fenced)
    }

    fn peer_state(
        &mut self,
        peer: &str,
        others: &[String],
        stonith: bool,
        startup_fencing: bool,
    ) -> PeerState {
        loop {
            // Only nodes of the nodes section count (not ping nodes, not this one).
            let state = others
                .iter()
                .any(|o| o == peer)
                .then(|| self.cib.node_state(peer))
                .flatten()
                .cloned();
            if self.opts.cts_mode && !peer.is_empty() && state.is_none() {
                warn!("CTS-mode: pretending that unseen node {peer} was reachable");
                return PeerState::Reachable;
            }
            if peer.is_empty() {
                // Which peer is unknown: only the full timeout lets node-level fencing act.
                let rest = self.opts.timeout.saturating_sub(self.elapsed());
                if !rest.is_zero() {
                    warn!(
                        "don't know who my peer is; sleep {} seconds just in case",
                        rest.as_secs()
                    );
                    std::thread::sleep(rest);
                }
                return PeerState::Unknown;
            }
            let v = node_view(state.as_ref(), stonith, startup_fencing);
            if !v.will_fence && v.crmd != "online" {
                return if v.expected == "down" && v.in_ccm == "false" {
                    PeerState::Fenced
                } else {
                    PeerState::Unreachable
                };
            }
            if v.crmd == "online"
                && pacemaker::controller_answers(
                    peer,
                    self.cib_timeout_ds * 200,
                    &Deadline::after(TOOL_LIMIT),
                )
            {
                return PeerState::Reachable;
            }
            if self.elapsed() >= self.opts.timeout {
                return if v.crmd == "offline" {
                    PeerState::Unreachable
                } else {
                    PeerState::Unknown
                };
            }
            std::thread::sleep(POLL_STEP.min(self.opts.timeout.saturating_sub(self.elapsed())));
            if let Err(e) = self.cib_from_dc() {
                warn!("{e:#}");
                return PeerState::DcUnreachable;
            }
        }
    }

    /// One CIB update: the new constraint, or (fencing, one already there) the existing one
    /// restricted further; refused without quorum or when a constraint already bans this node.
    fn write_constraint(&mut self) -> Result<()> {
        let id = self.id();
        if !self.cib.have_quorum() {
            anyhow::bail!("sorry, want a quorate partition");
        }
        let existing = self.cib.location(&id).cloned();
        if let Some(loc) = &existing {
            if self.cib.bans(loc, &self.master_id, self.hostname) {
                anyhow::bail!("sorry, the constraint {id} already rejects this node");
            }
        }
        let new = self.new.clone().context("no constraint to write")?;
        let (c, how) = match existing {
            Some(loc) if self.action == Action::Fence => {
                let excluded: Vec<(String, String)> = self
                    .lists
                    .iter()
                    .flat_map(|l| &l.exclude)
                    .map(|(_, n)| self.fencing_attr(n))
                    .collect();
                let c = Constraint::restricted(&loc, &excluded)
                    .context("the existing constraint is not one this handler can restrict")?;
                (c, CibWrite::Replace)
            }
            _ => (new, CibWrite::CreateOrModify),
        };
        let secs = self.opts.dc_timeout.as_secs().max(1);
        pacemaker::cib_write_constraint(
            &c.to_xml(),
            how,
            secs as u32,
            &Deadline::after(Duration::from_secs(secs + 5)),
        )
        .with_context(|| format!("cannot place the constraint {id}"))
    }

    fn remove_constraint(&self) -> Result<()> {
        pacemaker::cib_delete_location(&self.id(), &self.master_id, &Deadline::after(TOOL_LIMIT))
    }

    fn unfence(&mut self) -> Result<()> {
        let need_lists = self
            .env
            .get("UP_TO_DATE_NODES")
            .is_some_and(|m| !m.is_empty())
            || self.opts.unfence_only_if_owner_match;
        self.init(need_lists)?;
        let id = self.id();
        let Some(have) = self.cib.location(&id).cloned() else {
            match self.lists.as_ref().filter(|l| !l.exclude.is_empty()) {
                Some(l) => warn!(
                    "No constraint in place, called for unfence, but ({}) still supposed to be excluded. Weird.",
                    l.exclude.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(" ")
                ),
                None if !self.opts.quiet => info!("No constraint in place, nothing to do."),
                None => {}
            }
            return Ok(());
        };
        let s = self.drbd_state();
        if self.opts.unfence_only_if_owner_match
            && self.cib.bans(&have, &self.master_id, self.hostname)
        {
            warn!("Constraint owner does not match, leaving constraint in place.");
        } else if s.disk_all_up_to_date && s.pdsk_all_up_to_date {
            self.remove_constraint()?;
            info!("Removed constraint '{id}'");
        } else if self.new.as_ref().is_some_and(|n| n.matches(&have)) {
            if !self.opts.quiet {
                info!("expected constraint still in place, nothing to do");
            }
        } else {
            // Only some peers are in sync again: let those promote, not all yet.
            let r = self.cib_from_dc().and_then(|()| self.write_constraint());
            if let Err(e) = r {
                warn!("{e:#}");
                warn!("could not modify, leaving constraint in place.");
            }
        }
        Ok(())
    }

    /// --suicide-on-failure-if-primary: this Primary could not fence its peer; have Pacemaker
    /// fence this node, and reboot if that does not happen.
    fn commit_suicide(&self, stonith: bool) -> ! {
        let wait = if stonith {
            warn!("trying to have pacemaker kill me now!");
            if let Err(e) =
                pacemaker::request_self_termination(self.hostname, &Deadline::after(TOOL_LIMIT))
            {
                warn!("{e:#}");
            }
            warn!(
                "told pacemaker to kill me, but scheduling reboot -f in 300 seconds just in case"
            );
            Duration::from_secs(300)
        } else {
            warn!(
                "going to reboot -f in 20 seconds; kill {} to cancel!",
                std::process::id()
            );
            Duration::from_secs(20)
        };
        std::thread::sleep(wait);
        warn!("going to reboot -f now!");
        let _ = crate::sys::command::run("reboot", &["-f"], &Deadline::after(TOOL_LIMIT));
        loop {
            std::thread::sleep(Duration::from_secs(86400));
        }
    }
}

#[cfg(test)]
mod tests;
