//! Test fixtures: fresh stores on both backends.

use std::sync::atomic::{AtomicU32, Ordering};
use update_server::store::{PostgresStore, SqliteStore};

/// A fresh SQLite store in a temporary directory (removed when the guard drops).
pub async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("db.sqlite3"))
        .await
        .expect("open sqlite store");
    (dir, store)
}

/// A PostgreSQL schema of its own for one test; dropped by [`PgSchema::drop`].
pub struct PgSchema {
    admin_url: String,
    name: String,
}

impl PgSchema {
    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        ddl(
            &self.admin_url,
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        )
        .await;
    }
}

async fn ddl(url: &str, statement: String) {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .expect("DDL on the test database");
    pool.close().await;
}

/// A fresh PostgreSQL store in a schema of its own, or `None` when `TEST_DATABASE_URL` is
/// not set (CI always sets it; `.ci/run` fails when PostgreSQL is unreachable there).
pub async fn postgres() -> Option<(PgSchema, PostgresStore)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL test skipped");
        return None;
    };
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    ddl(&url, format!("CREATE SCHEMA {name}")).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{name}");
    let store = PostgresStore::connect(&scoped)
        .await
        .expect("connect to TEST_DATABASE_URL");
    Some((
        PgSchema {
            admin_url: url,
            name,
        },
        store,
    ))
}
