//! The step scheduler: every host process runs one; they share the work through the
//! database.
//!
//! Each round claims due steps (lease + `FOR UPDATE SKIP LOCKED` on PostgreSQL) and handles
//! each claimed step once:
//! - a scheduled step that is due is started: one delivery per webhook of its service is
//!   planned, in the transaction that marks it running;
//! - a running step whose deliveries all finished is ended: success schedules the next step
//!   (its delay counted from when the calls finished) or completes the process; a delivery
//!   that failed for good fails the step and the process;
//! - a running step past its deadline marks the process overdue and e-mails the controller,
//!   once (a failed send is retried a few times, with backoff).
//!
//! Every state change is a conditional update on the lease holder, so an instance that lost
//! its lease (it stalled past `lease_ms`) changes nothing. The overdue e-mail is sent while
//! the lease is held and recorded right after: it is sent once unless the instance dies in
//! between, in which case it is sent again (at least once, never lost).

use super::ProcessConfig;
use super::manage::activity;
use super::template::{responsible_label, step_label, step_record};
use crate::events::EventType;
use crate::mail::Mailer;
use crate::sandbox::Event;
use crate::store::{NewDelivery, Process, ProcessStep, StepEnd, Store};
use crate::time::{format_ms, now_ms};
use crate::vocab::{DeliveryStatus, StepStatus, TriggerSource};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Overdue e-mails tried per step before giving up.
const MAX_NOTIFY_ATTEMPTS: i64 = 5;

/// What the scheduler needs.
#[derive(Clone)]
pub struct Scheduler {
    /// The database.
    pub store: Store,
    /// Sends the overdue e-mails.
    pub mailer: Mailer,
    /// Wakes this process's delivery workers when a step planned calls.
    pub wake_deliveries: Arc<Notify>,
    /// Settings.
    pub config: ProcessConfig,
    /// This scheduler's id (leases name it).
    pub worker_id: String,
}

/// A running scheduler; [`SchedulerHandle::shutdown`] stops it.
pub struct SchedulerHandle {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops claiming, lets the steps in hand finish (up to `grace`), releases the leases.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.done).await;
    }
}

impl Scheduler {
    /// A scheduler over `store` that wakes the delivery workers with `wake_deliveries` and
    /// mails with the `smtp` settings, named after `worker_id`.
    pub fn new(
        store: Store,
        wake_deliveries: Arc<Notify>,
        config: ProcessConfig,
        smtp: &super::SmtpConfig,
        worker_id: String,
    ) -> Scheduler {
        let mailer = Mailer::new(smtp).unwrap_or_else(|error| {
            // The configuration was validated at start-up; this cannot normally happen.
            tracing::error!(error = %error, "the SMTP settings are unusable: overdue e-mails are off");
            Mailer::new(&super::SmtpConfig::default()).expect("no host, no transport")
        });
        Scheduler {
            store,
            mailer,
            wake_deliveries,
            config,
            worker_id,
        }
    }

