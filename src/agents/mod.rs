//! The agents, one module each, behind one trait, and the table argv0 is looked up in.

pub mod drbd;
pub mod exportfs;
pub mod filesystem;
pub mod ipaddr2;
pub mod nfsserver;

use crate::ocf::{Ctx, OcfCode, OcfError};
use anyhow::Result;

/// One OCF resource agent. `validate` is validate-all: it checks the configuration and the
/// system without changing anything. The other methods are the actions; those an agent does
/// not have answer OCF_ERR_UNIMPLEMENTED.
pub trait Agent: Sync {
    /// The agent's type as Pacemaker names it (`ocf:ferro:<name>`) and argv0 selects it.
    fn name(&self) -> &'static str;
    /// The embedded `ocf-metadata/<name>.xml`.
    fn metadata_xml(&self) -> &'static str;

    fn validate(&self, ctx: &Ctx) -> Result<()>;
    fn start(&self, ctx: &Ctx) -> Result<OcfCode>;
    fn stop(&self, ctx: &Ctx) -> Result<OcfCode>;
    fn monitor(&self, ctx: &Ctx) -> Result<OcfCode>;

    fn promote(&self, ctx: &Ctx) -> Result<OcfCode> {
        unimplemented_action(self.name(), ctx)
    }
    fn demote(&self, ctx: &Ctx) -> Result<OcfCode> {
        unimplemented_action(self.name(), ctx)
    }
    fn notify(&self, ctx: &Ctx) -> Result<OcfCode> {
        unimplemented_action(self.name(), ctx)
    }
    fn reload(&self, ctx: &Ctx) -> Result<OcfCode> {
        unimplemented_action(self.name(), ctx)
    }
}

pub fn unimplemented_action(agent: &str, ctx: &Ctx) -> Result<OcfCode> {
    Err(OcfError::new(
        OcfCode::ErrUnimplemented,
        format!("{agent} does not implement the {} action", ctx.action),
    )
    .into())
}

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

/// An agent whose actions are not written yet: its metadata is real (so pcs can already show
/// it and crm_verify can check configurations), every other action is OCF_ERR_UNIMPLEMENTED.
macro_rules! pending_agent {
    ($ty:ident, $name:literal) => {
        pub struct $ty;

        impl $ty {
            fn pending(&self) -> anyhow::Result<$crate::ocf::OcfCode> {
                Err($crate::ocf::OcfError::new(
                    $crate::ocf::OcfCode::ErrUnimplemented,
                    concat!(
                        "ocf:ferro:",
                        $name,
                        " is not implemented in this version of ferro-ocf; use the reference agent"
                    ),
                )
                .into())
            }
        }

        impl $crate::agents::Agent for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn metadata_xml(&self) -> &'static str {
                include_str!(concat!("../../ocf-metadata/", $name, ".xml"))
            }
            fn validate(&self, _: &$crate::ocf::Ctx) -> anyhow::Result<()> {
                self.pending().map(|_| ())
            }
            fn start(&self, _: &$crate::ocf::Ctx) -> anyhow::Result<$crate::ocf::OcfCode> {
                self.pending()
            }
            fn stop(&self, _: &$crate::ocf::Ctx) -> anyhow::Result<$crate::ocf::OcfCode> {
                self.pending()
            }
            fn monitor(&self, _: &$crate::ocf::Ctx) -> anyhow::Result<$crate::ocf::OcfCode> {
                self.pending()
            }
        }
    };
}
pub(crate) use pending_agent;

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
