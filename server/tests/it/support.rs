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
    let store = Store::open(&url, &ConnectOptions::default())
        .await
        .expect("open sqlite");
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
            eprintln!(
                "SKIPPING the PostgreSQL half: CONSENTRY_TEST_POSTGRES_URL is not set (scripts/test sets it)"
            );
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
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at CONSENTRY_TEST_POSTGRES_URL is not reachable: {e}")
        });
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await;
    let url = database_url(&base, &name);
    Some(
        Store::open(&url, &ConnectOptions::default())
            .await
            .expect("open postgres test database"),
    )
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

/// A whole server, started in-process on loopback ports over real TLS, on a fresh database.
pub struct TestServer {
    pub running: Option<consentry_server::serve::Running>,
    pub public: String,
    pub mtls: String,
    pub admin: String,
    pub ca_pem: Vec<u8>,
    pub data_dir: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// Which database a test server uses.
#[derive(Clone)]
pub enum TestDb {
    Sqlite,
    /// A PostgreSQL database URL, shared by every server given it.
    Postgres(String),
}

/// A fresh PostgreSQL database for servers to share, or `None` outside CI when none is configured.
pub async fn postgres_database() -> Option<String> {
    init();
    let base = postgres_base_url()?;
    let name = format!("consentry_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::connect(&base, &ConnectOptions::default())
        .await
        .expect("PostgreSQL reachable");
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await;
    Some(database_url(&base, &name))
}

/// A configuration for tests: cheap argon2, loopback addresses, data in `dir`.
pub fn test_config(dir: &std::path::Path, db: &TestDb) -> consentry_server::config::Config {
    let mut config = consentry_server::config::Config::default();
    config.storage.data_dir = dir.to_owned();
    if let TestDb::Postgres(url) = db {
        config.storage.database_url = Some(consentry_server::config::Secret::new(url.clone()));
    }
    config.login.argon2_memory_kib = 64;
    config.login.argon2_iterations = 1;
    config.server.shutdown_grace_secs = 5;
    config
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server; `adjust` may change the configuration. With a shared PostgreSQL database
    /// several servers form one multi-node deployment; they share the master key through the
    /// first server's data directory when `adjust` sets `keys.master_key`.
    pub async fn start_with(
        db: TestDb,
        adjust: impl FnOnce(&mut consentry_server::config::Config),
    ) -> TestServer {
        Self::start_with_clock(
            db,
            std::sync::Arc::new(consentry_server::clock::SystemClock),
            adjust,
        )
        .await
    }

    pub async fn start_with_clock(
        db: TestDb,
        clock: consentry_server::clock::SharedClock,
        adjust: impl FnOnce(&mut consentry_server::config::Config),
    ) -> TestServer {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path(), &db);
        let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mtls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pp, mp) = (
            public.local_addr().unwrap().port(),
            mtls.local_addr().unwrap().port(),
        );
        config.server.issuer = url::Url::parse(&format!("https://localhost:{pp}")).unwrap();
        config.server.mtls_addr = mtls.local_addr().unwrap();
        config.server.mtls_base_url =
            Some(url::Url::parse(&format!("https://localhost:{mp}")).unwrap());
        adjust(&mut config);
        let prepared = consentry_server::serve::prepare(config.clone(), clock)
            .await
            .expect("prepare server");
        let ca_pem = std::fs::read(dir.path().join("tls/ca.crt")).expect("local CA written");
        let running = consentry_server::serve::start(
            prepared,
            consentry_server::serve::Listeners {
                public,
                mtls,
                admin,
                resource: None,
            },
        )
        .expect("start server");
        TestServer {
            public: format!("https://localhost:{}", running.public_addr.port()),
            mtls: format!("https://localhost:{}", running.mtls_addr.port()),
            admin: format!("http://{}", running.admin_addr),
            running: Some(running),
            ca_pem,
            data_dir: dir.path().to_owned(),
            _dir: Some(dir),
        }
    }

    pub fn state(&self) -> &consentry_server::app::AppState {
        &self.running.as_ref().expect("running").state
    }

