//! The `hookhost` command line. `main.rs` parses nothing itself: it calls [`main`].
//!
//! - [`process`]: `hookhost process …`.

/// `println!` that ends quietly when stdout is closed (`hookhost … | head`) instead of
/// panicking: what is left to print has no reader.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say_line(format_args!($($arg)*))
    };
}

pub mod process;

use crate::admin;
use crate::config::Config;
use crate::sandbox::Limits;
use crate::store::{Scope, Store};
use crate::{runner, server};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// hookhost: a WebAssembly plugin host for marketplace webhooks.
#[derive(Debug, Parser)]
#[command(name = "hookhost", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `HOOKHOST_*` variables override it.
    #[arg(long, global = true, env = "HOOKHOST_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve on a fresh SQLite database seeded with a provider, a tenant and the bundled
    /// plugins as webhooks; print credentials and commands to try.
    Demo {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Work with plugin components locally.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage providers, tenants, services and credentials in the configured database.
    Admin(AdminArgs),
    /// Apply the pending database migrations and say which.
    Migrate,
    /// A tenant's process templates and processes, in the configured database.
    Process(process::ProcessArgs),
    /// Print the OpenAPI document the server serves at `/openapi.json`.
    Openapi,
}

/// `hookhost admin …`: the admin API's operations, straight on the configured database (no
/// server needed, no admin token: whoever can read the configuration owns the data anyway).
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Print JSON (the admin API's shapes) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a marketplace provider and print its API token (shown once).
    CreateProvider {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Where the host's e-mails about its webhooks go (circuit opened, disabled).
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// Create a tenant.
    CreateTenant {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Where the host's e-mails about its private webhooks go.
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// Set or clear the contact e-mail of a provider or tenant (the host's e-mails about its
    /// webhooks go there when `[smtp]` is configured).
    #[command(group(clap::ArgGroup::new("owner").required(true).args(["provider", "tenant"])))]
    #[command(group(clap::ArgGroup::new("address").required(true).args(["email", "none"])))]
    SetContact {
        /// The provider (`PRV-…`).
        #[arg(long)]
        provider: Option<String>,
        /// The tenant (`TEN-…`).
        #[arg(long)]
        tenant: Option<String>,
        /// The e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// No e-mails.
        #[arg(long)]
        none: bool,
    },
    /// Create a provider's marketplace service or a tenant's private service.
    #[command(group(clap::ArgGroup::new("owner").required(true).args(["provider", "tenant"])))]
    CreateService {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The provider offering it (a marketplace service).
        #[arg(long)]
        provider: Option<String>,
        /// The tenant owning it (a private service).
        #[arg(long)]
        tenant: Option<String>,
        /// A parameter name the service accepts (repeatable); `prefix.*` accepts a family.
        #[arg(long = "param")]
        params: Vec<String>,
        /// A parameter whose values are secrets: accepted, sealed at rest, masked when shown
        /// (repeatable).
        #[arg(long = "secret-param")]
        secret_params: Vec<String>,
    },
    /// Activate a service for a tenant (again: replace its parameters).
    Activate {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// Activation parameter `name=value` that plugins read through `config` (repeatable).
        #[arg(long = "set", value_parser = key_value)]
        settings: Vec<(String, String)>,
    },
    /// Create a smartml API user and print its token and secret (shown once).
    CreateApiUser {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// A marketplace API user (refused by executeMarketplaceWebhooks, errorcode 240).
        #[arg(long)]
        marketplace: bool,
    },
    /// Create a REST API key and print it (shown once).
    CreateApiKey {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Deactivate a REST API key: it is refused from then on.
    DeactivateApiKey {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The key's id (`KEY-…`, not the key itself).
        #[arg(long)]
        key: String,
    },
    /// Queue again every delivery of a webhook that failed for good in a window (each under
    /// its own `webhook-id`).
    Recover {
        /// The webhook (`WBH-…`).
        #[arg(long)]
        webhook: String,
        /// Deliveries that failed at or after this time (RFC 3339).
        #[arg(long)]
        since: String,
        /// … and before this time (RFC 3339; default: now).
        #[arg(long)]
        until: Option<String>,
        /// Count this request once: a repeat with the same key changes nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Queue again the finished deliveries of a webhook that a filter selects (by default
    /// every failed one).
    Retry {
        /// The webhook (`WBH-…`).
        #[arg(long)]
        webhook: String,
        /// `failed` (default) or `succeeded` (repeatable).
        #[arg(long)]
        status: Vec<String>,
        /// Only deliveries of this event type (`estate.update`, `address.process-step`, …).
        #[arg(long)]
        event_type: Option<String>,
        /// Only deliveries about this record.
        #[arg(long)]
        record: Option<String>,
        /// Only deliveries that finished at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only deliveries that finished before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Count this request once: a repeat with the same key changes nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Erase a tenant's delivery payloads and call-log bodies for a record or a time range
    /// (privacy requests); statistics stay.
    Erase {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The record whose deliveries and calls go.
        #[arg(long)]
        record: Option<String>,
        /// Its module or object type (any when absent).
        #[arg(long)]
        module: Option<String>,
        /// What was made at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// What was made before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
    /// List providers, tenants, services or activations.
    List {
        /// What to list.
        what: ListWhat,
    },
}

/// What `admin list` lists.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListWhat {
    /// Marketplace providers.
    Providers,
    /// Tenants.
    Tenants,
    /// Services, marketplace and private.
    Services,
    /// Tenants' activations of services (secret parameter values masked).
    Activations,
}

/// `hookhost plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Start a plugin project (Rust, Python or JavaScript) that builds and passes `check`.
    New(NewArgs),
    /// Invoke a component once, under production limits, and print what happened.
    Run(RunArgs),
    /// Validate a component against the WIT world and describe it.
    Check {
        /// The component (.wasm).
        component: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hookhost plugin new` arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and hyphens (`address-check`).
    pub name: String,
    /// The language of the project.
    #[arg(long, value_enum)]
    pub lang: crate::scaffold::Lang,
    /// The folder to create the project in (as `<DIR>/<name>`).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// `hookhost plugin run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The component (.wasm).
    pub component: PathBuf,
    /// Module or object type: estate, address, task, calendar, Order, Request, Account, ….
    #[arg(long)]
    pub module: String,
    /// Record id.
    #[arg(long, default_value = "")]
    pub record: String,
    /// Payload file (JSON or text); `-` reads standard input.
    #[arg(long)]
    pub payload: PathBuf,
    /// Event: create, update, execute, validate, process-step, test.
    #[arg(long, default_value = "update", value_parser = runner::parse_event)]
    pub event: crate::sandbox::Event,
    /// Invocation parameter `name=value` (repeatable).
    #[arg(long = "param", value_parser = key_value)]
    pub params: Vec<(String, String)>,
    /// Activation parameter served by `config` (`key=value`, repeatable).
    #[arg(long = "set", value_parser = key_value)]
    pub settings: Vec<(String, String)>,
    /// Secret activation parameter served by `secret` (and by a 0.1.0 component's `config`)
    /// (`key=value`, repeatable).
    #[arg(long = "secret", value_parser = key_value)]
    pub secrets: Vec<(String, String)>,
    /// Host outbound HTTP may reach, `name` or `name:port` (repeatable); requests go through
    /// the production egress guard (https only, public addresses only).
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// Also allow http:// and loopback/private targets, to test against a local server.
    #[arg(long)]
    pub allow_insecure: bool,
    /// Deadline in ms (default: the configured production default).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB (default: the configured production default).
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Fuel budget (default: unlimited, but metered).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected name=value, got `{text}`"))
}

/// Runs the command line; returns the process exit code. `bundle` is what `hookhost demo`
/// serves: the binary's `hookhost_plugins::BUNDLED`.
pub fn main(bundle: crate::demo::Bundle) -> anyhow::Result<i32> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    // Only the server exports traces; the exporter flushes when `main` returns.
    let serves = matches!(cli.command, Command::Serve { .. } | Command::Demo { .. });
    let _traces = init_tracing(&config, serves)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            rt.block_on(server::serve(config))?;
            Ok(0)
        }
        Command::Demo { port, data_dir } => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            config.listen = format!("127.0.0.1:{port}");
            rt.block_on(crate::demo::run(config, bundle))?;
            Ok(0)
        }
        Command::Plugin(PluginCommand::Check { component, json }) => {
            let runtime = runner::runtime(&config)?;
            match runner::check(&runtime, &component) {
                Ok(info) if json => say!("{}", serde_json::to_string_pretty(&info)?),
                Ok(info) => {
                    say!("ok: {} is a valid plugin", component.display());
                    say!("digest: sha256:{}", info.digest);
                    say!("size: {} bytes", info.size);
                    say!("wit: marketplace:webhook@{}", info.wit_version);
                    say!("roles: {}", runner::roles(&info.roles));
                    say!("imports:");
                    for import in &info.imports {
                        say!("  {import}");
                    }
                }
                Err(error) => {
                    eprintln!("refused: {error:#}");
                    return Ok(1);
                }
            }
            Ok(0)
        }
        Command::Plugin(PluginCommand::Run(args)) => rt.block_on(plugin_run(&config, args)),
        Command::Plugin(PluginCommand::New(args)) => {
            let project = crate::scaffold::create(&args.name, args.lang, &args.dir)?;
            say!("{}", project.next_steps().trim_end());
            Ok(0)
        }
        Command::Admin(args) => {
            rt.block_on(run_admin(&config, args))?;
            Ok(0)
        }
        Command::Migrate => {
            rt.block_on(migrate(&config))?;
            Ok(0)
        }
        Command::Process(args) => rt.block_on(process::run(&config, args)),
        Command::Openapi => {
            print!("{}", crate::api::openapi::json());
            Ok(0)
        }
    }
}

/// `hookhost admin …`: one operation of [`crate::admin`] on the configured database.
async fn run_admin(config: &Config, args: AdminArgs) -> anyhow::Result<()> {
    let url = config.database_url();
    let store = Store::open(&url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&url)))?;
    let json = args.json;
    match args.command {
        AdminCommand::CreateProvider {
            name,
            contact_email,
        } => {
            let created = admin::create_provider(&store, &name, contact_email.as_deref()).await?;
            print_created(json, &created, || {
                let p = &created.provider;
                format!(
                    "created provider {} ({})\n  token: {}\n{SHOWN_ONCE}",
                    p.id, p.name, created.token
                )
            })
        }
        AdminCommand::CreateTenant {
            name,
            contact_email,
        } => {
            let tenant = admin::create_tenant(&store, &name, contact_email.as_deref()).await?;
            print_created(json, &tenant, || {
                format!("created tenant {} ({})", tenant.id, tenant.name)
            })
        }
        AdminCommand::SetContact {
            provider,
            tenant,
            email,
            none: _,
        } => {
            let shown = |id: &str, contact: &Option<String>| match contact {
                Some(email) => format!("{id}: contact e-mail {email}"),
                None => format!("{id}: no contact e-mail"),
            };
            match (provider, tenant) {
                (Some(id), _) => {
                    let p = admin::set_provider_contact(&store, &id, email.as_deref()).await?;
                    print_created(json, &p, || shown(&p.id, &p.contact_email))
                }
                (None, Some(id)) => {
                    let t = admin::set_tenant_contact(&store, &id, email.as_deref()).await?;
                    print_created(json, &t, || shown(&t.id, &t.contact_email))
                }
                (None, None) => unreachable!("clap requires --provider or --tenant"),
            }
        }
        AdminCommand::CreateService {
            name,
            provider,
            tenant,
            params,
            secret_params,
        } => {
            let owner = match (provider, tenant) {
                (Some(provider), _) => Scope::Provider(provider),
                (None, Some(tenant)) => Scope::Tenant(tenant),
                (None, None) => unreachable!("clap requires --provider or --tenant"),
            };
            let service =
                admin::create_service(&store, &owner, &name, &params, &secret_params).await?;
            print_created(json, &service, || {
                format!(
                    "created service {} ({}) of {} {}\n  accepted parameters: {}\n  secret parameters: {}",
                    service.id,
                    service.name,
                    owner.kind(),
                    owner.id(),
                    none_if_empty(&service.accepted_parameters.join(", ")),
                    none_if_empty(&service.secret_parameters.join(", "))
                )
            })
        }
        AdminCommand::Activate {
            tenant,
            service,
            settings,
        } => {
            let parameters: BTreeMap<String, String> = settings.into_iter().collect();
            let key = config.master_key().context("loading the master key")?;
            // The plugins of the service check the parameters in this process's sandbox,
            // as the admin API does in the server's.
            let state = server::build_state(config.clone()).await?;
            let (activation, new) = admin::activate(
                &store,
                &state.executor,
                &key,
                &tenant,
                &service,
                &parameters,
            )
            .await?;
            print_created(json, &activation, || {
                let what = if new { "activated" } else { "re-parameterized" };
                let mut text = format!("{what} service {service} for tenant {tenant}");
                for (name, value) in &activation.parameters {
                    text.push_str(&format!("\n  {name} = {value}"));
                }
                text
            })
        }
        AdminCommand::CreateApiUser {
            tenant,
            marketplace,
        } => {
            let key = config.master_key().context("loading the master key")?;
            let user = admin::create_api_user(&store, &key, &tenant, marketplace).await?;
            print_created(json, &user, || {
                let kind = if user.marketplace {
                    "marketplace API user"
                } else {
                    "API user"
                };
                format!(
                    "created smartml {kind} {} for tenant {}\n  token:  {}\n  secret: {}\n{SHOWN_ONCE}",
                    user.id, user.tenant_id, user.token, user.secret
                )
            })
        }
        AdminCommand::CreateApiKey { tenant } => {
            let key = admin::create_api_key(&store, &tenant).await?;
            print_created(json, &key, || {
                format!(
                    "created REST API key {} for tenant {}\n  key: {}\n{SHOWN_ONCE}",
                    key.id, key.tenant_id, key.key
                )
            })
        }
        AdminCommand::DeactivateApiKey { tenant, key } => {
            admin::deactivate_api_key(&store, &tenant, &key).await?;
            let done = serde_json::json!({"id": key, "tenantId": tenant, "active": false});
            print_created(json, &done, || {
                format!("deactivated REST API key {key} of tenant {tenant}")
            })
        }
        AdminCommand::Recover {
            webhook,
            since,
            until,
            idempotency_key,
        } => {
            let request = crate::api::deliveries::RetryRequest {
                since: Some(since),
                until,
                ..Default::default()
            };
            requeue(&store, json, &webhook, request, idempotency_key).await
        }
        AdminCommand::Retry {
            webhook,
            status,
            event_type,
            record,
            since,
            until,
            idempotency_key,
        } => {
            let request = crate::api::deliveries::RetryRequest {
                status: (!status.is_empty()).then_some(status),
                event_type,
                record_id: record,
                since,
                until,
            };
            requeue(&store, json, &webhook, request, idempotency_key).await
        }
        AdminCommand::Erase {
            tenant,
            record,
            module,
            since,
            until,
        } => {
            let query = crate::api::erasure::ErasureQuery {
                record_id: record,
                module,
                since,
                until,
            };
            let erasure = crate::api::erasure::erasure_from(&tenant, query)
                .map_err(|problem| anyhow::anyhow!(problem.detail))?;
            store.tenant(&tenant).await.map_err(|e| match e {
                crate::store::StoreError::NotFound => anyhow::anyhow!("no tenant {tenant}"),
                e => anyhow::Error::new(e).context("reading the tenant"),
            })?;
            let erased = store.erase(&erasure).await?;
            print_created(json, &erased, || {
                format!(
                    "erased the payloads of {} deliveries ({} pending ones cancelled) and the bodies of {} calls of tenant {tenant}; {} in flight left alone (erase again once they finished)",
                    erased.deliveries, erased.cancelled, erased.calls, erased.in_flight
                )
            })
        }
        AdminCommand::List { what } => match what {
            ListWhat::Providers => {
                let all = admin::list_providers(&store).await?;
                print_list(json, &all, |p| {
                    format!("{}  {}  {}", p.id, p.created_at, p.name)
                })
            }
            ListWhat::Tenants => {
                let all = admin::list_tenants(&store).await?;
                print_list(json, &all, |t| {
                    format!("{}  {}  {}", t.id, t.created_at, t.name)
                })
            }
            ListWhat::Services => {
                let all = admin::list_services(&store).await?;
                print_list(json, &all, |s| {
                    let owner = match (&s.provider_id, &s.tenant_id) {
                        (Some(p), _) => format!("provider {p}"),
                        (None, Some(t)) => format!("tenant {t} (private)"),
                        (None, None) => "no owner".to_owned(),
                    };
                    format!(
                        "{}  {}  {}  [{}]",
                        s.id,
                        s.name,
                        owner,
                        s.accepted_parameters.join(", ")
                    )
                })
            }
            ListWhat::Activations => {
                let everything = crate::store::Listing::all(&crate::store::lists::ACTIVATIONS);
                let (all, _) =
                    admin::list_activations_matching(&store, None, &everything, 0, i64::MAX)
                        .await?;
                print_list(json, &all, |a| {
                    let parameters: Vec<String> = a
                        .activation
                        .parameters
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    format!(
                        "{} ({})  {} ({})  {}  [{}]",
                        a.activation.tenant_id,
                        a.tenant_name,
                        a.activation.service_id,
                        a.service_name,
                        a.activation.created_at,
                        parameters.join(", ")
                    )
                })
            }
        },
    }
}

