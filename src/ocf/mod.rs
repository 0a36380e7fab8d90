//! The OCF Resource Agent API 1.1 contract: exit codes, actions, environment, parameters,
//! metadata, deadlines, logging, and the runner that ties them together.

pub mod action;
pub mod agent;
pub mod deadline;
pub mod env;
pub mod exit;
pub mod log;
pub mod metadata;
pub mod params;
pub mod run;

pub use action::Action;
pub use agent::{unimplemented_action, Agent};
pub use deadline::Deadline;
pub use env::OcfEnv;
pub use exit::{code_of, OcfCode, OcfContext, OcfError};
pub use metadata::Metadata;
pub use params::Params;

/// Everything an agent needs to perform one action.
#[derive(Debug)]
pub struct Ctx {
    pub action: Action,
    pub env: OcfEnv,
    pub params: Params,
    pub deadline: Deadline,
    pub metadata: Metadata,
}
