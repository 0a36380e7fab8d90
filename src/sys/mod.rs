//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS.

pub mod blockdev;
pub mod child;
pub mod command;
pub mod drbd;
pub mod mount;
pub mod mountinfo;
pub mod nfs;
pub mod pacemaker;
pub mod procs;