    /// Starts the claim loop.
    pub fn start(self) -> SchedulerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let done = tokio::spawn(async move {
            loop {
                if *stopped.borrow() {
                    break;
                }
                let handled = self.round().await;
                if handled >= self.config.batch {
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(self.config.poll_ms)) => {},
                    _ = stopped.changed() => {},
                }
            }
            match self.store.release_process_leases(&self.worker_id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "released process step leases at shutdown"),
                Err(error) => {
                    tracing::warn!(error = %error, "releasing process step leases failed")
                }
            }
        });
        SchedulerHandle { stop, done }
    }

    /// Claims one batch of steps and handles them; returns how many it claimed.
    pub async fn round(&self) -> usize {
        let claimed = match self
            .store
            .claim_process_steps(
                &self.worker_id,
                self.config.lease_ms,
                self.config.batch as i64,
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, "claiming process steps failed");
                return 0;
            }
        };
        let count = claimed.len();
        let mut tasks = tokio::task::JoinSet::new();
        for step_id in claimed {
            let this = self.clone();
            tasks.spawn(async move {
                if let Err(error) = this.handle(&step_id).await {
                    // The lease stays: the step is tried again when it expires.
                    tracing::warn!(step = %step_id, error = %error, "handling a process step failed");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        count
    }

    async fn handle(&self, step_id: &str) -> anyhow::Result<()> {
        let (process, step) = self.store.process_step_work(step_id).await?;
        match step.status {
            StepStatus::Scheduled => self.start_step(&process, &step).await,
            StepStatus::Running => self.check_step(&process, &step).await,
            StepStatus::Waiting
            | StepStatus::Succeeded
            | StepStatus::Failed
            | StepStatus::Skipped
            | StepStatus::Cancelled => {
                self.store
                    .release_process_step(step_id, &self.worker_id)
                    .await?;
                Ok(())
            }
        }
    }

    /// Plans the calls of a due step.
    async fn start_step(&self, process: &Process, step: &ProcessStep) -> anyhow::Result<()> {
        let spec = &step.spec;
        let started = now_ms();
        let deadline_at = spec
            .deadline_days
            .map(|days| started + i64::from(days) * self.config.day_ms());
        let (module, record_id) = step_record(process, spec);
        let body = self.payload(process, step, deadline_at);
        let payload = body.to_string();
        // The step calls its service's webhooks as a record trigger would: those that
        // listen to the record's module and whose criteria the payload meets.
        let reached = self
            .store
            .process_step_webhooks(&process.tenant_id, &spec.service_id)
            .await?;
        let reached_count = reached.len();
        let webhooks: Vec<(String, bool)> = reached
            .into_iter()
            .filter(|w| w.modules.iter().any(|m| m == module.as_str()))
            .filter(|w| w.subscribes_to(EventType::ProcessStep(module)))
            .filter(|w| crate::exec::criteria_match(&w.criteria, &body))
            .map(|w| (w.id, w.fifo))
            .collect();
        if webhooks.is_empty() {
            let error = if reached_count == 0 {
                format!(
                    "service {} has no enabled webhook this tenant reaches (deactivated, or its webhooks were disabled or deleted)",
                    spec.service_id
                )
            } else {
                format!(
                    "none of the {reached_count} enabled webhooks of service {} this tenant reaches listens to {module} records with criteria this step's payload meets",
                    spec.service_id
                )
            };
            let end = StepEnd::Failed {
                finished_at: now_ms(),
                error: error.clone(),
            };
            let entry = activity(process, step, "failed", error);
            self.store
                .finish_process_step(
                    &step.id,
                    &self.worker_id,
                    &end,
                    self.config.day_ms(),
                    &entry,
                )
                .await?;
            tracing::info!(process = %process.id, step = step.position, "process failed: its step's service has no webhook");
            return Ok(());
        }
        let traceparent = crate::telemetry::current_traceparent();
        let calls: Vec<NewDelivery> = webhooks
            .into_iter()
            .map(|(webhook_id, ordered)| NewDelivery {
                webhook_id,
                ordered,
                tenant_id: process.tenant_id.clone(),
                trigger: TriggerSource::Process,
                module: module.as_str().to_owned(),
                record_id: record_id.to_owned(),
                event: Event::ProcessStep,
                payload: payload.clone(),
                parameters: spec
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                traceparent: traceparent.clone(),
            })
            .collect();
        if let Some(ids) = self
            .store
            .start_process_step(&step.id, &self.worker_id, deadline_at, &calls)
            .await?
        {
            tracing::debug!(process = %process.id, step = step.position, deliveries = ?ids, "process step started");
            self.wake_deliveries.notify_waiters();
        }
        Ok(())
    }

    /// What a step's webhooks receive: the linked record's fields as `elements` (the shape of
    /// an onOffice record, so record plugins read it unchanged) and where the call comes from.
    fn payload(
        &self,
        process: &Process,
        step: &ProcessStep,
        deadline_at: Option<i64>,
    ) -> serde_json::Value {
        let spec = &step.spec;
        let (module, record_id) = step_record(process, spec);
        let mut body = json!({
            "process": {
                "id": process.id,
                "templateId": process.template_id,
                "templateName": process.template_name,
                "owner": process.owner,
                "module": process.module,
                "recordId": process.record_id,
            },
            "step": {
                "position": step.position,
                "of": process.step_count,
                "name": spec.name,
                "serviceId": spec.service_id,
                "responsible": responsible_label(process, spec),
                "deadline": deadline_at.map(format_ms),
            },
            "record": {"module": module, "id": record_id},
        });
        if let Some(elements) = process
            .records
            .get(&module)
            .and_then(|r| r.elements.clone())
        {
            body["elements"] = serde_json::Value::Object(elements);
        }
        body
    }

    /// Looks at a running step: overdue, finished, or neither yet.
    async fn check_step(&self, process: &Process, step: &ProcessStep) -> anyhow::Result<()> {
        let now = now_ms();
        let calls = self.store.process_step_calls(&step.id).await?;
        let unfinished = calls
            .iter()
            .any(|c| c.status.is_some_and(|s| !s.is_final()));
        let finished_at = calls
            .iter()
            .filter_map(|c| c.finished_at)
            .max()
            .unwrap_or(now);
        let late = match step.deadline_at {
            Some(deadline) if unfinished => now >= deadline,
            Some(deadline) => finished_at > deadline,
            None => false,
        };
        if late {
            if step.overdue_at.is_none() {
                let entry = activity(
                    process,
                    step,
                    "overdue",
                    format!(
                        "not finished by its deadline {}",
                        step.deadline_at.map(format_ms).unwrap_or_default()
                    ),
                );
                if self
                    .store
                    .mark_process_step_overdue(&step.id, &self.worker_id, &entry)
                    .await?
                {
                    tracing::info!(process = %process.id, step = step.position, "process step overdue");
                }
            }
            if step.notified_at.is_none() && step.notify_attempts < MAX_NOTIFY_ATTEMPTS {
                self.notify(process, step, now).await?;
            }
        }
        if unfinished {
            self.store
                .release_process_step(&step.id, &self.worker_id)
                .await?;
            return Ok(());
        }
        let failed = calls
            .iter()
            .find(|c| c.status != Some(DeliveryStatus::Succeeded));
        let (end, entry) = match (calls.is_empty(), failed) {
            (false, None) => {
                let ids: Vec<&str> = calls.iter().map(|c| c.delivery_id.as_str()).collect();
                let hooks: Vec<&str> = calls.iter().map(|c| c.webhook_id.as_str()).collect();
                let detail = format!(
                    "webhook {} called (delivery {})",
                    hooks.join(", "),
                    ids.join(", ")
                );
                (
                    StepEnd::Succeeded { finished_at },
                    activity(process, step, "succeeded", detail),
                )
            }
            (_, failed) => {
                let error = match failed {
                    Some(call) => match (&call.status, &call.last_error) {
                        (None, _) => format!(
                            "delivery {} is gone (deleted by retention)",
                            call.delivery_id
                        ),
                        (Some(_), Some(error)) => {
                            format!(
                                "webhook {} failed (delivery {}): {error}",
                                call.webhook_id, call.delivery_id
                            )
                        }
                        (Some(_), None) => format!(
                            "webhook {} failed (delivery {})",
                            call.webhook_id, call.delivery_id
                        ),
                    },
                    None => "the step planned no call".to_owned(),
                };
                (
                    StepEnd::Failed {
                        finished_at,
                        error: error.clone(),
                    },
                    activity(process, step, "failed", error),
                )
            }
        };
        let ended = self
            .store
            .finish_process_step(
                &step.id,
                &self.worker_id,
                &end,
                self.config.day_ms(),
                &entry,
            )
            .await?;
        if ended && let StepEnd::Failed { error, .. } = &end {
            tracing::info!(process = %process.id, step = step.position, error = %error, "process failed");
        }
        Ok(())
    }

    /// E-mails the process controller that `step` is overdue and records what happened.
    async fn notify(&self, process: &Process, step: &ProcessStep, now: i64) -> anyhow::Result<()> {
        let attempt = step.notify_attempts + 1;
        let (sent, notice, retry_at) = match (&process.controller_email, self.mailer.enabled()) {
            (None, _) => (
                false,
                "no e-mail: the process has no controller address".to_owned(),
                None,
            ),
            (Some(_), false) => (
                false,
                "no e-mail: no SMTP server is configured ([smtp] host)".to_owned(),
                None,
            ),
            (Some(to), true) => {
                let (subject, body) = overdue_email(process, step);
                match self.mailer.send(to, &subject, body).await {
                    Ok(()) => (true, format!("e-mailed {to}"), None),
                    Err(error) if error.is_retryable() && attempt < MAX_NOTIFY_ATTEMPTS => {
                        // 1, 2, 4, 8 minutes (in days of this configuration's length, at most).
                        let backoff = (60_000i64 << (attempt - 1)).min(self.config.day_ms());
                        (
                            false,
                            format!(
                                "e-mail to {to} failed (attempt {attempt}, trying again): {error}"
                            ),
                            Some(now + backoff),
                        )
                    }
                    Err(error) => (
                        false,
                        format!("e-mail to {to} failed (attempt {attempt}, gave up): {error}"),
                        None,
                    ),
                }
            }
        };
        if sent {
            tracing::info!(process = %process.id, step = step.position, "{notice}");
        } else {
            tracing::warn!(process = %process.id, step = step.position, "overdue process step: {notice}");
        }
        self.store
            .set_process_step_notice(&step.id, &self.worker_id, sent, &notice, retry_at)
            .await?;
        Ok(())
    }
}

/// The overdue e-mail: subject and plain-text body.
pub fn overdue_email(process: &Process, step: &ProcessStep) -> (String, String) {
    let spec = &step.spec;
    let (module, record_id) = step_record(process, spec);
    let subject = format!(
        "Overdue: step {} of \"{}\" for {} {}",
        step.position, process.template_name, process.module, process.record_id
    );
    let days = spec.deadline_days.unwrap_or_default();
    let body = format!(
        "The process \"{name}\" ({id}) for {pmodule} {precord} is overdue.\n\n\
         Step {position} of {count}: {label}\n\
         Record:      {module} {record_id}\n\
         Responsible: {who}\n\
         Started:     {started}\n\
         Deadline:    {deadline} ({days} day{plural} after the start)\n\n\
         The step's webhook call has not succeeded by its deadline. The process goes on when it\n\
         does; see GET /api/v1/processes/{id}.\n",
        name = process.template_name,
        id = process.id,
        pmodule = process.module,
        precord = process.record_id,
        position = step.position,
        count = process.step_count,
        label = step_label(spec),
        who = responsible_label(process, spec),
        started = step.started_at.map(format_ms).unwrap_or_default(),
        deadline = step.deadline_at.map(format_ms).unwrap_or_default(),
        plural = if days == 1 { "" } else { "s" },
    );
    (subject, body)
}
