//! The process manager (onOffice-style): process templates of "Webhook" steps, processes
//! started from them for an estate or address record, and the durable schedule that runs
//! the steps in order.
//!
//! # Layout
//! - [`template`]: what makes a template and a start request valid; every error names the
//!   field (`steps[1].serviceId`).
//! - [`manage`]: the operations behind the REST API (`api::processes`) and the CLI
//!   (`hookhost process …`), and the JSON shapes both show.
//! - [`scheduler`]: claims due steps from the database, plans their calls into the delivery
//!   outbox, watches deadlines, writes the activity log.
//!
//! `hookhost process …` (`cli::process`) calls the operations of [`manage`], as the REST
//! API does.
//!
//! # How a step runs
//! A step is a row in `process_steps`. When it is due, the scheduler of whichever instance
//! claims it (lease + `FOR UPDATE SKIP LOCKED` on PostgreSQL, like the delivery outbox) plans
//! one delivery per webhook of the step's service, with `event = process-step` and the step's
//! parameters, in the same transaction that marks the step running. The delivery workers call
//! the webhook like any other: a URL handler gets the parameters as query parameters, a
//! component gets them in its invocation. When every delivery succeeded the step is done and
//! the next one is scheduled (now, or n days later); a delivery that failed for good fails the
//! step and stops the process. Nothing waits in memory, so a restart or the loss of an
//! instance delays a step by at most a lease.
//!
//! Architecture Invariant: the scheduler never calls a webhook itself; every call goes through
//! the outbox, so retries, signatures, statistics and the call log are the delivery path's.
//!
//! Days are `process.day_seconds` long (86400 in production); tests shorten them to run a
//! "3 days later" step in seconds on the same code path.

pub mod manage;
pub mod scheduler;
pub mod template;

pub use crate::mail::{Mailer, SmtpConfig, SmtpSecurity};
pub use scheduler::{Scheduler, SchedulerHandle};
pub use template::FieldError;

use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// `[process]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Run the step scheduler in this process.
    pub enabled: bool,
    /// The length of a day in step delays and deadlines, in seconds. Only tests and demos
    /// shorten it.
    pub day_seconds: u64,
    /// How often the scheduler looks for due steps, in ms.
    pub poll_ms: u64,
    /// Lease of a claimed step, in ms: longer than handling a step may take (an SMTP send
    /// included), or two instances may handle it at once.
    pub lease_ms: i64,
    /// Steps handled at once by this process.
    pub batch: usize,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            enabled: true,
            day_seconds: 86_400,
            poll_ms: 500,
            lease_ms: 60_000,
            batch: 16,
        }
    }
}

impl ProcessConfig {
    /// A day in milliseconds.
    pub fn day_ms(&self) -> i64 {
        (self.day_seconds as i64).saturating_mul(1000)
    }
}

/// Checks the `[process]` and `[smtp]` settings (called by `Config::validate`).
pub fn validate_config(process: &ProcessConfig, smtp: &SmtpConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        process.day_seconds > 0,
        "process.day_seconds must be at least 1"
    );
    anyhow::ensure!(process.poll_ms > 0, "process.poll_ms must be positive");
    anyhow::ensure!(process.batch > 0, "process.batch must be at least 1");
    anyhow::ensure!(
        process.lease_ms > smtp.timeout_ms as i64,
        "process.lease_ms ({}) must be longer than smtp.timeout_ms ({}): a step is leased while its overdue e-mail is sent",
        process.lease_ms,
        smtp.timeout_ms
    );
    smtp.validate()
}

/// Why a process-manager operation was refused. The CLI prints it; the REST API maps it to
/// a problem document.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The input is invalid; each entry names its field.
    #[error("{}", template::describe(.0))]
    Invalid(Vec<FieldError>),
    /// A referenced object does not exist; the text names it.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. cancelling a finished process).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ProcessError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) | StoreError::Forbidden(message) => {
                ProcessError::Conflict(message)
            }
            error => ProcessError::Store(error),
        }
    }
}

impl ProcessError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ProcessError::Invalid(vec![FieldError::new(field, message)])
    }
}
