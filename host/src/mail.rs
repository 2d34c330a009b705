//! E-mail over SMTP (`lettre`, rustls), configured by `[smtp]`: the overdue e-mail to a
//! process controller, and the e-mails to a webhook's owner when its circuit opens or the
//! host disables it.
//!
//! One connection per message (no pool): these e-mails are rare, and a connection kept open
//! to a server that closes idle sessions would fail the next send.

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS, required (submission port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on the same machine or network (and tests).
    None,
}

/// `[smtp]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The SMTP server; empty: no e-mail is sent (overdue steps are still marked and logged).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// User name for SMTP AUTH; empty: no authentication.
    pub username: String,
    /// Password for SMTP AUTH.
    pub password: String,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    /// Bounds one send (connect, dialogue, data), in ms.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            from: "hookhost <hookhost@localhost>".into(),
            timeout_ms: 10_000,
        }
    }
}

impl SmtpConfig {
    /// Checks what can be checked without a server.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.timeout_ms > 0, "smtp.timeout_ms must be positive");
        if !self.host.is_empty() {
            anyhow::ensure!(self.port > 0, "smtp.port must be set");
            self.from.parse::<Mailbox>().map_err(|e| {
                anyhow::anyhow!("smtp.from {:?} is not an e-mail address: {e}", self.from)
            })?;
            Mailer::new(self)?;
        }
        Ok(())
    }
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient or the message is invalid: trying again does not help.
    #[error("{0}")]
    Invalid(String),
    /// The server could not be reached or refused the message.
    #[error("{0}")]
    Failed(String),
}

impl MailError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Failed(_))
    }
}

/// Sends e-mails through the configured server. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer that sends nothing.
    pub fn off() -> Mailer {
        Mailer {
            transport: None,
            from: None,
        }
    }

    /// A mailer for `config`; one that sends nothing when no host is configured.
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Mailer> {
        if config.host.is_empty() {
            return Ok(Mailer::off());
        }
        let builder = match config.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            }
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_millis(config.timeout_ms)));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(Mailer {
            transport: Some(builder.build()),
            from: Some(config.from.parse()?),
        })
    }

    /// Whether an SMTP server is configured.
    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a plain-text e-mail to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let (Some(transport), Some(from)) = (&self.transport, &self.from) else {
            return Err(MailError::Invalid(
                "no SMTP server is configured ([smtp] host)".into(),
            ));
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Invalid(format!("{to:?} is not an e-mail address: {e}")))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Invalid(format!("building the e-mail: {e}")))?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Invalid(format!(
                "the SMTP server refused the e-mail: {e}"
            ))),
            Err(e) => Err(MailError::Failed(format!("sending the e-mail: {e}"))),
        }
    }
}

/// Whether `text` is an e-mail address a mailer accepts.
pub fn is_address(text: &str) -> bool {
    text.parse::<lettre::Address>().is_ok()
}
