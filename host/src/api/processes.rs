//! The process manager's REST API, for tenants (REST API key):
//!
//! | method | path | success |
//! |---|---|---|
//! | GET | `/api/v1/process-templates` | 200 `{"$meta":{"pagination":…},"data":[template…]}` |
//! | POST | `/api/v1/process-templates` | 201 template |
//! | GET | `/api/v1/process-templates/{id}` | 200 template |
//! | PUT | `/api/v1/process-templates/{id}` | 200 template (running processes keep their steps) |
//! | DELETE | `/api/v1/process-templates/{id}` | 204 |
//! | POST | `/api/v1/processes` | 201 process with its steps |
//! | GET | `/api/v1/processes?status=&module=&recordId=&templateId=` (or any RQL) | 200 page of processes |
//! | GET | `/api/v1/processes/{id}` | 200 process with its steps |
//! | POST | `/api/v1/processes/{id}/cancel` | 200 process |
//! | GET | `/api/v1/records/{module}/{id}/activities` | 200 page of activity entries, newest first |
//!
//! An invalid template or start request is a 400 whose `errors` name each field
//! (`steps[1].serviceId`, `links.address`); the shapes are in [`crate::process::manage`].
//! Every list takes RQL filters, `order`, `select`, `offset` and `limit`
//! ([`crate::api::listing`]).

use super::AppState;
use super::auth::Caller;
use super::listing::{self, ListQuery};
use super::problem::{ApiJson, Problem};
use crate::process::{ProcessError, manage};
use crate::store::{Scope, lists};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_templates,
    create_template,
    get_template,
    replace_template,
    delete_template,
    start_process,
    list_processes,
    get_process,
    cancel_process,
    list_activities,
))]
pub(crate) struct Doc;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/process-templates",
            get(list_templates).post(create_template),
        )
        .route(
            "/api/v1/process-templates/{id}",
            get(get_template)
                .put(replace_template)
                .delete(delete_template),
        )
        .route("/api/v1/processes", get(list_processes).post(start_process))
        .route("/api/v1/processes/{id}", get(get_process))
        .route("/api/v1/processes/{id}/cancel", post(cancel_process))
        .route(
            "/api/v1/records/{module}/{id}/activities",
            get(list_activities),
        )
}

impl From<ProcessError> for Problem {
    fn from(error: ProcessError) -> Self {
        match error {
            ProcessError::Invalid(errors) => {
                let mut problem = Problem::bad_request(error_detail(&errors));
                for e in errors {
                    problem.errors.entry(e.field).or_default().push(e.message);
                }
                problem
            }
            ProcessError::NotFound(what) => Problem::not_found(what),
            ProcessError::Conflict(message) => Problem::new(StatusCode::CONFLICT, message),
            ProcessError::Store(error) => error.into(),
        }
    }
}

fn error_detail(errors: &[crate::process::FieldError]) -> String {
    crate::process::template::describe(errors)
}

/// The caller's tenant: processes belong to tenants, not to providers.
fn tenant(caller: Caller) -> Result<String, Problem> {
    match caller.0 {
        Scope::Tenant(id) => Ok(id),
        Scope::Provider(_) => Err(Problem::forbidden(
            "process templates and processes belong to tenants: use a tenant REST API key",
        )),
    }
}

/// The properties of a listed template, for `select=`.
const TEMPLATE_PROPERTIES: &[&str] = &[
    "id",
    "name",
    "description",
    "controllerEmail",
    "steps",
    "revision",
    "createdAt",
    "updatedAt",
];

/// The properties of a listed process, for `select=`.
const PROCESS_PROPERTIES: &[&str] = &[
    "id",
    "templateId",
    "templateName",
    "module",
    "recordId",
    "records",
    "owner",
    "controllerEmail",
    "status",
    "overdue",
    "error",
    "stepCount",
    "currentStep",
    "createdAt",
    "updatedAt",
    "finishedAt",
];

