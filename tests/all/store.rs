//! The store's behaviour, identical on SQLite and PostgreSQL.

use crate::support::{Db, StoreGuard, fresh_database, fresh_store};
use hookhost::crypto::MasterKey;
use hookhost::sandbox::KvStore;
use hookhost::store::{
    Call, CallDetail, CallRecord, DbKv, Handler, Scope, Store, StoreError, WebhookSpec,
};
use hookhost::vocab::TriggerSource;
use std::collections::BTreeMap;

both_backends!(
    migrations_are_idempotent,
    credentials_are_found_by_hash_only,
    secrets_are_encrypted_at_rest,
    activations_respect_private_services,
    kv_is_scoped_per_tenant_and_service,
    concurrent_calls_are_counted_exactly,
    the_call_log_reads_newest_first_and_counts_a_tenants_own_run_of_failures,
    a_batch_of_many_statements_keeps_the_last_calls,
    the_pumps_call_log_entries_are_read_as_soon_as_written,
    stale_revisions_are_refused,
    components_in_use_cannot_be_deleted,
    replay_entries_keep_their_hmac_under_the_new_key,
);

fn key() -> MasterKey {
    MasterKey::from_base64(&MasterKey::generate_base64()).unwrap()
}

fn spec(service_id: &str, handler: Handler) -> WebhookSpec {
    WebhookSpec::new(service_id, handler)
        .description("test")
        .modules(["estate"])
}

async fn provider_with_service(store: &Store) -> (Scope, String) {
    let (provider, _) = store.create_provider("Valuation GmbH").await.unwrap();
    let scope = Scope::Provider(provider.id);
    let service = store
        .create_service(&scope, "Valuation", &[])
        .await
        .unwrap();
    (scope, service.id)
}

async fn migrations_are_idempotent(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.list_providers().await.unwrap().is_empty());
}

async fn credentials_are_found_by_hash_only(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let (provider, token) = store.create_provider("P").await.unwrap();
    assert!(token.starts_with("hhp_"));
    assert_eq!(
        store.provider_by_token(&token).await.unwrap().unwrap().id,
        provider.id
    );
    assert!(
        store
            .provider_by_token("hhp_wrong")
            .await
            .unwrap()
            .is_none()
    );

    let tenant = store.create_tenant("T").await.unwrap();
    let (api_key, key_text) = store.create_api_key(&tenant.id).await.unwrap();
    assert_eq!(
        store.api_key(&key_text).await.unwrap().unwrap().tenant_id,
        tenant.id
    );
    store
        .deactivate_api_key(&tenant.id, &api_key.id)
        .await
        .unwrap();
    assert!(
        store.api_key(&key_text).await.unwrap().is_none(),
        "a deactivated key is refused"
    );

    // Nothing stored reveals a credential.
    let rows = sqlx::query("SELECT token_hash FROM providers")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let stored: String = sqlx::Row::get(&rows[0], "token_hash");
    assert_ne!(stored, token);
}

async fn secrets_are_encrypted_at_rest(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let key = key();
    let tenant = store.create_tenant("T").await.unwrap();
    let creds = store
        .create_api_user(&key, &tenant.id, false)
        .await
        .unwrap();
    assert_eq!((creds.token.len(), creds.secret.len()), (32, 64));
    let (user, secret) = store
        .api_user_by_token(&key, &creds.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.id.as_str(), secret.as_str()),
        (creds.user.id.as_str(), creds.secret.as_str())
    );
    let other = self::key();
    assert!(matches!(
        store.api_user_by_token(&other, &creds.token).await,
        Err(StoreError::Corrupt(_))
    ));

    let (scope, service) = provider_with_service(&store).await;
    let (webhook, secret) = store
        .create_webhook(
            &key,
            &scope,
            &spec(&service, Handler::Url("https://example.com/hook".into())),
        )
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        store.webhook_secret(&key, &webhook.id).await.unwrap(),
        secret
    );
    let row = sqlx::query("SELECT secret_enc FROM webhooks")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let sealed: Vec<u8> = sqlx::Row::get(&row, "secret_enc");
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret[6..]));
}

