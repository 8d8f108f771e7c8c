//! The two stores' migrations stay in step: SQLite's (`migrations/sqlite`, what `Store::open`
//! runs) and PostgreSQL's (`migrations/postgres`) make the same tables with the same columns,
//! each nullable or not alike. PostgreSQL is a server of the test's own (initdb + pg_ctl).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use myelectricaldata_mqtt::store::{DATABASE_FILE, Store};
use support::Postgres;

/// Table → (column, NOT NULL) of the program's tables.
type Schema = BTreeMap<String, BTreeSet<(String, bool)>>;

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.close().await;
    let url = format!("sqlite:{}", dir.path().join(DATABASE_FILE).display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    // A primary key column is NOT NULL in a WITHOUT ROWID table (and in PostgreSQL), though
    // table_info does not flag it so.
    let rows: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT m.name, c.name, c.\"notnull\" != 0, c.pk > 0
         FROM sqlite_master m, pragma_table_info(m.name) c
         WHERE m.type = 'table' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column, not_null, key) in rows {
        schema
            .entry(table)
            .or_default()
            .insert((column, not_null || key));
    }
    schema
}

async fn postgres_schema(server: &Postgres) -> Schema {
    let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
    sqlx::migrate!("migrations/postgres")
        .run(&pool)
        .await
        .unwrap();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable = 'NO'
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column, not_null) in rows {
        schema.entry(table).or_default().insert((column, not_null));
    }
    schema
}

#[tokio::test]
async fn both_stores_hold_the_same_tables_and_columns() {
    let server = Postgres::start();
    let (sqlite, postgres) = (sqlite_schema().await, postgres_schema(&server).await);
    assert_eq!(sqlite.len(), 12, "{sqlite:#?}");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
}
