//! The harness every test shares: sandbox calls without a host ([`runtime`], [`Ctx`],
//! [`call`]); fresh databases ([`Db`], [`fresh_store`]); a real host in this process
//! ([`TestHost`], requests through [`Caller`]); the [`World`] most end-to-end tests start from
//! (a provider, its service, a tenant that activated it); smartml requests signed like a real
//! client's; and loopback servers standing in for what the host calls ([`Receiver`],
//! [`TcpProbe`], [`smtp_server`], [`OtlpReceiver`]).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use hookhost::config::Config;
use hookhost::sandbox::{
    CallContext, CallReport, Egress, EgressConfig, Event, Invocation, KvStore, Limits, MemoryKv,
    OutboundPolicy, Plugin, Runtime, SandboxConfig, Tenant,
};
use hookhost::store::{Handler, Scope, Webhook, WebhookSpec};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A runtime with production defaults and its own temporary artifact cache.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    runtime_with(SandboxConfig::default())
}

/// A runtime with `config` and its own temporary artifact cache.
pub fn runtime_with(config: SandboxConfig) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(config, Some(dir.path())).unwrap();
    (runtime, dir)
}

/// Loads a component built by `plugins/bundle/build.rs`.
pub fn load(runtime: &Runtime, path: &str) -> Arc<Plugin> {
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    runtime
        .load(&wasm)
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// An invocation of `module`/`record` with `payload`.
pub fn invocation(module: &str, record: &str, payload: &str) -> Invocation {
    Invocation {
        webhook_id: "WBH-1234-5678".into(),
        tenant: Tenant {
            id: "TEN-1".into(),
            name: "Immobilien Muster GmbH".into(),
        },
        module: module.into(),
        record_id: record.into(),
        event: Event::Update,
        payload: payload.into(),
        parameters: Vec::new(),
        delivery_id: "DLV-1".into(),
        attempt: 1,
    }
}

/// What a call may use; defaults unless changed with the builder methods.
pub struct Ctx {
    pub limits: Limits,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub kv: Arc<dyn KvStore>,
    pub hosts: Vec<String>,
    pub insecure: bool,
}

impl Ctx {
    pub fn new(runtime: &Runtime) -> Self {
        Ctx {
            limits: runtime.limits_for(None),
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            kv: Arc::new(MemoryKv::default()),
            hosts: Vec::new(),
            insecure: false,
        }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// A secret activation parameter (`host.secret`; 0.1.0's `host.config`).
    pub fn secret(mut self, key: &str, value: &str) -> Self {
        self.secrets.insert(key.into(), value.into());
        self
    }

    pub fn allow(mut self, host: &str) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Outbound requests may also reach http:// and loopback targets (a local receiver).
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    pub fn kv(mut self, kv: Arc<dyn KvStore>) -> Self {
        self.kv = kv;
        self
    }

    pub fn limits(mut self, f: impl FnOnce(&mut Limits)) -> Self {
        f(&mut self.limits);
        self
    }

    pub fn build(self) -> CallContext {
        CallContext {
            limits: self.limits,
            config: Arc::new(self.config),
            secrets: Arc::new(self.secrets),
            kv: self.kv,
            outbound: OutboundPolicy::new(
                Egress::new(EgressConfig {
                    allow_insecure: self.insecure,
                    ..EgressConfig::default()
                })
                .unwrap(),
                &self.hosts,
            ),
        }
    }
}

/// Calls `plugin` once.
pub async fn call(runtime: &Runtime, plugin: &Plugin, inv: &Invocation, ctx: Ctx) -> CallReport {
    runtime.call(plugin, inv, ctx.build()).await
}

/// The outcome body of a successful call as JSON; panics with the failure otherwise.
pub fn ok_body(report: &CallReport) -> serde_json::Value {
    match &report.result {
        Ok(outcome) => serde_json::from_str(&outcome.body)
            .unwrap_or_else(|e| panic!("outcome body is not JSON ({e}): {}", outcome.body)),
        Err(error) => panic!("call failed: {error} (log: {:?})", report.log.lines),
    }
}

/// Which database a [`TestHost`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the local PostgreSQL (127.0.0.1:5432, user postgres).
    Postgres,
}

/// Where the local PostgreSQL server is; `HOOKHOST_TEST_PG` overrides it.
pub fn postgres_admin_url() -> String {
    std::env::var("HOOKHOST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty PostgreSQL database; dropped when the guard is.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let name = format!(
            "hookhost_test_{}",
            hookhost::crypto::random_alphanumeric(12).to_lowercase()
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for these tests: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (postgres_admin_url(), self.name.clone());
        // Drop may run inside a runtime: do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh store on `db`, migrated; keep the guard alive as long as the store.
pub async fn fresh_store(db: Db) -> (hookhost::store::Store, StoreGuard) {
    let (url, guard) = fresh_database(db).await;
    (hookhost::store::Store::open(&url).await.unwrap(), guard)
}

/// The URL of a fresh, empty database on `db`; keep the guard alive as long as it is used.
pub async fn fresh_database(db: Db) -> (String, StoreGuard) {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            (
                hookhost::store::default_sqlite_url(dir.path()),
                StoreGuard::Dir(dir),
            )
        }
        Db::Postgres => {
            let pg = PgDatabase::create().await;
            (pg.url.clone(), StoreGuard::Pg(pg))
        }
    }
}

/// Keeps a test database alive; dropping it removes the database.
pub enum StoreGuard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] PgDatabase),
}

