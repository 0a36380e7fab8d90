//! `drbdsetup events2 --now <res>`: the kernel's current state as one line per object,
//! `exists <resource|connection|device|peer-device> name:<res> key:value …`, ended by
//! `exists -`. DRBD 9 identifies peers by peer-node-id; 8.4's drbdsetup prints no node ids
//! (one peer), so objects are matched by node id, else by connection name.

use super::state::{Device, Peer, PeerDisk, ResourceState, Role};

pub fn parse(text: &str, res: &str) -> ResourceState {
    let mut st = ResourceState::default();
    // The peer-node-id of each entry of st.peers.
    let mut node_ids: Vec<Option<u32>> = Vec::new();
    let name_kv = format!("name:{res}");
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("exists") {
            continue;
        }
        let Some(object) = words.next() else { continue };
        if object == "-" {
            break;
        }
        if words.next() != Some(name_kv.as_str()) {
            continue;
        }
        let kv: Vec<(&str, &str)> = words.filter_map(|w| w.split_once(':')).collect();
        let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let num = |k: &str| get(k).and_then(|v| v.parse::<u32>().ok());
        match object {
            "resource" => {
                st.role = match get("role") {
                    Some("Primary") => Role::Primary,
                    Some("Secondary") => Role::Secondary,
                    // "Unknown" is what an unconfigured resource reports.
                    _ => Role::Unconfigured,
                };
            }
            "connection" => {
                node_ids.push(num("peer-node-id"));
                st.peers.push(Peer {
                    name: get("conn-name").unwrap_or("").to_owned(),
                    connection: get("connection").unwrap_or("Unknown").to_owned(),
                    role: get("role").unwrap_or("Unknown").to_owned(),
                    disks: Vec::new(),
                });
            }
            "device" => st.devices.push(Device {
                minor: num("minor").unwrap_or(0),
                disk: get("disk").unwrap_or("Diskless").to_owned(),
                client: get("client") == Some("yes"),
                quorum: get("quorum") != Some("no"),
            }),
            "peer-device" => {
                let id = num("peer-node-id");
                let conn = get("conn-name");
                let peer = st
                    .peers
                    .iter_mut()
                    .zip(&node_ids)
                    .rev()
                    .find(|(p, node_id)| match (id, conn) {
                        (Some(id), _) => **node_id == Some(id),
                        (None, Some(c)) => p.name == c,
                        (None, None) => true,
                    });
                if let Some((peer, _)) = peer {
                    peer.disks.push(PeerDisk {
                        disk: get("peer-disk").unwrap_or("DUnknown").to_owned(),
                        client: get("peer-client") == Some("yes"),
                        done: get("done").and_then(|v| v.parse().ok()),
                    });
                }
            }
            _ => {}
        }
    }
    st
}
