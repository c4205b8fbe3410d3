//! What every greenlight function wires the same way: JSON logs, and errors that reach the
//! Lambda runtime with their stable `errorType` (the state machine's `Retry` / `Catch` match
//! on it; the runtime's default would be the Rust type name).

use lambda_runtime::Diagnostic;

/// A domain error on its way out of a handler.
#[derive(Debug)]
pub struct FunctionError(pub greenlight_core::Error);

impl From<greenlight_core::Error> for FunctionError {
    fn from(e: greenlight_core::Error) -> Self {
        Self(e)
    }
}

impl std::error::Error for FunctionError {}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic { error_type: e.0.error_type().to_string(), error_message: e.0.to_string() }
    }
}

/// The state machine's payload as a step's input type; a payload of the wrong shape is an
/// `InvalidInput` error naming the field.
pub fn parse_input<T: serde::de::DeserializeOwned>(payload: serde_json::Value) -> Result<T, FunctionError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        FunctionError(greenlight_core::Error::InvalidInput {
            field: e.path().to_string(),
            problem: e.inner().to_string(),
        })
    })
}

/// A required environment variable; its absence is an `InvalidConfiguration` error naming it.
pub fn env(variable: &'static str) -> Result<String, FunctionError> {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| FunctionError(greenlight_core::Error::Configuration { variable, problem: "is not set".into() }))
}

/// An optional number from the environment, with its default.
pub fn env_number(variable: &'static str, default: u64) -> Result<u64, FunctionError> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(v) => v.trim().parse().map_err(|_| {
            FunctionError(greenlight_core::Error::Configuration {
                variable,
                problem: format!("is `{v}`, not a number"),
            })
        }),
    }
}

/// `GREENLIGHT_LEASE_SECONDS` (default 900, at least 10): how long the service's lock lasts
/// after each step renews it, so that a crashed execution cannot hold it forever.
pub fn lease_seconds() -> Result<i64, FunctionError> {
    let seconds = env_number("GREENLIGHT_LEASE_SECONDS", 900)?;
    if seconds < 10 {
        return Err(FunctionError(greenlight_core::Error::Configuration {
            variable: "GREENLIGHT_LEASE_SECONDS",
            problem: format!("is {seconds}; a lease shorter than 10 s would expire between two steps. Set 10 or more"),
        }));
    }
    Ok(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// Fault injection for the end-to-end tests of failure paths: with
/// `GREENLIGHT_FAULT_INJECTION=fail:<function>`, that function fails every invocation with a
/// terminal `AwsError` (as if AWS refused its call), and the state machine's failure path runs.
/// Only in builds with the `fault-injection` feature (the tests'); a packaged function has none.
#[cfg(feature = "fault-injection")]
pub fn fault_point(function: &str) -> Result<(), FunctionError> {
    match fault_injection() {
        Some(v) if v.strip_prefix("fail:") == Some(function) => Err(FunctionError(greenlight_core::Error::Aws {
            operation: "fault injection",
            retryable: false,
            source: format!("GREENLIGHT_FAULT_INJECTION={v}").into(),
        })),
        _ => Ok(()),
    }
}

/// Without the `fault-injection` feature, nothing fails on purpose.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn fault_point(_function: &str) -> Result<(), FunctionError> {
    Ok(())
}

/// `GREENLIGHT_FAULT_INJECTION`, in builds with the `fault-injection` feature.
#[cfg(feature = "fault-injection")]
pub fn fault_injection() -> Option<String> {
    std::env::var("GREENLIGHT_FAULT_INJECTION").ok()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A lease of `seconds` starting now.
pub fn lease(seconds: i64) -> greenlight_core::pipeline::Lease {
    greenlight_core::pipeline::Lease { now: now(), seconds }
}

/// JSON logs to stdout (CloudWatch Logs), level from `RUST_LOG` (default `info`), without
/// ANSI colours or the time (CloudWatch stamps each line).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::Error;

    #[test]
    fn diagnostic_carries_the_stable_error_type() {
        let e = Error::InvalidEvent { field: "detail.image-digest".into(), problem: "is missing or empty".into() };
        let d: Diagnostic = FunctionError(e).into();
        assert_eq!(d.error_type, "InvalidEvent");
        assert_eq!(d.error_message, "invalid ECR push event: `detail.image-digest` is missing or empty");
        let wire = serde_json::to_value(&d).expect("serializes");
        assert_eq!(wire["errorType"], "InvalidEvent");
    }
}
