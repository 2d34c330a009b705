//! The process manager's operations, shared by the REST API (`/api/v1/…`) and the CLI
//! (`hookhost process …`), and the JSON shapes both show. Every operation is a tenant's:
//! it only sees and changes that tenant's templates, processes and activity entries.

use super::template::{self, StartRequest};
use super::{ProcessConfig, ProcessError};
use crate::store::{
    Activity, Listing, NewActivity, NewProcess, Process, ProcessFilter, ProcessStep,
    ProcessTemplate, Store, StoreError, TemplateSpec, lists,
};
use crate::time::{format_ms, now_ms};
use crate::vocab::{ProcessStatus, RecordModule};
use serde_json::{Value, json};

/// Maps the store's bare `NotFound` to one naming `what`.
fn naming(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> ProcessError {
    move |error| match error {
        StoreError::NotFound => ProcessError::NotFound(what()),
        error => error.into(),
    }
}

/// Creates a template of `tenant_id` from a JSON body.
pub async fn create_template(
    store: &Store,
    tenant_id: &str,
    body: Value,
) -> Result<ProcessTemplate, ProcessError> {
    let mut spec: TemplateSpec = template::read(body)?;
    template::check_template(store, tenant_id, &mut spec).await?;
    Ok(store.insert_process_template(tenant_id, &spec).await?)
}

/// Replaces template `id` of `tenant_id` with a JSON body.
pub async fn replace_template(
    store: &Store,
    tenant_id: &str,
    id: &str,
    body: Value,
) -> Result<ProcessTemplate, ProcessError> {
    get_template(store, tenant_id, id).await?;
    let mut spec: TemplateSpec = template::read(body)?;
    template::check_template(store, tenant_id, &mut spec).await?;
    store
        .update_process_template(tenant_id, id, &spec)
        .await
        .map_err(naming(|| format!("process template {id}")))
}

/// Template `id` of `tenant_id`.
pub async fn get_template(
    store: &Store,
    tenant_id: &str,
    id: &str,
) -> Result<ProcessTemplate, ProcessError> {
    store
        .process_template(tenant_id, id)
        .await
        .map_err(naming(|| format!("process template {id}")))
}

/// Deletes template `id` of `tenant_id`; processes started from it keep running.
pub async fn delete_template(store: &Store, tenant_id: &str, id: &str) -> Result<(), ProcessError> {
    store
        .delete_process_template(tenant_id, id)
        .await
        .map_err(naming(|| format!("process template {id}")))
}

/// Starts a process of `tenant_id` from a JSON start request.
pub async fn start_process(
    store: &Store,
    config: &ProcessConfig,
    tenant_id: &str,
    body: Value,
) -> Result<Process, ProcessError> {
    let request: StartRequest = template::read(body)?;
    let template = store
        .process_template(tenant_id, request.template_id.trim())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ProcessError::invalid(
                "templateId",
                format!("no process template {}", request.template_id.trim()),
            ),
            e => e.into(),
        })?;
    let checked = template::check_start(&request, &template.spec)?;
    // The services may have changed since the template was saved (deactivated, webhook
    // deleted): refuse now rather than fail a step later.
    let mut current = template.spec.clone();
    if let Err(error) = template::check_template(store, tenant_id, &mut current).await {
        return Err(match error {
            ProcessError::Invalid(errors) => ProcessError::Conflict(format!(
                "process template {} is no longer valid: {}",
                template.id,
                template::describe(&errors)
            )),
            error => error,
        });
    }
    let first_delay = template.spec.steps.first().map_or(0, |s| s.start.days());
    let new = NewProcess {
        tenant_id: tenant_id.to_owned(),
        template_id: template.id.clone(),
        template_name: template.spec.name.clone(),
        module: request.module,
        record_id: checked.records[&request.module].record_id.clone(),
        records: checked.records,
        owner: checked.owner,
        controller_email: checked.controller_email,
        steps: template.spec.steps.clone(),
        first_due_at: now_ms() + i64::from(first_delay) * config.day_ms(),
    };
    Ok(store.insert_process(&new).await?)
}

/// Process `id` of `tenant_id`, with its steps.
pub async fn get_process(
    store: &Store,
    tenant_id: &str,
    id: &str,
) -> Result<Process, ProcessError> {
    store
        .process(tenant_id, id)
        .await
        .map_err(naming(|| format!("process {id}")))
}

/// Checks a list filter's values.
pub fn check_filter(filter: &ProcessFilter) -> Result<(), ProcessError> {
    if !filter.status.is_empty()
        && let Err(unknown) = ProcessStatus::parse(&filter.status)
    {
        return Err(ProcessError::invalid("status", unknown.to_string()));
    }
    if !filter.module.is_empty() && RecordModule::parse(&filter.module).is_err() {
        return Err(ProcessError::invalid(
            "module",
            format!("{:?} is not one of estate, address", filter.module),
        ));
    }
    Ok(())
}

