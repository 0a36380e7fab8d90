//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS.

pub mod command;
pub mod blockdev;
pub mod child;
pub mod mount;
pub mod mountinfo;
pub mod procs;
