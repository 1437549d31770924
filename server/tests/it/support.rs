//! Shared test support: real databases (SQLite in a temp dir, PostgreSQL on loopback), the rustls
//! crypto provider.

use std::sync::Once;

use consentry_server::store::{ConnectOptions, Store};

/// Installs the process-wide rustls crypto provider once.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// A SQLite store in a fresh temporary directory, dropped with the returned guard.
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    init();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = Store::sqlite_url(&dir.path().join("test.db"));
    let store = Store::open(&url, &ConnectOptions::default()).await.expect("open sqlite");
    (store, dir)
}

/// The URL of the PostgreSQL server the tests may use, from `CONSENTRY_TEST_POSTGRES_URL`.
///
/// Without it the PostgreSQL half of a test is skipped with a loud message, except under CI
/// (`CI` set), where a missing or unreachable PostgreSQL fails the test: it never skips silently.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("CONSENTRY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but CONSENTRY_TEST_POSTGRES_URL is not: the PostgreSQL tests must run in CI"
            );
            eprintln!("SKIPPING the PostgreSQL half: CONSENTRY_TEST_POSTGRES_URL is not set (scripts/test sets it)");
            None
        }
    }
}

/// A fresh, migrated PostgreSQL database of its own for one test, or `None` outside CI when no
/// server is configured.
pub async fn postgres_store() -> Option<Store> {
    init();
    let base = postgres_base_url()?;
    let name = format!("consentry_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::connect(&base, &ConnectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at CONSENTRY_TEST_POSTGRES_URL is not reachable: {e}"));
    admin.execute_raw(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await;
    let url = database_url(&base, &name);
    Some(Store::open(&url, &ConnectOptions::default()).await.expect("open postgres test database"))
}

/// `base` with its database name replaced by `name`.
pub fn database_url(base: &str, name: &str) -> String {
    let mut url = url::Url::parse(base).expect("CONSENTRY_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Both backends, for tests that must hold on each: SQLite always, PostgreSQL when configured.
pub async fn all_stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let (sqlite, dir) = sqlite_store().await;
    let mut stores = vec![("sqlite", sqlite, Some(dir))];
    if let Some(pg) = postgres_store().await {
        stores.push(("postgres", pg, None));
    }
    stores
}
