//! `hookhost plugin new` (placeholder, filled in next).