/// The properties of a listed activity entry, for `select=`.
const ACTIVITY_PROPERTIES: &[&str] = &[
    "id",
    "module",
    "recordId",
    "at",
    "who",
    "responsible",
    "what",
    "result",
    "detail",
    "processId",
    "step",
];

/// The tenant's templates, oldest first unless the query string orders them otherwise; 100
/// by default, at most 1000.
#[utoipa::path(
    get,
    operation_id = "listProcessTemplates",
    path = "/api/v1/process-templates",
    tag = "processes",
    summary = "List process templates",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of templates.", body = crate::api::openapi::schemas::Page<crate::api::openapi::schemas::ProcessTemplate>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::TEMPLATES)?;
    let select = query.select(TEMPLATE_PROPERTIES)?;
    let (templates, total) = state
        .store
        .list_process_templates_matching(&tenant, &listing, offset, limit)
        .await?;
    let data = templates.iter().map(manage::template_json);
    listing::page(offset, limit, total, data, &select)
}

#[utoipa::path(
    post,
    operation_id = "createProcessTemplate",
    path = "/api/v1/process-templates",
    tag = "processes",
    summary = "Create a process template",
    request_body(content = crate::store::TemplateSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "The template.", body = crate::api::openapi::schemas::ProcessTemplate),
        (status = 400, description = "An invalid template: `errors` names each step and field.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("tenant_api_key" = [])),
)]
async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, Problem> {
    let tenant = tenant(caller)?;
    let template = manage::create_template(&state.store, &tenant, body).await?;
    Ok((StatusCode::CREATED, Json(manage::template_json(&template))).into_response())
}

#[utoipa::path(
    get,
    operation_id = "getProcessTemplate",
    path = "/api/v1/process-templates/{id}",
    tag = "processes",
    summary = "Read a process template",
    params(("id" = String, Path, description = "The template, `PTM-…`.")),
    responses(
        (status = 200, description = "The template.", body = crate::api::openapi::schemas::ProcessTemplate),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such template among the tenant's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let template = manage::get_template(&state.store, &tenant, &id).await?;
    Ok(Json(manage::template_json(&template)))
}

#[utoipa::path(
    put,
    operation_id = "replaceProcessTemplate",
    path = "/api/v1/process-templates/{id}",
    tag = "processes",
    summary = "Replace a process template",
    description = "Running processes keep the steps they started with.",
    params(("id" = String, Path, description = "The template, `PTM-…`.")),
    request_body(content = crate::store::TemplateSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "The template.", body = crate::api::openapi::schemas::ProcessTemplate),
        (status = 400, description = "An invalid template: `errors` names each step and field.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such template among the tenant's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("tenant_api_key" = [])),
)]
async fn replace_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let template = manage::replace_template(&state.store, &tenant, &id, body).await?;
    Ok(Json(manage::template_json(&template)))
}

