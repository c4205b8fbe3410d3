//! The ledger in memory: what `crate::fakes::FakeLedger` keeps and how it answers.

use std::sync::Mutex;

use super::{FakeApprovals, poisoned};
use crate::checks::ValidationRecord;
use crate::error::Error;
use crate::event::Push;
use crate::history::{DeploymentRecord, HistoryUpdate, TimelineEntry};
use crate::lock::{Acquire, LockHolder, NewestPush, Renew, Renewal};
use crate::ports::Validations;

/// The ledger in memory: validation reports, the per-service lock (with the DynamoDB
/// adapter's conditions) and the deployment history.
#[derive(Debug, Default)]
pub struct FakeLedger {
    pub validations: Mutex<Vec<ValidationRecord>>,
    pub newest: Mutex<std::collections::HashMap<String, NewestPush>>,
    pub locks: Mutex<std::collections::HashMap<String, LockHolder>>,
    /// `(service, push order, update)` in the order recorded.
    pub history: Mutex<Vec<(String, String, HistoryUpdate)>>,
    /// The first request recorded at each push order.
    pub requests: Mutex<std::collections::HashMap<String, Push>>,
    pub pauses: Mutex<std::collections::HashMap<String, crate::pause::Pause>>,
    pub approvals: FakeApprovals,
}

impl FakeLedger {
    /// A ledger in which the execution of a push of `digest` without an event id or times
    /// holds `service`'s lock.
    pub fn held_by_digest(service: &str, digest: &str) -> Self {
        Self::held_by(service, &Push { digest: digest.into(), ..Push::default() })
    }

    /// A ledger in which the execution of this push of `service` holds the lock.
    pub fn held_by(service: &str, push: &Push) -> Self {
        let ledger = Self::default();
        let holder = LockHolder {
            execution: crate::pipeline::execution_name(service, push),
            request: push.event_id.clone(),
            order: "0".into(),
            tag: "v0".into(),
            digest: push.digest.clone(),
            lease_until: i64::MAX,
            deployment_id: None,
            approval_id: None,
            shifting: false,
        };
        if let Ok(mut locks) = ledger.locks.lock() {
            locks.insert(service.into(), holder);
        }
        ledger
    }
}

impl crate::ports::Approvals for FakeLedger {
    async fn put_approval(&self, record: &crate::approval::ApprovalRecord) -> Result<(), Error> {
        self.approvals.put_approval(record).await
    }

    async fn approval(&self, id: &str) -> Result<Option<crate::approval::ApprovalRecord>, Error> {
        self.approvals.approval(id).await
    }

    async fn settle(&self, id: &str, change: crate::ports::Settle<'_>, now: i64) -> Result<bool, Error> {
        self.approvals.settle(id, change, now).await
    }

    async fn refuse(&self, id: &str, refused: &crate::approval::Refused) -> Result<(), Error> {
        self.approvals.refuse(id, refused).await
    }

    async fn note_slack_post(&self, id: &str, post: &crate::approval::SlackPost) -> Result<(), Error> {
        self.approvals.note_slack_post(id, post).await
    }
}

impl crate::ports::Locks for FakeLedger {
    async fn record_push(&self, service: &str, push: &NewestPush) -> Result<bool, Error> {
        let mut newest = self.newest.lock().map_err(|_| poisoned())?;
        match newest.get(service) {
            Some(n) if n.order > push.order => Ok(false),
            _ => {
                newest.insert(service.into(), push.clone());
                Ok(true)
            }
        }
    }

    async fn newest_push(&self, service: &str) -> Result<Option<NewestPush>, Error> {
        Ok(self.newest.lock().map_err(|_| poisoned())?.get(service).cloned())
    }

    async fn holder(&self, service: &str) -> Result<Option<LockHolder>, Error> {
        Ok(self.locks.lock().map_err(|_| poisoned())?.get(service).cloned())
    }

    async fn acquire(&self, service: &str, claim: &LockHolder, now: i64, take_older: bool) -> Result<Acquire, Error> {
        let mut locks = self.locks.lock().map_err(|_| poisoned())?;
        let free = match locks.get(service) {
            None => true,
            Some(h) => {
                (h.execution == claim.execution && h.deployment_id.is_none())
                    || (h.lease_until < now && !h.shifting)
                    || (take_older && h.order < claim.order && !h.shifting)
            }
        };
        if !free {
            return Ok(Acquire::Held(locks.get(service).cloned().ok_or_else(poisoned)?));
        }
        let previous = locks.insert(service.into(), claim.clone());
        Ok(Acquire::Acquired { previous })
    }

    async fn take_expired(&self, service: &str, claim: &LockHolder, expired: &str, now: i64) -> Result<Acquire, Error> {
        let mut locks = self.locks.lock().map_err(|_| poisoned())?;
        match locks.get(service) {
            Some(h) if h.execution == expired && h.lease_until < now => {
                let previous = locks.insert(service.into(), claim.clone());
                Ok(Acquire::Acquired { previous })
            }
            Some(h) => Ok(Acquire::Held(h.clone())),
            None => Ok(Acquire::Acquired { previous: locks.insert(service.into(), claim.clone()) }),
        }
    }

