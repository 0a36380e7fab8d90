//! Entry point: argv0 selects the agent (`/usr/lib/ocf/resource.d/ferro/IPaddr2 monitor`), or,
//! called as `ferro-ocf`, the first argument does (`ferro-ocf IPaddr2 monitor`), next to the
//! `install`, `uninstall` and `--list` commands for people and packaging. DRBD's fence-peer
//! handler is not an agent: called as `crm-fence-peer.9.sh` / `crm-unfence-peer.9.sh` (the
//! installed links) or as `ferro-ocf fence-peer|unfence-peer`.

use crate::agents::{self, AGENTS};
use crate::fence_peer;
use crate::install;
use crate::ocf::{run::run, OcfCode};
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `ferro-ocf --version`: the release and the git revision it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("FERRO_GIT_REV"),
    ")"
);

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    ExitCode::from(dispatch(&args))
}

/// The agent name argv0 stands for: its file name (`Path::file_stem` keeps `IPaddr2` whole).
pub fn invoked_name(argv0: &OsString) -> Option<String> {
    Path::new(argv0).file_name()?.to_str().map(str::to_owned)
}

pub fn dispatch(args: &[OsString]) -> u8 {
    let name = args.first().and_then(invoked_name).unwrap_or_default();
    if let Some(agent) = agents::find(&name) {
        return run(agent, &args[1..]).as_u8();
    }
    if let Some(action) = fence_peer::Action::from_program(&name) {
        return fence_peer::main(action, &name, &lossy(&args[1..]));
    }
    multicall(args)
}

fn lossy(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn cli() -> Command {
    Command::new("ferro-ocf")
        .about("Pacemaker OCF resource agents: ocf:ferro:{drbd,Filesystem,exportfs,nfsserver,IPaddr2}")
        .override_usage("ferro-ocf <AGENT> <ACTION>\n       ferro-ocf install [--root DIR]\n       ferro-ocf uninstall [--root DIR]\n       ferro-ocf man\n       ferro-ocf fence-peer|unfence-peer [OPTIONS]   (DRBD handler, as crm-fence-peer.9.sh)\n       ferro-ocf --list | --version")
        .version(VERSION)
        .arg(Arg::new("list").long("list").action(ArgAction::SetTrue).help("List the agents this binary provides"))
        .subcommand(
            Command::new("install")
                .about("Install the binary and the /usr/lib/ocf/resource.d/ferro/<Agent> links (idempotent)")
                .arg(root_arg()),
        )
        .subcommand(Command::new("uninstall").about("Remove what install created").arg(root_arg()))
        .subcommand(Command::new("man").about("Print the manual page ferro-ocf(8), made from the agents' metadata"))
        .allow_external_subcommands(true)
        .after_help("An agent run as `ferro-ocf <AGENT> <ACTION>` reads OCF_RESKEY_* from the environment, like under Pacemaker.")
}

fn root_arg() -> Arg {
    Arg::new("root")
        .long("root")
        .value_name("DIR")
        .value_parser(clap::value_parser!(PathBuf))
        .default_value("/")
        .help("Install below DIR instead of / (packaging, images, tests)")
}

fn multicall(args: &[OsString]) -> u8 {
    let matches = match cli().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                OcfCode::ErrArgs.as_u8()
            } else {
                0
            };
        }
    };
    if matches.get_flag("list") {
        for a in AGENTS {
            println!("ocf:ferro:{}", a.name());
        }
        return 0;
    }
    let result = match matches.subcommand() {
        Some(("install", m)) => install::install(m.get_one::<PathBuf>("root").unwrap()),
        Some(("uninstall", m)) => install::uninstall(m.get_one::<PathBuf>("root").unwrap()),
        Some(("man", _)) => crate::man::page().map(|p| print!("{p}")),
        Some((agent, rest)) => {
            let rest: Vec<OsString> = rest
                .get_many::<OsString>("")
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            if let Some(action) = fence_peer::Action::from_subcommand(agent) {
                return fence_peer::main(action, agent, &lossy(&rest));
            }
            let Some(a) = agents::find(agent) else {
                eprintln!(
                    "ferro-ocf: unknown agent {agent:?}; agents: {}",
                    agents::names(", ")
                );
                return OcfCode::ErrArgs.as_u8();
            };
            return run(a, &rest).as_u8();
        }
        None => {
            let _ = cli().print_help();
            return OcfCode::ErrArgs.as_u8();
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ferro-ocf: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        cli().debug_assert();
    }

    #[test]
    fn argv0_names() {
        assert_eq!(
            invoked_name(&"/usr/lib/ocf/resource.d/ferro/IPaddr2".into()).as_deref(),
            Some("IPaddr2")
        );
        assert_eq!(
            invoked_name(&"Filesystem".into()).as_deref(),
            Some("Filesystem")
        );
        assert_eq!(
            invoked_name(&"/usr/sbin/ferro-ocf".into()).as_deref(),
            Some("ferro-ocf")
        );
        assert_eq!(invoked_name(&"/".into()), None);
    }
}
