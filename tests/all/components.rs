//! The components API: uploads are validated against the WIT world before they are stored.

use crate::support::{Db, TestHost};
use hookhost::store::{Handler, Scope, WebhookSpec};
use hookhost_plugins::{ECHO, FOREIGN_IMPORT, FUTURE_MAJOR};
use reqwest::StatusCode;
use serde_json::Value;

both_backends!(
    upload_list_get_delete,
    invalid_uploads_are_refused_and_leave_nothing,
    components_are_private_to_their_owner
);

async fn upload(
    host: &TestHost,
    token: &str,
    path: &str,
    name: &str,
    version: &str,
) -> reqwest::Response {
    host.client
        .post(host.url(&format!(
            "/public/v1/components?name={name}&version={version}"
        )))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(path).unwrap())
        .send()
        .await
        .unwrap()
}

async fn list(host: &TestHost, token: &str) -> Value {
    host.client
        .get(host.url("/public/v1/components"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn upload_list_get_delete(db: Db) {
    let host = TestHost::start(db).await;
    let (provider, token) = host.store().create_provider("Echo AG").await.unwrap();

    let response = upload(&host, &token, ECHO, "echo", "1.0.0").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("CMP-"));
    assert_eq!(created["name"], "echo");
    assert_eq!(created["witVersion"], "0.2.0");
    assert_eq!(created["size"], std::fs::metadata(ECHO).unwrap().len());
    let digest = hookhost::sandbox::digest(&std::fs::read(ECHO).unwrap());
    assert_eq!(created["digest"], format!("sha256:{digest}"));
    assert!(
        created["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "marketplace:webhook/types@0.2.0")
    );

    let again = upload(&host, &token, ECHO, "echo", "1.0.0").await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let listed = list(&host, &token).await;
    assert_eq!(listed["$meta"]["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());

    let one: Value = host
        .client
        .get(host.url(&format!("/public/v1/components/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one, created);

    // In use by a webhook: refused, naming the webhook.
    let scope = Scope::Provider(provider.id.clone());
    let service = host
        .store()
        .create_service(&scope, "Echo", &[])
        .await
        .unwrap();
    let spec = WebhookSpec::new(service.id, Handler::Component(id.clone())).modules(["task"]);
    let (webhook, _) = host
        .store()
        .create_webhook(&host.state.key, &scope, &spec)
        .await
        .unwrap();
    let refused = host
        .client
        .delete(host.url(&format!("/public/v1/components/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains(&webhook.id));

    host.store()
        .delete_webhook(&scope, &webhook.id)
        .await
        .unwrap();
    let deleted = host
        .client
        .delete(host.url(&format!("/public/v1/components/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = host
        .client
        .get(host.url(&format!("/public/v1/components/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

async fn invalid_uploads_are_refused_and_leave_nothing(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token) = host.store().create_provider("P").await.unwrap();

    let foreign = upload(&host, &token, FOREIGN_IMPORT, "spy", "1.0.0").await;
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    let body: Value = foreign.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("evil:spy/exfil"),
        "{body}"
    );

    let future = upload(&host, &token, FUTURE_MAJOR, "future", "1.0.0").await;
    assert_eq!(future.status(), StatusCode::BAD_REQUEST);
    let detail = future.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("@1.0.0") && detail.contains("@0.1.x") && detail.contains("@0.2.x"),
        "{detail}"
    );

    let garbage = host
        .client
        .post(host.url("/public/v1/components?name=x&version=1"))
        .bearer_auth(&token)
        .header("content-type", "application/wasm")
        .body("not wasm")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    let wrong_type = host
        .client
        .post(host.url("/public/v1/components?name=echo&version=1"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(std::fs::read(ECHO).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let no_name = host
        .client
        .post(host.url("/public/v1/components?version=1"))
        .bearer_auth(&token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(ECHO).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(no_name.status(), StatusCode::BAD_REQUEST);
    assert!(no_name.text().await.unwrap().contains("name"));

    let anonymous = host
        .client
        .post(host.url("/public/v1/components?name=echo&version=1"))
        .header("content-type", "application/wasm")
        .body(std::fs::read(ECHO).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(list(&host, &token).await["$meta"]["pagination"]["total"], 0);
}

async fn components_are_private_to_their_owner(db: Db) {
    let host = TestHost::start(db).await;
    let (_, a) = host.store().create_provider("A").await.unwrap();
    let (_, b) = host.store().create_provider("B").await.unwrap();
    let created: Value = upload(&host, &a, ECHO, "echo", "1.0.0")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(list(&host, &b).await["$meta"]["pagination"]["total"], 0);
    let url = host.url(&format!("/public/v1/components/{id}"));
    assert_eq!(
        host.client
            .get(&url)
            .bearer_auth(&b)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        host.client
            .delete(&url)
            .bearer_auth(&b)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        host.client
            .get(&url)
            .bearer_auth(&a)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
