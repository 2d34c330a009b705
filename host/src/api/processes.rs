//! Process templates and processes, `/api/v1/…` (placeholder, filled in next).

use super::AppState;
use axum::Router;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