    /// A browser-like client: trusts the local CA, keeps cookies, does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        self.client_builder().cookie_store(true).build().unwrap()
    }

    /// A client that trusts this server's CA (another server's CA too, for multi-node tests).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Adds a customer with `password` directly in the store.
pub async fn add_customer(server: &TestServer, username: &str, password: &str) -> String {
    add_customer_with_phone(server, username, password, None).await
}

/// Adds a customer with `password` and, when given, a phone number for one-time codes.
pub async fn add_customer_with_phone(
    server: &TestServer,
    username: &str,
    password: &str,
    phone: Option<&str>,
) -> String {
    use consentry_server::store::UserStore as _;
    let state = server.state();
    let id = uuid::Uuid::new_v4().to_string();
    let user = consentry_server::store::User {
        id: id.clone(),
        username: username.to_owned(),
        display_name: format!("{username} Example"),
        email: None,
        phone: phone.map(str::to_owned),
        role: consentry_server::store::Role::Customer,
        password_hash: state.passwords.hash(password).await.unwrap(),
        disabled_at: None,
        created_at: 0,
    };
    state.store.insert_user(&user).await.unwrap();
    id
}

/// Signs `username` in through the login page as a browser does; the login form's response
/// (a redirect to `return_to` on success).
pub async fn log_in(
    server: &TestServer,
    browser: &reqwest::Client,
    username: &str,
    password: &str,
    return_to: &str,
) -> reqwest::Response {
    let login = browser
        .get(format!("{}/login", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", &csrf_of(&login)),
            ("return_to", return_to),
        ])
        .send()
        .await
        .unwrap()
}

/// The value of `name="csrf_token"` in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a CSRF token");
    html[start..].split('"').next().unwrap().to_owned()
}

/// One message the test SMS gateway accepted.
#[derive(Debug, Clone)]
pub struct SmsMessage {
    pub to: String,
    pub from: String,
    pub text: String,
    pub authorization: Option<String>,
}

impl SmsMessage {
    /// The one-time code: the digits the text starts with.
    pub fn code(&self) -> String {
        self.text.chars().take_while(char::is_ascii_digit).collect()
    }
}

/// An SMS gateway on loopback, standing in for the bank's provider (it is not ours, so it is the
/// one thing mocked): keeps what it is sent, and answers 202, or a status set by the test.
pub struct SmsInbox {
    pub url: url::Url,
    messages: std::sync::Arc<std::sync::Mutex<Vec<SmsMessage>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl SmsInbox {
    pub async fn start() -> SmsInbox {
        use axum::http::{HeaderMap, StatusCode};
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(202));
        let (kept, answer) = (messages.clone(), status.clone());
        let app = axum::Router::new().route(
            "/messages",
            axum::routing::post(
                move |headers: HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| {
                    let (kept, answer) = (kept.clone(), answer.clone());
                    async move {
                        let status = answer.load(std::sync::atomic::Ordering::SeqCst);
                        if status == 202 {
                            let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
                            kept.lock().unwrap().push(SmsMessage {
                                to: text("to"),
                                from: text("from"),
                                text: text("text"),
                                authorization: headers
                                    .get("authorization")
                                    .map(|v| v.to_str().unwrap().to_owned()),
                            });
                        }
                        StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!(
            "http://127.0.0.1:{}/messages",
            listener.local_addr().unwrap().port()
        ))
        .unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        SmsInbox {
            url,
            messages,
            status,
            task,
        }
    }

    pub fn messages(&self) -> Vec<SmsMessage> {
        self.messages.lock().unwrap().clone()
    }

    pub fn last(&self) -> SmsMessage {
        self.messages().pop().expect("a message was sent")
    }

    /// From now on the gateway answers `status` (202 accepts again).
    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for SmsInbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The text of the element with `id` in a page (no nested elements).
pub fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker).expect("element in page");
    let after = &html[start..];
    let open = after.find('>').unwrap() + 1;
    after[open..].split('<').next().unwrap().to_owned()
}
