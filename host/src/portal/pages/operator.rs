//! The operator's overview: providers, tenants, services, the outbox and the metrics that
//! matter, from the admin API and `/metrics`.

use super::{Frame, Section, text, time};
use crate::portal::i18n::Text;
use maud::{Markup, html};
use serde_json::Value;

/// A sample of the Prometheus text: name, labels as written, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name.
    pub name: String,
    /// `source="test",outcome="ok"`.
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// The samples of `names` in the OpenMetrics text `text`.
pub fn samples(text: &str, names: &[&str]) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let value = value.parse().ok()?;
            names.contains(&name).then(|| Sample {
                name: name.to_owned(),
                labels: labels.to_owned(),
                value,
            })
        })
        .collect()
}

/// The lists the overview shows.
pub struct Overview<'a> {
    /// `GET /admin/v1/providers`.
    pub providers: &'a Value,
    /// `GET /admin/v1/tenants`.
    pub tenants: &'a Value,
    /// `GET /admin/v1/services`.
    pub services: &'a Value,
    /// `GET /admin/v1/activations`.
    pub activations: &'a Value,
    /// Deliveries per status (`hookhost_outbox_deliveries`).
    pub outbox: &'a [Sample],
    /// Calls per source and outcome, compiled components.
    pub metrics: &'a [Sample],
}

fn items(page: &Value) -> &[Value] {
    page["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn total(page: &Value) -> i64 {
    page["$meta"]["pagination"]["total"].as_i64().unwrap_or(0)
}

/// The overview page.
pub fn page(frame: &Frame<'_>, o: &Overview<'_>) -> Markup {
    let named = |id: &str, heading: Text, page: &Value| {
        html! {
            section aria-labelledby=(format!("{id}-heading")) {
                h2 id=(format!("{id}-heading")) { (frame.t(heading)) " (" (frame.locale.number(total(page))) ")" }
                table.list id=(id) {
                    thead { tr {
                        th scope="col" { (frame.t(Text::Id)) }
                        th scope="col" { (frame.t(Text::Name)) }
                        th scope="col" { (frame.t(Text::Created)) }
                    } }
                    tbody {
                        @for item in items(page) {
                            tr {
                                td { code { (text(item, "id")) } }
                                td { (text(item, "name")) }
                                td { (time(frame.locale, text(item, "createdAt"))) }
                            }
                        }
                    }
                }
            }
        }
    };
    let content = html! {
        h1 { (frame.t(Text::Overview)) }
        div.tiles {
            section aria-labelledby="outbox-heading" {
                h2 #outbox-heading { (frame.t(Text::Outbox)) }
                (sample_table("outbox", o.outbox))
            }
            section aria-labelledby="metrics-heading" {
                h2 #metrics-heading { (frame.t(Text::Metrics)) }
                (sample_table("metrics", o.metrics))
            }
        }
        (named("providers", Text::Providers, o.providers))
        (named("tenants", Text::Tenants, o.tenants))
        section aria-labelledby="services-heading" {
            h2 #services-heading { (frame.t(Text::Services)) " (" (frame.locale.number(total(o.services))) ")" }
            table.list #services {
                thead { tr {
                    th scope="col" { (frame.t(Text::Id)) }
                    th scope="col" { (frame.t(Text::Name)) }
                    th scope="col" { (frame.t(Text::Provider)) }
                    th scope="col" { (frame.t(Text::Tenant)) }
                } }
                tbody {
                    @for service in items(o.services) {
                        tr {
                            td { code { (text(service, "id")) } }
                            td { (text(service, "name")) }
                            td { code { (text(service, "providerId")) } }
                            td { code { (text(service, "tenantId")) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="activations-heading" {
            h2 #activations-heading { (frame.t(Text::Activations)) " (" (frame.locale.number(total(o.activations))) ")" }
            table.list #activations {
                thead { tr {
                    th scope="col" { (frame.t(Text::Tenant)) }
                    th scope="col" { (frame.t(Text::Service)) }
                    th scope="col" { (frame.t(Text::Parameters)) }
                    th scope="col" { (frame.t(Text::Created)) }
                } }
                tbody {
                    @for activation in items(o.activations) {
                        tr {
                            td { (text(activation, "tenantName")) " " code { (text(activation, "tenantId")) } }
                            td { (text(activation, "serviceName")) " " code { (text(activation, "serviceId")) } }
                            td {
                                @if let Some(parameters) = activation["parameters"].as_object() {
                                    @for (name, value) in parameters {
                                        code { (name) "=" (value.as_str().unwrap_or_default()) } " "
                                    }
                                }
                            }
                            td { (time(frame.locale, text(activation, "createdAt"))) }
                        }
                    }
                }
            }
        }
    };
    frame.page(Section::Operator, frame.t(Text::Overview), content)
}

fn sample_table(id: &str, samples: &[Sample]) -> Markup {
    html! {
        table.list.compact id=(id) {
            tbody {
                @for sample in samples {
                    tr {
                        th scope="row" { code { (sample.name.trim_start_matches("hookhost_")) } " " (sample.labels.replace('"', "")) }
                        td.num { (sample.value) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_from_the_exposition() {
        let text = "# TYPE hookhost_calls_total counter\n\
                    hookhost_calls_total{source=\"test\",outcome=\"ok\"} 3\n\
                    hookhost_outbox_deliveries{status=\"pending\"} 12\n\
                    hookhost_components_compiled_total 2\n# EOF\n";
        let found = samples(
            text,
            &["hookhost_outbox_deliveries", "hookhost_calls_total"],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].labels, "source=\"test\",outcome=\"ok\"");
        assert_eq!(found[1].value, 12.0);
    }
}
