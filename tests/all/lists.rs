//! The list endpoints' RQL end to end: random filters and orders run through the registry on
//! SQLite and PostgreSQL agree with the same filter evaluated in memory on the same rows;
//! every list endpoint filters, orders, selects and refuses what it does not know with a
//! problem naming it; and no filter shows a caller more than its scope.

use crate::support::{ADMIN_TOKEN, Db, Receiver, TestHost, World, eventually};
use axum::http::StatusCode;
use hookhost::rql::{Filter, Op, OrderKey, Pattern, Query, SetOp, Value as RqlValue};
use hookhost::store::{Call, CallRecord, Handler, Scope, WebhookSpec};
use hookhost::vocab::{MptType, ObjectType, TriggerSource, WebhookStatus};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;

both_backends!(
    webhook_filters_agree_with_an_evaluation_in_memory,
    the_webhook_list_filters_orders_selects_and_refuses,
    filters_never_widen_what_a_caller_sees,
    the_call_log_filters_orders_and_refuses,
    notifications_filter_order_and_refuse,
    components_filter_order_and_refuse,
    templates_processes_and_activities_filter_order_and_refuse,
    admin_lists_filter_order_and_refuse,
);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";

/// `path?query` as `caller`: 200 and the page, or the status and the body.
async fn list(caller: &crate::support::Caller<'_>, path: &str, query: &str) -> Value {
    let (status, body) = caller.get(&format!("{path}?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{path}?{query}: {body:#}");
    body
}

/// The values of `key` of a page's items, in order.
fn column(page: &Value, key: &str) -> Vec<Value> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].clone())
        .collect()
}

fn total(page: &Value) -> i64 {
    page["$meta"]["pagination"]["total"].as_i64().unwrap()
}

/// `path?query` is a 400 whose `errors` name `key`.
async fn refused(caller: &crate::support::Caller<'_>, path: &str, query: &str, key: &str) {
    let (status, problem) = caller.get(&format!("{path}?{query}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{path}?{query}: {problem:#}"
    );
    assert_eq!(problem["status"], 400, "{problem:#}");
    assert!(
        problem["errors"][key].is_array(),
        "{path}?{query}: no error for {key:?}: {problem:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Filters evaluated in memory

/// How the in-memory evaluation reads a field of a listed webhook.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Word(&'static [&'static str]),
    Time,
    Int,
}

/// The fields the property test filters and orders by: path, kind, where it is in an item.
const FIELDS: &[(&str, Kind, &[&str])] = &[
    ("id", Kind::Text, &["id"]),
    ("description", Kind::Text, &["description"]),
    ("status", Kind::Word(WebhookStatus::NAMES), &["status"]),
    ("type", Kind::Word(MptType::NAMES), &["type"]),
    ("objectType", Kind::Word(ObjectType::NAMES), &["objectType"]),
    ("audit.created.at", Kind::Time, &["audit", "created", "at"]),
    ("statistics.total", Kind::Int, &["statistics", "total"]),
];

fn field(path: &str) -> (Kind, &'static [&'static str]) {
    let (_, kind, at) = FIELDS.iter().find(|(p, _, _)| *p == path).unwrap();
    (*kind, at)
}

/// A value as compared: text, or a number (times as Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scalar {
    Text(String),
    Int(i64),
}

fn ms(text: &str) -> i64 {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `text` read as a value of a field of `kind`.
fn read(kind: Kind, text: &str) -> Scalar {
    match kind {
        Kind::Text => Scalar::Text(text.to_owned()),
        Kind::Word(words) => Scalar::Text(
            words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(text))
                .unwrap()
                .to_string(),
        ),
        Kind::Time => Scalar::Int(ms(text)),
        Kind::Int => Scalar::Int(text.parse().unwrap()),
    }
}

/// The item's value of field `path`; `None` when it has none.
fn value_of(item: &Value, path: &str) -> Option<Scalar> {
    let (kind, at) = field(path);
    let mut value = item;
    for key in at {
        value = value.get(key)?;
    }
    match value {
        Value::Null => None,
        Value::String(text) => Some(read(kind, text)),
        Value::Number(n) => Some(Scalar::Int(n.as_i64().unwrap())),
        other => panic!("{path}: {other}"),
    }
}