async fn activations_respect_private_services(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let a = store.create_tenant("A").await.unwrap();
    let b = store.create_tenant("B").await.unwrap();
    let private = store
        .create_service(&Scope::Tenant(a.id.clone()), "A's automation", &[])
        .await
        .unwrap();
    store
        .activate(&key(), &a.id, &private.id, &BTreeMap::new())
        .await
        .unwrap();
    let refused = store
        .activate(&key(), &b.id, &private.id, &BTreeMap::new())
        .await;
    assert!(
        matches!(refused, Err(StoreError::Forbidden(_))),
        "{refused:?}"
    );

    let (_, service) = provider_with_service(&store).await;
    let params = BTreeMap::from([("price_per_sqm.default".to_owned(), "4000".to_owned())]);
    store
        .activate(&key(), &b.id, &service, &params)
        .await
        .unwrap();
    let changed = BTreeMap::from([("price_per_sqm.default".to_owned(), "4500".to_owned())]);
    store
        .activate(&key(), &b.id, &service, &changed)
        .await
        .unwrap();
    let activation = store.activation(&b.id, &service).await.unwrap().unwrap();
    assert_eq!(activation.parameters, changed);
    assert!(store.activation(&a.id, &service).await.unwrap().is_none());
}

async fn kv_is_scoped_per_tenant_and_service(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let a = DbKv::new(store.clone(), "TEN-A", "SVC-1");
    let b = DbKv::new(store.clone(), "TEN-B", "SVC-1");
    let a2 = DbKv::new(store.clone(), "TEN-A", "SVC-2");
    a.set("inputs/1", b"one").await.unwrap();
    a.set("inputs/2", b"two").await.unwrap();
    a.set("inputz", b"other").await.unwrap();
    a.set("inputs/1", b"uno").await.unwrap();
    assert_eq!(a.get("inputs/1").await.unwrap().unwrap(), b"uno");
    assert!(b.get("inputs/1").await.unwrap().is_none());
    assert!(a2.get("inputs/1").await.unwrap().is_none());
    assert_eq!(
        a.list_keys("inputs/").await.unwrap(),
        ["inputs/1", "inputs/2"]
    );
    a.delete("inputs/1").await.unwrap();
    a.delete("never-there").await.unwrap();
    assert_eq!(a.list_keys("").await.unwrap(), ["inputs/2", "inputz"]);
}

fn call(success: bool) -> Call {
    Call {
        success,
        call_time: "2026-11-24T06:00:00.000Z".into(),
        response_time: Some("2026-11-24T06:00:00.010Z".into()),
        headers: String::new(),
        error: if success {
            String::new()
        } else {
            "boom".into()
        },
        response: "{}".into(),
        reason_phrase: if success {
            "OK".into()
        } else {
            "Internal Server Error".into()
        },
        http_status_code: if success { 200 } else { 500 },
        skipped: None,
    }
}

/// A provider's URL webhook in a fresh store.
async fn store_with_url_webhook(db: Db) -> (Store, StoreGuard, Scope, String) {
    let (store, guard) = fresh_store(db).await;
    let (scope, service) = provider_with_service(&store).await;
    let (webhook, _) = store
        .create_webhook(
            &key(),
            &scope,
            &spec(&service, Handler::Url("https://example.com/h".into())),
        )
        .await
        .unwrap();
    (store, guard, scope, webhook.id)
}

