//! Delivery workers: claim due outbox rows, run the webhook (URL or component: one path),
//! record the attempt, schedule the retry.
//!
//! Every host process runs workers. A claimed row carries a lease longer than any call may
//! take; a worker that dies leaves leases that expire, and the rows become due again for any
//! instance. Delivery is at least once: the delivery id is stable across retries and is sent
//! as `webhook-id`, the receiver's idempotency key. A crash redelivers at most what was
//! leased: twice `delivery.concurrency` per process (at most `delivery.concurrency` calls are
//! in flight; as many more wait for their turn or for their end to be written).
//!
//! When the host disables a webhook by itself (410 Gone, `auto_disable_after` failures in a
//! row, or a circuit open for `circuit_disable_after_hours`) it writes a notification for the
//! owner and plans the `webhook.disabled` operational event in the same transaction, and logs
//! a warning.
//!
//! Circuit breaking: after `circuit_failures` failures in a row a webhook's circuit opens
//! (its pending deliveries are made due at the next probe time); a delivery claimed while it
//! is open waits for that time without counting an attempt, and the first one due after it
//! takes the probe (a compare-and-set on the webhook row, so one in the cluster). A failed
//! probe doubles the wait; a successful one closes the circuit and makes the paused
//! deliveries due at once. The claim and end of the outbox do not change: the breaker only
//! costs a row update when a call fails or a probe ends.
//!
//! Ordering: a delivery of a webhook with `ordering: fifo` waits while an earlier delivery
//! of its record is unfinished; the end of one makes those behind it due at once.
//!
//! Rate limits: a webhook with a rate (its own or `default_rate_per_minute`) takes each call
//! from its window's count in the database (in batches, kept in `tokens`); a delivery over the
//! rate waits for the next window without counting an attempt. A 429 or a `Retry-After`
//! lowers the rate for `rate_lowered_ms`. Webhooks without a rate cost nothing here.
//! A sibling task prunes what retention no longer keeps (call log, finished deliveries,
//! notifications, expired secrets) every `prune_interval_ms`.

use crate::cache::Cache;
use crate::events::EventType;
use crate::exec::{Executor, Trigger};
use crate::recorder::Recorder;
use crate::store::{
    AttemptEnd, CallRecord, Circuit, Claim, Delivery, Handler, RateLimit, Store, StoreError,
    Webhook,
};
use crate::time::{format_ms, now_ms};
use crate::vocab::{CircuitState, DeliveryStatus, FailureKind, OpsEvent};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tracing::Instrument as _;

/// Standard Webhooks' suggested schedule: delays (seconds) before each retry.
pub const DEFAULT_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

/// `[delivery]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Run workers in this process.
    pub enabled: bool,
    /// Calls in flight at once in this process (it holds twice as many deliveries leased).
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
    /// Keep the call log, finished deliveries and notifications this many days.
    pub retention_days: i64,
    /// How often the retention task runs, in ms.
    pub prune_interval_ms: u64,
    /// Failures in a row that open a webhook's circuit (0: never).
    pub circuit_failures: i64,
    /// The first wait before a probe call, in ms (doubled after every failed probe).
    pub circuit_probe_ms: i64,
    /// The longest wait between probes, in ms.
    pub circuit_probe_max_ms: i64,
    /// Disable a webhook whose circuit has been open this long, in hours (0: never).
    pub circuit_disable_after_hours: f64,
    /// Calls per minute of webhooks without a rate limit of their own (0: unlimited).
    pub default_rate_per_minute: u64,
    /// How long a receiver's 429 lowers its webhook's rate, in ms.
    pub rate_lowered_ms: i64,
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
            prune_interval_ms: 300_000,
            circuit_failures: 5,
            circuit_probe_ms: 5_000,
            circuit_probe_max_ms: 3_600_000,
            circuit_disable_after_hours: 120.0,
            default_rate_per_minute: 0,
            rate_lowered_ms: 60_000,
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

/// A running worker pool: [`Workers::shutdown`] stops it gracefully; dropping the handle stops
/// it too (claiming ends, calls in flight are written within the grace).
pub struct Workers {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Stops claiming, waits for the calls in flight (up to `grace`), releases what is left.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.done).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.retention).await;
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
    /// Calls this process may still make per rate-limited webhook: (window start, count),
    /// taken from the database's count of the window in small batches.
    pub tokens: Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>>,
    /// E-mails the owner of a webhook whose circuit opened or that the host disabled (when
    /// `[smtp]` is configured and the owner has a contact e-mail).
    pub mailer: crate::mail::Mailer,
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

