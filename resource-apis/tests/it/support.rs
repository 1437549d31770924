//! Shared test support: a whole server with its resource listener, started in-process on loopback
//! ports over real TLS, on SQLite in a temporary directory or a PostgreSQL database of its own; a
//! customer seeded with accounts, transactions and beneficiaries; TPPs with a client certificate
//! and a signing key that obtain their tokens through the real endpoints (client_credentials,
//! and PAR, the browser's login and consent pages, and the code exchange).

use std::sync::{Arc, Once};

use base64::Engine as _;
use consentry_server::clock::{Clock as _, SystemClock, UnixTime};
use consentry_server::crypto::{b64url, sha256};
use consentry_server::store::{
    Account, BankSeed, Beneficiary, ConnectOptions, LedgerStore as _, Role, Store, Transaction,
    User,
};
use consentry_server::tls::local_ca::ensure_local_pki;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jws::{ES256, JwsHeader, PS256};
use josekit::jwt::JwtPayload;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://tpp.example/cb";
pub const PASSWORD: &str = "psu-password-1";
pub const AISP: &str = "/open-banking/v3.1/aisp";
pub const PISP: &str = "/open-banking/v3.1/pisp";
/// The essential `openbanking_intent_id` and SCA `acr` a UK OB authorization request carries.
pub const ACR_SCA: &str = "urn:openbanking:psd2:sca";
pub const ACR_CA: &str = "urn:openbanking:psd2:ca";

pub fn now() -> UnixTime {
    SystemClock.now()
}

/// Installs the process-wide rustls crypto provider once.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
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

/// `base` with its database name replaced by `name`.
pub fn database_url(base: &str, name: &str) -> String {
    let mut url = url::Url::parse(base).expect("CONSENTRY_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Which database a test server uses.
#[derive(Clone, Debug)]
pub enum TestDb {
    Sqlite,
    /// A PostgreSQL database URL.
    Postgres(String),
}

impl TestDb {
    pub fn name(&self) -> &'static str {
        match self {
            TestDb::Sqlite => "sqlite",
            TestDb::Postgres(_) => "postgres",
        }
    }
}

/// A fresh PostgreSQL database of its own, or `None` outside CI when none is configured.
pub async fn postgres_database() -> Option<String> {
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
    Some(database_url(&base, &name))
}

/// Both backends, for tests that must hold on each: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::Sqlite];
    if let Some(url) = postgres_database().await {
        dbs.push(TestDb::Postgres(url));
    }
    dbs
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

/// A whole server with the resource APIs, started in-process on loopback ports over real TLS.
pub struct TestServer {
    pub running: Option<consentry_server::serve::Running>,
    /// The issuer's listener (authorization endpoint, login and consent pages).
    pub public: String,
    /// The mTLS listener (PAR, token).
    pub mtls: String,
    /// The resource listener (the UK OB APIs).
    pub resource: String,
    pub admin: String,
    pub ca_pem: Vec<u8>,
    pub data_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server; `adjust` may change the configuration.
    pub async fn start_with(
        db: TestDb,
        adjust: impl FnOnce(&mut consentry_server::config::Config),
    ) -> TestServer {
        Self::start_with_clock(db, Arc::new(SystemClock), adjust).await
    }

    pub async fn start_with_clock(
        db: TestDb,
        clock: consentry_server::clock::SharedClock,
        adjust: impl FnOnce(&mut consentry_server::config::Config),
    ) -> TestServer {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path(), &db);
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let (public, mtls, admin, resource) = (
            bind().await.unwrap(),
            bind().await.unwrap(),
            bind().await.unwrap(),
            bind().await.unwrap(),
        );
        let port = |l: &tokio::net::TcpListener| l.local_addr().unwrap().port();
        let url = |p: u16| url::Url::parse(&format!("https://localhost:{p}")).unwrap();
        config.server.issuer = url(port(&public));
        config.server.mtls_addr = mtls.local_addr().unwrap();
        config.server.mtls_base_url = Some(url(port(&mtls)));
        config.server.resource_addr = resource.local_addr().unwrap();
        config.server.resource_base_url = Some(url(port(&resource)));
        adjust(&mut config);
        let prepared = consentry_server::serve::prepare(config, clock)
            .await
            .expect("prepare server");
        let ca_pem = std::fs::read(dir.path().join("tls/ca.crt")).expect("local CA written");
        let running = consentry_server::serve::start_with(
            prepared,
            consentry_server::serve::Listeners {
                public,
                mtls,
                admin,
                resource: Some(resource),
            },
            consentry_resource_apis::router,
        )
        .expect("start server");
        let resource_addr = running.resource_addr.expect("resource listener");
        TestServer {
            public: format!("https://localhost:{}", running.public_addr.port()),
            mtls: format!("https://localhost:{}", running.mtls_addr.port()),
            resource: format!("https://localhost:{}", resource_addr.port()),
            admin: format!("http://{}", running.admin_addr),
            running: Some(running),
            ca_pem,
            data_dir: dir.path().to_owned(),
            _dir: dir,
        }
    }

    pub fn state(&self) -> &consentry_server::app::AppState {
        &self.running.as_ref().expect("running").state
    }

    pub fn store(&self) -> &Store {
        &self.state().store
    }

    /// A client that trusts this server's CA and does not follow redirects.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
    }

    /// A browser-like client: trusts the local CA, keeps cookies, does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        self.client_builder().cookie_store(true).build().unwrap()
    }

    /// The absolute URL of `path` on the resource listener.
    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.resource)
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// The number of days of history a seeded customer's current account has, one transaction a
/// day: credits on even days back, debits on odd ones.
pub const CURRENT_ACCOUNT_DAYS: i64 = 60;

