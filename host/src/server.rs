//! Starting the HTTP server: state from configuration, graceful shutdown.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::sandbox::Runtime;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Opens the database (migrating it), builds the runtime, the executor and the call
/// recorder, and loads the master key.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = Store::open(&config.database_url())
        .await?
        .with_quotas(config.quotas);
    let runtime = Runtime::new(config.sandbox.clone(), Some(&config.compiled_dir()))?;
    let key = config.master_key()?;
    let remote = crate::exec::RemoteClient::new(
        crate::exec::RemoteConfig {
            egress: config.egress()?,
            connect_timeout: Duration::from_millis(config.outbound.connect_timeout_ms),
            timeout: Duration::from_millis(config.outbound.timeout_ms),
            issuer: config.outbound.issuer.clone(),
        },
        key.clone(),
    )?;
    let executor = crate::exec::Executor::new(store.clone(), runtime.clone(), remote, key.clone());
    let recorder = crate::recorder::Recorder::start(store.clone());
    Ok(AppState::new(crate::api::Parts {
        store,
        runtime,
        key,
        config: Arc::new(config),
        executor,
        recorder,
        wake: Arc::default(),
    }))
}

/// Serves the API on `listener` and runs delivery workers until `shutdown` resolves; then
/// stops accepting, lets calls in flight finish and releases what is left.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = &state.config;
    let grace = Duration::from_millis(
        config
            .sandbox
            .ceilings
            .timeout_ms
            .max(config.outbound.timeout_ms),
    );
    let workers = config.delivery.enabled.then(|| {
        let mailer = crate::mail::Mailer::new(&config.smtp).unwrap_or_else(|error| {
            // The configuration was validated at start-up; this cannot normally happen.
            tracing::error!(error = %error, "the SMTP settings are unusable: owners get no e-mails");
            crate::mail::Mailer::off()
        });
        crate::delivery::Deliverer {
            store: state.store.clone(),
            executor: state.executor.clone(),
            recorder: state.recorder.clone(),
            wake: state.wake.clone(),
            config: config.delivery.clone(),
            worker_id: format!("{}-{}", hostname(), crate::crypto::random_alphanumeric(8)),
            busy: Arc::default(),
            tokens: Arc::default(),
            mailer,
        }
        .start(grace)
    });
    let scheduler = config.process.enabled.then(|| {
        let id = format!("{}-{}", hostname(), crate::crypto::random_alphanumeric(8));
        crate::process::Scheduler::new(
            state.store.clone(),
            state.wake.clone(),
            config.process.clone(),
            &config.smtp,
            id,
        )
        .start()
    });
    let recorder = state.recorder.clone();
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(scheduler) = scheduler {
        scheduler.shutdown(grace).await;
    }
    if let Some(workers) = workers {
        workers.shutdown(grace).await;
    }
    recorder.flush().await;
    served
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hookhost".into())
}

/// `hookhost serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.listen).await?;
    let state = build_state(config).await?;
    tracing::info!(addr = %listener.local_addr()?, allocator = ?state.runtime.allocator(), "listening");
    run(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