/// Cancels running process `id` of `tenant_id`.
pub async fn cancel_process(
    store: &Store,
    tenant_id: &str,
    id: &str,
) -> Result<Process, ProcessError> {
    store
        .cancel_process(tenant_id, id, |process, step| {
            activity(
                process,
                step,
                "cancelled",
                "the process was cancelled while the step ran".into(),
            )
        })
        .await
        .map_err(naming(|| format!("process {id}")))
}

/// The activity-log entry of step `step` of `process` with `result`.
pub fn activity(
    process: &Process,
    step: &ProcessStep,
    result: &str,
    detail: String,
) -> NewActivity {
    let (module, record_id) = template::step_record(process, &step.spec);
    NewActivity {
        module,
        record_id: record_id.to_owned(),
        who: template::responsible_label(process, &step.spec),
        responsible: step.spec.responsible.kind().to_owned(),
        what: format!(
            "process \"{}\" ({}), step {} of {}: {}",
            process.template_name,
            process.id,
            step.position,
            process.step_count,
            template::step_label(&step.spec)
        ),
        result: result.to_owned(),
        detail,
        position: step.position,
    }
}

/// A page of the activity log of record `module`/`record_id`.
pub async fn list_activities(
    store: &Store,
    tenant_id: &str,
    module: &str,
    record_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Activity>, i64), ProcessError> {
    let everything = Listing::all(&lists::ACTIVITIES);
    list_activities_matching(
        store,
        tenant_id,
        module,
        record_id,
        &everything,
        offset,
        limit,
    )
    .await
}

/// A page of the activity log of record `module`/`record_id` that `listing` keeps.
pub async fn list_activities_matching(
    store: &Store,
    tenant_id: &str,
    module: &str,
    record_id: &str,
    listing: &Listing<lists::Activities>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Activity>, i64), ProcessError> {
    if RecordModule::parse(module).is_err() {
        return Err(ProcessError::invalid(
            "module",
            format!("{module:?} is not one of estate, address"),
        ));
    }
    Ok(store
        .list_activities_matching(tenant_id, module, record_id, listing, offset, limit)
        .await?)
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(format_ms(ms)))
}

/// A template as the API shows it.
pub fn template_json(template: &ProcessTemplate) -> Value {
    let spec = &template.spec;
    json!({
        "id": template.id,
        "name": spec.name,
        "description": spec.description,
        "controllerEmail": spec.controller_email,
        "steps": spec.steps,
        "revision": template.revision,
        "createdAt": format_ms(template.created_at),
        "updatedAt": format_ms(template.updated_at),
    })
}

/// A process as the API shows it; with its steps when they were loaded.
pub fn process_json(process: &Process) -> Value {
    let mut value = json!({
        "id": process.id,
        "templateId": process.template_id,
        "templateName": process.template_name,
        "module": process.module,
        "recordId": process.record_id,
        "records": process.records,
        "owner": process.owner,
        "controllerEmail": process.controller_email,
        "status": process.status,
        "overdue": process.overdue,
        "error": process.error,
        "stepCount": process.step_count,
        "currentStep": process.current_step,
        "createdAt": format_ms(process.created_at),
        "updatedAt": format_ms(process.updated_at),
        "finishedAt": time(process.finished_at),
    });
    if !process.steps.is_empty() {
        value["steps"] = process
            .steps
            .iter()
            .map(|s| step_json(process, s))
            .collect();
    }
    value
}

/// A step of a process as the API shows it: its definition, the record and person it
/// resolved to, and where it stands.
pub fn step_json(process: &Process, step: &ProcessStep) -> Value {
    let (module, record_id) = template::step_record(process, &step.spec);
    let spec = &step.spec;
    json!({
        "position": step.position,
        "type": spec.kind,
        "name": spec.name,
        "serviceId": spec.service_id,
        "parameters": spec.parameters,
        "start": spec.start,
        "deadlineDays": spec.deadline_days,
        "responsible": spec.responsible,
        "responsibleUser": template::responsible_user(process, spec),
        "record": {"module": module, "recordId": record_id},
        "status": step.status,
        "dueAt": time(step.due_at),
        "startedAt": time(step.started_at),
        "deadlineAt": time(step.deadline_at),
        "finishedAt": time(step.finished_at),
        "overdue": step.overdue_at.is_some(),
        "overdueAt": time(step.overdue_at),
        "notifiedAt": time(step.notified_at),
        "notice": step.notice,
        "deliveries": step.deliveries,
        "error": step.error,
    })
}

/// An activity entry as the API shows it.
pub fn activity_json(activity: &Activity) -> Value {
    json!({
        "id": activity.id,
        "module": activity.module,
        "recordId": activity.record_id,
        "at": format_ms(activity.created_at),
        "who": activity.who,
        "responsible": activity.responsible,
        "what": activity.what,
        "result": activity.result,
        "detail": activity.detail,
        "processId": activity.process_id,
        "step": activity.position,
    })
}
