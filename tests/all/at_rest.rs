//! What lies on disk: activation parameters a service declares secret are sealed and masked
//! (like webhook secrets), undeclared parameters are refused, and the files holding
//! credentials are readable by their owner only.

use crate::support::{ADMIN_TOKEN, Db, Receiver, TestHost};
use hookhost::store::{Handler, Scope, WebhookSpec};
use hookhost_plugins::MISBEHAVE;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    secret_parameters_are_sealed_masked_and_still_reach_the_handlers,
    undeclared_parameters_are_refused,
);

const MASK: &str = "*******************";
const SECRET: &str = "s3cr3t-api-key-0123456789";

async fn admin(host: &TestHost, path: &str, body: Value) -> (StatusCode, Value) {
    let response = host
        .client
        .post(host.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn secret_parameters_are_sealed_masked_and_still_reach_the_handlers(db: Db) {
    let host = TestHost::start(db).await;
    let store = host.store();
    let (status, provider) = admin(&host, "/admin/v1/providers", json!({"name": "P"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    let (_, tenant) = admin(&host, "/admin/v1/tenants", json!({"name": "T"})).await;
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let (status, service) = admin(
        &host,
        "/admin/v1/services",
        json!({"name": "Newsletter", "providerId": provider_id,
               "acceptedParameters": ["newsletter_url"], "secretParameters": ["api_key"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
    assert_eq!(service["secretParameters"], json!(["api_key"]));
    assert_eq!(
        service["acceptedParameters"],
        json!(["newsletter_url", "api_key"])
    );
    let service_id = service["id"].as_str().unwrap().to_owned();

    let (status, activation) = admin(
        &host,
        "/admin/v1/activations",
        json!({"tenantId": tenant_id, "serviceId": service_id,
               "parameters": {"api_key": SECRET, "newsletter_url": "https://news.example.com"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{activation}");
    assert_eq!(activation["parameters"]["api_key"], MASK, "{activation}");
    assert_eq!(
        activation["parameters"]["newsletter_url"],
        "https://news.example.com"
    );
    let stored = store
        .activation(&tenant_id, &service_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.parameters["api_key"], MASK);

    // Nowhere in the activations table in clear.
    use sqlx::Row;
    let row =
        sqlx::query("SELECT parameters, secret_parameters FROM activations WHERE tenant_id = $1")
            .bind(&tenant_id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let parameters: String = row.try_get("parameters").unwrap();
    let sealed: Vec<u8> = row.try_get("secret_parameters").unwrap();
    assert!(!parameters.contains(SECRET), "{parameters}");
    assert!(
        !sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is stored in clear"
    );

    // A component reads it through `config`.
    let provider_scope = Scope::Provider(provider_id.clone());
    let wasm = std::fs::read(MISBEHAVE).unwrap();
    let plugin = host.state.runtime.load(&wasm).unwrap();
    let component = store
        .insert_component(&provider_scope, "misbehave", "1", &plugin.info, &wasm)
        .await
        .unwrap();
    let component_spec =
        WebhookSpec::new(&service_id, Handler::Component(component.id)).extension("Config");
    store
        .create_webhook(&host.state.key, &provider_scope, &component_spec)
        .await
        .unwrap();
    let (_, key) = store.create_api_key(&tenant_id).await.unwrap();
    let read = |action: &'static str, name: &'static str| {
        let request = host
            .client
            .post(host.url("/api/rest/Webhooks/Execute?extension=Config"))
            .header("authorization", format!("rest_api_key={key}"))
            .header("content-type", "application/json")
            .body(json!({"action": action, "key": name}).to_string());
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // A 0.2.0 component reads it with `secret`; its `config` has the plain ones only.
    let answer = read("secret", "api_key").await;
    assert_eq!(answer["value"], SECRET, "{answer}");
    let answer = read("config", "api_key").await;
    assert_eq!(answer["value"], Value::Null, "{answer}");
    let answer = read("config", "newsletter_url").await;
    assert_eq!(answer["value"], "https://news.example.com", "{answer}");
    let answer = read("secret", "newsletter_url").await;
    assert_eq!(answer["value"], Value::Null, "{answer}");

    // A URL handler gets it on the URL of the call, yet the outbox never holds it.
    let receiver = Receiver::start().await;
    let url_webhook = store
        .create_webhook(
            &host.state.key,
            &provider_scope,
            &WebhookSpec::new(&service_id, Handler::Url(receiver.url("/hook")))
                .modules(["address"]),
        )
        .await
        .unwrap()
        .0;
    let user = store
        .create_api_user(&host.state.key, &tenant_id, false)
        .await
        .unwrap();
    let body = crate::support::smartml_trigger(&user.token, &user.secret, "address", "4711");
    let reply: Value = host
        .client
        .post(host.url("/api/stable/api.php"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"]["errorcode"], 0, "{reply}");
    let planned: Vec<String> =
        sqlx::query("SELECT parameters FROM deliveries WHERE webhook_id = $1")
            .bind(&url_webhook.id)
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>("parameters").unwrap())
            .collect();
    assert_eq!(planned.len(), 1);
    assert!(!planned[0].contains(SECRET), "{planned:?}");
    let hit = receiver.wait_for(1).await.remove(0);
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("POST", "/hook"));
    let query = hit.raw_query;
    assert!(query.contains(&format!("api_key={SECRET}")), "{query}");
    assert!(query.contains("newsletter_url="), "{query}");
}

async fn undeclared_parameters_are_refused(db: Db) {
    let host = TestHost::start(db).await;
    let (_, provider) = admin(&host, "/admin/v1/providers", json!({"name": "P"})).await;
    let (_, tenant) = admin(&host, "/admin/v1/tenants", json!({"name": "T"})).await;
    let (status, service) = admin(
        &host,
        "/admin/v1/services",
        json!({"name": "Valuation", "providerId": provider["id"],
               "acceptedParameters": ["price_per_sqm.*", "asking_price_weight"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
    let activate = |parameters: Value| {
        admin(
            &host,
            "/admin/v1/activations",
            json!({"tenantId": tenant["id"], "serviceId": service["id"], "parameters": parameters}),
        )
    };
    for undeclared in [
        "colour",
        "price_per_sqm",
        "price_per_sqm.",
        "asking_price_weightx",
    ] {
        let (status, problem) =
            activate(json!({"asking_price_weight": "0.5", undeclared: "x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{undeclared}: {problem}");
        let field = format!("parameters.{undeclared}");
        assert!(problem["errors"].get(&field).is_some(), "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(undeclared),
            "{problem}"
        );
    }
    assert!(
        host.store()
            .activation(
                tenant["id"].as_str().unwrap(),
                service["id"].as_str().unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "a refused activation wrote nothing"
    );
    // Names of a declared family are accepted.
    let (status, activation) =
        activate(json!({"price_per_sqm.52062": "3400", "asking_price_weight": "0.5"})).await;
    assert_eq!(status, StatusCode::CREATED, "{activation}");

    // A `*` anywhere but at the end of a family is refused when the service is declared.
    for bad in ["*", "price*", "a.*.b", ".*"] {
        let (status, problem) = admin(
            &host,
            "/admin/v1/services",
            json!({"name": "S", "providerId": provider["id"], "secretParameters": [bad]}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
        assert!(
            problem["errors"].get("secretParameters[0]").is_some(),
            "{problem}"
        );
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let store = hookhost::store::Store::open(&hookhost::store::default_sqlite_url(dir.path()))
        .await
        .unwrap();
    store.create_provider("P").await.unwrap();
    for name in ["hookhost.db", "hookhost.db-wal", "hookhost.db-shm"] {
        let path = dir.path().join(name);
        assert_eq!(mode(&path), 0o600, "{name}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn demo_files_are_private() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["demo", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env_remove("HOOKHOST_CONFIG")
        .env_remove("HOOKHOST_ADMIN_TOKEN")
        .env_remove("HOOKHOST_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Drain what it prints so it never blocks on a full pipe.
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(_)) = lines.next_line().await {}
    });
    let demo_json = dir.path().join("demo.json");
    for _ in 0..600 {
        if demo_json.exists() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("demo exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mode(&demo_json), 0o600, "demo.json");
    for name in ["demo.db", "demo.db-wal"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    child.kill().await.unwrap();
}
