//! SDK errors into the domain's error, keeping what a caller decides on: throttled, denied,
//! not found, retryable or terminal. The SDK error itself stays attached as the source.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use greenlight_core::Error;
use greenlight_core::error::ResourceKind;

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    // SNS's modelled ThrottledException on the wire.
    "Throttled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "SlowDown",
];

const ACCESS_DENIED_CODES: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"];

/// Classifies an SDK error. `specific` maps the operation's own modelled errors (not found,
/// deployment in progress…) and returns `None` for the rest.
pub(crate) fn classify<E>(
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
    specific: impl FnOnce(&E) -> Option<Specific>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, server_error) = match &err {
        SdkError::ServiceError(ctx) => {
            if let Some(s) = specific(ctx.err()) {
                return s.into_error(operation, Box::new(err));
            }
            (ctx.err().code().map(str::to_string), ctx.raw().status().is_server_error())
        }
        _ => (None, false),
    };
    let retryable = server_error
        || matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_));
    let source = Box::new(err);
    match code.as_deref() {
        Some(c) if THROTTLING_CODES.contains(&c) => Error::Throttled { operation, source },
        Some(c) if ACCESS_DENIED_CODES.contains(&c) => Error::AccessDenied { operation, source },
        _ => Error::Aws { operation, retryable, source },
    }
}

/// An operation-specific outcome of a service error.
pub(crate) enum Specific {
    NotFound {
        kind: ResourceKind,
        name: String,
        hint: Option<String>,
    },
    DeploymentInProgress {
        group: String,
    },
    /// A modelled error that is AWS's way of saying "slow down" (ECS's ClientException "Too many
    /// concurrent attempts to create a new revision of the specified family").
    Throttled,
}

impl Specific {
    pub(crate) fn not_found(kind: ResourceKind, name: &str, hint: &str) -> Option<Self> {
        Some(Self::NotFound { kind, name: name.into(), hint: (!hint.is_empty()).then(|| hint.into()) })
    }

    fn into_error(self, operation: &'static str, source: greenlight_core::error::BoxError) -> Error {
        match self {
            Self::NotFound { kind, name, hint } => Error::NotFound { kind, name, hint, source: Some(source) },
            Self::DeploymentInProgress { group } => Error::DeploymentInProgress { group, source },
            Self::Throttled => Error::Throttled { operation, source },
        }
    }
}
