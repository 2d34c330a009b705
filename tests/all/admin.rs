//! The operator's API, `/admin/v1`: what it creates works, credentials are shown once, and bad
//! input or missing authority is answered with the right problem, never a 500.

use crate::support::{ADMIN_TOKEN, Db, TestHost};
use hookhost::api::auth::Principal;
use hookhost::store::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    providers_show_their_token_once_and_it_authenticates,
    tenants_get_api_users_and_keys_shown_once,
    deactivated_keys_are_refused,
    services_and_activations,
    private_services_stay_private,
    only_the_admin_token_opens_the_admin_api,
    the_admin_api_is_closed_without_an_admin_token,
    bad_input_is_a_400_naming_the_field,
    unknown_ids_are_404,
);

async fn post(host: &TestHost, path: &str, body: Value) -> reqwest::Response {
    host.client
        .post(host.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// POST `body` to `path`; asserts `status` and returns the answer.
async fn post_ok(host: &TestHost, path: &str, body: Value, status: StatusCode) -> Value {
    let response = post(host, path, body).await;
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "POST {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path} ({e}): {text}"))
}

async fn get(host: &TestHost, path: &str) -> Value {
    let response = host
        .client
        .get(host.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// Asserts a problem answer with `status`; returns its body.
async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

async fn tenant(host: &TestHost, name: &str) -> String {
    let tenant = post_ok(
        host,
        "/admin/v1/tenants",
        json!({"name": name}),
        StatusCode::CREATED,
    )
    .await;
    tenant["id"].as_str().unwrap().to_owned()
}

/// Every key of every object in the list's `data`.
fn keys(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o.as_object().unwrap().keys().cloned())
        .collect()
}

async fn providers_show_their_token_once_and_it_authenticates(db: Db) {
    let host = TestHost::start(db).await;
    let created = post_ok(
        &host,
        "/admin/v1/providers",
        json!({"name": "  Sprengnetter Demo GmbH "}),
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(id.starts_with("PRV-"), "{created}");
    assert_eq!(created["name"], "Sprengnetter Demo GmbH", "trimmed");
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["contactEmail"], Value::Null, "none given");
    assert_eq!(
        created.as_object().unwrap().len(),
        5,
        "id, name, contactEmail, createdAt, token: {created}"
    );

    let list = get(&host, "/admin/v1/providers").await;
    assert_eq!(list["$meta"]["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert!(!keys(&list).contains(&"token".to_owned()), "{list}");
    assert!(!list.to_string().contains(&token));

    // The token is a provider's credential: the registry accepts it.
    assert_eq!(
        Principal::resolve(&host.state, &token).await.unwrap(),
        Principal::Scoped(Scope::Provider(id.clone()))
    );
    let response = host
        .client
        .get(host.url("/public/v1/notifications/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = host
        .client
        .get(host.url("/public/v1/notifications/webhooks"))
        .bearer_auth("hhp_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn tenants_get_api_users_and_keys_shown_once(db: Db) {
    let host = TestHost::start(db).await;
    let tenant_id = tenant(&host, "Immobilien Muster GmbH").await;
    assert!(tenant_id.starts_with("TEN-"));
    let list = get(&host, "/admin/v1/tenants").await;
    assert_eq!(list["data"][0]["name"], "Immobilien Muster GmbH");

    let path = format!("/admin/v1/tenants/{tenant_id}/api-users");
    let user = post_ok(&host, &path, json!({}), StatusCode::CREATED).await;
    assert!(user["id"].as_str().unwrap().starts_with("USR-"), "{user}");
    assert_eq!(user["tenantId"], tenant_id.as_str());
    assert_eq!(user["marketplace"], false);
    let token = user["token"].as_str().unwrap();
    let secret = user["secret"].as_str().unwrap();
    assert_eq!((token.len(), secret.len()), (32, 64));
    let (found, stored_secret) = host
        .store()
        .api_user_by_token(&host.state.key, token)
        .await
        .unwrap()
        .expect("the token authenticates");
    assert_eq!(
        (found.tenant_id.as_str(), found.marketplace),
        (tenant_id.as_str(), false)
    );
    assert_eq!(stored_secret, secret);

    let marketplace = post_ok(
        &host,
        &path,
        json!({"marketplace": true}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(marketplace["marketplace"], true);
    let (found, _) = host
        .store()
        .api_user_by_token(&host.state.key, marketplace["token"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(found.marketplace);

    let created = post_ok(
        &host,
        &format!("/admin/v1/tenants/{tenant_id}/api-keys"),
        json!({}),
        StatusCode::CREATED,
    )
    .await;
    assert!(created["id"].as_str().unwrap().starts_with("KEY-"));
    assert_eq!(created["tenantId"], tenant_id.as_str());
    let key = created["key"].as_str().unwrap();
    assert_eq!(
        Principal::resolve(&host.state, key).await.unwrap(),
        Principal::Scoped(Scope::Tenant(tenant_id.clone()))
    );

    // No list shows any credential again.
    for path in [
        "/admin/v1/tenants",
        "/admin/v1/providers",
        "/admin/v1/services",
    ] {
        let list = get(&host, path).await.to_string();
        for secret in [token, secret, key] {
            assert!(!list.contains(secret), "{path}: {list}");
        }
    }
}

async fn deactivated_keys_are_refused(db: Db) {
    let host = TestHost::start(db).await;
    let tenant_id = tenant(&host, "Muster").await;
    let other = tenant(&host, "Other").await;
    let created = post_ok(
        &host,
        &format!("/admin/v1/tenants/{tenant_id}/api-keys"),
        json!({}),
        StatusCode::CREATED,
    )
    .await;
    let (key_id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    assert!(host.store().api_key(key).await.unwrap().is_some());

    // Another tenant cannot deactivate it.
    let response = post(
        &host,
        &format!("/admin/v1/tenants/{other}/api-keys/{key_id}/deactivate"),
        json!({}),
    )
    .await;
    problem(response, StatusCode::NOT_FOUND).await;
    assert!(host.store().api_key(key).await.unwrap().is_some());

    let path = format!("/admin/v1/tenants/{tenant_id}/api-keys/{key_id}/deactivate");
    for _ in 0..2 {
        // Twice: deactivating an inactive key is not an error.
        let response = host
            .client
            .post(host.url(&path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert!(host.store().api_key(key).await.unwrap().is_none());
    assert!(Principal::resolve(&host.state, key).await.is_err());
    let response = host
        .client
        .get(host.url("/public/v1/notifications/webhooks"))
        .header("authorization", format!("rest_api_key={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn services_and_activations(db: Db) {
    let host = TestHost::start(db).await;
    let provider = post_ok(
        &host,
        "/admin/v1/providers",
        json!({"name": "Valuation AG"}),
        StatusCode::CREATED,
    )
    .await;
    let provider_id = provider["id"].as_str().unwrap();
    let tenant_id = tenant(&host, "Muster").await;

    let service = post_ok(
        &host,
        "/admin/v1/services",
        json!({"name": "Property valuation", "providerId": provider_id,
               "acceptedParameters": ["price_per_sqm.default", "asking_price_weight"]}),
        StatusCode::CREATED,
    )
    .await;
    let service_id = service["id"].as_str().unwrap();
    assert!(service_id.starts_with("SVC-"));
    assert_eq!(service["providerId"], provider_id);
    assert_eq!(service["tenantId"], Value::Null);
    assert_eq!(
        service["acceptedParameters"],
        json!(["price_per_sqm.default", "asking_price_weight"])
    );
    let private = post_ok(
        &host,
        "/admin/v1/services",
        json!({"name": "Our own automation", "tenantId": tenant_id}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(private["tenantId"], tenant_id.as_str());
    assert_eq!(private["acceptedParameters"], json!([]));

    let list = get(&host, "/admin/v1/services").await;
    assert_eq!(list["$meta"]["pagination"]["total"], 2);
    // Pages of one: both services, each once (created in the same millisecond, their order
    // is the ids').
    let mut paged = Vec::new();
    for offset in 0..2 {
        let page = get(
            &host,
            &format!("/admin/v1/services?offset={offset}&limit=1"),
        )
        .await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
        paged.push(page["data"][0]["id"].as_str().unwrap().to_owned());
    }
    paged.sort();
    let mut expected = vec![
        service_id.to_owned(),
        private["id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(paged, expected);

    let body = json!({"tenantId": tenant_id, "serviceId": service_id,
                      "parameters": {"price_per_sqm.default": "3400"}});
    let activation = post_ok(&host, "/admin/v1/activations", body, StatusCode::CREATED).await;
    assert_eq!(
        activation["parameters"],
        json!({"price_per_sqm.default": "3400"})
    );
    let first_created = activation["createdAt"].clone();
    // Activating again replaces the parameters: 200, and the first activation time stays.
    let body = json!({"tenantId": tenant_id, "serviceId": service_id,
                      "parameters": {"price_per_sqm.default": "3600"}});
    let again = post_ok(&host, "/admin/v1/activations", body, StatusCode::OK).await;
    assert_eq!(again["createdAt"], first_created);
    let stored = host
        .store()
        .activation(&tenant_id, service_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.parameters["price_per_sqm.default"], "3600");

    // Parameters may be left out.
    let body = json!({"tenantId": tenant_id, "serviceId": private["id"]});
    post_ok(&host, "/admin/v1/activations", body, StatusCode::CREATED).await;

    // The operator lists every activation, with names; RQL filters them.
    let other_tenant = tenant(&host, "Andere").await;
    let body = json!({"tenantId": other_tenant, "serviceId": service_id});
    post_ok(&host, "/admin/v1/activations", body, StatusCode::CREATED).await;
    let all = get(&host, "/admin/v1/activations").await;
    assert_eq!(all["$meta"]["pagination"]["total"], 3, "{all}");
    let of_service = get(
        &host,
        &format!("/admin/v1/activations?eq(serviceId,{service_id})&order=tenantId"),
    )
    .await;
    let mut expected = vec![tenant_id.clone(), other_tenant.clone()];
    expected.sort();
    let listed: Vec<&str> = of_service["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, expected, "{of_service}");
    let muster = of_service["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tenantId"] == tenant_id.as_str())
        .unwrap();
    assert_eq!(
        (
            muster["tenantName"].as_str(),
            muster["serviceName"].as_str()
        ),
        (Some("Muster"), Some("Property valuation"))
    );
    assert_eq!(muster["parameters"]["price_per_sqm.default"], "3600");

    // The provider lists the activations of its services (not the tenant's private one); a
    // tenant its own; the admin token is not a caller of the public API.
    let as_provider = host
        .as_bearer(provider["token"].as_str().unwrap())
        .get("/public/v1/activations")
        .await;
    assert_eq!(as_provider.0, StatusCode::OK, "{}", as_provider.1);
    assert_eq!(
        as_provider.1["$meta"]["pagination"]["total"], 2,
        "{}",
        as_provider.1
    );
    assert!(
        as_provider.1["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["serviceId"] == service_id),
        "{}",
        as_provider.1
    );
    let key = post_ok(
        &host,
        &format!("/admin/v1/tenants/{other_tenant}/api-keys"),
        json!({}),
        StatusCode::CREATED,
    )
    .await;
    let as_tenant = host
        .as_rest_key(key["key"].as_str().unwrap())
        .get("/public/v1/activations")
        .await;
    assert_eq!(as_tenant.0, StatusCode::OK, "{}", as_tenant.1);
    let own: Vec<&str> = as_tenant.1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(own, [other_tenant.as_str()], "{}", as_tenant.1);
    let (status, _) = host
        .as_bearer(ADMIN_TOKEN)
        .get("/public/v1/activations")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn private_services_stay_private(db: Db) {
    let host = TestHost::start(db).await;
    let owner = tenant(&host, "Owner").await;
    let intruder = tenant(&host, "Intruder").await;
    let private = post_ok(
        &host,
        "/admin/v1/services",
        json!({"name": "Private", "tenantId": owner}),
        StatusCode::CREATED,
    )
    .await;
    let body = json!({"tenantId": intruder, "serviceId": private["id"]});
    let body = problem(
        post(&host, "/admin/v1/activations", body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("private"),
        "{body}"
    );
    let service_id = private["id"].as_str().unwrap();
    assert!(
        host.store()
            .activation(&intruder, service_id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn only_the_admin_token_opens_the_admin_api(db: Db) {
    let host = TestHost::start(db).await;
    let (_, provider_token) = host.store().create_provider("P").await.unwrap();
    let tenant = host.store().create_tenant("T").await.unwrap();
    let (_, tenant_key) = host.store().create_api_key(&tenant.id).await.unwrap();
    let posts = [
        "/admin/v1/providers".to_owned(),
        "/admin/v1/tenants".to_owned(),
        "/admin/v1/services".to_owned(),
        "/admin/v1/activations".to_owned(),
        format!("/admin/v1/tenants/{}/api-users", tenant.id),
        format!("/admin/v1/tenants/{}/api-keys", tenant.id),
        format!(
            "/admin/v1/tenants/{}/api-keys/KEY-1-1/deactivate",
            tenant.id
        ),
    ];
    let gets = [
        "/admin/v1/providers",
        "/admin/v1/tenants",
        "/admin/v1/services",
    ];
    for credential in [
        None,
        Some("wrong"),
        Some(provider_token.as_str()),
        Some(tenant_key.as_str()),
    ] {
        for path in &posts {
            let mut request = host.client.post(host.url(path)).json(&json!({"name": "x"}));
            if let Some(credential) = credential {
                request = request.bearer_auth(credential);
            }
            problem(request.send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
        }
        for path in gets {
            let mut request = host.client.get(host.url(path));
            if let Some(credential) = credential {
                request = request.bearer_auth(credential);
            }
            problem(request.send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
        }
    }
    // Nothing was created by the refused calls.
    assert_eq!(host.store().list_providers().await.unwrap().len(), 1);
    assert_eq!(host.store().list_tenants().await.unwrap().len(), 1);
}

async fn the_admin_api_is_closed_without_an_admin_token(db: Db) {
    let host = TestHost::start_with(db, |config| config.admin_token = None).await;
    for credential in [ADMIN_TOKEN, ""] {
        let response = host
            .client
            .get(host.url("/admin/v1/providers"))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
}

async fn bad_input_is_a_400_naming_the_field(db: Db) {
    let host = TestHost::start(db).await;
    let provider = host.store().create_provider("P").await.unwrap().0;
    let tenant = host.store().create_tenant("T").await.unwrap();

    // Malformed JSON.
    let response = host
        .client
        .post(host.url("/admin/v1/providers"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"));

    // Not JSON at all.
    let response = host
        .client
        .post(host.url("/admin/v1/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .body("name=x")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let cases = [
        (
            "/admin/v1/providers",
            json!({"name": "P", "token": "mine"}),
            "token",
        ),
        ("/admin/v1/providers", json!({}), "name"),
        ("/admin/v1/providers", json!({"name": 7}), "name"),
        ("/admin/v1/tenants", json!({"name": "   "}), "name"),
        ("/admin/v1/tenants", json!({"name": "a\u{0}b"}), "name"),
        ("/admin/v1/services", json!({"name": "S"}), "providerId"),
        (
            "/admin/v1/services",
            json!({"name": "S", "providerId": provider.id, "tenantId": tenant.id}),
            "tenantId",
        ),
        (
            "/admin/v1/services",
            json!({"name": "S", "providerId": provider.id, "acceptedParameters": ["a", "a"]}),
            "acceptedParameters[1]",
        ),
        (
            "/admin/v1/services",
            json!({"name": "S", "providerId": provider.id, "acceptedParameters": ["has space"]}),
            "acceptedParameters[0]",
        ),
        (
            "/admin/v1/services",
            json!({"name": "S", "providerId": provider.id, "owner": "x"}),
            "owner",
        ),
        (
            "/admin/v1/activations",
            json!({"tenantId": tenant.id}),
            "serviceId",
        ),
        (
            "/admin/v1/activations",
            json!({"tenantId": tenant.id, "serviceId": "SVC-1", "parameters": {"n": 5}}),
            "parameters",
        ),
        (
            "/admin/v1/activations",
            json!({"tenantId": tenant.id, "serviceId": "SVC-1", "parameters": {"": "x"}}),
            "parameters.",
        ),
        (
            &format!("/admin/v1/tenants/{}/api-users", tenant.id),
            json!({"marketplace": "yes"}),
            "marketplace",
        ),
        (
            &format!("/admin/v1/tenants/{}/api-users", tenant.id),
            json!({"admin": true}),
            "admin",
        ),
    ];
    for (path, body, field) in cases {
        let answer = problem(
            post(&host, path, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let detail = answer["detail"].as_str().unwrap();
        assert!(
            detail.contains(field),
            "POST {path} {body}: {field} not named in {answer}"
        );
    }

    // Our own checks also fill `errors` with the field.
    let answer = problem(
        post(&host, "/admin/v1/tenants", json!({"name": ""})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(answer["errors"]["name"].is_array(), "{answer}");

    let answer = problem(
        host.client
            .get(host.url("/admin/v1/tenants?limit=0"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(answer["errors"]["limit"].is_array(), "{answer}");

    // Nothing was created by the refused calls.
    assert_eq!(host.store().list_providers().await.unwrap().len(), 1);
    assert_eq!(host.store().list_tenants().await.unwrap().len(), 1);
    assert!(host.store().list_services().await.unwrap().is_empty());
}

async fn unknown_ids_are_404(db: Db) {
    let host = TestHost::start(db).await;
    let provider = host.store().create_provider("P").await.unwrap().0;
    let tenant = host.store().create_tenant("T").await.unwrap();
    let service = host
        .store()
        .create_service(&Scope::Provider(provider.id.clone()), "S", &[])
        .await
        .unwrap();
    let cases = [
        (
            "/admin/v1/services".to_owned(),
            json!({"name": "S", "providerId": "PRV-0000-0000"}),
            "provider PRV-0000-0000",
        ),
        (
            "/admin/v1/services".to_owned(),
            json!({"name": "S", "tenantId": "TEN-0000-0000"}),
            "tenant TEN-0000-0000",
        ),
        (
            "/admin/v1/activations".to_owned(),
            json!({"tenantId": "TEN-0000-0000", "serviceId": service.id}),
            "tenant TEN-0000-0000",
        ),
        (
            "/admin/v1/activations".to_owned(),
            json!({"tenantId": tenant.id, "serviceId": "SVC-0000-0000"}),
            "service SVC-0000-0000",
        ),
        (
            "/admin/v1/tenants/TEN-0000-0000/api-users".to_owned(),
            json!({}),
            "tenant TEN-0000-0000",
        ),
        (
            "/admin/v1/tenants/TEN-0000-0000/api-keys".to_owned(),
            json!({}),
            "tenant TEN-0000-0000",
        ),
        (
            "/admin/v1/tenants/TEN-0000-0000/api-keys/KEY-0000-0000/deactivate".to_owned(),
            json!({}),
            "tenant TEN-0000-0000",
        ),
        (
            format!(
                "/admin/v1/tenants/{}/api-keys/KEY-0000-0000/deactivate",
                tenant.id
            ),
            json!({}),
            "KEY-0000-0000",
        ),
    ];
    for (path, body, named) in cases {
        let answer = problem(
            post(&host, &path, body.clone()).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(
            answer["detail"].as_str().unwrap().contains(named),
            "POST {path} {body}: {answer}"
        );
    }
    assert!(host.store().list_services().await.unwrap().len() == 1);
}