/// `admin recover` and `admin retry`: the API's checks and store operation, as the operator
/// (every tenant's deliveries).
async fn requeue(
    store: &Store,
    json: bool,
    webhook: &str,
    request: crate::api::deliveries::RetryRequest,
    idempotency_key: Option<String>,
) -> anyhow::Result<()> {
    let filter = crate::api::deliveries::retry_filter(webhook, request)
        .map_err(|problem| anyhow::anyhow!(problem.detail))?;
    let found = store.webhook_unscoped(webhook).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => anyhow::anyhow!("no webhook {webhook}"),
        e => anyhow::Error::new(e).context("reading the webhook"),
    })?;
    if !found.enabled {
        anyhow::bail!(
            "webhook {webhook} is disabled: enable it first, or its deliveries fail at once"
        );
    }
    let key = idempotency_key.map(|key| crate::store::IdempotencyKey {
        caller: "operator".to_owned(),
        key,
    });
    let done = store.requeue_deliveries(&filter, key.as_ref()).await?;
    print_created(json, &done, || {
        let again = if done.replayed {
            " (the answer of the earlier request with this key)"
        } else {
            ""
        };
        format!(
            "queued {} deliveries of {webhook} again{again}; running hosts pick them up within delivery.poll_ms",
            done.requeued
        )
    })
}

