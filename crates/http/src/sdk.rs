//! The AWS SDK's HTTP transport over the process's reqwest client, so the SDK and greenlight's
//! own HTTP (Slack, the checks) share one connection pool, one rustls configuration and one
//! crypto provider, and the certificate store is loaded once per process.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// An SDK `HttpClient` sending every request through `client`.
pub fn sdk_http_client(client: reqwest::Client) -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient { client })
}

#[derive(Debug, Clone)]
struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        // reqwest keeps the connection pool; the connector only carries the SDK's timeouts
        // (connect and read together bound one request here).
        let timeout = match (settings.connect_timeout(), settings.read_timeout()) {
            (Some(c), Some(r)) => Some(c + r),
            (c, r) => c.or(r),
        };
        SharedHttpConnector::new(ReqwestConnector { client: self.client.clone(), timeout })
    }
}

#[derive(Debug, Clone)]
struct ReqwestConnector {
    client: reqwest::Client,
    timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (client, timeout) = (self.client.clone(), self.timeout);
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            // The SDK's requests here are JSON and query documents, held in memory.
            let body = body.bytes().map(bytes::Bytes::copy_from_slice).ok_or_else(|| {
                ConnectorError::user("a streaming request body is not supported by greenlight's HTTP transport".into())
            })?;
            let mut builder = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
            if let Some(t) = timeout {
                builder = builder.timeout(t);
            }
            let response = builder.send().await.map_err(classify)?;
            let mut out = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = out.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await.map_err(classify)?;
            let out = out.body(SdkBody::from(body)).map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(out).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// reqwest's failure as the SDK's retry logic reads it: timeouts and connection failures are
/// transient.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
