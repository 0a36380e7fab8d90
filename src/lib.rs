//! ferro-ocf: Pacemaker OCF resource agents in one binary.
//!
//! - [`ocf`]: the OCF Resource Agent API contract (exit codes, actions, parameters, metadata).
//! - [`agents`]: one module per agent, each reading like the admin's runbook.
//! - [`fence_peer`]: DRBD's fence-peer handler for Pacemaker (not an agent).
//! - [`sys`]: the system below them (commands, mounts, netlink, processes).

pub mod agents;
pub mod cli;
pub mod fence_peer;
pub mod install;
pub mod man;
pub mod ocf;
pub mod sys;
