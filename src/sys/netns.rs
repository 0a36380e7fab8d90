//! Network namespaces as `ip netns` names them: bind mounts under /run/netns/<name>.

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};
use std::path::PathBuf;

pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Whether `name` can be a namespace name: one path component, as `ip netns` accepts.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains('/')
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_RUN_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Move this thread into the named namespace. Everything opened afterwards (netlink, packet
/// sockets, /proc/sys/net) belongs to it, and so do children forked from this thread.
/// Call it before any socket is opened and while the process has a single thread.
pub fn enter(name: &str) -> Result<()> {
    let p = path(name);
    let f = std::fs::File::open(&p)
        .with_context(|| format!("cannot open network namespace {}", p.display()))?;
    setns(&f, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("cannot enter network namespace {name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_path_components() {
        assert!(valid_name("blue"));
        assert!(valid_name("fipt-1.a_b"));
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\nb"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(path("blue"), PathBuf::from("/run/netns/blue"));
    }
}
