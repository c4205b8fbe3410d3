//! The lock at `pk = service#<name>`, `sk = lock`, and the newest push at `sk = newest`. Every
//! change is a conditional write on that one item, so DynamoDB serialises them: of two
//! executions racing for the lock, exactly one wins.

use aws_sdk_dynamodb::types::ReturnValue;
use greenlight_core::Error;
use greenlight_core::lock::{Acquire, LockHolder, NewestPush, Renew, Renewal};
use greenlight_core::ports::Locks;

use super::{DynamoLedger, Item, service_pk, written};

const WHAT: &str = "service lock";

/// A push is the newest unless a newer one is recorded.
const NEWEST_CONDITION: &str = "attribute_not_exists(pk) OR push_order <= :order";
/// The lock is free, ours and still without a deployment, or its lease ended while its
/// production traffic was not moving. "Ours" alone is not enough: an acquire of ours that timed
/// out on the client and was retried can still land later, and must not wipe the deployment
/// and the approval the execution recorded under the lock since.
const ACQUIRE_CONDITION: &str = "attribute_not_exists(pk) OR (execution = :me AND attribute_not_exists(deployment_id)) \
     OR (lease_until < :now AND (attribute_not_exists(shifting) OR shifting = :false))";
/// The holder is still the expired one the caller saw end.
const TAKE_EXPIRED_CONDITION: &str = "execution = :expired AND lease_until < :now";
/// ...or (`supersede`) an older push holds it whose production traffic is not moving.
const TAKE_OLDER_CONDITION: &str =
    " OR (push_order < :order AND (attribute_not_exists(shifting) OR shifting = :false))";
/// Renewing and releasing: only the holder.
const HOLDER_CONDITION: &str = "execution = :me";

fn lock_key(service: &str) -> Item {
    Item::key(service_pk(service), "lock")
}

fn holder(item: &Item) -> Result<LockHolder, Error> {
    Ok(LockHolder {
        execution: item.required("execution", WHAT)?,
        request: item.text("request_id"),
        order: item.required("push_order", WHAT)?,
        tag: item.text("tag").unwrap_or_default(),
        digest: item.text("digest").unwrap_or_default(),
        lease_until: item.number("lease_until").unwrap_or(0),
        deployment_id: item.text("deployment_id"),
        approval_id: item.text("approval_id"),
        shifting: item.flag("shifting").unwrap_or(false),
    })
}

impl Locks for DynamoLedger {
    async fn record_push(&self, service: &str, push: &NewestPush) -> Result<bool, Error> {
        let item = Item::key(service_pk(service), "newest")
            .s("kind", "newest_push")
            .s("push_order", &push.order)
            .s("tag", &push.tag)
            .s("digest", &push.digest);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.0))
            .condition_expression(NEWEST_CONDITION)
            .set_expression_attribute_values(Some(Item::default().s(":order", &push.order).0))
            .send()
            .await;
        Ok(written("dynamodb:PutItem", result)?.is_some())
    }

    async fn newest_push(&self, service: &str) -> Result<Option<NewestPush>, Error> {
        let Some(item) = self.get(Item::key(service_pk(service), "newest")).await? else { return Ok(None) };
        Ok(Some(NewestPush {
            order: item.required("push_order", "newest push")?,
            tag: item.text("tag").unwrap_or_default(),
            digest: item.text("digest").unwrap_or_default(),
        }))
    }

    async fn holder(&self, service: &str) -> Result<Option<LockHolder>, Error> {
        self.get(lock_key(service)).await?.as_ref().map(holder).transpose()
    }

    async fn acquire(&self, service: &str, claim: &LockHolder, now: i64, take_older: bool) -> Result<Acquire, Error> {
        let mut condition = ACQUIRE_CONDITION.to_string();
        let mut values = Item::default().s(":me", &claim.execution).n(":now", now).bool(":false", false);
        if take_older {
            condition.push_str(TAKE_OLDER_CONDITION);
            values = values.s(":order", &claim.order);
        }
        self.put_lock(service, claim, condition, values).await
    }

    async fn take_expired(&self, service: &str, claim: &LockHolder, expired: &str, now: i64) -> Result<Acquire, Error> {
        let values = Item::default().s(":expired", expired).n(":now", now);
        self.put_lock(service, claim, TAKE_EXPIRED_CONDITION.to_string(), values).await
    }

    async fn renew(
        &self,
        service: &str,
        execution: &str,
        lease_until: i64,
        renew: &Renew<'_>,
    ) -> Result<Renewal, Error> {
        let mut sets = vec!["lease_until = :until"];
        let mut values = Item::default().s(":me", execution).n(":until", lease_until);
        if let Some(d) = renew.deployment_id {
            sets.push("deployment_id = :deployment");
            values = values.s(":deployment", d);
        }
        if let Some(a) = renew.approval_id {
            sets.push("approval_id = :approval");
            values = values.s(":approval", a);
        }
        if renew.shifting {
            sets.push("shifting = :true");
            values = values.bool(":true", true);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(lock_key(service).0))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(HOLDER_CONDITION)
            .set_expression_attribute_values(Some(values.0))
            .send()
            .await;
        match written("dynamodb:UpdateItem", result)? {
            Some(_) => Ok(Renewal::Held),
            None => Ok(Renewal::Lost(self.holder(service).await?)),
        }
    }

    async fn release(&self, service: &str, execution: &str) -> Result<bool, Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(lock_key(service).0))
            .condition_expression(HOLDER_CONDITION)
            .set_expression_attribute_values(Some(Item::default().s(":me", execution).0))
            .send()
            .await;
        Ok(written("dynamodb:DeleteItem", result)?.is_some())
    }
}

impl DynamoLedger {
    /// Writes `claim` as the lock under `condition`; the previous holder, or who holds it.
    async fn put_lock(
        &self,
        service: &str,
        claim: &LockHolder,
        condition: String,
        values: Item,
    ) -> Result<Acquire, Error> {
        let item = lock_key(service)
            .s("kind", "lock")
            .s("execution", &claim.execution)
            .s_opt("request_id", claim.request.as_deref())
            .s("push_order", &claim.order)
            .s("tag", &claim.tag)
            .s("digest", &claim.digest)
            .n("lease_until", claim.lease_until)
            .bool("shifting", false);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.0))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.0))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match written("dynamodb:PutItem", result)? {
            Some(out) => {
                let previous = out.attributes.filter(|a| !a.is_empty()).map(Item);
                Ok(Acquire::Acquired { previous: previous.as_ref().map(holder).transpose()? })
            }
            None => match self.holder(service).await? {
                Some(h) => Ok(Acquire::Held(h)),
                // Released between the two calls: take it on the next attempt.
                None => Err(Error::Queued {
                    service: service.into(),
                    tag: claim.tag.clone(),
                    holder: "an execution that just finished".into(),
                    shifting: false,
                }),
            },
        }
    }
}
