//! Amazon SES (API v2, `SendEmail`): an approval request to one approver, plain text, from the
//! orchestrator's sender address (`GREENLIGHT_EMAIL_FROM`, an identity verified in SES).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use greenlight_core::Error;
use greenlight_core::ports::Mailer;

use crate::error::classify;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    /// The sender; none when the orchestrator has no sender address configured.
    from: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: Option<String>) -> Self {
        Self { client, from }
    }
}

fn content(text: &str) -> Result<Content, Error> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| Error::Aws {
        operation: "ses:SendEmail",
        retryable: false,
        source: e.into(),
    })
}

impl Mailer for SesMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), Error> {
        let from = self.from.as_deref().ok_or(Error::Configuration {
            variable: "GREENLIGHT_EMAIL_FROM",
            problem: "is not set, and a service asks its email approvers by email (approval.channels has \"email\"): set the orchestrator module's approval_email_from to an address verified in SES".into(),
        })?;
        let message =
            Message::builder().subject(content(subject)?).body(Body::builder().text(content(body)?).build()).build();
        self.client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| classify("ses:SendEmail", e, |_| None))?;
        Ok(())
    }
}
