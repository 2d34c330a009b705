//! The portal's pages as HTML, rendered from the REST API's own answers (JSON as the API
//! sends it): the pages never see more than a REST client with the same credential would.
//!
//! Every page is a [`Frame`] (navigation, language switch, who is signed in) around its
//! content; the fragments that htmx swaps in (call rows, results of actions) are functions
//! of their own, used by the full pages too.

pub mod components;
pub mod operator;
pub mod processes;
pub mod webhooks;

use super::i18n::{Locale, Text};
use super::session::Role;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

/// Where the portal's files are served (outside the session path, so browsers cache them).
pub const ASSETS: &str = "/portal/assets";

/// The section a page belongs to (highlighted in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Webhooks, their statistics and call logs.
    Webhooks,
    /// Components.
    Components,
    /// Process templates, processes, activity logs.
    Processes,
    /// The operator's overview.
    Operator,
}

/// What every page of a session knows: where its links start, its language, who it is for.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// `/portal/s/<token>`: every link of the session starts here.
    pub base: &'a str,
    /// The pages' language.
    pub locale: Locale,
    /// Who is signed in.
    pub role: &'a Role,
}

impl Frame<'_> {
    /// The text `text` in the page's language.
    pub fn t(&self, text: Text) -> &'static str {
        self.locale.t(text)
    }

    /// A link inside the session.
    pub fn href(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A whole page: navigation, then `content`.
    pub fn page(&self, section: Section, title: &str, content: Markup) -> Markup {
        let sections: &[(Section, &str, Text)] = match self.role {
            Role::Operator => &[(Section::Operator, "/operator", Text::Overview)],
            Role::Provider(_) => &[
                (Section::Webhooks, "/webhooks", Text::Webhooks),
                (Section::Components, "/components", Text::Components),
            ],
            Role::Tenant(_) => &[
                (Section::Webhooks, "/webhooks", Text::Webhooks),
                (Section::Components, "/components", Text::Components),
                (Section::Processes, "/processes", Text::Processes),
            ],
        };
        let (kind, id) = match self.role {
            Role::Operator => (self.t(Text::Operator), ""),
            Role::Provider(id) => (self.t(Text::Provider), id.as_str()),
            Role::Tenant(id) => (self.t(Text::Tenant), id.as_str()),
        };
        let body = html! {
            a.skip href="#main" { (self.t(Text::SkipToContent)) }
            header.top {
                span.brand { (self.t(Text::Portal)) }
                nav aria-label=(self.t(Text::Portal)) {
                    ul {
                        @for (s, path, text) in sections {
                            li {
                                @if *s == section {
                                    a href=(self.href(path)) aria-current="page" { (self.t(*text)) }
                                } @else {
                                    a href=(self.href(path)) { (self.t(*text)) }
                                }
                            }
                        }
                    }
                }
                span.who { (kind) " " code { (id) } }
                nav.lang aria-label=(self.t(Text::Language)) {
                    @for locale in Locale::ALL {
                        @if locale == self.locale {
                            span aria-current="true" { (locale.code().to_uppercase()) }
                        } @else {
                            a href=(self.href(&format!("/lang/{}", locale.code()))) hreflang=(locale.code()) lang=(locale.code()) {
                                (locale.code().to_uppercase())
                            }
                        }
                    }
                }
                a.signout href="/portal" { (self.t(Text::SignOut)) }
            }
            main #main tabindex="-1" data-base=(self.base) {
                (content)
            }
        };
        document(self.locale, title, body)
    }
}

/// The HTML document around `body`: our stylesheet and scripts only.
pub fn document(locale: Locale, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(locale.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                // No indicator styles injected, no eval, no scripts from swapped content: all
                // that a strict Content-Security-Policy would refuse anyway.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;
                title { (title) " · hookhost" }
                link rel="stylesheet" href=(format!("{ASSETS}/{}", super::assets::CSS.name));
                script src=(format!("{ASSETS}/{}", super::assets::HTMX.name)) defer {}
                script src=(format!("{ASSETS}/{}", super::assets::JS.name)) defer {}
            }
            body { (body) }
        }
    }
}

