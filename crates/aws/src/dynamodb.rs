//! The DynamoDB ledger: `pk` / `sk` string keys, one table for every kind of record.
//! Validation reports live at `pk = deployment#<id>`, `sk = validation#<RFC 3339 time>`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use greenlight_core::Error;
use greenlight_core::ports::Ledger;
use serde_json::Value;

use crate::error::classify;

/// Reports are kept 90 days (the table's TTL attribute is `expires_at`).
const KEEP_SECONDS: u64 = 90 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl Ledger for DynamoLedger {
    async fn save_validation(&self, deployment_id: &str, report: &Value) -> Result<(), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("deployment#{deployment_id}")))
            .item("sk", AttributeValue::S(format!("validation#{:020}", now.as_nanos())))
            .item("kind", AttributeValue::S("validation".into()))
            .item("report", AttributeValue::S(report.to_string()))
            .item("expires_at", AttributeValue::N((now.as_secs() + KEEP_SECONDS).to_string()))
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn validations(&self, deployment_id: &str) -> Result<Vec<Value>, Error> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :kind)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("deployment#{deployment_id}")))
            .expression_attribute_values(":kind", AttributeValue::S("validation#".into()))
            .send()
            .await
            .map_err(|e| classify("dynamodb:Query", e, |_| None))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| item.get("report")?.as_s().ok().and_then(|s| serde_json::from_str(s).ok()))
            .collect())
    }
}
