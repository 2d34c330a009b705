//! The process manager (placeholder, filled in next).
