//! The one place where an agent's result becomes an exit code and an `ocf-exit-reason:` line.

use super::{Action, Agent, Ctx, Deadline, Metadata, OcfCode, OcfEnv, Params};
use std::ffi::OsString;
use std::io::Write;

/// Run one action of `agent` as Pacemaker does: `args` are what follows argv0.
pub fn run(agent: &dyn Agent, args: &[OsString]) -> OcfCode {
    let Some(action_arg) = args.first().and_then(|a| a.to_str()) else {
        return usage(agent, OcfCode::ErrArgs);
    };
    let Ok(action) = action_arg.parse::<Action>() else {
        exit_reason(&format!(
            "action {action_arg:?} is not supported by {}",
            agent.name()
        ));
        return usage(agent, OcfCode::ErrUnimplemented);
    };
    if action == Action::MetaData {
        // Printed verbatim: the XML file is the single source of the metadata.
        let mut out = std::io::stdout().lock();
        return match out
            .write_all(agent.metadata_xml().as_bytes())
            .and_then(|_| out.flush())
        {
            Ok(()) => OcfCode::Success,
            Err(_) => OcfCode::ErrGeneric,
        };
    }
    let env = OcfEnv::from_process();
    let _span = super::log::init(agent.name(), &env, action.as_str());
    let outcome = prepare(agent, action, env).and_then(|ctx| dispatch(agent, &ctx));
    match outcome {
        Ok(code) => {
            tracing::debug!("{action} returned {code}");
            code
        }
        Err(err) => {
            let code = super::code_of(&err);
            tracing::error!("{action} failed: {err:#} -> {code}");
            exit_reason(&format!("{err:#}"));
            code
        }
    }
}

/// Build the action's context: environment, parameters against the metadata, deadline.
pub fn prepare(agent: &dyn Agent, action: Action, env: OcfEnv) -> anyhow::Result<Ctx> {
    let metadata = Metadata::parse(agent.metadata_xml())?;
    let params = Params::resolve_for(&metadata, &env, action, agent.identity())?;
    let timeout = env
        .timeout()
        .or_else(|| metadata.action_timeout(action.as_str()));
    Ok(Ctx {
        action,
        deadline: Deadline::for_timeout(timeout),
        env,
        params,
        metadata,
    })
}

pub fn dispatch(agent: &dyn Agent, ctx: &Ctx) -> anyhow::Result<OcfCode> {
    match ctx.action {
        Action::MetaData => Ok(OcfCode::Success),
        Action::ValidateAll => agent.validate(ctx).map(|()| OcfCode::Success),
        Action::Start => agent.start(ctx),
        Action::Stop => agent.stop(ctx),
        Action::Monitor => agent.monitor(ctx),
        Action::Promote => agent.promote(ctx),
        Action::Demote => agent.demote(ctx),
        Action::Notify => agent.notify(ctx),
        Action::Reload | Action::ReloadAgent => agent.reload(ctx),
    }
}

/// Pacemaker shows the last such line of a failed action in `crm_mon` and `pcs status`.
fn exit_reason(reason: &str) {
    // One line: Pacemaker reads up to the end of the line.
    let reason = reason.replace('\n', " ");
    let _ = writeln!(std::io::stderr(), "ocf-exit-reason:{reason}");
}

fn usage(agent: &dyn Agent, code: OcfCode) -> OcfCode {
    let _ = writeln!(
        std::io::stderr(),
        "usage: {} {{start|stop|monitor|status|promote|demote|notify|reload|validate-all|meta-data}}",
        agent.name()
    );
    code
}