/// Said under every credential the CLI prints: nothing can show it again.
const SHOWN_ONCE: &str = "  (shown once: no command or API shows it again, so store it now)";

fn none_if_empty(text: &str) -> &str {
    if text.is_empty() { "none" } else { text }
}

fn print_created<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(value)?);
    } else {
        say!("{}", text());
    }
    Ok(())
}

fn print_list<T: serde::Serialize>(
    json: bool,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(items)?);
    } else if items.is_empty() {
        say!("(none)");
    } else {
        for item in items {
            say!("{}", line(item));
        }
    }
    Ok(())
}

/// `hookhost migrate`: applies pending migrations and lists what it applied.
async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config.database_url();
    let shown = redact_url(&url);
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("connecting to {shown}"))?;
    // Before the first migration the bookkeeping table does not exist: nothing applied yet.
    let before = applied_migrations(&store).await.unwrap_or_default();
    store
        .migrate()
        .await
        .with_context(|| format!("migrating {shown}"))?;
    let after = applied_migrations(&store)
        .await
        .context("reading the applied migrations")?;
    let new: Vec<_> = after.iter().filter(|m| !before.contains(m)).collect();
    if new.is_empty() {
        say!(
            "{shown} is up to date ({} migration{} applied before)",
            after.len(),
            if after.len() == 1 { "" } else { "s" }
        );
    } else {
        say!("migrated {shown}:");
        for (version, description) in new {
            say!("  applied {version:04} {description}");
        }
    }
    Ok(())
}

