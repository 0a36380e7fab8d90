//! OCF exit codes and the error type that carries one.
//!
//! Agents return `anyhow::Result<OcfCode>`: `Ok` for the normal outcomes (running, not running,
//! promoted) and `Err` for failures. A failure carries its OCF code as an [`OcfError`] somewhere in
//! its context chain; [`code_of`] finds it. Only `ocf::run` turns results into process exit codes.

use std::fmt;

/// The exit codes of the OCF Resource Agent API 1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OcfCode {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    RunningPromoted = 8,
    FailedPromoted = 9,
    Degraded = 190,
    DegradedPromoted = 191,
}

impl OcfCode {
    pub const ALL: [OcfCode; 12] = [
        OcfCode::Success,
        OcfCode::ErrGeneric,
        OcfCode::ErrArgs,
        OcfCode::ErrUnimplemented,
        OcfCode::ErrPerm,
        OcfCode::ErrInstalled,
        OcfCode::ErrConfigured,
        OcfCode::NotRunning,
        OcfCode::RunningPromoted,
        OcfCode::FailedPromoted,
        OcfCode::Degraded,
        OcfCode::DegradedPromoted,
    ];

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name used by ocf-shellfuncs (`$OCF_ERR_CONFIGURED` …), for logs people grep.
    pub fn name(self) -> &'static str {
        match self {
            OcfCode::Success => "OCF_SUCCESS",
            OcfCode::ErrGeneric => "OCF_ERR_GENERIC",
            OcfCode::ErrArgs => "OCF_ERR_ARGS",
            OcfCode::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfCode::ErrPerm => "OCF_ERR_PERM",
            OcfCode::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfCode::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfCode::NotRunning => "OCF_NOT_RUNNING",
            OcfCode::RunningPromoted => "OCF_RUNNING_PROMOTED",
            OcfCode::FailedPromoted => "OCF_FAILED_PROMOTED",
            OcfCode::Degraded => "OCF_DEGRADED",
            OcfCode::DegradedPromoted => "OCF_DEGRADED_PROMOTED",
        }
    }
}

impl fmt::Display for OcfCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u8())
    }
}

/// A failure with its OCF code. Its text becomes the `ocf-exit-reason:` line, so it names the
/// parameter or the system condition in words an admin reads in `crm_mon`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfError {
    pub code: OcfCode,
    pub reason: String,
}

impl OcfError {
    pub fn new(code: OcfCode, reason: impl Into<String>) -> Self {
        OcfError {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for OcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for OcfError {}

/// The OCF code of a failure: the outermost [`OcfError`] in its chain, else OCF_ERR_GENERIC.
pub fn code_of(err: &anyhow::Error) -> OcfCode {
    err.downcast_ref::<OcfError>()
        .map_or(OcfCode::ErrGeneric, |e| e.code)
}

/// Attach an OCF code (and the reason an admin sees) to any fallible result.
pub trait OcfContext<T> {
    fn ocf(self, code: OcfCode, reason: impl Into<String>) -> anyhow::Result<T>;
    fn with_ocf<S: Into<String>>(
        self,
        code: OcfCode,
        reason: impl FnOnce() -> S,
    ) -> anyhow::Result<T>;
}

impl<T, E> OcfContext<T> for Result<T, E>
where
    Result<T, E>: anyhow::Context<T, E>,
{
    fn ocf(self, code: OcfCode, reason: impl Into<String>) -> anyhow::Result<T> {
        anyhow::Context::context(self, OcfError::new(code, reason))
    }

    fn with_ocf<S: Into<String>>(
        self,
        code: OcfCode,
        reason: impl FnOnce() -> S,
    ) -> anyhow::Result<T> {
        anyhow::Context::with_context(self, || OcfError::new(code, reason()))
    }
}

/// Return early with an OCF failure: `ocf_bail!(ErrConfigured, "parameter ip: {} is not an address", ip)`.
#[macro_export]
macro_rules! ocf_bail {
    ($code:ident, $($fmt:tt)+) => {
        return Err(::anyhow::Error::new($crate::ocf::OcfError::new(
            $crate::ocf::OcfCode::$code,
            format!($($fmt)+),
        )))
    };
}

/// Build an OCF failure as an `anyhow::Error` without returning.
#[macro_export]
macro_rules! ocf_err {
    ($code:ident, $($fmt:tt)+) => {
        ::anyhow::Error::new($crate::ocf::OcfError::new($crate::ocf::OcfCode::$code, format!($($fmt)+)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_have_their_ocf_values() {
        let values: Vec<u8> = OcfCode::ALL.iter().map(|c| c.as_u8()).collect();
        assert_eq!(values, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 190, 191]);
    }

    #[test]
    fn plain_errors_are_generic() {
        let e = anyhow::anyhow!("boom");
        assert_eq!(code_of(&e), OcfCode::ErrGeneric);
    }

    #[test]
    fn code_survives_outer_context_and_outermost_wins() {
        let inner: anyhow::Result<()> =
            Err(std::io::Error::other("EIO")).ocf(OcfCode::ErrInstalled, "inner");
        let e = inner.context("plain outer").unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrInstalled);
        let e = Err::<(), _>(e)
            .ocf(OcfCode::ErrConfigured, "outer")
            .unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured);
        assert_eq!(format!("{e:#}"), "outer: plain outer: inner: EIO");
    }

    #[test]
    fn bail_macro_carries_code() {
        fn f() -> anyhow::Result<()> {
            crate::ocf_bail!(ErrConfigured, "parameter {}: bad", "ip");
        }
        let e = f().unwrap_err();
        assert_eq!(code_of(&e), OcfCode::ErrConfigured);
        assert_eq!(e.to_string(), "parameter ip: bad");
    }
}