// ---------------------------------------------------------------------------------------------
// A host in this process

/// The admin token of every [`TestHost`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// What the hosts of one test share: the database and a folder for their data directories.
/// It goes when the last of them is dropped.
struct Home {
    dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
    /// Data directories handed out so far.
    hosts: AtomicUsize,
}

impl Home {
    /// A data directory no other host of this home uses.
    fn new_data_dir(&self) -> PathBuf {
        let n = self.hosts.fetch_add(1, Ordering::SeqCst) + 1;
        self.dir.path().join(format!("host-{n}"))
    }
}

/// A real host on 127.0.0.1, port 0, with a fresh database.
pub struct TestHost {
    /// `http://127.0.0.1:port`
    pub base: String,
    pub client: reqwest::Client,
    /// The server's state: its store, runtime and master key (for test setup).
    pub state: hookhost::api::AppState,
    /// Tells the server to shut down (sent when the host is dropped, too).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server, awaited by [`TestHost::stop`].
    server: Option<tokio::task::JoinHandle<()>>,
    home: Arc<Home>,
}

impl TestHost {
    pub async fn start(db: Db) -> TestHost {
        Self::start_with(db, |_| {}).await
    }

    /// A host whose test settings (admin token, master key, loopback targets allowed) are
    /// then changed by `configure`.
    pub async fn start_with(db: Db, configure: impl FnOnce(&mut Config)) -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match db {
            Db::Sqlite => (hookhost::store::default_sqlite_url(dir.path()), None),
            Db::Postgres => {
                let pg = PgDatabase::create().await;
                (pg.url.clone(), Some(pg))
            }
        };
        let home = Arc::new(Home {
            dir,
            _pg: pg,
            hosts: AtomicUsize::new(0),
        });
        let mut config = Config::defaults();
        config.data_dir = home.new_data_dir();
        config.database_url = url;
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        config.master_key = Some(hookhost::crypto::MasterKey::generate_base64());
        config.outbound.allow_insecure = true;
        configure(&mut config);
        Self::launch(config, home).await
    }

    /// A second instance on this host's database, with the same master key and settings but
    /// its own data directory: two hosts of one cluster in one process.
    pub async fn another_instance(&self) -> TestHost {
        let mut config = (*self.state.config).clone();
        config.data_dir = self.home.new_data_dir();
        Self::launch(config, self.home.clone()).await
    }

    /// Shuts the host down the way `serve` does on SIGTERM and waits until it has stopped
    /// (workers and scheduler included). The database stays for [`TestHost::restart`] and
    /// the other instances.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("the host stops")
                .unwrap();
        }
    }

    /// Stops the host (unless it is stopped) and starts it again on its database and data
    /// directory, on a new port.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await
    }

    /// [`TestHost::restart`] with settings changed by `configure`.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = (*self.state.config).clone();
        configure(&mut config);
        *self = Self::launch(config, self.home.clone()).await;
    }

    async fn launch(config: Config, home: Arc<Home>) -> TestHost {
        let state = hookhost::server::build_state(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            hookhost::server::run(listener, server_state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestHost {
            base,
            client: reqwest::Client::new(),
            state,
            shutdown: Some(tx),
            server: Some(server),
            home,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The store, for setting up fixtures.
    pub fn store(&self) -> &hookhost::store::Store {
        &self.state.store
    }

    /// Runs the real `hookhost` binary (`admin …`, `--json`) on this host's database, as an
    /// operator beside the running host would; returns whether it succeeded and what it
    /// printed (stdout when it succeeded, where `--json` prints; stdout and stderr when not).
    pub async fn cli(&self, args: &[&str]) -> (bool, String) {
        let config = &self.state.config;
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
            .args(args)
            .env("HOOKHOST_DATA_DIR", &config.data_dir)
            .env("HOOKHOST_DATABASE_URL", &config.database_url)
            .env("HOOKHOST_MASTER_KEY", config.master_key.as_deref().unwrap())
            .env_remove("HOOKHOST_CONFIG")
            .output()
            .await
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        (out.status.success(), text)
    }

    /// Stops this host and serves its database and data directory with the real `hookhost
    /// serve` binary instead, with this host's settings (given as `HOOKHOST_…` variables) and
    /// the variables `env` besides: for what only a whole process sets up (the global
    /// subscriber of logs and traces). Returns once it listens.
    pub async fn serve_binary(&mut self, env: &[(&str, &str)]) -> ServedBinary {
        use tokio::io::AsyncBufReadExt as _;
        self.stop().await;
        let config = &self.state.config;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"));
        command
            .arg("serve")
            .env_remove("HOOKHOST_CONFIG")
            .env("HOOKHOST_DATA_DIR", &config.data_dir)
            .env("HOOKHOST_DATABASE_URL", &config.database_url)
            .env("HOOKHOST_MASTER_KEY", config.master_key.as_deref().unwrap())
            .env("HOOKHOST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env(
                "HOOKHOST_OUTBOUND__ALLOW_INSECURE",
                config.outbound.allow_insecure.to_string(),
            )
            .env("HOOKHOST_LISTEN", "127.0.0.1:0")
            .env("HOOKHOST_LOG_FORMAT", "json")
            .env("HOOKHOST_LOG", "info")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting hookhost serve");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let started = Instant::now();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("hookhost serve says it listens within a minute")
                .unwrap()
                .expect("hookhost serve exited before it listened");
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "listening" {
                break entry["fields"]["addr"].as_str().unwrap().to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(60));
        };
        // Keep reading, so that the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServedBinary {
            base: format!("http://{addr}"),
            _child: child,
        }
    }

    /// Requests sent with `Authorization: Bearer <token>` (an operator's, a provider's or a
    /// tenant's REST key).
    pub fn as_bearer(&self, token: &str) -> Caller<'_> {
        Caller {
            host: self,
            authorization: format!("Bearer {token}"),
        }
    }

    /// Requests sent with `Authorization: rest_api_key=<key>`, as onOffice clients send a
    /// tenant's REST key.
    pub fn as_rest_key(&self, key: &str) -> Caller<'_> {
        Caller {
            host: self,
            authorization: format!("rest_api_key={key}"),
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Sends requests to a [`TestHost`] with one `authorization` header; each answer comes back
/// as its status and its body: JSON, `Null` when empty, a string when not JSON.
/// A `hookhost serve` process ([`TestHost::serve_binary`]), killed when dropped.
pub struct ServedBinary {
    /// `http://127.0.0.1:port`
    pub base: String,
    _child: tokio::process::Child,
}

impl ServedBinary {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub struct Caller<'a> {
    host: &'a TestHost,
    authorization: String,
}

impl Caller<'_> {
    /// `method path`, with `body` as JSON.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .host
            .client
            .request(method, self.host.url(path))
            .header("authorization", &self.authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = match text.as_str() {
            "" => Value::Null,
            text => serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())),
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    /// `POST path`, with a JSON body or none.
    pub async fn post<'b>(
        &self,
        path: &str,
        body: impl Into<Option<&'b Value>>,
    ) -> (StatusCode, Value) {
        self.send(Method::POST, path, body.into()).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }
}