/// The sign-in page; `error` says why the last attempt failed.
pub fn sign_in(locale: Locale, error: Option<Text>) -> Markup {
    let t = |text| locale.t(text);
    let body = html! {
        main #main .signin {
            h1 { (t(Text::Portal)) }
            form method="post" action="/portal/sign-in" {
                @if let Some(error) = error {
                    p.error role="alert" { (t(error)) }
                }
                p.help #credential-help { (t(Text::SignInHelp)) }
                label for="credential" { (t(Text::Credential)) }
                input #credential type="password" name="credential" required autocomplete="off"
                    aria-describedby="credential-help" autofocus;
                label for="lang" { (t(Text::Language)) }
                select #lang name="lang" {
                    @for option in Locale::ALL {
                        option value=(option.code()) selected[option == locale] {
                            (match option { Locale::De => "Deutsch", Locale::En => "English" })
                        }
                    }
                }
                button type="submit" { (t(Text::SignIn)) }
            }
        }
    };
    document(locale, t(Text::SignIn), body)
}

/// A page that only says something (an expired link, a page not found).
pub fn message(locale: Locale, text: Text) -> Markup {
    let body = html! {
        main #main .signin {
            h1 { (locale.t(Text::Portal)) }
            p.error role="alert" { (locale.t(text)) }
            p { a href="/portal" { (locale.t(Text::SignIn)) } }
        }
    };
    document(locale, locale.t(text), body)
}

/// A problem document of the API (`{"title", "detail", "errors"}`) as an alert.
pub fn problem(frame: &Frame<'_>, status: u16, body: &Value) -> Markup {
    let detail = text(body, "detail");
    let title = text(body, "title");
    html! {
        div.error role="alert" {
            strong { (frame.t(Text::Error)) " " (status) } ": "
            (if detail.is_empty() { title } else { detail })
            @if let Some(errors) = body.get("errors").and_then(Value::as_object) {
                ul {
                    @for (field, messages) in errors {
                        @for message in messages.as_array().into_iter().flatten() {
                            li { code { (field) } ": " (message.as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

/// `value[key]` as text; empty when absent or not text.
pub fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `value[key]` as a number; 0 when absent.
pub fn number(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or_default()
}

/// Unix ms of an RFC 3339 time of the API.
pub fn parse_time(text: &str) -> Option<i64> {
    let at = ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// An RFC 3339 time of the API as people read it (UTC, to the second), in a `<time>`.
pub fn time(locale: Locale, text: &str) -> Markup {
    let shown = match (locale, text.get(0..19)) {
        (_, None) => return html! { "–" },
        (Locale::En, Some(t)) => format!("{} {} UTC", &t[0..10], &t[11..19]),
        (Locale::De, Some(t)) => {
            format!("{}.{}.{} {} UTC", &t[8..10], &t[5..7], &t[0..4], &t[11..19])
        }
    };
    html! { time datetime=(text) { (shown) } }
}

/// A duration in ms as people read it.
pub fn duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

/// Bytes as people read them.
pub fn size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_per_language() {
        let at = "2026-12-02T07:12:03.042Z";
        assert!(
            time(Locale::De, at)
                .into_string()
                .contains(">02.12.2026 07:12:03 UTC<")
        );
        assert!(
            time(Locale::En, at)
                .into_string()
                .contains(">2026-12-02 07:12:03 UTC<")
        );
        assert_eq!(time(Locale::En, "").into_string(), "–");
        assert_eq!(parse_time(at), Some(1_796_195_523_042));
    }

    #[test]
    fn text_from_the_api_is_escaped() {
        let frame = Frame {
            base: "/portal/s/x",
            locale: Locale::En,
            role: &Role::Operator,
        };
        let body = serde_json::json!({"detail": "<script>alert(1)</script>"});
        let html = problem(&frame, 400, &body).into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
