//! Starting the HTTP server: state from configuration, graceful shutdown.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::sandbox::Runtime;
use crate::store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Opens the database (migrating it), builds the runtime and loads the master key.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = Store::open(&config.database_url()).await?;
    let runtime = Runtime::new(config.sandbox.clone(), Some(&config.compiled_dir()))?;
    let key = config.master_key()?;
    Ok(AppState { store, runtime, key, config: Arc::new(config) })
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown).await
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
