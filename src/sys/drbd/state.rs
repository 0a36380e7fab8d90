//! One DRBD resource's state, the same model for 8.4 and 9, and the facts the agent decides on.

/// The resource's role. DRBD 8.4 has a role per volume; the resource is Primary when any
/// volume is (as the reference reads it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Unconfigured,
    Secondary,
    Primary,
}

/// A local volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub minor: u32,
    /// UpToDate, Consistent, Inconsistent, Outdated, Diskless, Attaching, …
    pub disk: String,
    /// DRBD 9 "client:yes": intentionally diskless.
    pub client: bool,
    /// DRBD 9 "quorum:no" clears it; 8.4 has no quorum.
    pub quorum: bool,
}

/// A peer's view of one volume.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerDisk {
    pub disk: String,
    pub client: bool,
    /// Resync progress in percent, when this volume is resyncing with the peer.
    pub done: Option<f32>,
}

/// A connection to a peer (8.4 has exactly one, unnamed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Peer {
    pub name: String,
    /// Connected, StandAlone, WFConnection (8.4), Connecting (9), SyncSource (8.4), …
    pub connection: String,
    pub role: String,
    pub disks: Vec<PeerDisk>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceState {
    pub role: Role,
    pub devices: Vec<Device>,
    pub peers: Vec<Peer>,
}

/// The facts the reference agent derives from the state (its status_* variables), with the
/// same meaning, computed from either kernel generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub primary: bool,
    pub unconfigured: bool,
    pub some_peer_primary: bool,
    pub diskless_client: bool,
    pub have_quorum: bool,
    /// Every volume of every (non-client) peer is UpToDate.
    pub pdsk_all_up_to_date: bool,
    /// Some (non-client) peer's disk state is unknown (not connected).
    pub pdsk_any_unknown: bool,
    pub some_peer_all_up_to_date: bool,
    pub disk_all_up_to_date: bool,
    pub disk_all_consistent: bool,
    pub disk_transitional: bool,
}

impl ResourceState {
    /// Running as far as Pacemaker is concerned: configured, with its block devices.
    pub fn is_running(&self) -> bool {
        self.role != Role::Unconfigured && !self.devices.is_empty()
    }

    /// The minors of volumes that the configuration gives a backing disk (`has_disk`, per
    /// entry of `minors`) but that are Diskless in the kernel: their attach failed, or the disk
    /// was detached since. A DRBD 9 diskless client (client:yes) has no disk to miss.
    pub fn missing_disks(&self, minors: &[u32], has_disk: &[bool]) -> Vec<u32> {
        minors
            .iter()
            .zip(has_disk)
            .filter(|(_, has)| **has)
            .filter_map(|(m, _)| self.devices.iter().find(|d| d.minor == *m))
            .filter(|d| !d.client && matches!(d.disk.as_str(), "Diskless" | "Failed"))
            .map(|d| d.minor)
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            primary: self.role == Role::Primary,
            unconfigured: !self.is_running(),
            have_quorum: self.devices.iter().all(|d| d.quorum),
            some_peer_primary: self.peers.iter().any(|p| p.role == "Primary"),
            disk_all_up_to_date: true,
            disk_all_consistent: true,
            ..Summary::default()
        };
        let local: Vec<&Device> = self.devices.iter().filter(|d| !d.client).collect();
        let n_volumes = self.devices.len();
        // The reference counts a resource whose volumes are all "Diskless client:yes" as a
        // diskless client; with no volumes at all there is nothing to be a client of.
        s.diskless_client = n_volumes > 0 && local.is_empty();
        for d in &local {
            match d.disk.as_str() {
                "UpToDate" => continue,
                "Diskless" | "Failed" | "Inconsistent" | "Outdated" | "Detaching" => {
                    s.disk_all_consistent = false
                }
                "Attaching" | "Negotiating" => s.disk_transitional = true,
                // Consistent (and anything unexpected): consistent, but not known up to date.
                _ => {}
            }
            s.disk_all_up_to_date = false;
        }
        let mut some_peer_not_all_up_to_date = false;
        for p in &self.peers {
            let up_to_date = p.disks.iter().filter(|d| d.disk == "UpToDate").count();
            let known = p.disks.iter().filter(|d| d.disk != "DUnknown").count();
            let clients = p.disks.iter().filter(|d| d.client).count();
            if n_volumes > 0 && clients == n_volumes {
                // A diskless client peer has no data to be up to date or unknown about.
                continue;
            }
            if up_to_date == n_volumes && n_volumes > 0 {
                s.some_peer_all_up_to_date = true;
            } else {
                some_peer_not_all_up_to_date = true;
            }
            if known != n_volumes {
                s.pdsk_any_unknown = true;
            }
        }
        // DRBD 9 has no connection object until the peer is made (a resource attached but not
        // yet connected shows none; captured, tests/fixtures/drbd/9/attached-standalone), where
        // 8.4 shows its one peer StandAlone/DUnknown: the peer's disk is unknown either way.
        if n_volumes > 0 && self.peers.is_empty() {
            s.pdsk_any_unknown = true;
        }
        s.pdsk_all_up_to_date = s.some_peer_all_up_to_date && !some_peer_not_all_up_to_date;
        s
    }

    /// "Primary, disk UpToDate, connection Connected, peer node2 Secondary UpToDate", for logs
    /// and reasons.
    pub fn describe(&self) -> String {
        if !self.is_running() {
            return "not configured in the kernel".to_owned();
        }
        let role = if self.role == Role::Primary {
            "Primary"
        } else {
            "Secondary"
        };
        let disks: Vec<&str> = self.devices.iter().map(|d| d.disk.as_str()).collect();
        let mut s = format!("{role}, disk {}", disks.join("/"));
        for p in &self.peers {
            let pd: Vec<String> = p
                .disks
                .iter()
                .map(|d| match d.done {
                    Some(done) => format!("{} ({done}% synced)", d.disk),
                    None => d.disk.clone(),
                })
                .collect();
            let name = if p.name.is_empty() || p.name == "peer" {
                String::new()
            } else {
                format!(" {}", p.name)
            };
            s += &format!(
                ", connection {}, peer{name} {} {}",
                p.connection,
                p.role,
                pd.join("/")
            );
        }
        s
    }
}
