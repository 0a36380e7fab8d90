//! System detail below the agents: running commands, and (per agent) mounts, netlink,
//! processes, DRBD, NFS, the Pacemaker CIB.

pub mod arp;
pub mod background;
pub mod blockdev;
pub mod cib;
pub mod command;
pub mod drbd;
pub mod environ;
pub mod findif;
pub mod mount;
pub mod mountinfo;
pub mod netlink;
pub mod netns;
pub mod nfs;
pub mod pacemaker;
pub mod procs;
pub mod safe_file;
pub mod systemd;
pub mod tickle;