/// Deliveries a pool holds leased per call it may make at once: while the pump writes one
/// batch of ends and claims the next, the deliveries claimed ahead are already calling, so
/// the calls and the outbox's writes overlap instead of taking turns.
const LEASES_PER_CALL: usize = 2;

/// What the tasks of one worker pool share.
struct Shared {
    /// Finished attempts, to the pump.
    done: mpsc::UnboundedSender<Finish>,
    /// Calls in flight: `delivery.concurrency` permits, each held by a claimed delivery from
    /// its turn to call until its attempt ends.
    calls: Arc<Semaphore>,
    /// The pool is stopping: a claimed delivery that has not started calling goes back.
    stopping: std::sync::atomic::AtomicBool,
    /// The webhooks of the deliveries in hand (a change made through this process, e.g.
    /// disable or delete, is seen at once; one made by another instance within the TTL).
    webhooks: Cache<String, Webhook>,
}

impl Shared {
    /// Hands the end of delivery `id`'s attempt (and its call record) to the pump, with its
    /// lease, which goes back once the end is written. The returned [`Written`]
    /// says when that is; only a task that reads the end back needs to wait for it.
    fn finish(
        &self,
        id: &str,
        end: AttemptEnd,
        record: Option<CallRecord>,
        lease: OwnedSemaphorePermit,
    ) -> Written {
        let (written, wait) = oneshot::channel();
        let finish = Finish {
            id: id.to_owned(),
            end,
            record,
            lease,
            written,
        };
        let _ = self.done.send(finish);
        Written(wait)
    }
}

/// Resolves once the pump has written an attempt's end (see [`Shared::finish`]).
struct Written(oneshot::Receiver<()>);

impl Written {
    /// Waits until the end is written: what follows reads it back from the database (the
    /// run of failures, the record's next delivery).
    async fn wait(self) {
        let _ = self.0.await;
    }
}

/// Most attempt ends written in one cycle.
const FINISH_BATCH: usize = 512;

/// One finished attempt waiting to be written.
struct Finish {
    id: String,
    end: AttemptEnd,
    /// The attempt's call record, committed with its end.
    record: Option<CallRecord>,
    /// Its lease, free again once the end is written.
    lease: OwnedSemaphorePermit,
    written: oneshot::Sender<()>,
}

/// Runs retention passes every `config.prune_interval_ms` until `stopped` flips.
async fn retention_loop(store: Store, config: DeliveryConfig, mut stopped: watch::Receiver<bool>) {
    let every = Duration::from_millis(config.prune_interval_ms.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        let before = now_ms() - config.retention_days.max(0) * 86_400_000;
        match store.prune(before).await {
            Ok(report) if report == Default::default() => {}
            Ok(report) => tracing::info!(
                ?report,
                retention_days = config.retention_days,
                "pruned old records"
            ),
            Err(error) => tracing::warn!(error = %error, "pruning old records failed"),
        }
    }
}

impl Deliverer {
    /// Starts the pump and the retention task.
    ///
    /// The pump is the pool's one writer of the outbox. Each cycle is one transaction that
    /// writes how the attempts finished since the last cycle ended (group commit: sixty-four
    /// calls finishing at once cost one write) and claims as many due deliveries as there
    /// are free leases, counting the leases those ends give back. A delivery keeps its lease
    /// until its end is written, so what a crash can repeat stays bounded by the leases
    /// (`LEASES_PER_CALL` × `delivery.concurrency`); calls take turns on
    /// `delivery.concurrency` permits, so the deliveries claimed ahead call while the pump
    /// writes. `grace` is the longest call: what the calls in flight get to finish when the
    /// pool stops, and how long before its lease runs out a claimed delivery must start.
    pub fn start(self, grace: Duration) -> Workers {
        let (stop, stopped) = watch::channel(false);
        let retention = tokio::spawn(retention_loop(
            self.store.clone(),
            self.config.clone(),
            stop.subscribe(),
        ));
        let done = tokio::spawn(self.pump(grace, stopped));
        Workers {
            stop,
            done,
            retention,
        }
    }

