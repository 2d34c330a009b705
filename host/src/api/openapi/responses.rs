//! The error answers many operations share, stated once: each is a problem document with the
//! description the operations' `responses(...)` inline (`response = inline(…)`).

// The types only describe answers for the document; none is ever built.
#![expect(dead_code, reason = "response descriptions, never constructed")]

use crate::api::problem::ProblemDocument;
use utoipa::ToResponse;

/// Bad input: the problem names the field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadInput(ProblemDocument);

/// Missing or invalid credentials.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(ProblemDocument);

/// Missing or wrong admin token, or no admin_token configured (the admin API is off).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct AdminUnauthorized(ProblemDocument);

/// The body is not Content-Type: application/json.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotJson(ProblemDocument);