async fn concurrent_calls_are_counted_exactly(db: Db) {
    let (store, _guard, scope, webhook_id) = store_with_url_webhook(db).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (store, id) = (store.clone(), webhook_id.clone());
        tasks.push(tokio::spawn(async move {
            store.record_call(&id, &call(i % 3 != 0)).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // In order now: a success resets the run of failures, a failure starts a new one.
    store.record_call(&webhook_id, &call(true)).await.unwrap();
    store.record_call(&webhook_id, &call(false)).await.unwrap();
    let after = store.webhook(&scope, &webhook_id).await.unwrap();
    assert_eq!(after.statistics.total, 62);
    assert_eq!(after.statistics.successes, 41);
    assert_eq!(after.statistics.failures, 21);
    assert_eq!(after.statistics.failures_since_last_success, 1);
    assert!(after.last_failure.is_some() && after.last_success.is_some());
    assert_eq!(after.last_call, Some(call(false)));
}

async fn the_call_log_reads_newest_first_and_counts_a_tenants_own_run_of_failures(db: Db) {
    let (store, _guard, _, webhook_id) = store_with_url_webhook(db).await;
    let record = |tenant: &str, success: bool, n: usize| {
        let mut call = call(success);
        call.response = format!("call {n}");
        CallRecord::synchronous(
            &webhook_id,
            tenant,
            TriggerSource::Ivanti,
            call,
            CallDetail::default(),
        )
    };
    // Tenant A: failure, success, then two failures (one in a batch with B's success, one in
    // a batch of its own); B: one success.
    let batches = [
        vec![record("TEN-A", false, 0)],
        vec![record("TEN-A", true, 1)],
        vec![record("TEN-A", false, 2), record("TEN-B", true, 3)],
        vec![record("TEN-A", false, 4)],
    ];
    for batch in &batches {
        store.record_calls(batch).await.unwrap();
    }
    let (calls, total) = store.list_calls(&webhook_id, None, 0, 10).await.unwrap();
    assert_eq!(total, 5);
    let order: Vec<&str> = calls.iter().map(|c| c.call.response.as_str()).collect();
    assert_eq!(order, ["call 4", "call 3", "call 2", "call 1", "call 0"]);
    let (own, total) = store
        .list_calls(&webhook_id, Some("TEN-A"), 1, 2)
        .await
        .unwrap();
    assert_eq!(total, 4);
    let order: Vec<&str> = own.iter().map(|c| c.call.response.as_str()).collect();
    assert_eq!(order, ["call 2", "call 1"]);

    let a = store.tenant_statistics(&webhook_id, "TEN-A").await.unwrap();
    assert_eq!(
        (
            a.total,
            a.successes,
            a.failures,
            a.failures_since_last_success
        ),
        (4, 1, 3, 2)
    );
    let b = store.tenant_statistics(&webhook_id, "TEN-B").await.unwrap();
    assert_eq!(
        (
            b.total,
            b.successes,
            b.failures,
            b.failures_since_last_success
        ),
        (1, 1, 0, 0)
    );
    // A tenant that never succeeded: every failure counts.
    store
        .record_calls(&[record("TEN-C", false, 5), record("TEN-C", false, 6)])
        .await
        .unwrap();
    let c = store.tenant_statistics(&webhook_id, "TEN-C").await.unwrap();
    assert_eq!((c.total, c.failures_since_last_success), (2, 2));
}

/// A batch longer than one INSERT's rows: the last calls the webhook keeps are the batch's
/// own last ones, wherever they fall among the statements.
async fn a_batch_of_many_statements_keeps_the_last_calls(db: Db) {
    let (store, _guard, scope, webhook_id) = store_with_url_webhook(db).await;
    let batch: Vec<CallRecord> = (0..100)
        .map(|n| {
            let mut call = call(n % 5 != 4);
            call.response = format!("call {n}");
            CallRecord::synchronous(
                &webhook_id,
                "TEN-A",
                TriggerSource::Ivanti,
                call,
                CallDetail::default(),
            )
        })
        .collect();
    store.record_calls(&batch).await.unwrap();
    let after = store.webhook(&scope, &webhook_id).await.unwrap();
    let statistics = &after.statistics;
    assert_eq!(
        (
            statistics.total,
            statistics.successes,
            statistics.failures,
            statistics.failures_since_last_success
        ),
        (100, 80, 20, 1)
    );
    let response = |call: Option<Call>| call.map(|c| c.response);
    assert_eq!(response(after.last_success), Some("call 98".into()));
    assert_eq!(response(after.last_failure), Some("call 99".into()));
    assert_eq!(response(after.last_call), Some("call 99".into()));
    let (_, total) = store.list_calls(&webhook_id, None, 0, 10).await.unwrap();
    assert_eq!(total, 100);
}

/// The pump's call-log entries are staged on SQLite and folded into the log in batches; every
/// reader sees them at once all the same, and a batch as large as a fold lands in the log in
/// the pump's own transaction.
async fn the_pumps_call_log_entries_are_read_as_soon_as_written(db: Db) {
    let (store, _guard, scope, webhook_id) = store_with_url_webhook(db).await;
    let records = |n: usize, from: usize| -> Vec<CallRecord> {
        (from..from + n)
            .map(|i| {
                let mut call = call(i % 3 != 0);
                call.response = format!("call {i}");
                CallRecord::synchronous(
                    &webhook_id,
                    "TEN-A",
                    TriggerSource::Smartml,
                    call,
                    CallDetail::default(),
                )
            })
            .collect()
    };
    let none = hookhost::store::Claim {
        limit: 0,
        lease_ms: 1_000,
        expired: false,
    };
    let count = async |sql: &'static str| -> i64 {
        sqlx::Row::get(
            &sqlx::query(sql).fetch_one(store.pool()).await.unwrap(),
            "n",
        )
    };
    let sqlite = store.backend() == hookhost::store::Backend::Sqlite;

    store
        .finish_and_claim("worker", &[], &records(10, 0), none)
        .await
        .unwrap();
    if sqlite {
        assert_eq!(count("SELECT COUNT(*) AS n FROM calls_staged").await, 10);
        assert_eq!(count("SELECT COUNT(*) AS n FROM calls").await, 0, "staged");
    }
    let (page, total) = store.list_calls(&webhook_id, None, 0, 3).await.unwrap();
    assert_eq!(total, 10, "a reader folds what is staged");
    let newest: Vec<&str> = page.iter().map(|c| c.call.response.as_str()).collect();
    assert_eq!(newest, ["call 9", "call 8", "call 7"]);
    let tenant = store.tenant_statistics(&webhook_id, "TEN-A").await.unwrap();
    assert_eq!((tenant.total, tenant.successes), (10, 6));
    if sqlite {
        assert_eq!(count("SELECT COUNT(*) AS n FROM calls_staged").await, 0);
    }

    // Enough for a fold: it happens in the pump's transaction, before any reader.
    store
        .finish_and_claim("worker", &[], &records(4_100, 10), none)
        .await
        .unwrap();
    assert_eq!(count("SELECT COUNT(*) AS n FROM calls").await, 4_110);
    if sqlite {
        assert_eq!(count("SELECT COUNT(*) AS n FROM calls_staged").await, 0);
    }
    let (page, total) = store.list_calls(&webhook_id, None, 0, 1).await.unwrap();
    assert_eq!(
        (total, page[0].call.response.as_str()),
        (4_110, "call 4109")
    );
    let statistics = store.webhook(&scope, &webhook_id).await.unwrap().statistics;
    assert_eq!(
        statistics.total, 4_110,
        "statistics are written with the entries"
    );
}

async fn stale_revisions_are_refused(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let key = key();
    let (scope, service) = provider_with_service(&store).await;
    let original = spec(&service, Handler::Url("https://example.com/h".into()));
    let (webhook, _) = store.create_webhook(&key, &scope, &original).await.unwrap();
    let mut first = original.clone();
    first.description = "first".into();
    let updated = store
        .update_webhook(&scope, &webhook.id, &first, Some(webhook.revision))
        .await
        .unwrap();
    assert_eq!(updated.revision, webhook.revision + 1);
    let mut second = original.clone();
    second.description = "second".into();
    let stale = store
        .update_webhook(&scope, &webhook.id, &second, Some(webhook.revision))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(
        store
            .webhook(&scope, &webhook.id)
            .await
            .unwrap()
            .description,
        "first"
    );
}

async fn components_in_use_cannot_be_deleted(db: Db) {
    let (store, _guard) = fresh_store(db).await;
    let key = key();
    let (scope, service) = provider_with_service(&store).await;
    let (runtime, _dir) = crate::support::runtime();
    let wasm = std::fs::read(hookhost_plugins::ECHO).unwrap();
    let plugin = runtime.load(&wasm).unwrap();
    let component = store
        .insert_component(&scope, "echo", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap();
    let again = store
        .insert_component(&scope, "echo", "1.0.0", &plugin.info, &wasm)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store
            .resolve_component(&scope, "echo@1.0.0")
            .await
            .unwrap()
            .id,
        component.id
    );
    let by_digest = format!("sha256:{}", plugin.info.digest);
    assert_eq!(
        store
            .resolve_component(&scope, &by_digest)
            .await
            .unwrap()
            .id,
        component.id
    );

    let (webhook, _) = store
        .create_webhook(
            &key,
            &scope,
            &spec(&service, Handler::Component(component.id.clone())),
        )
        .await
        .unwrap();
    let refused = store.delete_component(&scope, &component.id).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(m)) if m.contains(&webhook.id)),
        "{refused:?}"
    );
    store.delete_webhook(&scope, &webhook.id).await.unwrap();
    store.delete_component(&scope, &component.id).await.unwrap();
    assert_eq!(
        store
            .component_wasm(&component.id)
            .await
            .err()
            .map(|e| e.to_string()),
        Some("not found".into())
    );
}

