//! The two back ends — SQLite (the default, one file in the data directory) and PostgreSQL
//! (`database_url`) — behind one small set of calls. This is the only place that tells them
//! apart: the queries above are written once, with `$1` placeholders both understand, and
//! name their two texts only where the dialects differ.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::FromRow;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

/// How long a call waits for the database's connection before it fails: a PostgreSQL that
/// is down makes a sync fail in seconds (and retry later), never hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A statement's text in each dialect (the same text for most).
#[derive(Clone, Copy)]
pub(super) struct Text {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Text {
    pub(super) const fn both(text: &'static str) -> Self {
        Self {
            sqlite: text,
            postgres: text,
        }
    }

    pub(super) const fn each(sqlite: &'static str, postgres: &'static str) -> Self {
        Self { sqlite, postgres }
    }
}

/// One argument, typed so that each back end binds it as its own column type expects.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Date(Option<NaiveDate>),
    Instant(Option<DateTime<Utc>>),
    Local(Option<NaiveDateTime>),
}

macro_rules! arg_from {
    ($($variant:ident: $type:ty => |$value:ident| $convert:expr;)*) => {$(
        impl From<$type> for Arg {
            fn from($value: $type) -> Self {
                Arg::$variant(Some($convert))
            }
        }
        impl From<Option<$type>> for Arg {
            fn from(value: Option<$type>) -> Self {
                Arg::$variant(value.map(|$value| $convert))
            }
        }
    )*};
}

arg_from! {
    Int: i64 => |v| v;
    Int: u32 => |v| i64::from(v);
    Int: u8 => |v| i64::from(v);
    Real: f64 => |v| v;
    Text: String => |v| v;
    Text: &str => |v| v.to_owned();
    Date: NaiveDate => |v| v;
    Instant: DateTime<Utc> => |v| v;
    Local: NaiveDateTime => |v| v;
}

/// A statement and its arguments, run on whichever back end the store has.
#[derive(Clone)]
pub(super) struct Sql {
    text: Text,
    args: Vec<Arg>,
}

impl Sql {
    pub(super) fn new(text: Text) -> Self {
        Self {
            text,
            args: Vec::new(),
        }
    }

    pub(super) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }
}

/// The rows of a query, as the back end returned them.
enum Rows {
    Sqlite(Vec<SqliteRow>),
    Postgres(Vec<PgRow>),
}

/// A row both back ends can decode into.
pub(super) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// Binds `args` to a query of either back end (both `Query` and `QueryAs` have `bind`).
macro_rules! bound {
    ($query:expr, $args:expr) => {
        $args.into_iter().fold($query, |query, arg| match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Real(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Date(v) => query.bind(v),
            Arg::Instant(v) => query.bind(v),
            Arg::Local(v) => query.bind(v),
        })
    };
}

impl Pool {
    /// Opens the SQLite file `path` (creating it) and brings its schema up to date.
    pub(super) async fn sqlite(path: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
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
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool))
    }

    /// Connects to the PostgreSQL of `options` (TLS as its `sslmode` asks).
    pub(super) async fn postgres(options: PgConnectOptions) -> Result<Self, sqlx::Error> {
        // One connection, as for SQLite: one writer, and the reads between writes are few.
        // Each connection is tested before use, so one the server dropped is replaced.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options.statement_cache_capacity(32))
            .await?;
        Ok(Self::Postgres(pool))
    }

    /// The migrations of the back end, kept in step (tests/store_schemas.rs).
    fn migrator(&self) -> Migrator {
        match self {
            Pool::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
            Pool::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        }
    }

    /// Brings the schema up to date with the migrations of the back end.
    pub(super) async fn migrate(&self) -> Result<(), MigrateError> {
        match self {
            Pool::Sqlite(pool) => self.migrator().run(pool).await,
            Pool::Postgres(pool) => self.migrator().run(pool).await,
        }
    }

    /// The newest schema version this program knows.
    pub(super) fn known_schema(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Runs `statements` in one transaction: all of them, or (on any error, or a connection
    /// lost before the commit) none.
    pub(super) async fn transaction(
        &self,
        statements: impl IntoIterator<Item = Sql>,
    ) -> Result<(), sqlx::Error> {
        match self {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for sql in statements {
                    bound!(sqlx::query(sql.text.sqlite), sql.args)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for sql in statements {
                    bound!(sqlx::query(sql.text.postgres), sql.args)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
        }
    }

    /// Gives back what the database's client holds between syncs: SQLite's page cache (a
    /// PostgreSQL keeps its caches in its own process).
    pub(super) async fn shrink(&self) -> Result<(), sqlx::Error> {
        if let Pool::Sqlite(pool) = self {
            sqlx::query("PRAGMA shrink_memory").execute(pool).await?;
        }
        Ok(())
    }

    pub(super) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// How the store runs its statements: `Sql::new(TEXT).bind(…).fetch_all(&pool)`, as sqlx's
/// own queries read.
impl Sql {
    pub(super) async fn execute(self, pool: &Pool) -> Result<(), sqlx::Error> {
        match pool {
            Pool::Sqlite(pool) => {
                bound!(sqlx::query(self.text.sqlite), self.args)
                    .execute(pool)
                    .await?;
            }
            Pool::Postgres(pool) => {
                bound!(sqlx::query(self.text.postgres), self.args)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The rows, each decoded as `O`. The query itself runs in [`Sql::rows`], the same code
    /// for every row type: only the decoding is generic (a copy of the whole fetch per row
    /// type and back end would cost the binary, and a Raspberry Pi's memory).
    pub(super) async fn fetch_all<O: Row>(self, pool: &Pool) -> Result<Vec<O>, sqlx::Error> {
        match self.rows(pool).await? {
            Rows::Sqlite(rows) => rows.iter().map(O::from_row).collect(),
            Rows::Postgres(rows) => rows.iter().map(O::from_row).collect(),
        }
    }

    /// The first row (a query by key, or with `LIMIT 1`: one row at most).
    pub(super) async fn fetch_optional<O: Row>(
        self,
        pool: &Pool,
    ) -> Result<Option<O>, sqlx::Error> {
        Ok(self.fetch_all(pool).await?.into_iter().next())
    }

    pub(super) async fn fetch_one<O: Row>(self, pool: &Pool) -> Result<O, sqlx::Error> {
        self.fetch_optional(pool)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    async fn rows(self, pool: &Pool) -> Result<Rows, sqlx::Error> {
        Ok(match pool {
            Pool::Sqlite(pool) => Rows::Sqlite(
                bound!(sqlx::query(self.text.sqlite), self.args)
                    .fetch_all(pool)
                    .await?,
            ),
            Pool::Postgres(pool) => Rows::Postgres(
                bound!(sqlx::query(self.text.postgres), self.args)
                    .fetch_all(pool)
                    .await?,
            ),
        })
    }
}
