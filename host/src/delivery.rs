//! Delivery workers: claim due outbox rows, run the webhook (URL or component: one path),
//! record the attempt, schedule the retry.
//!
//! Every host process runs workers. A claimed row carries a lease longer than any call may
//! take; a worker that dies leaves leases that expire, and the rows become due again for any
//! instance. Delivery is at least once: the delivery id is stable across retries and is sent
//! as `webhook-id`, the receiver's idempotency key.

use crate::exec::{Executor, Trigger, parse_event};
use crate::recorder::Recorder;
use crate::store::{AttemptEnd, CallRecord, Delivery, Scope, Store, StoreError, now_ms};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};

/// Standard Webhooks' suggested schedule: delays (seconds) before each retry.
pub const DEFAULT_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

/// `[delivery]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Run workers in this process.
    pub enabled: bool,
    /// Calls in flight at once in this process.
    pub concurrency: usize,
    /// How often an idle worker looks for due rows, in ms.
    pub poll_ms: u64,
    /// Lease of a claimed row, in ms: longer than any call may take.
    pub lease_ms: i64,
    /// Calls in flight at once for one webhook in this process: a slow endpoint cannot hold
    /// every worker.
    pub per_webhook_concurrency: usize,
    /// Disable a webhook after this many failures in a row (0: never).
    pub auto_disable_after: i64,
    /// Keep the call log this many days.
    pub retention_days: i64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            concurrency: 64,
            poll_ms: 250,
            lease_ms: 120_000,
            per_webhook_concurrency: 8,
            auto_disable_after: 100,
            retention_days: 30,
        }
    }
}

/// The delay before retry number `retry` (1-based) of a schedule, with ±20% jitter; `None`
/// when the schedule is exhausted.
pub fn retry_delay(schedule: &[u64], retry: usize) -> Option<Duration> {
    let base = *schedule.get(retry.checked_sub(1)?)?;
    let jitter = rand::rng().random_range(0.8..=1.2);
    Some(Duration::from_secs_f64(base as f64 * jitter))
}

/// A running worker pool; dropping the handle does not stop it, [`Workers::shutdown`] does.
pub struct Workers {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Stops claiming, waits for the calls in flight (up to `grace`), releases what is left.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.done).await;
    }
}

/// What workers need.
#[derive(Clone)]
pub struct Deliverer {
    /// The database.
    pub store: Store,
    /// Runs handlers.
    pub executor: Executor,
    /// Records calls.
    pub recorder: Recorder,
    /// Wakes idle workers when deliveries were planned in this process.
    pub wake: Arc<Notify>,
    /// Settings.
    pub config: DeliveryConfig,
    /// This worker pool's id (leases name it).
    pub worker_id: String,
    /// Calls in flight per webhook.
    pub busy: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// Holds one of a webhook's concurrency slots; gives it back when dropped.
struct BusySlot {
    busy: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    webhook_id: String,
}

impl Drop for BusySlot {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(&self.webhook_id) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.webhook_id);
            }
        }
    }
}

