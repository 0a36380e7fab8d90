//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS.

pub mod command;
pub mod drbd;
pub mod pacemaker;
