//! greenlight's AWS adapters: the ports of `greenlight-core` implemented with `aws-sdk-*`.
//!
//! Every client comes from one [`aws_config::SdkConfig`], loaded the standard way, so
//! `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>` variables (e.g.
//! `AWS_ENDPOINT_URL_CODEDEPLOY`) point any client at an emulator.

pub mod codedeploy;
pub mod dynamodb;
pub mod ecr;
pub mod ecs;
mod error;
pub mod inspect;
mod raw_json;
pub mod secrets;
pub mod ses;
pub mod sfn;
pub mod sns;
pub mod ssm;

pub use codedeploy::CodeDeployDeployments;
pub use dynamodb::DynamoLedger;
pub use ecr::EcrImages;
pub use ecs::EcsTaskDefinitions;
pub use inspect::Inspector;
pub use secrets::SecretsManagerSecrets;
pub use ses::SesMailer;
pub use sfn::SfnExecutions;
pub use sns::SnsNotifier;
pub use ssm::SsmManifest;

/// The standard config loader (environment, profile, container or instance credentials).
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
}

/// How long one attempt of an AWS call may take before the SDK gives it up and retries (its
/// standard retry mode: three attempts, exponential backoff with jitter). AWS answers every call
/// greenlight makes in milliseconds; without a bound, an answer that never comes would hold the
/// step until Lambda's timeout kills it.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long one AWS call may take in all, its retries included.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// The SDK's own default for opening a connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3100);

/// Loads the SDK config once per process, over `http` (greenlight's one HTTP client:
/// `greenlight_http::sdk_http_client`), with greenlight's timeouts; build every client from it.
pub async fn load_config(http: aws_smithy_runtime_api::client::http::SharedHttpClient) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    // The SDK's standard retries, but without "connection poisoning": greenlight's transport
    // (reqwest) keeps its own pool and drops a broken connection itself, and gives the SDK no
    // connection to mark, for which the SDK would log an ERROR on every transient failure.
    let retries = aws_config::retry::RetryConfig::standard()
        .with_reconnect_mode(aws_smithy_types::retry::ReconnectMode::ReuseAllConnections);
    config_loader().http_client(http).timeout_config(timeouts).retry_config(retries).load().await
}

/// The adapters of the steps that end a deployment and tell the team (finish, rollback).
#[derive(Debug, Clone)]
pub struct NotifyAdapters {
    pub deployments: CodeDeployDeployments,
    pub notifier: SnsNotifier,
    pub ledger: DynamoLedger,
}

impl NotifyAdapters {
    /// Over `config`: notifications to `topic_arn`, the ledger in `table`.
    pub fn new(config: &aws_config::SdkConfig, topic_arn: String, table: String) -> Self {
        Self {
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(config), topic_arn),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), table),
        }
    }
}

/// The adapters greenlight's functions use, built from one config.
#[derive(Debug, Clone)]
pub struct Adapters {
    pub task_definitions: EcsTaskDefinitions,
    pub images: EcrImages,
    pub deployments: CodeDeployDeployments,
}

impl Adapters {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            images: EcrImages::new(aws_sdk_ecr::Client::new(config)),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
        }
    }
}
