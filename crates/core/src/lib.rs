//! greenlight's deploy domain: the manifest, ECR push events, tag rules, the task-definition
//! transform, the AppSpec and the deploy plan, plus the ports the AWS adapters implement.
//!
//! Invariant: nothing here talks to AWS or knows the Lambda runtime (no `aws-sdk-*`, no
//! `lambda_runtime`); adapters live in `greenlight-aws`, wiring in `functions/`.

pub mod approval;
pub mod approvers;
pub mod appspec;
pub mod checks;
pub mod diff;
pub mod drift;
pub mod error;
pub mod event;
pub mod execution;
pub mod fakes;
pub mod history;
pub mod links;
pub mod lock;
pub mod manifest;
pub mod pause;
pub mod pipeline;
pub mod plan;
pub mod ports;
pub mod request;
pub mod slack_outcomes;
pub mod tags;
pub mod taskdef;

pub use error::{Error, Issue, Result};