// ---------------------------------------------------------------------------------------------
// The world most tests start from

/// A host with a provider, its marketplace service and a tenant that activated it, with every
/// credential they have: what most end-to-end tests start from. [`World::build`] changes the
/// host's settings, the service's parameters and the activation's.
pub struct World {
    pub host: TestHost,
    /// The provider ("Marketplace Provider").
    pub provider: Scope,
    /// The provider's API token.
    pub provider_token: String,
    /// The provider's service ("Service").
    pub service: String,
    /// The tenant ("Immobilien Muster GmbH") that activated the service.
    pub tenant: String,
    /// The tenant's smartml API user: its token and secret.
    pub token: String,
    pub secret: String,
    /// The tenant's REST API key.
    pub rest_key: String,
}

/// What a [`World`] is started with; see [`World::build`].
pub struct WorldBuilder<'a> {
    db: Db,
    configure: Box<dyn FnOnce(&mut Config) + 'a>,
    service_parameters: Vec<String>,
    activation: BTreeMap<String, String>,
}

impl<'a> WorldBuilder<'a> {
    /// The host's settings, changed by `configure` (after the test settings of
    /// [`TestHost::start_with`]).
    pub fn config<'b>(self, configure: impl FnOnce(&mut Config) + 'b) -> WorldBuilder<'b> {
        WorldBuilder {
            db: self.db,
            configure: Box::new(configure),
            service_parameters: self.service_parameters,
            activation: self.activation,
        }
    }

    /// The parameters the service accepts (none by default).
    pub fn service_parameters(mut self, names: &[&str]) -> Self {
        self.service_parameters = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// The activation's parameters (none by default).
    pub fn activation(mut self, parameters: &[(&str, &str)]) -> Self {
        self.activation = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self
    }

    pub async fn start(self) -> World {
        let host = TestHost::start_with(self.db, self.configure).await;
        let (store, key) = (host.store(), &host.state.key);
        let (provider, provider_token) =
            store.create_provider("Marketplace Provider").await.unwrap();
        let provider = Scope::Provider(provider.id);
        let service = store
            .create_service(&provider, "Service", &self.service_parameters)
            .await
            .unwrap()
            .id;
        let tenant = store
            .create_tenant("Immobilien Muster GmbH")
            .await
            .unwrap()
            .id;
        store
            .activate(key, &tenant, &service, &self.activation)
            .await
            .unwrap();
        let user = store.create_api_user(key, &tenant, false).await.unwrap();
        let (_, rest_key) = store.create_api_key(&tenant).await.unwrap();
        World {
            provider,
            provider_token,
            service,
            tenant,
            token: user.token,
            secret: user.secret,
            rest_key,
            host,
        }
    }
}