/// The applied migrations (version, description), from sqlx's bookkeeping table.
async fn applied_migrations(store: &Store) -> anyhow::Result<Vec<(i64, String)>> {
    use sqlx::Row as _;
    sqlx::query("SELECT version, description FROM _sqlx_migrations ORDER BY version")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|row| Ok((row.try_get("version")?, row.try_get("description")?)))
        .collect()
}

/// A database URL fit for messages: the password, if any, replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn plugin_run(config: &Config, args: RunArgs) -> anyhow::Result<i32> {
    let payload = if args.payload.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the payload from stdin")?
    } else {
        std::fs::read_to_string(&args.payload)
            .with_context(|| format!("reading payload {}", args.payload.display()))?
    };
    let defaults = config.sandbox.defaults;
    let limits = Limits {
        timeout_ms: args.timeout_ms.unwrap_or(defaults.timeout_ms),
        memory_bytes: args.memory_mib.map_or(defaults.memory_bytes, |m| m << 20),
        fuel: args.fuel.or(defaults.fuel),
        ..defaults
    };
    let mut guarded = config.clone();
    guarded.outbound.allow_insecure |= args.allow_insecure;
    let egress = guarded.egress()?;
    let runtime = runner::runtime(config)?;
    let request = runner::RunRequest {
        module: args.module,
        record_id: args.record,
        event: args.event,
        payload,
        params: args.params,
        config: args.settings.into_iter().collect::<BTreeMap<_, _>>(),
        secrets: args.secrets.into_iter().collect::<BTreeMap<_, _>>(),
        allow_hosts: args.allow_hosts,
        egress,
        limits: Some(limits),
    };
    let result = runner::run(&runtime, &args.component, request).await?;
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&runner::render_json(&result))?
        );
    } else {
        say!("{}", runner::render(&result).trim_end());
    }
    Ok(if result.report.result.is_ok() { 0 } else { 1 })
}

