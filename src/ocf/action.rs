//! The actions an OCF agent is asked to perform (argv[1]).

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    MetaData,
    ValidateAll,
    Start,
    Stop,
    Monitor,
    Promote,
    Demote,
    Notify,
    Reload,
    ReloadAgent,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::MetaData => "meta-data",
            Action::ValidateAll => "validate-all",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
            Action::Reload => "reload",
            Action::ReloadAgent => "reload-agent",
        }
    }

    /// Whether the action refuses a bad parameter value (OCF_ERR_CONFIGURED) rather than
    /// falling back to its default: only validate-all and start, before anything runs. The
    /// others find the resource running, or are asked whether it runs: an OCF_ERR_CONFIGURED
    /// from a probe, a monitor, notify or reload stops it on every node, and a failed stop or
    /// demote gets the node fenced. See [`crate::ocf::Params::parse`].
    pub fn reads_strictly(self) -> bool {
        matches!(self, Action::ValidateAll | Action::Start)
    }
}

impl FromStr for Action {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "meta-data" | "meta_data" => Action::MetaData,
            "validate-all" => Action::ValidateAll,
            "start" => Action::Start,
            "stop" => Action::Stop,
            // `status` is the LSB-era name Pacemaker still sends to some agents.
            "monitor" | "status" => Action::Monitor,
            "promote" => Action::Promote,
            "demote" => Action::Demote,
            "notify" => Action::Notify,
            "reload" => Action::Reload,
            "reload-agent" => Action::ReloadAgent,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action_and_status_alias() {
        for a in [
            "meta-data",
            "validate-all",
            "start",
            "stop",
            "monitor",
            "promote",
            "demote",
            "notify",
            "reload",
            "reload-agent",
        ] {
            assert_eq!(a.parse::<Action>().unwrap().as_str(), a);
        }
        assert_eq!("status".parse::<Action>(), Ok(Action::Monitor));
        assert!("migrate_to".parse::<Action>().is_err());
        assert!("".parse::<Action>().is_err());
    }
}
