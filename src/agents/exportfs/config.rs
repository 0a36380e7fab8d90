//! exportfs's parameters → [`Config`]: the one place they are checked. clientspec and directory
//! name the export and are judged in every action; the others as the action reads them
//! ([`crate::ocf::Params::parse`]).

use crate::ocf::{Action, Ctx, OcfCode, OcfError};
use crate::ocf_bail;
use crate::sys::command;
use crate::sys::nfs::Export;
use anyhow::{Context, Result};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tracing::{debug, warn};

/// The configuration of one exportfs resource, checked and resolved.
#[derive(Debug)]
pub(super) struct Config {
    /// As the admin wrote it: exportfs(8) takes IPv6 addresses in brackets.
    pub(super) clientspec: String,
    /// As etab lists it: IPv6 without brackets.
    pub(super) client: String,
    /// Canonical directories, in the order given.
    pub(super) dirs: Vec<String>,
    pub(super) fsid: String,
    pub(super) options: Option<String>,
    pub(super) unlock_on_stop: bool,
    pub(super) wait_for_leasetime_on_stop: bool,
    pub(super) rmtab_backup: Option<String>,
    pub(super) state_file: PathBuf,
    /// Directories that do not exist (tolerated for stop and monitor, as by the reference).
    pub(super) missing: Vec<String>,
}

impl Config {
    pub(super) fn from_ctx(ctx: &Ctx) -> Result<Config> {
        let p = &ctx.params;
        let clientspec = p.str("clientspec").trim().to_owned();
        if clientspec.split_whitespace().count() > 1 {
            ocf_bail!(
                ErrConfigured,
                "parameter clientspec: {clientspec:?} holds several client specifications; \
                 configure one exportfs resource per client specification"
            );
        }
        // IPv6 addresses and networks may be written in brackets (exportfs needs them to tell
        // the address from the path); etab lists them bare (PR#906/#907).
        let client = if clientspec.matches(':').count() >= 2 {
            clientspec.replace(['[', ']'], "")
        } else {
            clientspec.clone()
        };
        let options = p.parse("options", |o| {
            if o.chars().any(char::is_whitespace) {
                ocf_bail!(
                    ErrConfigured,
                    "parameter options: {o:?} contains white space; separate options with commas"
                );
            }
            Ok(Some(o.to_owned()).filter(|o| !o.is_empty()))
        })?;
        // Tolerated where parameters are read leniently (stop, monitor): the filesystem may
        // be gone.
        let tolerate_missing = p.lenient();
        let mut dirs = Vec::new();
        let mut missing = Vec::new();
        for d in p.str("directory").split_whitespace() {
            let trimmed = d.trim_end_matches('/');
            let d = if trimmed.is_empty() { "/" } else { trimmed };
            // Bounded: the exported filesystem may be dead (a failed disk under it).
            let resolved = command::canonicalize(Path::new(d), &ctx.deadline.portion(0.5))
                .unwrap_or_else(|e| {
                    Err(std::io::Error::new(ErrorKind::TimedOut, format!("{e:#}")))
                });
            match resolved {
                // exportfs(8) would add it to etab and then fail; the reference refuses it in
                // validate-all, before anything is changed.
                Ok(c) if !c.is_dir() => {
                    if !tolerate_missing {
                        ocf_bail!(ErrConfigured, "parameter directory: {d} is not a directory");
                    }
                    debug!("{d} is not a directory");
                    missing.push(d.to_owned());
                    dirs.push(c.to_string_lossy().into_owned());
                }
                Ok(c) => dirs.push(c.to_string_lossy().into_owned()),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if !tolerate_missing {
                        ocf_bail!(ErrConfigured, "parameter directory: {d} does not exist");
                    }
                    debug!("{d} does not exist");
                    missing.push(d.to_owned());
                    dirs.push(d.to_owned());
                }
                // readlink -f failing (EIO on a broken disk): the reference fails too, except
                // on stop, where the path as given is the best guess.
                Err(e) if ctx.action == Action::Stop => {
                    warn!("cannot canonicalize {d}: {e}; using it as given");
                    dirs.push(d.to_owned());
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        OcfError::new(OcfCode::ErrGeneric, format!("cannot canonicalize {d}"))
                    })
                }
            }
        }
        if dirs.is_empty() {
            ocf_bail!(ErrConfigured, "parameter directory: no directory given");
        }
        let fsid = p.parse("fsid", |fsid| parse_fsid(fsid.trim(), dirs.len()))?;
        let rmtab_backup = p
            .opt("rmtab_backup")
            .filter(|b| *b != "none")
            .map(str::to_owned);
        Ok(Config {
            clientspec,
            client,
            dirs,
            fsid,
            options,
            unlock_on_stop: p.bool("unlock_on_stop")?,
            wait_for_leasetime_on_stop: p.bool("wait_for_leasetime_on_stop")?,
            rmtab_backup,
            state_file: Path::new(ctx.env.rsc_tmp()).join(ctx.env.instance()),
            missing,
        })
    }

    /// The fsid of the i-th directory: fsid, fsid+1, … when there are several.
    pub(super) fn fsid_of(&self, i: usize) -> String {
        if self.dirs.len() > 1 && i > 0 {
            let base: u64 = self.fsid.parse().unwrap_or(0);
            (base + i as u64).to_string()
        } else {
            self.fsid.clone()
        }
    }

    pub(super) fn target(&self, dir: &str) -> String {
        format!("{}:{dir}", self.clientspec)
    }

    pub(super) fn listed(&self, etab: &[Export], dir: &str) -> bool {
        etab.iter()
            .any(|e| e.path == dir && e.client.eq_ignore_ascii_case(&self.client))
    }

    /// The backup's path relative to `dir`, whose clients may write there.
    pub(super) fn backup_path(&self) -> Option<&Path> {
        // The reference concatenates "$dir/$rmtab_backup"; an absolute value stays below dir.
        self.rmtab_backup
            .as_deref()
            .map(|b| Path::new(b.trim_start_matches('/')))
    }
}

