//! The DynamoDB ledger: `pk` / `sk` string keys, one table for every kind of record, one module
//! per port. Validation records live at `pk = deployment#<id>`, `sk = validation#<time>`;
//! approvals at `pk = approval#<id>`; a service's lock, newest push and deployments at
//! `pk = service#<name>`.
//!
//! Every item is built with [`Item`] and every request classified with [`written`] or
//! [`classify`], so a conditional write's failed condition is always `Ok(None)` and never an
//! error, and every other failure keeps the SDK error as its source.

mod approvals;
mod history;
mod locks;
mod pauses;
mod validations;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use greenlight_core::Error;

use crate::error::classify;

/// Records are kept 90 days (the table's TTL attribute is `expires_at`).
const KEEP_SECONDS: i64 = 90 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// One item by key, read consistently.
    async fn get(&self, key: Item) -> Result<Option<Item>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.0))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e, |_| None))?;
        Ok(out.item.map(Item))
    }

    /// The items of partition `pk` whose sort key starts with `prefix`.
    async fn query(
        &self,
        pk: String,
        prefix: &str,
        newest_first: bool,
        limit: Option<u32>,
    ) -> Result<Vec<Item>, Error> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .scan_index_forward(!newest_first)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .send()
            .await
            .map_err(|e| classify("dynamodb:Query", e, |_| None))?;
        Ok(out.items.unwrap_or_default().into_iter().map(Item).collect())
    }
}

/// One item's attributes (or a key, or expression values), built the same way everywhere.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Item(pub(crate) HashMap<String, AttributeValue>);

impl Item {
    /// The key `pk`, `sk`.
    fn key(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self::default().s("pk", pk).s("sk", sk)
    }

    fn s(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), AttributeValue::S(value.into()));
        self
    }

    fn n(mut self, name: &str, value: i64) -> Self {
        self.0.insert(name.into(), AttributeValue::N(value.to_string()));
        self
    }

    fn bool(mut self, name: &str, value: bool) -> Self {
        self.0.insert(name.into(), AttributeValue::Bool(value));
        self
    }

    /// A list of strings (`L` of `S`).
    fn l(mut self, name: &str, values: impl IntoIterator<Item = String>) -> Self {
        self.0.insert(name.into(), AttributeValue::L(values.into_iter().map(AttributeValue::S).collect()));
        self
    }

    fn s_opt(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.s(name, v),
            None => self,
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(|v| v.as_bool().ok()).copied()
    }

    /// A required text attribute; its absence makes the item `CorruptRecord`.
    fn required(&self, name: &str, what: &str) -> Result<String, Error> {
        self.text(name).ok_or_else(|| corrupt(what, format!("its `{name}` attribute is missing or not a string")))
    }

    /// A list of JSON documents, each kept as a string (`L` of `S`); absent reads as empty.
    fn json_list<T: serde::de::DeserializeOwned>(&self, name: &str, what: &str) -> Result<Vec<T>, Error> {
        let Some(value) = self.0.get(name) else { return Ok(Vec::new()) };
        let list = value.as_l().map_err(|_| corrupt(what, format!("its `{name}` attribute is not a list")))?;
        list.iter()
            .map(|v| {
                let text = v.as_s().map_err(|_| corrupt(what, format!("an entry of `{name}` is not a string")))?;
                serde_json::from_str(text)
                    .map_err(|e| corrupt(what, format!("an entry of `{name}` does not read: {e}")))
            })
            .collect()
    }

    /// A JSON document kept in a string attribute.
    fn json<T: serde::de::DeserializeOwned>(&self, name: &str, what: &str) -> Result<T, Error> {
        serde_json::from_str(&self.required(name, what)?)
            .map_err(|e| corrupt(what, format!("its `{name}` attribute does not read: {e}")))
    }
}

fn corrupt(what: &str, problem: String) -> Error {
    Error::CorruptRecord { what: what.into(), problem }
}

/// A conditional write's outcome: `Some` when written, `None` when its condition failed.
fn written<T, E>(operation: &'static str, result: Result<T, SdkError<E, HttpResponse>>) -> Result<Option<T>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(classify(operation, e, |_| None)),
    }
}

/// Seconds since the epoch.
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn service_pk(service: &str) -> String {
    format!("service#{service}")
}
