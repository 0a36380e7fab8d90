//! What an agent is to the contract: the runner calls these methods, one per action.

use super::{Ctx, OcfCode, OcfError};
use anyhow::Result;

/// One OCF resource agent. `validate` is validate-all: it checks the configuration and the
/// system without changing anything. The other methods are the actions; those an agent does
/// not have answer OCF_ERR_UNIMPLEMENTED.
pub trait Agent: Sync {
    /// The agent's type as Pacemaker names it (`ocf:ferro:<name>`) and argv0 selects it.
    fn name(&self) -> &'static str;
    /// The embedded `ocf-metadata/<name>.xml`.
    fn metadata_xml(&self) -> &'static str;

    /// The parameters that name the resource on the node (the address, the mount point, the
    /// export): stop and probes judge these and no others (see [`crate::ocf::Params::parse`]).
    /// If one is unusable, stop fails where the resource might still be there and succeeds
    /// only where it provably cannot be.
    fn identity(&self) -> &'static [&'static str];

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