impl Deliverer {
    /// Starts the claim loop.
    pub fn start(self, grace: Duration) -> Workers {
        let (stop, mut stopped) = watch::channel(false);
        let done = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
            loop {
                if *stopped.borrow() {
                    break;
                }
                let free = slots.available_permits();
                let claimed = if free == 0 {
                    Vec::new()
                } else {
                    match self.store.claim_deliveries(&self.worker_id, self.config.lease_ms, free as i64).await {
                        Ok(claimed) => claimed,
                        Err(error) => {
                            tracing::warn!(error = %error, "claiming deliveries failed");
                            Vec::new()
                        }
                    }
                };
                if claimed.is_empty() {
                    tokio::select! {
                        _ = self.wake.notified() => {},
                        _ = tokio::time::sleep(Duration::from_millis(self.config.poll_ms)) => {},
                        _ = stopped.changed() => {},
                    }
                    continue;
                }
                for delivery in claimed {
                    let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.process(delivery).await;
                        drop(permit);
                    });
                }
            }
            // Graceful stop: let calls in flight finish, then give back any lease left.
            let all = self.config.concurrency.max(1) as u32;
            let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
            match self.store.release_leases(&self.worker_id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "released delivery leases at shutdown"),
                Err(error) => tracing::warn!(error = %error, "releasing leases failed"),
            }
        });
        Workers { stop, done }
    }

    /// Takes a concurrency slot of `webhook_id`, if one is free.
    fn occupy(&self, webhook_id: &str) -> Option<BusySlot> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.entry(webhook_id.to_owned()).or_insert(0);
        if *n >= self.config.per_webhook_concurrency.max(1) {
            return None;
        }
        *n += 1;
        Some(BusySlot { busy: self.busy.clone(), webhook_id: webhook_id.to_owned() })
    }

    async fn process(&self, delivery: Delivery) {
        let Some(_slot) = self.occupy(&delivery.spec.webhook_id) else {
            // The webhook is at its limit: put the row back without counting an attempt.
            let at = now_ms() + 100;
            if let Err(error) = self.store.postpone_delivery(&delivery.id, &self.worker_id, at).await {
                tracing::warn!(delivery = %delivery.id, error = %error, "postponing a delivery failed");
            }
            return;
        };
        let attempt = delivery.attempts + 1;
        let id = delivery.id.clone();
        let finish = |end: AttemptEnd| async move {
            if let Err(error) = self.store.finish_attempt(&id, &self.worker_id, &end).await {
                tracing::warn!(delivery = %id, error = %error, "recording an attempt failed");
            }
        };
        let webhook = match self.store.webhook_unscoped(&delivery.spec.webhook_id).await {
            Ok(webhook) => webhook,
            Err(StoreError::NotFound) => return finish(AttemptEnd::Failed("the webhook was deleted".into())).await,
            Err(error) => {
                let at = now_ms() + 5_000;
                return finish(AttemptEnd::RetryAt(at, format!("reading the webhook: {error}"))).await;
            }
        };
        if !webhook.enabled {
            return finish(AttemptEnd::Failed("the webhook is disabled".into())).await;
        }
        let spec = &delivery.spec;
        let trigger = Trigger {
            source: spec.trigger.clone(),
            module: spec.module.clone(),
            record_id: spec.record_id.clone(),
            event: parse_event(&spec.event),
            payload: spec.payload.clone(),
            parameters: spec.parameters.clone(),
            delivery_id: delivery.id.clone(),
            attempt: attempt as u32,
        };
        let result = self.executor.run(&webhook, &spec.tenant_id, &trigger).await;
        self.recorder
            .record(CallRecord {
                webhook_id: webhook.id.clone(),
                tenant_id: spec.tenant_id.clone(),
                delivery_id: Some(delivery.id.clone()),
                attempt,
                trigger: spec.trigger.clone(),
                call: result.call.clone(),
            })
            .await;
        let end = match &result.result {
            Ok(_) => AttemptEnd::Succeeded,
            Err(failure) if failure.gone => {
                self.disable(&webhook.id, &webhook.owner, "the endpoint answered 410 Gone").await;
                AttemptEnd::Failed(failure.message.clone())
            }
            Err(failure) if !failure.retryable => AttemptEnd::Failed(failure.message.clone()),
            Err(failure) => {
                let schedule = webhook
                    .retry_policy
                    .as_ref()
                    .map(|p| p.schedule_seconds.as_slice())
                    .unwrap_or(DEFAULT_SCHEDULE);
                match retry_delay(schedule, attempt as usize) {
                    Some(delay) => {
                        let delay = failure.retry_after.map_or(delay, |after| after.max(delay));
                        AttemptEnd::RetryAt(now_ms() + delay.as_millis() as i64, failure.message.clone())
                    }
                    None => AttemptEnd::Failed(format!("retries exhausted: {}", failure.message)),
                }
            }
        };
        if result.result.is_err()
            && self.config.auto_disable_after > 0
            && webhook.statistics.failures_since_last_success + 1 >= self.config.auto_disable_after
        {
            let reason = format!("{} failures in a row", self.config.auto_disable_after);
            self.disable(&webhook.id, &webhook.owner, &reason).await;
        }
        finish(end).await;
    }

    async fn disable(&self, id: &str, owner: &Scope, reason: &str) {
        match self.store.set_webhook_enabled(owner, id, false).await {
            Ok(()) => tracing::warn!(webhook = %id, reason, "webhook disabled automatically"),
            Err(error) => tracing::warn!(webhook = %id, error = %error, "disabling a webhook failed"),
        }
    }
}
