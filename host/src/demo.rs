//! `hookhost demo`: the server on a fresh embedded SQLite database.

use crate::config::Config;
use crate::server;
use tokio::net::TcpListener;

/// Starts the demo server.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    config.outbound.allow_insecure = true;
    let listener = TcpListener::bind(&config.listen).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let state = server::build_state(config).await?;
    println!("hookhost demo listening on {base_url}");
    server::run(listener, state, server::shutdown_signal()).await?;
    Ok(())
}
