//! The local SQLite store (sqlx): migrations at start, WAL, one writer, and every gateway
//! answer written in one transaction so an interrupted sync leaves nothing half-written.
//!
//! It only reads and writes rows; the jobs above (sync, derived values) assemble the
//! snapshots they decide on from these reads.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

mod grid;
mod series;
mod status;

pub use series::StoredDays;
pub use status::MeterStatus;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "myelectricaldata.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// A statement with its arguments bound, ready to run in a transaction.
type Statement = sqlx::query::Query<'static, Sqlite, SqliteArguments>;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Counts the writes of this process (see [`Store::version`]).
    writes: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let opening = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(opening)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // A small page cache and statement cache: the whole store of three meters is a
            // few MiB, and a Raspberry Pi's memory is shared by a dozen add-ons.
            .pragma("cache_size", "-512")
            .statement_cache_capacity(32);
        // One connection: the single writer, and small enough for a Raspberry Pi.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(opening)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let writes = Arc::new(AtomicU64::new(0));
        Ok(Self { pool, writes })
    }

    /// Writes one gateway answer in one transaction: first what it holds (`items`), then
    /// what it answered for (`asked`: every day of the range marked as asked, so a day the
    /// answer lacked is "not yet", never zero).
    async fn save_answer(
        &self,
        items: impl IntoIterator<Item = Statement>,
        asked: impl IntoIterator<Item = Statement>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in items.into_iter().chain(asked) {
            statement.execute(&mut *tx).await?;
        }
        tx.commit().await?;
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
        sqlx::query("PRAGMA shrink_memory")
            .execute(&self.pool)
            .await?;
        release_heap();
        Ok(())
    }

    /// Closes the pool, checkpointing the WAL.
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
