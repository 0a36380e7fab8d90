//! DRBD 8.4's /proc/drbd: one block per minor,
//! ` 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----`, then counters and,
//! while resyncing, a progress bar with `sync'ed: 15.3%`. The same fields (and names) that
//! `drbdsetup sh-status` prints, without running anything.

use super::state::{Device, Peer, PeerDisk, ResourceState, Role};

struct Minor<'a> {
    cs: &'a str,
    ro: Option<(&'a str, &'a str)>,
    ds: Option<(&'a str, &'a str)>,
    done: Option<f32>,
}

/// The state of the resource made of `minors` (its volumes, in order).
pub fn parse(text: &str, minors: &[u32]) -> ResourceState {
    let mut found: Vec<(u32, Minor)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some((num, rest)) = t.split_once(": ") {
            if let Ok(minor) = num.parse::<u32>() {
                if rest.starts_with("cs:") {
                    found.push((minor, minor_line(rest)));
                    continue;
                }
            }
        }
        if let (Some((_, m)), Some(pos)) = (found.last_mut(), t.find("sync'ed:")) {
            m.done = t[pos + 8..]
                .trim_start()
                .split('%')
                .next()
                .and_then(|p| p.trim().parse().ok());
        }
    }
    let mut st = ResourceState::default();
    let mut peer = Peer::default();
    for minor in minors {
        let Some((_, m)) = found.iter().find(|(n, _)| n == minor) else {
            continue;
        };
        let (Some((role, peer_role)), Some((disk, pdsk))) = (m.ro, m.ds) else {
            // "cs:Unconfigured": the minor exists but nothing is configured on it.
            continue;
        };
        match role {
            "Primary" => st.role = Role::Primary,
            "Secondary" if st.role == Role::Unconfigured => st.role = Role::Secondary,
            _ => {}
        }
        st.devices.push(Device {
            minor: *minor,
            disk: disk.to_owned(),
            client: false,
            quorum: true,
        });
        // One connection per minor in 8.4; the resource's is the worst of them, which is the
        // first that is not Connected (they normally agree).
        if peer.connection.is_empty() || peer.connection == "Connected" {
            peer.connection = m.cs.to_owned();
        }
        if peer.role.is_empty() || peer_role == "Primary" {
            peer.role = peer_role.to_owned();
        }
        peer.disks.push(PeerDisk {
            disk: pdsk.to_owned(),
            client: false,
            done: m.done,
        });
    }
    if !st.devices.is_empty() {
        st.peers.push(peer);
    }
    st
}

fn minor_line(rest: &str) -> Minor<'_> {
    let mut m = Minor {
        cs: "",
        ro: None,
        ds: None,
        done: None,
    };
    for w in rest.split_whitespace() {
        if let Some(v) = w.strip_prefix("cs:") {
            m.cs = v;
        } else if let Some(v) = w.strip_prefix("ro:") {
            m.ro = v.split_once('/');
        } else if let Some(v) = w.strip_prefix("ds:") {
            m.ds = v.split_once('/');
        }
    }
    m
}
