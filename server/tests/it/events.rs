//! Event notifications: the outbox written with consent changes, exclusive leases under
//! concurrency, pushes to a real HTTPS receiver on loopback (retries with backoff driven by a
//! fixed clock, signatures checked against the published JWKS), a restart in the middle of a
//! push, the operator's host allow-list, and aggregated polling.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use consentry_server::app::AppState;
use consentry_server::clock::{Clock as _, FixedClock, SharedClock, SystemClock};
use consentry_server::consent::{Actor, ConsentStatus};
use consentry_server::events::polling::{PollRequest, SetErr, poll};
use consentry_server::events::{EventType, NewEvent, ResourceRef};
use consentry_server::http::listener::{ListenerOptions, serve_tls};
use consentry_server::registration::metadata::{ClientMetadata, Profile, new_client};
use consentry_server::serve::Running;
use consentry_server::store::{
    Account, AttemptOutcome, Authorisation, BankSeed, ConsentRecord, ConsentStore as _,
    EventRecord, EventStore as _, LedgerStore as _, Role, Store, User,
};
use consentry_server::tls::local_ca::ensure_local_pki;
use consentry_server::tls::{ClientAuth, server_config};
use josekit::jwk::Jwk;
use josekit::jws::PS256;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::support::{self, TestDb, all_stores};

/// A generous bound so that a bug fails the test instead of hanging it; never a synchronisation.
const BOUND: Duration = Duration::from_secs(30);
const RESOURCE_UPDATE: &str = "urn:uk:org:openbanking:events:resource-update";
const REVOKED: &str = "urn:uk:org:openbanking:events:consent-authorization-revoked";

fn customer() -> User {
    User {
        id: "psu".into(),
        username: "psu".into(),
        display_name: "P S U".into(),
        email: None,
        phone: None,
        role: Role::Customer,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        disabled_at: None,
        created_at: 0,
    }
}

fn account(id: &str) -> Account {
    Account {
        id: id.into(),
        owner_user_id: "psu".into(),
        account_type: "Personal".into(),
        account_subtype: "CurrentAccount".into(),
        currency: "GBP".into(),
        nickname: id.into(),
        scheme_name: "UK.OBIE.SortCodeAccountNumber".into(),
        identification: format!("601613{id}"),
        holder_name: "P".into(),
        balance_minor: 0,
        opened_at: 0,
    }
}

/// A client registered through metadata validation, with `callback` as its
/// `event_notification_uri` when given.
fn tpp(client_id: &str, callback: Option<&str>) -> consentry_server::store::ClientRecord {
    let mut metadata = json!({
        "client_id": client_id,
        "client_name": "Event TPP",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": format!("CN={client_id}"),
    });
    if let Some(uri) = callback {
        metadata["event_notification_uri"] = uri.into();
    }
    let m = ClientMetadata::parse(&metadata.to_string())
        .unwrap()
        .validate(Profile::Fapi1Advanced)
        .unwrap();
    new_client(m, 1).unwrap().record
}

/// The customer, two accounts and `clients`, once per database.
async fn seed(store: &Store, clients: Vec<consentry_server::store::ClientRecord>) {
    let seed = BankSeed {
        users: vec![customer()],
        accounts: vec![account("a1"), account("a2")],
        clients,
        ..BankSeed::default()
    };
    store.seed_once("events-test", &seed).await.unwrap();
}

fn consent(id: &str, client_id: &str, now: i64) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        kind: "account-access".into(),
        client_id: client_id.into(),
        status: "AwaitingAuthorisation".into(),
        status_updated_at: now,
        created_at: now,
        expires_at: None,
        user_id: None,
        permissions: Some(r#"["ReadAccountsBasic"]"#.into()),
        tx_from: None,
        tx_to: None,
        debtor_account_id: None,
        amount_minor: None,
        currency: None,
        body: "{}".into(),
        idempotency_key: None,
        request_hash: None,
        authorised_at: None,
        last_used_at: None,
    }
}