/// A customer of the bank with their ledger.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: String,
    pub username: String,
    /// A current account (GBP, sort code), a savings account (GBP, sort code) and a business
    /// account (EUR, IBAN) without transactions or beneficiaries.
    pub accounts: Vec<Account>,
    /// Newest first.
    pub transactions: Vec<Transaction>,
    pub beneficiaries: Vec<Beneficiary>,
}

impl Customer {
    pub fn account_ids(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.id.clone()).collect()
    }

    /// The transactions of `account_id`, newest first.
    pub fn transactions_of(&self, account_id: &str) -> Vec<&Transaction> {
        self.transactions
            .iter()
            .filter(|t| t.account_id == account_id)
            .collect()
    }

    pub fn beneficiaries_of(&self, account_id: &str) -> Vec<&Beneficiary> {
        self.beneficiaries
            .iter()
            .filter(|b| b.account_id == account_id)
            .collect()
    }
}

/// Seeds a customer (password [`PASSWORD`]) with three accounts, a current account with
/// [`CURRENT_ACCOUNT_DAYS`] days of transactions ending an hour ago, a savings account with a
/// few, and beneficiaries, through the ledger's seeding path.
pub async fn seed_customer(server: &TestServer, username: &str) -> Customer {
    let state = server.state();
    let now = now();
    let user_id = uuid::Uuid::new_v4().to_string();
    let short = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let opened_at = now - 400 * 86_400;
    let account =
        |n: u32, subtype: &str, currency: &str, scheme: &str, identification: String| Account {
            id: format!("acc-{short}-{n}"),
            owner_user_id: user_id.clone(),
            account_type: if n == 3 { "Business" } else { "Personal" }.to_owned(),
            account_subtype: subtype.to_owned(),
            currency: currency.to_owned(),
            nickname: format!("{subtype} {n}"),
            scheme_name: scheme.to_owned(),
            identification,
            holder_name: format!("{username} Example"),
            balance_minor: 0,
            opened_at: opened_at + i64::from(n),
        };
    let digits = |n: u32| format!("{}{:08}", 200_000 + n, (now % 90_000_000) + i64::from(n));
    let mut accounts = vec![
        account(
            1,
            "CurrentAccount",
            "GBP",
            "UK.OBIE.SortCodeAccountNumber",
            digits(1),
        ),
        account(
            2,
            "Savings",
            "GBP",
            "UK.OBIE.SortCodeAccountNumber",
            digits(2),
        ),
        account(
            3,
            "CurrentAccount",
            "EUR",
            "UK.OBIE.IBAN",
            format!("GB29NWBK6016133192{:04}", now % 10_000),
        ),
    ];
    let mut transactions = Vec::new();
    let mut book = |account: &mut Account, history: Vec<(i64, i64, Option<&str>, &str)>| {
        // `history` oldest first: (booked_at, amount_minor, counterparty, description).
        let mut balance = 250_000;
        for (i, (at, amount, counterparty, description)) in history.into_iter().enumerate() {
            balance += amount;
            transactions.push(Transaction {
                id: format!("{}-tx-{i:03}", account.id),
                account_id: account.id.clone(),
                amount_minor: amount,
                currency: account.currency.clone(),
                status: "Booked".to_owned(),
                booked_at: at,
                value_at: at,
                description: description.to_owned(),
                counterparty: counterparty.map(str::to_owned),
                bank_code: if amount >= 0 { "SAL" } else { "CARD" }.to_owned(),
                balance_after_minor: balance,
            });
        }
        account.balance_minor = balance;
    };
    let current: Vec<_> = (0..CURRENT_ACCOUNT_DAYS)
        .rev()
        .map(|days_back| {
            let at = now - 3_600 - days_back * 86_400;
            if days_back % 2 == 0 {
                (at, 12_345 + days_back, Some("Acme Payroll"), "Salary part")
            } else {
                (at, -(2_050 + days_back), None, "Coffee shop")
            }
        })
        .collect();
    book(&mut accounts[0], current);
    book(
        &mut accounts[1],
        vec![
            (
                now - 30 * 86_400,
                50_000,
                Some("Own current account"),
                "Saving",
            ),
            (
                now - 20 * 86_400,
                -10_000,
                Some("Own current account"),
                "Withdrawal",
            ),
            (
                now - 10 * 86_400,
                25_000,
                Some("Own current account"),
                "Saving",
            ),
        ],
    );
    book(&mut accounts[2], Vec::new());
    transactions.sort_by(|a, b| b.booked_at.cmp(&a.booked_at).then(b.id.cmp(&a.id)));
    let beneficiary = |account: &Account, n: u32, name: &str| Beneficiary {
        id: format!("{}-ben-{n}", account.id),
        account_id: account.id.clone(),
        reference: format!("REF{n:04}"),
        name: name.to_owned(),
        scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
        identification: format!("40{n:04}0{:07}", n * 7),
        created_at: opened_at + i64::from(n),
    };
    let beneficiaries = vec![
        beneficiary(&accounts[0], 1, "Landlord Ltd"),
        beneficiary(&accounts[0], 2, "Sam Sibling"),
        beneficiary(&accounts[1], 3, "Pension Co"),
    ];
    let user = User {
        id: user_id.clone(),
        username: username.to_owned(),
        display_name: format!("{username} Example"),
        email: None,
        phone: None,
        role: Role::Customer,
        password_hash: state.passwords.hash(PASSWORD).await.unwrap(),
        disabled_at: None,
        created_at: opened_at,
    };
    let seed = BankSeed {
        users: vec![user],
        accounts: accounts.clone(),
        transactions: transactions.clone(),
        beneficiaries: beneficiaries.clone(),
        clients: Vec::new(),
    };
    assert!(
        state
            .store
            .seed_once(&format!("test-customer-{user_id}"), &seed)
            .await
            .unwrap()
    );
    Customer {
        user_id,
        username: username.to_owned(),
        accounts,
        transactions,
        beneficiaries,
    }
}

