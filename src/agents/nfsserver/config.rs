//! nfsserver's parameters → [`Config`]: the one place they are checked. nfs_shared_infodir
//! names what the resource holds on the node and is judged in every action; the others as the
//! action reads them ([`crate::ocf::Params::parse`]).

use crate::ocf::Ctx;
use crate::sys::{nfs, systemd};
use crate::{ocf_bail, ocf_err};
use anyhow::Result;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub(super) const VAR_LIB_NFS: &str = "/var/lib/nfs";
pub(super) const INIT_SCRIPTS: [&str; 3] = [
    "/etc/init.d/nfsserver",
    "/etc/init.d/nfs",
    "/etc/init.d/nfs-kernel-server",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    Systemd {
        /// rpc-statd.service, or nfs-lock.service on distributions that have it.
        lock_unit: &'static str,
    },
    InitScript(PathBuf),
}

#[derive(Debug)]
pub(super) struct Config {
    pub(super) mode: Mode,
    pub(super) nfsv4_only: bool,
    pub(super) no_notify: bool,
    pub(super) notify_foreground: bool,
    pub(super) smnotify_retry_time: Option<u32>,
    pub(super) nfs_ip: Vec<String>,
    pub(super) infodir: Option<PathBuf>,
    pub(super) pipefs_dir: PathBuf,
    /// statd's directory: /var/lib/nfs/statd where it exists (Red Hat), else /var/lib/nfs.
    pub(super) statd_path: PathBuf,
    pub(super) server_scope: Option<String>,
    /// sm-notify's source port (-p), which the reference passes on every distribution. Invalid
    /// values are refused by validate-all and start, and left out elsewhere.
    pub(super) statd_outgoing_port: Option<u16>,
}

/// The reference's Red Hat-only parameters (nfsserver-redhat.sh) that it writes into
/// /etc/sysconfig/nfs, and where nfs.conf(5), which nfs-utils 2 reads, takes them instead.
pub(super) const SYSCONFIG_PARAMS: [(&str, &str); 6] = [
    ("nfsd_args", "the [nfsd] section"),
    ("lockd_udp_port", "udp-port= in [lockd]"),
    ("lockd_tcp_port", "port= in [lockd]"),
    ("statd_port", "port= in [statd]"),
    ("mountd_port", "port= in [mountd]"),
    ("rquotad_port", "rpc.rquotad's -p option"),
];

/// statd_outgoing_port, a port number (not declared in the metadata: the reference declares it
/// on Red Hat only, but uses it everywhere).
pub(super) fn statd_outgoing_port(ctx: &Ctx) -> Result<Option<u16>> {
    match ctx.env.reskey("statd_outgoing_port").map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(Some(p)),
            _ => ocf_bail!(
                ErrConfigured,
                "parameter statd_outgoing_port: {v:?} is not a port number"
            ),
        },
    }
}

/// The sysconfig parameters are refused, not ignored: the reference writes them into
/// /etc/sysconfig/nfs on Red Hat only (and only there declares them), which the systemd units
/// of nfs-utils 2 do not read.
pub(super) fn refuse_sysconfig_params(ctx: &Ctx) -> Result<()> {
    for (name, instead) in SYSCONFIG_PARAMS {
        if ctx.env.reskey(name).is_some_and(|v| !v.trim().is_empty()) {
            ocf_bail!(
                ErrConfigured,
                "parameter {name}: not supported (the reference writes it into \
                 /etc/sysconfig/nfs on Red Hat, which nfs-utils 2 no longer reads); set \
                 {instead} of /etc/nfs.conf on every node instead"
            );
        }
    }
    Ok(())
}

