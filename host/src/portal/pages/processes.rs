//! Processes (tenants): templates, running and finished processes, a process's steps as a
//! timeline, and a record's activity log.

use super::{Frame, Section, number, text, time};
use crate::portal::i18n::Text;
use maud::{Markup, html};
use serde_json::Value;

fn items(page: &Value) -> &[Value] {
    page["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn record_link(frame: &Frame<'_>, module: &str, record: &str) -> Markup {
    html! {
        a href=(frame.href(&format!("/records/{module}/{record}"))) { (module) " " (record) }
    }
}

/// Templates, then running and finished processes.
pub fn page(frame: &Frame<'_>, templates: &Value, running: &Value, finished: &Value) -> Markup {
    let content = html! {
        h1 { (frame.t(Text::Processes)) }
        section aria-labelledby="templates-heading" {
            h2 #templates-heading { (frame.t(Text::Templates)) }
            @if items(templates).is_empty() {
                p { (frame.t(Text::NoneYet)) }
            } @else {
                table.list #templates {
                    thead { tr {
                        th scope="col" { (frame.t(Text::Name)) }
                        th scope="col" { (frame.t(Text::Description)) }
                        th scope="col" .num { (frame.t(Text::Steps)) }
                        th scope="col" { (frame.t(Text::Created)) }
                    } }
                    tbody {
                        @for template in items(templates) {
                            tr {
                                td { strong { (text(template, "name")) } br; code.id { (text(template, "id")) } }
                                td { (text(template, "description")) }
                                td.num { (template["steps"].as_array().map_or(0, Vec::len)) }
                                td { (time(frame.locale, text(template, "createdAt"))) }
                            }
                        }
                    }
                }
            }
        }
        (processes(frame, "running", Text::Running, running))
        (processes(frame, "finished", Text::Finished, finished))
    };
    frame.page(Section::Processes, frame.t(Text::Processes), content)
}

fn processes(frame: &Frame<'_>, id: &str, heading: Text, page: &Value) -> Markup {
    html! {
        section aria-labelledby=(format!("{id}-heading")) {
            h2 id=(format!("{id}-heading")) { (frame.t(heading)) }
            @if items(page).is_empty() {
                p { (frame.t(Text::NoneYet)) }
            } @else {
                table.list id=(format!("{id}-processes")) {
                    thead { tr {
                        th scope="col" { (frame.t(Text::Id)) }
                        th scope="col" { (frame.t(Text::Templates)) }
                        th scope="col" { (frame.t(Text::Record)) }
                        th scope="col" { (frame.t(Text::Status)) }
                        th scope="col" .num { (frame.t(Text::Steps)) }
                        th scope="col" { (frame.t(Text::Started)) }
                    } }
                    tbody {
                        @for process in items(page) {
                            @let pid = text(process, "id");
                            tr {
                                td { a href=(frame.href(&format!("/processes/{pid}"))) { code { (pid) } } }
                                td { (text(process, "templateName")) }
                                td { (record_link(frame, text(process, "module"), text(process, "recordId"))) }
                                td { span.badge { (text(process, "status")) } }
                                td.num { (number(process, "currentStep")) " / " (number(process, "stepCount")) }
                                td { (time(frame.locale, text(process, "createdAt"))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One process: its steps as a timeline.
pub fn process(frame: &Frame<'_>, process: &Value) -> Markup {
    let pid = text(process, "id");
    let content = html! {
        p { a href=(frame.href("/processes")) { "← " (frame.t(Text::Processes)) } }
        h1 { (text(process, "templateName")) " " code { (pid) } }
        dl.facts {
            dt { (frame.t(Text::Status)) } dd { span.badge { (text(process, "status")) } }
            dt { (frame.t(Text::Record)) } dd { (record_link(frame, text(process, "module"), text(process, "recordId"))) }
            dt { (frame.t(Text::Started)) } dd { (time(frame.locale, text(process, "createdAt"))) }
            dt { (frame.t(Text::Finished)) } dd { (time(frame.locale, text(process, "finishedAt"))) }
        }
        h2 { (frame.t(Text::Steps)) }
        ol.timeline {
            @for step in process["steps"].as_array().into_iter().flatten() {
                @let status = text(step, "status");
                li.step.(status) {
                    strong { (number(step, "position") + 1) ". " (text(step, "name")) }
                    " " span.badge { (status) }
                    @if step["overdue"].as_bool().unwrap_or(false) { " " span.badge.off { "overdue" } }
                    dl.facts {
                        dt { (frame.t(Text::Record)) } dd { (record_link(frame, text(&step["record"], "module"), text(&step["record"], "recordId"))) }
                        dt { (frame.t(Text::Due)) } dd { (time(frame.locale, text(step, "dueAt"))) }
                        dt { (frame.t(Text::Started)) } dd { (time(frame.locale, text(step, "startedAt"))) }
                        dt { (frame.t(Text::Deadline)) } dd { (time(frame.locale, text(step, "deadlineAt"))) }
                        dt { (frame.t(Text::Finished)) } dd { (time(frame.locale, text(step, "finishedAt"))) }
                        @if !text(step, "error").is_empty() {
                            dt { (frame.t(Text::Error)) } dd { (text(step, "error")) }
                        }
                    }
                }
            }
        }
    };
    frame.page(Section::Processes, pid, content)
}

/// A record's activity log, newest first.
pub fn activities(frame: &Frame<'_>, module: &str, record: &str, page: &Value) -> Markup {
    let content = html! {
        p { a href=(frame.href("/processes")) { "← " (frame.t(Text::Processes)) } }
        h1 { (frame.t(Text::ActivityLog)) ": " (module) " " (record) }
        @if items(page).is_empty() {
            p { (frame.t(Text::NoneYet)) }
        } @else {
            table.list #activities {
                thead { tr {
                    th scope="col" { (frame.t(Text::Time)) }
                    th scope="col" { (frame.t(Text::Who)) }
                    th scope="col" { (frame.t(Text::What)) }
                    th scope="col" { (frame.t(Text::Result)) }
                    th scope="col" { (frame.t(Text::Details)) }
                } }
                tbody {
                    @for activity in items(page) {
                        tr {
                            td { (time(frame.locale, text(activity, "at"))) }
                            td { (text(activity, "who")) }
                            td { (text(activity, "what")) }
                            td { (text(activity, "result")) }
                            td { (text(activity, "detail")) }
                        }
                    }
                }
            }
        }
    };
    frame.page(Section::Processes, frame.t(Text::ActivityLog), content)
}

/// Processes are a tenant's: what a provider sees instead.
pub fn tenants_only(frame: &Frame<'_>) -> Markup {
    let content = html! { p.note { (frame.t(Text::ProcessesTenantsOnly)) } };
    frame.page(Section::Processes, frame.t(Text::Processes), content)
}
