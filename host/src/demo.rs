//! `hookhost demo`: the real server on a fresh embedded SQLite database, seeded so that every
//! API has something to show, with the credentials and ready-to-paste commands printed.
//!
//! What it seeds, through the same functions as the admin API ([`crate::admin`]), so the
//! demo shows what an operator would get:
//! - a provider and a tenant, the tenant with a smartml API user, a marketplace API user and a
//!   REST API key;
//! - per bundled plugin: a marketplace service of the provider, the tenant's activation of it,
//!   the plugin uploaded as the provider's component, and a webhook handled by it (`echo` for
//!   task + calendar with the Ivanti extension `EchoWebhook`, `valuation` for estate,
//!   `newsletter-connector` for address, `order-validator` as an MPT
//!   `validatePurchaseOrderDraft` webhook for orders), except `newsletter-transform`, the
//!   transform of a URL webhook for address that posts to the newsletter sink in the
//!   service's member format (`marketplace:webhook@0.2.0`; its service declares `api_key`
//!   secret, and the plugin checks the activation);
//! - a process template of the tenant (re-value an estate, three days later put the linked
//!   address on the newsletter) and a start request for it in `samples/process-start.json`.
//!
//! The newsletter connector needs a newsletter service; the demo serves a small sink at
//! [`SINK_PATH`] on a second port of its own (never in production) and activates the connector
//! with it, so the demo works offline. A port of its own, not a route merged into the API's
//! router, because the API must run through [`server::run`] like `serve` does: that is what
//! starts the delivery workers.
//!
//! Files under the data directory: `demo.json` (credentials and webhooks, for scripts and
//! tests), `plugins/<plugin>.wasm` and `samples/<plugin>.json` (for `hookhost plugin run`),
//! and the database `demo.db`, deleted at every start so each demo begins clean. The demo
//! uses its own database file so that it never deletes the `hookhost.db` of `serve`.

use crate::admin;
use crate::api::AppState;
use crate::config::Config;
use crate::server;
use crate::store::{Handler, Scope, WebhookSpec};
use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The demo's database, in the data directory.
pub const DEMO_DATABASE: &str = "demo.db";

/// Where the demo's newsletter service listens (demo router only).
pub const SINK_PATH: &str = "/demo/newsletter-sink";

/// The version the bundled plugins are uploaded as (they are built with the host).
const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The example plugins the binary carries, by name: `hookhost_plugins::BUNDLED`, which the
/// `hookhost` binary passes in (the library does not depend on the plugins, so that editing
/// one does not rebuild it). It must hold every plugin of [`plugin_names`].
pub type Bundle = &'static [(&'static str, &'static [u8])];

/// `demo.json`: what the demo printed, for scripts and tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoFile {
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    /// Bearer token of `/admin/v1` (generated when the configuration has none).
    pub admin_token: String,
    /// Bearer token of the demo provider (registry and components APIs).
    pub provider_token: String,
    /// The demo tenant and its credentials.
    pub tenant: DemoTenant,
    /// A marketplace API user of the tenant (refused by `executeMarketplaceWebhooks`).
    pub marketplace_api_user: DemoApiUser,
    /// The seeded webhooks.
    pub webhooks: Vec<DemoWebhook>,
    /// Signed-in links into the web portal.
    pub portal: DemoPortal,
}

/// Links into the web portal in `demo.json`, each signed in for `portal.session_minutes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoPortal {
    /// The sign-in page (any credential above works there).
    pub sign_in: String,
    /// Signed in as the demo provider.
    pub provider: String,
    /// Signed in as the demo tenant.
    pub tenant: String,
    /// Signed in as the operator.
    pub operator: String,
}

/// The demo tenant in `demo.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoTenant {
    /// `TEN-…`
    pub id: String,
    /// smartml token (32 characters) of an ordinary API user.
    pub smartml_token: String,
    /// Its secret (64 characters), the HMAC key.
    pub smartml_secret: String,
    /// A REST API key (Ivanti `rest_api_key=…`, registry reads).
    pub rest_api_key: String,
}

/// An API user in `demo.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoApiUser {
    /// smartml token.
    pub smartml_token: String,
    /// smartml secret.
    pub smartml_secret: String,
}

