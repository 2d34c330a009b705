//! Components: upload (drag and drop, or a file chosen with the keyboard), what the check
//! found (imports, WIT version, size), versions, and which webhooks use each.

use super::{Frame, Section, number, problem, size, text, time};
use crate::portal::i18n::Text;
use maud::{Markup, html};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which webhooks (id, name) use each component, by component id, from the registry's list.
pub fn usage(webhooks: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    let mut users: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for webhook in webhooks["data"].as_array().into_iter().flatten() {
        if let Some(component) = webhook["handler"]["component"]["id"].as_str() {
            let name = match text(webhook, "description") {
                "" => text(webhook, "id"),
                d => d,
            };
            users
                .entry(component.to_owned())
                .or_default()
                .push((text(webhook, "id").to_owned(), name.to_owned()));
        }
    }
    users
}

/// The components page: the upload form and the table.
pub fn page(
    frame: &Frame<'_>,
    components: &Value,
    users: &BTreeMap<String, Vec<(String, String)>>,
) -> Markup {
    let upload = frame.href("/components");
    let content = html! {
        h1 { (frame.t(Text::Components)) }
        section aria-labelledby="upload-heading" {
            h2 #upload-heading { (frame.t(Text::UploadComponent)) }
            form #upload data-upload=(upload) {
                label for="component-name" { (frame.t(Text::Name)) }
                input #component-name name="name" required pattern="[a-z0-9][a-z0-9-]*" autocomplete="off";
                label for="component-version" { (frame.t(Text::Version)) }
                input #component-version name="version" required autocomplete="off" placeholder="0.1.0";
                label.drop for="component-file" {
                    span { (frame.t(Text::DropHere)) }
                    input #component-file type="file" name="file" accept=".wasm,application/wasm" required;
                }
                button #upload-button type="submit" { (frame.t(Text::Upload)) }
            }
            div #upload-result aria-live="polite" {}
        }
        (table(frame, components, users))
    };
    frame.page(Section::Components, frame.t(Text::Components), content)
}

/// The components table (also swapped in after an upload).
pub fn table(
    frame: &Frame<'_>,
    components: &Value,
    users: &BTreeMap<String, Vec<(String, String)>>,
) -> Markup {
    let items = components["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    html! {
        div #components {
            @if items.is_empty() {
                p { (frame.t(Text::NoneYet)) }
            } @else {
                table.list {
                    thead { tr {
                        th scope="col" { (frame.t(Text::Name)) }
                        th scope="col" { (frame.t(Text::Version)) }
                        th scope="col" .num { (frame.t(Text::Size)) }
                        th scope="col" { (frame.t(Text::WitVersion)) }
                        th scope="col" { (frame.t(Text::Imports)) }
                        th scope="col" { (frame.t(Text::UsedBy)) }
                        th scope="col" { (frame.t(Text::Created)) }
                    } }
                    tbody {
                        @for component in items {
                            @let id = text(component, "id");
                            tr data-component=(id) {
                                td { strong { (text(component, "name")) } br; code.id { (id) } }
                                td { (text(component, "version")) }
                                td.num { (size(number(component, "size"))) }
                                td { (text(component, "witVersion")) }
                                td { (imports(component)) }
                                td {
                                    @match users.get(id) {
                                        Some(webhooks) => ul.plain {
                                            @for (webhook, name) in webhooks {
                                                li { a href=(frame.href(&format!("/webhooks/{webhook}"))) { (name) } }
                                            }
                                        },
                                        None => span.muted { (frame.t(Text::Unused)) },
                                    }
                                }
                                td { (time(frame.locale, text(component, "created"))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn imports(component: &Value) -> Markup {
    html! {
        ul.plain.imports {
            @for import in component["imports"].as_array().into_iter().flatten() {
                li { code { (import.as_str().unwrap_or_default()) } }
            }
        }
    }
}

/// The answer of an upload: what `plugin check` found, or why the component was refused.
pub fn uploaded(frame: &Frame<'_>, status: u16, body: &Value) -> Markup {
    if status != 201 {
        return html! {
            div role="alert" {
                p { strong { (frame.t(Text::Refused)) } }
                (problem(frame, status, body))
            }
        };
    }
    html! {
        div.result.ok role="status" #upload-ok {
            p { strong { (frame.t(Text::Uploaded)) } ": " code { (text(body, "name")) "@" (text(body, "version")) } }
            dl.facts {
                dt { (frame.t(Text::WitVersion)) } dd { (text(body, "witVersion")) }
                dt { (frame.t(Text::Size)) } dd { (size(number(body, "size"))) }
                dt { (frame.t(Text::Digest)) } dd { code { (text(body, "digest")) } }
                dt { (frame.t(Text::Imports)) } dd { (imports(body)) }
            }
        }
    }
}
