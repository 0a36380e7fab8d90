//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS.

pub mod blockdev;
pub mod child;
pub mod command;
pub mod mount;
pub mod mountinfo;
pub mod nfs;
pub mod procs;
pub mod systemd;