/// A webhook in `demo.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoWebhook {
    /// `WBH-…`
    pub id: String,
    /// Ivanti endpoint extension, if any.
    pub extension: Option<String>,
    /// smartml modules it listens to.
    pub modules: Vec<String>,
    /// `{"component": "name@version"}`, or `{"url": "…"}` for a URL webhook.
    pub handler: DemoHandler,
    /// `{"component": "name@version"}` of a URL webhook's transform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<DemoHandler>,
}

/// A webhook's handler (or transform) in `demo.json`: a component or a URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoHandler {
    /// `name@version` of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The URL of a URL webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// How the demo sets up one bundled plugin.
struct DemoPlugin {
    /// Name in the [`Bundle`].
    name: &'static str,
    /// The marketplace service it handles.
    service: &'static str,
    /// The service's accepted parameters.
    accepted_parameters: &'static [&'static str],
    /// The accepted parameters whose values are secrets.
    secret_parameters: &'static [&'static str],
    /// The tenant's activation parameters (what `config` answers).
    settings: BTreeMap<String, String>,
    /// A transform: the webhook is a URL webhook calling this URL, and the plugin transforms
    /// its requests (instead of handling the calls itself).
    transform_to: Option<String>,
    /// The webhook.
    description: &'static str,
    modules: &'static [&'static str],
    extension: Option<&'static str>,
    kind: Option<&'static str>,
    object_type: Option<&'static str>,
    allowed_hosts: Vec<String>,
    /// For the printed `plugin run` command.
    module: &'static str,
    record: &'static str,
    event: &'static str,
    sample: Value,
}

/// The bundled plugins the demo seeds, by name: the [`Bundle`] the binary passes to [`run`]
/// must hold exactly these (a test checks it).
pub fn plugin_names() -> Vec<&'static str> {
    demo_plugins("http://sink.invalid/", "sink.invalid:1")
        .iter()
        .map(|p| p.name)
        .collect()
}

/// The bundled plugins and how the demo uses each.
fn demo_plugins(sink_url: &str, sink_host: &str) -> Vec<DemoPlugin> {
    let settings = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    vec![
        DemoPlugin {
            name: "echo",
            service: "Echo (shows what a component receives)",
            accepted_parameters: &[],
            secret_parameters: &[],
            settings: BTreeMap::new(),
            transform_to: None,
            description: "Echo for tasks and appointments; Ivanti extension EchoWebhook",
            modules: &["task", "calendar"],
            extension: Some("EchoWebhook"),
            kind: None,
            object_type: None,
            allowed_hosts: Vec::new(),
            module: "task",
            record: "301",
            event: "execute",
            sample: json!({
                "Betreff": "Besichtigung Theaterstraße 12",
                "Verantwortung": "Erika Mustermann",
                "Status": "offen",
                "Faelligkeit": "2026-12-01 10:00:00"
            }),
        },
        DemoPlugin {
            name: "valuation",
            service: "Property valuation",
            accepted_parameters: &["price_per_sqm.default", "asking_price_weight"],
            secret_parameters: &[],
            settings: settings(&[("price_per_sqm.default", "3400")]),
            transform_to: None,
            description: "Market value (marktwert) of saved estates",
            modules: &["estate"],
            extension: None,
            kind: None,
            object_type: None,
            allowed_hosts: Vec::new(),
            module: "estate",
            record: "15005",
            event: "update",
            sample: json!({
                "kaufpreis": 350000, "wohnflaeche": 92, "plz": "52062", "ort": "Aachen",
                "baujahr": 1998, "zustand": "gepflegt"
            }),
        },
        DemoPlugin {
            name: "newsletter-connector",
            service: "Newsletter connector",
            accepted_parameters: &["newsletter_url", "tags", "tag"],
            secret_parameters: &["api_key"],
            settings: settings(&[("newsletter_url", sink_url), ("tags", "onoffice,demo")]),
            transform_to: None,
            description: "Subscribes opted-in addresses to the newsletter",
            modules: &["address"],
            extension: None,
            kind: None,
            object_type: None,
            allowed_hosts: vec![sink_host.to_owned()],
            module: "address",
            record: "4711",
            event: "update",
            sample: json!({
                "Email": "erika.mustermann@example.com", "Vorname": "Erika",
                "Name": "Mustermann", "Anrede": "Frau", "newsletter_aktiv": true
            }),
        },
        DemoPlugin {
            name: "newsletter-transform",
            service: "Newsletter members (a URL webhook with a transform)",
            accepted_parameters: &["list_id", "tags"],
            secret_parameters: &["api_key"],
            settings: settings(&[
                ("list_id", "demo-list"),
                ("tags", "onoffice,demo"),
                ("api_key", "demo-newsletter-key"),
            ]),
            transform_to: Some(sink_url.to_owned()),
            description: "Posts opted-in addresses to the newsletter service in its member format",
            modules: &["address"],
            extension: None,
            kind: None,
            object_type: None,
            allowed_hosts: Vec::new(),
            module: "address",
            record: "4712",
            event: "update",
            sample: json!({
                "tenant": {"id": "TEN-0000-0000", "name": "Immobilien Muster GmbH"},
                "module": "address", "recordId": "4712", "event": "update",
                "elements": {"Email": "max.mustermann@example.com", "Vorname": "Max",
                             "Name": "Mustermann", "newsletter_aktiv": "1"}
            }),
        },
        DemoPlugin {
            name: "order-validator",
            service: "Order validation",
            accepted_parameters: &["max_quantity", "required_parameters"],
            secret_parameters: &[],
            settings: settings(&[("max_quantity", "100")]),
            transform_to: None,
            description: "Validates purchase order drafts",
            modules: &[],
            extension: None,
            kind: Some("validatePurchaseOrderDraft"),
            object_type: Some("Order"),
            allowed_hosts: Vec::new(),
            module: "Order",
            record: "ORD-4321-8765",
            event: "validate",
            sample: json!({
                "id": "ORD-4321-8765",
                "type": "Purchase",
                "status": "Draft",
                "agreement": {"id": "AGR-1234-5678"},
                "product": {"id": "PRD-1111-2222", "name": "Cloud Backup"},
                "lines": [{
                    "id": "ALI-4321-8765-0001",
                    "item": {"id": "ITM-1111-2222-0001", "name": "Backup storage 1 TB"},
                    "quantity": 0,
                    "price": {"unitPP": 12.5, "currency": "EUR"}
                }],
                "parameters": {"ordering": [
                    {"id": "PAR-1111-0001", "externalId": "companyName",
                     "value": "Immobilien Muster GmbH"}
                ]}
            }),
        },
    ]
}

