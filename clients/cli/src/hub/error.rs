//! Errors a researcher sees: what went wrong and what to do, with the
//! documented exit code.

use std::fmt;

use fip_kit::error::ApiError;
use fip_proto::common::v1::ErrorReason;
use tonic::{Code, Status};

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 1: any other error.
    Error = 1,
    /// 2: the command line is wrong.
    Usage = 2,
    /// 3: the job failed or was cancelled.
    JobFailed = 3,
    /// 4: not signed in, or the hub or a server refused.
    Refused = 4,
}

/// A failure with the advice to print and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// One or more lines for the user.
    pub message: String,
    /// The decoded `google.rpc.Status`, when the hub answered one.
    pub api: Option<Box<ApiError>>,
}

impl CliError {
    /// Exit 1 with this message.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Exit::Error, message)
    }

    /// Exit 2 with this message.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Exit 4 with this message.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    /// This exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            api: None,
        }
    }

    /// Not signed in: the advice to sign in.
    pub fn not_signed_in(profile: &str) -> Self {
        Self::refused(format!(
            "not signed in (profile {profile}): run `fip login{}`",
            profile_flag(profile)
        ))
    }

    /// The reason the hub gave, if any.
    pub fn reason(&self) -> Option<ErrorReason> {
        self.api.as_ref().map(|api| api.reason)
    }
}

fn profile_flag(profile: &str) -> String {
    if profile == super::profile::DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" --profile {profile}")
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        Self::error(format!("{error:#}"))
    }
}

/// A service named in an error, for advice such as
/// "run `fip credentials set h3africa`".
#[derive(Clone, Debug, Default)]
pub struct Named {
    /// The service's display name.
    pub name: String,
    /// Its slug.
    pub slug: String,
}

/// Turns a hub answer into advice. `service` names the service the error's
/// `service_id` points at, when the caller could look it up; `profile` is
/// the profile in use.
pub fn explain(status: &Status, service: Option<&Named>, profile: &str) -> CliError {
    let Some(api) = ApiError::from_status(status) else {
        let message = match status.code() {
            Code::Unavailable => format!(
                "cannot reach the hub ({}): check that it runs and that the URL is right (`fip login --url URL`, or FIP_URL)",
                status.message()
            ),
            Code::Unauthenticated => {
                return CliError::refused(format!(
                    "the hub refused the session ({}): run `fip login{}`",
                    status.message(),
                    profile_flag(profile)
                ));
            }
            Code::PermissionDenied => {
                return CliError::refused(format!(
                    "refused: {}; ask an administrator for access",
                    status.message()
                ));
            }
            _ => format!("the hub answered {:?}: {}", status.code(), status.message()),
        };
        return CliError::error(message);
    };
    let (svc_name, slug) = match service {
        Some(named) => (named.name.clone(), named.slug.clone()),
        None => {
            let id = api.metadata.get("service_id").cloned().unwrap_or_default();
            (format!("service {id}"), id)
        }
    };
    let message = api.message.clone();
    let (exit, advice) = match api.reason {
        ErrorReason::TokenMissing | ErrorReason::TokenInvalid | ErrorReason::TokenExpired => (
            Exit::Refused,
            format!("not signed in: run `fip login{}`", profile_flag(profile)),
        ),
        ErrorReason::SessionEnded => (
            Exit::Refused,
            format!(
                "the session has ended (signed out, revoked or replaced): run `fip login{}`",
                profile_flag(profile)
            ),
        ),
        ErrorReason::LoginFailed => (
            Exit::Refused,
            "wrong username or password: check them and run `fip login` again".to_owned(),
        ),
        ErrorReason::LoginThrottled => (
            Exit::Refused,
            format!("{message}: too many failed sign-ins from here; wait, then try again"),
        ),
        ErrorReason::AccountDisabled => (
            Exit::Refused,
            "this account is disabled: ask an administrator to activate it".to_owned(),
        ),
        ErrorReason::PermissionDenied => (
            Exit::Refused,
            format!("{message}: your account's roles do not allow this; ask an administrator"),
        ),
        ErrorReason::CredentialsMissing => (
            Exit::Refused,
            format!("no credential for {svc_name}: run `fip credentials set {slug}`"),
        ),
        ErrorReason::CredentialsRejected => (
            Exit::Refused,
            format!(
                "{svc_name} refused your API token: store a new one with `fip credentials set {slug}`"
            ),
        ),
        ErrorReason::CredentialsExpired => (
            Exit::Refused,
            format!(
                "your API token for {svc_name} has expired: store a new one with `fip credentials set {slug}`"
            ),
        ),
        ErrorReason::ValidationFailed => (Exit::Error, with_violations(&message, &api)),
        ErrorReason::InputInvalid => (
            Exit::Error,
            format!(
                "{}\nrun `fip check FILE --build BUILD` to see every finding, fix the file and submit again",
                with_violations(&message, &api)
            ),
        ),
        ErrorReason::NotFound => (
            Exit::Error,
            format!(
                "{message}: check the name or id (`fip jobs`, `fip services`, `fip panels` list them)"
            ),
        ),
        ErrorReason::TargetMismatch => (
            Exit::Error,
            format!(
                "{message}: choose a panel and build that match (`fip panels --service {slug}`)"
            ),
        ),
        ErrorReason::ServiceInactive => (
            Exit::Error,
            format!(
                "{message}: {svc_name} is switched off; choose another service (`fip services`)"
            ),
        ),
        ErrorReason::ServiceUnavailable | ErrorReason::UpstreamFailed => (
            Exit::Error,
            format!("{message}: the server is unavailable; try again later or choose another"),
        ),
        ErrorReason::RateLimited => (
            Exit::Error,
            format!("{message}: too many requests; wait a moment and try again"),
        ),
        ErrorReason::QuotaExceeded | ErrorReason::FileTooLarge => (
            Exit::Error,
            format!(
                "{message}: delete files you no longer need, or ask an administrator for more space"
            ),
        ),
        ErrorReason::JobNotCancellable => (
            Exit::Error,
            format!("{message}: the job has already ended (`fip status JOB`)"),
        ),
        ErrorReason::ResultsExpired => (
            Exit::Error,
            format!("{message}: the results were deleted; submit the job again"),
        ),
        ErrorReason::IntegrityCheckFailed => (
            Exit::Error,
            format!("{message}: the bytes were damaged in transit; run the command again"),
        ),
        ErrorReason::AlreadyExists
        | ErrorReason::RegistrationDisabled
        | ErrorReason::OperationNotSupported
        | ErrorReason::LastAdmin
        | ErrorReason::Internal
        | ErrorReason::Unspecified => (Exit::Error, message.clone()),
    };
    CliError {
        exit,
        message: advice,
        api: Some(Box::new(api)),
    }
}

fn with_violations(message: &str, api: &ApiError) -> String {
    let mut out = message.to_owned();
    for (field, description) in &api.violations {
        out.push_str(&format!("\n  {field}: {description}"));
    }
    out
}
