//! Running the real `hookhost` binary as a child process, for tests that must kill it
//! (SIGKILL, no graceful shutdown) and start it again on the same database.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A free TCP port on 127.0.0.1 (bound, then released: good enough for a test's own server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `hookhost serve` child process.
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
    /// Where its stdout and stderr go (appended across restarts).
    pub log: PathBuf,
}

impl HostProcess {
    /// Starts `hookhost serve --config <config>` listening on `base` (which the configuration
    /// names), logging to `log`; returns once `/readyz` answers.
    pub async fn start(config: &Path, base: &str, log: &Path) -> HostProcess {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookhost"));
        command
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true);
        // Only the file configures the child.
        for (name, _) in std::env::vars() {
            if name.starts_with("HOOKHOST_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().unwrap();
        let mut process = HostProcess {
            child,
            base: base.to_owned(),
            log: log.to_owned(),
        };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "hookhost exited during start-up ({status}); log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "hookhost did not become ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, leases stay taken until they expire.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// What the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