/// Starts the demo server and serves until Ctrl-C or SIGTERM.
pub async fn run(mut config: Config, bundle: Bundle) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    // A `demo.json` from the last run must not be mistaken for this one's.
    remove_file_if_exists(&data_dir.join("demo.json"))?;
    let database = data_dir.join(DEMO_DATABASE);
    let had_database = remove_sqlite_database(&database)?;
    let configured_database = std::mem::take(&mut config.database_url);
    config.database_url = format!("sqlite://{}?mode=rwc", database.display());
    let generated_token = config.admin_token.is_none();
    let admin_token = config
        .admin_token
        .get_or_insert_with(|| format!("hha_{}", crate::crypto::random_alphanumeric(32)))
        .clone();

    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    // The sink gets a port of its own: the API goes through `server::run` (delivery workers,
    // graceful shutdown, recorder flush) exactly as `serve` runs it, with nothing added.
    let sink_listener = TcpListener::bind((addr.ip(), 0))
        .await
        .context("listening for the demo's newsletter sink")?;
    let sink_addr = sink_listener.local_addr()?;
    let sink_url = format!("http://{sink_addr}{SINK_PATH}");
    // The sink is the one private address components may reach: everything else goes through
    // the production egress guard.
    config.outbound.trusted.push(sink_addr.to_string());
    let state = server::build_state(config).await?;
    let plugins = demo_plugins(&sink_url, &sink_addr.to_string());
    let seeded = seed(&state, &plugins, bundle)
        .await
        .context("seeding the demo database")?;
    write_plugin_files(&data_dir, &plugins, bundle)?;
    let process = seed_process(&state, &seeded, &plugins, &data_dir)
        .await
        .context("seeding the demo process template")?;
    let demo = DemoFile {
        base_url: base_url.clone(),
        admin_token,
        provider_token: seeded.provider_token.clone(),
        tenant: seeded.tenant.clone(),
        marketplace_api_user: seeded.marketplace_api_user.clone(),
        webhooks: seeded.webhooks.iter().map(|w| w.demo.clone()).collect(),
        portal: portal_links(&state, &base_url, &seeded),
    };

    let mut notes = Vec::new();
    notes.push(if had_database {
        format!(
            "fresh database {}: the previous demo database was deleted, every start is clean",
            database.display()
        )
    } else {
        format!("fresh database {}", database.display())
    });
    if !configured_database.is_empty() {
        notes.push(
            "the configured database_url is not used: the demo always runs on its own SQLite file"
                .into(),
        );
    }
    if generated_token {
        notes.push("admin token generated for this run (set admin_token to choose one)".into());
    }
    let text = render(
        &demo,
        &seeded,
        &plugins,
        &data_dir,
        &sink_url,
        &notes,
        &render_process(&demo, &process, &database),
    );
    // `hookhost demo | head` closes stdout early: the rest has no reader, and the demo goes
    // on serving.
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %error, "writing to stdout failed");
    }
    drop(out);
    write_atomically(
        &data_dir.join("demo.json"),
        &serde_json::to_string_pretty(&demo)?,
    )?;

    let sink = tokio::spawn(async move { axum::serve(sink_listener, sink_router()).await });
    let served = server::run(listener, state, server::shutdown_signal()).await;
    sink.abort();
    served?;
    Ok(())
}

