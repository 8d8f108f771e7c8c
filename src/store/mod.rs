//! The store (sqlx): SQLite in the data directory by default, or the PostgreSQL of
//! `database_url`. Migrations at start, one writer, and every gateway answer written in one
//! transaction so an interrupted sync leaves nothing half-written.
//!
//! It only reads and writes rows; the jobs above (sync, derived values) assemble the
//! snapshots they decide on from these reads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::migrate::MigrateError;
use sqlx::postgres::PgConnectOptions;

mod backend;
mod grid;
mod series;
mod status;

use backend::{Pool, Sql};
pub use series::StoredDays;
pub use status::MeterStatus;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "myelectricaldata.sqlite";

/// Where the store keeps its data, said without a secret (for logs, `check` and the page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// Host, port and database: never the user or the password.
    Postgres {
        host: String,
        port: u16,
        database: String,
    },
}

impl Location {
    fn postgres(options: &PgConnectOptions) -> Self {
        Self::Postgres {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: options.get_database().unwrap_or_default().to_owned(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            Self::Postgres {
                host,
                port,
                database,
            } => write!(f, "PostgreSQL {host}:{port}/{database}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store ({location}): {source}")]
    Open {
        location: Location,
        source: sqlx::Error,
    },
    #[error(
        "the store ({location}) holds schema version {found}, written by a newer version of this add-on (this one knows up to {known}): it will not downgrade it; update the add-on, or point it at another store"
    )]
    NewerSchema {
        location: Location,
        found: i64,
        known: i64,
    },
    #[error("cannot migrate the store ({location}): {source}")]
    Migrate {
        location: Location,
        source: MigrateError,
    },
    #[error("database_url: {0}")]
    Url(sqlx::Error),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// Worth retrying soon without any change from the user: the database could not be
    /// reached, dropped the connection, or is starting, shutting down or busy. A query the
    /// database refuses for what it is (a constraint, a type) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Open { source, .. } | StoreError::Query(source) => transient(source),
            StoreError::Migrate { source, .. } => match source {
                MigrateError::Execute(source) => transient(source),
                _ => false,
            },
            StoreError::DataDir { .. } | StoreError::NewerSchema { .. } | StoreError::Url(_) => {
                false
            }
        }
    }
}

fn transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // PostgreSQL's classes: 08 connection, 57P admin or crash shutdown and "starting
            // up", 53 out of resources (too many connections), 40 a transaction to run again,
            // 28 authentication (a server being reconfigured). SQLite: 5 busy, 6 locked.
            ["08", "57P", "53", "40", "28"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    location: Location,
    /// Counts the writes of this process (see [`Store::version`]).
    writes: Arc<AtomicU64>,
}

impl Store {
    /// Opens the store the settings name: the PostgreSQL of `database` (a `postgres://` URL)
    /// when there is one, else the SQLite file in `data_dir`.
    pub async fn open_configured(
        data_dir: &Path,
        database: Option<&crate::model::Secret>,
    ) -> Result<Self, StoreError> {
        match database {
            Some(url) => Self::open_postgres(url.expose()).await,
            None => Self::open(data_dir).await,
        }
    }

    /// Opens (creating if needed) the SQLite store in `data_dir` and brings its schema up to
    /// date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let opened = Pool::sqlite(&path).await;
        let location = Location::Sqlite(path);
        match opened {
            Ok(pool) => Self::migrated(pool, location).await,
            Err(source) => Err(StoreError::Open { location, source }),
        }
    }

    /// Connects to the PostgreSQL at `url` (TLS as its `sslmode` asks, as libpq reads it)
    /// and brings its schema up to date.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Url)?;
        let location = Location::postgres(&options);
        match Pool::postgres(options).await {
            Ok(pool) => Self::migrated(pool, location).await,
            Err(source) => Err(StoreError::Open { location, source }),
        }
    }

    async fn migrated(pool: Pool, location: Location) -> Result<Self, StoreError> {
        if let Err(error) = pool.migrate().await {
            pool.close().await;
            return Err(match error {
                MigrateError::VersionMissing(found) => StoreError::NewerSchema {
                    location,
                    found,
                    known: pool.known_schema(),
                },
                source => StoreError::Migrate { location, source },
            });
        }
        let writes = Arc::new(AtomicU64::new(0));
        Ok(Self {
            pool,
            location,
            writes,
        })
    }

    /// Where the data is kept.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Writes one gateway answer in one transaction: first what it holds (`items`), then
    /// what it answered for (`asked`: every day of the range marked as asked, so a day the
    /// answer lacked is "not yet", never zero).
    async fn save_answer(
        &self,
        items: impl IntoIterator<Item = Sql>,
        asked: impl IntoIterator<Item = Sql>,
    ) -> Result<(), StoreError> {
        self.pool
            .transaction(items.into_iter().chain(asked))
            .await?;
        self.changed();
        Ok(())
    }

    /// Runs one write on its own.
    async fn write(&self, sql: Sql) -> Result<(), StoreError> {
        sql.execute(&self.pool).await?;
        self.changed();
        Ok(())
    }

    /// Changes whenever something is written: what was read at one version is still what
    /// the store holds while the version stays the same (the web page keeps its charts so).
    pub fn version(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Marks a committed write. After the commit, never before: what is read under a version
    /// is then never older than that version (at worst newer, and read again at the next).
    fn changed(&self) {
        self.writes.fetch_add(1, Ordering::Release);
    }

    /// Gives memory back to the system between syncs (and when the web page is closed):
    /// SQLite's page cache, then the heap pages freed.
    pub async fn release_memory(&self) -> Result<(), StoreError> {
        self.pool.shrink().await?;
        release_heap();
        Ok(())
    }

    /// Closes the pool (for SQLite, checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Gives the heap pages freed back to the system: glibc keeps them for reuse otherwise, and
/// the daemon then idles for hours with the peak of its last sync. (musl, the add-on image's
/// libc, returns them by itself.)
fn release_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer from us; it only walks glibc's own heap metadata
    // under glibc's locks, so it is sound to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests;
