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

/// Approvals live at `pk = approval#<id>`, `sk = approval`; `decided` is written once, by a
/// conditional update, and never after `expires_at`.
impl greenlight_core::ports::Approvals for DynamoLedger {
    async fn put_approval(&self, record: &greenlight_core::approval::ApprovalRecord) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("approval#{}", record.id)))
            .item("sk", AttributeValue::S("approval".into()))
            .item("kind", AttributeValue::S("approval".into()))
            .item("record", AttributeValue::S(serde_json::to_string(record).unwrap_or_default()))
            .item("expires_at", AttributeValue::N(record.expires_at.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<greenlight_core::approval::ApprovalRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("approval#{id}")))
            .key("sk", AttributeValue::S("approval".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e, |_| None))?;
        let Some(item) = out.item() else { return Ok(None) };
        let mut record: greenlight_core::approval::ApprovalRecord =
            match item.get("record").and_then(|r| r.as_s().ok()).and_then(|s| serde_json::from_str(s).ok()) {
                Some(r) => r,
                None => return Ok(None),
            };
        record.decided = item.get("decided").and_then(|d| d.as_s().ok()).and_then(|s| serde_json::from_str(s).ok());
        Ok(Some(record))
    }

    async fn decide(&self, id: &str, decided: &greenlight_core::approval::Decided, now: i64) -> Result<bool, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("approval#{id}")))
            .key("sk", AttributeValue::S("approval".into()))
            .update_expression("SET decided = :decided")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(decided) AND expires_at >= :now")
            .expression_attribute_values(
                ":decided",
                AttributeValue::S(serde_json::to_string(decided).unwrap_or_default()),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(classify("dynamodb:UpdateItem", e, |_| None)),
        }
    }
}