/// What the filter means (see `store::listing`): two-valued, no value compares false.
fn holds(filter: &Filter, item: &Value) -> bool {
    match filter {
        Filter::And(filters) => filters.iter().all(|f| holds(f, item)),
        Filter::Or(filters) => filters.iter().any(|f| holds(f, item)),
        Filter::Not(filter) => !holds(filter, item),
        Filter::Compare {
            op,
            field: path,
            value,
        } => {
            let actual = value_of(item, path);
            let text = match value {
                RqlValue::Null => {
                    return match op {
                        Op::Eq => actual.is_none(),
                        Op::Ne => actual.is_some(),
                        _ => unreachable!("null() with {op:?}"),
                    };
                }
                RqlValue::Text(text) => text,
            };
            let Some(actual) = actual else {
                return *op == Op::Ne;
            };
            if let Op::Like | Op::Ilike = op {
                let Scalar::Text(actual) = actual else {
                    unreachable!()
                };
                return Pattern::parse(text).matches(&actual, *op == Op::Ilike);
            }
            let expected = read(field(path).0, text);
            let ordering = actual.cmp(&expected);
            match op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Ne => ordering != Ordering::Equal,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                Op::Like | Op::Ilike => unreachable!(),
            }
        }
        Filter::Member {
            op,
            field: path,
            values,
        } => {
            let actual = value_of(item, path);
            let listed = values.iter().any(|value| match value {
                RqlValue::Null => actual.is_none(),
                RqlValue::Text(text) => actual.as_ref() == Some(&read(field(path).0, text)),
            });
            match op {
                SetOp::In => listed,
                SetOp::Out => !listed,
            }
        }
    }
}

/// `items` in `order`, no value first, ties broken by creation time and id.
fn sorted(mut items: Vec<Value>, order: &[OrderKey]) -> Vec<Value> {
    items.sort_by(|a, b| {
        for key in order {
            let ordering = value_of(a, &key.field).cmp(&value_of(b, &key.field));
            let ordering = if key.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        (value_of(a, "audit.created.at"), value_of(a, "id"))
            .cmp(&(value_of(b, "audit.created.at"), value_of(b, "id")))
    });
    items
}

/// Random texts over characters that mean something to LIKE, GLOB, RQL or URLs, in both
/// cases, and one that only Unicode would fold.
const ALPHABET: &str = r"[aAbB %_*\\é.,()'-]";

fn text_value(existing: Vec<String>) -> BoxedStrategy<String> {
    prop_oneof![
        2 => proptest::sample::select(existing),
        1 => proptest::string::string_regex(&format!("{ALPHABET}{{0,4}}")).unwrap(),
    ]
    .boxed()
}

/// A value of field `path`: one the rows have, a near miss, or any (words in any case).
fn value_for(path: &'static str, rows: &[Value]) -> BoxedStrategy<String> {
    let (kind, _) = field(path);
    match kind {
        Kind::Text => {
            let existing: Vec<String> = rows
                .iter()
                .filter_map(|row| match value_of(row, path) {
                    Some(Scalar::Text(text)) => Some(text),
                    _ => None,
                })
                .collect();
            text_value(existing)
        }
        Kind::Word(words) => (proptest::sample::select(words), any::<bool>())
            .prop_map(|(word, upper)| {
                if upper {
                    word.to_uppercase()
                } else {
                    word.to_owned()
                }
            })
            .boxed(),
        Kind::Time => {
            let times: Vec<i64> = rows
                .iter()
                .filter_map(|row| match value_of(row, path) {
                    Some(Scalar::Int(ms)) => Some(ms),
                    _ => None,
                })
                .collect();
            (proptest::sample::select(times), -1i64..=1)
                .prop_map(|(ms, delta)| hookhost::time::format_ms(ms + delta))
                .boxed()
        }
        Kind::Int => (-1i64..=2).prop_map(|n| n.to_string()).boxed(),
    }
}

/// A `like`/`ilike` pattern: a piece of a row's text between stars, or random.
fn pattern_for(path: &'static str, rows: &[Value]) -> BoxedStrategy<String> {
    let pieces: Vec<String> = rows
        .iter()
        .filter_map(|row| match value_of(row, path) {
            Some(Scalar::Text(text)) => Some(text.chars().take(2).collect()),
            _ => None,
        })
        .collect();
    let around = (any::<bool>(), any::<bool>(), any::<bool>());
    prop_oneof![
        3 => (proptest::sample::select(pieces), around).prop_map(
            |(piece, (before, after, flip))| {
                let escaped: String = piece
                    .chars()
                    .flat_map(|c| match c {
                        '*' | '\\' => vec!['\\', c],
                        // In the other case only `ilike` still matches.
                        c if flip && c.is_ascii_lowercase() => vec![c.to_ascii_uppercase()],
                        c if flip => vec![c.to_ascii_lowercase()],
                        c => vec![c],
                    })
                    .collect();
                format!(
                    "{}{escaped}{}",
                    if before { "*" } else { "" },
                    if after { "*" } else { "" }
                )
            }
        ),
        1 => proptest::string::string_regex(&format!("{ALPHABET}{{0,3}}")).unwrap(),
    ]
    .boxed()
}

fn comparison(path: &'static str, rows: &[Value]) -> BoxedStrategy<Filter> {
    let (kind, _) = field(path);
    let text_kind = matches!(kind, Kind::Text | Kind::Word(_));
    let ops: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|op| text_kind || !matches!(op, Op::Like | Op::Ilike))
        .collect();
    let value = value_for(path, rows);
    let pattern = if text_kind {
        pattern_for(path, rows)
    } else {
        Just(String::new()).boxed()
    };
    let compare = (proptest::sample::select(ops), value.clone(), pattern).prop_map(
        move |(op, value, pattern)| Filter::Compare {
            op,
            field: path.to_owned(),
            value: RqlValue::Text(match op {
                Op::Like | Op::Ilike => pattern,
                _ => value,
            }),
        },
    );
    let null = any::<bool>().prop_map(move |eq| Filter::Compare {
        op: if eq { Op::Eq } else { Op::Ne },
        field: path.to_owned(),
        value: RqlValue::Null,
    });
    let listed = prop_oneof![
        4 => value.prop_map(RqlValue::Text),
        1 => Just(RqlValue::Null),
    ];
    let member = (any::<bool>(), proptest::collection::vec(listed, 1..4)).prop_map(
        move |(is_in, values)| Filter::Member {
            op: if is_in { SetOp::In } else { SetOp::Out },
            field: path.to_owned(),
            values,
        },
    );
    prop_oneof![6 => compare, 1 => null, 2 => member].boxed()
}

