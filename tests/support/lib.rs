//! greenlight's workspace-wide tests. `tidy.rs` checks the invariants that span files (crate
//! boundaries, workspace-owned versions and lints, docs that name every crate and every
//! errorType); `emulator.rs` drives the local AWS emulation with aws-sdk-rust clients. This
//! library is their support: [`emulator::Emulator`] starts one emulation and tears it down;
//! [`pipeline::Pipeline`] adds greenlight's functions and state machine on top; [`bench`] is
//! the arithmetic of `cargo xtask bench`; [`hcl`] reads the orchestrator module's Terraform.

pub mod approve;
pub mod bench;
pub mod browser;
pub mod cli;
pub mod corpus;
pub mod emulator;
pub mod faults;
pub mod hcl;
pub mod modes;
pub mod pipeline;
pub mod reliability;
pub mod slack_rollback;
pub mod soak;
