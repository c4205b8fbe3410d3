//! SNS: deployment outcomes on the notification topic.

use greenlight_core::Error;
use greenlight_core::ports::Notifier;

use crate::error::classify;

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }
}

impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), Error> {
        // SNS subjects are at most 100 characters.
        let subject: String = subject.chars().take(100).collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| classify("sns:Publish", e, |_| None))?;
        Ok(())
    }
}
