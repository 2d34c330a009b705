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
//! | GET | `/api/v1/processes?status=&module=&recordId=&templateId=` | 200 page of processes |
//! | GET | `/api/v1/processes/{id}` | 200 process with its steps |
//! | POST | `/api/v1/processes/{id}/cancel` | 200 process |
//! | GET | `/api/v1/records/{module}/{id}/activities` | 200 page of activity entries, newest first |
//!
//! An invalid template or start request is a 400 whose `errors` name each field
//! (`steps[1].serviceId`, `links.address`); the shapes are in [`crate::process::manage`].

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiJson, Problem};
use crate::process::{ProcessError, manage};
use crate::store::{ProcessFilter, Scope};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
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

/// `(offset, limit)` of a page request: 100 items by default, at most 1000.
fn page_of(page: super::PageQuery) -> Result<(i64, i64), Problem> {
    super::page_of(page, 100, 1)
}

fn check_page(offset: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), Problem> {
    super::check_page(offset, limit, 100, 1)
}

use super::paged;

async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    page: super::PageQuery,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let (offset, limit) = page_of(page)?;
    let (templates, total) = state
        .store
        .list_process_templates(&tenant, offset, limit)
        .await?;
    Ok(paged(
        offset,
        limit,
        total,
        templates.iter().map(manage::template_json).collect(),
    ))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProcessQuery {
    offset: Option<i64>,
    limit: Option<i64>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    record_id: String,
    #[serde(default)]
    template_id: String,
}

async fn list_processes(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ProcessQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let (offset, limit) = check_page(query.offset, query.limit)?;
    let filter = ProcessFilter {
        status: query.status,
        module: query.module,
        record_id: query.record_id,
        template_id: query.template_id,
    };
    manage::check_filter(&filter)?;
    let (processes, total) = state
        .store
        .list_processes(&tenant, &filter, offset, limit)
        .await?;
    Ok(paged(
        offset,
        limit,
        total,
        processes.iter().map(manage::process_json).collect(),
    ))
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

async fn list_activities(
    State(state): State<AppState>,
    caller: Caller,
    Path((module, id)): Path<(String, String)>,
    page: super::PageQuery,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant(caller)?;
    let (offset, limit) = page_of(page)?;
    let (entries, total) =
        manage::list_activities(&state.store, &tenant, &module, &id, offset, limit).await?;
    Ok(paged(
        offset,
        limit,
        total,
        entries.iter().map(manage::activity_json).collect(),
    ))
}