    async fn pump(self, grace: Duration, mut stopped: watch::Receiver<bool>) {
        let concurrency = self.config.concurrency.max(1);
        // Leases held: claimed deliveries waiting for their turn to call, calling, or whose
        // end waits to be written.
        let leased = concurrency * LEASES_PER_CALL;
        let leases = Arc::new(Semaphore::new(leased));
        let (done, mut finished) = mpsc::unbounded_channel::<Finish>();
        let shared = Arc::new(Shared {
            done,
            calls: Arc::new(Semaphore::new(concurrency)),
            stopping: Default::default(),
            webhooks: Cache::new(),
        });
        let poll = Duration::from_millis(self.config.poll_ms.max(1));
        let mut batch: Vec<Finish> = Vec::with_capacity(FINISH_BATCH);
        // Whether the last claim found as many due deliveries as it asked for.
        let mut backlog = false;
        let mut expired_checked: Option<Instant> = None;
        let mut stopping: Option<Instant> = None;
        // Listening for planned deliveries; renewed right before each claim, so deliveries
        // planned while a claim runs wake the wait that follows it.
        let mut woken = Box::pin(self.wake.notified());
        loop {
            // A dropped handle stops the pool too (its sender is gone).
            if stopping.is_none() && (*stopped.borrow() || stopped.has_changed().is_err()) {
                stopping = Some(Instant::now() + grace);
                shared
                    .stopping
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if batch.is_empty() {
                let free = leases.available_permits();
                match stopping {
                    // Stopping: only the calls in flight (and the deliveries going back
                    // unattempted) are left to write.
                    Some(_) if free == leased => break,
                    Some(deadline) => tokio::select! {
                        _ = finished.recv_many(&mut batch, FINISH_BATCH) => {},
                        _ = tokio::time::sleep_until(deadline.into()) => break,
                    },
                    None if free == 0 => tokio::select! {
                        _ = finished.recv_many(&mut batch, FINISH_BATCH) => {},
                        _ = stopped.changed() => continue,
                    },
                    // With a backlog and only a few free leases, gather more for a moment
                    // rather than paying a cycle per finished call.
                    None if backlog && free < leased / 4 => tokio::select! {
                        _ = finished.recv_many(&mut batch, FINISH_BATCH) => {},
                        _ = tokio::time::sleep(Duration::from_millis(2)) => {},
                    },
                    None if backlog => {}
                    None => tokio::select! {
                        _ = finished.recv_many(&mut batch, FINISH_BATCH) => {},
                        _ = &mut woken => {},
                        _ = tokio::time::sleep(poll) => {},
                        _ = stopped.changed() => continue,
                    },
                }
            }
            while batch.len() < FINISH_BATCH
                && let Ok(finish) = finished.try_recv()
            {
                batch.push(finish);
            }

            let claim = Claim {
                limit: match stopping {
                    Some(_) => 0,
                    None => (leases.available_permits() + batch.len()) as i64,
                },
                lease_ms: self.config.lease_ms,
                expired: expired_checked.is_none_or(|at| at.elapsed() >= poll),
            };
            if claim.expired && claim.limit > 0 {
                expired_checked = Some(Instant::now());
            }
            woken = Box::pin(self.wake.notified());
            woken.as_mut().enable();
            let mut ends = Vec::with_capacity(batch.len());
            let mut records = Vec::with_capacity(batch.len());
            let mut written = Vec::with_capacity(batch.len());
            for finish in batch.drain(..) {
                ends.push((finish.id, finish.end));
                records.extend(finish.record);
                written.push((finish.lease, finish.written));
            }
            // A claimed delivery starts its call by then, or its lease could run out during
            // the call (`grace` is the longest call).
            let start_by = Instant::now()
                + Duration::from_millis(self.config.lease_ms.max(0) as u64).saturating_sub(grace);
            let claimed = self.cycle(&ends, &records, claim).await;
            // Written (or given up on: the leases expire and the deliveries run again).
            for (lease, written) in written {
                drop(lease);
                let _ = written.send(());
            }
            backlog = claim.limit > 0 && claimed.len() as i64 == claim.limit;
            self.prefetch(&claimed, &shared).await;
            for delivery in claimed {
                let lease = leases
                    .clone()
                    .try_acquire_owned()
                    .expect("claimed no more than the free leases");
                let (this, shared) = (self.clone(), shared.clone());
                tokio::spawn(async move { this.process(delivery, &shared, lease, start_by).await });
            }
        }
        // Stopped: give back any lease left (calls that did not finish within the grace).
        match self.store.release_leases(&self.worker_id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released delivery leases at shutdown"),
            Err(error) => tracing::warn!(error = %error, "releasing leases failed"),
        }
    }

    /// Loads the webhooks (and the signing secrets of URL webhooks) of a claimed batch that
    /// are not cached, a query each for all of them, rather than one or two per delivery.
    /// A failure only costs speed: each delivery then loads what it needs itself.
    async fn prefetch(&self, claimed: &[Delivery], shared: &Shared) {
        let mut ids: Vec<&str> = claimed.iter().map(|d| d.spec.webhook_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let (generation, stale) = shared.webhooks.stale(&self.store, &ids);
        if !stale.is_empty() {
            match self.store.webhooks_unscoped_many(&stale).await {
                Ok(webhooks) => {
                    for webhook in webhooks {
                        shared.webhooks.put(generation, webhook.id.clone(), webhook);
                    }
                }
                Err(error) => tracing::debug!(error = %error, "prefetching webhooks failed"),
            }
        }
        let url_webhooks: Vec<&str> = ids
            .into_iter()
            .filter(|id| {
                shared
                    .webhooks
                    .peek(*id, generation, |w| matches!(w.handler, Handler::Url(_)))
                    .unwrap_or(false)
            })
            .collect();
        self.executor
            .remote()
            .prefetch_secrets(&self.store, &url_webhooks)
            .await;
    }

    /// Writes `batch`'s ends and claims, retrying a failed write a few times.
    async fn cycle(
        &self,
        ends: &[(String, AttemptEnd)],
        records: &[CallRecord],
        claim: Claim,
    ) -> Vec<Delivery> {
        for attempt in 1..=5u64 {
            match self
                .store
                .finish_and_claim(&self.worker_id, ends, records, claim)
                .await
            {
                Ok(claimed) => return claimed,
                Err(error) if ends.is_empty() => {
                    tracing::warn!(error = %error, "claiming deliveries failed");
                    tokio::time::sleep(Duration::from_millis(self.config.poll_ms)).await;
                    return Vec::new();
                }
                Err(error) if attempt < 5 => {
                    tracing::warn!(error = %error, attempt, deliveries = ends.len(), "recording attempts failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                // The leases expire and the deliveries run again: at least once holds.
                Err(error) => {
                    tracing::error!(error = %error, deliveries = ends.len(), "giving up on recording attempts")
                }
            }
        }
        Vec::new()
    }

    /// Takes a concurrency slot of `webhook_id`, if one is free.
    fn occupy(&self, webhook_id: &str) -> Option<BusySlot> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.entry(webhook_id.to_owned()).or_insert(0);
        if *n >= self.config.per_webhook_concurrency.max(1) {
            return None;
        }
        *n += 1;
        Some(BusySlot {
            busy: self.busy.clone(),
            webhook_id: webhook_id.to_owned(),
        })
    }

    /// Runs a claimed delivery when its turn to call comes, unless the pool is stopping or
    /// the turn came after `start_by`.
    async fn process(
        &self,
        delivery: Delivery,
        shared: &Shared,
        lease: OwnedSemaphorePermit,
        start_by: Instant,
    ) {
        let id = delivery.id.clone();
        // Nothing follows these ends: no need to wait until they are written.
        let finish = |end: AttemptEnd, lease| {
            shared.finish(&id, end, None, lease);
        };
        let _call = shared.calls.acquire().await.expect("never closed");
        if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) || Instant::now() > start_by {
            // Not attempted: due again at once, for whichever instance claims next (calls
            // ahead of it took so long that its lease could run out during its own).
            return finish(AttemptEnd::Postponed(now_ms()), lease);
        }
        let Some(_busy) = self.occupy(&delivery.spec.webhook_id) else {
            // The webhook is at its limit: put the row back without counting an attempt.
            return finish(AttemptEnd::Postponed(now_ms() + 100), lease);
        };
        let attempt = delivery.attempts + 1;
        let webhook_id = &delivery.spec.webhook_id;
        let lookup = shared.webhooks.get_or_load(&self.store, webhook_id, || {
            self.store.webhook_unscoped(webhook_id)
        });
        let webhook = match lookup.await {
            Ok(webhook) => webhook,
            Err(StoreError::NotFound) => {
                return finish(AttemptEnd::Failed("the webhook was deleted".into()), lease);
            }
            Err(error) => {
                let at = now_ms() + 5_000;
                let end = AttemptEnd::RetryAt(at, format!("reading the webhook: {error}"));
                return finish(end, lease);
            }
        };
        if !webhook.enabled {
            return finish(AttemptEnd::Failed("the webhook is disabled".into()), lease);
        }
        if delivery.spec.ordered
            && let Some(at) = self.held_back(&delivery).await
        {
            // An earlier delivery of the record is unfinished: this one waits behind it.
            return finish(AttemptEnd::Postponed(at), lease);
        }
        let probe = match self.circuit_gate(&webhook).await {
            Gate::Run => false,
            Gate::Probe => true,
            // Paused: due again at the next probe time, without counting an attempt.
            Gate::Wait(at) => return finish(AttemptEnd::Postponed(at), lease),
        };
        if !probe && let Some(at) = self.rate_gate(&webhook).await {
            // Over its rate: due again in the next window, without counting an attempt.
            return finish(AttemptEnd::Postponed(at), lease);
        }
        let spec = &delivery.spec;
        let trigger = Trigger {
            source: spec.trigger,
            module: spec.module.clone(),
            record_id: spec.record_id.clone(),
            event: spec.event,
            payload: spec.payload.clone(),
            parameters: spec.parameters.clone(),
            delivery_id: delivery.id.clone(),
            attempt: attempt as u32,
        };
        // The attempt joins the trace of the trigger that planned it; what follows the call
        // (circuit, disabling, the owner's notifications) belongs to the attempt too.
        let span = crate::telemetry::span!(
            "delivery attempt",
            otel.kind = "consumer",
            delivery.id = %delivery.id,
            delivery.attempt = attempt,
            webhook.id = %webhook.id,
            outcome = tracing::field::Empty,
        );
        if let Some(traceparent) = &spec.traceparent {
            crate::telemetry::set_parent(&span, traceparent);
        }
        self.attempt(&delivery, &webhook, &trigger, probe, shared, lease)
            .instrument(span)
            .await
    }

    /// Runs a claimed delivery's attempt (inside its span) and deals with its end.
    async fn attempt(
        &self,
        delivery: &Delivery,
        webhook: &Webhook,
        trigger: &Trigger,
        probe: bool,
        shared: &Shared,
        lease: OwnedSemaphorePermit,
    ) {
        let (spec, attempt) = (&delivery.spec, delivery.attempts + 1);
        let mut result = self.executor.run(webhook, &spec.tenant_id, trigger).await;
        if crate::telemetry::enabled() {
            let outcome = match &result.result {
                Ok(_) => std::borrow::Cow::Borrowed("ok"),
                Err(failure) => std::borrow::Cow::Owned(failure.kind.to_string()),
            };
            tracing::Span::current().record("outcome", &*outcome);
        }
        let record = CallRecord {
            webhook_id: webhook.id.clone(),
            tenant_id: spec.tenant_id.clone(),
            delivery_id: Some(delivery.id.clone()),
            attempt,
            trigger: spec.trigger,
            call: result.call.clone(),
            detail: std::mem::take(&mut result.detail),
        };
        let end = match &result.result {
            Ok(_) => AttemptEnd::Succeeded,
            Err(failure) if failure.gone => {
                let message = format!(
                    "The webhook was disabled because its endpoint answered 410 Gone (delivery {}).",
                    delivery.id
                );
                self.disable(webhook, "gone", &message, None).await;
                AttemptEnd::Failed(failure.message.clone())
            }
            Err(failure) if !failure.retryable => AttemptEnd::Failed(failure.message.clone()),
            Err(failure) => {
                let schedule = webhook
                    .retry_policy
                    .as_ref()
                    .map(|p| p.schedule_seconds.as_slice())
                    .unwrap_or(DEFAULT_SCHEDULE);
                match retry_delay(schedule, (attempt - delivery.retry_base) as usize) {
                    Some(delay) => {
                        let delay = failure.retry_after.map_or(delay, |after| after.max(delay));
                        AttemptEnd::RetryAt(
                            now_ms() + delay.as_millis() as i64,
                            failure.message.clone(),
                        )
                    }
                    None => AttemptEnd::Failed(format!("retries exhausted: {}", failure.message)),
                }
            }
        };
        // The end and the call record commit together; then the database, which now counts
        // this failure, decides whether the run of failures disables the webhook (a retry
        // planned meanwhile finds it disabled and ends there).
        let finished = matches!(end, AttemptEnd::Succeeded | AttemptEnd::Failed(_));
        let written = shared.finish(&delivery.id, end, Some(record), lease);
        if result.result.is_ok() && !probe && !delivery.spec.ordered {
            // A plain success: nothing below applies, and the next call need not wait for
            // this end to be written.
            return;
        }
        written.wait().await;
        if delivery.spec.ordered
            && finished
            && let Err(error) = self
                .store
                .release_held(&webhook.id, &delivery.spec.record_id)
                .await
        {
            tracing::warn!(delivery = %delivery.id, error = %error, "releasing the record's next deliveries failed");
        }
        if let Err(failure) = &result.result
            && (failure.kind == FailureKind::Http(429) || failure.retry_after.is_some())
        {
            self.slow_down(webhook, failure.retry_after).await;
        }
        match &result.result {
            Ok(_) if probe => self.probe_succeeded(webhook).await,
            Err(failure) if !failure.gone => {
                if probe {
                    self.probe_failed(webhook, &failure.message).await;
                } else {
                    self.maybe_open_circuit(webhook, &failure.message).await;
                }
            }
            _ => {}
        }
        if let Err(failure) = &result.result
            && !failure.gone
            && self.config.auto_disable_after > 0
        {
            let n = self.config.auto_disable_after;
            let message = format!(
                "The webhook was disabled after {n} failed calls in a row; the last one: {}",
                failure.message
            );
            if self.disable(webhook, "failing", &message, Some(n)).await {
                // The retry just planned will not run: end the delivery here, saying why.
                let reason = format!(
                    "the webhook was disabled after {n} failures in a row: {}",
                    failure.message
                );
                if let Err(error) = self
                    .store
                    .fail_pending_delivery(&delivery.id, &reason)
                    .await
                {
                    tracing::warn!(delivery = %delivery.id, error = %error, "ending a delivery failed");
                }
            }
        }
    }

    /// Whether a delivery of `webhook` may run now, as its circuit says.
    async fn circuit_gate(&self, webhook: &Webhook) -> Gate {
        let circuit = webhook.circuit;
        if self.config.circuit_failures == 0 || circuit.state == CircuitState::Closed {
            return Gate::Run;
        }
        let now = now_ms();
        // Never sooner than this: a paused delivery must not spin through claims.
        let later = |at: Option<i64>| Gate::Wait(at.unwrap_or(now).max(now + 100));
        let interval = circuit.interval_ms.unwrap_or(self.config.circuit_probe_ms);
        if circuit.probe_at.is_some_and(|at| at > now) {
            return match circuit.state {
                // The probe holds the circuit for a lease; its answer comes much sooner.
                CircuitState::Probing => later(Some(now + interval)),
                _ => later(circuit.probe_at),
            };
        }
        match self
            .store
            .take_probe(&webhook.id, self.config.lease_ms)
            .await
        {
            Ok(true) => {
                tracing::info!(webhook = %webhook.id, "probing an open circuit");
                Gate::Probe
            }
            // Another delivery probes (here or on another instance): wait for the time the
            // circuit names now.
            Ok(false) => match self.store.circuit(&webhook.id).await {
                Ok(fresh) if fresh.state == CircuitState::Closed => Gate::Run,
                Ok(fresh) if fresh.state == CircuitState::Probing => {
                    later(Some(now + fresh.interval_ms.unwrap_or(interval)))
                }
                Ok(fresh) => later(fresh.probe_at),
                Err(_) => later(Some(now + 1_000)),
            },
            Err(error) => {
                tracing::warn!(webhook = %webhook.id, error = %error, "taking a circuit probe failed");
                later(Some(now + 1_000))
            }
        }
    }

    /// `None` when no earlier delivery of the same webhook and record is unfinished;
    /// otherwise when to look again: when the earlier one is due (pending), or soon (in
    /// flight). Its end makes the ones behind it due at once ([`Store::release_held`]).
    async fn held_back(&self, delivery: &Delivery) -> Option<i64> {
        let spec = &delivery.spec;
        let now = now_ms();
        match self
            .store
            .held_back_by(&spec.webhook_id, &spec.record_id, &delivery.id)
            .await
        {
            Ok(None) => None,
            Ok(Some(earlier)) if earlier.status == DeliveryStatus::Pending => {
                Some(earlier.due_at.max(now) + 50)
            }
            Ok(Some(_)) => Some(now + self.config.poll_ms.max(100) as i64),
            Err(error) => {
                tracing::warn!(delivery = %delivery.id, error = %error, "checking the record's order failed");
                Some(now + 1_000)
            }
        }
    }

    /// The rate `webhook` may be called at now: its own or the default, divided while its
    /// receiver asked to slow down.
    fn rate_of(&self, webhook: &Webhook) -> Option<(i64, i64)> {
        let limit = webhook
            .rate_limit
            .or(match self.config.default_rate_per_minute {
                0 => None,
                n => Some(RateLimit::PerMinute(n)),
            })?;
        let divisor = match webhook.rate_lowered {
            Some((divisor, until)) if until > now_ms() => divisor.max(1),
            _ => 1,
        };
        Some((limit.window_ms(), (limit.calls() as i64 / divisor).max(1)))
    }

    /// `None` when `webhook` may be called now under its rate limit (one call is counted);
    /// otherwise the start of the next window.
    async fn rate_gate(&self, webhook: &Webhook) -> Option<i64> {
        let (window_ms, calls) = self.rate_of(webhook)?;
        let now = now_ms();
        let window = now - now % window_ms;
        {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, left)) = tokens.get_mut(&webhook.id)
                && *at == window
                && *left > 0
            {
                *left -= 1;
                return None;
            }
        }
        // Batches of a twentieth of the window's calls: few writes, and what one instance
        // holds back unused is little. The last calls of a window go one at a time.
        let batch = (calls / 20).max(1);
        for want in [batch, 1] {
            match self
                .store
                .take_rate_tokens(&webhook.id, window, want, calls)
                .await
            {
                Ok(true) => {
                    let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
                    tokens.insert(webhook.id.clone(), (window, want - 1));
                    return None;
                }
                Ok(false) if want > 1 => continue,
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(webhook = %webhook.id, error = %error, "counting a rate-limited call failed");
                    break;
                }
            }
        }
        // Spread over the next window's first 100 ms rather than all at its first instant.
        Some(window + window_ms + rand::rng().random_range(0..100))
    }

    /// The receiver answered 429 or asked for a pause: the webhook's rate is lowered for
    /// `rate_lowered_ms` (or the pause, if longer), and with `Retry-After` its pending
    /// deliveries wait that long.
    async fn slow_down(&self, webhook: &Webhook, retry_after: Option<Duration>) {
        let now = now_ms();
        let pause = retry_after.map_or(0, |d| d.as_millis() as i64);
        let until = now + self.config.rate_lowered_ms.max(pause);
        if let Err(error) = self.store.lower_rate(&webhook.id, until).await {
            tracing::warn!(webhook = %webhook.id, error = %error, "lowering a rate failed");
        }
        if pause > 0
            && let Err(error) = self.store.pause_webhook(&webhook.id, now + pause).await
        {
            tracing::warn!(webhook = %webhook.id, error = %error, "pausing a webhook failed");
        }
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&webhook.id);
    }

    /// After a failure outside a probe: opens the webhook's circuit when the run of failures
    /// reached `circuit_failures` (the database decides, once for every instance).
    async fn maybe_open_circuit(&self, webhook: &Webhook, reason: &str) {
        let n = self.config.circuit_failures;
        if n == 0 || webhook.circuit.state != CircuitState::Closed {
            return;
        }
        match self
            .store
            .open_circuit(&webhook.id, n, self.config.circuit_probe_ms)
            .await
        {
            Ok(true) => {
                let message = format!(
                    "The webhook's deliveries are paused after {n} failures in a row; one probe call in {} s decides when they resume. The last failure: {reason}",
                    self.config.circuit_probe_ms / 1000
                );
                tracing::warn!(webhook = %webhook.id, "circuit opened: {message}");
                self.tell(webhook, OpsEvent::CircuitOpened, &message).await;
                self.email_owner(webhook, "deliveries paused", message);
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(webhook = %webhook.id, error = %error, "opening a circuit failed")
            }
        }
    }

    /// The probe call succeeded: the circuit closes and the paused deliveries run.
    async fn probe_succeeded(&self, webhook: &Webhook) {
        match self.store.close_circuit(&webhook.id).await {
            Ok(true) => {
                let message =
                    "A probe call succeeded: the webhook's deliveries run again.".to_owned();
                tracing::info!(webhook = %webhook.id, "circuit closed");
                self.tell(webhook, OpsEvent::CircuitClosed, &message).await;
                self.wake.notify_waiters();
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(webhook = %webhook.id, error = %error, "closing a circuit failed")
            }
        }
    }

    /// The probe call failed: the next one waits twice as long, and a circuit open for
    /// `circuit_disable_after_hours` disables the webhook.
    async fn probe_failed(&self, webhook: &Webhook, reason: &str) {
        let circuit = match self
            .store
            .probe_failed(&webhook.id, self.config.circuit_probe_max_ms)
            .await
        {
            Ok(circuit) => circuit,
            Err(error) => {
                tracing::warn!(webhook = %webhook.id, error = %error, "reopening a circuit failed");
                return;
            }
        };
        let hours = self.config.circuit_disable_after_hours;
        let open_ms = now_ms() - circuit.opened_at.unwrap_or(i64::MAX);
        if hours > 0.0 && open_ms as f64 >= hours * 3_600_000.0 {
            let message = format!(
                "The webhook was disabled: its deliveries have failed for {} (circuit open since {}); the last failure: {reason}",
                human_duration(open_ms),
                format_ms(circuit.opened_at.unwrap_or_default())
            );
            self.disable(webhook, "failing", &message, None).await;
        }
    }

    /// Tells `webhook`'s owner about `event`: a notification, and the operational event for
    /// the owner's webhooks that subscribe to it.
    async fn tell(&self, webhook: &Webhook, event: OpsEvent, message: &str) {
        let circuit = self.store.circuit(&webhook.id).await.ok();
        let payload = operational_payload(webhook, event, circuit, message);
        match self
            .store
            .notify_owner(&webhook.id, event, message, &payload)
            .await
        {
            Ok(_) => self.wake.notify_waiters(),
            Err(error) => {
                tracing::warn!(webhook = %webhook.id, error = %error, "notifying the owner failed")
            }
        }
    }

    /// Disables `webhook` and notifies its owner (only when `min_failures`, if given, is
    /// reached); true when this call disabled it.
    async fn disable(
        &self,
        webhook: &Webhook,
        kind: &str,
        message: &str,
        min_failures: Option<i64>,
    ) -> bool {
        let id = &webhook.id;
        let payload = operational_payload(webhook, OpsEvent::Disabled, None, message);
        match self
            .store
            .disable_webhook_automatically(id, kind, message, min_failures, &payload)
            .await
        {
            Ok(Some(notification)) => {
                tracing::warn!(webhook = %id, notification = %notification.id, kind, "webhook disabled automatically: {message}");
                self.wake.notify_waiters();
                self.email_owner(webhook, "disabled", message.to_owned());
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(webhook = %id, error = %error, "disabling a webhook failed");
                false
            }
        }
    }
}

