//! The web portal: as a person uses it, in a real headless Chromium (sign in, a webhook's
//! page, a test call appearing live, a resend, a component upload, a tenant's embedded link
//! that shows nothing of another tenant); and over plain HTTP on both backends: portal links,
//! sign-in, sessions that cannot be forged, the security headers, isolation of every page,
//! and the hourly statistics behind the charts.

use crate::support::{Browser, Db, World, eventually};
use axum::http::StatusCode;
use fantoccini::Locator;
use hookhost::store::{Handler, Scope, WebhookSpec};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The provider's webhook (echo component, estate records), and a second tenant with a
/// private webhook of its own (which the first tenant must never see).
struct Setup {
    world: World,
    webhook: String,
    other_tenant_key: String,
    other_webhook: String,
}

async fn setup(db: Db) -> Setup {
    let world = World::start(db).await;
    let component = world.upload(hookhost_plugins::ECHO).await;
    let (webhook, _) = world
        .register(
            world
                .spec(Handler::Component(component))
                .description("Marktwert neu berechnen")
                .modules(["estate"]),
        )
        .await;
    let store = world.host.store();
    let key = &world.host.state.key;
    let other = store.create_tenant("Andere Makler AG").await.unwrap().id;
    let other_scope = Scope::Tenant(other.clone());
    let service = store
        .create_service(&other_scope, "Eigene Automatik", &[])
        .await
        .unwrap()
        .id;
    store
        .activate(key, &other, &service, &BTreeMap::new())
        .await
        .unwrap();
    let wasm = std::fs::read(hookhost_plugins::ECHO).unwrap();
    let plugin = world.host.state.runtime.load(&wasm).unwrap();
    let other_component = store
        .insert_component(&other_scope, "geheim", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap()
        .id;
    let other_webhook = store
        .create_webhook(
            key,
            &other_scope,
            &WebhookSpec::new(&service, Handler::Component(other_component))
                .description("Geheimer Webhook der Andere Makler AG"),
        )
        .await
        .unwrap()
        .0
        .id;
    let (_, other_tenant_key) = store.create_api_key(&other).await.unwrap();
    Setup {
        webhook: webhook.id,
        world,
        other_tenant_key,
        other_webhook,
    }
}

// ---------------------------------------------------------------------------------------------
// In a browser

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_and_a_tenant_use_the_portal_in_a_browser() {
    let s = setup(Db::Sqlite).await;
    let w = &s.world;
    // An asynchronous call (smartml), to resend later.
    w.trigger("estate", &["4711"]).await;
    w.webhook_after_calls(&s.webhook, 1).await;

    let browser = Browser::start().await;
    let b = &browser.client;

    // Sign in as the provider, in English.
    b.goto(&w.host.url("/portal")).await.unwrap();
    browser
        .find("#credential")
        .await
        .send_keys(&w.provider_token)
        .await
        .unwrap();
    browser
        .find("#lang option[value=en]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let list = browser.find("table#webhooks").await;
    let text = list.text().await.unwrap();
    assert!(text.contains("Marktwert neu berechnen"), "{text}");
    assert!(!text.contains("Geheimer Webhook"), "{text}");
    assert!(
        browser
            .find("svg.spark")
            .await
            .attr("aria-label")
            .await
            .unwrap()
            .unwrap()
            .contains("1 Calls"),
        "the sparkline counts the smartml call"
    );
    browser.screenshot("webhooks").await;

    // Open the webhook with the keyboard-reachable link.
    list.find(Locator::LinkText("Marktwert neu berechnen"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.find("#call-rows tr.call").await;
    browser.find("table#statistics").await;

    // A test call: its result, then its row in the log without a reload.
    // (The tenant is chosen among those that activated the service.)
    browser
        .find("#tenant")
        .await
        .select_by_value(&w.tenant)
        .await
        .unwrap();
    browser.find("#run-test").await.click().await.unwrap();
    let result = browser.find("#test-result .result").await;
    assert!(
        result.text().await.unwrap().starts_with("ok"),
        "{}",
        result.text().await.unwrap()
    );
    eventually("the test call to appear in the log", async || {
        let rows = b.find_all(Locator::Css("#call-rows tr.call")).await.ok()?;
        let mut triggers = Vec::new();
        for row in rows {
            triggers.push(
                row.find(Locator::Css("td:nth-child(2)"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?,
            );
        }
        (triggers.first().map(String::as_str) == Some("test")).then_some(())
    })
    .await;

    // Resend the smartml call: planned again, and its new attempt streams in.
    let smartml_rows = async || -> usize {
        let rows = b
            .find_all(Locator::Css("#call-rows tr.call"))
            .await
            .unwrap();
        let mut n = 0;
        for row in rows {
            if row
                .find(Locator::Css("td:nth-child(2)"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                == "smartml"
            {
                n += 1;
            }
        }
        n
    };
    assert_eq!(smartml_rows().await, 1);
    let row = browser.find("#call-rows tr.call:last-child").await;
    row.find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    row.find(Locator::Css("button.resend"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for_text("Planned again as DLV-").await;
    eventually("the resent call to appear in the log", async || {
        (smartml_rows().await == 2).then_some(())
    })
    .await;
    browser.screenshot("webhook-log").await;
    b.execute("window.scrollTo(0, 0)", Vec::new())
        .await
        .unwrap();
    browser.screenshot("webhook").await;

    // Rotate the secret: shown once.
    browser.find("#rotate").await.click().await.unwrap();
    let secret = browser.find("#new-secret").await.text().await.unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");

    // Upload a component, choosing the file as a keyboard user would.
    browser
        .find("header nav a[href$='/components']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("#component-name")
        .await
        .send_keys("echo-zwei")
        .await
        .unwrap();
    browser
        .find("#component-version")
        .await
        .send_keys("2.0.0")
        .await
        .unwrap();
    let wasm = std::fs::canonicalize(hookhost_plugins::ECHO).unwrap();
    browser
        .find("#component-file")
        .await
        .send_keys(wasm.to_str().unwrap())
        .await
        .unwrap();
    browser.find("#upload-button").await.click().await.unwrap();
    let uploaded = browser.find("#upload-ok").await.text().await.unwrap();
    assert!(
        uploaded.contains("echo-zwei@2.0.0") && uploaded.contains("WIT version"),
        "{uploaded}"
    );
    eventually("the table to list the new component", async || {
        let table = browser.find("#components").await.text().await.ok()?;
        (table.contains("echo-zwei") && table.contains("Marktwert neu berechnen")).then_some(())
    })
    .await;
    browser.screenshot("components").await;

    // A tenant's embedded link (in German): its webhooks, nothing of the other tenant.
    let (status, link) = w
        .as_tenant()
        .post("/public/v1/portal-sessions", &json!({"locale": "de"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().unwrap();
    b.goto(url).await.unwrap();
    let list = browser.find("table#webhooks").await.text().await.unwrap();
    assert!(list.contains("Marktwert neu berechnen"), "{list}");
    assert!(!list.contains("Geheimer Webhook"), "{list}");
    assert!(browser.text().await.contains("Erfolgsquote"));
    browser.screenshot("tenant").await;

    // The other tenant's webhook, its id typed into the URL: not found, nothing shown.
    let current = b.current_url().await.unwrap();
    let base = current.as_str().trim_end_matches("webhooks");
    b.goto(&format!("{base}webhooks/{}", s.other_webhook))
        .await
        .unwrap();
    browser.wait_for_text("Nicht gefunden").await;
    assert!(!browser.text().await.contains("Geheimer"));
    // And the operator's page is not the tenant's.
    b.goto(&format!("{base}operator")).await.unwrap();
    browser.wait_for_text("401").await;

    browser.close().await;
}

// ---------------------------------------------------------------------------------------------
// Over HTTP, on both backends

both_backends!(
    portal_links_are_scoped_short_lived_and_refused_when_forged,
    sign_in_resolves_credentials_like_the_rest_apis,
    pages_show_only_what_the_api_shows_the_visitor,
    process_pages_show_templates_processes_steps_and_activities,
    statistics_over_time_count_calls_per_hour_and_tenant,
);

/// A client that does not follow redirects, to see them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The portal's base path (`/portal/s/<token>`) of a link.
fn session_path(url: &str) -> String {
    let at = url.find("/portal/s/").unwrap();
    url[at..].trim_end_matches('/').to_owned()
}

async fn portal_links_are_scoped_short_lived_and_refused_when_forged(db: Db) {
    let s = setup(db).await;
    let w = &s.world;
    let (status, link) = w
        .as_provider()
        .post(
            "/public/v1/portal-sessions",
            &json!({"expiresInMinutes": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/portal/s/", w.host.base)),
        "{url}"
    );
    let expires = link["expiresAt"].as_str().unwrap();
    let minutes =
        (time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap()
            - time::OffsetDateTime::now_utc())
        .whole_minutes();
    assert!((4..=5).contains(&minutes), "{expires}");

    // The link opens the provider's webhooks, with the portal's security headers.
    let page = client().get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let webhooks = client()
        .get(w.host.url(&format!("{}/webhooks", session_path(url))))
        .send()
        .await
        .unwrap();
    assert_eq!(webhooks.status(), StatusCode::OK);
    let csp = webhooks.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    assert_eq!(webhooks.headers()["referrer-policy"], "no-referrer");
    let html = webhooks.text().await.unwrap();
    assert!(html.contains("Marktwert neu berechnen"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third-party request: {html}"
    );

    // Bad requests are the API's problems; the admin token mints no links.
    for (body, field) in [
        (json!({"expiresInMinutes": 0}), "expiresInMinutes"),
        (json!({"expiresInMinutes": 61}), "expiresInMinutes"),
        (json!({"locale": "fr"}), "locale"),
    ] {
        let (status, problem) = w
            .as_provider()
            .post("/public/v1/portal-sessions", &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem["errors"][field].is_array(), "{problem}");
    }
    for body in [json!({"admin": true}), json!([null, null]), json!(60)] {
        let (status, problem) = w
            .as_provider()
            .post("/public/v1/portal-sessions", &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
    }
    let (status, _) = w
        .host
        .as_bearer(crate::support::ADMIN_TOKEN)
        .post("/public/v1/portal-sessions", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let anonymous = client()
        .post(w.host.url("/public/v1/portal-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A token changed by one character, or sealed by another host, opens nothing.
    let path = session_path(url);
    let mut forged = path.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_key =
        hookhost::crypto::MasterKey::from_base64(&hookhost::crypto::MasterKey::generate_base64())
            .unwrap();
    let foreign = hookhost::portal::session::Session {
        role: hookhost::portal::session::Role::Operator,
        locale: hookhost::portal::i18n::Locale::En,
        expires_at: i64::MAX,
    }
    .seal(&other_key);
    let expired = hookhost::portal::session::Session {
        role: hookhost::portal::session::Role::Operator,
        locale: hookhost::portal::i18n::Locale::En,
        expires_at: 1,
    }
    .seal(&w.host.state.key);
    for (token_path, says) in [
        (forged, "not valid"),
        (format!("/portal/s/{foreign}"), "not valid"),
        (format!("/portal/s/{expired}"), "expired"),
    ] {
        let answer = client()
            .get(w.host.url(&format!("{token_path}/operator")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{token_path}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(says), "{text}");
    }

    // Frame ancestors come from the configuration.
    let mut host = s.world.host;
    host.restart_with(|c| {
        c.portal.frame_ancestors = vec!["https://marketplace.example.com".into()]
    })
    .await;
    let page = client().get(host.url("/portal")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://marketplace.example.com"),
        "{csp}"
    );
}

async fn sign_in_resolves_credentials_like_the_rest_apis(db: Db) {
    let s = setup(db).await;
    let w = &s.world;
    let sign_in = async |credential: &str| {
        client()
            .post(w.host.url("/portal/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("credential={credential}&lang=de"))
            .send()
            .await
            .unwrap()
    };
    let wrong = sign_in("not-a-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("unbekannt"));
    for (credential, home, shows) in [
        (
            w.provider_token.as_str(),
            "/webhooks",
            "Marktwert neu berechnen",
        ),
        (w.rest_key.as_str(), "/webhooks", "Marktwert neu berechnen"),
        (
            crate::support::ADMIN_TOKEN,
            "/operator",
            "Eigene Automatik <code>SVC-",
        ),
    ] {
        let answer = sign_in(credential).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/portal/s/") && location.ends_with('/'),
            "{location}"
        );
        let start = client().get(w.host.url(&location)).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let page_path = start.headers()["location"].to_str().unwrap().to_owned();
        assert!(page_path.ends_with(home), "{page_path}");
        let page = client().get(w.host.url(&page_path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains(shows) && html.contains("lang=\"de\""),
            "{html}"
        );
    }
}

async fn pages_show_only_what_the_api_shows_the_visitor(db: Db) {
    let s = setup(db).await;
    let w = &s.world;
    let link = async |caller: crate::support::Caller<'_>| {
        let (status, link) = caller.post("/public/v1/portal-sessions", None).await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        session_path(link["url"].as_str().unwrap())
    };
    let tenant = link(w.as_tenant()).await;
    let other = link(w.host.as_rest_key(&s.other_tenant_key)).await;
    let provider = link(w.as_provider()).await;
    let get = async |path: String| {
        let answer = client().get(w.host.url(&path)).send().await.unwrap();
        (answer.status(), answer.text().await.unwrap())
    };

    // The other tenant's webhook is its own; to the first tenant and the provider it is as
    // unknown as an id that does not exist.
    let (status, html) = get(format!("{other}/webhooks/{}", s.other_webhook)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Geheimer Webhook"));
    for visitor in [&tenant, &provider] {
        for path in [
            format!("/webhooks/{}", s.other_webhook),
            format!("/webhooks/{}/calls", s.other_webhook),
            "/webhooks/WBH-0000-0000".to_owned(),
        ] {
            let (status, html) = get(format!("{visitor}{path}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {html}");
            assert!(!html.contains("Geheimer"), "{html}");
        }
        let (_, html) = get(format!("{visitor}/webhooks")).await;
        assert!(!html.contains("Geheimer"), "{html}");
        let (_, html) = get(format!("{visitor}/components")).await;
        assert!(!html.contains("geheim"), "{html}");
    }
    // The other tenant sees its webhook, not the provider's service it never activated.
    let (_, html) = get(format!("{other}/webhooks")).await;
    assert!(
        html.contains("Geheimer Webhook") && !html.contains("Marktwert"),
        "{html}"
    );
    // Changes go through the API's rules: a tenant cannot disable the provider's webhook.
    let disable = client()
        .post(
            w.host
                .url(&format!("{tenant}/webhooks/{}/disable", s.webhook)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), StatusCode::FORBIDDEN);
    let (status, webhook) = w
        .as_provider()
        .get(&format!("/public/v1/notifications/webhooks/{}", s.webhook))
        .await;
    assert_eq!(
        (status, webhook["status"].as_str()),
        (StatusCode::OK, Some("enabled"))
    );
    // A provider's test call runs for a tenant of the webhook's service, chosen from a list
    // that names no one else.
    let (_, html) = get(format!("{provider}/webhooks/{}", s.webhook)).await;
    assert!(
        html.contains(&format!(
            "<option value=\"{}\">Immobilien Muster GmbH (",
            w.tenant
        )),
        "{html}"
    );
    assert!(!html.contains("Andere Makler"), "{html}");
    // The operator's pages are the admin API's: refused to a tenant.
    let (status, _) = get(format!("{tenant}/operator")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A provider opening processes is told they are tenants'.
    let (status, html) = get(format!("{provider}/processes")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("tenant"), "{html}");
}

async fn statistics_over_time_count_calls_per_hour_and_tenant(db: Db) {
    let s = setup(db).await;
    let w = &s.world;
    let path = format!("/public/v1/notifications/webhooks/{}", s.webhook);
    for _ in 0..3 {
        let (status, call) = w
            .as_provider()
            .post(&format!("{path}/test"), &json!({"tenantId": w.tenant}))
            .await;
        assert_eq!(status, StatusCode::OK, "{call}");
    }
    // A second tenant of the same service: its calls are the provider's, not the first
    // tenant's.
    let third = w
        .host
        .store()
        .create_tenant("Dritte GmbH")
        .await
        .unwrap()
        .id;
    w.host
        .store()
        .activate(&w.host.state.key, &third, &w.service, &BTreeMap::new())
        .await
        .unwrap();
    let (status, _) = w
        .as_provider()
        .post(&format!("{path}/test"), &json!({"tenantId": third}))
        .await;
    assert_eq!(status, StatusCode::OK);
    w.webhook_after_calls(&s.webhook, 4).await;

    let sum = |answer: &Value, key: &str| -> i64 {
        answer["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[key].as_i64().unwrap())
            .sum()
    };
    let (status, provider) = w.as_provider().get(&format!("{path}/statistics")).await;
    assert_eq!(status, StatusCode::OK, "{provider}");
    assert_eq!(provider["bucketSeconds"], 3600);
    assert_eq!(
        provider["buckets"].as_array().unwrap().len(),
        24,
        "{provider}"
    );
    assert_eq!(
        (sum(&provider, "calls"), sum(&provider, "successes")),
        (4, 4)
    );
    let now = provider["buckets"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(now["calls"], 4, "{now}");
    assert!(
        now["p50Ms"].as_i64().is_some() && now["p99Ms"].as_i64() >= now["p50Ms"].as_i64(),
        "{now}"
    );
    let (status, tenant) = w
        .as_tenant()
        .get(&format!("{path}/statistics?hours=2"))
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["buckets"].as_array().unwrap().len(), 2);
    assert_eq!(sum(&tenant, "calls"), 3);

    // Bad input, others' webhooks.
    for query in ["hours=0", "hours=721", "hours=x", "days=1"] {
        let (status, problem) = w
            .as_provider()
            .get(&format!("{path}/statistics?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
    }
    let (status, _) = w
        .host
        .as_rest_key(&s.other_tenant_key)
        .get(&format!("{path}/statistics"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Retention removes the hours with the calls.
    let report = w
        .host
        .store()
        .prune(hookhost::time::now_ms() + 2 * 3_600_000)
        .await
        .unwrap();
    assert!(report.call_buckets >= 2, "{report:?}");
    let (_, after) = w.as_provider().get(&format!("{path}/statistics")).await;
    assert_eq!(sum(&after, "calls"), 0);
}

async fn process_pages_show_templates_processes_steps_and_activities(db: Db) {
    let s = setup(db).await;
    let w = &s.world;
    let (status, template) = w
        .as_tenant()
        .post(
            "/api/v1/process-templates",
            &json!({"name": "Neues Objekt", "controllerEmail": "controller@example.com",
                    "steps": [{"type": "webhook", "serviceId": w.service, "record": "estate"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let (status, process) = w
        .as_tenant()
        .post(
            "/api/v1/processes",
            &json!({"templateId": template["id"], "module": "estate", "recordId": "15005"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{process}");
    let process = process["id"].as_str().unwrap().to_owned();
    let (_, link) = w.as_tenant().post("/public/v1/portal-sessions", None).await;
    let tenant = session_path(link["url"].as_str().unwrap());
    let (_, link) = w
        .host
        .as_rest_key(&s.other_tenant_key)
        .post("/public/v1/portal-sessions", None)
        .await;
    let other = session_path(link["url"].as_str().unwrap());
    let get = async |path: String| {
        let answer = client().get(w.host.url(&path)).send().await.unwrap();
        (answer.status(), answer.text().await.unwrap())
    };

    let (status, html) = get(format!("{tenant}/processes")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Neues Objekt") && html.contains(&process),
        "{html}"
    );
    let (status, html) = get(format!("{tenant}/processes/{process}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("class=\"timeline\"") && html.contains("estate 15005"),
        "{html}"
    );
    let (status, html) = get(format!("{tenant}/records/estate/15005")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Activity log"), "{html}");
    // Another tenant's process is unknown to the API, and so to the portal.
    let (status, html) = get(format!("{other}/processes/{process}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let (_, html) = get(format!("{other}/processes")).await;
    assert!(
        !html.contains(&process) && !html.contains("Neues Objekt"),
        "{html}"
    );
}