#[utoipa::path(
    delete,
    operation_id = "deleteProcessTemplate",
    path = "/api/v1/process-templates/{id}",
    tag = "processes",
    summary = "Delete a process template",
    description = "Processes started from it keep running.",
    params(("id" = String, Path, description = "The template, `PTM-…`.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such template among the tenant's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let tenant = tenant(caller)?;
    manage::delete_template(&state.store, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    operation_id = "startProcess",
    path = "/api/v1/processes",
    tag = "processes",
    summary = "Start a process",
    request_body(content = crate::process::template::StartRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The process with its steps.", body = crate::api::openapi::schemas::Process),
        (status = 400, description = "An invalid start request (an unknown template included): `errors` names each field.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The template is no longer valid (a service deactivated, a webhook deleted).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("tenant_api_key" = [])),
)]
async fn start_process(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, Problem> {
    let tenant = tenant(caller)?;
    let process = manage::start_process(&state.store, &state.config.process, &tenant, body).await?;
    Ok((StatusCode::CREATED, Json(manage::process_json(&process))).into_response())
}

/// The tenant's processes, newest first unless the query string orders them otherwise; the
/// former `?status=&module=&recordId=&templateId=` are RQL's `field=value` shorthands.
#[utoipa::path(
    get,
    operation_id = "listProcesses",
    path = "/api/v1/processes",
    tag = "processes",
    summary = "List processes",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Items to skip."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Items to return, 100 by default."),
        ("status" = Option<crate::vocab::ProcessStatus>, Query, description = "Only processes with this status."),
        ("module" = Option<crate::vocab::RecordModule>, Query, description = "Only processes of records of this module."),
        ("recordId" = Option<String>, Query, description = "Only processes of this record."),
        ("templateId" = Option<String>, Query, description = "Only processes started from this template."),
        ("order" = Option<String>, Query, description = "RQL order: fields, `-` for descending (`-createdAt`). The parameters above are RQL's `field=value` shorthands; any RQL filter may be given as a bare query key (`eq(status,running)`, `and(…)`)."),
        ("select" = Option<String>, Query, description = "RQL select: `-steps` drops a property, `id,status` keeps only those named."),
    ),
    responses(
        (status = 200, description = "A page of processes (without their steps).", body = crate::api::openapi::schemas::Page<crate::api::openapi::schemas::Process>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn list_processes(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::PROCESSES)?;
    let select = query.select(PROCESS_PROPERTIES)?;
    let (processes, total) = state
        .store
        .list_processes_matching(&tenant, &listing, offset, limit)
        .await?;
    let data = processes.iter().map(manage::process_json);
    listing::page(offset, limit, total, data, &select)
}

#[utoipa::path(
    get,
    operation_id = "getProcess",
    path = "/api/v1/processes/{id}",
    tag = "processes",
    summary = "Read a process",
    params(("id" = String, Path, description = "The process, `PRC-…`.")),
    responses(
        (status = 200, description = "The process with each step's status, times, deliveries and overdue notice.", body = crate::api::openapi::schemas::Process),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such process among the tenant's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn get_process(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let process = manage::get_process(&state.store, &tenant, &id).await?;
    Ok(Json(manage::process_json(&process)))
}

#[utoipa::path(
    post,
    operation_id = "cancelProcess",
    path = "/api/v1/processes/{id}/cancel",
    tag = "processes",
    summary = "Cancel a process",
    params(("id" = String, Path, description = "The process, `PRC-…`.")),
    responses(
        (status = 200, description = "The cancelled process.", body = crate::api::openapi::schemas::Process),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such process among the tenant's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The process is not running.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn cancel_process(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let process = manage::cancel_process(&state.store, &tenant, &id).await?;
    Ok(Json(manage::process_json(&process)))
}

/// A record's activity log, newest first unless the query string orders it otherwise.
#[utoipa::path(
    get,
    operation_id = "listRecordActivities",
    path = "/api/v1/records/{module}/{id}/activities",
    tag = "processes",
    summary = "A record's activity log",
    description = "What process steps did for the record, newest first.",
    params(
        ("module" = crate::vocab::RecordModule, Path, description = "The record's module."),
        ("id" = String, Path, description = "The record's id."),
        crate::api::openapi::schemas::PageQuery,
    ),
    responses(
        (status = 200, description = "A page of activity entries.", body = crate::api::openapi::schemas::Page<crate::api::openapi::schemas::Activity>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: processes belong to tenants.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn list_activities(
    State(state): State<AppState>,
    caller: Caller,
    Path((module, id)): Path<(String, String)>,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::ACTIVITIES)?;
    let select = query.select(ACTIVITY_PROPERTIES)?;
    let (entries, total) = manage::list_activities_matching(
        &state.store,
        &tenant,
        &module,
        &id,
        &listing,
        offset,
        limit,
    )
    .await?;
    let data = entries.iter().map(manage::activity_json);
    listing::page(offset, limit, total, data, &select)
}