/// A response of the resource APIs.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body, `Null` when there is none.
    pub body: Value,
}

impl Reply {
    async fn read(r: reqwest::Response) -> Reply {
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The `ErrorCode`s of a UK OB error body.
    pub fn error_codes(&self) -> Vec<String> {
        self.body["Errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["ErrorCode"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics unless this is a UK OB error with `status` and an entry with `code`.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert!(
            self.error_codes().iter().any(|c| c == code),
            "expected {code}: {:#}",
            self.body
        );
        assert!(self.body["Code"].is_string() && self.body["Id"].is_string());
        assert!(self.body["Message"].is_string());
    }
}

/// What the PSU decides on the consent page.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Account access approved for these ledger account ids.
    Accounts(Vec<String>),
    /// A payment approved, choosing the debtor account when the consent did not fix it.
    Payment {
        debtor_account: Option<String>,
    },
    Deny,
}

/// The tokens of an authorization.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub body: Value,
}

/// A TPP: its signing key, its client certificate, its registration (FAPI 1 Advanced,
/// private_key_jwt, certificate-bound tokens).
pub struct Tpp {
    pub client_id: String,
    /// The PS256 private signing key (with `kid`), registered in the client's `jwks`.
    pub key: Jwk,
    pub public_jwk: Value,
    pub cert_pem: String,
    pub key_pem: String,
    /// Base64url SHA-256 of the certificate: the `cnf.x5t#S256` of its tokens.
    pub thumbprint: String,
    /// An HTTP client presenting the certificate, trusting the server's CA.
    pub http: reqwest::Client,
}

