//! ocf:ferro:drbd — a DRBD resource as a promotable clone (Primary = promoted), a drop-in for
//! ocf:linbit:drbd: the same parameters, defaults, exit codes and promotion scores.
//!
//! Every action starts like the reference's drbd_validate_all (parameters, clone meta
//! attributes, the kernel module, the resource in drbd.conf), then reads like the runbook:
//!   start    load the module, attach (`drbdadm adjust --skip-net`; 8.4: `attach`), connect
//!            (`drbdadm adjust`), wait up to wfc_timeout for the peer, score
//!   promote  `drbdadm primary`, retried until the deadline
//!   demote   `drbdadm secondary`, retried until the deadline
//!   stop     demote if needed, `drbdadm down`, optionally outdate, drop the score
//!   monitor  7 / 0 (Secondary) / 8 (Primary), and the promotion score kept current
//!   notify   re-adjust when a peer starts, re-score after every transition
//!
//! Differences from the reference, each a fix of a known problem:
//! - Scores go through `crm_attribute -p` (ClusterLabs/resource-agents#1806: crm_master is
//!   deprecated; `-n master-<rsc>` before Pacemaker 2.1), are read first and written only when
//!   they change, and are skipped outside a cluster instead of logging errors. A recurring
//!   monitor keeps what it last knew of the score (score_cache): in steady state it runs no
//!   program on DRBD 8.4, and only `drbdsetup events2` on DRBD 9.
//! - Every drbdadm/drbdsetup/crm_* call is bounded by the action's deadline (LINBIT/drbd#51),
//!   and DRBD 8.4 state comes from /proc/drbd: a monitor spawns no drbdsetup at all.
//! - Parameter errors are reported as OCF_ERR_CONFIGURED naming the parameter before any
//!   system check, so validate-all says what is wrong with the configuration even on a node
//!   where DRBD is not installed.
//! - `crm_resource --locate` is parsed for both "Promoted" (Pacemaker 2.1+) and "Master"; the
//!   reference before drbd-utils 9.30 matches only "Master", so with current Pacemaker every
//!   Primary peer looked "unexpected" to remove_master_score_if_peer_primary=unexpected.
//! - demote of a resource that is not running returns OCF_NOT_RUNNING, as drbd-utils after
//!   9.22 does (9.22 returns OCF_ERR_GENERIC).

use crate::ocf::Agent;
use crate::ocf::{Action, Ctx, Deadline, OcfCode, OcfContext};
use crate::sys::drbd::{self, Drbdadm, ResourceState, Role, Summary, Version};
use crate::sys::pacemaker::{self, Outcome, PromotionScore, Score, ScoreForm};
use crate::{ocf_bail, ocf_err};
use anyhow::Result;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::time::Duration;

mod config;
mod score_cache;

pub use config::*;
pub use score_cache::TRUSTED_MONITORS;
use score_cache::{Cache, Entry};

pub struct Drbd;
/// drbdadm's exit code when DRBD refuses Primary without access to UpToDate data (or after
/// failing to fence the peer): retrying cannot help.
const DRBDADM_NEED_UPTODATE: i32 = 17;

