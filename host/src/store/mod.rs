//! Storage: sqlx over SQLite (default, a file in the data directory, WAL) or PostgreSQL.
//!
//! One set of queries serves both backends through sqlx's `Any` driver: placeholders are
//! `$1…$n` (SQLite reads them by number), integers are `BIGINT`, times are Unix milliseconds,
//! JSON is text. Each backend has its own migrations (`host/migrations/{sqlite,postgres}`).
//!
//! Architecture Invariant: every query that reads or changes tenant or provider data takes the
//! caller's [`Scope`] and filters by it in SQL; nothing is filtered after loading.
//!
//! # Layout: one file per kind of data
//! - [`registry`]: providers, tenants, services, activations, API users and keys, components.
//! - [`webhooks`]: the webhook objects, their statistics and last calls.
//! - [`reach`]: which webhooks a tenant reaches (the execute paths' lookups).
//! - [`outbox`]: planned deliveries, leases, attempt ends, resends.
//! - [`ordering`]: what holds back a delivery of a webhook that keeps a record's order.
//! - [`redelivery`]: queuing finished deliveries again (recover, bulk retry), idempotently.
//! - [`calls`]: the call log and the statistics written with it.
//! - [`circuits`]: webhooks' circuit breakers, shared by every instance.
//! - [`rates`]: rate limits per webhook, counted per window for every instance.
//! - [`buckets`]: the call log summed per webhook, tenant and hour (statistics over time).
//! - [`secrets`]: webhook signing secrets and their rotation.
//! - [`notifications`]: what the host tells webhook owners.
//! - [`replay`]: smartml HMACs seen, for replay protection.
//! - [`retention`]: deleting what is past retention.
//! - [`erasure`]: erasing a tenant's payloads and call-log bodies on request.
//! - [`processes`]: process templates, processes, steps, the activity log.
//! - [`quotas`]: per-owner limits checked in the writing transaction.
//! - [`kv`]: the plugins' key-value store.
//! - [`listing`]: filtering and ordering a list in SQL (RQL, checked against [`lists`]).
//! - [`lists`]: what each list endpoint filters and orders by.

mod buckets;
mod calls;
mod circuits;
mod erasure;
mod kv;
mod listing;
pub mod lists;
mod notifications;
mod ordering;
mod outbox;
mod processes;
mod quotas;
mod rates;
mod reach;
mod redelivery;
mod registry;
mod replay;
mod retention;
mod secrets;
mod webhooks;

pub use buckets::{BUCKET_MS, CallBucket, DURATION_BOUNDS_MS};
pub use calls::*;
pub use erasure::*;
pub use kv::DbKv;
pub use listing::{Field, Fields, Kind, Listing};
pub use notifications::*;
pub use ordering::HeldBack;
pub use outbox::*;
pub use processes::*;
pub use quotas::{QuotaExceeded, Quotas};
pub use rates::RateLimit;
pub use redelivery::*;
pub use registry::*;
pub use retention::*;
pub use secrets::*;
pub use webhooks::*;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Executor};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one file, one writer at a time).
    Sqlite,
    /// PostgreSQL (shared by several host instances).
    Postgres,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The change is not allowed; the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data could not be read back (e.g. a secret under another master key).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The write would exceed one of the owner's quotas.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

/// `Result` of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who is asking: every read and write is limited to what this principal may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A marketplace provider: its own services, components and webhooks.
    Provider(String),
    /// A tenant: its private services, components and webhooks, and (read-only) the webhooks
    /// of the services it has activated.
    Tenant(String),
}

impl Scope {
    /// `provider` or `tenant`, as stored in `owner_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Provider(_) => "provider",
            Scope::Tenant(_) => "tenant",
        }
    }

    /// The provider's or tenant's id.
    pub fn id(&self) -> &str {
        match self {
            Scope::Provider(id) | Scope::Tenant(id) => id,
        }
    }
}

