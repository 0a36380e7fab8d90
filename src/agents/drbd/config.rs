//! drbd's parameters → [`Config`]: the one place they are checked. drbd_resource names the
//! resource and is judged in every action; the others as the action reads them ([`read`]).

use crate::ocf::env::is_true;
use crate::ocf::Ctx;
use crate::sys::drbd::Version;
use crate::{ocf_bail, ocf_err};
use anyhow::Result;

/// The reference's adjust_master_score default: only Consistent, only remote UpToDate, local
/// UpToDate with the peer unknown, local UpToDate with Primary or the peer known.
pub const DEFAULT_SCORES: [i64; 4] = [0, 10, 1000, 10000];

/// Names allowed in drbd_resource and drbdconf (the reference's own whitelist).
pub(super) fn safe_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-%+./:=@_".contains(&b))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerPrimaryPolicy {
    Ignore,
    Remove,
    RemoveIfUnexpected,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub resource: String,
    pub drbdconf: Option<String>,
    pub scores: [i64; 4],
    pub stop_outdates_secondary: bool,
    pub ignore_missing_notifications: bool,
    /// None: do not wait for the connection after start. Some(0): until it is up (drbdsetup's
    /// 0), within the deadline.
    pub wfc_timeout: Option<u64>,
    pub peer_primary: PeerPrimaryPolicy,
    pub fail_promote_early_if_peer_primary: bool,
    pub unfence_if_all_uptodate: bool,
    pub unfence_extra_args: String,
    pub version_ge: Option<Version>,
    pub version_lt: Option<Version>,
    pub connect_only_after_promote: bool,
}

/// Read `name` as [`crate::ocf::Params::parse`] does (strictly in validate-all and start only:
/// an OCF_ERR_CONFIGURED from monitor, notify or reload stops the clone on every node), an empty
/// value being the default (the reference's `${X:=default}`).
pub(super) fn read<T>(ctx: &Ctx, name: &str, f: impl Fn(&str) -> Result<T>) -> Result<T> {
    let default = ctx
        .metadata
        .param(name)
        .and_then(|s| s.default.as_deref())
        .unwrap_or("");
    ctx.params.parse(name, |v| {
        f(Some(v.trim()).filter(|v| !v.is_empty()).unwrap_or(default))
    })
}

/// The parameter, or its default when unset or empty (the reference's `${X:=default}`).
pub(super) fn param<'c>(ctx: &'c Ctx, name: &str) -> &'c str {
    ctx.params
        .opt(name)
        .or_else(|| ctx.metadata.param(name)?.default.as_deref())
        .unwrap_or("")
}

impl Config {
    /// The instance parameters: drbd_resource names the resource and is judged in every
    /// action; the others only in validate-all and start ([`read`]).
    pub fn from_ctx(ctx: &Ctx) -> Result<Config> {
        let p = &ctx.params;
        let resource = p.str("drbd_resource").trim().to_owned();
        if resource.is_empty() {
            ocf_bail!(
                ErrConfigured,
                "No resource name specified! (parameter drbd_resource)"
            );
        }
        if !safe_name(&resource) {
            ocf_bail!(
                ErrConfigured,
                "parameter drbd_resource: resource name must only contain [-%+./0-9:=@A-Z_a-z], got {resource:?}"
            );
        }
        let drbdconf = read(ctx, "drbdconf", |c| {
            if !safe_name(c) {
                ocf_bail!(
                    ErrConfigured,
                    "parameter drbdconf: drbdconf name must only contain [-%+./0-9:=@A-Z_a-z], got {c:?}"
                );
            }
            Ok(Some(c.to_owned()).filter(|c| !c.is_empty()))
        })?;
        let version = |name: &str| -> Result<Option<Version>> {
            read(ctx, name, |v| match v {
                "" => Ok(None),
                v => match Version::parse_strict(v) {
                    Some(v) => Ok(Some(v)),
                    None => ocf_bail!(
                        ErrConfigured,
                        "parameter {name}: invalid version format '{v}' (expected x.y.z)"
                    ),
                },
            })
        };
        let scores = read(ctx, "adjust_master_score", |v| {
            parse_scores(v)
                .map_err(|why| ocf_err!(ErrConfigured, "parameter adjust_master_score: {why}"))
        })?;
        // The reference: any non-digit means "do not wait".
        let wfc = param(ctx, "wfc_timeout");
        let wfc_timeout = if wfc.bytes().all(|b| b.is_ascii_digit()) {
            wfc.parse().ok()
        } else {
            tracing::debug!("non-digits in wfc_timeout ({wfc}), going to not wait at all");
            None
        };
        let rm = p.str("remove_master_score_if_peer_primary");
        let peer_primary = if is_true(rm) {
            PeerPrimaryPolicy::Remove
        } else if rm.trim() == "unexpected" {
            PeerPrimaryPolicy::RemoveIfUnexpected
        } else {
            PeerPrimaryPolicy::Ignore
        };
        Ok(Config {
            drbdconf,
            scores,
            stop_outdates_secondary: p.bool("stop_outdates_secondary")?,
            ignore_missing_notifications: p.bool("ignore_missing_notifications")?,
            wfc_timeout,
            peer_primary,
            fail_promote_early_if_peer_primary: p.bool("fail_promote_early_if_peer_primary")?,
            unfence_if_all_uptodate: p.bool("unfence_if_all_uptodate")?,
            unfence_extra_args: param(ctx, "unfence_extra_args").to_owned(),
            version_ge: version("require_drbd_module_version_ge")?,
            version_lt: version("require_drbd_module_version_lt")?,
            connect_only_after_promote: p.bool("connect_only_after_promote")?,
            resource,
        })
    }
}

/// Four non-negative, non-decreasing integers.
pub fn parse_scores(s: &str) -> std::result::Result<[i64; 4], String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() != 4 {
        return Err(format!("expected 4 values, found {} in {s:?}", words.len()));
    }
    let mut out = [0i64; 4];
    for (i, w) in words.iter().enumerate() {
        if !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{w:?} is not a non-negative integer"));
        }
        out[i] = w.parse().map_err(|_| format!("{w:?} is too large"))?;
        if i > 0 && out[i] < out[i - 1] {
            return Err(format!(
                "values must not decrease ({} > {})",
                out[i - 1],
                out[i]
            ));
        }
    }
    Ok(out)
}
