//! greenlight's workspace-wide tests. `tidy.rs` checks the invariants that span files
//! (crate boundaries, workspace-owned versions and lints, docs that name every crate and
//! every errorType). The end-to-end tests against the local AWS emulation will live here too.