/// Links into the portal for the seeded provider and tenant and the operator.
fn portal_links(state: &AppState, base_url: &str, seeded: &Seeded) -> DemoPortal {
    use crate::portal::i18n::Locale;
    use crate::portal::session::{Role, Session};
    let expires_at = crate::time::now_ms()
        + i64::try_from(state.config.portal.session_minutes).unwrap_or(480) * 60_000;
    let link = |role: Role| {
        let session = Session {
            role,
            locale: Locale::De,
            expires_at,
        };
        format!("{base_url}/portal/s/{}/", session.seal(&state.key))
    };
    DemoPortal {
        sign_in: format!("{base_url}/portal"),
        provider: link(Role::Provider(seeded.provider_id.clone())),
        tenant: link(Role::Tenant(seeded.tenant.id.clone())),
        operator: link(Role::Operator),
    }
}

/// What [`seed`] created.
struct Seeded {
    provider_id: String,
    provider_name: String,
    provider_token: String,
    tenant_name: String,
    tenant: DemoTenant,
    marketplace_api_user: DemoApiUser,
    webhooks: Vec<SeededWebhook>,
}

struct SeededWebhook {
    demo: DemoWebhook,
    plugin: &'static str,
    service_id: String,
}

async fn seed(state: &AppState, plugins: &[DemoPlugin], bundle: Bundle) -> anyhow::Result<Seeded> {
    let store = &state.store;
    let provider = admin::create_provider(store, "Demo Marketplace Provider", None).await?;
    let tenant = admin::create_tenant(store, "Immobilien Muster GmbH", None).await?;
    let owner = Scope::Provider(provider.provider.id.clone());
    let mut webhooks = Vec::new();
    for plugin in plugins {
        let wasm = bundle
            .iter()
            .find(|(name, _)| *name == plugin.name)
            .map(|(_, wasm)| *wasm)
            .with_context(|| format!("the bundled plugin {} is missing", plugin.name))?;
        let accepted: Vec<String> = plugin
            .accepted_parameters
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let secret: Vec<String> = plugin
            .secret_parameters
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let service =
            admin::create_service(store, &owner, plugin.service, &accepted, &secret).await?;
        let loaded = state
            .runtime
            .load_blocking(wasm.into())
            .await
            .with_context(|| format!("loading the bundled plugin {}", plugin.name))?;
        let component = store
            .insert_component(&owner, plugin.name, PLUGIN_VERSION, &loaded.info, wasm)
            .await?;
        let named = DemoHandler {
            component: Some(format!("{}@{}", component.name, component.version)),
            url: None,
        };
        let (handler, transform, shown) = match &plugin.transform_to {
            None => (Handler::Component(component.id.clone()), None, named),
            Some(url) => {
                let shown = DemoHandler {
                    component: None,
                    url: Some(url.clone()),
                };
                (Handler::Url(url.clone()), Some(component.id.clone()), shown)
            }
        };
        let spec = WebhookSpec {
            kind: plugin.kind.map(str::to_owned),
            object_type: plugin.object_type.map(str::to_owned),
            extension: plugin.extension.map(str::to_owned),
            transform,
            ..WebhookSpec::new(&service.id, handler)
                .description(plugin.description)
                .modules(plugin.modules.iter().copied())
                .allowed_hosts(plugin.allowed_hosts.iter().cloned())
        };
        let (webhook, _secret) = store.create_webhook(&state.key, &owner, &spec).await?;
        // Activated once the webhook exists: the plugin's activation check (if it has one)
        // sees the settings, as it would for a tenant activating the service.
        admin::activate(
            store,
            &state.executor,
            &state.key,
            &tenant.id,
            &service.id,
            &plugin.settings,
        )
        .await?;
        let transform = plugin.transform_to.as_ref().map(|_| DemoHandler {
            component: Some(format!("{}@{}", component.name, component.version)),
            url: None,
        });
        webhooks.push(SeededWebhook {
            demo: DemoWebhook {
                id: webhook.id,
                extension: webhook.extension,
                modules: webhook.modules,
                handler: shown,
                transform,
            },
            plugin: plugin.name,
            service_id: service.id,
        });
    }
    let smartml = admin::create_api_user(store, &state.key, &tenant.id, false).await?;
    let marketplace = admin::create_api_user(store, &state.key, &tenant.id, true).await?;
    let rest = admin::create_api_key(store, &tenant.id).await?;
    Ok(Seeded {
        provider_id: provider.provider.id,
        provider_name: provider.provider.name,
        provider_token: provider.token,
        tenant_name: tenant.name,
        tenant: DemoTenant {
            id: tenant.id,
            smartml_token: smartml.token,
            smartml_secret: smartml.secret,
            rest_api_key: rest.key,
        },
        marketplace_api_user: DemoApiUser {
            smartml_token: marketplace.token,
            smartml_secret: marketplace.secret,
        },
        webhooks,
    })
}

