//! Configuration: compiled-in defaults (`config/default.toml`), then a TOML file, then
//! `HOOKHOST_*` environment variables. Unknown keys are an error naming the key.

use crate::sandbox::SandboxConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The documented defaults.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// Environment variables with this prefix override configuration keys.
pub const ENV_PREFIX: &str = "HOOKHOST_";

/// Variables of the test suite (`HOOKHOST_TEST_PG`, …): never configuration keys.
const TEST_PREFIX: &str = "HOOKHOST_TEST_";

/// Variables with the prefix that are not configuration keys.
const NOT_KEYS: &[&str] = &["HOOKHOST_CONFIG"];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object a line: time, level, target, message and fields, and the spans.
    Json,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the database, the compiled-component cache and demo files live.
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: String,
    /// tracing filter.
    pub log: String,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line)
    /// for log collectors.
    pub log_format: LogFormat,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in `data_dir/hookhost.db`.
    pub database_url: String,
    /// Bearer token of the admin API; the admin API is off when unset.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Base64 of 32 bytes: encrypts stored secrets. When unset, `serve` keeps one in
    /// `data_dir/master.key` (created on first start).
    #[serde(default)]
    pub master_key: Option<String>,
    /// Outgoing calls to remote URL handlers.
    pub outbound: OutboundConfig,
    /// Delivery workers.
    pub delivery: crate::delivery::DeliveryConfig,
    /// The smartml dialect.
    pub smartml: SmartmlConfig,
    /// The component sandbox.
    pub sandbox: SandboxConfig,
    /// The process manager's step scheduler.
    pub process: crate::process::ProcessConfig,
    /// The SMTP server: overdue-process e-mails, and e-mails to webhook owners.
    pub smtp: crate::mail::SmtpConfig,
    /// OpenTelemetry traces (off unless an endpoint is set).
    pub tracing: crate::telemetry::TracingConfig,
    /// What one provider or tenant may keep.
    pub quotas: crate::store::Quotas,
    /// The web portal.
    pub portal: PortalConfig,
}

/// `[portal]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// Origins that may frame the portal (CSP `frame-ancestors`), besides the host itself.
    pub frame_ancestors: Vec<String>,
    /// Lifetime of a sign-in, in minutes.
    pub session_minutes: u64,
    /// Lifetime of a portal link (at most; a request may ask for less), in minutes.
    pub link_minutes: u64,
    /// The host's public address for portal links; empty: the request's `Host`.
    pub public_url: String,
}

/// `[outbound]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Allow `http://` URLs and loopback/private targets, for URL handlers and components'
    /// `allowedHosts` alike (development and tests only).
    pub allow_insecure: bool,
    /// An explicit forward proxy for every outgoing request; environment proxies are ignored.
    #[serde(default)]
    pub proxy: Option<String>,
    /// `ip:port` addresses allowed although not public (over http:// too): services of the
    /// operator's own. Names are never trusted.
    #[serde(default)]
    pub trusted: Vec<String>,
    /// Connect timeout of a call, in ms.
    pub connect_timeout_ms: u64,
    /// Whole-call timeout, in ms.
    pub timeout_ms: u64,
    /// `iss` claim of the bearer JWT sent with every call.
    pub issuer: String,
    /// After a secret rotation, the previous secret keeps signing (next to the new one) this
    /// many hours, so receivers can switch without losing calls.
    pub secret_grace_hours: u64,
}

/// `[smartml]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartmlConfig {
    /// Largest accepted difference between an action's timestamp and the server clock, in
    /// seconds (errorcode 136 beyond it); replays are refused inside it.
    pub timestamp_window_secs: i64,
    /// Most actions one request may carry (errorcode 15 beyond it, for the whole request).
    /// The actions of a request may share one HMAC, which covers neither the record nor the
    /// parameters: without a bound, one signed request could plan any number of deliveries.
    pub max_actions: usize,
}

