//! The agents, one module each, behind one trait, and the table argv0 is looked up in.

pub mod drbd;
pub mod exportfs;
pub mod filesystem;
pub mod ipaddr2;
pub mod nfsserver;

use crate::ocf::{Action, Ctx, OcfCode, OcfError};
use anyhow::Result;

/// One OCF resource agent. `validate` is validate-all: it checks the configuration and the
/// system without changing anything. The other methods are the actions; those an agent does
/// not have answer OCF_ERR_UNIMPLEMENTED.
pub trait Agent: Sync {
    /// The agent's type as Pacemaker names it (`ocf:ferro:<name>`) and argv0 selects it.
    fn name(&self) -> &'static str;
    /// The embedded `ocf-metadata/<name>.xml`.
    fn metadata_xml(&self) -> &'static str;

    /// Whether `action` resolves the parameters strictly (a value of the wrong type is
    /// OCF_ERR_CONFIGURED) rather than falling back to the default.
    fn strict_params(&self, action: Action) -> bool {
        action != Action::Stop
    }

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
