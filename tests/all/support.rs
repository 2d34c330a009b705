//! Shared test helpers.

use axum::Router;
use hookhost::sandbox::{
    CallContext, CallReport, Egress, EgressConfig, Event, Invocation, KvStore, Limits, MemoryKv,
    OutboundPolicy, Plugin, Runtime, SandboxConfig, Tenant,
};
use std::collections::BTreeMap;
use std::sync::Arc;

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
    pub kv: Arc<dyn KvStore>,
    pub hosts: Vec<String>,
    pub insecure: bool,
}

impl Ctx {
    pub fn new(runtime: &Runtime) -> Self {
        Ctx {
            limits: runtime.limits_for(None),
            config: BTreeMap::new(),
            kv: Arc::new(MemoryKv::default()),
            hosts: Vec::new(),
            insecure: false,
        }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.into(), value.into());
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

/// Starts `router` on 127.0.0.1, port 0; returns its `host:port`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr.to_string()
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
    /// Another host owns the database (see [`TestHost::another_instance`]).
    Borrowed,
}

/// The admin token of every [`TestHost`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A real host on 127.0.0.1, port 0, with a fresh database.
pub struct TestHost {
    /// `http://127.0.0.1:port`
    pub base: String,
    pub client: reqwest::Client,
    /// The server's state: its store, runtime and master key (for test setup).
    pub state: hookhost::api::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _data: tempfile::TempDir,
    _db: StoreGuard,
}

impl TestHost {
    pub async fn start(db: Db) -> TestHost {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(
        db: Db,
        configure: impl FnOnce(&mut hookhost::config::Config),
    ) -> TestHost {
        let data = tempfile::tempdir().unwrap();
        let (url, guard) = match db {
            Db::Sqlite => (
                hookhost::store::default_sqlite_url(data.path()),
                StoreGuard::Dir(tempfile::tempdir().unwrap()),
            ),
            Db::Postgres => {
                let pg = PgDatabase::create().await;
                (pg.url.clone(), StoreGuard::Pg(pg))
            }
        };
        let mut config = hookhost::config::Config::defaults();
        config.data_dir = data.path().to_owned();
        config.database_url = url;
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        config.master_key = Some(hookhost::crypto::MasterKey::generate_base64());
        config.outbound.allow_insecure = true;
        configure(&mut config);
        Self::launch(config, data, guard).await
    }

    /// A second instance on this host's database, with the same master key and settings but
    /// its own data directory: two hosts of one cluster in one process. Drop it before this
    /// host, which owns the database.
    pub async fn another_instance(&self) -> TestHost {
        let data = tempfile::tempdir().unwrap();
        let mut config = (*self.state.config).clone();
        config.data_dir = data.path().to_owned();
        Self::launch(config, data, StoreGuard::Borrowed).await
    }

    async fn launch(
        config: hookhost::config::Config,
        data: tempfile::TempDir,
        guard: StoreGuard,
    ) -> TestHost {
        let state = hookhost::server::build_state(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
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
            _data: data,
            _db: guard,
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
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A smartml timestamp (Unix seconds) that no other call in this test binary got: the
/// current second, or the one after the last handed out. An HMAC is good for one request and
/// signs only the timestamp, token, resourcetype and actionid, so a client sending two
/// requests with the same action in one second must sign them with different timestamps
/// (the window, ±10 minutes, leaves room for that).
pub fn smartml_timestamp() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = hookhost::store::now_ms() / 1000;
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .expect("the closure always updates");
    now.max(previous + 1)
}

/// A signed smartml request triggering `executeMarketplaceWebhooks` for `module` and record
/// `record` with the API user `token` / `secret`.
pub fn smartml_trigger(token: &str, secret: &str, module: &str, record: &str) -> serde_json::Value {
    let actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
    let timestamp = smartml_timestamp();
    let hmac = hookhost::api::smartml::hmac_v2(
        secret,
        &timestamp.to_string(),
        token,
        "executeMarketplaceWebhooks",
        actionid,
    );
    serde_json::json!({"token": token, "request": {"actions": [{
        "actionid": actionid, "resourceid": record, "identifier": "",
        "resourcetype": "executeMarketplaceWebhooks", "timestamp": timestamp,
        "hmac": hmac, "hmac_version": "2", "parameters": {"module": module}}]}})
}