impl Deliverer {
    /// E-mails `webhook`'s owner (its provider's or tenant's contact e-mail) that `what`
    /// happened, saying `message`, when an SMTP server is configured. In a task of its own:
    /// a slow or failing mail server never holds up a delivery; a failure is logged.
    fn email_owner(&self, webhook: &Webhook, what: &str, message: String) {
        if !self.mailer.enabled() {
            return;
        }
        let (store, mailer) = (self.store.clone(), self.mailer.clone());
        let name = if webhook.description.is_empty() {
            webhook.id.clone()
        } else {
            format!("{} ({})", webhook.description, webhook.id)
        };
        let subject = format!("Webhook {name}: {what}");
        let handler = match &webhook.handler {
            Handler::Url(url) => format!("Endpoint: {url}"),
            Handler::Component(id) => format!("Component: {id}"),
        };
        let body = format!(
            "{message}\n\nWebhook: {name}\n{handler}\nAt: {}\n\nIts notifications \
             (GET {base}/notifications) and call log (GET {base}/calls) say more. A disabled \
             webhook runs again once enabled (POST {base}/enable).\n",
            format_ms(now_ms()),
            base = format_args!("/public/v1/notifications/webhooks/{}", webhook.id),
        );
        let id = webhook.id.clone();
        let send = async move {
            let to = match store.owner_contact_email(&id).await {
                Ok(Some(to)) => to,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(webhook = %id, error = %error, "reading the owner's contact e-mail failed");
                    return;
                }
            };
            match mailer.send(&to, &subject, body).await {
                Ok(()) => {
                    tracing::info!(webhook = %id, to = %to, "e-mailed the webhook's owner: {subject}")
                }
                Err(error) => {
                    tracing::warn!(webhook = %id, to = %to, error = %error, "e-mailing the webhook's owner failed")
                }
            }
        };
        tokio::spawn(send.in_current_span());
    }
}