impl World {
    /// The world with the defaults on `db`.
    pub async fn start(db: Db) -> World {
        World::build(db).start().await
    }

    /// A world on `db` to be configured, then started with [`WorldBuilder::start`].
    pub fn build(db: Db) -> WorldBuilder<'static> {
        WorldBuilder {
            db,
            configure: Box::new(|_| {}),
            service_parameters: Vec::new(),
            activation: BTreeMap::new(),
        }
    }

    /// Requests as the provider (its bearer token).
    pub fn as_provider(&self) -> Caller<'_> {
        self.host.as_bearer(&self.provider_token)
    }

    /// Requests as the tenant (`rest_api_key=`).
    pub fn as_tenant(&self) -> Caller<'_> {
        self.host.as_rest_key(&self.rest_key)
    }

    /// Uploads the component built at `path` as the provider's, under a name of its own;
    /// returns its id.
    pub async fn upload(&self, path: &str) -> String {
        let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        // Off the async workers: a Python or JavaScript component compiles for seconds.
        let plugin = self
            .host
            .state
            .runtime
            .load_blocking(wasm.clone().into())
            .await
            .unwrap_or_else(|e| panic!("loading {path}: {e}"));
        let name = hookhost::crypto::random_alphanumeric(8).to_lowercase();
        self.host
            .store()
            .insert_component(&self.provider, &name, "1.0.0", &plugin.info, &wasm)
            .await
            .unwrap()
            .id
    }

    /// A webhook of the service handled by `handler`, to be registered with
    /// [`World::register`].
    pub fn spec(&self, handler: Handler) -> WebhookSpec {
        WebhookSpec::new(&self.service, handler)
    }

    /// Registers `spec` as the provider's webhook; returns it and its signing secret.
    pub async fn register(&self, spec: WebhookSpec) -> (Webhook, String) {
        self.host
            .store()
            .create_webhook(&self.host.state.key, &self.provider, &spec)
            .await
            .unwrap()
    }

    /// The provider's webhook `id`, with every call recorded so far counted.
    pub async fn webhook(&self, id: &str) -> Webhook {
        self.host.state.recorder.flush().await;
        self.host.store().webhook(&self.provider, id).await.unwrap()
    }

    /// The provider's webhook `id` once its statistics count `total` calls.
    pub async fn webhook_after_calls(&self, id: &str, total: i64) -> Webhook {
        eventually(&format!("{total} calls of {id}"), async || {
            let webhook = self.webhook(id).await;
            (webhook.statistics.total >= total).then_some(webhook)
        })
        .await
    }

    /// Triggers the tenant's `module` webhooks once per record, in one smartml request.
    pub async fn trigger(&self, module: &str, records: &[&str]) {
        smartml_execute(&self.host, &self.token, &self.secret, module, records).await;
    }
}

