//! Who is calling the REST APIs.
//!
//! - Operators: `Authorization: Bearer <admin_token>` (from the configuration).
//! - Providers: `Authorization: Bearer <provider token>`.
//! - Tenants: a REST API key, as `Authorization: Bearer <key>`, `rest_api_key=<key>` or the
//!   bare key.
//!
//! Tokens and keys are looked up by their SHA-256; the admin token is compared in constant
//! time.
//!
//! The portal calls these APIs in-process for a signed-in visitor: it puts the principal its
//! session names into the request's extensions as [`Delegated`], which the extractors here
//! accept in place of the header. Extensions cannot be sent over the wire, so only the portal
//! (which opened a sealed session first) can set one.

use super::AppState;
use super::problem::Problem;
use crate::crypto::constant_time_eq;
use crate::store::Scope;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The credential in the `Authorization` header, without its scheme.
pub fn credential(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let credential = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .or_else(|| value.strip_prefix("rest_api_key="))
        .unwrap_or(value)
        .trim();
    (!credential.is_empty()).then_some(credential)
}

/// A principal the portal established from one of its sessions, for its in-process calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegated(pub Principal);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator.
    Admin,
    /// A provider or a tenant, with what it may reach.
    Scoped(Scope),
}

impl Principal {
    /// Resolves a credential.
    pub async fn resolve(state: &AppState, credential: &str) -> Result<Principal, Problem> {
        if let Some(admin) = &state.config.admin_token
            && constant_time_eq(admin.as_bytes(), credential.as_bytes())
        {
            return Ok(Principal::Admin);
        }
        if let Some(provider) = state.store.provider_by_token(credential).await? {
            return Ok(Principal::Scoped(Scope::Provider(provider.id)));
        }
        if let Some(key) = state.store.api_key(credential).await? {
            return Ok(Principal::Scoped(Scope::Tenant(key.tenant_id)));
        }
        Err(Problem::unauthorized())
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(Delegated(principal)) = parts.extensions.get::<Delegated>() {
            return Ok(principal.clone());
        }
        let credential = credential(parts).ok_or_else(Problem::unauthorized)?;
        Principal::resolve(state, credential).await
    }
}

/// A provider or tenant caller (the registry and components APIs).
#[derive(Debug, Clone)]
pub struct Caller(pub Scope);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Scoped(scope) => Ok(Caller(scope)),
            Principal::Admin => Err(Problem::forbidden(
                "the admin token manages the registry through /admin/v1; use a provider token or a tenant API key here",
            )),
        }
    }
}

/// The operator (the admin API).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Delegated>() {
            Some(Delegated(Principal::Admin)) => return Ok(Admin),
            Some(Delegated(Principal::Scoped(_))) => return Err(Problem::unauthorized()),
            None => {}
        }
        let credential = credential(parts).ok_or_else(Problem::unauthorized)?;
        match &state.config.admin_token {
            Some(admin) if constant_time_eq(admin.as_bytes(), credential.as_bytes()) => Ok(Admin),
            Some(_) => Err(Problem::unauthorized()),
            None => Err(Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "the admin API is disabled: set admin_token in the configuration",
            )),
        }
    }
}