/// What [`Deliverer::circuit_gate`] decides for a delivery.
enum Gate {
    /// The circuit is closed: call.
    Run,
    /// This delivery is the probe call of an open circuit.
    Probe,
    /// Paused until this time (Unix ms).
    Wait(i64),
}

/// The body of an operational event about `webhook` (the `webhook.*` event types).
fn operational_payload(
    webhook: &Webhook,
    event: OpsEvent,
    circuit: Option<Circuit>,
    message: &str,
) -> String {
    let url = match &webhook.handler {
        Handler::Url(url) => Some(url.as_str()),
        Handler::Component(_) => None,
    };
    let mut body = serde_json::json!({
        "type": EventType::Operational(event).name(),
        "webhook": {"id": webhook.id, "description": webhook.description},
        "message": message,
        "at": format_ms(now_ms()),
    });
    if let Some(url) = url {
        body["webhook"]["url"] = url.into();
    }
    if let Some(circuit) = circuit {
        body["circuit"] = serde_json::json!({
            "state": circuit.state,
            "openedAt": circuit.opened_at.map(format_ms),
            "nextProbeAt": circuit.probe_at.map(format_ms),
        });
    }
    body.to_string()
}

/// `3 days 4 h`, `2 h 5 min`, `40 s`: how long a webhook has been failing.
fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} days {h} h"),
    }
}