// ---------------------------------------------------------------------------------------------
// smartml

/// The smartml action id of `executeMarketplaceWebhooks`.
pub const SMARTML_ACTION_ID: &str = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";

/// A smartml timestamp (Unix seconds) that no other call in this test binary got: the
/// current second, or the one after the last handed out. An HMAC is good for one request and
/// signs only the timestamp, token, resourcetype and actionid, so a client sending two
/// requests with the same action in one second must sign them with different timestamps
/// (the window, ±10 minutes, leaves room for that).
pub fn smartml_timestamp() -> i64 {
    use std::sync::atomic::AtomicI64;
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = hookhost::time::now_ms() / 1000;
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .expect("the closure always updates");
    now.max(previous + 1)
}

/// A smartml action signed (HMAC v2) for the API user `token` / `secret` and `timestamp`:
/// actions with equal timestamps and resourcetypes share their HMAC, as a client batching
/// within one second signs them.
pub fn smartml_action(
    token: &str,
    secret: &str,
    timestamp: i64,
    resourcetype: &str,
    resourceid: &str,
    parameters: Value,
) -> Value {
    let hmac = hookhost::api::smartml::hmac_v2(
        secret,
        &timestamp.to_string(),
        token,
        resourcetype,
        SMARTML_ACTION_ID,
    );
    json!({
        "actionid": SMARTML_ACTION_ID, "resourceid": resourceid, "identifier": "",
        "resourcetype": resourcetype, "timestamp": timestamp, "hmac": hmac,
        "hmac_version": "2", "parameters": parameters,
    })
}

/// A smartml request of `actions` by the API user `token`.
pub fn smartml_request(token: &str, actions: &[Value]) -> Value {
    json!({"token": token, "request": {"actions": actions}})
}

/// A signed smartml request triggering `executeMarketplaceWebhooks` for `module` and record
/// `record` with the API user `token` / `secret`.
pub fn smartml_trigger(token: &str, secret: &str, module: &str, record: &str) -> Value {
    let action = smartml_action(
        token,
        secret,
        smartml_timestamp(),
        "executeMarketplaceWebhooks",
        record,
        json!({"module": module}),
    );
    smartml_request(token, &[action])
}

