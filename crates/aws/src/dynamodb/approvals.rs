//! Approvals at `pk = approval#<id>`, `sk = approval`: the record as JSON in `record`, the
//! decision in `decided`, written once by a conditional update and never after `expires_at`.

use greenlight_core::Error;
use greenlight_core::approval::{ApprovalRecord, Decided};
use greenlight_core::ports::Approvals;

use super::{DynamoLedger, Item, written};
use crate::error::classify;

const WHAT: &str = "approval record";

fn key(id: &str) -> Item {
    Item::key(format!("approval#{id}"), "approval")
}

/// The approval's item must not exist yet (ids are random: a clash is a bug, not a retry).
const PUT_CONDITION: &str = "attribute_not_exists(pk)";
/// A decision is taken once, before the approval expires.
const DECIDE_CONDITION: &str = "attribute_exists(pk) AND attribute_not_exists(decided) AND expires_at >= :now";

impl Approvals for DynamoLedger {
    async fn put_approval(&self, record: &ApprovalRecord) -> Result<(), Error> {
        let item = key(&record.id)
            .s("kind", "approval")
            .s("record", serde_json::to_string(record).unwrap_or_default())
            .n("expires_at", record.expires_at);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.0))
            .condition_expression(PUT_CONDITION)
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, Error> {
        let Some(item) = self.get(key(id)).await? else { return Ok(None) };
        let mut record: ApprovalRecord = item.json("record", WHAT)?;
        record.decided = match item.text("decided") {
            Some(_) => Some(item.json("decided", WHAT)?),
            None => None,
        };
        Ok(Some(record))
    }

    async fn decide(&self, id: &str, decided: &Decided, now: i64) -> Result<bool, Error> {
        let values = Item::default().s(":decided", serde_json::to_string(decided).unwrap_or_default()).n(":now", now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id).0))
            .update_expression("SET decided = :decided")
            .condition_expression(DECIDE_CONDITION)
            .set_expression_attribute_values(Some(values.0))
            .send()
            .await;
        Ok(written("dynamodb:UpdateItem", result)?.is_some())
    }
}
