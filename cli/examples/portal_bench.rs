//! Portal benchmark: how long the portal's pages take with a large call log.
//!
//! Run with `cargo run --release -p hookhost-cli --example portal_bench [calls] [database_url]`
//! (defaults: 100,000 calls, a fresh SQLite file; `postgres://postgres@127.0.0.1:5432/test`
//! creates a fresh database on that server instead). It starts the host in process, writes
//! `calls` calls of one webhook over the last 24 hours through the store's own call-log writer
//! (the statistics and hourly sums with them), signs in a portal session for the provider
//! and requests each page over loopback HTTP, printing the time to the last byte per page.

use hookhost::config::Config;
use hookhost::crypto::MasterKey;
use hookhost::portal::i18n::Locale;
use hookhost::portal::session::{Role, Session};
use hookhost::sandbox::{LogLine, LogSource};
use hookhost::store::{Call, CallDetail, CallRecord, Handler, Scope, WebhookSpec};
use hookhost::time::{format_ms, now_ms};
use hookhost::vocab::TriggerSource;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Requests per page.
const ROUNDS: usize = 50;

async fn database(arg: Option<&str>, dir: &std::path::Path) -> anyhow::Result<String> {
    let Some(admin) = arg else {
        return Ok(hookhost::store::default_sqlite_url(dir));
    };
    let name = format!(
        "hookhost_bench_{}",
        hookhost::crypto::random_alphanumeric(10).to_lowercase()
    );
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

fn call(at: i64, ms: i64, success: bool) -> Call {
    Call {
        success,
        call_time: format_ms(at),
        response_time: Some(format_ms(at + ms)),
        headers: "content-type: application/json".into(),
        error: if success {
            String::new()
        } else {
            "the plugin rejected the call".into()
        },
        response: r#"{"marktwert": 351000, "changed": true}"#.into(),
        reason_phrase: if success {
            "OK".into()
        } else {
            "rejected".into()
        },
        http_status_code: if success { 200 } else { 0 },
        skipped: None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.data_dir = dir.path().to_owned();
    config.database_url = database(args.get(2).map(String::as_str), dir.path()).await?;
    config.master_key = Some(MasterKey::generate_base64());
    config.delivery.enabled = false;
    config.process.enabled = false;
    let state = hookhost::server::build_state(config).await?;
    let store = state.store.clone();

    let (provider, token) = store.create_provider("Bench Provider").await?;
    let provider = Scope::Provider(provider.id);
    let service = store.create_service(&provider, "Bench", &[]).await?.id;
    let tenant = store.create_tenant("Bench Tenant").await?.id;
    store
        .activate(&state.key, &tenant, &service, &Default::default())
        .await?;
    let spec = WebhookSpec::new(&service, Handler::Url("https://hooks.example.com/a".into()))
        .description("Bench webhook")
        .modules(["estate"]);
    let (webhook, _) = store.create_webhook(&state.key, &provider, &spec).await?;
    for n in 0..9 {
        let spec = WebhookSpec::new(
            &service,
            Handler::Url(format!("https://hooks.example.com/{n}")),
        )
        .description(format!("Other webhook {n}"));
        store.create_webhook(&state.key, &provider, &spec).await?;
    }

    let clock = Instant::now();
    let start = now_ms() - 24 * 3_600_000;
    let step = (24 * 3_600_000 / calls.max(1)) as i64;
    let records: Vec<CallRecord> = (0..calls)
        .map(|i| {
            let ms = [2, 3, 4, 8, 15, 40, 120][i % 7];
            CallRecord {
                webhook_id: webhook.id.clone(),
                tenant_id: tenant.clone(),
                delivery_id: Some(format!("DLV-{i}")),
                attempt: 1,
                trigger: TriggerSource::Smartml,
                call: call(start + i as i64 * step, ms, i % 50 != 0),
                detail: CallDetail {
                    request: format!(
                        r#"{{"recordId":"{i}","module":"estate","event":"update","data":{{"kaufpreis":"{}","wohnflaeche":"{}"}}}}"#,
                        250_000 + i,
                        60 + i % 90
                    ),
                    log: vec![LogLine {
                        source: LogSource::Info,
                        message: format!("valued record {i}"),
                    }],
                },
            }
        })
        .collect();
    for batch in records.chunks(512) {
        store.record_calls(batch).await?;
    }
    println!(
        "{} calls written in {:.1} s ({})",
        calls,
        clock.elapsed().as_secs_f64(),
        if args.get(2).is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        hookhost::server::run(listener, server_state, async {
            let _ = stopped.await;
        })
        .await
    });
    let session = Session {
        role: Role::of(&provider),
        locale: Locale::De,
        expires_at: now_ms() + 3_600_000,
    };
    let portal = format!("{base}/portal/s/{}", session.seal(&state.key));
    let client = reqwest::Client::new();
    let middle: String = {
        let (page, _) = store
            .list_calls(&webhook.id, None, (calls / 2) as i64, 1)
            .await?;
        page[0].id.clone()
    };
    let id = &webhook.id;
    let rest = format!("{base}/public/v1/notifications/webhooks/{id}");
    let pages = [
        ("REST: the webhook", rest.clone()),
        (
            "REST: its statistics (24 hours)",
            format!("{rest}/statistics"),
        ),
        (
            "REST: its first 50 calls",
            format!("{rest}/calls?order=-id&limit=50"),
        ),
        (
            "REST: its first 50 failed calls",
            format!("{rest}/calls?order=-id&limit=50&eq(success,false)"),
        ),
        (
            "webhooks list (10 webhooks, sparklines)",
            format!("{portal}/webhooks"),
        ),
        (
            "webhook page (statistics, first 50 calls)",
            format!("{portal}/webhooks/{id}"),
        ),
        (
            "webhook page, failed calls only",
            format!("{portal}/webhooks/{id}?result=failed"),
        ),
        (
            "older calls from the middle of the log",
            format!("{portal}/webhooks/{id}/calls?before={middle}"),
        ),
    ];
    println!("{ROUNDS} requests per page, time to the last byte:");
    for (what, url) in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let clock = Instant::now();
            let answer = client.get(&url).bearer_auth(&token).send().await?;
            anyhow::ensure!(answer.status().is_success(), "{what}: {}", answer.status());
            bytes = answer.bytes().await?.len();
            times.push(clock.elapsed());
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / ROUNDS as u32;
        println!(
            "  {what:<44} p50 {:>6.1} ms  p99 {:>6.1} ms  mean {:>6.1} ms  ({} KiB)",
            ms(times[ROUNDS / 2]),
            ms(times[ROUNDS * 99 / 100]),
            ms(mean),
            bytes / 1024
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