/// Triggers the `module` webhooks of the API user `token` / `secret`'s tenant once per
/// record, in one request whose actions each have an HMAC of their own; asserts that it was
/// accepted.
pub async fn smartml_execute(
    host: &TestHost,
    token: &str,
    secret: &str,
    module: &str,
    records: &[&str],
) {
    let actions: Vec<Value> = records
        .iter()
        .map(|record| {
            smartml_action(
                token,
                secret,
                smartml_timestamp(),
                "executeMarketplaceWebhooks",
                record,
                json!({"module": module}),
            )
        })
        .collect();
    let answer: Value = host
        .client
        .post(host.url("/api/stable/api.php"))
        .body(smartml_request(token, &actions).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
}

// ---------------------------------------------------------------------------------------------
// A loopback receiver

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub path: String,
    /// The query string, as sent.
    pub raw_query: String,
    /// The query parameters, decoded.
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Hit {
    /// The value of header `name`; empty when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The `webhook-id` header: the delivery id of a URL handler's call.
    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Checks the Standard Webhooks signature with `secret`, using the `standardwebhooks`
    /// crate.
    pub fn verify_signature(&self, secret: &str) -> Result<(), String> {
        standardwebhooks::Webhook::new(secret)
            .map_err(|e| e.to_string())?
            .verify(&self.body, &self.headers)
            .map_err(|e| e.to_string())
    }

    /// Checks the bearer JWT with `secret`, using the `jsonwebtoken` crate: HS256, audience
    /// 127.0.0.1, issuer hookhost, exp/nbf/iat required; returns the claims.
    pub fn verify_jwt(&self, secret: &str) -> Result<Value, String> {
        let token = self
            .header("authorization")
            .strip_prefix("Bearer ")
            .ok_or("no bearer token")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["127.0.0.1"]);
        validation.set_issuer(&["hookhost"]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss"]);
        validation.validate_nbf = true;
        let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

/// What a [`Receiver`] answers.
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    /// 200 with a JSON body and an `x-receiver: yes` header, so a call log shows what it kept.
    pub fn ok() -> Reply {
        Reply::status(200)
            .header("x-receiver", "yes")
            .body(r#"{"received":true}"#)
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    /// 200 with `body` as plain text.
    pub fn text(body: &str) -> Reply {
        Reply::status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }

    /// `body` as JSON.
    pub fn json(self, body: &Value) -> Reply {
        self.header("content-type", "application/json")
            .body(&body.to_string())
    }

    /// Answers only after `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// How a [`Receiver`] answers a request, given the request and how many requests the same
/// path had before.
type Script = Arc<dyn Fn(&Hit, usize) -> Reply + Send + Sync>;

/// An HTTP server on loopback standing in for whatever the host or a component calls (a URL
/// handler, a validator, a newsletter service, an internal address that must never be
/// reached): it records every request and answers as its script says.
#[derive(Clone)]
pub struct Receiver {
    addr: String,
    state: Arc<ReceiverState>,
}

struct ReceiverState {
    script: Mutex<Script>,
    hits: Mutex<Vec<Hit>>,
    /// Requests per path so far.
    per_path: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Receiver {
    /// A receiver on 127.0.0.1 that answers every request with [`Reply::ok`].
    pub async fn start() -> Receiver {
        Self::scripted(|_, _| Reply::ok()).await
    }

    /// A receiver on 127.0.0.1 that answers as `script` says.
    pub async fn scripted(
        script: impl Fn(&Hit, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(script))
    }

    /// A receiver on the IPv6 loopback `[::1]`; `None` when this machine has none.
    pub async fn scripted_on_ipv6(
        script: impl Fn(&Hit, usize) -> Reply + Send + Sync + 'static,
    ) -> Option<Receiver> {
        let listener = tokio::net::TcpListener::bind("[::1]:0").await.ok()?;
        Some(Self::serve(listener, Arc::new(script)))
    }

    fn serve(listener: tokio::net::TcpListener, script: Script) -> Receiver {
        let state = Arc::new(ReceiverState {
            script: Mutex::new(script),
            hits: Mutex::default(),
            per_path: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { state.answer(method, uri, headers, body).await }
            },
        );
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    /// From now on, answers as `script` says.
    pub fn answer(&self, script: impl Fn(&Hit, usize) -> Reply + Send + Sync + 'static) {
        *self.state.script.lock().unwrap() = Arc::new(script);
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://host:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in the order they arrived.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.state.hits.lock().unwrap().len()
    }

    /// How many requests arrived for `path`.
    pub fn count_on(&self, path: &str) -> usize {
        let per_path = self.state.per_path.lock().unwrap();
        per_path.get(path).copied().unwrap_or(0)
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// The requests once there are at least `n`.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        eventually(&format!("{n} requests at the receiver"), async || {
            let hits = self.hits();
            (hits.len() >= n).then_some(hits)
        })
        .await
    }
}

impl ReceiverState {
    async fn answer(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let raw_query = uri.query().unwrap_or("").to_owned();
        let hit = Hit {
            method,
            path: uri.path().to_owned(),
            query: url::form_urlencoded::parse(raw_query.as_bytes())
                .into_owned()
                .collect(),
            raw_query,
            headers,
            body,
            at: Instant::now(),
        };
        let earlier = {
            let mut per_path = self.per_path.lock().unwrap();
            let count = per_path.entry(hit.path.clone()).or_default();
            *count += 1;
            self.hits.lock().unwrap().push(hit.clone());
            *count - 1
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let script = self.script.lock().unwrap().clone();
        let reply = script(&hit, earlier);
        tokio::time::sleep(reply.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut response = Response::builder().status(reply.status);
        for (name, value) in &reply.headers {
            response = response.header(*name, value);
        }
        response.body(axum::body::Body::from(reply.body)).unwrap()
    }
}

/// A bare TCP listener on 127.0.0.1 that speaks no HTTP: it counts connections, keeps the
/// first line each sent (what a proxy is asked: `CONNECT host:port HTTP/1.1`) and answers
/// 502. For addresses nothing may reach, and for proxies.
pub struct TcpProbe {
    /// `127.0.0.1:port`
    pub addr: String,
    connections: Arc<AtomicUsize>,
    first_lines: Arc<Mutex<Vec<String>>>,
}

impl TcpProbe {
    pub async fn start() -> TcpProbe {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let probe = TcpProbe {
            addr: listener.local_addr().unwrap().to_string(),
            connections: Arc::default(),
            first_lines: Arc::default(),
        };
        let (connections, first_lines) = (probe.connections.clone(), probe.first_lines.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let first_lines = first_lines.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut first = String::new();
                    let _ = reader.read_line(&mut first).await;
                    first_lines.lock().unwrap().push(first.trim().to_owned());
                    let _ = reader
                        .get_mut()
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        probe
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The first line of each connection that sent one (or closed).
    pub fn first_lines(&self) -> Vec<String> {
        self.first_lines.lock().unwrap().clone()
    }
}

/// Polls `probe` until it returns something (30 s at most).
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// An SMTP server

/// A message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, dot-unstuffed.
    pub data: String,
}

/// What the SMTP server accepted, in order.
#[derive(Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<Mail>>>);

impl Mail {
    /// The message with quoted-printable undone (soft line breaks joined, `=XX` decoded):
    /// what a reader sees of a plain-text e-mail.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\n", "");
        let mut bytes = Vec::with_capacity(joined.len());
        let raw = joined.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (raw[i], hex) {
                (b'=', Some(byte)) => {
                    bytes.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    bytes.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Outbox {
    pub fn mails(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }
}

/// A minimal SMTP server on loopback (RFC 5321's commands a client sends for one message):
/// greets with 220, answers EHLO/HELO, MAIL, RCPT, DATA (dot-terminated, dot-unstuffed),
/// RSET, NOOP and QUIT, and keeps every message. Returns its port.
pub async fn smtp_server() -> (u16, Outbox) {
    let outbox = Outbox::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = outbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(smtp_session(socket, kept.clone()));
        }
    });
    (port, outbox)
}

async fn smtp_session(socket: tokio::net::TcpStream, outbox: Outbox) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink.test ESMTP ready\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test greets you\r\n250 8BITMIME\r\n",
            "HELO" => b"250 sink.test\r\n",
            "MAIL" => {
                from = address(&line);
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" => {
                to.push(address(&line));
                b"250 2.1.5 OK\r\n"
            }
            "DATA" => {
                let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                outbox.0.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 2.0.0 queued\r\n"
            }
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                b"250 2.0.0 OK\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => b"250 2.0.0 OK\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The address in `MAIL FROM:<a>` / `RCPT TO:<a>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// An OpenTelemetry collector

/// One span an [`OtlpReceiver`] got, ids in lowercase hex.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// String, integer and boolean attributes, as text.
    pub attributes: BTreeMap<String, String>,
    /// The names of its events, in order.
    pub events: Vec<String>,
    /// `service.name` of the resource that sent it.
    pub service: String,
}

/// An OTLP/HTTP receiver on loopback: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest` (decoded with `opentelemetry-proto`), answered 200; keeps every
/// span.
pub struct OtlpReceiver {
    /// `http://127.0.0.1:port`
    pub base: String,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
}

impl OtlpReceiver {
    pub async fn start() -> OtlpReceiver {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message as _;
        let spans: Arc<Mutex<Vec<ExportedSpan>>> = Arc::default();
        let kept = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let kept = kept.clone();
                async move {
                    assert_eq!(
                        headers.get("content-type").unwrap(),
                        "application/x-protobuf"
                    );
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    let mut kept = kept.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .map(|a| otlp_value(a.value.as_ref()))
                            .unwrap_or_default();
                        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                            kept.push(ExportedSpan {
                                trace_id: hex::encode(&span.trace_id),
                                span_id: hex::encode(&span.span_id),
                                parent_span_id: hex::encode(&span.parent_span_id),
                                name: span.name,
                                attributes: span
                                    .attributes
                                    .iter()
                                    .map(|a| (a.key.clone(), otlp_value(a.value.as_ref())))
                                    .collect(),
                                events: span.events.into_iter().map(|e| e.name).collect(),
                                service: service.clone(),
                            });
                        }
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        OtlpReceiver { base, spans }
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans once `done` holds for them.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        eventually(what, async || {
            let spans = self.spans();
            done(&spans).then_some(spans)
        })
        .await
    }
}

/// An attribute value as text.
fn otlp_value(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.clone(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schema

/// Where `value` breaks `schema`, for the keywords the event-type catalogue uses (`type`,
/// `const`, `enum`, `required`, `properties`, `additionalProperties: false`, `anyOf`); empty
/// when it holds. Unknown keywords (`format`, `description`, …) assert nothing, as in JSON
/// Schema itself.
pub fn schema_violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    violations(schema, value, "$", &mut found);
    found
}

fn violations(schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let type_of = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = type_of(value);
        if !allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"))
        {
            found.push(format!("{at}: {actual} is not {allowed:?}"));
        }
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        found.push(format!("{at}: {value} is not {expected}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(Value::Array(options)) = schema.get("anyOf")
        && !options
            .iter()
            .any(|option| schema_violations(option, value).is_empty())
    {
        found.push(format!("{at}: {value} matches none of anyOf"));
    }
    let Value::Object(object) = value else {
        return;
    };
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        if !object.contains_key(name) {
            found.push(format!("{at}: {name} is missing"));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, item) in object {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => violations(property, item, &format!("{at}.{name}"), found),
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                found.push(format!("{at}: {name} is not allowed"))
            }
            None => {}
        }
    }
}

// A real browser

/// Headless Chromium driven over WebDriver: Debian's `chromium` and `chromium-driver`
/// (`.ci/run` installs them). The test starts its own chromedriver on a free port and ends it
/// when the browser is dropped.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
}

impl Browser {
    /// Where chromedriver and Chromium are expected.
    const DRIVER: &'static str = "/usr/bin/chromedriver";
    const CHROMIUM: &'static str = "/usr/bin/chromium";

    /// A fresh headless browser with a laptop-sized window (1366 × 900).
    pub async fn start() -> Browser {
        assert!(
            Path::new(Self::DRIVER).exists() && Path::new(Self::CHROMIUM).exists(),
            "the browser tests need {} and {}: apt-get install -y chromium chromium-driver \
             (.ci/run does)",
            Self::CHROMIUM,
            Self::DRIVER
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(Self::DRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": Self::CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1366,900",
                         "--lang=en-US", "--no-first-run"],
            }),
        );
        let client = eventually("chromedriver to accept a session", async || {
            fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
            .ok()
        })
        .await;
        Browser { client, driver }
    }

    /// The element `css` selects, once there is one.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The text of the page's body.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    /// Waits until the body's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        eventually(&format!("the page to show {text:?}"), async || {
            self.text().await.contains(text).then_some(())
        })
        .await
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