/// The seeded process template and the start request the printed commands use.
struct DemoProcess {
    template_id: String,
    template_name: String,
    /// `samples/process-start.json`.
    request_path: PathBuf,
}

/// Seeds the tenant's process template "when a property is listed, re-value it, wait 3 days,
/// push the owner's address to the newsletter", and writes a start request for it.
async fn seed_process(
    state: &AppState,
    seeded: &Seeded,
    plugins: &[DemoPlugin],
    data_dir: &Path,
) -> anyhow::Result<DemoProcess> {
    let service = |plugin: &str| {
        seeded
            .webhooks
            .iter()
            .find(|w| w.plugin == plugin)
            .map(|w| w.service_id.clone())
            .with_context(|| format!("the demo has no {plugin} service"))
    };
    let sample = |plugin: &str| {
        plugins
            .iter()
            .find(|p| p.name == plugin)
            .map(|p| p.sample.clone())
            .unwrap_or_default()
    };
    let body = json!({
        "name": "New listing: re-value, then announce",
        "description": "Re-values a property when it is listed; three days later the owner's address goes to the newsletter.",
        "steps": [
            {"type": "webhook", "name": "Re-value the property", "serviceId": service("valuation")?,
             "record": "estate", "deadlineDays": 1},
            {"type": "webhook", "name": "Add the owner to the newsletter",
             "serviceId": service("newsletter-connector")?, "parameters": {"tag": "new-listing"},
             "start": {"daysAfterPrevious": 3}, "deadlineDays": 2,
             "responsible": "recordMaintainer", "record": "address"}
        ]
    });
    let template = crate::process::manage::create_template(&state.store, &seeded.tenant.id, body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = json!({
        "templateId": template.id,
        "module": "estate",
        "recordId": "15005",
        "elements": sample("valuation"),
        "links": {"address": {"recordId": "4711", "maintainer": "max.muster",
                              "elements": sample("newsletter-connector")}},
        "owner": "erika.mustermann",
        "controllerEmail": "controller@example.com"
    });
    let request_path = data_dir.join("samples").join("process-start.json");
    std::fs::write(
        &request_path,
        serde_json::to_string_pretty(&request)? + "\n",
    )
    .with_context(|| format!("writing {}", request_path.display()))?;
    Ok(DemoProcess {
        template_id: template.id,
        template_name: template.spec.name,
        request_path,
    })
}

/// The banner's process-manager part: commands that start the seeded template and follow it.
fn render_process(demo: &DemoFile, process: &DemoProcess, database: &Path) -> String {
    let base = &demo.base_url;
    let key = sh(&format!(
        "Authorization: rest_api_key={}",
        demo.tenant.rest_api_key
    ));
    let request = sh(&path_text(&process.request_path));
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "hookhost".to_owned());
    let database_url = format!(
        "HOOKHOST_DATABASE_URL={}",
        sh(&format!("sqlite://{}?mode=rwc", database.display()))
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nProcess manager: template {} \"{}\"\n  \
         (re-values estate 15005; 3 days later adds address 4711 to the newsletter, tag=new-listing):",
        process.template_id, process.template_name
    );
    let _ = writeln!(
        out,
        "  # start it for estate 15005 (the request: {request})\n  \
         curl -s -X POST {base}/api/v1/processes -H {key} -H 'Content-Type: application/json' -d @{request}\n  \
         # or from the command line, on the demo's database\n  \
         {database_url} {} process start --tenant {} --request {request}\n  \
         # the process and its steps; the estate's activity log\n  \
         curl -s '{base}/api/v1/processes?recordId=15005' -H {key}\n  \
         curl -s {base}/api/v1/records/estate/15005/activities -H {key}\n  \
         # the templates\n  \
         curl -s {base}/api/v1/process-templates -H {key}",
        sh(&exe),
        demo.tenant.id,
    );
    let _ = writeln!(
        out,
        "  (a day is process.day_seconds long: HOOKHOST_PROCESS__DAY_SECONDS=20 hookhost demo runs\n  \
         the second step a minute after the first)"
    );
    out
}