/// fsid as exportfs(8) takes it, for `n` directories (fsid, fsid+1, …). Empty only where
/// the parameter is unset, which start refuses as a missing required parameter.
pub(super) fn parse_fsid(fsid: &str, n: usize) -> Result<String> {
    if fsid.contains(',') {
        ocf_bail!(
            ErrConfigured,
            "parameter fsid: {fsid:?} cannot contain a comma"
        );
    }
    if fsid.is_empty() {
        return Ok(String::new());
    }
    if n > 1 && !is_decimal(fsid) {
        ocf_bail!(
            ErrConfigured,
            "parameter fsid: {fsid:?} must be an integer when exporting several directories \
             (they get fsid, fsid+1, ...)"
        );
    }
    match fsid_number(fsid) {
        // exportfs(8) keeps the low 32 bits of a larger number: another resource's fsid.
        Some(v) if v.saturating_add(n as u64 - 1) > u64::from(u32::MAX) => {
            ocf_bail!(
                ErrConfigured,
                "parameter fsid: {fsid:?}{} does not fit in 32 bits (at most {})",
                if n > 1 {
                    " plus the number of directories"
                } else {
                    ""
                },
                u32::MAX
            )
        }
        Some(_) => {}
        None if fsid == "root" || is_uuid(fsid) => {}
        None => ocf_bail!(
            ErrConfigured,
            "parameter fsid: {fsid:?} is not a 32-bit number, a UUID (32 hex digits) or \
             \"root\""
        ),
    }
    Ok(fsid.to_owned())
}

pub(super) fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The number exportfs(8) reads from fsid= (strtoul base 0: 0x hex, leading-0 octal, decimal);
/// None when it is not all one number. Larger than u64: u64::MAX (strtoul's ERANGE).
pub(super) fn fsid_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX))
}

/// exportfs(8)'s valid_uuid: 32 hex digits, whatever the punctuation.
pub(super) fn is_uuid(s: &str) -> bool {
    s.bytes().filter(u8::is_ascii_hexdigit).count() == 32
}