/// The clone meta attributes the reference insists on (not checked on stop, so that a
/// misconfigured clone can still be stopped). `is_v9` None: the module is not known yet, and
/// the clone-max check waits for it.
fn check_meta(ctx: &Ctx, is_v9: Option<bool>) -> Result<()> {
    let env = &ctx.env;
    // Pacemaker 2.1 sends promoted_* and the deprecated master_*; name what the admin set.
    let promoted = if env.meta("promoted_max").is_some() {
        "promoted"
    } else {
        "master"
    };
    // Unset meta attributes take Pacemaker's defaults, as in the reference.
    let expect_eq = |name: &str, val: Option<u32>| -> Result<()> {
        let v = val.unwrap_or(1);
        if v != 1 {
            ocf_bail!(
                ErrConfigured,
                "meta parameter misconfigured, expected {name} = 1, but found {v}."
            );
        }
        Ok(())
    };
    match is_v9 {
        None => {
            expect_eq("clone-node-max", env.clone_node_max())?;
            expect_eq(&format!("{promoted}-node-max"), env.promoted_node_max())?;
            let pm = env.promoted_max().unwrap_or(1);
            if pm > 2 {
                ocf_bail!(
                    ErrConfigured,
                    "meta parameter misconfigured, expected {promoted}-max -le 2, but found {pm}."
                );
            }
        }
        Some(v9) => {
            // Even DRBD 9 cannot reliably have two Primaries plus more Secondaries.
            if !v9 || env.promoted_max() == Some(2) {
                match env.clone_max() {
                    Some(n) if n <= 2 => {}
                    n => ocf_bail!(
                        ErrConfigured,
                        "meta parameter misconfigured, expected clone-max -le 2, but found {}.",
                        n.map_or("unset".to_owned(), |n| n.to_string())
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Without notifications the agent misses the peer's start (adjust) and the post-transition
/// re-scoring; the reference refuses to run that way unless told to.
fn check_notify(ctx: &Ctx, cfg: &Config) -> Result<()> {
    if cfg.ignore_missing_notifications
        || ctx.env.meta_bool("notify")
        || ctx.env.meta("notify_start_uname").is_some()
    {
        return Ok(());
    }
    ocf_bail!(
        ErrConfigured,
        "you really should enable notify when using this RA (or set ignore_missing_notifications=true)"
    )
}

/// What the score should become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreChange {
    Set(i64),
    Remove,
    /// A transitional disk state: leave whatever is there.
    Keep,
}

/// The reference's drbd_update_master_score, as a pure function. `unexpected_primary` asks
/// Pacemaker whether it knows about the Primary peer (only for the "unexpected" policy).
/// Returns the change and whether to call the unfence hook.
pub fn score_for(
    s: &Summary,
    scores: [i64; 4],
    policy: PeerPrimaryPolicy,
    unexpected_primary: impl FnOnce() -> bool,
) -> (ScoreChange, bool) {
    let [only_consistent, only_remote, local_ok, as_good_as_it_gets] = scores;
    let set = |n: i64| {
        if n <= 0 {
            ScoreChange::Remove
        } else {
            ScoreChange::Set(n)
        }
    };
    if s.unconfigured || !s.have_quorum {
        return (ScoreChange::Remove, false);
    }
    if policy != PeerPrimaryPolicy::Ignore
        && !s.primary
        && s.some_peer_primary
        && s.some_peer_all_up_to_date
        && (policy == PeerPrimaryPolicy::Remove || unexpected_primary())
    {
        // Connected to a healthy Primary: a promotion here would fail (or split the brain).
        return (ScoreChange::Remove, false);
    }
    if s.diskless_client {
        let c = if s.primary && s.some_peer_all_up_to_date || s.pdsk_all_up_to_date {
            set(as_good_as_it_gets - 1)
        } else if s.some_peer_all_up_to_date {
            set(local_ok - 1)
        } else {
            ScoreChange::Remove
        };
        (c, false)
    } else if s.disk_all_up_to_date {
        if s.primary {
            (set(as_good_as_it_gets), s.pdsk_all_up_to_date)
        } else if s.pdsk_any_unknown {
            // Secondary, and the peer's data unknown: it may be better. Do not outdate here
            // (a monitor racing a Primary crash would make this node useless); the Primary's
            // fence-peer handler is what keeps stale data from being promoted.
            (set(local_ok), false)
        } else {
            (set(as_good_as_it_gets), false)
        }
    } else if s.some_peer_all_up_to_date {
        (set(only_remote), false)
    } else if s.disk_transitional {
        (ScoreChange::Keep, false)
    } else if s.disk_all_consistent {
        (set(only_consistent), false)
    } else {
        // No access to good data: DRBD would refuse promotion anyway. (Not -INFINITY: a
        // negative score stops and restarts the instance.)
        (ScoreChange::Remove, false)
    }
}

/// One action's view of the resource: configuration, kernel module, drbdadm, and the few
/// cluster facts it caches (the score it read, where Pacemaker has the Primary).
struct Session<'a> {
    ctx: &'a Ctx,
    cfg: Config,
    adm: Drbdadm,
    version: Version,
    minors: Vec<u32>,
    /// The score as read from the CIB (None: not read yet).
    current_score: RefCell<Option<Score>>,
    form: Cell<Option<ScoreForm>>,
    no_cluster: Cell<bool>,
    pcmk_primary: RefCell<Option<Vec<String>>>,
    /// The score cache of a recurring monitor or a notification (see score_cache), with its
    /// key and, when it was trusted, how many more monitors may trust it.
    cache: Option<(Cache, String, Option<u32>)>,
    /// crm_attribute was asked in this action (the score is known first-hand).
    asked: Cell<bool>,
    /// A crm_attribute call failed: the score in the CIB is not known.
    score_unknown: Cell<bool>,
}

enum Opened<'a> {
    Ready(Box<Session<'a>>),
    /// A probe of a resource this node's drbd.conf does not define: it cannot run here.
    NotHere,
}

fn deadline(ctx: &Ctx) -> &Deadline {
    &ctx.deadline
}

/// The score cache and its key, for a recurring monitor (which trusts what it holds) and a
/// notification (which trusts nothing, but leaves what it wrote for the next monitor: the
/// first monitor after a promote then asks no one, on the failover's path). Every other action
/// has removed the cache (open).
fn monitor_cache(ctx: &Ctx, cfg: &Config) -> Option<(Cache, String)> {
    let cache = Cache::new(Path::new(ctx.env.rsc_tmp()), ctx.env.instance())?;
    let recurring = ctx.action == Action::Monitor && !ctx.env.is_probe();
    if !recurring && ctx.action != Action::Notify {
        cache.forget();
        return None;
    }
    let hint = cache.stored_key();
    let Some(epoch) =
        pacemaker::transient_epoch(hint.as_deref().and_then(|k| k.split(" | ").next()))
    else {
        // No cluster here: nothing to keep.
        cache.forget();
        return None;
    };
    let key = format!(
        "{epoch} | {} {} {} | {} | {}",
        ctx.env.instance(),
        ctx.env.meta("on_node").unwrap_or("-"),
        cfg.resource,
        pacemaker::tool_fingerprint(),
        drbd::config_fingerprint(cfg.drbdconf.as_deref()),
    );
    Some((cache, key))
}

/// drbd_validate_all: everything every action checks first.
fn open(ctx: &Ctx) -> Result<Opened<'_>> {
    let action = ctx.action;
    if action != Action::Monitor || ctx.env.is_probe() {
        // Also when the configuration is broken: stop must not leave a stale cache behind.
        if let Some(c) = Cache::new(Path::new(ctx.env.rsc_tmp()), ctx.env.instance()) {
            c.forget();
        }
    }
    let cfg = Config::from_ctx(ctx)?;
    if action != Action::Stop {
        check_meta(ctx, None)?;
        if !matches!(action, Action::Monitor | Action::ValidateAll) {
            check_notify(ctx, &cfg)?;
        }
    }
    for program in ["drbdadm", "drbdsetup"] {
        if !pacemaker::have_program(program) {
            ocf_bail!(
                ErrInstalled,
                "Setup problem: couldn't find command: {program}"
            );
        }
    }
    let Some(version) = drbd::module_version(deadline(ctx))? else {
        ocf_bail!(ErrInstalled, "DRBD kernel (module) not available?");
    };
    if let Some(ge) = cfg.version_ge.filter(|ge| version < *ge) {
        ocf_bail!(
            ErrInstalled,
            "required DRBD kernel (module) version -ge {ge}, but found: {version} (require_drbd_module_version_ge)"
        );
    }
    if let Some(lt) = cfg.version_lt.filter(|lt| version >= *lt) {
        ocf_bail!(
            ErrInstalled,
            "required DRBD kernel (module) version -lt {lt}, but found: {version} (require_drbd_module_version_lt)"
        );
    }
    if action != Action::Stop {
        check_meta(ctx, Some(version.is_v9()))?;
    }
    // Not readable here is ERR_INSTALLED, not ERR_CONFIGURED: another node may have it.
    if let Some(conf) = &cfg.drbdconf {
        if std::fs::File::open(conf).is_err() {
            ocf_bail!(
                ErrInstalled,
                "Configuration file {conf} does not exist or is not readable!"
            );
        }
    }
    let cache = monitor_cache(ctx, &cfg);
    let hit = cache
        .as_ref()
        .filter(|_| action == Action::Monitor)
        .and_then(|(c, key)| c.load(key));
    let mut adm = Drbdadm::new(cfg.drbdconf.as_deref());
    if let Some(e) = &hit {
        adm = adm.with_stacked(e.stacked);
    }
    let minors = match &hit {
        Some(e) => Some(e.minors.clone()),
        None => adm.minors(&cfg.resource, deadline(ctx))?,
    };
    let Some(minors) = minors else {
        if action == Action::Monitor && ctx.env.is_probe() {
            return Ok(Opened::NotHere);
        }
        if let Some((c, _)) = &cache {
            c.forget();
        }
        let s = Session::new(ctx, cfg.clone(), adm, version, Vec::new());
        s.set_score(ScoreChange::Remove);
        ocf_bail!(
            ErrInstalled,
            "DRBD resource {} not found in configuration file {}.",
            cfg.resource,
            cfg.drbdconf.as_deref().unwrap_or("(drbdadm's default)")
        );
    };
    if matches!(action, Action::Start | Action::Promote) && ctx.env.promoted_max().unwrap_or(1) > 1
    {
        let dump = adm.run_ok(&["-d", "-v", "dump", &cfg.resource], deadline(ctx))?;
        if !allows_two_primaries(&dump.stdout) {
            ocf_bail!(
                ErrConfigured,
                "master-max > 1, but DRBD resource {} does not allow-two-primaries.",
                cfg.resource
            );
        }
    }
    let mut s = Session::new(ctx, cfg, adm, version, minors);
    if let Some((c, key)) = cache {
        if let Some(e) = &hit {
            *s.current_score.get_mut() = Some(e.score.clone());
            s.form.set(Some(e.form));
        }
        s.cache = Some((c, key, hit.map(|e| e.left)));
    }
    Ok(Opened::Ready(Box::new(s)))
}

fn allows_two_primaries(dump: &str) -> bool {
    dump.lines().any(|l| {
        matches!(
            l.trim(),
            "allow-two-primaries;" | "allow-two-primaries yes;"
        )
    })
}

impl<'a> Session<'a> {
    fn new(
        ctx: &'a Ctx,
        cfg: Config,
        adm: Drbdadm,
        version: Version,
        minors: Vec<u32>,
    ) -> Session<'a> {
        Session {
            ctx,
            cfg,
            adm,
            version,
            minors,
            current_score: RefCell::new(None),
            form: Cell::new(None),
            no_cluster: Cell::new(false),
            pcmk_primary: RefCell::new(None),
            cache: None,
            asked: Cell::new(false),
            score_unknown: Cell::new(false),
        }
    }

    /// This instance's promotion score on this node.
    fn score(&self) -> PromotionScore<'_> {
        let form = self.form.get().unwrap_or_else(|| {
            let f = ScoreForm::detect(self.d(), Some(Path::new(self.ctx.env.rsc_tmp())));
            self.form.set(Some(f));
            f
        });
        score_handle(self.ctx, form)
    }

    /// After a recurring monitor or a post notification: keep what it knows for the next
    /// monitors, or nothing when it is not sure of it.
    fn remember(&self, ok: bool) {
        let Some((cache, key, left)) = &self.cache else {
            return;
        };
        let score = self.current_score.borrow().clone();
        let known = ok && !self.no_cluster.get() && !self.score_unknown.get();
        match (score, self.form.get()) {
            (Some(score @ (Score::Absent | Score::Value(_))), Some(form)) if known => {
                let left = match left {
                    Some(n) if !self.asked.get() => n.saturating_sub(1),
                    _ => TRUSTED_MONITORS - 1,
                };
                cache.store(&Entry {
                    key: key.clone(),
                    score,
                    form,
                    minors: self.minors.clone(),
                    stacked: self.adm.stacked(),
                    left,
                });
            }
            _ => cache.forget(),
        }
    }

    fn d(&self) -> &Deadline {
        &self.ctx.deadline
    }

    fn res(&self) -> &str {
        &self.cfg.resource
    }

    fn state(&self) -> Result<ResourceState> {
        let st = drbd::resource_state(self.version, self.res(), &self.minors, self.d())?;
        tracing::debug!("{}: {}", self.res(), st.describe());
        Ok(st)
    }

    fn adm(&self, args: &[&str]) -> Result<crate::sys::command::Output> {
        self.adm.run(args, self.d())
    }

    // --- promotion score -----------------------------------------------------------------

    fn current_score(&self) -> Option<Score> {
        if self.no_cluster.get() {
            return None;
        }
        if let Some(v) = self.current_score.borrow().clone() {
            return Some(v);
        }
        match self.score().get(self.d()) {
            Ok(Outcome::Done(v)) => {
                self.asked.set(true);
                *self.current_score.borrow_mut() = Some(v.clone());
                Some(v)
            }
            Ok(Outcome::NoCluster) => {
                self.no_cluster.set(true);
                None
            }
            Err(e) => {
                self.score_unknown.set(true);
                tracing::warn!("cannot read the promotion score: {e:#}");
                None
            }
        }
    }

    /// Write the score unless it is known to be that already. A recurring monitor reads it
    /// first (what it learns is cached for the next ones); every other action writes at once,
    /// as the reference does: a read would cost one more crm_attribute on the failover's path,
    /// and attrd changes nothing in the CIB for a value it already has (or a deletion of
    /// none). A failure to record it is logged, never the action's failure (as in the
    /// reference).
    fn set_score(&self, change: ScoreChange) {
        let want = match change {
            ScoreChange::Keep => return,
            ScoreChange::Set(n) if n > 0 => Some(n),
            _ => None,
        };
        let current = if self.ctx.action == Action::Monitor {
            self.current_score()
        } else {
            self.current_score.borrow().clone()
        };
        if self.no_cluster.get() || current.is_some_and(|c| c.is(want)) {
            return;
        }
        match self.score().set(want, self.d()) {
            Ok(Outcome::Done(())) => {
                self.asked.set(true);
                match want {
                    Some(n) => tracing::info!("{}: promotion score set to {n}", self.res()),
                    None => tracing::info!("{}: promotion score removed", self.res()),
                }
                *self.current_score.borrow_mut() = Some(want.map_or(Score::Absent, Score::Value));
            }
            Ok(Outcome::NoCluster) => self.no_cluster.set(true),
            Err(e) => {
                self.score_unknown.set(true);
                tracing::error!("{}: cannot set the promotion score: {e:#}", self.res())
            }
        }
    }

    /// Where Pacemaker has this resource promoted, other than here.
    fn pcmk_primary_peer(&self) -> Option<String> {
        if self.pcmk_primary.borrow().is_none() {
            let nodes = match pacemaker::promoted_nodes(self.ctx.env.instance(), self.d()) {
                Ok(Outcome::Done(n)) => n,
                Ok(Outcome::NoCluster) => Vec::new(),
                Err(e) => {
                    tracing::warn!("crm_resource --locate: {e:#}");
                    Vec::new()
                }
            };
            *self.pcmk_primary.borrow_mut() = Some(nodes);
        }
        let me = self.ctx.env.node_name();
        self.pcmk_primary
            .borrow()
            .as_ref()
            .and_then(|n| n.iter().find(|n| !n.eq_ignore_ascii_case(&me)).cloned())
    }

    /// A Primary peer that Pacemaker does not know about, in a single-Primary setup.
    fn unexpected_primary(&self, s: &Summary) -> bool {
        self.ctx.env.promoted_max().unwrap_or(1) == 1
            && !s.primary
            && s.some_peer_primary
            && self.pcmk_primary_peer().is_none()
    }

    fn update_score(&self, st: &ResourceState) {
        let s = st.summary();
        let (change, unfence) = score_for(&s, self.cfg.scores, self.cfg.peer_primary, || {
            self.unexpected_primary(&s)
        });
        if change != ScoreChange::Keep {
            tracing::debug!("{}: {}: score {change:?}", self.res(), st.describe());
        }
        self.set_score(change);
        if unfence && self.cfg.unfence_if_all_uptodate {
            self.unfence();
        }
    }

    /// The unfence hook (crm-unfence-peer.9.sh) removes a stale fencing constraint; it reads
    /// its options from OCF_RESKEY_unfence_extra_args.
    fn unfence(&self) {
        let env = [(
            "OCF_RESKEY_unfence_extra_args",
            self.cfg.unfence_extra_args.as_str(),
        )];
        match self
            .adm
            .run_env(&["unfence-peer", self.res()], &env, self.d())
        {
            Ok(out) => tracing::debug!("unfence exit code: {}", out.describe()),
            Err(e) => tracing::warn!("drbdadm unfence-peer: {e:#}"),
        }
    }

    // --- helpers of the actions ----------------------------------------------------------

    /// The peer's node name from the notification variables (8.4 multi-peer configurations
    /// need `--peer`; drbd-utils >= 9.21 rejects it with DRBD 9).
    fn notify_peer(&self) -> Option<String> {
        if self.version.is_v9() {
            return None;
        }
        let me = self.ctx.env.node_name();
        let env = &self.ctx.env;
        [
            "start_uname",
            "promote_uname",
            "promoted_uname",
            "master_uname",
            "unpromoted_uname",
            "slave_uname",
            "demote_uname",
        ]
        .iter()
        .flat_map(|l| env.notify_list(l))
        .find(|n| !n.eq_ignore_ascii_case(&me))
        .map(str::to_owned)
    }

    fn adjust(&self, extra: &[&str]) -> Result<crate::sys::command::Output> {
        let mut args: Vec<String> = Vec::new();
        if let Some(peer) = self.notify_peer() {
            args.extend(["--peer".to_owned(), peer]);
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend(["adjust".to_owned(), self.res().to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.adm(&args)
    }

    /// Wait (at most wfc_timeout, and never past the deadline) for the connection.
    fn wait_connect(&self, peer: Option<&str>) {
        let Some(t) = self.cfg.wfc_timeout else {
            return;
        };
        let opts = [
            format!("--wfc-timeout={t}"),
            format!("--degr-wfc-timeout={t}"),
            format!("--outdated-wfc-timeout={t}"),
        ];
        // drbdsetup's own timeout is wfc_timeout (0: none); ours leaves time for the rest of
        // start, which goes on when the peer is not there yet (the reference's start would
        // hang in drbdsetup until Pacemaker's timeout).
        let bound = |d: &Deadline| match t {
            0 => d.portion(0.9),
            t => d.within(Duration::from_secs(t + 2)).portion(0.9),
        };
        let mut runs: Vec<Vec<String>> = Vec::new();
        if self.version.is_v9() {
            match peer {
                Some(p) => {
                    let dry = self.adm(&["-d", "connect", &format!("{}:{p}", self.res())]);
                    match dry.ok().filter(|o| o.success()) {
                        Some(o) => runs.extend(wait_connect_connection(&o.stdout)),
                        None => tracing::warn!(
                            "Please use matching node names for hostname, uname, corosync, pacemaker and DRBD! Not a valid DRBD peer: '{p}'"
                        ),
                    }
                }
                None => runs.push(vec![
                    "wait-connect-resource".to_owned(),
                    self.res().to_owned(),
                ]),
            }
        } else {
            for m in &self.minors {
                runs.push(vec!["wait-connect".to_owned(), m.to_string()]);
            }
        }
        for mut argv in runs {
            argv.extend(opts.iter().cloned());
            match crate::sys::command::run("drbdsetup", &argv, &bound(self.d())) {
                Ok(o) if o.success() => {}
                Ok(o) => {
                    tracing::info!("drbdsetup {}: {} {}", argv[0], o.describe(), o.last_line())
                }
                Err(e) => tracing::info!("drbdsetup {}: {e:#}", argv[0]),
            }
        }
    }

    /// Bring the connection up (the reference's do_connect).
    fn connect(&self) {
        if self.version.is_v9() {
            if let Some(p) = self.pcmk_primary_peer() {
                let _ = self.adm(&["adjust", &format!("{}:{p}", self.res())]);
                self.wait_connect(Some(&p));
            }
        }
        if let Ok(o) = self.adjust(&[]) {
            if !o.success() {
                tracing::warn!("drbdadm adjust {}: {}", self.res(), o.last_line());
            }
        }
        self.wait_connect(None);
    }

    /// Create the resource in the kernel and attach its disks, without the network (the
    /// reference's create_device_udev_settle and do_attach): a failed attach is told apart
    /// from a network that is not there yet, and DRBD 9 can connect to the Primary first.
    fn bring_up(&self) -> Result<crate::sys::command::Output> {
        if !self.version.is_v9() {
            for step in ["new-resource", "new-minor"] {
                let out = self.adm(&[step, self.res()])?;
                if !out.success() {
                    ocf_bail!(
                        ErrGeneric,
                        "cannot create {}: drbdadm {step}: {}",
                        self.res(),
                        out.last_line()
                    );
                }
            }
        }
        self.attach()
    }

    /// Attach the disks of a created resource (for DRBD 9 diskless clients, a no-op).
    fn attach(&self) -> Result<crate::sys::command::Output> {
        if self.version.is_v9() {
            self.adm(&["adjust", "--skip-net", self.res()])
        } else {
            self.adm(&["attach", self.res()])
        }
    }

    /// drbd-utils' maybe_outdate_self: a Secondary that cannot reach the Primary Pacemaker
    /// reports marks its own data Outdated, so it cannot be promoted with stale data.
    fn maybe_outdate_self(&self, st: &ResourceState) -> bool {
        if !self.cfg.stop_outdates_secondary {
            return false;
        }
        let env = &self.ctx.env;
        let me = env.node_name();
        // promote_uname is ignored on purpose: a demote and promote of a stacked resource in one
        // transition would see it and outdate the data the promote is about to use.
        let mut masters = env.notify_list("promoted_uname");
        if masters.is_empty() {
            masters = env.notify_list("master_uname");
        }
        let Some(host) = masters.into_iter().find(|h| !h.eq_ignore_ascii_case(&me)) else {
            return false;
        };
        if env.notify_list("stop_uname").contains(&host) {
            // A post-stop notification of that host: the promoted list is stale.
            return false;
        }
        if st.role == Role::Primary {
            tracing::error!(
                "resource internal SPLIT BRAIN: both {me} and {host} are Primary for {}, but the replication link is down!",
                self.res()
            );
            return false;
        }
        tracing::warn!(
            "outdating {}: according to the notification variables, '{host}' is still Primary",
            self.res()
        );
        if let Ok(o) = self.adm(&["outdate", self.res()]) {
            if !o.success() {
                tracing::error!("drbdadm outdate {}: {}", self.res(), o.last_line());
            }
        }
        self.set_score(ScoreChange::Remove);
        true
    }

    /// Before attempt `attempt` of promote, demote or stop: the first goes at once, and so
    /// does the second (it checks what the first command did, as the reference's
    /// `$first_try || sleep 1` does: a sleep there cost every promote, demote and stop a
    /// second); later ones a second apart. False when the deadline leaves no room for another.
    fn retry(&self, attempt: u32) -> bool {
        match attempt {
            0 => true,
            1 => self.d().remaining() > Duration::from_millis(1500),
            _ => self.pause(),
        }
    }

    /// Sleep a second between retries; false when the deadline leaves no room for another.
    fn pause(&self) -> bool {
        self.d().remaining() > Duration::from_millis(1500) && self.d().sleep(Duration::from_secs(1))
    }

    // --- the actions -----------------------------------------------------------------------

    fn monitor(&self) -> Result<OcfCode> {
        let r = self.monitor_state();
        self.remember(r.is_ok());
        r
    }

    fn monitor_state(&self) -> Result<OcfCode> {
        let st = self.state()?;
        let code = code_of_state(&st);
        // A probe that finds nothing running leaves the score alone (the instance is about to
        // be started); every other monitor, probes of a running DRBD included, re-scores.
        if !(code == OcfCode::NotRunning && self.ctx.env.is_probe()) {
            self.update_score(&st);
        }
        Ok(code)
    }

    fn start(&self) -> Result<OcfCode> {
        if !drbd::module_loaded() {
            load_module(self.ctx)?;
        }
        let has_disks = self.adm.has_disks(self.res(), self.d());
        // Why the attach failed (exit code, or disks left Diskless), until it is retried.
        let mut attach_failed: Option<String> = None;
        let mut retried = false;
        let mut attached = false;
        // The reference's loop without its sleep after the first step: a step that worked is
        // looked at again at once, a failed one (or a third look) after a pause.
        let mut pause = false;
        for attempt in 0.. {
            if (pause || attempt >= 2) && !self.pause() {
                ocf_bail!(ErrGeneric, "{} did not come up in time", self.res());
            }
            pause = false;
            let st = self.state()?;
            match code_of_state(&st) {
                OcfCode::RunningPromoted => {
                    tracing::warn!("{} already Primary, demoting.", self.res());
                    pause = !self.adm(&["secondary", self.res()])?.success();
                }
                OcfCode::NotRunning => {
                    if attempt == 0 {
                        // Offline resize with internal metadata moves the metadata first.
                        let _ = self.adm(&["check-resize", self.res()]);
                    }
                    let out = self.bring_up()?;
                    attached = true;
                    if !out.success() {
                        // A second failure will not get better by waiting for the timeout.
                        if let Some(why) = attach_failed {
                            ocf_bail!(ErrGeneric, "failed to attach: {why}");
                        }
                        attach_failed = Some(out.last_line().to_owned());
                        pause = true;
                    }
                }
                _ => {
                    let missing = match &has_disks {
                        Some(has) if attached => attach_verdict(&st, &self.minors, has),
                        _ => None,
                    };
                    if let Some(why) = attach_failed.take().or(missing) {
                        tracing::warn!("{}: attach failed: {why}", self.res());
                        // Once more on the created resource, as the reference does.
                        if retried {
                            ocf_bail!(ErrGeneric, "failed to attach: {why}");
                        }
                        retried = true;
                        let out = self.attach()?;
                        if !out.success() {
                            ocf_bail!(ErrGeneric, "failed to attach: {}", out.last_line());
                        }
                        continue;
                    }
                    if !self.cfg.connect_only_after_promote {
                        self.connect();
                    }
                    break;
                }
            }
        }
        // Filesystems on top need the device nodes, which udev creates asynchronously.
        let nodes = self.d().poll(Duration::from_millis(100), || {
            drbd::device_nodes_exist(&self.minors).then_some(())
        });
        if nodes.is_none() {
            ocf_bail!(ErrGeneric, "expected device nodes did not appear (in time)");
        }
        // In case no monitor is configured, and so that Pacemaker can promote at once: score
        // now, as the reference does (PAF#80: agents that only scored in monitors sat
        // unpromoted).
        let st = self.state()?;
        self.update_score(&st);
        tracing::info!("{} started: {}", self.res(), st.describe());
        Ok(OcfCode::Success)
    }

    fn promote(&self) -> Result<OcfCode> {
        let t0 = std::time::Instant::now();
        let mut last: Option<String> = None;
        let mut attempt = 0;
        let result = loop {
            if !self.retry(attempt) {
                break Err(ocf_err!(
                    ErrGeneric,
                    "{} could not be promoted in time{}",
                    self.res(),
                    suffix(&last)
                ));
            }
            attempt += 1;
            let st = self.state()?;
            match code_of_state(&st) {
                OcfCode::RunningPromoted => {
                    if self.cfg.connect_only_after_promote {
                        let _ = self.adjust(&["-v"]);
                    }
                    break Ok(OcfCode::Success);
                }
                OcfCode::NotRunning => {
                    break Err(ocf_err!(
                        ErrGeneric,
                        "cannot promote a resource that was not started"
                    ));
                }
                _ => {
                    let s = st.summary();
                    if attempt > 1 && self.unexpected_primary(&s) {
                        if self.cfg.fail_promote_early_if_peer_primary {
                            self.set_score(ScoreChange::Remove);
                            break Err(ocf_err!(ErrGeneric, "Peer node already/still Primary"));
                        }
                        tracing::info!(
                            "Peer node already/still Primary, promote will likely fail or need several attempts. Retrying anyways."
                        );
                    }
                    let out = self.adm(&["primary", self.res()])?;
                    if out.status.code() == Some(DRBDADM_NEED_UPTODATE) {
                        break Err(ocf_err!(
                            ErrGeneric,
                            "Refusing to be promoted to Primary without access to UpToDate data"
                        ));
                    }
                    if !out.success() {
                        last = Some(out.last_line().to_owned());
                    }
                }
            }
        };
        if result.is_err() {
            // A promote that fails at once would be retried by Pacemaker in a tight loop.
            let min = Duration::from_secs(15);
            if let Some(rest) = min.checked_sub(t0.elapsed()) {
                tracing::warn!(
                    "promotion failed; sleep {}s to prevent a tight recovery loop",
                    rest.as_secs()
                );
                self.d().sleep(rest);
            }
        }
        result
    }

    fn demote(&self) -> Result<OcfCode> {
        let mut last: Option<String> = None;
        for attempt in 0.. {
            if !self.retry(attempt) {
                break;
            }
            match code_of_state(&self.state()?) {
                OcfCode::Success => return Ok(OcfCode::Success),
                OcfCode::NotRunning => {
                    tracing::error!("Trying to demote a resource that was not started");
                    return Ok(OcfCode::NotRunning);
                }
                _ => {
                    let out = self.adm(&["secondary", self.res()])?;
                    if !out.success() {
                        // Typically "Device is held open by someone": a user of the device
                        // (a mount) that should have been stopped first.
                        last = Some(out.last_line().to_owned());
                    }
                }
            }
        }
        ocf_bail!(
            ErrGeneric,
            "{} could not be demoted in time{}",
            self.res(),
            suffix(&last)
        )
    }

    fn stop(&self) -> Result<OcfCode> {
        let mut last: Option<String> = None;
        let mut stopped = None;
        for attempt in 0.. {
            if !self.retry(attempt) {
                break;
            }
            let st = self.state()?;
            match code_of_state(&st) {
                OcfCode::NotRunning => {
                    // Deconfigured but maybe not yet removed (8.4): down it anyway, ignoring
                    // the outcome, as the reference does.
                    if drbd::module_loaded() {
                        let _ = self.adm(&["down", self.res()]);
                    }
                    stopped = Some(st);
                    break;
                }
                OcfCode::RunningPromoted => {
                    tracing::warn!("{} still Primary, demoting.", self.res());
                    let out = self.adm(&["secondary", self.res()])?;
                    if !out.success() {
                        last = Some(out.last_line().to_owned());
                    }
                }
                _ => {
                    let out = self.adm(&["down", self.res()])?;
                    if !out.success() {
                        last = Some(out.last_line().to_owned());
                    }
                }
            }
        }
        let Some(st) = stopped else {
            ocf_bail!(
                ErrGeneric,
                "{} could not be stopped in time{}",
                self.res(),
                suffix(&last)
            )
        };
        self.maybe_outdate_self(&st);
        // An old score would make Pacemaker want to promote here (e.g. after standby).
        self.set_score(ScoreChange::Remove);
        Ok(OcfCode::Success)
    }

    fn notify(&self) -> Result<OcfCode> {
        let env = &self.ctx.env;
        let (kind, op) = (
            env.notify_type().unwrap_or(""),
            env.notify_operation().unwrap_or(""),
        );
        tracing::debug!("notify {kind}-{op}");
        if op == "start" {
            // A peer is (being) started: adjust brings our side of the connection up, needed
            // when the resource has more than one possible peer or we are StandAlone.
            if !self.cfg.connect_only_after_promote {
                match self.adjust(&["-v"]) {
                    Ok(o) if !o.success() => {
                        tracing::warn!("drbdadm adjust {}: {}", self.res(), o.last_line())
                    }
                    Err(e) => tracing::warn!("drbdadm adjust {}: {e:#}", self.res()),
                    _ => {}
                }
            }
        } else if kind == "post" {
            let st = self.state()?;
            self.update_score(&st);
            // Still not talking to the peer: maybe someone else is Primary.
            let outdated = st.summary().pdsk_any_unknown && self.maybe_outdate_self(&st);
            self.remember(!outdated);
        }
        Ok(OcfCode::Success)
    }

    fn reload(&self) -> Result<OcfCode> {
        let st = self.state()?;
        let running = st.is_running();
        if running {
            let _ = self.adm(&["adjust", self.res()]);
        }
        // adjust_master_score may have changed: re-score.
        self.update_score(&self.state()?);
        if running {
            Ok(OcfCode::Success)
        } else {
            ocf_bail!(
                ErrGeneric,
                "{} is not running, nothing to reload",
                self.res()
            )
        }
    }
}

fn suffix(last: &Option<String>) -> String {
    last.as_deref()
        .map(|l| format!(": {l}"))
        .unwrap_or_default()
}

/// `drbdadm -d connect <res>:<peer>` prints `drbdsetup connect <res> <peer-node-id>
/// [options]`: the wait for that connection is `wait-connect-connection <res> <peer-node-id>`
/// (connect's options are not wait-connect's).
pub fn wait_connect_connection(dry_run: &str) -> Option<Vec<String>> {
    dry_run.lines().find_map(|line| {
        let mut w = line
            .split_whitespace()
            .skip_while(|w| *w != "connect")
            .skip(1);
        let (res, node_id) = (w.next()?, w.next()?);
        Some(vec![
            "wait-connect-connection".to_owned(),
            res.to_owned(),
            node_id.to_owned(),
        ])
    })
}

/// After an attach: None when every volume the configuration gives a disk has it, else why not.
pub fn attach_verdict(st: &ResourceState, minors: &[u32], has_disks: &[bool]) -> Option<String> {
    let missing = st.missing_disks(minors, has_disks);
    (!missing.is_empty()).then(|| {
        let m: Vec<String> = missing.iter().map(|m| format!("/dev/drbd{m}")).collect();
        format!("{} Diskless ({})", m.join(", "), st.describe())
    })
}

fn score_handle(ctx: &Ctx, form: ScoreForm) -> PromotionScore<'_> {
    PromotionScore {
        instance: ctx.env.instance(),
        node: ctx.env.meta("on_node"),
        form,
    }
}

fn code_of_state(st: &ResourceState) -> OcfCode {
    match (st.is_running(), st.role) {
        (false, _) => OcfCode::NotRunning,
        (true, Role::Primary) => OcfCode::RunningPromoted,
        _ => OcfCode::Success,
    }
}

/// Stop must succeed whenever it can: a failed stop gets the node fenced. When the normal
/// path cannot even begin (the configuration broke while DRBD runs), down the resource by name.
fn stop_without_config(ctx: &Ctx, err: anyhow::Error) -> Result<OcfCode> {
    // Whatever happens below, an old score must not make Pacemaker promote here.
    let form = ScoreForm::detect(&ctx.deadline, Some(Path::new(ctx.env.rsc_tmp())));
    if let Err(e) = score_handle(ctx, form).set(None, &ctx.deadline) {
        tracing::warn!("cannot remove the promotion score: {e:#}");
    }
    if !drbd::module_loaded() {
        // No module, no DRBD resource: stopped.
        tracing::info!("DRBD module not loaded: nothing to stop ({err:#})");
        return Ok(OcfCode::Success);
    }
    let res = ctx.params.str("drbd_resource").trim();
    tracing::error!(
        "validate error on stop: {err:#}; trying 'drbdsetup down {res}' directly to avoid fencing"
    );
    match crate::sys::command::run("drbdsetup", &["down", res], &ctx.deadline) {
        Ok(o) if o.success() => {
            tracing::error!("fencing of this node narrowly avoided. FIX YOUR SETUP!");
            Ok(OcfCode::Success)
        }
        Ok(o) => Err(err.context(format!(
            "drbdsetup down {res} failed too: {}",
            o.last_line()
        ))),
        Err(e) => Err(err.context(format!("drbdsetup down {res} failed too: {e:#}"))),
    }
}

impl Agent for Drbd {
    fn name(&self) -> &'static str {
        "drbd"
    }

    fn metadata_xml(&self) -> &'static str {
        include_str!("../../../ocf-metadata/drbd.xml")
    }

    fn identity(&self) -> &'static [&'static str] {
        &["drbd_resource"]
    }

    fn validate(&self, ctx: &Ctx) -> Result<()> {
        open(ctx).map(|_| ())
    }

    fn start(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.start())
    }

    fn stop(&self, ctx: &Ctx) -> Result<OcfCode> {
        match open(ctx) {
            Ok(Opened::Ready(s)) => s.stop(),
            Ok(Opened::NotHere) => Ok(OcfCode::Success),
            Err(e) => stop_without_config(ctx, e),
        }
    }

    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.monitor())
    }

    fn promote(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.promote())
    }

    fn demote(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.demote())
    }

    fn notify(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.notify())
    }

    fn reload(&self, ctx: &Ctx) -> Result<OcfCode> {
        with_session(ctx, |s| s.reload())
    }
}

fn with_session(ctx: &Ctx, f: impl FnOnce(&Session) -> Result<OcfCode>) -> Result<OcfCode> {
    match open(ctx)? {
        Opened::Ready(s) => f(&s),
        Opened::NotHere => Ok(OcfCode::NotRunning),
    }
}

/// `modprobe -s drbd <drbdadm sh-mod-parms>` (e.g. usermode_helper=disabled for DRBD 9).
fn load_module(ctx: &Ctx) -> Result<()> {
    let conf = ctx.params.opt("drbdconf");
    let adm = Drbdadm::new(conf.filter(|c| safe_name(c)));
    let parms = adm
        .run(&["sh-mod-parms"], &ctx.deadline)
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut args = vec!["-s", "drbd"];
    args.extend(parms.split_whitespace());
    crate::sys::command::run_ok("modprobe", &args, &ctx.deadline)
        .ocf(OcfCode::ErrInstalled, "Cannot load the drbd module.")?;
    tracing::debug!("drbd module loaded");
    Ok(())
}

#[cfg(test)]
mod tests;
