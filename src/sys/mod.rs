//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS.

pub mod arp;
pub mod command;
pub mod findif;
pub mod netlink;
pub mod netns;
