//! Logging for agents: to stderr always (pacemaker-execd records an agent's stderr), to the
//! journal when its socket exists (syslog identifier `Agent(instance)` as ocf_log's tag, and the
//! fields OCF_RESOURCE_INSTANCE, OCF_AGENT, OCF_ACTION),
//! and appended to HA_LOGFILE when set — what ocf_log does for the shell agents.

use super::env::OcfEnv;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Install the subscriber for this process. Returns a guard span: keep it entered for the
/// whole action so every record carries the resource instance and action.
pub fn init(agent: &str, env: &OcfEnv, action: &str) -> tracing::span::EnteredSpan {
    let level = if env.debug() {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let tag = format!("{agent}({})", env.instance());
    let prefix = format!("{tag}[{}]", std::process::id());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .event_format(OcfLine { prefix })
        .with_filter(level);
    let journald = Path::new(JOURNAL_SOCKET)
        .exists()
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|l| {
            // The tag the reference agents' ocf_log gives (`IPaddr2(vip)`), so that two
            // resources of one agent are told apart, and fields to select on:
            // `journalctl OCF_RESOURCE_INSTANCE=vip`.
            l.with_syslog_identifier(tag.clone())
                .with_custom_fields([
                    ("OCF_RESOURCE_INSTANCE", env.instance().as_bytes()),
                    ("OCF_AGENT", agent.as_bytes()),
                    ("OCF_ACTION", action.as_bytes()),
                ])
                .with_field_prefix(None)
                .with_filter(level)
        });
    let logfile = env
        .var("HA_LOGFILE")
        .filter(|p| !p.is_empty())
        .and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok())
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(f))
                .with_ansi(false)
                .with_filter(level)
        });
    let subscriber = tracing_subscriber::registry()
        .with(stderr)
        .with(journald)
        .with(logfile);
    // A second init (tests running several actions in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    tracing::info_span!(
        "ocf",
        agent,
        ocf_resource_instance = env.instance(),
        ocf_action = action
    )
    .entered()
}

/// `IPaddr2(vip)[1234]: INFO: message`, the shape of ocf_log lines admins already grep for.
struct OcfLine {
    prefix: String,
}

impl<S, N> FormatEvent<S, N> for OcfLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(w, "{}: {}: ", self.prefix, event.metadata().level())?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