/// The database handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: the one connection write transactions use. It is the only connection
    /// that changes the file in the common case, so its page cache stays valid from one
    /// transaction to the next (a connection that sees another's commit starts over with an
    /// empty cache, and the pump's every cycle would read its pages again).
    writer: Option<AnyPool>,
    backend: Backend,
    /// Bumped by every registry change made through this handle: caches of lookups compare
    /// it to drop what this process changed at once (other instances' changes age out).
    generation: Arc<AtomicU64>,
    /// SQLite only: whose turn it is to write. SQLite has one writer; a writer that finds the
    /// lock taken sleeps in its busy handler (1 ms, 2 ms, 5 ms, …), which stalls every
    /// pipeline behind it. Writers of this process queue here instead and hand over at once.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// What one provider or tenant may keep (`[quotas]`); the defaults until
    /// [`Store::with_quotas`] sets the configuration's.
    quotas: Arc<Quotas>,
}

/// A write transaction: `BEGIN IMMEDIATE` on SQLite, taken in turn with the process's other
/// writers (see [`Store::begin_write`]). Derefs to the connection, so `&mut *tx` runs
/// queries in it; dropped without [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// An id like `WBH-1234-5678`.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        crate::crypto::random_digits(4),
        crate::crypto::random_digits(4)
    )
}

/// Rows per multi-row statement (deliveries, call-log entries). Fewer statements save
/// round trips, but SQLite looks parameters up by name in a list, so a statement's binding cost
/// grows with the square of its parameters: a few hundred parameters is the sweet spot.
pub(crate) const ROWS_PER_STATEMENT: usize = 48;

/// The parameters of a statement, numbered in order of appearance: PostgreSQL's `$1, $2, …`,
/// SQLite's anonymous `?`, which it binds by position. (SQLite looks a numbered parameter's
/// name up in a list, so binding a multi-row statement of hundreds of `$n` costs time in the
/// square of their number: a twentieth of a busy host's CPU.)
pub(crate) struct Params {
    numbered: bool,
    next: usize,
}

impl Params {
    /// Parameters from the first on, for the backend of `connection`.
    pub(crate) fn of(connection: &sqlx::AnyConnection) -> Params {
        Params {
            numbered: connection.backend_name() != "SQLite",
            next: 1,
        }
    }

    /// The next parameter.
    pub(crate) fn next(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.numbered {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    }
}

/// `OR FAIL ` on SQLite, nothing on PostgreSQL: for multi-row writes in a transaction that is
/// rolled back whole on any error. Under SQLite's default (`ABORT`) such a statement first
/// copies every page it changes to a statement journal, so that a constraint failing midway
/// undoes that statement alone (a tenth of the pump's writer CPU); under `FAIL` it keeps no
/// copy, and the transaction's rollback undoes everything anyway.
pub(crate) fn or_fail(connection: &sqlx::AnyConnection) -> &'static str {
    if connection.backend_name() == "SQLite" {
        "OR FAIL "
    } else {
        ""
    }
}

/// An id for rows that pile up by the million (deliveries, call-log entries): `DLV-`, the
/// time in milliseconds as 9 base-36 digits, a 3-digit base-36 sequence within the
/// millisecond, and 13 random alphanumerics (≈77 bits). The time comes first so that new rows
/// land at the end of the primary-key index rather than on a random page of it (a random key
/// costs a page read and write per insert once the index outgrows the cache); with the
/// sequence, the ids one process makes sort in the order it made them, which is the order
/// ordered delivery keeps (`ordering`). The short `XXX-1234-5678` form of registry objects
/// (10⁸ values) would collide within a few thousand rows, and a collision fails the whole
/// transaction that plans a trigger's deliveries.
pub fn unique_id(prefix: &str) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    /// Ids per millisecond before the stamp borrows the next one (36³).
    const PER_MS: u64 = 46_656;
    /// The last stamp handed out: milliseconds × [`PER_MS`] + sequence.
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = crate::time::now_ms().max(0) as u64 * PER_MS;
    let previous = LAST
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(now.max(last + 1))
        })
        .expect("the update always succeeds");
    let mut stamp = now.max(previous + 1);
    let mut digits = [b'0'; 12];
    let (ms_digits, seq_digits) = digits.split_at_mut(9);
    let mut seq = stamp % PER_MS;
    for digit in seq_digits.iter_mut().rev() {
        *digit = DIGITS[(seq % 36) as usize];
        seq /= 36;
    }
    stamp /= PER_MS;
    for digit in ms_digits.iter_mut().rev() {
        *digit = DIGITS[(stamp % 36) as usize];
        stamp /= 36;
    }
    let digits = std::str::from_utf8(&digits).expect("ASCII digits");
    format!(
        "{prefix}-{digits}{}",
        crate::crypto::random_alphanumeric(13)
    )
}

