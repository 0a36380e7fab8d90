//! systemd units, through `systemctl` with an argv under the deadline.
//!
//! A monitor asks for the state of all the units it cares about in one
//! `systemctl show -p Id,LoadState,ActiveState,SubState <unit>...` call. `show` rather than
//! `is-active`: is-active exits 0 when *any* of several units is active, and cannot tell a
//! missing or masked unit from a stopped one. Talking D-Bus to systemd directly would save that
//! one process per monitor, but without a D-Bus crate it means writing the SASL handshake and the
//! message marshalling by hand; reading the units' cgroups would not be systemd's view (failed
//! units, slices, cgroup v1/v2 layouts). One short-lived process every monitor interval is the
//! simple option.

use crate::ocf::Deadline;
use crate::sys::command;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Whether systemd is the init system (sd_booted(3), and ocf-shellfuncs' systemd_is_running).
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Whether a unit file of that name is installed (no process: the unit search path on disk).
pub fn unit_file_exists(unit: &str) -> bool {
    [
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ]
    .iter()
    .any(|d| Path::new(d).join(unit).exists())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitState {
    pub unit: String,
    /// loaded, not-found, masked, error, …
    pub load: String,
    /// active, inactive, failed, activating, deactivating, reloading
    pub active: String,
    pub sub: String,
}

impl UnitState {
    pub fn is_active(&self) -> bool {
        // A reload keeps the service up.
        matches!(self.active.as_str(), "active" | "reloading")
    }
    pub fn is_loaded(&self) -> bool {
        self.load == "loaded"
    }
    /// "failed (failed)", "inactive (dead)", "not-found": for exit reasons.
    pub fn describe(&self) -> String {
        if !self.is_loaded() {
            return self.load.clone();
        }
        format!("{} ({})", self.active, self.sub)
    }
}

/// Parse `systemctl show -p Id,LoadState,ActiveState,SubState u1 u2 …`: one block per unit in
/// argument order, blocks separated by an empty line.
pub fn parse_show(text: &str, units: &[&str]) -> Result<Vec<UnitState>> {
    let blocks: Vec<BTreeMap<&str, &str>> = text
        .split("\n\n")
        .map(|b| {
            b.lines()
                .filter_map(|l| l.split_once('='))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|m| !m.is_empty())
        .collect();
    if blocks.len() != units.len() {
        bail!(
            "systemctl show returned {} blocks for {} units",
            blocks.len(),
            units.len()
        );
    }
    Ok(units
        .iter()
        .zip(blocks)
        .map(|(u, b)| UnitState {
            unit: (*u).to_owned(),
            load: b.get("LoadState").unwrap_or(&"").to_string(),
            active: b.get("ActiveState").unwrap_or(&"").to_string(),
            sub: b.get("SubState").unwrap_or(&"").to_string(),
        })
        .collect())
}

/// The state of `units`, in one systemctl call.
pub fn show(units: &[&str], deadline: &Deadline) -> Result<Vec<UnitState>> {
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["show", "-p", "Id,LoadState,ActiveState,SubState"];
    args.extend_from_slice(units);
    let out = command::run_ok("systemctl", &args, deadline)?;
    parse_show(&out.stdout, units)
}

/// `systemctl -n0 <verb> units…` (start/stop wait for their jobs); failure carries systemctl's
/// last line ("Job for nfs-server.service failed …").
pub fn systemctl(verb: &str, units: &[&str], deadline: &Deadline) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    let mut args = vec!["-n0", verb];
    args.extend_from_slice(units);
    let out = command::run("systemctl", &args, deadline)?;
    if !out.success() {
        bail!(
            "{} failed ({}): {}",
            command::display_argv("systemctl", &args),
            out.describe(),
            out.last_line()
        );
    }
    Ok(())
}

/// `systemctl cat <unit>`: the unit file and its drop-ins, each after a `# <path>` line.
pub fn cat(unit: &str, deadline: &Deadline) -> Result<String> {
    Ok(command::run_ok("systemctl", &["cat", unit], deadline)?.stdout)
}

/// The effective values of a list setting of the `[Service]` section (`ExecStart`), verbatim in
/// unit-file syntax (quoting, prefixes, specifiers kept), from `systemctl cat` output: files in
/// the order systemd applies them, an empty assignment clearing what came before. The drop-in
/// file `skip` (a path) is left out.
pub fn service_list_setting(cat: &str, key: &str, skip: &str) -> Vec<String> {
    let mut values = Vec::new();
    let (mut skipping, mut service) = (false, false);
    let mut line = String::new();
    for raw in cat.lines() {
        if line.is_empty() {
            if let Some(path) = raw.strip_prefix("# /") {
                skipping = raw[2..] == *skip || path.is_empty();
                service = false;
                continue;
            }
        }
        if skipping {
            continue;
        }
        // A line ending in a backslash continues on the next.
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            line.push_str(head);
            line.push(' ');
            continue;
        }
        line.push_str(raw);
        let l = std::mem::take(&mut line);
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if l.starts_with('[') {
            service = l == "[Service]";
            continue;
        }
        match l.split_once('=') {
            Some((k, v)) if service && k.trim() == key => match v.trim() {
                "" => values.clear(),
                v => values.push(v.to_owned()),
            },
            _ => {}
        }
    }
    values
}

/// The mount unit name systemd gives a path (`systemd-escape --path --suffix=mount`).
pub fn mount_unit(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        return "-.mount".to_owned();
    }
    let mut out = String::new();
    for (i, b) in p.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b':' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out + ".mount"
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = include_str!("../../tests/fixtures/nfs/systemctl-show.out");

    #[test]
    fn show_output_of_a_running_nfs_server() {
        let units = [
            "rpcbind.service",
            "nfs-mountd.service",
            "nfs-idmapd.service",
            "rpc-statd.service",
            "nfs-server.service",
            "nfsdcld.service",
            "no-such.service",
        ];
        let s = parse_show(SHOW, &units).unwrap();
        assert_eq!(s.len(), 7);
        assert!(s[..6].iter().all(UnitState::is_active));
        // nfs-server is a oneshot that remains: active (exited), nfsd's threads tell the rest.
        assert_eq!(s[4].describe(), "active (exited)");
        assert_eq!(s[0].describe(), "active (running)");
        assert!(!s[6].is_loaded() && !s[6].is_active());
        assert_eq!(s[6].describe(), "not-found");
        assert!(parse_show(SHOW, &units[..3]).is_err());
    }

    #[test]
    fn failed_and_masked_units() {
        let text =
            "Id=rpc-statd.service\nLoadState=masked\nActiveState=inactive\nSubState=dead\n\n\
                    Id=nfs-mountd.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\n";
        let s = parse_show(text, &["rpc-statd.service", "nfs-mountd.service"]).unwrap();
        assert_eq!(s[0].describe(), "masked");
        assert_eq!(s[1].describe(), "failed (failed)");
        assert!(!s[1].is_active());
    }

    #[test]
    fn exec_start_lines_of_units_and_drop_ins() {
        // Debian 12's nfs-server.service as `systemctl cat` prints it.
        let debian = include_str!("../../tests/fixtures/nfs/systemctl-cat-nfs-server.out");
        assert_eq!(
            service_list_setting(debian, "ExecStart", "/run/x.conf"),
            ["/usr/sbin/rpc.nfsd"]
        );
        assert_eq!(
            service_list_setting(debian, "ExecStopPost", "/run/x.conf"),
            ["/usr/sbin/exportfs -au", "/usr/sbin/exportfs -f"]
        );
        // Fedora's shell line keeps its quoting; an admin's drop-in resets and adds two
        // commands, one continued on the next line; the skipped drop-in (ours) does not count.
        let cat = "# /usr/lib/systemd/system/nfs-server.service\n[Unit]\nExecStart=/not/service\n\
                   [Service]\nType=oneshot\nExecStart=/bin/sh -c '/usr/sbin/rpc.nfsd && if \
                   systemctl -q is-active gssproxy; then systemctl reload gssproxy ; fi'\n\n\
                   # /etc/systemd/system/nfs-server.service.d/override.conf\n[Service]\n\
                   ExecStart=\nExecStart=-/usr/sbin/rpc.nfsd -V 4.2 \\\n  --threads 16\n\
                   ExecStart=+/usr/bin/logger \"nfsd %n up\"\n\n\
                   # /run/systemd/system/nfs-server.service.d/51-x.conf\n[Service]\nExecStart=\n\
                   ExecStart=/wrapped\n";
        assert_eq!(
            service_list_setting(
                cat,
                "ExecStart",
                "/run/systemd/system/nfs-server.service.d/51-x.conf"
            ),
            [
                "-/usr/sbin/rpc.nfsd -V 4.2    --threads 16",
                "+/usr/bin/logger \"nfsd %n up\""
            ]
        );
        let fedora = &cat[..cat.find("\n\n#").unwrap()];
        assert_eq!(
            service_list_setting(fedora, "ExecStart", "/run/x.conf"),
            [
                "/bin/sh -c '/usr/sbin/rpc.nfsd && if systemctl -q is-active gssproxy; then \
              systemctl reload gssproxy ; fi'"
            ]
        );
    }

    #[test]
    fn mount_unit_names() {
        assert_eq!(
            mount_unit("/var/lib/nfs/rpc_pipefs"),
            "var-lib-nfs-rpc_pipefs.mount"
        );
        assert_eq!(mount_unit("/run/rpc_pipefs/"), "run-rpc_pipefs.mount");
        assert_eq!(mount_unit("/srv/a-b c"), "srv-a\\x2db\\x20c.mount");
        assert_eq!(mount_unit("/"), "-.mount");
    }
}