/// Writes one line to stdout; a closed stdout is no error (the reader went away).
pub(crate) fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %error, "writing to stdout failed");
    }
}

/// Installs the log subscriber and, when `[tracing]` is configured and `traces` asked for,
/// the trace layer beside it (the log filter does not decide what is traced).
fn init_tracing(
    config: &Config,
    traces: bool,
) -> anyhow::Result<Option<crate::telemetry::Exporter>> {
    use crate::config::LogFormat;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    if !(traces && config.tracing.enabled()) {
        let logs = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match config.log_format {
            LogFormat::Text => logs.try_init(),
            LogFormat::Json => logs.json().try_init(),
        };
        return Ok(None);
    }
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match config.log_format {
        LogFormat::Text => logs.with_filter(filter).boxed(),
        LogFormat::Json => logs.json().with_filter(filter).boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(logs);
    let Some((layer, exporter)) = crate::telemetry::layer(&config.tracing)? else {
        return Ok(None);
    };
    if subscriber.with(layer).try_init().is_ok() {
        crate::telemetry::installed();
    }
    Ok(Some(exporter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_not_printed() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/hookhost"),
            "postgres://app:***@db.internal:5432/hookhost"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(
            redact_url("sqlite:///tmp/a@b/hookhost.db?mode=rwc"),
            "sqlite:///tmp/a@b/hookhost.db?mode=rwc"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