impl Config {
    /// The defaults alone.
    pub fn defaults() -> Config {
        Self::layered(None, std::iter::empty()).expect("compiled-in defaults are valid")
    }

    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let file_text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Self::layered(file_text.as_deref(), std::env::vars())
    }

    /// Defaults, then the TOML text `file`, then `env` (`HOOKHOST_A__B=v` sets `a.b`).
    pub fn layered(
        file: Option<&str>,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut merged: toml::Table = DEFAULTS.parse()?;
        if let Some(text) = file {
            let table: toml::Table = text
                .parse()
                .map_err(|e| anyhow::anyhow!("config file: {e}"))?;
            merge(&mut merged, table);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NOT_KEYS.contains(&name.as_str()) || name.starts_with(TEST_PREFIX) {
                continue;
            }
            let path: Vec<String> = key.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut merged, &path, parse_env_value(&value))
                .map_err(|e| anyhow::anyhow!("environment variable {name}: {e}"))?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|e| {
                anyhow::anyhow!("invalid configuration at `{}`: {}", e.path(), e.inner())
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks relations between values that types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        let s = &self.sandbox;
        anyhow::ensure!(
            s.max_instances > 0,
            "sandbox.max_instances must be at least 1"
        );
        anyhow::ensure!(
            s.defaults.timeout_ms > 0,
            "sandbox.defaults.timeout_ms must be positive"
        );
        anyhow::ensure!(
            s.defaults.clamped_to(&s.ceilings) == s.defaults,
            "sandbox.defaults must not exceed sandbox.ceilings"
        );
        anyhow::ensure!(
            s.defaults.fuel.is_none() || s.fuel,
            "sandbox.defaults.fuel needs sandbox.fuel = true"
        );
        let p = &self.portal;
        for origin in &p.frame_ancestors {
            let url = url::Url::parse(origin).map_err(|e| {
                anyhow::anyhow!("portal.frame_ancestors: {origin:?} is not an origin: {e}")
            })?;
            anyhow::ensure!(
                matches!(url.scheme(), "https" | "http")
                    && url.host_str().is_some()
                    && url.origin().ascii_serialization() == origin.trim_end_matches('/'),
                "portal.frame_ancestors: {origin:?} must be an origin such as https://marketplace.example.com"
            );
        }
        anyhow::ensure!(
            (1..=7 * 24 * 60).contains(&p.session_minutes)
                && (1..=7 * 24 * 60).contains(&p.link_minutes),
            "portal.session_minutes and portal.link_minutes must be from 1 to 10080 (7 days)"
        );
        if !p.public_url.is_empty() {
            url::Url::parse(&p.public_url)
                .map_err(|e| anyhow::anyhow!("portal.public_url: {e}"))?;
        }
        let (o, d) = (&self.outbound, &self.delivery);
        anyhow::ensure!(
            o.connect_timeout_ms > 0,
            "outbound.connect_timeout_ms must be positive"
        );
        anyhow::ensure!(o.timeout_ms > 0, "outbound.timeout_ms must be positive");
        self.egress()?;
        anyhow::ensure!(
            o.secret_grace_hours <= 24 * 30,
            "outbound.secret_grace_hours must be at most 720 (30 days)"
        );
        anyhow::ensure!(d.concurrency > 0, "delivery.concurrency must be at least 1");
        anyhow::ensure!(
            d.per_webhook_concurrency > 0,
            "delivery.per_webhook_concurrency must be at least 1"
        );
        anyhow::ensure!(d.poll_ms > 0, "delivery.poll_ms must be positive");
        anyhow::ensure!(
            d.auto_disable_after >= 0,
            "delivery.auto_disable_after must be 0 (never) or more"
        );
        anyhow::ensure!(
            d.retention_days > 0,
            "delivery.retention_days must be at least 1"
        );
        anyhow::ensure!(
            d.prune_interval_ms > 0,
            "delivery.prune_interval_ms must be positive"
        );
        anyhow::ensure!(
            d.circuit_failures >= 0,
            "delivery.circuit_failures must be 0 (never) or more"
        );
        anyhow::ensure!(
            d.circuit_probe_ms > 0 && d.circuit_probe_max_ms >= d.circuit_probe_ms,
            "delivery.circuit_probe_ms must be positive and at most delivery.circuit_probe_max_ms"
        );
        anyhow::ensure!(
            d.circuit_disable_after_hours >= 0.0,
            "delivery.circuit_disable_after_hours must be 0 (never) or more"
        );
        anyhow::ensure!(
            self.smartml.max_actions > 0,
            "smartml.max_actions must be at least 1"
        );
        crate::process::validate_config(&self.process, &self.smtp)?;
        self.tracing.validate()?;
        let q = &self.quotas;
        for (name, value) in [
            ("components", q.components),
            ("component_bytes", q.component_bytes),
            ("webhooks", q.webhooks),
            ("kv_bytes", q.kv_bytes),
        ] {
            anyhow::ensure!(value > 0, "quotas.{name} must be at least 1");
        }
        let longest_call = s.ceilings.timeout_ms.max(self.outbound.timeout_ms) as i64;
        anyhow::ensure!(
            self.delivery.lease_ms > longest_call,
            "delivery.lease_ms ({}) must be longer than the longest call ({longest_call} ms: \
             sandbox.ceilings.timeout_ms, outbound.timeout_ms), or calls in flight get delivered twice",
            self.delivery.lease_ms
        );
        Ok(())
    }

    /// The egress guard every outgoing request goes through.
    pub fn egress(&self) -> anyhow::Result<crate::sandbox::Egress> {
        let trusted = self
            .outbound
            .trusted
            .iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    anyhow::anyhow!("outbound.trusted: {a:?} is not an ip:port address")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        crate::sandbox::Egress::new(crate::sandbox::EgressConfig {
            allow_insecure: self.outbound.allow_insecure,
            proxy: self.outbound.proxy.clone(),
            trusted,
        })
    }

    /// The database URL, with the empty default resolved to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            crate::store::default_sqlite_url(&self.data_dir)
        } else {
            self.database_url.clone()
        }
    }

    /// The master key: configured, or kept in `data_dir/master.key` (created when missing).
    pub fn master_key(&self) -> anyhow::Result<crate::crypto::MasterKey> {
        if let Some(key) = &self.master_key {
            return crate::crypto::MasterKey::from_base64(key);
        }
        let path = self.data_dir.join("master.key");
        if !path.exists() {
            std::fs::create_dir_all(&self.data_dir)?;
            write_private(&path, &crate::crypto::MasterKey::generate_base64())?;
            tracing::warn!(path = %path.display(), "generated a master key; keep it safe and set master_key when running several instances");
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        crate::crypto::MasterKey::from_base64(&text)
    }

    /// Directory of the compiled-component cache.
    pub fn compiled_dir(&self) -> PathBuf {
        self.data_dir.join("compiled")
    }
}

