//! The SDK's transport over reqwest, through a real SDK client's request path against local
//! servers: status, headers and body reach the SDK's parser (a modelled error is recognised),
//! and a refused connection and a server that never answers come back as the connector errors
//! the SDK's retry logic treats as transient (I/O, timeout).

use std::time::Duration;

use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::timeout::TimeoutConfig;
use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::types::ImageIdentifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn ecr(endpoint: &str) -> aws_sdk_ecr::Client {
    let http = greenlight_http::sdk_http_client(greenlight_http::client().expect("client"));
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::builder().read_timeout(Duration::from_millis(300)).build())
        .http_client(http)
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

async fn describe(
    client: &aws_sdk_ecr::Client,
) -> Result<(), SdkError<aws_sdk_ecr::operation::describe_images::DescribeImagesError>> {
    let id = ImageIdentifier::builder().image_digest("sha256:00").build();
    client.describe_images().repository_name("web").image_ids(id).send().await.map(|_| ())
}

/// A server on 127.0.0.1 that answers every request with `reply` (or never, with `None`).
async fn server(reply: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                let _ = stream.read(&mut buf).await;
                match reply {
                    Some(r) => {
                        let _ = stream.write_all(r.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    endpoint
}

#[tokio::test]
async fn a_modelled_error_reaches_the_sdks_parser() {
    let body = r#"{"__type":"ImageNotFoundException","message":"no such image"}"#;
    let reply = Box::leak(
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let err = describe(&ecr(&server(Some(reply)).await)).await.expect_err("not found");
    let service = err.as_service_error().unwrap_or_else(|| panic!("a service error, not {err:?}"));
    assert!(service.is_image_not_found_exception(), "{service:?}");
}

#[tokio::test]
async fn a_refused_connection_is_io_and_a_silent_server_a_timeout() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let refused = describe(&ecr(&endpoint)).await.expect_err("refused");
    let SdkError::DispatchFailure(failure) = &refused else { panic!("a dispatch failure, not {refused:?}") };
    assert!(failure.is_io(), "{failure:?}");

    let silent = describe(&ecr(&server(None).await)).await.expect_err("no answer");
    let SdkError::DispatchFailure(failure) = &silent else { panic!("a dispatch failure, not {silent:?}") };
    assert!(failure.is_timeout(), "{failure:?}");
}
