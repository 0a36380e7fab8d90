//! The agents, one module each, behind the contract's [`Agent`] trait, and the table argv0 is
//! looked up in.

pub mod drbd;
pub mod exportfs;
pub mod filesystem;
pub mod ipaddr2;
pub mod nfsserver;

use crate::ocf::Agent;

/// Every agent the binary carries, in the order `--list` prints them.
pub static AGENTS: &[&dyn Agent] = &[
    &drbd::Drbd,
    &filesystem::Filesystem,
    &exportfs::Exportfs,
    &nfsserver::Nfsserver,
    &ipaddr2::IPaddr2,
];

/// The agent names joined by `sep`, for messages.
pub fn names(sep: &str) -> String {
    AGENTS
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(sep)
}

pub fn find(name: &str) -> Option<&'static dyn Agent> {
    AGENTS.iter().copied().find(|a| a.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::Metadata;

    #[test]
    fn every_agent_has_metadata_under_its_own_name() {
        for a in AGENTS {
            let md =
                Metadata::parse(a.metadata_xml()).unwrap_or_else(|e| panic!("{}: {e:#}", a.name()));
            assert_eq!(md.agent, a.name());
            assert!(find(a.name()).is_some());
        }
        assert!(find("ferro-ocf").is_none());
    }
}