/// Writes a file readable only by its owner.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Environment values are TOML values when they parse as one (numbers, booleans), else strings.
fn parse_env_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    match path {
        [] => anyhow::bail!("empty key"),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => anyhow::bail!("`{first}` is not a section"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_parse_and_layers_apply_in_order() {
        let defaults = Config::defaults();
        assert_eq!(defaults.sandbox.defaults.timeout_ms, 1000);
        assert_eq!(defaults.sandbox.defaults.memory_bytes, 64 << 20);
        let file = "listen = \"0.0.0.0:9000\"\n[sandbox.defaults]\ntimeout_ms = 500\n";
        let c = Config::layered(
            Some(file),
            env(&[
                ("HOOKHOST_SANDBOX__DEFAULTS__TIMEOUT_MS", "250"),
                ("HOOKHOST_CONFIG", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.sandbox.defaults.timeout_ms, 250);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::layered(Some("[sandbox]\ntimeout = 3\n"), env(&[])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("sandbox") && text.contains("timeout"),
            "{text}"
        );
        assert!(Config::layered(None, env(&[("HOOKHOST_TEST_REQUIRE_LANGUAGES", "1")])).is_ok());
        let err = Config::layered(None, env(&[("HOOKHOST_NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
    }

    #[test]
    fn quota_defaults_are_the_documented_ones() {
        assert_eq!(Config::defaults().quotas, crate::store::Quotas::default());
        let err = Config::layered(None, env(&[("HOOKHOST_QUOTAS__WEBHOOKS", "0")])).unwrap_err();
        assert!(err.to_string().contains("quotas.webhooks"), "{err}");
    }

    #[test]
    fn defaults_above_ceilings_are_refused() {
        let file = "[sandbox.defaults]\ntimeout_ms = 60000\n";
        let err = Config::layered(Some(file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("ceilings"), "{err}");
    }
}
