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
    if !crate::mail::is_address(email) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::store::{Handler, Scope, StepKind, StepStart, WebhookSpec};
    use serde_json::{Value, json};

    /// The errors of `result`, as (field, message) pairs in the order they were found.
    fn errors<T: std::fmt::Debug>(result: Result<T, ProcessError>) -> Vec<(String, String)> {
        match result {
            Err(ProcessError::Invalid(errors)) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, m)| ((*f).to_owned(), (*m).to_owned()))
            .collect()
    }

    // -----------------------------------------------------------------------------------
    // Reading bodies

    #[test]
    fn read_names_the_field_a_body_went_wrong_at() {
        let wrong_type = json!({"name": "x", "steps": [
            {"type": "webhook", "serviceId": "SVC-1"},
            {"type": "webhook", "serviceId": "SVC-1", "deadlineDays": "three"}
        ]});
        let found = errors(read::<TemplateSpec>(wrong_type));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "steps[1].deadlineDays");
        assert!(found[0].1.contains("expected u32"), "{found:?}");

        let cases = [
            (
                json!({"name": "x", "steps": [{"type": "webhook"}]}),
                "steps[0]",
                "missing field `serviceId`",
            ),
            (
                json!({"name": "x", "steps": [{"type": "webhook", "serviceId": "S", "colour": 1}]}),
                "steps[0].colour",
                "unknown field `colour`",
            ),
            (
                json!({"name": "x", "steps": [{"type": "email", "serviceId": "S"}]}),
                "steps[0].type",
                "unknown variant `email`",
            ),
            (
                json!({"name": "x", "steps": [
                    {"type": "webhook", "serviceId": "S", "parameters": {"tag": 5}}]}),
                "steps[0].parameters.tag",
                "expected a string",
            ),
        ];
        for (body, field, message) in cases {
            let found = errors(read::<TemplateSpec>(body));
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].0, field);
            assert!(found[0].1.contains(message), "{field}: {}", found[0].1);
        }
    }

    #[test]
    fn read_calls_an_error_of_the_whole_body_body() {
        for body in [json!(null), json!("a template"), json!({"name": "x"})] {
            let found = errors(read::<TemplateSpec>(body.clone()));
            assert_eq!(found.len(), 1, "{body}");
            assert_eq!(found[0].0, "body", "{body}: {found:?}");
        }
        let found = errors(read::<TemplateSpec>(json!({"name": "x"})));
        assert!(found[0].1.contains("missing field `steps`"), "{found:?}");
    }

    #[test]
    fn read_fills_in_the_defaults_of_a_step() {
        let spec: TemplateSpec =
            read(json!({"name": "x", "steps": [{"type": "webhook", "serviceId": "S"}]})).unwrap();
        assert_eq!(spec.description, "");
        assert_eq!(spec.controller_email, None);
        assert_eq!(
            spec.steps,
            [StepSpec {
                kind: StepKind::Webhook,
                name: String::new(),
                service_id: "S".into(),
                parameters: BTreeMap::new(),
                start: StepStart::AfterPrevious,
                deadline_days: None,
                responsible: Responsible::ProcessOwner,
                record: None,
            }]
        );
    }

    #[test]
    fn describe_lists_every_field_with_its_message() {
        assert_eq!(describe(&[]), "");
        assert_eq!(
            describe(&[
                FieldError::new("name", "must not be empty"),
                FieldError::new("steps[1].serviceId", "has no webhook"),
            ]),
            "name: must not be empty; steps[1].serviceId: has no webhook"
        );
        assert_eq!(
            ProcessError::invalid("recordId", "must not be empty").to_string(),
            "recordId: must not be empty"
        );
    }

    // -----------------------------------------------------------------------------------
    // Names, addresses and record ids

    fn name(text: &str, required: bool) -> (String, Vec<(String, String)>) {
        let mut errors = Vec::new();
        let name = check_name(&mut errors, "name", text, required);
        (
            name,
            errors.into_iter().map(|e| (e.field, e.message)).collect(),
        )
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            name("  New listing \n", true),
            ("New listing".into(), vec![])
        );
        assert_eq!(name("", false), (String::new(), vec![]));
        assert_eq!(name(" \t ", false), (String::new(), vec![]));
        assert_eq!(
            name(" \t ", true),
            (String::new(), pairs(&[("name", "must not be empty")]))
        );
        // Characters, not bytes: 200 umlauts are 400 bytes and fine.
        let longest = "ä".repeat(MAX_NAME_CHARS);
        assert_eq!(name(&longest, true), (longest.clone(), vec![]));
        let (_, found) = name(&format!("{longest}x"), true);
        assert_eq!(found, pairs(&[("name", "must be at most 200 characters")]));
        // Control characters inside (surrounding whitespace is trimmed away).
        let (_, found) = name("New\u{7}listing", false);
        assert_eq!(
            found,
            pairs(&[("name", "must not contain control characters")])
        );
        let (_, found) = name("two\nlines", true);
        assert_eq!(
            found,
            pairs(&[("name", "must not contain control characters")])
        );
        // One error per name: too long wins over control characters.
        let (_, found) = name(&format!("{longest}\u{7}"), true);
        assert_eq!(found, pairs(&[("name", "must be at most 200 characters")]));
    }

    #[test]
    fn optional_names_are_none_when_blank() {
        let mut errors = Vec::new();
        assert_eq!(optional_name(&mut errors, "owner", None), None);
        assert_eq!(optional_name(&mut errors, "owner", Some("   ")), None);
        assert_eq!(
            optional_name(&mut errors, "owner", Some(" erika ")),
            Some("erika".into())
        );
        assert!(errors.is_empty(), "{errors:?}");
        optional_name(&mut errors, "owner", Some("a\u{0}b"));
        assert_eq!(
            errors,
            [FieldError::new(
                "owner",
                "must not contain control characters"
            )]
        );
    }

    #[test]
    fn addresses_are_trimmed_and_blank_means_none() {
        let mut errors = Vec::new();
        assert_eq!(check_email(&mut errors, "controllerEmail", None), None);
        assert_eq!(
            check_email(&mut errors, "controllerEmail", Some("  ")),
            None
        );
        assert_eq!(
            check_email(
                &mut errors,
                "controllerEmail",
                Some(" controller@example.com ")
            ),
            Some("controller@example.com".into())
        );
        assert!(errors.is_empty(), "{errors:?}");
        for bad in ["not an address", "controller@", "Erika <erika@example.com>"] {
            let mut errors = Vec::new();
            check_email(&mut errors, "controllerEmail", Some(bad));
            assert_eq!(
                errors,
                [FieldError::new(
                    "controllerEmail",
                    format!("{bad:?} is not an e-mail address")
                )]
            );
        }
    }

    #[test]
    fn record_ids_are_trimmed_required_and_bounded() {
        let check = |id: &str| {
            let mut errors = Vec::new();
            let id = check_record_id(&mut errors, "recordId", id);
            (id, errors)
        };
        assert_eq!(check(" 15005 "), ("15005".into(), vec![]));
        assert_eq!(
            check(" ").1,
            [FieldError::new("recordId", "must not be empty")]
        );
        assert!(check(&"7".repeat(MAX_RECORD_ID_CHARS)).1.is_empty());
        assert_eq!(
            check(&"7".repeat(MAX_RECORD_ID_CHARS + 1)).1,
            [FieldError::new(
                "recordId",
                "must be at most 100 characters"
            )]
        );
        assert_eq!(
            check("15\u{1b}005").1,
            [FieldError::new(
                "recordId",
                "must not contain control characters"
            )]
        );
    }

    // -----------------------------------------------------------------------------------
    // Start requests

    fn step(service: &str) -> StepSpec {
        read(json!({"type": "webhook", "serviceId": service})).unwrap()
    }

    fn template_of(steps: Vec<StepSpec>) -> TemplateSpec {
        TemplateSpec {
            name: "New listing".into(),
            description: String::new(),
            controller_email: Some("template@example.com".into()),
            steps,
        }
    }

    fn start_request(body: Value) -> StartRequest {
        read(body).unwrap()
    }

    #[test]
    fn a_start_resolves_its_records_owner_and_controller() {
        let mut newsletter = step("SVC-2");
        newsletter.record = Some(RecordModule::Address);
        let template = template_of(vec![step("SVC-1"), newsletter]);
        let request = start_request(json!({
            "templateId": "PTM-1", "module": "estate", "recordId": " 15005 ",
            "maintainer": " max ", "elements": {"kaufpreis": 350000},
            "links": {"address": {"recordId": "4711", "maintainer": "anna"}},
            "owner": "  erika  "
        }));
        let checked = check_start(&request, &template).unwrap();
        assert_eq!(
            checked.records,
            BTreeMap::from([
                (
                    RecordModule::Estate,
                    LinkedRecord {
                        record_id: "15005".into(),
                        maintainer: Some("max".into()),
                        elements: json!({"kaufpreis": 350000}).as_object().cloned(),
                    }
                ),
                (
                    RecordModule::Address,
                    LinkedRecord {
                        record_id: "4711".into(),
                        maintainer: Some("anna".into()),
                        elements: None,
                    }
                ),
            ])
        );
        assert_eq!(checked.owner.as_deref(), Some("erika"));
        assert_eq!(
            checked.controller_email.as_deref(),
            Some("template@example.com"),
            "the template's controller, when the request names none"
        );

        let request = start_request(json!({
            "templateId": "PTM-1", "module": "address", "recordId": "4711",
            "owner": " ", "controllerEmail": "someone@example.com"
        }));
        let checked = check_start(&request, &template).unwrap();
        assert_eq!(checked.owner, None);
        assert_eq!(
            checked.controller_email.as_deref(),
            Some("someone@example.com")
        );
        // Step 2 refers to the address record, which is the process's own here.
        assert_eq!(checked.records.len(), 1);
    }

    #[test]
    fn a_start_reports_every_problem_of_the_request() {
        let mut newsletter = step("SVC-2");
        newsletter.record = Some(RecordModule::Address);
        let mut reminder = step("SVC-3");
        reminder.name = "Reminder".into();
        reminder.record = Some(RecordModule::Address);
        let template = template_of(vec![step("SVC-1"), newsletter, reminder]);
        let request = start_request(json!({
            "templateId": "PTM-1", "module": "estate", "recordId": "  ",
            "links": {"estate": {"recordId": "1"}},
            "owner": "a\u{7}b", "controllerEmail": "nobody"
        }));
        assert_eq!(
            errors(check_start(&request, &template)),
            pairs(&[
                ("recordId", "must not be empty"),
                (
                    "links.estate",
                    "the process runs for this estate record: give it as module and recordId"
                ),
                (
                    "links.address",
                    "step 2 (webhook of SVC-2) refers to the address record: name it in links.address.recordId"
                ),
                (
                    "links.address",
                    "step 3 (Reminder) refers to the address record: name it in links.address.recordId"
                ),
                ("owner", "must not contain control characters"),
                ("controllerEmail", "\"nobody\" is not an e-mail address"),
            ])
        );

        let request = start_request(json!({
            "templateId": "PTM-1", "module": "estate", "recordId": "1", "maintainer": "\u{1}",
            "links": {"address": {"recordId": "", "maintainer": "m\u{7}"}}
        }));
        assert_eq!(
            errors(check_start(&request, &template)),
            pairs(&[
                ("maintainer", "must not contain control characters"),
                ("links.address.recordId", "must not be empty"),
                (
                    "links.address.maintainer",
                    "must not contain control characters"
                ),
            ])
        );
    }

    // -----------------------------------------------------------------------------------
    // Steps of a running process

    fn process(owner: Option<&str>, links: &[(RecordModule, &str, Option<&str>)]) -> Process {
        Process {
            id: "PRC-1".into(),
            tenant_id: "TEN-1".into(),
            template_id: "PTM-1".into(),
            template_name: "New listing".into(),
            module: RecordModule::Estate,
            record_id: "15005".into(),
            records: links
                .iter()
                .map(|(module, id, maintainer)| {
                    let record = LinkedRecord {
                        record_id: (*id).into(),
                        maintainer: maintainer.map(str::to_owned),
                        elements: None,
                    };
                    (*module, record)
                })
                .collect(),
            owner: owner.map(str::to_owned),
            controller_email: None,
            status: crate::vocab::ProcessStatus::Running,
            overdue: false,
            error: None,
            step_count: 1,
            current_step: Some(1),
            created_at: 0,
            updated_at: 0,
            finished_at: None,
            steps: Vec::new(),
        }
    }

    #[test]
    fn a_step_is_labelled_by_its_name_or_its_service() {
        let mut named = step("SVC-1");
        assert_eq!(step_label(&named), "webhook of SVC-1");
        named.name = "Re-value".into();
        assert_eq!(step_label(&named), "Re-value");
    }

    #[test]
    fn a_step_refers_to_its_record_or_the_process_s_own() {
        let running = process(
            None,
            &[
                (RecordModule::Estate, "15005", None),
                (RecordModule::Address, "4711", None),
            ],
        );
        let mut to_address = step("SVC-1");
        assert_eq!(
            step_record(&running, &to_address),
            (RecordModule::Estate, "15005")
        );
        to_address.record = Some(RecordModule::Address);
        assert_eq!(
            step_record(&running, &to_address),
            (RecordModule::Address, "4711")
        );
        // A record missing from the process (not possible after `check_start`): its own.
        let own_only = process(None, &[(RecordModule::Estate, "15005", None)]);
        assert_eq!(
            step_record(&own_only, &to_address),
            (RecordModule::Estate, "15005")
        );
    }

    #[test]
    fn the_responsible_user_is_named_or_the_role_is() {
        let running = process(
            Some("erika"),
            &[
                (RecordModule::Estate, "15005", Some("max")),
                (RecordModule::Address, "4711", None),
            ],
        );
        let mut owner_step = step("SVC-1");
        assert_eq!(
            responsible_user(&running, &owner_step).as_deref(),
            Some("erika")
        );
        owner_step.responsible = Responsible::RecordMaintainer;
        assert_eq!(
            responsible_user(&running, &owner_step).as_deref(),
            Some("max")
        );
        owner_step.record = Some(RecordModule::Address);
        assert_eq!(responsible_user(&running, &owner_step), None);
        assert_eq!(
            responsible_label(&running, &owner_step),
            "record maintainer"
        );
        owner_step.responsible = Responsible::User("anna".into());
        assert_eq!(responsible_label(&running, &owner_step), "anna");

        let unowned = process(None, &[(RecordModule::Estate, "15005", None)]);
        assert_eq!(responsible_label(&unowned, &step("SVC-1")), "process owner");
    }

    // -----------------------------------------------------------------------------------
    // Templates, against a database

    /// A SQLite store with one tenant and the services a template may or may not use.
    struct Registry {
        store: Store,
        tenant: String,
        /// Activated, with a webhook; accepts `campaign` and `price.*`.
        usable: String,
        /// The tenant's own private service, activated, with a webhook; accepts nothing.
        private: String,
        /// Activated, without any webhook.
        bare: String,
        /// Activated; its only webhook is an MPT validation webhook.
        validation_only: String,
        /// With a webhook, not activated by the tenant.
        inactive: String,
        /// Another tenant's private service with a webhook.
        foreign: String,
        _dir: tempfile::TempDir,
    }

    async fn registry() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::default_sqlite_url(dir.path()))
            .await
            .unwrap();
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let (provider, _) = store.create_provider("Provider").await.unwrap();
        let provider = Scope::Provider(provider.id);
        let tenant = store.create_tenant("Tenant").await.unwrap().id;
        let other = store.create_tenant("Other").await.unwrap().id;
        let hook = || Handler::Url("https://example.com/hook".into());
        let service = async |owner: &Scope, name: &str, accepts: &[&str]| {
            let accepts: Vec<String> = accepts.iter().map(|p| (*p).to_owned()).collect();
            store
                .create_service(owner, name, &accepts)
                .await
                .unwrap()
                .id
        };
        let usable = service(&provider, "Valuation", &["campaign", "price.*"]).await;
        let private = service(&Scope::Tenant(tenant.clone()), "Own", &[]).await;
        let bare = service(&provider, "Bare", &[]).await;
        let validation_only = service(&provider, "Checks", &[]).await;
        let inactive = service(&provider, "Inactive", &[]).await;
        let foreign = service(&Scope::Tenant(other.clone()), "Theirs", &[]).await;
        for (owner, service) in [
            (&provider, &usable),
            (&Scope::Tenant(tenant.clone()), &private),
            (&provider, &inactive),
            (&Scope::Tenant(other.clone()), &foreign),
        ] {
            let spec = WebhookSpec::new(service, hook());
            store.create_webhook(&key, owner, &spec).await.unwrap();
        }
        let validation = WebhookSpec::new(&validation_only, hook())
            .kind("validatePurchaseOrderDraft")
            .object_type("Order");
        store
            .create_webhook(&key, &provider, &validation)
            .await
            .unwrap();
        for service in [&usable, &private, &bare, &validation_only] {
            store
                .activate(&key, &tenant, service, &BTreeMap::new())
                .await
                .unwrap();
        }
        Registry {
            store,
            tenant,
            usable,
            private,
            bare,
            validation_only,
            inactive,
            foreign,
            _dir: dir,
        }
    }

    impl Registry {
        /// Checks the template `body` for the tenant; the normalized spec or the errors.
        async fn check(&self, body: Value) -> Result<TemplateSpec, Vec<(String, String)>> {
            let mut spec: TemplateSpec = read(body).unwrap();
            match check_template(&self.store, &self.tenant, &mut spec).await {
                Ok(()) => Ok(spec),
                Err(error) => Err(errors::<()>(Err(error))),
            }
        }
    }

    #[tokio::test]
    async fn a_valid_template_is_normalized() {
        let r = registry().await;
        let spec = r
            .check(json!({
                "name": "  New listing ",
                "description": "Everything a new listing needs",
                "controllerEmail": " controller@example.com ",
                "steps": [
                    {"type": "webhook", "name": " Re-value ", "serviceId": format!(" {} ", r.usable),
                     "parameters": {"campaign": "spring", "price.52062": "4100"},
                     "start": {"daysAfterPrevious": 3650}, "deadlineDays": 3650,
                     "responsible": {"user": " anna "}, "record": "estate"},
                    {"type": "webhook", "serviceId": r.private, "deadlineDays": 1,
                     "responsible": "recordMaintainer"}
                ]
            }))
            .await
            .unwrap();
        assert_eq!(spec.name, "New listing");
        assert_eq!(
            spec.controller_email.as_deref(),
            Some("controller@example.com")
        );
        assert_eq!(spec.steps[0].name, "Re-value");
        assert_eq!(spec.steps[0].service_id, r.usable);
        assert_eq!(spec.steps[0].responsible, Responsible::User("anna".into()));
        assert_eq!(spec.steps[1].responsible, Responsible::RecordMaintainer);

        let spec = r
            .check(json!({"name": "x", "controllerEmail": "  ",
                          "steps": [{"type": "webhook", "serviceId": r.usable}]}))
            .await
            .unwrap();
        assert_eq!(spec.controller_email, None, "a blank address is none");
    }

    #[tokio::test]
    async fn the_template_s_own_fields_are_checked() {
        let r = registry().await;
        let step = json!({"type": "webhook", "serviceId": r.usable});
        assert_eq!(
            r.check(
                json!({"name": " ", "description": "d".repeat(MAX_DESCRIPTION_CHARS + 1),
                           "controllerEmail": "not an address", "steps": []})
            )
            .await
            .unwrap_err(),
            pairs(&[
                ("name", "must not be empty"),
                ("description", "must be at most 4000 characters"),
                (
                    "controllerEmail",
                    "\"not an address\" is not an e-mail address"
                ),
                ("steps", "a template needs at least one step"),
            ])
        );
        let most = vec![step.clone(); MAX_STEPS];
        assert!(r.check(json!({"name": "x", "steps": most})).await.is_ok());
        let too_many = vec![step; MAX_STEPS + 1];
        assert_eq!(
            r.check(json!({"name": "x", "steps": too_many}))
                .await
                .unwrap_err(),
            pairs(&[("steps", "at most 100 steps")])
        );
    }

    #[tokio::test]
    async fn every_field_of_a_step_is_checked_and_named() {
        let r = registry().await;
        let long_value = "v".repeat(MAX_PARAMETER_VALUE_CHARS + 1);
        let found = r
            .check(json!({"name": "x", "steps": [
                {"type": "webhook", "serviceId": r.usable, "name": "a\u{7}",
                 "start": {"daysAfterPrevious": MAX_DAYS + 1}, "deadlineDays": 0,
                 "responsible": {"user": " "}, "parameters": {"campaign": long_value}},
                {"type": "webhook", "serviceId": r.usable, "deadlineDays": MAX_DAYS + 1},
                {"type": "webhook", "serviceId": "  ", "parameters": {"anything": "x"}}
            ]}))
            .await
            .unwrap_err();
        assert_eq!(
            found,
            pairs(&[
                ("steps[0].name", "must not contain control characters"),
                (
                    "steps[0].start.daysAfterPrevious",
                    "must be at most 3650 days"
                ),
                ("steps[0].deadlineDays", "must be at least 1 day"),
                ("steps[0].responsible.user", "must not be empty"),
                (
                    "steps[0].parameters.campaign",
                    "must be at most 8192 characters"
                ),
                ("steps[1].deadlineDays", "must be at most 3650 days"),
                // Without a service nothing else about it can be checked.
                (
                    "steps[2].serviceId",
                    "must name one of the tenant's activated services"
                ),
            ])
        );
    }

    #[tokio::test]
    async fn a_step_must_use_an_activated_service_with_a_webhook() {
        let r = registry().await;
        let unusable =
            |id: &str| format!("service {id} is not one of this tenant's activated services");
        let found = r
            .check(json!({"name": "x", "steps": [
                {"type": "webhook", "serviceId": r.inactive},
                {"type": "webhook", "serviceId": r.foreign},
                {"type": "webhook", "serviceId": "SVC-0000-0000", "parameters": {"x": "1"}},
                {"type": "webhook", "serviceId": r.bare},
                {"type": "webhook", "serviceId": r.validation_only}
            ]}))
            .await
            .unwrap_err();
        let no_webhook = |id: &str, name: &str| {
            format!(
                "service {id} ({name}) has no webhook: only services with a webhook can run in a webhook step"
            )
        };
        let expected = [
            ("steps[0].serviceId".to_owned(), unusable(&r.inactive)),
            // Another tenant's private service reads like one that does not exist.
            ("steps[1].serviceId".to_owned(), unusable(&r.foreign)),
            ("steps[2].serviceId".to_owned(), unusable("SVC-0000-0000")),
            ("steps[3].serviceId".to_owned(), no_webhook(&r.bare, "Bare")),
            (
                "steps[4].serviceId".to_owned(),
                no_webhook(&r.validation_only, "Checks"),
            ),
        ];
        assert_eq!(found, expected);
    }

    #[tokio::test]
    async fn a_step_passes_only_parameters_its_service_accepts() {
        let r = registry().await;
        let found = r
            .check(json!({"name": "x", "steps": [
                {"type": "webhook", "serviceId": r.usable,
                 "parameters": {"campaign": "a", "price.1": "2", "price.": "3", "colour": "red"}},
                {"type": "webhook", "serviceId": r.private, "parameters": {"tag": "x"}}
            ]}))
            .await
            .unwrap_err();
        let refused = |id: &str, name: &str, parameter: &str, accepted: &str| {
            format!("service {id} ({name}) does not accept the parameter {parameter:?}: {accepted}")
        };
        let expected = [
            (
                "steps[0].parameters.colour".to_owned(),
                refused(
                    &r.usable,
                    "Valuation",
                    "colour",
                    "it accepts campaign, price.*",
                ),
            ),
            (
                "steps[0].parameters.price.".to_owned(),
                refused(
                    &r.usable,
                    "Valuation",
                    "price.",
                    "it accepts campaign, price.*",
                ),
            ),
            (
                "steps[1].parameters.tag".to_owned(),
                refused(&r.private, "Own", "tag", "it accepts none"),
            ),
        ];
        assert_eq!(found, expected);
    }
}
