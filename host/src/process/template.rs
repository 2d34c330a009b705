//! What makes a process template and a start request valid.
//!
//! Bodies are read field by field (`serde_path_to_error`), so even a wrong type names its
//! field, e.g. `steps[1].deadlineDays`. The checks that need the database (is the service
//! activated, does it have a webhook, does it accept this parameter) come after and are all
//! reported at once, each naming its step and field.

use super::ProcessError;
use crate::store::{LinkedRecord, Process, Responsible, StepSpec, Store, StoreError, TemplateSpec};
use crate::vocab::RecordModule;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Longest display name (template, step, user).
const MAX_NAME_CHARS: usize = 200;
/// Longest template description.
const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Most steps in one template.
const MAX_STEPS: usize = 100;
/// Longest delay or deadline, in days (ten years).
const MAX_DAYS: u32 = 3650;
/// Longest parameter value (URLs, tags, identifiers).
const MAX_PARAMETER_VALUE_CHARS: usize = 8192;
/// Longest record id.
const MAX_RECORD_ID_CHARS: usize = 100;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Its path in the JSON body: `name`, `steps[1].serviceId`, `steps[0].parameters.tag`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `field: message; field: message`.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Deserializes `value` as `T`; a failure names the field it happened at.
pub fn read<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ProcessError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ProcessError::invalid(field, e.inner().to_string())
    })
}

/// A display name, trimmed: non-empty, at most [`MAX_NAME_CHARS`], no control characters.
fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str, required: bool) -> String {
    let name = name.trim();
    if name.is_empty() && required {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    name.to_owned()
}

/// An optional e-mail address, trimmed; empty means none.
fn check_email(errors: &mut Vec<FieldError>, field: &str, email: Option<&str>) -> Option<String> {
    let email = email.map(str::trim).filter(|e| !e.is_empty())?;
    if !super::mail::is_address(email) {
        errors.push(FieldError::new(
            field,
            format!("{email:?} is not an e-mail address"),
        ));
    }
    Some(email.to_owned())
}

/// Checks `spec` for `tenant_id` and normalizes it (trimmed names, empty address as none).
/// Every problem is reported, each naming its step and field.
pub async fn check_template(
    store: &Store,
    tenant_id: &str,
    spec: &mut TemplateSpec,
) -> Result<(), ProcessError> {
    let mut errors = Vec::new();
    spec.name = check_name(&mut errors, "name", &spec.name, true);
    if spec.description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    spec.controller_email = check_email(
        &mut errors,
        "controllerEmail",
        spec.controller_email.as_deref(),
    );
    if spec.steps.is_empty() {
        errors.push(FieldError::new(
            "steps",
            "a template needs at least one step",
        ));
    }
    if spec.steps.len() > MAX_STEPS {
        errors.push(FieldError::new(
            "steps",
            format!("at most {MAX_STEPS} steps"),
        ));
    }
    for (index, step) in spec.steps.iter_mut().enumerate() {
        check_step(
            store,
            tenant_id,
            &format!("steps[{index}]"),
            step,
            &mut errors,
        )
        .await?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ProcessError::Invalid(errors))
    }
}

/// Checks one step; database failures are errors, everything else goes to `errors`.
async fn check_step(
    store: &Store,
    tenant_id: &str,
    at: &str,
    step: &mut StepSpec,
    errors: &mut Vec<FieldError>,
) -> Result<(), ProcessError> {
    step.name = check_name(errors, &format!("{at}.name"), &step.name, false);
    if let crate::store::StepStart::DaysAfterPrevious(days) = step.start
        && days > MAX_DAYS
    {
        errors.push(FieldError::new(
            format!("{at}.start.daysAfterPrevious"),
            format!("must be at most {MAX_DAYS} days"),
        ));
    }
    match step.deadline_days {
        Some(0) => errors.push(FieldError::new(
            format!("{at}.deadlineDays"),
            "must be at least 1 day",
        )),
        Some(days) if days > MAX_DAYS => errors.push(FieldError::new(
            format!("{at}.deadlineDays"),
            format!("must be at most {MAX_DAYS} days"),
        )),
        _ => {}
    }
    if let Responsible::User(user) = &step.responsible {
        let user = check_name(errors, &format!("{at}.responsible.user"), user, true);
        step.responsible = Responsible::User(user);
    }
    for (name, value) in &step.parameters {
        if value.chars().count() > MAX_PARAMETER_VALUE_CHARS {
            errors.push(FieldError::new(
                format!("{at}.parameters.{name}"),
                format!("must be at most {MAX_PARAMETER_VALUE_CHARS} characters"),
            ));
        }
    }

    step.service_id = step.service_id.trim().to_owned();
    let field = format!("{at}.serviceId");
    if step.service_id.is_empty() {
        errors.push(FieldError::new(
            field,
            "must name one of the tenant's activated services",
        ));
        return Ok(());
    }
    // A service the tenant cannot use reads the same whoever owns it: another tenant's
    // private service, a marketplace service it has not activated, or none at all.
    let unusable = || {
        FieldError::new(
            field.clone(),
            format!(
                "service {} is not one of this tenant's activated services",
                step.service_id
            ),
        )
    };
    let service = match store.service(&step.service_id).await {
        Ok(service)
            if service
                .tenant_id
                .as_deref()
                .is_none_or(|owner| owner == tenant_id) =>
        {
            service
        }
        Ok(_) | Err(StoreError::NotFound) => {
            errors.push(unusable());
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    if store.activation(tenant_id, &service.id).await?.is_none() {
        errors.push(unusable());
        return Ok(());
    }
    if store.count_process_webhooks(&service.id).await? == 0 {
        errors.push(FieldError::new(
            field,
            format!(
                "service {} ({}) has no webhook: only services with a webhook can run in a webhook step",
                service.id, service.name
            ),
        ));
    }
    for name in step.parameters.keys() {
        if !service.accepts(name) {
            let accepted = if service.accepted_parameters.is_empty() {
                "it accepts none".to_owned()
            } else {
                format!("it accepts {}", service.accepted_parameters.join(", "))
            };
            errors.push(FieldError::new(
                format!("{at}.parameters.{name}"),
                format!(
                    "service {} ({}) does not accept the parameter {name:?}: {accepted}",
                    service.id, service.name
                ),
            ));
        }
    }
    Ok(())
}

/// The body of `POST /api/v1/processes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartRequest {
    /// The template to start.
    pub template_id: String,
    /// The record the process runs for.
    pub module: RecordModule,
    /// Its id.
    pub record_id: String,
    /// Its maintainer.
    #[serde(default)]
    pub maintainer: Option<String>,
    /// Its fields, handed to the webhooks.
    #[serde(default)]
    pub elements: Option<serde_json::Map<String, serde_json::Value>>,
    /// Records of the other module that steps refer to.
    #[serde(default)]
    pub links: BTreeMap<RecordModule, LinkedRecord>,
    /// Who starts it (the process owner).
    #[serde(default)]
    pub owner: Option<String>,
    /// Who is e-mailed about overdue steps; the template's controller when unset.
    #[serde(default)]
    pub controller_email: Option<String>,
}

/// What a checked start request resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedStart {
    /// Every linked record, the process's own included.
    pub records: BTreeMap<RecordModule, LinkedRecord>,
    /// The process owner.
    pub owner: Option<String>,
    /// The controller's address (the request's, else the template's).
    pub controller_email: Option<String>,
}

