//! The validation checks' HTTP probe: one request of a check against the test listener.

use std::time::Duration;

use greenlight_core::checks::{Probe, ProbeRequest, ProbeResponse};

/// HTTP checks over one reqwest client (connections are reused across checks and attempts).
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    /// Fault injection for the always-reports guarantee: every check panics.
    #[cfg(feature = "fault-injection")]
    panic_in_checks: bool,
}

impl HttpProbe {
    /// A probe over `client` (built with connection reuse: `pool_max_idle_per_host`).
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            #[cfg(feature = "fault-injection")]
            panic_in_checks: false,
        }
    }

    /// Every check panics (`GREENLIGHT_FAULT_INJECTION=panic_in_checks`): tests of the hook's
    /// always-reports guarantee.
    #[cfg(feature = "fault-injection")]
    pub fn panicking(mut self, panic_in_checks: bool) -> Self {
        self.panic_in_checks = panic_in_checks;
        self
    }
}

impl Probe for HttpProbe {
    async fn send(&self, request: ProbeRequest) -> Result<ProbeResponse, String> {
        #[cfg(feature = "fault-injection")]
        assert!(!self.panic_in_checks, "fault injection: GREENLIGHT_FAULT_INJECTION=panic_in_checks");
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| format!("method: {e}"))?;
        let mut builder = self.client.request(method, &request.url).timeout(request.timeout);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let response = builder.send().await.map_err(|e| describe(&e, request.timeout))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| describe(&e, request.timeout))?;
        Ok(ProbeResponse { status, body })
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let mut chain = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        format!("cannot connect: {chain}")
    } else {
        format!("{e}{}", if chain.is_empty() { String::new() } else { format!(": {chain}") })
    }
}
