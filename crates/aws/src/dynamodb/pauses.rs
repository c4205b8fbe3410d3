//! A service's pause at `pk = service#<name>`, `sk = pause`: written only when absent, so a
//! second `greenlight pause` learns who paused first instead of replacing it.

use aws_sdk_dynamodb::types::ReturnValue;
use greenlight_core::Error;
use greenlight_core::pause::Pause;
use greenlight_core::ports::Pauses;

use super::{DynamoLedger, Item, service_pk, written};

const WHAT: &str = "service pause";
/// Pausing: only a service that is not paused.
const PAUSE_CONDITION: &str = "attribute_not_exists(pk)";

fn pause_key(service: &str) -> Item {
    Item::key(service_pk(service), "pause")
}

fn pause(item: &Item) -> Result<Pause, Error> {
    Ok(Pause {
        by: item.required("by", WHAT)?,
        reason: item.text("reason").unwrap_or_default(),
        at: item.text("at").unwrap_or_default(),
    })
}

impl Pauses for DynamoLedger {
    async fn pause(&self, service: &str, p: &Pause) -> Result<Option<Pause>, Error> {
        let item = pause_key(service).s("kind", "pause").s("by", &p.by).s("reason", &p.reason).s("at", &p.at);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.0))
            .condition_expression(PAUSE_CONDITION)
            .send()
            .await;
        match written("dynamodb:PutItem", result)? {
            Some(_) => Ok(None),
            None => self.paused(service).await,
        }
    }

    async fn paused(&self, service: &str) -> Result<Option<Pause>, Error> {
        self.get(pause_key(service)).await?.as_ref().map(pause).transpose()
    }

    async fn resume(&self, service: &str) -> Result<Option<Pause>, Error> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(pause_key(service).0))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| crate::error::classify("dynamodb:DeleteItem", e, |_| None))?;
        out.attributes.filter(|a| !a.is_empty()).map(Item).as_ref().map(pause).transpose()
    }
}
