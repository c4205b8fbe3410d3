//! Approvals at `pk = approval#<id>`, `sk = approval`: the record as JSON in `record`; beside
//! it the approvals counted so far (`approvals`, a list, with their number in `approval_count`),
//! the refusals (`refusals`), the decision (`decided`) and where the Slack message is
//! (`slack_post`). Every change is one conditional
//! update: never after a decision, never after `expires_at`, never from a stale count.

use greenlight_core::Error;
use greenlight_core::approval::{ApprovalRecord, Refused, SlackPost};
use greenlight_core::ports::{Approvals, Settle};

use super::{DynamoLedger, Item, written};
use crate::error::classify;

const WHAT: &str = "approval record";

fn key(id: &str) -> Item {
    Item::key(format!("approval#{id}"), "approval")
}

/// The approval's item must not exist yet (ids are random: a clash is a bug, not a retry).
const PUT_CONDITION: &str = "attribute_not_exists(pk)";
/// A change is taken before any decision and before the approval expires...
const SETTLE_CONDITION: &str = "attribute_exists(pk) AND attribute_not_exists(decided) AND expires_at >= :now";
/// ...from the count it was computed from (an item written before counts were kept has none).
const FIRST_COUNT: &str = "(attribute_not_exists(approval_count) OR approval_count = :counted)";
const LATER_COUNT: &str = "approval_count = :counted";

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl Approvals for DynamoLedger {
    async fn put_approval(&self, record: &ApprovalRecord) -> Result<(), Error> {
        let item = key(&record.id)
            .s("kind", "approval")
            .s("record", json(record))
            .n("approval_count", 0)
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
        record.approvals = item.json_list("approvals", WHAT)?;
        record.refusals = item.json_list("refusals", WHAT)?;
        record.slack_post = match item.text("slack_post") {
            Some(_) => Some(item.json("slack_post", WHAT)?),
            None => None,
        };
        Ok(Some(record))
    }

    async fn settle(&self, id: &str, change: Settle<'_>, now: i64) -> Result<bool, Error> {
        let counted = i64::try_from(change.counted).unwrap_or(i64::MAX);
        let mut values = Item::default().n(":now", now).n(":counted", counted);
        let mut set = Vec::new();
        if let Some(approval) = change.approval {
            values = values.l(":one", [json(approval)]).l(":empty", []).n(":next", counted + 1);
            set.push("approvals = list_append(if_not_exists(approvals, :empty), :one), approval_count = :next");
        }
        if let Some(decided) = change.decided {
            values = values.s(":decided", json(decided));
            set.push("decided = :decided");
        }
        if set.is_empty() {
            return Ok(true);
        }
        let count = if change.counted == 0 { FIRST_COUNT } else { LATER_COUNT };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id).0))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(format!("{SETTLE_CONDITION} AND {count}"))
            .set_expression_attribute_values(Some(values.0))
            .send()
            .await;
        Ok(written("dynamodb:UpdateItem", result)?.is_some())
    }

    async fn refuse(&self, id: &str, refused: &Refused) -> Result<(), Error> {
        let values = Item::default().l(":one", [json(refused)]).l(":empty", []);
        self.update_existing(id, "SET refusals = list_append(if_not_exists(refusals, :empty), :one)", values).await
    }

    async fn note_slack_post(&self, id: &str, post: &SlackPost) -> Result<(), Error> {
        self.update_existing(id, "SET slack_post = :post", Item::default().s(":post", json(post))).await
    }
}

impl DynamoLedger {
    /// One update of an approval that exists (kept beside it only: an unknown id writes nothing
    /// and is no error).
    async fn update_existing(&self, id: &str, update: &str, values: Item) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id).0))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(Some(values.0))
            .send()
            .await;
        written("dynamodb:UpdateItem", result)?;
        Ok(())
    }
}
