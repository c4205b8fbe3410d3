//! The deploy pipeline's steps as the functions run them, one module per step, each over the
//! ports it names in its own `*Ports` struct; the payloads between them are in `payloads`.
//!
//! A function crate parses its input, builds the ports from the SDK adapters and calls one of
//! these; the tests call them over the in-memory fakes of `crate::fakes`.

mod approval;
mod awaiting;
mod begin;
mod decide;
mod finish;
mod lease;
mod payloads;
mod prepare;
mod push;
mod revert;
mod rollback;
mod serving;
mod start;
mod status;
mod thread;
mod validate;

pub use crate::execution::execution_name;
pub use approval::{ApprovalChannels, ApprovalPorts, request_approval};
pub use awaiting::{AwaitPorts, watch_approval};
pub use begin::{BeginPorts, begin, hold, requested_by};
pub use decide::{Applied, DecidePorts, Decider, admit, decide, keep_refusal};
pub use finish::{NotifyPorts, finish};
pub use lease::{Lease, epoch_seconds};
pub use payloads::*;
pub use prepare::{PreparePorts, prepare};
pub use push::{PushPorts, on_push};
pub use revert::{RevertPorts, RevertRequest, RevertTarget, Reverted, before_release, image_of, revert};
pub use rollback::rollback;
pub use start::{StartPorts, start_deployment};
pub use status::{StatusPorts, Watch, deployment_status};
pub use thread::tell_slack;
pub use validate::{HookTimes, ValidatePorts, traffic_gate, validate, validation_summary};

use crate::error::Error;
use crate::manifest::{Manifest, Service};

/// The manifest's entry for a service; `UnknownService` names those it has.
pub fn find_service<'a>(manifest: &'a Manifest, name: &str) -> Result<&'a Service, Error> {
    manifest.service(name).ok_or_else(|| Error::UnknownService {
        service: name.into(),
        known: manifest.services.iter().map(|s| s.name.clone()).collect(),
    })
}

fn missing_input(field: &str) -> Error {
    Error::InvalidInput { field: field.into(), problem: "is missing from the state machine's input".into() }
}