fn filter(rows: &[Value]) -> BoxedStrategy<Filter> {
    // Mostly the description: the text that LIKE, GLOB, collations and escapes are about.
    let leaves: Vec<(u32, BoxedStrategy<Filter>)> = FIELDS
        .iter()
        .map(|(path, _, _)| {
            let weight = if *path == "description" { 6 } else { 1 };
            (weight, comparison(path, rows))
        })
        .collect();
    let leaf = proptest::strategy::Union::new_weighted(leaves);
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

fn order() -> impl Strategy<Value = Vec<OrderKey>> {
    let paths: Vec<&'static str> = FIELDS.iter().map(|(p, _, _)| *p).collect();
    proptest::collection::vec(
        (proptest::sample::select(paths), any::<bool>()).prop_map(|(field, descending)| OrderKey {
            field: field.to_owned(),
            descending,
        }),
        0..3,
    )
}

async fn webhook_filters_agree_with_an_evaluation_in_memory(db: Db) {
    let w = World::start(db).await;
    // Rows with random descriptions, statuses, types and object types.
    let mut runner = TestRunner::deterministic();
    let row = (
        proptest::string::string_regex(&format!("{ALPHABET}{{0,6}}")).unwrap(),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(MptType::NAMES)),
        proptest::option::of(proptest::sample::select(ObjectType::NAMES)),
    );
    for _ in 0..30 {
        let (description, enabled, kind, object_type) =
            row.new_tree(&mut runner).unwrap().current();
        let mut spec = w
            .spec(Handler::Url("https://hooks.example.com/a".into()))
            .description(description);
        if !enabled {
            spec = spec.disabled();
        }
        if let Some(kind) = kind {
            spec = spec.kind(kind);
        }
        if let Some(object_type) = object_type {
            spec = spec.object_type(object_type);
        }
        w.register(spec).await;
    }
    let provider = w.as_provider();
    let all = list(&provider, WEBHOOKS, "limit=1000").await;
    let rows = all["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 30);

    let cases = (filter(&rows), order(), 0usize..4, 1usize..8);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&cases, |(filter, order, offset, limit)| {
            handle.block_on(async {
                let expected: Vec<Value> = sorted(
                    rows.iter()
                        .filter(|row| holds(&filter, row))
                        .cloned()
                        .collect(),
                    &order,
                );
                let ids = |items: &[Value]| -> Vec<Value> {
                    items.iter().map(|item| item["id"].clone()).collect()
                };
                let mut query = Query {
                    filter: Some(filter.clone()),
                    order: order.clone(),
                    limit: Some("1000".into()),
                    ..Query::default()
                };
                let (status, page) = provider.get(&format!("{WEBHOOKS}?{query}")).await;
                prop_assert_eq!(status, StatusCode::OK, "{}: {:#}", query, page);
                prop_assert_eq!(total(&page) as usize, expected.len(), "{}", query);
                prop_assert_eq!(column(&page, "id"), ids(&expected), "{}", query);
                // A page is a slice of that order.
                query.offset = Some(offset.to_string());
                query.limit = Some(limit.to_string());
                let (_, page) = provider.get(&format!("{WEBHOOKS}?{query}")).await;
                let slice: Vec<Value> = expected.iter().skip(offset).take(limit).cloned().collect();
                prop_assert_eq!(column(&page, "id"), ids(&slice), "{}", query);
                Ok::<(), TestCaseError>(())
            })
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

// ---------------------------------------------------------------------------------------------
// Each list endpoint

async fn the_webhook_list_filters_orders_selects_and_refuses(db: Db) {
    let w = World::start(db).await;
    let provider = w.as_provider();
    let url = |n: usize| Handler::Url(format!("https://hooks.example.com/{n}"));
    // Registered a few milliseconds apart, so that their creation times differ.
    let register = async |spec| {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        w.register(spec).await.0
    };
    let order_check = register(
        w.spec(url(1))
            .description("Order check")
            .kind("validateRequest"),
    )
    .await;
    let invoices = register(
        w.spec(url(2))
            .description("Invoices")
            .kind("validateAccount"),
    )
    .await;
    let order_sync = register(w.spec(url(3)).description("order sync (nightly)")).await;
    let old_orders = register(w.spec(url(4)).description("old orders").disabled()).await;

    let page = list(
        &provider,
        WEBHOOKS,
        "and(eq(status,enabled),ilike(description,*order*))&order=-audit.created.at",
    )
    .await;
    assert_eq!(
        column(&page, "id"),
        [json!(order_sync.id), json!(order_check.id)]
    );
    assert_eq!(total(&page), 2);
    let page = list(
        &provider,
        WEBHOOKS,
        "in(type,(validateRequest,VALIDATEACCOUNT))&order=description",
    )
    .await;
    assert_eq!(
        column(&page, "description"),
        [json!("Invoices"), json!("Order check")]
    );
    // Shorthands, quoted and percent-encoded values, null(), several filters ANDed.
    let page = list(
        &provider,
        WEBHOOKS,
        &format!(
            "service.id=%22{}%22&type=null()&eq(description,%22order%20sync%20(nightly)%22)",
            w.service
        ),
    )
    .await;
    assert_eq!(column(&page, "id"), [json!(order_sync.id)]);
    let page = list(&provider, WEBHOOKS, "status=ne=enabled&limit=0").await;
    assert_eq!(
        page,
        json!({"$meta": {"pagination": {"offset": 0, "limit": 0, "total": 1}}, "data": []})
    );
    let page = list(
        &provider,
        WEBHOOKS,
        "like(description,*order*)&order=-description",
    )
    .await;
    assert_eq!(
        column(&page, "id"),
        [json!(order_sync.id), json!(old_orders.id)]
    );
    let page = list(
        &provider,
        WEBHOOKS,
        "ne(type,validateRequest)&order=type,-id",
    )
    .await;
    assert_eq!(
        total(&page),
        3,
        "a webhook without a type is not validateRequest"
    );
    assert_eq!(page["data"][2]["id"], json!(invoices.id));
    // Values are bound, never SQL.
    let page = list(
        &provider,
        WEBHOOKS,
        "eq(description,%22x'%20OR%20'1'='1%22)",
    )
    .await;
    assert_eq!(total(&page), 0);

    // `select` drops properties (or parts of them) and keeps the rest in their order.
    let page = list(
        &provider,
        WEBHOOKS,
        "select=-statistics,-audit.updated,-lastCall",
    )
    .await;
    let item = page["data"][0].as_object().unwrap();
    let keys: Vec<&str> = item.keys().map(String::as_str).collect();
    assert_eq!(&keys[..4], ["id", "href", "description", "status"]);
    assert!(!item.contains_key("statistics") && !item.contains_key("lastCall"));
    assert!(item["audit"].get("updated").is_none() && item["audit"]["created"].is_object());
    let page = list(&provider, WEBHOOKS, "select=+id,+service&order=id&limit=1").await;
    assert_eq!(
        page["data"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "service"]
    );
    // Every property of an item may be selected.
    let all = list(&provider, WEBHOOKS, "limit=1").await;
    let every: Vec<String> = all["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| format!("-{k}"))
        .collect();
    let page = list(&provider, WEBHOOKS, &format!("select={}", every.join(","))).await;
    assert_eq!(page["data"][0], json!({}));

    // Refusals name what they refuse.
    for (query, key) in [
        ("eq(colour,red)", "colour"),
        ("colour=red", "colour"),
        ("foo(status,enabled)", "foo(status,enabled)"),
        ("and(eq(status,enabled)", "and(eq(status,enabled)"),
        ("eq(status,on)", "status"),
        ("gt(statistics.total,many)", "statistics.total"),
        ("lt(type,null())", "type"),
        ("like(audit.created.at,2026*)", "audit.created.at"),
        ("eq(audit.created.at,yesterday)", "audit.created.at"),
        ("order=-colour", "order"),
        ("select=-colour", "select"),
        ("limit=10&limit=20", "limit"),
        ("limit=1001", "limit"),
    ] {
        refused(&provider, WEBHOOKS, query, key).await;
    }
    // Statistics of a provider's webhook count every tenant's calls: not for tenants.
    refused(&w.as_tenant(), WEBHOOKS, "order=-statistics.total", "order").await;
    refused(
        &w.as_tenant(),
        WEBHOOKS,
        "gt(statistics.total,0)",
        "statistics.total",
    )
    .await;
    let page = list(&w.as_tenant(), WEBHOOKS, "eq(status,disabled)").await;
    assert_eq!(column(&page, "id"), [json!(old_orders.id)]);
}

async fn filters_never_widen_what_a_caller_sees(db: Db) {
    let w = World::start(db).await;
    let store = w.host.store();
    let (mine, _) = w
        .register(w.spec(Handler::Url("https://hooks.example.com/mine".into())))
        .await;
    // Another provider with a service nobody activated, and a tenant's private webhook.
    let (other, other_token) = store.create_provider("Other provider").await.unwrap();
    let other = Scope::Provider(other.id);
    let other_service = store.create_service(&other, "Other", &[]).await.unwrap().id;
    let (theirs, _) = store
        .create_webhook(
            &w.host.state.key,
            &other,
            &WebhookSpec::new(
                &other_service,
                Handler::Url("https://hooks.example.com/theirs".into()),
            ),
        )
        .await
        .unwrap();
    let tenant = Scope::Tenant(w.tenant.clone());
    let private_service = store.create_service(&tenant, "Mine", &[]).await.unwrap().id;
    let (private, _) = store
        .create_webhook(
            &w.host.state.key,
            &tenant,
            &WebhookSpec::new(
                &private_service,
                Handler::Url("https://hooks.example.com/private".into()),
            ),
        )
        .await
        .unwrap();

    let everything = [
        "".to_owned(),
        format!("or(eq(id,{0}),ne(id,{0}))", theirs.id),
        "or(eq(status,enabled),not(eq(status,enabled)))".to_owned(),
        "or(eq(type,null()),ne(type,null()))".to_owned(),
        format!("or(ne(service.id,null()),eq(id,{}))", theirs.id),
    ];
    for query in &everything {
        let page = list(&w.as_provider(), WEBHOOKS, query).await;
        assert_eq!(column(&page, "id"), [json!(mine.id)], "{query}");
        let page = list(&w.host.as_bearer(&other_token), WEBHOOKS, query).await;
        assert_eq!(column(&page, "id"), [json!(theirs.id)], "{query}");
        let page = list(&w.as_tenant(), WEBHOOKS, &format!("{query}&order=id")).await;
        let mut expected = vec![json!(mine.id), json!(private.id)];
        expected.sort_by_key(|id| id.as_str().unwrap().to_owned());
        assert_eq!(column(&page, "id"), expected, "{query}");
    }
    for query in [
        format!("eq(id,{})", theirs.id),
        format!("eq(service.id,{other_service})"),
        "handler.url=https://hooks.example.com/theirs".to_owned(),
    ] {
        for caller in [w.as_provider(), w.as_tenant()] {
            let page = list(&caller, WEBHOOKS, &query).await;
            assert_eq!(total(&page), 0, "{query}: {page:#}");
        }
    }
}

fn call(success: bool, status: u16, at: &str) -> Call {
    Call {
        success,
        call_time: at.to_owned(),
        response_time: Some(at.to_owned()),
        headers: String::new(),
        error: if success {
            String::new()
        } else {
            "failed".into()
        },
        response: String::new(),
        reason_phrase: String::new(),
        http_status_code: status,
        skipped: None,
    }
}

async fn the_call_log_filters_orders_and_refuses(db: Db) {
    let w = World::start(db).await;
    let (webhook, _) = w
        .register(w.spec(Handler::Url("https://hooks.example.com/calls".into())))
        .await;
    let record = |tenant: &str, trigger, attempt, call| CallRecord {
        webhook_id: webhook.id.clone(),
        tenant_id: tenant.to_owned(),
        delivery_id: None,
        attempt,
        trigger,
        call,
        detail: Default::default(),
    };
    let (tenant, other) = (w.tenant.as_str(), "TEN-0000-0000");
    w.host
        .store()
        .record_calls(&[
            record(
                tenant,
                TriggerSource::Ivanti,
                1,
                call(true, 200, "2026-03-01T10:00:00.000Z"),
            ),
            record(
                tenant,
                TriggerSource::Smartml,
                1,
                call(false, 503, "2026-03-01T11:00:00.000Z"),
            ),
            record(
                tenant,
                TriggerSource::Smartml,
                2,
                call(false, 500, "2026-03-01T12:00:00.000Z"),
            ),
            record(
                tenant,
                TriggerSource::Test,
                1,
                call(false, 404, "2026-03-01T13:00:00.000Z"),
            ),
            record(
                other,
                TriggerSource::Ivanti,
                1,
                call(false, 502, "2026-03-01T14:00:00.000Z"),
            ),
        ])
        .await
        .unwrap();
    let path = format!("{WEBHOOKS}/{}/calls", webhook.id);
    let provider = w.as_provider();

    let page = list(
        &provider,
        &path,
        "and(eq(success,false),ge(httpStatusCode,500))&order=httpStatusCode",
    )
    .await;
    assert_eq!(
        column(&page, "httpStatusCode"),
        [json!(500), json!(502), json!(503)]
    );
    let page = list(
        &provider,
        &path,
        "eq(trigger,SMARTML)&order=-attempt&select=+attempt",
    )
    .await;
    assert_eq!(page["data"], json!([{"attempt": 2}, {"attempt": 1}]));
    let page = list(
        &provider,
        &path,
        "gt(callTime,2026-03-01T12:30:00%2B01:00)&order=callTime",
    )
    .await;
    assert_eq!(
        column(&page, "callTime"),
        [
            json!("2026-03-01T12:00:00.000Z"),
            json!("2026-03-01T13:00:00.000Z"),
            json!("2026-03-01T14:00:00.000Z")
        ]
    );
    // A tenant sees its own calls, whatever it asks for.
    let page = list(
        &w.as_tenant(),
        &path,
        "or(eq(trigger,ivanti),ne(trigger,ivanti))",
    )
    .await;
    assert_eq!(total(&page), 4);
    let page = list(&w.as_tenant(), &path, "eq(httpStatusCode,502)").await;
    assert_eq!(total(&page), 0);

    for (query, key) in [
        ("eq(success,maybe)", "success"),
        ("like(attempt,1*)", "attempt"),
        ("eq(tenantId,x)", "tenantId"),
        ("order=call", "order"),
        ("select=-tenant", "select"),
        ("offset=x", "offset"),
    ] {
        refused(&provider, &path, query, key).await;
    }
}

async fn notifications_filter_order_and_refuse(db: Db) {
    let w = World::start(db).await;
    let store = w.host.store();
    let (webhook, _) = w
        .register(w.spec(Handler::Url("https://hooks.example.com/n".into())))
        .await;
    for (kind, message) in [
        ("failing", "Failing since Monday"),
        ("gone", "The endpoint is gone"),
    ] {
        store
            .disable_webhook_automatically(&webhook.id, kind, message, None, "{}")
            .await
            .unwrap()
            .unwrap();
        store
            .set_webhook_enabled(&w.provider, &webhook.id, true)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let path = format!("{WEBHOOKS}/{}/notifications", webhook.id);
    let provider = w.as_provider();
    let page = list(&provider, &path, "").await;
    assert_eq!(column(&page, "kind"), [json!("gone"), json!("failing")]);
    let page = list(&provider, &path, "order=created").await;
    assert_eq!(column(&page, "kind"), [json!("failing"), json!("gone")]);
    let page = list(&provider, &path, "ilike(message,*GONE*)&select=+kind").await;
    assert_eq!(page["data"], json!([{"kind": "gone"}]));
    let page = list(&provider, &path, "kind=failing").await;
    assert_eq!(total(&page), 1);
    refused(&provider, &path, "eq(created,yesterday)", "created").await;
    refused(&provider, &path, "eq(webhookId,x)", "webhookId").await;
}

async fn components_filter_order_and_refuse(db: Db) {
    let w = World::start(db).await;
    let (store, runtime) = (w.host.store(), &w.host.state.runtime);
    let mut sizes = BTreeMap::new();
    for (name, version, path) in [
        ("alpha", "1.0.0", hookhost_plugins::ECHO),
        ("alpha", "2.0.0", hookhost_plugins::ECHO),
        ("beta", "1.0.0", hookhost_plugins::VALUATION),
    ] {
        let wasm = std::fs::read(path).unwrap();
        let plugin = runtime.load_blocking(wasm.clone().into()).await.unwrap();
        store
            .insert_component(&w.provider, name, version, &plugin.info, &wasm)
            .await
            .unwrap();
        sizes.insert(format!("{name}@{version}"), wasm.len());
    }
    let path = "/public/v1/components";
    let provider = w.as_provider();
    let page = list(&provider, path, "eq(name,alpha)&order=-version").await;
    assert_eq!(column(&page, "version"), [json!("2.0.0"), json!("1.0.0")]);
    let page = list(&provider, path, "order=name,version&select=+name,+version").await;
    assert_eq!(
        page["data"],
        json!([
            {"name": "alpha", "version": "1.0.0"},
            {"name": "alpha", "version": "2.0.0"},
            {"name": "beta", "version": "1.0.0"}
        ])
    );
    let digest = list(&provider, path, "name=beta").await["data"][0]["digest"].clone();
    let page = list(
        &provider,
        path,
        &format!("eq(digest,{})", digest.as_str().unwrap()),
    )
    .await;
    assert_eq!(column(&page, "name"), [json!("beta")]);
    let smallest = sizes.values().min().unwrap();
    let page = list(&provider, path, &format!("gt(size,{smallest})")).await;
    assert_eq!(
        total(&page),
        sizes.values().filter(|s| *s > smallest).count() as i64
    );
    // Another owner's components are not there to be found.
    let (_, token) = store.create_provider("Other").await.unwrap();
    let page = list(&w.host.as_bearer(&token), path, "ne(name,null())").await;
    assert_eq!(total(&page), 0);
    refused(&provider, path, "eq(imports,x)", "imports").await;
    refused(&provider, path, "eq(size,big)", "size").await;
    refused(&provider, path, "limit=0", "limit").await;
}

async fn templates_processes_and_activities_filter_order_and_refuse(db: Db) {
    let receiver = Receiver::start().await;
    let w = World::build(db)
        .config(|config| {
            config.delivery.poll_ms = 50;
            config.process.poll_ms = 50;
        })
        .start()
        .await;
    w.register(
        w.spec(Handler::Url(receiver.url("/step")))
            .modules(["estate", "address"]),
    )
    .await;
    let tenant = w.as_tenant();
    let mut templates = Vec::new();
    for name in ["New listing", "Price change", "Listing removed"] {
        let body = json!({"name": name, "steps": [{"type": "webhook", "serviceId": w.service}]});
        let (status, created) = tenant.post("/api/v1/process-templates", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created:#}");
        templates.push(created["id"].as_str().unwrap().to_owned());
    }
    let path = "/api/v1/process-templates";
    let page = list(
        &tenant,
        path,
        "ilike(name,*listing*)&order=-name&select=+name",
    )
    .await;
    assert_eq!(
        page["data"],
        json!([{"name": "New listing"}, {"name": "Listing removed"}])
    );
    refused(&tenant, path, "eq(steps,x)", "steps").await;
    refused(&tenant, path, "gt(revision,one)", "revision").await;

    let mut processes = Vec::new();
    for (module, record) in [("estate", "1"), ("estate", "2"), ("address", "1")] {
        let body = json!({"templateId": templates[0], "module": module, "recordId": record});
        let (status, started) = tenant.post("/api/v1/processes", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{started:#}");
        processes.push(started["id"].as_str().unwrap().to_owned());
    }
    let path = "/api/v1/processes";
    let page = list(
        &tenant,
        path,
        "and(eq(module,estate),in(recordId,(1,2)))&order=-recordId",
    )
    .await;
    assert_eq!(column(&page, "recordId"), [json!("2"), json!("1")]);
    let page = list(
        &tenant,
        path,
        &format!("templateId={}&recordId=1&order=module", templates[0]),
    )
    .await;
    assert_eq!(column(&page, "module"), [json!("address"), json!("estate")]);
    let page = list(&tenant, path, "eq(overdue,false)&eq(stepCount,1)&limit=1").await;
    assert_eq!(total(&page), 3);
    refused(&tenant, path, "eq(status,paused)", "status").await;
    refused(&tenant, path, "eq(records,x)", "records").await;

    // Each process's one step calls the receiver and writes the record's activity log.
    eventually("the processes completed", async || {
        let page = list(&tenant, path, "status=completed").await;
        (total(&page) == 3).then_some(())
    })
    .await;
    let path = "/api/v1/records/estate/1/activities";
    let page = list(
        &tenant,
        path,
        "and(eq(result,succeeded),ne(processId,null()))",
    )
    .await;
    assert_eq!(column(&page, "processId"), [json!(processes[0])]);
    let page = list(&tenant, path, "eq(step,2)").await;
    assert_eq!(total(&page), 0);
    refused(&tenant, path, "eq(step,first)", "step").await;
    refused(&tenant, path, "order=when", "order").await;
}

async fn admin_lists_filter_order_and_refuse(db: Db) {
    let host = TestHost::start(db).await;
    let admin = host.as_bearer(ADMIN_TOKEN);
    let store = host.store();
    let mut providers = Vec::new();
    for name in ["Alpha GmbH", "beta AG", "Gamma GmbH"] {
        providers.push(store.create_provider(name).await.unwrap().0.id);
    }
    let tenant = store
        .create_tenant("Immobilien Muster GmbH")
        .await
        .unwrap()
        .id;
    store.create_tenant("Other tenant").await.unwrap();
    store
        .create_service(
            &Scope::Provider(providers[0].clone()),
            "Valuation",
            &["x".into()],
        )
        .await
        .unwrap();
    let private = store
        .create_service(&Scope::Tenant(tenant.clone()), "Own", &[])
        .await
        .unwrap()
        .id;

    let page = list(
        &admin,
        "/admin/v1/providers",
        "ilike(name,*gmbh)&order=-name",
    )
    .await;
    assert_eq!(
        column(&page, "name"),
        [json!("Gamma GmbH"), json!("Alpha GmbH")]
    );
    let page = list(&admin, "/admin/v1/providers", "order=name&limit=1&offset=1").await;
    assert_eq!(column(&page, "name"), [json!("Gamma GmbH")]);
    assert_eq!(
        page["$meta"]["pagination"],
        json!({"offset": 1, "limit": 1, "total": 3})
    );
    let page = list(
        &admin,
        "/admin/v1/tenants",
        "like(name,Immobilien*)&select=-createdAt",
    )
    .await;
    assert_eq!(
        page["data"],
        json!([{"id": tenant, "name": "Immobilien Muster GmbH", "contactEmail": null}])
    );
    let page = list(&admin, "/admin/v1/services", "eq(providerId,null())").await;
    assert_eq!(column(&page, "id"), [json!(private)]);
    let page = list(
        &admin,
        "/admin/v1/services",
        &format!("providerId={}", providers[0]),
    )
    .await;
    assert_eq!(column(&page, "name"), [json!("Valuation")]);
    refused(&admin, "/admin/v1/providers", "eq(token,x)", "token").await;
    refused(
        &admin,
        "/admin/v1/tenants",
        "lt(createdAt,soon)",
        "createdAt",
    )
    .await;
    refused(&admin, "/admin/v1/services", "select=-parameters", "select").await;
    // The admin lists are the operator's: a provider's token opens none of them.
    let (status, _) = host
        .as_bearer("not-the-admin-token")
        .get("/admin/v1/providers?ilike(name,*)")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
