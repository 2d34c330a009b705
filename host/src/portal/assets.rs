//! The portal's files, embedded in the binary: nothing is fetched from anywhere else.
//!
//! htmx is vendored as published (htmx.org 2.0.11, Zero-Clause BSD licence).

/// A file served under `/portal/assets/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name in the URL.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

/// The stylesheet.
pub const CSS: Asset = Asset {
    name: "portal.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/portal.css"),
};

/// The pages' own script: live call rows, component upload.
pub const JS: Asset = Asset {
    name: "portal.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/portal.js"),
};

/// htmx.
pub const HTMX: Asset = Asset {
    name: "htmx-2.0.11.min.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/htmx-2.0.11.min.js"),
};

/// The file called `name`, if there is one.
pub fn named(name: &str) -> Option<Asset> {
    [CSS, JS, HTMX].into_iter().find(|asset| asset.name == name)
}
