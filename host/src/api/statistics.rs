//! A webhook's statistics over time: `GET /public/v1/notifications/webhooks/{id}/statistics`.
//!
//! Hourly sums of the call log (calls, successes, failures, duration percentiles), written
//! with the log itself ([`crate::store::CallBucket`]) and kept as long as it. Providers see
//! every call of their webhooks; tenants the calls made on their behalf, as in the call log.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::store::{BUCKET_MS, CallBucket, Scope, StoreError};
use crate::time::{format_ms, now_ms};
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// At most this many hours per answer (30 days, the default retention).
pub const MAX_HOURS: i64 = 720;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(statistics))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/public/v1/notifications/webhooks/{id}/statistics",
        get(statistics),
    )
}

/// The answer: one entry per hour, oldest first, hours without calls included.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsOut {
    /// The webhook.
    pub webhook_id: String,
    /// Length of a bucket: 3600.
    pub bucket_seconds: i64,
    /// The hours.
    pub buckets: Vec<BucketOut>,
}

/// One hour of calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketOut {
    /// Start of the hour (RFC 3339).
    pub start: String,
    /// Calls that started in it.
    pub calls: i64,
    /// Of which succeeded.
    pub successes: i64,
    /// Of which failed.
    pub failures: i64,
    /// Mean duration of the calls that were answered, ms.
    pub mean_ms: Option<i64>,
    /// Half of the answered calls took at most this long (the upper bound of a duration bin:
    /// 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 or 10000 ms; `null` when longer
    /// or without calls).
    pub p50_ms: Option<i64>,
    /// 99 % of the answered calls took at most this long (bins as for `p50Ms`).
    pub p99_ms: Option<i64>,
}

impl From<CallBucket> for BucketOut {
    fn from(b: CallBucket) -> Self {
        let answered: i64 = b.durations.iter().sum();
        BucketOut {
            start: format_ms(b.start_ms),
            calls: b.calls,
            successes: b.successes,
            failures: b.failures(),
            mean_ms: (answered > 0).then(|| b.duration_ms / answered),
            p50_ms: b.quantile_ms(0.5),
            p99_ms: b.quantile_ms(0.99),
        }
    }
}

/// `hours=` of the query string (24 by default); anything else is refused.
fn hours(query: Option<&str>) -> Result<i64, Problem> {
    let mut hours = 24;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "hours" => match value.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_HOURS).contains(&n) => hours = n,
                _ => {
                    return Err(Problem::invalid(
                        "hours",
                        format!("must be a whole number from 1 to {MAX_HOURS}, got {value:?}"),
                    ));
                }
            },
            other => {
                return Err(Problem::invalid(
                    other,
                    "is not a parameter of this endpoint; it takes hours",
                ));
            }
        }
    }
    Ok(hours)
}

/// The last `hours` hours of a webhook's calls, the current one included.
#[utoipa::path(
    get,
    operation_id = "getWebhookStatistics",
    path = "/public/v1/notifications/webhooks/{id}/statistics",
    tag = "calls",
    summary = "A webhook's statistics over time",
    description = "Calls per hour, successes and failures, mean and percentile durations, for the last `hours` hours (the current one included), oldest first. Providers see every call of their webhooks, tenants the calls made on their behalf.",
    params(
        ("id" = String, Path, description = "The webhook, `WBH-…`."),
        ("hours" = Option<i64>, Query, minimum = 1, maximum = 720, description = "Hours to answer, 24 by default."),
    ),
    responses(
        (status = 200, description = "One entry per hour.", body = StatisticsOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn statistics(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<StatisticsOut>, Problem> {
    let hours = hours(query.as_deref())?;
    match state.store.webhook(&scope, &id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => return Err(error.into()),
    }
    let tenant = match &scope {
        Scope::Tenant(tenant) => Some(tenant.as_str()),
        Scope::Provider(_) => None,
    };
    let now = now_ms();
    let buckets = state
        .store
        .call_buckets(&id, tenant, now - (hours - 1) * BUCKET_MS, now)
        .await?;
    Ok(Json(StatisticsOut {
        webhook_id: id,
        bucket_seconds: BUCKET_MS / 1000,
        buckets: buckets.into_iter().map(BucketOut::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_read_and_checked() {
        assert_eq!(hours(None).unwrap(), 24);
        assert_eq!(hours(Some("hours=3")).unwrap(), 3);
        assert!(hours(Some("hours=0")).is_err());
        assert!(hours(Some("hours=721")).is_err());
        assert!(hours(Some("days=1")).is_err());
    }
}
