//! The process manager's tables: templates, processes with their durable step schedule, and
//! the records' activity log.
//!
//! A process copies its template's steps when it starts, so editing or deleting a template
//! never changes a process that already runs. Steps are rows with a status and a due time;
//! the scheduler of any instance claims due rows with a lease, exactly as delivery workers
//! claim the outbox (see [`Store::claim_process_steps`]).

use super::{NewDelivery, Result, Store, StoreError, new_id};
use crate::rql::{Filter, Op, Value};
use crate::time::now_ms;
use crate::vocab::{DeliveryStatus, ProcessStatus, RecordModule, StepStatus};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// What a step does. Only webhook steps exist; the field is there so that other kinds can be
/// added without guessing what an old template meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Calls the webhook(s) of one of the tenant's activated services.
    Webhook,
}

/// When a step starts, counted from the moment the previous step finished (for the first
/// step: from the start of the process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StepStart {
    /// As soon as the previous step finished.
    #[default]
    AfterPrevious,
    /// This many days after the previous step finished.
    DaysAfterPrevious(u32),
}

impl StepStart {
    /// The delay in days.
    pub fn days(self) -> u32 {
        match self {
            StepStart::AfterPrevious => 0,
            StepStart::DaysAfterPrevious(days) => days,
        }
    }
}

/// Who answers for a step (named in the activity log and the overdue e-mail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Responsible {
    /// Whoever started the process.
    #[default]
    ProcessOwner,
    /// The maintainer of the record the step refers to.
    RecordMaintainer,
    /// A named user.
    User(String),
}

impl Responsible {
    /// `processOwner`, `recordMaintainer` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Responsible::ProcessOwner => "processOwner",
            Responsible::RecordMaintainer => "recordMaintainer",
            Responsible::User(_) => "user",
        }
    }
}

/// One step of a template (and, copied, of a process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepSpec {
    /// What the step does.
    #[serde(rename = "type")]
    pub kind: StepKind,
    /// A label for people (optional; the service's name is used when empty).
    #[serde(default)]
    pub name: String,
    /// The activated service whose webhook the step calls.
    pub service_id: String,
    /// Parameters passed to the webhook (query parameters of a URL handler, invocation
    /// parameters of a component); only names the service accepts.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// When it starts.
    #[serde(default)]
    pub start: StepStart,
    /// Days after its start by which it must have finished; the controller is e-mailed when
    /// it has not.
    #[serde(default)]
    pub deadline_days: Option<u32>,
    /// Who answers for it.
    #[serde(default)]
    pub responsible: Responsible,
    /// The linked record it refers to; the process's own record when unset.
    #[serde(default)]
    pub record: Option<RecordModule>,
}

/// The writable part of a template (create and replace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Who is e-mailed when a step is overdue (a start request may name another).
    #[serde(default)]
    pub controller_email: Option<String>,
    /// The steps, in order.
    pub steps: Vec<StepSpec>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessTemplate {
    /// `PTM-…`
    pub id: String,
    /// The tenant owning it.
    pub tenant_id: String,
    /// What was saved.
    pub spec: TemplateSpec,
    /// Bumped by every change.
    pub revision: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// A record linked to a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkedRecord {
    /// The record's id.
    pub record_id: String,
    /// Its maintainer (for steps whose responsible is the record's maintainer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// The record's fields as the caller knows them; handed to the webhooks as `elements`
    /// (the shape of an onOffice record), so e.g. a valuation has its inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a process is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProcess {
    /// The tenant.
    pub tenant_id: String,
    /// The template it was started from.
    pub template_id: String,
    /// The template's name at start.
    pub template_name: String,
    /// The record it runs for.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
    /// Every linked record (the process's own included), by module.
    pub records: BTreeMap<RecordModule, LinkedRecord>,
    /// Who started it.
    pub owner: Option<String>,
    /// Who is e-mailed about overdue steps.
    pub controller_email: Option<String>,
    /// The template's steps.
    pub steps: Vec<StepSpec>,
    /// When the first step is due, Unix ms.
    pub first_due_at: i64,
}

