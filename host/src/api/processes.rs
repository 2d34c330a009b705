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

async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, Problem> {
    let tenant = tenant(caller)?;
    let template = manage::create_template(&state.store, &tenant, body).await?;
    Ok((StatusCode::CREATED, Json(manage::template_json(&template))).into_response())
}

async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let template = manage::get_template(&state.store, &tenant, &id).await?;
    Ok(Json(manage::template_json(&template)))
}

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

async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let tenant = tenant(caller)?;
    manage::delete_template(&state.store, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

async fn get_process(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let process = manage::get_process(&state.store, &tenant, &id).await?;
    Ok(Json(manage::process_json(&process)))
}

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
