//! The process's one rustls configuration: the ring crypto provider and the system's
//! certificate store, read once.

use std::sync::Arc;

/// TLS 1.2 and 1.3 with ring, trusting the system's certificate store (a private CA installed
/// there, for an internal test listener, is trusted too).
pub(crate) fn config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    // A certificate the store holds but rustls cannot parse is skipped, as the SDK's own
    // client does; the others still verify.
    let (_added, _skipped) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