async fn authorise(store: &Store, id: &str, accounts: &[String], now: i64) -> bool {
    let a = Authorisation {
        user_id: "psu",
        account_ids: accounts,
        debtor_account_id: None,
    };
    store.authorise_consent(id, &a, now).await.unwrap()
}

/// Every event of `client_id` that is neither acknowledged nor delivered.
async fn waiting(store: &Store, client_id: &str) -> Vec<EventRecord> {
    store.pending_events(client_id, 1000).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn consent_changes_put_their_event_in_the_outbox_with_the_change() {
    const NOW: i64 = 1_800_000_000;
    for (backend, store, _dir) in all_stores().await {
        seed(&store, vec![tpp("tpp", None)]).await;
        let tpp_actor = Actor::Tpp("tpp".into());
        store
            .insert_consent(&consent("c1", "tpp", NOW), &tpp_actor)
            .await
            .unwrap();
        assert!(
            waiting(&store, "tpp").await.is_empty(),
            "{backend}: creating is no event"
        );

        // An authorisation that fails half-way (an account that does not exist) changes nothing
        // and reports nothing.
        let missing = ["a1".to_owned(), "nope".to_owned()];
        let a = Authorisation {
            user_id: "psu",
            account_ids: &missing,
            debtor_account_id: None,
        };
        assert!(
            store.authorise_consent("c1", &a, NOW).await.is_err(),
            "{backend}"
        );
        assert_eq!(
            store.consent("c1").await.unwrap().unwrap().status,
            "AwaitingAuthorisation"
        );
        assert!(
            waiting(&store, "tpp").await.is_empty(),
            "{backend}: rolled back with it"
        );

        // Twenty racing authorisations: one wins, and there is one event.
        let accounts = vec!["a1".to_owned()];
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (store, accounts) = (store.clone(), accounts.clone());
            tasks.spawn(async move { authorise(&store, "c1", &accounts, NOW + 1).await });
        }
        let mut won = 0;
        while let Some(r) = tasks.join_next().await {
            won += usize::from(r.unwrap());
        }
        assert_eq!(won, 1, "{backend}");
        let events = waiting(&store, "tpp").await;
        assert_eq!(events.len(), 1, "{backend}: one change, one event");
        let e = &events[0];
        assert_eq!(e.event_type, RESOURCE_UPDATE);
        assert_eq!(e.resource_type, "account-access-consent");
        assert_eq!(e.resource_id, "c1");
        assert_eq!(
            e.resource_path,
            "/open-banking/v3.1/aisp/account-access-consents/c1"
        );
        assert_eq!(e.created_at, NOW + 1);
        assert_eq!(e.next_attempt_at, Some(NOW + 1), "{backend}: due at once");
        assert_eq!(e.txn, e.jti);

        // Revoking: consent-authorization-revoked; a refused change (revoked twice) is no event.
        let psu = Actor::Psu("psu".into());
        for _ in 0..2 {
            store
                .transition_consent("c1", ConsentStatus::Revoked, &psu, NOW + 2)
                .await
                .unwrap();
        }
        let events = waiting(&store, "tpp").await;
        assert_eq!(events.len(), 2, "{backend}");
        assert_eq!(events[1].event_type, REVOKED);
        assert_eq!(events[1].created_at, NOW + 2);

        // Rejection and expiry are resource updates.
        store
            .insert_consent(&consent("c2", "tpp", NOW), &tpp_actor)
            .await
            .unwrap();
        assert!(
            store
                .transition_consent("c2", ConsentStatus::Rejected, &psu, NOW + 3)
                .await
                .unwrap()
        );
        let events = waiting(&store, "tpp").await;
        assert_eq!(events.len(), 3, "{backend}");
        assert_eq!(
            (
                events[2].event_type.as_str(),
                events[2].resource_id.as_str()
            ),
            (RESOURCE_UPDATE, "c2")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_give_each_due_event_to_one_node() {
    const NOW: i64 = 1_800_000_000;
    const ROUNDS: usize = 5;
    for (backend, store, _dir) in all_stores().await {
        seed(&store, vec![tpp("tpp", None)]).await;
        // A future event is not due yet.
        let later = store
            .insert_event(&NewEvent::resource_update(
                "tpp",
                ResourceRef::domestic_payment("later"),
                NOW + 100,
            ))
            .await
            .unwrap();
        for round in 0..ROUNDS {
            let mut jtis = HashSet::new();
            for i in 0..40 {
                let event = NewEvent::resource_update(
                    "tpp",
                    ResourceRef::domestic_payment(&format!("p{round}-{i}")),
                    NOW - i,
                );
                jtis.insert(store.insert_event(&event).await.unwrap());
            }
            // Ten nodes ask at once, five events each, again and again until none is left.
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..10 {
                let store = store.clone();
                tasks.spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let got = store.claim_due_events(NOW, NOW + 60, 5).await.unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got.into_iter().map(|e| e.jti));
                    }
                });
            }
            let mut claimed = Vec::new();
            while let Some(r) = tasks.join_next().await {
                claimed.extend(r.unwrap());
            }
            let unique: HashSet<String> = claimed.iter().cloned().collect();
            assert_eq!(claimed.len(), 40, "{backend}: every event taken once");
            assert_eq!(unique, jtis, "{backend}");
        }

        // Held until the lease ends; then due again (the node that held them stopped).
        assert!(
            store
                .claim_due_events(NOW + 59, NOW + 119, 100)
                .await
                .unwrap()
                .is_empty()
        );
        let retaken = store
            .claim_due_events(NOW + 60, NOW + 120, 1000)
            .await
            .unwrap();
        assert_eq!(retaken.len(), 40 * ROUNDS, "{backend}");
        let e = &retaken[0];
        // The first holder's outcome no longer counts; the second's does.
        let failed = AttemptOutcome::Failed {
            error: "HTTP 500".into(),
            retry_at: Some(NOW + 200),
        };
        assert!(
            !store
                .finish_attempt(&e.jti, NOW + 60, &failed, NOW + 61)
                .await
                .unwrap()
        );
        assert!(
            store
                .finish_attempt(&e.jti, NOW + 120, &failed, NOW + 61)
                .await
                .unwrap()
        );
        let row = store.event(&e.jti).await.unwrap().unwrap();
        assert_eq!(
            (row.attempts, row.next_attempt_at, row.last_error.as_deref()),
            (1, Some(NOW + 200), Some("HTTP 500")),
            "{backend}"
        );
        // A delivery is recorded whoever holds the lease.
        assert!(
            store
                .finish_attempt(&e.jti, NOW, &AttemptOutcome::Delivered, NOW + 62)
                .await
                .unwrap()
        );
        let row = store.event(&e.jti).await.unwrap().unwrap();
        assert_eq!(
            (row.delivered_at, row.next_attempt_at, row.attempts),
            (Some(NOW + 62), None, 2)
        );
        assert!(
            store
                .claim_due_events(NOW + 100, NOW + 160, 100)
                .await
                .unwrap()
                .iter()
                .any(|r| r.jti == later),
            "{backend}"
        );
        assert!(
            store
                .claim_due_events(NOW + 1000, NOW + 1060, 100)
                .await
                .unwrap()
                .iter()
                .all(|r| r.jti != e.jti),
            "{backend}: a delivered event is never taken again"
        );

        // Old events go.
        assert_eq!(
            store.delete_events_before(NOW + 1).await.unwrap(),
            40 * ROUNDS as u64
        );
        assert!(store.event(&later).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn acknowledgements_touch_only_the_clients_own_events() {
    const NOW: i64 = 1_800_000_000;
    for (backend, store, _dir) in all_stores().await {
        seed(&store, vec![tpp("a", None), tpp("b", None)]).await;
        let ev = |client: &str, id: &str| {
            NewEvent::resource_update(client, ResourceRef::domestic_payment(id), NOW)
        };
        let a1 = store.insert_event(&ev("a", "1")).await.unwrap();
        let a2 = store.insert_event(&ev("a", "2")).await.unwrap();
        let b1 = store.insert_event(&ev("b", "1")).await.unwrap();
        // b cannot acknowledge a's events.
        assert_eq!(
            store
                .acknowledge_events("b", &[(a1.clone(), None)], NOW)
                .await
                .unwrap(),
            0,
            "{backend}"
        );
        assert_eq!(waiting(&store, "a").await.len(), 2);
        let acks = [(a1.clone(), None), (a2.clone(), Some("jwtIss".to_owned()))];
        assert_eq!(
            store.acknowledge_events("a", &acks, NOW).await.unwrap(),
            2,
            "{backend}"
        );
        assert_eq!(store.acknowledge_events("a", &acks, NOW).await.unwrap(), 0);
        assert!(waiting(&store, "a").await.is_empty());
        let row = store.event(&a2).await.unwrap().unwrap();
        assert_eq!(
            (
                row.acknowledged_at,
                row.next_attempt_at,
                row.last_error.as_deref()
            ),
            (Some(NOW), None, Some("jwtIss")),
            "{backend}: acknowledged events are not pushed either"
        );
        assert_eq!(
            waiting(&store, "b")
                .await
                .iter()
                .map(|e| &e.jti)
                .collect::<Vec<_>>(),
            [&b1]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A receiver and servers
// ---------------------------------------------------------------------------------------------

/// How the receiver answers a push.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers (until the connection goes).
    Hold,
}

/// One push the receiver got.
#[derive(Debug)]
struct Hit {
    body: String,
    content_type: Option<String>,
    interaction_id: Option<String>,
}

#[derive(Clone)]
struct ReceiverState {
    plan: Arc<Mutex<VecDeque<Answer>>>,
    hits: mpsc::UnboundedSender<Hit>,
}

/// A TPP's event notification endpoint: HTTPS on 127.0.0.1 with a certificate of a CA of its
/// own, answering pushes as planned (202 once the plan is used up).
struct Receiver {
    url: String,
    ca_file: PathBuf,
    hits: mpsc::UnboundedReceiver<Hit>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Receiver {
    async fn start(plan: &[Answer]) -> Receiver {
        support::init();
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure_local_pki(dir.path(), &[], SystemClock.now()).unwrap();
        let tls = server_config(&pki.server, ClientAuth::None).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let state = ReceiverState {
            plan: Arc::new(Mutex::new(plan.iter().copied().collect())),
            hits: tx,
        };
        let router = Router::new()
            .route("/event-notifications", post(receive))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = ListenerOptions {
            shutdown_grace: Duration::from_millis(100),
            ..ListenerOptions::named("receiver")
        };
        tokio::spawn(serve_tls(listener, tls, router, options, async {
            let _ = stopped.await;
        }));
        Receiver {
            url: format!("https://127.0.0.1:{port}/event-notifications"),
            ca_file: pki.ca_cert_path(),
            hits: rx,
            stop: Some(stop),
            _dir: dir,
        }
    }

    async fn next_hit(&mut self) -> Hit {
        tokio::time::timeout(BOUND, self.hits.recv())
            .await
            .expect("a push arrives")
            .expect("receiver running")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let answer = s.plan.lock().unwrap().pop_front();
    let _ = s.hits.send(Hit {
        body,
        content_type: header("content-type"),
        interaction_id: header("x-fapi-interaction-id"),
    });
    match answer {
        Some(Answer::Hold) => std::future::pending().await,
        Some(Answer::Status(code)) => StatusCode::from_u16(code).unwrap(),
        None => StatusCode::ACCEPTED,
    }
}

/// A running server on a data directory the test keeps, so that another can start on it.
struct Node {
    running: Option<Running>,
    public: String,
    ca_pem: Vec<u8>,
}

impl Node {
    /// Starts a server on `dir` and `db` with `clock`, pushing to hosts `allowed` and trusting
    /// `receiver_ca` for them; looks for due events every 20 ms.
    async fn start(
        dir: &Path,
        db: &TestDb,
        clock: SharedClock,
        allowed: &[&str],
        receiver_ca: &Path,
    ) -> Node {
        support::init();
        let mut config = support::test_config(dir, db);
        let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mtls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pp = public.local_addr().unwrap().port();
        config.server.issuer = url::Url::parse(&format!("https://localhost:{pp}")).unwrap();
        config.server.mtls_addr = mtls.local_addr().unwrap();
        config.tls.client_ca_files = vec![receiver_ca.to_owned()];
        config.events.callback_allowed_hosts = allowed.iter().map(|h| (*h).to_owned()).collect();
        config.events.poll_interval_ms = 20;
        config.events.timeout_ms = 5_000;
        let prepared = consentry_server::serve::prepare(config, clock)
            .await
            .expect("prepare server");
        let ca_pem = std::fs::read(dir.join("tls/ca.crt")).unwrap();
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
        Node {
            public: format!("https://localhost:{}", running.public_addr.port()),
            running: Some(running),
            ca_pem,
        }
    }

    fn state(&self) -> &AppState {
        &self.running.as_ref().unwrap().state
    }

    fn store(&self) -> &Store {
        &self.state().store
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            tokio::time::timeout(BOUND, running.shutdown())
                .await
                .expect("the server stops while a push is in flight");
        }
    }

    /// The server's published keys.
    async fn jwks(&self) -> Value {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).unwrap())
            .build()
            .unwrap()
            .get(format!("{}/jwks", self.public))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Waits until `check` holds for the stored event `jti`, and returns it.
async fn event_when(
    store: &Store,
    jti: &str,
    what: &str,
    check: impl Fn(&EventRecord) -> bool,
) -> EventRecord {
    let waited = tokio::time::timeout(BOUND, async {
        loop {
            if let Some(e) = store.event(jti).await.unwrap()
                && check(&e)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("event {jti}: {what}"))
}

/// The claims of a SET whose signature verifies with a key of `jwks`; checks the header too.
fn verified_claims(token: &str, jwks: &Value) -> Value {
    let header = consentry_server::protocol::jose::decode_unverified_header(token).unwrap();
    assert_eq!(header["typ"], "secevent+jwt");
    assert_eq!(header["alg"], "PS256");
    let kid = header["kid"].as_str().unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the signing key is published");
    let jwk = Jwk::from_map(key.as_object().unwrap().clone()).unwrap();
    let verifier = PS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier).expect("valid SET");
    Value::Object(payload.claims_set().clone())
}

/// The test databases for server-level tests: SQLite in the node's directory, and PostgreSQL
/// when configured.
async fn test_dbs() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::Sqlite];
    if let Some(url) = support::postgres_database().await {
        dbs.push(TestDb::Postgres(url));
    }
    dbs
}

fn db_name(db: &TestDb) -> &'static str {
    match db {
        TestDb::Sqlite => "sqlite",
        TestDb::Postgres(_) => "postgres",
    }
}

/// A receiver answering as planned, a node pushing to it from a data directory of its own with a
/// fixed clock, the TPP registered with the receiver as its callback, and the TPP's consent `c1`
/// authorised at `t0`: its event is due.
struct Scene {
    receiver: Receiver,
    dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    t0: i64,
    node: Node,
}

impl Scene {
    async fn start(db: &TestDb, plan: &[Answer]) -> Scene {
        let receiver = Receiver::start(plan).await;
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemClock.now();
        let clock = Arc::new(FixedClock::new(t0));
        let node = Scene::node(&dir, db, &clock, &receiver).await;
        let store = node.store();
        seed(store, vec![tpp("tpp", Some(&receiver.url))]).await;
        store
            .insert_consent(&consent("c1", "tpp", t0), &Actor::Tpp("tpp".into()))
            .await
            .unwrap();
        assert!(authorise(store, "c1", &["a1".to_owned()], t0).await);
        Scene {
            receiver,
            dir,
            clock,
            t0,
            node,
        }
    }

    /// A node on the scene's data directory and database, pushing to 127.0.0.1.
    async fn node(
        dir: &tempfile::TempDir,
        db: &TestDb,
        clock: &Arc<FixedClock>,
        receiver: &Receiver,
    ) -> Node {
        Node::start(
            dir.path(),
            db,
            clock.clone(),
            &["127.0.0.1"],
            &receiver.ca_file,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Pushing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn events_are_pushed_signed_and_retried_with_backoff() {
    for db in test_dbs().await {
        let backend = db_name(&db);
        let Scene {
            mut receiver,
            clock,
            t0,
            mut node,
            dir: _dir,
        } = Scene::start(&db, &[Answer::Status(500), Answer::Status(503)]).await;
        let store = node.store().clone();
        let jti = waiting(&store, "tpp").await[0].jti.clone();

        // First push at once: 500. The next is due 30 s later.
        let first = receiver.next_hit().await;
        let e = event_when(&store, &jti, "first failure recorded", |e| e.attempts == 1).await;
        assert_eq!(e.next_attempt_at, Some(t0 + 30), "{backend}");
        assert!(e.last_error.as_deref().unwrap().contains("500"), "{e:?}");
        assert!(e.delivered_at.is_none());

        // Second push 30 s on: 503. The wait doubles.
        clock.advance(30);
        let second = receiver.next_hit().await;
        let e = event_when(&store, &jti, "second failure recorded", |e| e.attempts == 2).await;
        assert_eq!(e.next_attempt_at, Some(t0 + 30 + 60), "{backend}");
        assert!(e.last_error.as_deref().unwrap().contains("503"));

        // Third push 60 s later: accepted.
        clock.advance(60);
        let third = receiver.next_hit().await;
        let e = event_when(&store, &jti, "delivery recorded", |e| {
            e.delivered_at.is_some()
        })
        .await;
        assert_eq!(
            (e.delivered_at, e.next_attempt_at, e.attempts, e.last_error),
            (Some(t0 + 90), None, 3, None),
            "{backend}"
        );
        assert!(
            waiting(&store, "tpp").await.is_empty(),
            "{backend}: a pushed event is not offered to polling"
        );

        // Every push carries the same event as a SET signed with a published key.
        let jwks = node.jwks().await;
        let issuer = node.state().config.server.issuer.to_string();
        let link = format!(
            "{}/open-banking/v3.1/aisp/account-access-consents/c1",
            node.state()
                .config
                .resource_base_url()
                .as_str()
                .trim_end_matches('/')
        );
        for (hit, iat) in [(&first, t0), (&second, t0 + 30), (&third, t0 + 90)] {
            assert_eq!(hit.content_type.as_deref(), Some("application/jwt"));
            assert!(hit.interaction_id.is_some());
            let claims = verified_claims(&hit.body, &jwks);
            assert_eq!(
                claims,
                json!({
                    "iss": issuer,
                    "iat": iat,
                    "jti": jti,
                    "aud": "tpp",
                    "sub": link,
                    "txn": jti,
                    "toe": t0,
                    "events": {
                        RESOURCE_UPDATE: {
                            "subject": {
                                "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
                                "http://openbanking.org.uk/rid": "c1",
                                "http://openbanking.org.uk/rty": "account-access-consent",
                                "http://openbanking.org.uk/rlk": [{"version": "v3.1", "link": link}],
                            }
                        }
                    }
                }),
                "{backend}"
            );
        }

        // Revoking the consent is pushed too, as consent-authorization-revoked.
        assert!(
            store
                .transition_consent(
                    "c1",
                    ConsentStatus::Revoked,
                    &Actor::Psu("psu".into()),
                    clock.now()
                )
                .await
                .unwrap()
        );
        let revoked = receiver.next_hit().await;
        let claims = verified_claims(&revoked.body, &jwks);
        assert_eq!(claims["toe"], t0 + 90);
        assert!(claims["events"][REVOKED]["subject"].is_object(), "{claims}");
        assert_ne!(claims["jti"], jti);
        node.stop().await;
        assert!(
            receiver.hits.try_recv().is_err(),
            "{backend}: no other push"
        );
    }
}

#[tokio::test]
async fn an_event_in_flight_when_the_server_stops_is_pushed_after_the_restart() {
    for db in test_dbs().await {
        let backend = db_name(&db);
        // The first push is never answered: the server stops while it is in flight.
        let Scene {
            mut receiver,
            dir,
            clock,
            t0,
            mut node,
        } = Scene::start(&db, &[Answer::Hold]).await;
        let store = node.store().clone();
        let in_flight = receiver.next_hit().await;
        let authorised_jti = verified_claims(&in_flight.body, &node.jwks().await)["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        // Meanwhile the consent is revoked: an event nobody has tried to push yet.
        assert!(
            store
                .transition_consent("c1", ConsentStatus::Revoked, &Actor::Tpp("tpp".into()), t0)
                .await
                .unwrap()
        );
        node.stop().await;

        // A new server on the same data: the untried event goes at once; the one in flight
        // when the first stopped goes when its lease ends.
        let mut node = Scene::node(&dir, &db, &clock, &receiver).await;
        let store = node.store().clone();
        let jwks = node.jwks().await;
        let first = verified_claims(&receiver.next_hit().await.body, &jwks);
        assert!(first["events"][REVOKED].is_object(), "{backend}: {first}");
        let revoked_jti = first["jti"].as_str().unwrap().to_owned();
        event_when(&store, &revoked_jti, "delivered", |e| {
            e.delivered_at.is_some()
        })
        .await;
        let held = store.event(&authorised_jti).await.unwrap().unwrap();
        assert!(held.delivered_at.is_none(), "{backend}");
        assert_eq!(
            held.next_attempt_at,
            Some(t0 + 120),
            "{backend}: still leased"
        );

        clock.advance(120);
        let again = verified_claims(&receiver.next_hit().await.body, &jwks);
        assert_eq!(again["jti"], authorised_jti.as_str(), "{backend}");
        assert!(again["events"][RESOURCE_UPDATE].is_object());
        event_when(&store, &authorised_jti, "delivered", |e| {
            e.delivered_at.is_some()
        })
        .await;
        assert!(
            waiting(&store, "tpp").await.is_empty(),
            "{backend}: nothing lost"
        );
        node.stop().await;
        assert!(
            receiver.hits.try_recv().is_err(),
            "{backend}: no other push"
        );
    }
}

#[tokio::test]
async fn only_allowed_hosts_are_contacted_and_the_rest_waits_for_polling() {
    let mut receiver = Receiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let t0 = SystemClock.now();
    let clock = Arc::new(FixedClock::new(t0));
    let node = Node::start(
        dir.path(),
        &TestDb::Sqlite,
        clock.clone(),
        &["tpp.example", "*.tpp.example"],
        &receiver.ca_file,
    )
    .await;
    let store = node.store().clone();
    seed(
        &store,
        vec![tpp("elsewhere", Some(&receiver.url)), tpp("silent", None)],
    )
    .await;
    let mut jtis = Vec::new();
    for client in ["elsewhere", "silent"] {
        let event = NewEvent::resource_update(client, ResourceRef::domestic_payment("p1"), t0);
        jtis.push(store.insert_event(&event).await.unwrap());
    }
    let refused = event_when(&store, &jtis[0], "refused", |e| e.last_error.is_some()).await;
    assert_eq!(
        refused.last_error.as_deref(),
        Some("host 127.0.0.1 is not in events.callback_allowed_hosts")
    );
    assert_eq!((refused.attempts, refused.next_attempt_at), (0, None));
    let silent = event_when(&store, &jtis[1], "refused", |e| e.last_error.is_some()).await;
    assert_eq!(
        silent.last_error.as_deref(),
        Some("the client registered no event_notification_uri")
    );
    assert!(receiver.hits.try_recv().is_err(), "no request was made");

    // Both wait for polling.
    let response = poll(node.state(), "elsewhere", &PollRequest::default(), t0)
        .await
        .unwrap();
    assert_eq!(
        response.sets.keys().collect::<Vec<_>>(),
        [&jtis[0]],
        "still available"
    );
    drop(node);
}

// ---------------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn polling_returns_a_clients_events_until_it_acknowledges_them() {
    let server = support::TestServer::start(TestDb::Sqlite).await;
    let state = server.state();
    let store = &state.store;
    seed(store, vec![tpp("a", None), tpp("b", None)]).await;
    let now = state.clock.now();
    let mut a = Vec::new();
    for i in 0..3 {
        let event = NewEvent {
            txn: Some(format!("interaction-{i}")),
            ..NewEvent::resource_update(
                "a",
                ResourceRef::domestic_payment(&format!("p{i}")),
                now + i,
            )
        };
        a.push(store.insert_event(&event).await.unwrap());
    }
    let b = store
        .insert_event(&NewEvent::consent_status(
            "b",
            consentry_server::consent::ConsentKind::DomesticPayment,
            "pc1",
            ConsentStatus::Consumed,
            now,
        ))
        .await
        .unwrap();
    let jwks = state.keys.jwks().await.unwrap();

    // Two of three, oldest first, more available.
    let request = PollRequest {
        max_events: Some(2),
        ..PollRequest::default()
    };
    let r = poll(state, "a", &request, now).await.unwrap();
    assert!(r.more_available);
    assert_eq!(r.sets.len(), 2);
    for (i, jti) in a[..2].iter().enumerate() {
        let claims = verified_claims(&r.sets[jti], &jwks);
        assert_eq!(claims["jti"], jti.as_str());
        assert_eq!(claims["aud"], "a");
        assert_eq!(claims["txn"], format!("interaction-{i}"));
        assert_eq!(
            claims["events"][RESOURCE_UPDATE]["subject"]["http://openbanking.org.uk/rty"],
            "domestic-payment"
        );
    }

    // Acknowledge one, report an error on the other: neither comes back.
    let request = PollRequest {
        max_events: Some(10),
        ack: vec![a[0].clone()],
        set_errs: [(
            a[1].clone(),
            SetErr {
                err: "jwtIss".into(),
                description: "Issuer is invalid or could not be verified".into(),
            },
        )]
        .into(),
        ..PollRequest::default()
    };
    let r = poll(state, "a", &request, now).await.unwrap();
    assert_eq!(r.sets.keys().collect::<Vec<_>>(), [&a[2]]);
    assert!(!r.more_available);
    assert_eq!(
        store
            .event(&a[1])
            .await
            .unwrap()
            .unwrap()
            .last_error
            .as_deref(),
        Some("client reported jwtIss: Issuer is invalid or could not be verified")
    );

    // Another client sees only its own, and cannot acknowledge a's.
    let request = PollRequest {
        ack: vec![a[2].clone()],
        ..PollRequest::default()
    };
    let r = poll(state, "b", &request, now).await.unwrap();
    assert_eq!(r.sets.keys().collect::<Vec<_>>(), [&b]);
    let claims = verified_claims(&r.sets[&b], &jwks);
    assert_eq!(
        claims["events"][RESOURCE_UPDATE]["subject"]["http://openbanking.org.uk/rty"],
        "domestic-payment-consent"
    );

    // Acknowledge only (maxEvents 0): nothing returned, nothing left.
    let request = PollRequest {
        max_events: Some(0),
        ack: vec![a[2].clone()],
        ..PollRequest::default()
    };
    let r = poll(state, "a", &request, now).await.unwrap();
    assert!(r.sets.is_empty() && !r.more_available);
    let r = poll(state, "a", &PollRequest::default(), now)
        .await
        .unwrap();
    assert!(r.sets.is_empty(), "acknowledged events are gone");
    server.stop().await;
}

#[test]
fn event_types_are_named_as_the_specification_names_them() {
    assert_eq!(EventType::ResourceUpdate.as_str(), RESOURCE_UPDATE);
    assert_eq!(EventType::ConsentAuthorizationRevoked.as_str(), REVOKED);
}