/// Reads a column holding one of the vocabulary's words; another word is corrupt data.
pub(crate) fn read_word<T>(
    row: &sqlx::any::AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, crate::vocab::Unknown>,
) -> Result<T> {
    use sqlx::Row as _;
    let text: String = row.try_get(column)?;
    parse(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// The SQLite URL of the default database in `data_dir`.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("hookhost.db").display()
    )
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("database_url must start with sqlite: or postgres:, got {url:?}");
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                if let Some(path) = url
                    .strip_prefix("sqlite://")
                    .and_then(|rest| rest.split('?').next())
                    .map(Path::new)
                    && let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                if let Some(path) = url
                    .strip_prefix("sqlite://")
                    .and_then(|rest| rest.split('?').next())
                    .filter(|path| !path.is_empty() && !path.starts_with(':'))
                {
                    create_private_file(Path::new(path))?;
                }
                let pool = sqlite_pool(options.clone().max_connections(8), url).await?;
                let writer = sqlite_pool(options.max_connections(1), url).await?;
                (pool, Some(writer))
            }
            Backend::Postgres => (options.max_connections(16).connect(url).await?, None),
        };
        Ok(Store {
            pool,
            writer,
            backend,
            generation: Arc::default(),
            write_turn: (backend == Backend::Sqlite).then(Arc::default),
            quotas: Arc::default(),
        })
    }

    /// Connects and applies the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The registry generation of this process (see [`Store::changed`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks the registry as changed: cached lookups made before are stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Begins a write transaction. On SQLite it waits for this process's other writers (no
    /// busy-handler sleeps) and takes the write lock at once (`BEGIN IMMEDIATE`), so it can
    /// never fail half-way on a lock another connection took after it began reading.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// SQLite: waits for this process's turn to write (hold the guard across a single
    /// auto-committed write statement). PostgreSQL: `None` at once.
    pub async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A pool of SQLite connections to `url`, each set up as the host needs it. A connection is not
/// pinged before it is handed out: it is a handle on a file, not a socket that can go stale.
async fn sqlite_pool(options: AnyPoolOptions, url: &str) -> Result<AnyPool, sqlx::Error> {
    options
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // 16 KiB pages (set before WAL mode, so they take on a new database and are a
                // no-op on an existing one): a call-log row with its request and response
                // excerpts is 2–3 KiB, and a 4 KiB page holds only one of them, a third of it
                // left empty yet written to the WAL and checkpointed all the same.
                //
                // A page cache and memory map for the hot tables (the call log and the outbox
                // are read page by page otherwise), bounded: every page read or written stays
                // in them, component uploads included, so they are part of the host's resident
                // memory (9 connections × 8 MiB of cache, and 64 MiB of the file mapped,
                // shared by all). The WAL is checkpointed every 2,048 pages (32 MiB).
                conn.execute(
                    "PRAGMA page_size = 16384; \
                     PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -8192; PRAGMA mmap_size = 67108864; \
                     PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 2048;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Creates the SQLite database file readable and writable by its owner only (0600 on unix),
/// unless it exists. It holds hashed credentials and sealed secrets; SQLite gives its `-wal`
/// and `-shm` files the database file's permissions.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `message`.
pub(crate) fn conflict_on_unique(error: sqlx::Error, message: impl Into<String>) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message.into())
        }
        _ => StoreError::Database(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_sort_by_time() {
        let first = unique_id("CAL");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = unique_id("CAL");
        assert_eq!(first.len(), "CAL-".len() + 9 + 3 + 13);
        assert!(first < second, "{first} !< {second}");
        assert_ne!(unique_id("CAL"), unique_id("CAL"));
        // Within a millisecond too, in the order they were made.
        let burst: Vec<String> = (0..1000).map(|_| unique_id("DLV")).collect();
        assert!(burst.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
