//! Validation records at `pk = deployment#<id>`, `sk = validation#<time in ns>`: the whole
//! [`ValidationRecord`] as JSON in `record`.

use std::time::{SystemTime, UNIX_EPOCH};

use greenlight_core::Error;
use greenlight_core::checks::ValidationRecord;
use greenlight_core::ports::Validations;

use super::{DynamoLedger, Item, KEEP_SECONDS, now};
use crate::error::classify;

const WHAT: &str = "validation record";

impl Validations for DynamoLedger {
    async fn save_validation(&self, record: &ValidationRecord) -> Result<(), Error> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let item = Item::key(format!("deployment#{}", record.deployment_id), format!("validation#{nanos:020}"))
            .s("kind", "validation")
            // Plain data with string keys: serializing cannot fail.
            .s("record", serde_json::to_string(record).unwrap_or_default())
            .n("expires_at", now() + KEEP_SECONDS);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.0))
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn validations(&self, deployment_id: &str) -> Result<Vec<ValidationRecord>, Error> {
        let items = self.query(format!("deployment#{deployment_id}"), "validation#", false, None).await?;
        items.iter().map(|item| item.json("record", WHAT)).collect()
    }
}