fn check_record_id(errors: &mut Vec<FieldError>, field: &str, id: &str) -> String {
    let id = id.trim();
    if id.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if id.chars().count() > MAX_RECORD_ID_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_RECORD_ID_CHARS} characters"),
        ));
    } else if id.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    id.to_owned()
}

fn optional_name(errors: &mut Vec<FieldError>, field: &str, name: Option<&str>) -> Option<String> {
    let name = check_name(errors, field, name?, false);
    (!name.is_empty()).then_some(name)
}

/// Checks a start request against the template's steps: every record a step refers to must
/// be linked. Errors name the request's field and the step that needs it.
pub fn check_start(
    request: &StartRequest,
    template: &TemplateSpec,
) -> Result<CheckedStart, ProcessError> {
    let mut errors = Vec::new();
    let mut records = BTreeMap::new();
    let own = LinkedRecord {
        record_id: check_record_id(&mut errors, "recordId", &request.record_id),
        maintainer: optional_name(&mut errors, "maintainer", request.maintainer.as_deref()),
        elements: request.elements.clone(),
    };
    records.insert(request.module, own);
    for (module, link) in &request.links {
        let at = format!("links.{module}");
        if *module == request.module {
            errors.push(FieldError::new(
                at,
                format!(
                    "the process runs for this {module} record: give it as module and recordId"
                ),
            ));
            continue;
        }
        let link = LinkedRecord {
            record_id: check_record_id(&mut errors, &format!("{at}.recordId"), &link.record_id),
            maintainer: optional_name(
                &mut errors,
                &format!("{at}.maintainer"),
                link.maintainer.as_deref(),
            ),
            elements: link.elements.clone(),
        };
        records.insert(*module, link);
    }
    for (index, step) in template.steps.iter().enumerate() {
        if let Some(module) = step.record
            && !records.contains_key(&module)
        {
            errors.push(FieldError::new(
                format!("links.{module}"),
                format!(
                    "step {} ({}) refers to the {module} record: name it in links.{module}.recordId",
                    index + 1,
                    step_label(step)
                ),
            ));
        }
    }
    let owner = optional_name(&mut errors, "owner", request.owner.as_deref());
    let controller_email = check_email(
        &mut errors,
        "controllerEmail",
        request.controller_email.as_deref(),
    )
    .or_else(|| template.controller_email.clone());
    if errors.is_empty() {
        Ok(CheckedStart {
            records,
            owner,
            controller_email,
        })
    } else {
        Err(ProcessError::Invalid(errors))
    }
}

/// A step's label for people: its name, or `webhook of SVC-…`.
pub fn step_label(step: &StepSpec) -> String {
    if step.name.is_empty() {
        format!("webhook of {}", step.service_id)
    } else {
        step.name.clone()
    }
}

/// The record a step of `process` refers to.
pub fn step_record<'a>(process: &'a Process, step: &StepSpec) -> (RecordModule, &'a str) {
    let module = step.record.unwrap_or(process.module);
    match process.records.get(&module) {
        Some(record) => (module, record.record_id.as_str()),
        None => (process.module, process.record_id.as_str()),
    }
}

/// The user responsible for a step of `process`, when one is named.
pub fn responsible_user(process: &Process, step: &StepSpec) -> Option<String> {
    match &step.responsible {
        Responsible::ProcessOwner => process.owner.clone(),
        Responsible::RecordMaintainer => {
            let (module, _) = step_record(process, step);
            process
                .records
                .get(&module)
                .and_then(|r| r.maintainer.clone())
        }
        Responsible::User(user) => Some(user.clone()),
    }
}

/// Who a step's activity entries name: the responsible user, else the role.
pub fn responsible_label(process: &Process, step: &StepSpec) -> String {
    responsible_user(process, step).unwrap_or_else(|| match &step.responsible {
        Responsible::ProcessOwner => "process owner".to_owned(),
        Responsible::RecordMaintainer => "record maintainer".to_owned(),
        Responsible::User(user) => user.clone(),
    })
}