/// A process.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// `PRC-…`
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The template it was started from (it may have been changed or deleted since).
    pub template_id: String,
    /// The template's name at start.
    pub template_name: String,
    /// The record it runs for.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
    /// Every linked record, by module.
    pub records: BTreeMap<RecordModule, LinkedRecord>,
    /// Who started it.
    pub owner: Option<String>,
    /// Who is e-mailed about overdue steps.
    pub controller_email: Option<String>,
    /// `running`, `completed`, `failed` or `cancelled`.
    pub status: ProcessStatus,
    /// A step missed its deadline.
    pub overdue: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// How many steps it has.
    pub step_count: i64,
    /// The position (1-based) of the step scheduled or running now.
    pub current_step: Option<i64>,
    /// Started, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// Completed, failed or cancelled at, Unix ms.
    pub finished_at: Option<i64>,
    /// The steps (loaded for one process, empty in lists).
    pub steps: Vec<ProcessStep>,
}

/// A step of a process: its copy of the template step and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStep {
    /// `PST-…`
    pub id: String,
    /// The process.
    pub process_id: String,
    /// 1-based.
    pub position: i64,
    /// What it does.
    pub spec: StepSpec,
    /// `waiting`, `scheduled`, `running`, `succeeded`, `failed`, `cancelled` or `skipped`.
    pub status: StepStatus,
    /// When it starts (scheduled), or started, Unix ms.
    pub due_at: Option<i64>,
    /// When its calls were planned, Unix ms.
    pub started_at: Option<i64>,
    /// When it must have finished, Unix ms.
    pub deadline_at: Option<i64>,
    /// When it finished, Unix ms.
    pub finished_at: Option<i64>,
    /// When it was found overdue, Unix ms.
    pub overdue_at: Option<i64>,
    /// When the controller was e-mailed about it, Unix ms.
    pub notified_at: Option<i64>,
    /// What became of the overdue e-mail.
    pub notice: Option<String>,
    /// Overdue e-mails tried.
    pub notify_attempts: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The deliveries it planned.
    pub deliveries: Vec<String>,
}

/// One planned call of a running step, with its delivery's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCall {
    /// `DLV-…`
    pub delivery_id: String,
    /// The webhook called.
    pub webhook_id: String,
    /// The delivery's status; `None` when retention already deleted it.
    pub status: Option<DeliveryStatus>,
    /// Why its last attempt failed.
    pub last_error: Option<String>,
    /// When it finished (succeeded or failed), Unix ms.
    pub finished_at: Option<i64>,
}

/// An entry to write into a record's activity log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    /// The record's module.
    pub module: RecordModule,
    /// The record's id.
    pub record_id: String,
    /// Who (a user name, or the role when nobody is named).
    pub who: String,
    /// `processOwner`, `recordMaintainer` or `user`.
    pub responsible: String,
    /// What happened.
    pub what: String,
    /// `succeeded`, `failed`, `overdue`, `cancelled`.
    pub result: String,
    /// More about the result.
    pub detail: String,
    /// The position of the step.
    pub position: i64,
}

/// An entry of a record's activity log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// `ACT-…`
    pub id: String,
    /// The record's module.
    pub module: String,
    /// The record's id.
    pub record_id: String,
    /// Who.
    pub who: String,
    /// How `who` was determined.
    pub responsible: String,
    /// What happened.
    pub what: String,
    /// The result.
    pub result: String,
    /// More about the result.
    pub detail: String,
    /// The process that wrote it.
    pub process_id: Option<String>,
    /// The step's position.
    pub position: Option<i64>,
    /// When, Unix ms.
    pub created_at: i64,
}

/// How a step ended, for [`Store::finish_process_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEnd {
    /// Its calls succeeded at `finished_at`; the next step is due after its delay.
    Succeeded {
        /// When, Unix ms.
        finished_at: i64,
    },
    /// It failed; the process stops.
    Failed {
        /// When, Unix ms.
        finished_at: i64,
        /// Why.
        error: String,
    },
}

/// Filters of [`Store::list_processes`]; empty strings match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessFilter {
    /// `running`, `completed`, `failed`, `cancelled`.
    pub status: String,
    /// `estate` or `address`.
    pub module: String,
    /// A record id.
    pub record_id: String,
    /// A template id.
    pub template_id: String,
}