/// `plugins/<plugin>.wasm` and `samples/<plugin>.json` for the printed `plugin run` commands.
fn write_plugin_files(
    data_dir: &Path,
    plugins: &[DemoPlugin],
    bundle: Bundle,
) -> anyhow::Result<()> {
    let (plugin_dir, sample_dir) = (data_dir.join("plugins"), data_dir.join("samples"));
    for dir in [&plugin_dir, &sample_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for plugin in plugins {
        if let Some((_, wasm)) = bundle.iter().find(|(name, _)| *name == plugin.name) {
            let path = plugin_dir.join(format!("{}.wasm", plugin.name));
            std::fs::write(&path, wasm).with_context(|| format!("writing {}", path.display()))?;
        }
        let path = sample_dir.join(format!("{}.json", plugin.name));
        std::fs::write(&path, serde_json::to_string_pretty(&plugin.sample)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The demo's banner: credentials, what was seeded, commands to paste.
fn render(
    demo: &DemoFile,
    seeded: &Seeded,
    plugins: &[DemoPlugin],
    data_dir: &Path,
    sink_url: &str,
    notes: &[String],
    process: &str,
) -> String {
    let base = &demo.base_url;
    let mut out = String::new();
    let _ = writeln!(out, "hookhost demo listening on {base}");
    for note in notes {
        let _ = writeln!(out, "  {note}");
    }
    let _ = writeln!(
        out,
        "\nCredentials (also in {}):",
        data_dir.join("demo.json").display()
    );
    let _ = writeln!(out, "  admin token           {}", demo.admin_token);
    let _ = writeln!(
        out,
        "  provider {} ({})\n    token               {}",
        seeded.provider_id, seeded.provider_name, demo.provider_token
    );
    let t = &demo.tenant;
    let _ = writeln!(out, "  tenant {} ({})", t.id, seeded.tenant_name);
    let _ = writeln!(out, "    smartml token       {}", t.smartml_token);
    let _ = writeln!(out, "    smartml secret      {}", t.smartml_secret);
    let m = &demo.marketplace_api_user;
    let _ = writeln!(
        out,
        "    marketplace user    token {}\n                        secret {}",
        m.smartml_token, m.smartml_secret
    );
    let _ = writeln!(out, "    REST API key        {}", t.rest_api_key);

    let p = &demo.portal;
    let _ = writeln!(
        out,
        "\nPortal: {} (sign in with any credential above), or open signed in:",
        p.sign_in
    );
    let _ = writeln!(out, "  as the provider       {}", p.provider);
    let _ = writeln!(out, "  as the tenant         {}", p.tenant);
    let _ = writeln!(out, "  as the operator       {}", p.operator);

    let _ = writeln!(
        out,
        "\nWebhooks (one marketplace service per bundled plugin, all activated for the tenant):"
    );
    for w in &seeded.webhooks {
        let mut what = if w.demo.modules.is_empty() {
            String::new()
        } else {
            format!("modules {}", w.demo.modules.join(", "))
        };
        if let Some(plugin) = plugins.iter().find(|p| p.name == w.plugin)
            && let (Some(kind), Some(object)) = (plugin.kind, plugin.object_type)
        {
            what = format!("{kind} ({object})");
        }
        if let Some(extension) = &w.demo.extension {
            let _ = write!(what, ", Ivanti extension {extension}");
        }
        let handler = match (&w.demo.handler.component, &w.demo.transform) {
            (Some(component), _) => component.clone(),
            (
                None,
                Some(DemoHandler {
                    component: Some(transform),
                    ..
                }),
            ) => format!("url, transform {transform}"),
            (None, _) => "url".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}  {:<28} {}  (service {})",
            w.demo.id, handler, what, w.service_id
        );
    }

    let provider = format!("Authorization: Bearer {}", demo.provider_token);
    let tenant_key = format!("Authorization: rest_api_key={}", t.rest_api_key);
    let admin = format!("Authorization: Bearer {}", demo.admin_token);
    let one = seeded
        .webhooks
        .iter()
        .find(|w| w.plugin == "valuation")
        .or(seeded.webhooks.first())
        .map_or("WBH-0000-0000", |w| w.demo.id.as_str());
    let _ = writeln!(out, "\nTry it:");
    let curls = [
        (
            "the provider's webhooks (MPT registry API)",
            format!("{base}/public/v1/notifications/webhooks"),
            &provider,
        ),
        (
            "the webhooks the tenant reaches, with its REST API key",
            format!("{base}/public/v1/notifications/webhooks"),
            &tenant_key,
        ),
        (
            "one webhook",
            format!("{base}/public/v1/notifications/webhooks/{one}"),
            &provider,
        ),
        (
            "the provider's components",
            format!("{base}/public/v1/components"),
            &provider,
        ),
        (
            "the operator's view of the tenants",
            format!("{base}/admin/v1/tenants"),
            &admin,
        ),
    ];
    for (comment, url, header) in curls {
        let _ = writeln!(out, "  # {comment}\n  curl -s {url} -H {}", sh(header));
    }

    // Running webhooks: synchronously (Ivanti, test calls) and through the outbox (smartml).
    let json_header = sh("Content-Type: application/json");
    let _ = writeln!(
        out,
        "  # Ivanti Webhooks/Execute: the echo component answers at once\n  \
         curl -s -X POST {} -H {} -H {json_header} -d {}",
        sh(&format!(
            "{base}/api/rest/Webhooks/Execute?extension=EchoWebhook"
        )),
        sh(&tenant_key),
        sh(r#"{"Subject":"Drucker im 2. OG klemmt","Priority":"2"}"#),
    );
    for webhook in &seeded.webhooks {
        let Some(plugin) = plugins.iter().find(|p| p.name == webhook.plugin) else {
            continue;
        };
        if !matches!(
            plugin.name,
            "valuation" | "newsletter-connector" | "newsletter-transform"
        ) {
            continue;
        }
        let body = json!({"tenantId": t.id, "recordId": plugin.record, "payload": plugin.sample});
        let _ = writeln!(
            out,
            "  # a test call of the {} webhook with its sample payload\n  \
             curl -s -X POST {base}/public/v1/notifications/webhooks/{}/test -H {} -H {json_header} -d {}",
            plugin.name,
            webhook.demo.id,
            sh(&provider),
            sh(&body.to_string()),
        );
    }
    let _ = writeln!(
        out,
        "  # what the demo's newsletter service received (from the connector, and the transformed\n  \
         # requests of the URL webhook)\n  curl -s {sink_url}"
    );
    if let Some(echo) = seeded.webhooks.iter().find(|w| w.plugin == "echo") {
        let action = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
        let _ = writeln!(
            out,
            "  # smartml executeMarketplaceWebhooks for task 301 (HMAC v2, needs openssl): the echo\n  \
             # webhook runs in the background; its call log shows the delivery\n  \
             token={}; secret={}; ts=$(date +%s); action={action}\n  \
             hmac=$(printf '%s' \"$ts${{token}}executeMarketplaceWebhooks$action\" | openssl dgst -sha256 -hmac \"$secret\" -binary | base64)\n  \
             curl -s {base}/api/stable/api.php -d '{{\"token\":\"'$token'\",\"request\":{{\"actions\":[{{\"actionid\":\"'$action'\",\"resourceid\":\"301\",\"resourcetype\":\"executeMarketplaceWebhooks\",\"identifier\":\"\",\"timestamp\":'$ts',\"hmac\":\"'$hmac'\",\"hmac_version\":\"2\",\"parameters\":{{\"module\":\"task\"}}}}]}}}}'\n  \
             curl -s {base}/public/v1/notifications/webhooks/{}/calls -H {}",
            t.smartml_token,
            t.smartml_secret,
            echo.demo.id,
            sh(&provider),
        );
    }

    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "hookhost".to_owned());
    let _ = writeln!(
        out,
        "\nRun a plugin locally, under production limits (samples in {}):",
        data_dir.join("samples").display()
    );
    for plugin in plugins {
        let wasm = data_dir
            .join("plugins")
            .join(format!("{}.wasm", plugin.name));
        let sample = data_dir
            .join("samples")
            .join(format!("{}.json", plugin.name));
        let mut command = format!(
            "  {} plugin run {} --module {} --record {} --event {} --payload {}",
            sh(&exe),
            sh(&path_text(&wasm)),
            plugin.module,
            plugin.record,
            plugin.event,
            sh(&path_text(&sample)),
        );
        for (name, value) in &plugin.settings {
            let flag = if plugin.secret_parameters.contains(&name.as_str()) {
                "--secret"
            } else {
                "--set"
            };
            let _ = write!(command, " {flag} {}", sh(&format!("{name}={value}")));
        }
        for host in &plugin.allowed_hosts {
            let _ = write!(command, " --allow-host {}", sh(host));
        }
        if !plugin.allowed_hosts.is_empty() {
            // The demo's sink is a local server.
            command.push_str(" --allow-insecure");
        }
        let _ = writeln!(out, "{command}");
    }
    out.push_str(process);
    let _ = writeln!(
        out,
        "\n(the newsletter connector's command posts to the demo's sink: keep the demo running)\nCtrl-C stops the demo."
    );
    out
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// `text` as one shell word: unchanged when it is safe, else single-quoted.
fn sh(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn remove_file_if_exists(path: &Path) -> anyhow::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("deleting {}", path.display())),
    }
}

/// Deletes an SQLite database with its WAL and shared-memory files; whether it existed.
fn remove_sqlite_database(path: &Path) -> anyhow::Result<bool> {
    let mut existed = false;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        existed |= remove_file_if_exists(&PathBuf::from(name))?;
    }
    Ok(existed)
}

/// Writes `path` through a temporary file and a rename, so a reader never sees half of it.
/// The file is readable by its owner only (0600 on unix): it holds credentials.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    remove_file_if_exists(&temporary)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&temporary)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// What the sink received, newest last; bounded so a long-running demo does not grow.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<SinkState>>);

#[derive(Default)]
struct SinkState {
    /// Subscribers received since the start (numbers the answers' ids).
    received: u64,
    /// The last [`SINK_KEEP`] of them.
    entries: VecDeque<Value>,
}

/// Subscribers the sink keeps.
const SINK_KEEP: usize = 100;

/// The demo's newsletter service: `POST` stores a subscriber, `GET` lists them.
fn sink_router() -> Router {
    Router::new()
        .route(SINK_PATH, get(sink_list).post(sink_receive))
        .with_state(Sink::default())
}

async fn sink_receive(State(sink): State<Sink>, body: Bytes) -> (StatusCode, axum::Json<Value>) {
    let received = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let mut sink = sink.0.lock().unwrap_or_else(|e| e.into_inner());
    sink.received += 1;
    sink.entries.push_back(received);
    while sink.entries.len() > SINK_KEEP {
        sink.entries.pop_front();
    }
    let id = format!("sub_{}", sink.received);
    (StatusCode::CREATED, axum::Json(json!({"id": id})))
}

async fn sink_list(State(sink): State<Sink>) -> axum::Json<Value> {
    let sink = sink.0.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(json!({"data": sink.entries.iter().collect::<Vec<_>>()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(sh("/tmp/a.wasm"), "/tmp/a.wasm");
        assert_eq!(sh("Authorization: Bearer x"), "'Authorization: Bearer x'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