    async fn renew(
        &self,
        service: &str,
        execution: &str,
        lease_until: i64,
        renew: &Renew<'_>,
    ) -> Result<Renewal, Error> {
        let mut locks = self.locks.lock().map_err(|_| poisoned())?;
        match locks.get_mut(service) {
            Some(h) if h.execution == execution => {
                h.lease_until = lease_until;
                if let Some(d) = renew.deployment_id {
                    h.deployment_id = Some(d.into());
                }
                if let Some(a) = renew.approval_id {
                    h.approval_id = Some(a.into());
                }
                h.shifting |= renew.shifting;
                Ok(Renewal::Held)
            }
            other => Ok(Renewal::Lost(other.cloned())),
        }
    }

    async fn release(&self, service: &str, execution: &str) -> Result<bool, Error> {
        let mut locks = self.locks.lock().map_err(|_| poisoned())?;
        if locks.get(service).is_some_and(|h| h.execution == execution) {
            locks.remove(service);
            return Ok(true);
        }
        Ok(false)
    }
}

impl crate::ports::Pauses for FakeLedger {
    async fn pause(&self, service: &str, pause: &crate::pause::Pause) -> Result<Option<crate::pause::Pause>, Error> {
        let mut pauses = self.pauses.lock().map_err(|_| poisoned())?;
        if let Some(existing) = pauses.get(service) {
            return Ok(Some(existing.clone()));
        }
        pauses.insert(service.into(), pause.clone());
        Ok(None)
    }

    async fn paused(&self, service: &str) -> Result<Option<crate::pause::Pause>, Error> {
        Ok(self.pauses.lock().map_err(|_| poisoned())?.get(service).cloned())
    }

    async fn resume(&self, service: &str) -> Result<Option<crate::pause::Pause>, Error> {
        Ok(self.pauses.lock().map_err(|_| poisoned())?.remove(service))
    }
}

impl crate::ports::History for FakeLedger {
    async fn record(&self, service: &str, push: &Push, update: &HistoryUpdate) -> Result<(), Error> {
        let order = crate::lock::order_key(push);
        self.requests.lock().map_err(|_| poisoned())?.entry(order.clone()).or_insert_with(|| push.clone());
        self.history.lock().map_err(|_| poisoned())?.push((service.into(), order, update.clone()));
        Ok(())
    }

    async fn deployments(&self, service: &str, limit: u32) -> Result<Vec<DeploymentRecord>, Error> {
        let history = self.history.lock().map_err(|_| poisoned())?;
        let requests = self.requests.lock().map_err(|_| poisoned())?;
        let mut orders: Vec<&String> = history.iter().filter(|(s, _, _)| s == service).map(|(_, o, _)| o).collect();
        orders.sort_unstable();
        orders.dedup();
        orders.reverse();
        Ok(orders
            .into_iter()
            .take(limit as usize)
            .map(|order| {
                let mut r = DeploymentRecord {
                    service: service.into(),
                    order: order.clone(),
                    execution: String::new(),
                    digest: requests.get(order).map(|r| r.digest.clone()).unwrap_or_default(),
                    tag: requests.get(order).map(|r| r.tag.clone()).unwrap_or_default(),
                    execution_id: None,
                    task_definition: None,
                    previous_task_definition: None,
                    deployment_id: None,
                    timeline: Vec::new(),
                    validation: None,
                    approver: None,
                    outcome: None,
                    reason: None,
                    request: requests.get(order).cloned(),
                };
                for (_, _, u) in history.iter().filter(|(s, o, _)| s == service && o == order) {
                    r.timeline.push(TimelineEntry { state: u.state, at: String::new(), detail: u.detail.clone() });
                    r.execution_id = u.execution_id.clone().or(r.execution_id);
                    r.task_definition = u.task_definition.clone().or(r.task_definition);
                    r.previous_task_definition = u.previous_task_definition.clone().or(r.previous_task_definition);
                    r.deployment_id = u.deployment_id.clone().or(r.deployment_id);
                    r.approver = u.approver.clone().or(r.approver);
                    r.validation = u.validation.clone().or(r.validation);
                    r.outcome = if u.reopen { None } else { u.outcome.or(r.outcome) };
                    r.reason = u.reason.clone().or(r.reason);
                }
                r
            })
            .collect())
    }
}

impl Validations for FakeLedger {
    async fn save_validation(&self, record: &ValidationRecord) -> Result<(), Error> {
        self.validations.lock().map_err(|_| poisoned())?.push(record.clone());
        Ok(())
    }

    async fn validations(&self, deployment_id: &str) -> Result<Vec<ValidationRecord>, Error> {
        let all = self.validations.lock().map_err(|_| poisoned())?;
        Ok(all.iter().filter(|r| r.deployment_id == deployment_id).cloned().collect())
    }
}