impl Tpp {
    pub async fn register(server: &TestServer, client_id: &str) -> Tpp {
        Self::register_with(server, client_id, json!({})).await
    }

    /// Registers a client through the registration path `consentry client add` uses; `extra`
    /// metadata is merged in.
    pub async fn register_with(server: &TestServer, client_id: &str, extra: Value) -> Tpp {
        use consentry_server::registration::metadata::{ClientMetadata, new_client};
        use consentry_server::store::ClientStore as _;
        let pki = ensure_local_pki(&server.data_dir.join("tls"), &[], now()).unwrap();
        let identity = consentry_server::registration::test_client::new_identity(
            &pki,
            client_id,
            "Test TPP Ltd",
            now(),
        )
        .unwrap();
        let mut metadata = json!({
            "client_id": client_id,
            "client_name": format!("{client_id} app"),
            "profile": "fapi1-advanced",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "PS256",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code id_token", "code"],
            "scope": "openid accounts payments",
            "jwks": {"keys": [identity.public_jwk.clone()]},
            "tls_client_certificate_bound_access_tokens": true,
            "id_token_signed_response_alg": "PS256",
            "request_object_signing_alg": "PS256",
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut metadata, extra) {
            m.extend(e);
        }
        let parsed = ClientMetadata::parse(&metadata.to_string()).unwrap();
        let profile = parsed.profile();
        let validated = parsed
            .validate(profile)
            .unwrap_or_else(|e| panic!("test client metadata: {e:?}"));
        let client = new_client(validated, now()).unwrap();
        server.store().insert_client(&client.record).await.unwrap();

        let key = Jwk::from_map(identity.private_jwk.as_object().unwrap().clone()).unwrap();
        let der = pem_der(&identity.cert_pem);
        let http = server
            .client_builder()
            .identity(
                reqwest::Identity::from_pem(
                    format!("{}{}", identity.cert_pem, identity.key_pem).as_bytes(),
                )
                .unwrap(),
            )
            .build()
            .unwrap();
        Tpp {
            client_id: client_id.to_owned(),
            key,
            public_jwk: identity.public_jwk,
            cert_pem: identity.cert_pem,
            key_pem: identity.key_pem,
            thumbprint: b64url(&sha256(&der)),
            http,
        }
    }

    /// A JWT signed with the TPP's key (PS256, its `kid`).
    pub fn sign(&self, claims: Value, typ: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        header.set_key_id(self.key.key_id().unwrap());
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        let payload = JwtPayload::from_map(map).unwrap();
        josekit::jwt::encode_with_signer(
            &payload,
            &header,
            &PS256.signer_from_jwk(&self.key).unwrap(),
        )
        .unwrap()
    }

    /// The private_key_jwt client authentication parameters, the assertion's `aud` the issuer.
    pub fn auth_params(&self, server: &TestServer) -> Vec<(String, String)> {
        let now = now();
        let assertion = self.sign(
            json!({"iss": self.client_id, "sub": self.client_id, "aud": server.public,
                   "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60}),
            None,
        );
        vec![
            ("client_id".to_owned(), self.client_id.clone()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ]
    }

    /// `POST /token` on the mTLS listener with client authentication and `form`.
    pub async fn token_request(
        &self,
        server: &TestServer,
        form: &[(&str, &str)],
        dpop: Option<String>,
    ) -> Reply {
        let mut body = self.auth_params(server);
        body.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut request = self.http.post(format!("{}/token", server.mtls)).form(&body);
        if let Some(proof) = dpop {
            request = request.header("DPoP", proof);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    /// A client_credentials access token with `scope`, bound to the TPP's certificate.
    pub async fn client_credentials_token(&self, server: &TestServer, scope: &str) -> String {
        let r = self
            .token_request(
                server,
                &[("grant_type", "client_credentials"), ("scope", scope)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The request object of a UK OB authorization: hybrid flow, PKCE, the consent bound by the
    /// essential `openbanking_intent_id` claim, and SCA asked for as an essential `acr`.
    pub fn request_object(&self, server: &TestServer, consent_id: &str, scope: &str) -> String {
        self.request_object_for(server, consent_id, scope, "code id_token")
    }

    /// [`Tpp::request_object`] with another `response_type` (`code` for FAPI 2 clients).
    pub fn request_object_for(
        &self,
        server: &TestServer,
        consent_id: &str,
        scope: &str,
        response_type: &str,
    ) -> String {
        let now = now();
        self.sign(
            json!({
                "iss": self.client_id, "aud": server.public, "client_id": self.client_id,
                "response_type": response_type, "redirect_uri": REDIRECT, "scope": scope,
                "state": "state-ob", "nonce": "nonce-ob",
                "code_challenge": CHALLENGE, "code_challenge_method": "S256",
                "nbf": now, "exp": now + 300,
                "claims": {"id_token": {
                    "openbanking_intent_id": {"value": consent_id, "essential": true},
                    "acr": {"essential": true, "values": [ACR_SCA, ACR_CA]},
                }},
            }),
            Some("oauth-authz-req+jwt"),
        )
    }

    /// Pushes `request_object` (PAR) and returns the authorization URL to send the PSU to.
    pub async fn push(&self, server: &TestServer, request_object: &str) -> String {
        self.push_with(server, request_object, None).await
    }

    /// [`Tpp::push`] with a DPoP proof of `dpop` (which binds the code to that key).
    pub async fn push_with(
        &self,
        server: &TestServer,
        request_object: &str,
        dpop: Option<&DpopKey>,
    ) -> String {
        let mut form = self.auth_params(server);
        form.push(("request".to_owned(), request_object.to_owned()));
        let par_url = format!("{}/par", server.mtls);
        let mut request = self.http.post(&par_url).form(&form);
        if let Some(key) = dpop {
            request = request.header("DPoP", key.proof("POST", &par_url, None));
        }
        let r = request.send().await.unwrap();
        let r = Reply::read(r).await;
        assert_eq!(r.status, StatusCode::CREATED, "PAR: {:#}", r.body);
        format!(
            "{}/authorize?client_id={}&request_uri={}",
            server.public,
            self.client_id,
            consentry_server::protocol::redirect::urlencode(
                r.body["request_uri"].as_str().unwrap()
            )
        )
    }

    /// The real flow up to the redirect back to the TPP: PAR with a signed request object for
    /// `consent_id`, the authorization endpoint, the login page as `customer`, the consent page
    /// and `decision`. Returns the authorization response parameters.
    pub async fn authorization_response(
        &self,
        server: &TestServer,
        customer: &Customer,
        consent_id: &str,
        scope: &str,
        decision: &Decision,
    ) -> Map<String, Value> {
        let url = self
            .push(server, &self.request_object(server, consent_id, scope))
            .await;
        let location = browse(server, &url, customer, decision).await;
        assert!(location.starts_with(REDIRECT), "{location}");
        response_params(&location)
    }

    /// Exchanges an authorization code for tokens (certificate-bound; DPoP-bound too when a
    /// proof key is given).
    pub async fn exchange_code(
        &self,
        server: &TestServer,
        code: &str,
        dpop: Option<&DpopKey>,
    ) -> Tokens {
        let token_url = format!("{}/token", server.mtls);
        let r = self
            .token_request(
                server,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
                dpop.map(|k| k.proof("POST", &token_url, None)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "token: {:#}", r.body);
        Tokens {
            access_token: r.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: r.body["refresh_token"].as_str().map(str::to_owned),
            id_token: r.body["id_token"].as_str().map(str::to_owned),
            body: r.body,
        }
    }

    /// The whole real flow to tokens for an authorised consent (see
    /// [`Tpp::authorization_response`]); `decision` must approve.
    pub async fn authorise(
        &self,
        server: &TestServer,
        customer: &Customer,
        consent_id: &str,
        scope: &str,
        decision: Decision,
    ) -> Tokens {
        let params = self
            .authorization_response(server, customer, consent_id, scope, &decision)
            .await;
        let code = params
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no code in the authorization response: {params:?}"));
        self.exchange_code(server, code, None).await
    }

    /// `method` on the resource listener at `path` (e.g. `/open-banking/v3.1/aisp/accounts`)
    /// with the certificate and `Bearer token`, a JSON body if given, and a fresh interaction id.
    pub async fn call(
        &self,
        server: &TestServer,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, server.api(path))
            .bearer_auth(token)
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .header("accept", "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, server: &TestServer, path: &str, token: &str) -> Reply {
        self.call(server, reqwest::Method::GET, path, token, None)
            .await
    }

    pub async fn post(&self, server: &TestServer, path: &str, token: &str, body: &Value) -> Reply {
        self.call(server, reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, server: &TestServer, path: &str, token: &str) -> Reply {
        self.call(server, reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// Sends a request built on the TPP's mTLS client and reads the reply.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::read(request.send().await.unwrap()).await
    }
}

/// The DER of the first certificate of a PEM text.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// A DPoP key and proofs made with it.
pub struct DpopKey(Jwk);

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopKey {
    pub fn new() -> Self {
        DpopKey(
            EcKeyPair::generate(EcCurve::P256)
                .unwrap()
                .to_jwk_key_pair(),
        )
    }

    /// A proof for `method` `url`, presenting `access_token` (its hash as `ath`) when given.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_jwk(self.0.to_public_key().unwrap());
        let mut claims = Map::new();
        claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("htm".to_owned(), json!(method));
        claims.insert("htu".to_owned(), json!(url));
        claims.insert("iat".to_owned(), json!(now()));
        if let Some(token) = access_token {
            claims.insert("ath".to_owned(), json!(b64url(&sha256(token.as_bytes()))));
        }
        let payload = JwtPayload::from_map(claims).unwrap();
        josekit::jwt::encode_with_signer(
            &payload,
            &header,
            &ES256.signer_from_jwk(&self.0).unwrap(),
        )
        .unwrap()
    }
}

/// Drives the browser from the authorization URL to the client's redirect: the login page as
/// `customer`, then the consent page and `decision` (the consent-page contract: a form posting
/// `csrf_token`, `decision` = `approve` | `deny`, `account` fields whose checkboxes have ids
/// `account-<id>`, and an optional `debtor_account` whose radios have ids `debtor-<id>`).
/// Returns the `Location` of the redirect to the client.
pub async fn browse(
    server: &TestServer,
    authorize_url: &str,
    customer: &Customer,
    decision: &Decision,
) -> String {
    let browser = server.browser();
    let absolute = |location: &str| {
        if location.starts_with('/') {
            format!("{}{location}", server.public)
        } else {
            location.to_owned()
        }
    };
    let mut url = authorize_url.to_owned();
    let mut logged_in = false;
    for _ in 0..10 {
        let r = browser.get(&url).send().await.unwrap();
        let status = r.status();
        if status.is_redirection() {
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            if location.starts_with(REDIRECT) {
                return location;
            }
            url = absolute(&location);
            continue;
        }
        let page = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        if page.contains("name=\"password\"") {
            assert!(!logged_in, "the login page came back after logging in");
            logged_in = true;
            let r = browser
                .post(format!("{}/login", server.public))
                .form(&[
                    ("username", customer.username.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf_of(&page)),
                    ("return_to", "/authorize/resume"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
            url = absolute(r.headers()["location"].to_str().unwrap());
            continue;
        }
        assert!(page.contains("/authorize/decision"), "{page}");
        let mut form = vec![("csrf_token", csrf_of(&page))];
        match decision {
            Decision::Deny => form.push(("decision", "deny".to_owned())),
            Decision::Accounts(ids) => {
                form.push(("decision", "approve".to_owned()));
                for id in ids {
                    assert!(
                        page.contains(&format!("id=\"account-{id}\"")),
                        "the consent page offers account {id}: {page}"
                    );
                    form.push(("account", id.clone()));
                }
            }
            Decision::Payment { debtor_account } => {
                form.push(("decision", "approve".to_owned()));
                if let Some(id) = debtor_account {
                    assert!(
                        page.contains(&format!("id=\"debtor-{id}\"")),
                        "the consent page offers debtor account {id}: {page}"
                    );
                    form.push(("debtor_account", id.clone()));
                }
            }
        }
        let r = browser
            .post(format!("{}/authorize/decision", server.public))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        return r.headers()["location"].to_str().unwrap().to_owned();
    }
    panic!("the authorization did not come back to the client")
}

/// The parameters of an authorization response (fragment or query).
pub fn response_params(location: &str) -> Map<String, Value> {
    let url = url::Url::parse(location).unwrap();
    let part = url
        .fragment()
        .map(str::to_owned)
        .unwrap_or_else(|| url.query().unwrap_or_default().to_owned());
    url::form_urlencoded::parse(part.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
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