/// Migration 0005 keys smartml replay entries by (token, hmac); entries written before, as
/// `hmac:digest of the action`, keep protecting their HMAC until they expire.
async fn replay_entries_keep_their_hmac_under_the_new_key(db: Db) {
    let (url, _guard) = fresh_database(db).await;
    let store = Store::connect(&url).await.unwrap();
    // The host's migrations (paths relative to the `hookhost-cli` package, `cli/`).
    let before = match store.backend() {
        hookhost::store::Backend::Sqlite => sqlx::migrate!("../host/migrations/sqlite"),
        hookhost::store::Backend::Postgres => sqlx::migrate!("../host/migrations/postgres"),
    };
    before.run_to(4, store.pool()).await.unwrap();
    let expires = hookhost::time::now_ms() + 600_000;
    for (token, timestamp, hmac) in [
        ("T1", 1, "AAAA=:digest-of-one-action"),
        ("T1", 1, "AAAA=:digest-of-another"),
        ("T1", 2, "BBBB="),
        ("T2", 1, "CCCC=:digest"),
    ] {
        sqlx::query(
            "INSERT INTO smartml_replay (token_hash, timestamp, hmac, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token)
        .bind(timestamp)
        .bind(hmac)
        .bind(expires)
        .execute(store.pool())
        .await
        .unwrap();
    }
    // The upgraded host starts afresh. (A SQLite connection that loaded the old schema may
    // still prepare against it: an upgrade is a restart.)
    store.pool().close().await;
    let store = Store::open(&url).await.unwrap();

    let hmacs: BTreeMap<String, i64> = ["AAAA=", "BBBB=", "CCCC=", "DDDD="]
        .into_iter()
        .map(|h| (h.to_owned(), expires))
        .collect();
    let new = store.first_uses_of_hmacs("T1", &hmacs).await.unwrap();
    let mut new: Vec<&str> = new.iter().map(String::as_str).collect();
    new.sort();
    assert_eq!(new, ["CCCC=", "DDDD="]);
    assert!(
        store
            .first_uses_of_hmacs("T1", &hmacs)
            .await
            .unwrap()
            .is_empty()
    );
}