impl Config {
    /// The parameters: nfs_shared_infodir is judged in every action, the others only where
    /// the action reads strictly ([`crate::ocf::Params::parse`]).
    pub(super) fn from_ctx(ctx: &Ctx) -> Result<Config> {
        let p = &ctx.params;
        let smnotify_retry_time = p.parse("nfs_smnotify_retry_time", |v| match v.trim() {
            "" => Ok(None),
            v => match v.parse::<u32>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => ocf_bail!(
                    ErrConfigured,
                    "parameter nfs_smnotify_retry_time: {v:?} is not a number of minutes"
                ),
            },
        })?;
        let nfs_ip = p.parse("nfs_ip", |v| {
            let ips: Vec<String> = v
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for ip in &ips {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    ocf_bail!(
                        ErrConfigured,
                        "parameter nfs_ip: {ip:?} is not an IP address"
                    );
                }
            }
            Ok(ips)
        })?;
        let infodir = match p.opt("nfs_shared_infodir") {
            None => None,
            Some(d) if d.starts_with('/') => Some(PathBuf::from(d.trim_end_matches('/'))),
            Some(d) => ocf_bail!(
                ErrConfigured,
                "parameter nfs_shared_infodir: {d:?} is not an absolute path"
            ),
        };
        // A start policy: a clone found running is stopped and monitored all the same.
        if infodir.is_some() && ctx.env.is_clone() && !p.lenient() {
            ocf_bail!(
                ErrConfigured,
                "parameter nfs_shared_infodir: this agent does not support clone mode when a \
                 shared info directory is in use"
            );
        }
        if infodir.as_deref() == Some(Path::new(VAR_LIB_NFS)) {
            ocf_bail!(
                ErrConfigured,
                "parameter nfs_shared_infodir: must not be {VAR_LIB_NFS} itself"
            );
        }
        // The default rpcpipefs_dir is where nfs-utils puts rpc_pipefs by default; a system that
        // moved it (Debian 12: /run/rpc_pipefs, via nfs.conf) keeps it there, where a bind mount
        // on /var/lib/nfs cannot hide it and nothing needs remounting (#1300).
        let pipefs_dir = p.or_default(
            "rpcpipefs_dir",
            if p.is_set("rpcpipefs_dir") {
                match p.opt("rpcpipefs_dir") {
                    Some(d) if d.starts_with('/') => Ok(PathBuf::from(d.trim_end_matches('/'))),
                    d => Err(ocf_err!(
                        ErrConfigured,
                        "parameter rpcpipefs_dir: {:?} is not an absolute path",
                        d.unwrap_or("")
                    )),
                }
            } else {
                Ok(PathBuf::from(nfs::pipefs_directory()))
            },
            || Ok(PathBuf::from(nfs::pipefs_directory())),
        )?;
        let server_scope = p.parse("nfs_server_scope", |s| {
            let s = s.trim();
            // It becomes nfsd's host name (at most 64 bytes); kept to host name characters.
            if s.len() > 64
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b))
            {
                ocf_bail!(
                    ErrConfigured,
                    "parameter nfs_server_scope: {s:?} is not a host name or an IP address"
                );
            }
            Ok(Some(s.to_owned()).filter(|s| !s.is_empty()))
        })?;
        let statd_path = if Path::new(VAR_LIB_NFS).join("statd").is_dir() {
            Path::new(VAR_LIB_NFS).join("statd")
        } else {
            PathBuf::from(VAR_LIB_NFS)
        };
        Ok(Config {
            mode: p.or_default(
                "nfs_init_script",
                detect_mode(p.opt("nfs_init_script")),
                || detect_mode(None),
            )?,
            nfsv4_only: p.bool("nfsv4_only")?,
            no_notify: p.bool("nfs_no_notify")?,
            notify_foreground: p.bool("nfs_notify_foreground")?,
            smnotify_retry_time,
            nfs_ip,
            infodir,
            pipefs_dir,
            statd_path,
            server_scope,
            statd_outgoing_port: statd_outgoing_port(ctx).unwrap_or(None),
        })
    }

    pub(super) fn statd_subdir(&self) -> Option<&str> {
        (self.statd_path != Path::new(VAR_LIB_NFS)).then_some("statd")
    }
}

/// The reference's set_exec_mode, preferring systemd when it runs: a distribution's init
/// script under systemd only redirects to systemctl (Debian), and starting rpc.statd directly
/// beside systemd's rpc-statd.service leaves a daemon in the agent's cgroup.
pub(super) fn detect_mode(init_script: Option<&str>) -> Result<Mode> {
    if let Some(s) = init_script {
        let p = Path::new(s);
        if !is_executable(p) {
            ocf_bail!(
                ErrInstalled,
                "parameter nfs_init_script: {s} is not an executable file"
            );
        }
        return Ok(Mode::InitScript(p.to_owned()));
    }
    if systemd::booted() && systemd::unit_file_exists("nfs-server.service") {
        let lock_unit = if systemd::unit_file_exists("nfs-lock.service") {
            "nfs-lock.service"
        } else {
            "rpc-statd.service"
        };
        return Ok(Mode::Systemd { lock_unit });
    }
    if let Some(s) = INIT_SCRIPTS.iter().find(|s| is_executable(Path::new(s))) {
        return Ok(Mode::InitScript(PathBuf::from(s)));
    }
    ocf_bail!(
        ErrInstalled,
        "No init script or systemd unit file detected for nfs server"
    )
}

pub(super) fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}