/// An id for rows that pile up (processes, steps, activity entries): short registry ids
/// (10⁸ values) would collide.
fn long_id(prefix: &str) -> String {
    super::unique_id(prefix)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const TEMPLATE_COLUMNS: &str =
    "id, tenant_id, name, description, controller_email, steps, revision, created_at, updated_at";

fn template_from_row(row: &sqlx::any::AnyRow) -> Result<ProcessTemplate> {
    Ok(ProcessTemplate {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        spec: TemplateSpec {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            controller_email: row.try_get("controller_email")?,
            steps: parse(&row.try_get::<String, _>("steps")?)?,
        },
        revision: row.try_get("revision")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Columns of `processes p`, with the step count and the current step.
const PROCESS_COLUMNS: &str = "p.id, p.tenant_id, p.template_id, p.template_name, p.module, \
    p.record_id, p.records, p.owner, p.controller_email, p.status, p.overdue, p.error, \
    p.created_at, p.updated_at, p.finished_at, \
    (SELECT COUNT(*) FROM process_steps s WHERE s.process_id = p.id) AS step_count, \
    (SELECT MIN(s.position) FROM process_steps s WHERE s.process_id = p.id \
        AND s.status IN ('scheduled', 'running')) AS current_step";

fn process_from_row(row: &sqlx::any::AnyRow) -> Result<Process> {
    let module: String = row.try_get("module")?;
    Ok(Process {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        template_id: row.try_get("template_id")?,
        template_name: row.try_get("template_name")?,
        module: RecordModule::parse(&module)
            .map_err(|e| StoreError::Corrupt(format!("process module: {e}")))?,
        record_id: row.try_get("record_id")?,
        records: parse(&row.try_get::<String, _>("records")?)?,
        owner: row.try_get("owner")?,
        controller_email: row.try_get("controller_email")?,
        status: super::read_word(row, "status", ProcessStatus::parse)?,
        overdue: row.try_get::<i64, _>("overdue")? != 0,
        error: row.try_get("error")?,
        step_count: row.try_get("step_count")?,
        current_step: row.try_get("current_step")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
        steps: Vec::new(),
    })
}

const STEP_COLUMNS: &str = "id, process_id, position, spec, status, due_at, started_at, \
    deadline_at, finished_at, overdue_at, notified_at, notice, notify_attempts, error";

fn step_from_row(row: &sqlx::any::AnyRow) -> Result<ProcessStep> {
    Ok(ProcessStep {
        id: row.try_get("id")?,
        process_id: row.try_get("process_id")?,
        position: row.try_get("position")?,
        spec: parse(&row.try_get::<String, _>("spec")?)?,
        status: super::read_word(row, "status", StepStatus::parse)?,
        due_at: row.try_get("due_at")?,
        started_at: row.try_get("started_at")?,
        deadline_at: row.try_get("deadline_at")?,
        finished_at: row.try_get("finished_at")?,
        overdue_at: row.try_get("overdue_at")?,
        notified_at: row.try_get("notified_at")?,
        notice: row.try_get("notice")?,
        notify_attempts: row.try_get("notify_attempts")?,
        error: row.try_get("error")?,
        deliveries: Vec::new(),
    })
}

const ACTIVITY_COLUMNS: &str = "id, module, record_id, who, responsible, what, result, detail, process_id, position, created_at";

fn activity_from_row(row: &sqlx::any::AnyRow) -> Result<Activity> {
    Ok(Activity {
        id: row.try_get("id")?,
        module: row.try_get("module")?,
        record_id: row.try_get("record_id")?,
        who: row.try_get("who")?,
        responsible: row.try_get("responsible")?,
        what: row.try_get("what")?,
        result: row.try_get("result")?,
        detail: row.try_get("detail")?,
        process_id: row.try_get("process_id")?,
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Writes an activity entry of process `process` (tenant `tenant_id`) inside `tx`.
async fn insert_activity(
    tx: &mut sqlx::AnyConnection,
    tenant_id: &str,
    process_id: &str,
    activity: &NewActivity,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO activities (id, tenant_id, module, record_id, who, responsible, what, result, \
         detail, process_id, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(long_id("ACT"))
    .bind(tenant_id)
    .bind(activity.module.as_str())
    .bind(&activity.record_id)
    .bind(&activity.who)
    .bind(&activity.responsible)
    .bind(&activity.what)
    .bind(&activity.result)
    .bind(&activity.detail)
    .bind(process_id)
    .bind(activity.position)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Saves a new template of `tenant_id` (already validated).
    pub async fn insert_process_template(
        &self,
        tenant_id: &str,
        spec: &TemplateSpec,
    ) -> Result<ProcessTemplate> {
        let now = now_ms();
        let template = ProcessTemplate {
            id: new_id("PTM"),
            tenant_id: tenant_id.to_owned(),
            spec: spec.clone(),
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO process_templates (id, tenant_id, name, description, controller_email, \
             steps, revision, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
        )
        .bind(&template.id)
        .bind(tenant_id)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(&spec.controller_email)
        .bind(json(&spec.steps))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(template)
    }

    /// Template `id` of `tenant_id`.
    pub async fn process_template(&self, tenant_id: &str, id: &str) -> Result<ProcessTemplate> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM process_templates WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        template_from_row(&row)
    }

    /// A page of `tenant_id`'s templates, oldest first, and their total.
    pub async fn list_process_templates(
        &self,
        tenant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ProcessTemplate>, i64)> {
        let everything = super::Listing::all(&super::lists::TEMPLATES);
        self.list_process_templates_matching(tenant_id, &everything, offset, limit)
            .await
    }

    /// A page of `tenant_id`'s templates that `listing` keeps, in its order (oldest first
    /// unless asked otherwise), and their total.
    pub async fn list_process_templates_matching(
        &self,
        tenant_id: &str,
        listing: &super::Listing<super::lists::Templates>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ProcessTemplate>, i64)> {
        let list = listing.sql(self.backend(), 2);
        let matching = format!("tenant_id = $1 AND {}", list.condition);
        let count = format!("SELECT COUNT(*) AS n FROM process_templates WHERE {matching}");
        let total: i64 = list
            .bind(sqlx::query(AssertSqlSafe(count)).bind(tenant_id))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM process_templates WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(sqlx::query(AssertSqlSafe(sql)).bind(tenant_id))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let templates = rows.iter().map(template_from_row).collect::<Result<_>>()?;
        Ok((templates, total))
    }

    /// Replaces template `id` of `tenant_id` (already validated). Running processes keep the
    /// steps they started with.
    pub async fn update_process_template(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &TemplateSpec,
    ) -> Result<ProcessTemplate> {
        let done = sqlx::query(
            "UPDATE process_templates SET name = $1, description = $2, controller_email = $3, \
             steps = $4, revision = revision + 1, updated_at = $5 WHERE id = $6 AND tenant_id = $7",
        )
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(&spec.controller_email)
        .bind(json(&spec.steps))
        .bind(now_ms())
        .bind(id)
        .bind(tenant_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.process_template(tenant_id, id).await
    }

    /// Deletes template `id` of `tenant_id`; its processes keep running.
    pub async fn delete_process_template(&self, tenant_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM process_templates WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Writes a process and its steps in one transaction: the first step scheduled at
    /// `first_due_at`, the others waiting for their predecessor.
    pub async fn insert_process(&self, new: &NewProcess) -> Result<Process> {
        let now = now_ms();
        let id = long_id("PRC");
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO processes (id, tenant_id, template_id, template_name, module, record_id, \
             records, owner, controller_email, status, overdue, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', 0, $10, $10)",
        )
        .bind(&id)
        .bind(&new.tenant_id)
        .bind(&new.template_id)
        .bind(&new.template_name)
        .bind(new.module.as_str())
        .bind(&new.record_id)
        .bind(json(&new.records))
        .bind(&new.owner)
        .bind(&new.controller_email)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (index, step) in new.steps.iter().enumerate() {
            let (status, due_at) = if index == 0 {
                (StepStatus::Scheduled, Some(new.first_due_at))
            } else {
                (StepStatus::Waiting, None)
            };
            sqlx::query(
                "INSERT INTO process_steps (id, process_id, position, spec, status, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(long_id("PST"))
            .bind(&id)
            .bind(index as i64 + 1)
            .bind(json(step))
            .bind(status.as_str())
            .bind(due_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.process(&new.tenant_id, &id).await
    }

    /// Process `id` of `tenant_id`, with its steps.
    pub async fn process(&self, tenant_id: &str, id: &str) -> Result<Process> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROCESS_COLUMNS} FROM processes p WHERE p.id = $1 AND p.tenant_id = $2"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut process = process_from_row(&row)?;
        process.steps = self.process_steps(&process.id).await?;
        // The steps were read after the process: its current step is the one they show, or a
        // step that moved on in between would contradict it.
        process.current_step = process
            .steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Scheduled | StepStatus::Running))
            .map(|s| s.position);
        Ok(process)
    }

    /// The steps of process `process_id`, in order, with their deliveries.
    async fn process_steps(&self, process_id: &str) -> Result<Vec<ProcessStep>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STEP_COLUMNS} FROM process_steps WHERE process_id = $1 ORDER BY position"
        )))
        .bind(process_id)
        .fetch_all(self.pool())
        .await?;
        let mut steps = rows.iter().map(step_from_row).collect::<Result<Vec<_>>>()?;
        let calls = sqlx::query(
            "SELECT c.step_id, c.delivery_id FROM process_step_calls c \
             JOIN process_steps s ON s.id = c.step_id WHERE s.process_id = $1 \
             ORDER BY c.delivery_id",
        )
        .bind(process_id)
        .fetch_all(self.pool())
        .await?;
        for call in &calls {
            let step_id: String = call.try_get("step_id")?;
            if let Some(step) = steps.iter_mut().find(|s| s.id == step_id) {
                step.deliveries.push(call.try_get("delivery_id")?);
            }
        }
        Ok(steps)
    }

    /// A page of `tenant_id`'s processes matching `filter`, newest first (without their
    /// steps), and their total.
    pub async fn list_processes(
        &self,
        tenant_id: &str,
        filter: &ProcessFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Process>, i64)> {
        let equal: Vec<Filter> = [
            ("status", &filter.status),
            ("module", &filter.module),
            ("recordId", &filter.record_id),
            ("templateId", &filter.template_id),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(field, value)| Filter::Compare {
            op: Op::Eq,
            field: field.to_owned(),
            value: Value::Text(value.clone()),
        })
        .collect();
        let filter = (!equal.is_empty()).then_some(Filter::And(equal));
        match super::Listing::new(&super::lists::PROCESSES, filter.as_ref(), &[]) {
            Ok(listing) => {
                self.list_processes_matching(tenant_id, &listing, offset, limit)
                    .await
            }
            // A status or module no process can have.
            Err(_) => Ok((Vec::new(), 0)),
        }
    }

    /// A page of `tenant_id`'s processes that `listing` keeps, in its order (newest first
    /// unless asked otherwise; without their steps), and their total.
    pub async fn list_processes_matching(
        &self,
        tenant_id: &str,
        listing: &super::Listing<super::lists::Processes>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Process>, i64)> {
        let list = listing.sql(self.backend(), 2);
        let matching = format!("p.tenant_id = $1 AND {}", list.condition);
        let count = format!("SELECT COUNT(*) AS n FROM processes p WHERE {matching}");
        let total: i64 = list
            .bind(sqlx::query(AssertSqlSafe(count)).bind(tenant_id))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {PROCESS_COLUMNS} FROM processes p WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(sqlx::query(AssertSqlSafe(sql)).bind(tenant_id))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let processes = rows.iter().map(process_from_row).collect::<Result<_>>()?;
        Ok((processes, total))
    }

    /// Cancels running process `id` of `tenant_id`: steps not finished are cancelled, calls
    /// not yet attempted are dropped from the outbox, and a step that was running writes
    /// `cancelled` to its record's activity log. Conflict when the process is not running.
    pub async fn cancel_process(
        &self,
        tenant_id: &str,
        id: &str,
        activity: impl FnOnce(&Process, &ProcessStep) -> NewActivity,
    ) -> Result<Process> {
        let process = self.process(tenant_id, id).await?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE processes SET status = 'cancelled', finished_at = $1, updated_at = $1 \
             WHERE id = $2 AND tenant_id = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            let current = self.process(tenant_id, id).await?;
            return Err(StoreError::Conflict(format!(
                "process {id} is {}: only a running process can be cancelled",
                current.status
            )));
        }
        sqlx::query(
            "UPDATE deliveries SET status = 'failed', last_error = 'the process was cancelled', \
             updated_at = $1 WHERE status = 'pending' AND id IN (SELECT c.delivery_id FROM \
             process_step_calls c JOIN process_steps s ON s.id = c.step_id \
             WHERE s.process_id = $2 AND s.status = 'running')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(running) = process
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Running)
        {
            insert_activity(&mut tx, tenant_id, id, &activity(&process, running), now).await?;
        }
        sqlx::query(
            "UPDATE process_steps SET status = 'cancelled', finished_at = $1, notify_at = NULL, \
             lease_until = NULL, leased_by = NULL \
             WHERE process_id = $2 AND status IN ('waiting', 'scheduled', 'running')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.process(tenant_id, id).await
    }

    /// A page of the activity log of record `module`/`record_id` of `tenant_id`, newest
    /// first, and its total.
    pub async fn list_activities(
        &self,
        tenant_id: &str,
        module: &str,
        record_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Activity>, i64)> {
        let everything = super::Listing::all(&super::lists::ACTIVITIES);
        self.list_activities_matching(tenant_id, module, record_id, &everything, offset, limit)
            .await
    }

    /// A page of the activity log of record `module`/`record_id` of `tenant_id` that
    /// `listing` keeps, in its order (newest first unless asked otherwise), and its total.
    pub async fn list_activities_matching(
        &self,
        tenant_id: &str,
        module: &str,
        record_id: &str,
        listing: &super::Listing<super::lists::Activities>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Activity>, i64)> {
        let list = listing.sql(self.backend(), 4);
        let matching = format!(
            "tenant_id = $1 AND module = $2 AND record_id = $3 AND {}",
            list.condition
        );
        let count = format!("SELECT COUNT(*) AS n FROM activities WHERE {matching}");
        let total: i64 = list
            .bind(
                sqlx::query(AssertSqlSafe(count))
                    .bind(tenant_id)
                    .bind(module)
                    .bind(record_id),
            )
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(tenant_id)
                    .bind(module)
                    .bind(record_id),
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let activities = rows.iter().map(activity_from_row).collect::<Result<_>>()?;
        Ok((activities, total))
    }

    /// Claims up to `limit` steps that need the scheduler, for `worker` until
    /// `now + lease_ms`; returns their ids.
    ///
    /// A step needs the scheduler when it is scheduled and due, or running and either all its
    /// calls finished or its overdue e-mail is due. A step whose lease expired (its instance
    /// died) is claimable again. On PostgreSQL rows are claimed with `FOR UPDATE SKIP
    /// LOCKED`, so instances never claim the same step; SQLite has a single writer, so the
    /// claiming update is atomic by itself.
    pub async fn claim_process_steps(
        &self,
        worker: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<String>> {
        let now = now_ms();
        let lock = match self.backend() {
            super::Backend::Postgres => "FOR UPDATE OF s SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE process_steps SET lease_until = $1, leased_by = $2 WHERE id IN ( \
             SELECT s.id FROM process_steps s WHERE (s.lease_until IS NULL OR s.lease_until < $3) \
             AND ((s.status = 'scheduled' AND s.due_at <= $3) \
               OR (s.status = 'running' AND ((s.notify_at IS NOT NULL AND s.notify_at <= $3) \
                 OR NOT EXISTS (SELECT 1 FROM process_step_calls c JOIN deliveries d \
                   ON d.id = c.delivery_id WHERE c.step_id = s.id \
                   AND d.status IN ('pending', 'in_flight'))))) \
             ORDER BY s.due_at LIMIT $4 {lock}) RETURNING id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(worker)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// Step `step_id` and its process (without the process's steps).
    pub async fn process_step_work(&self, step_id: &str) -> Result<(Process, ProcessStep)> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STEP_COLUMNS} FROM process_steps WHERE id = $1"
        )))
        .bind(step_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut step = step_from_row(&row)?;
        step.deliveries = self
            .process_step_calls(step_id)
            .await?
            .into_iter()
            .map(|c| c.delivery_id)
            .collect();
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROCESS_COLUMNS} FROM processes p WHERE p.id = $1"
        )))
        .bind(&step.process_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok((process_from_row(&row)?, step))
    }

    /// The calls step `step_id` planned, with their deliveries' states.
    pub async fn process_step_calls(&self, step_id: &str) -> Result<Vec<StepCall>> {
        let rows = sqlx::query(
            "SELECT c.delivery_id, c.webhook_id, d.status, d.last_error, d.next_attempt_at \
             FROM process_step_calls c LEFT JOIN deliveries d ON d.id = c.delivery_id \
             WHERE c.step_id = $1 ORDER BY c.delivery_id",
        )
        .bind(step_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get("status")?;
                let status = status
                    .map(|s| DeliveryStatus::parse(&s))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("status: {e}")))?;
                let finished = status.is_some_and(DeliveryStatus::is_final);
                // A finished delivery's next_attempt_at is when it finished.
                let next: Option<i64> = row.try_get("next_attempt_at")?;
                Ok(StepCall {
                    delivery_id: row.try_get("delivery_id")?,
                    webhook_id: row.try_get("webhook_id")?,
                    status,
                    last_error: row.try_get("last_error")?,
                    finished_at: next.filter(|_| finished),
                })
            })
            .collect()
    }

    /// The enabled record webhooks (no MPT type) of `service_id` that `tenant_id` reaches,
    /// oldest first: those a webhook step may call (its module and criteria decide).
    pub async fn process_step_webhooks(
        &self,
        tenant_id: &str,
        service_id: &str,
    ) -> Result<Vec<super::Webhook>> {
        let sql = format!(
            "SELECT {} FROM webhooks w WHERE w.service_id = $2 AND w.status = 'enabled' \
             AND w.type IS NULL AND ((w.owner_kind = 'tenant' AND w.owner_id = $1) \
             OR (w.owner_kind = 'provider' AND w.service_id IN \
             (SELECT service_id FROM activations WHERE tenant_id = $1))) \
             ORDER BY w.created_at, w.id",
            super::webhooks::COLUMNS_W
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(service_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(super::webhooks::webhook_from_row).collect()
    }

    /// How many webhooks `service_id` has that a process step could call (any status).
    pub async fn count_process_webhooks(&self, service_id: &str) -> Result<i64> {
        Ok(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM webhooks WHERE service_id = $1 AND type IS NULL",
            )
            .bind(service_id)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?,
        )
    }

    /// Starts scheduled step `step_id` claimed by `worker`: plans its calls into the delivery
    /// outbox and marks it running, in one transaction, so a step never plans twice. Returns
    /// the delivery ids, or `None` when the lease was lost or the step is no longer
    /// scheduled (cancelled).
    pub async fn start_process_step(
        &self,
        step_id: &str,
        worker: &str,
        deadline_at: Option<i64>,
        calls: &[NewDelivery],
    ) -> Result<Option<Vec<String>>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE process_steps SET status = 'running', started_at = $1, deadline_at = $2, \
             notify_at = $2, lease_until = NULL, leased_by = NULL \
             WHERE id = $3 AND leased_by = $4 AND status = 'scheduled'",
        )
        .bind(now)
        .bind(deadline_at)
        .bind(step_id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(calls.len());
        for call in calls {
            // The same outbox row `Store::plan_deliveries` writes, inside this transaction.
            let id = long_id("DLV");
            sqlx::query(
                "INSERT INTO deliveries (id, webhook_id, tenant_id, trigger, module, record_id, event, \
                 payload, parameters, traceparent, status, attempts, next_attempt_at, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11)",
            )
            .bind(&id)
            .bind(&call.webhook_id)
            .bind(&call.tenant_id)
            .bind(call.trigger.as_str())
            .bind(&call.module)
            .bind(&call.record_id)
            .bind(crate::vocab::event_name(call.event))
            .bind(&call.payload)
            .bind(json(&call.parameters))
            .bind(call.traceparent.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO process_step_calls (step_id, delivery_id, webhook_id) VALUES ($1, $2, $3)",
            )
            .bind(step_id)
            .bind(&id)
            .bind(&call.webhook_id)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        sqlx::query("UPDATE processes SET updated_at = $1 WHERE id = (SELECT process_id FROM process_steps WHERE id = $2)")
            .bind(now)
            .bind(step_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ids))
    }

    /// Ends step `step_id` claimed by `worker` and writes `activity`, in one transaction.
    /// Success schedules the next step (its delay counted from `finished_at`, `day_ms` per
    /// day) or completes the process; failure skips the remaining steps and fails the
    /// process. Returns false when the lease was lost or the step is no longer scheduled or
    /// running (cancelled).
    pub async fn finish_process_step(
        &self,
        step_id: &str,
        worker: &str,
        end: &StepEnd,
        day_ms: i64,
        activity: &NewActivity,
    ) -> Result<bool> {
        let now = now_ms();
        let (status, finished_at, error) = match end {
            StepEnd::Succeeded { finished_at } => ("succeeded", *finished_at, None),
            StepEnd::Failed { finished_at, error } => {
                ("failed", *finished_at, Some(error.as_str()))
            }
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE process_steps SET status = $1, finished_at = $2, error = $3, notify_at = NULL, \
             lease_until = NULL, leased_by = NULL \
             WHERE id = $4 AND leased_by = $5 AND status IN ('scheduled', 'running') \
             RETURNING process_id, position",
        )
        .bind(status)
        .bind(finished_at)
        .bind(error)
        .bind(step_id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let process_id: String = row.try_get("process_id")?;
        let position: i64 = row.try_get("position")?;
        let tenant_id: String = sqlx::query("SELECT tenant_id FROM processes WHERE id = $1")
            .bind(&process_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("tenant_id")?;
        match end {
            StepEnd::Succeeded { finished_at } => {
                let next = sqlx::query(
                    "SELECT id, spec FROM process_steps WHERE process_id = $1 AND position = $2",
                )
                .bind(&process_id)
                .bind(position + 1)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(next) = next {
                    let spec: StepSpec = parse(&next.try_get::<String, _>("spec")?)?;
                    let due = finished_at + i64::from(spec.start.days()) * day_ms;
                    sqlx::query(
                        "UPDATE process_steps SET status = 'scheduled', due_at = $1 \
                         WHERE id = $2 AND status = 'waiting'",
                    )
                    .bind(due)
                    .bind(next.try_get::<String, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE processes SET updated_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(&process_id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query(
                        "UPDATE processes SET status = 'completed', finished_at = $1, updated_at = $1 \
                         WHERE id = $2 AND status = 'running'",
                    )
                    .bind(now)
                    .bind(&process_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            StepEnd::Failed { error, .. } => {
                sqlx::query(
                    "UPDATE process_steps SET status = 'skipped' WHERE process_id = $1 AND status = 'waiting'",
                )
                .bind(&process_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE processes SET status = 'failed', error = $1, finished_at = $2, updated_at = $2 \
                     WHERE id = $3 AND status = 'running'",
                )
                .bind(format!("step {position} failed: {error}"))
                .bind(now)
                .bind(&process_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_activity(&mut tx, &tenant_id, &process_id, activity, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks running step `step_id` claimed by `worker` overdue (and its process), writing
    /// `activity`, once: false when it already was overdue, the lease was lost, or the step
    /// is no longer running.
    pub async fn mark_process_step_overdue(
        &self,
        step_id: &str,
        worker: &str,
        activity: &NewActivity,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE process_steps SET overdue_at = $1 WHERE id = $2 AND leased_by = $3 \
             AND status = 'running' AND overdue_at IS NULL RETURNING process_id",
        )
        .bind(now)
        .bind(step_id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let process_id: String = row.try_get("process_id")?;
        let tenant_id: String = sqlx::query(
            "UPDATE processes SET overdue = 1, updated_at = $1 WHERE id = $2 RETURNING tenant_id",
        )
        .bind(now)
        .bind(&process_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("tenant_id")?;
        insert_activity(&mut tx, &tenant_id, &process_id, activity, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records what became of step `step_id`'s overdue e-mail: `sent` sets the notification
    /// time; `retry_at` schedules another attempt (else none is made).
    pub async fn set_process_step_notice(
        &self,
        step_id: &str,
        worker: &str,
        sent: bool,
        notice: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE process_steps SET notice = $1, notify_at = $2, notify_attempts = notify_attempts + 1, \
             notified_at = CASE WHEN $3 = 1 THEN $4 ELSE notified_at END \
             WHERE id = $5 AND leased_by = $6",
        )
        .bind(notice)
        .bind(retry_at)
        .bind(i64::from(sent))
        .bind(now)
        .bind(step_id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives back `worker`'s lease of step `step_id` (it needs nothing more now).
    pub async fn release_process_step(&self, step_id: &str, worker: &str) -> Result<()> {
        sqlx::query(
            "UPDATE process_steps SET lease_until = NULL, leased_by = NULL WHERE id = $1 AND leased_by = $2",
        )
        .bind(step_id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives back every step lease of `worker` (graceful shutdown).
    pub async fn release_process_leases(&self, worker: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE process_steps SET lease_until = NULL, leased_by = NULL WHERE leased_by = $1",
        )
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
