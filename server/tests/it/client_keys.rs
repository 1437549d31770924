//! Clients' keys from their `jwks_uri`, fetched from a real HTTPS server on loopback: caching,
//! the size limit, the timeout, the host allow-list, refetching for a rotated key and its rate
//! limit; then through the app: client assertions, request objects and encrypted id tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Json, Router};
use consentry_server::app::App;
use consentry_server::clock::{Clock as _, SystemClock};
use consentry_server::http::listener::{ListenerOptions, serve_tls};
use consentry_server::keys::SigningAlg;
use consentry_server::protocol::client::Client;
use consentry_server::protocol::client_auth::{ClientTrust, JWT_BEARER};
use consentry_server::protocol::error::ErrorCode;
use consentry_server::protocol::token::{Caller, ClientAuthForm, authenticate_client};
use consentry_server::registration::jwks_fetch::{
    FetchError, FetchSettings, HostPattern, JwksFetcher,
};
use consentry_server::store::{ClientRecord, ClientStatus, ClientStore as _, GrantRecord};
use consentry_server::tls::local_ca::ensure_local_pki;
use consentry_server::tls::{ClientAuth, server_config};
use josekit::jwe::RSA_OAEP_256;
use josekit::jwk::Jwk;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{JwsHeader, PS256};
use josekit::jwt::JwtPayload;
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

use crate::support;

/// A generous bound so that a bug fails the test instead of hanging it; never a synchronisation.
const BOUND: Duration = Duration::from_secs(20);

fn now() -> i64 {
    SystemClock.now()
}

#[derive(Clone, Default)]
struct Served {
    jwks: Arc<Mutex<Value>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Served {
    fn hit(&self, path: &str) {
        *self
            .hits
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
    }
}

/// An HTTPS server on 127.0.0.1 with a certificate of a CA of its own, counting requests per path.
struct JwksServer {
    base: String,
    ca: CertificateDer<'static>,
    served: Served,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl JwksServer {
    async fn start(jwks: Value) -> JwksServer {
        support::init();
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure_local_pki(dir.path(), &[], now()).unwrap();
        let tls = server_config(&pki.server, ClientAuth::None).unwrap();
        let served = Served {
            jwks: Arc::new(Mutex::new(jwks)),
            hits: Arc::default(),
        };
        let big = "x".repeat(100_000);
        let big_chunked = big.clone();
        let router = Router::new()
            .route(
                "/jwks",
                get(|State(s): State<Served>| async move {
                    s.hit("/jwks");
                    Json(s.jwks.lock().unwrap().clone())
                }),
            )
            .route(
                "/other",
                get(|State(s): State<Served>| async move {
                    s.hit("/other");
                    Json(s.jwks.lock().unwrap().clone())
                }),
            )
            .route(
                "/big",
                get(move |State(s): State<Served>| {
                    let body = format!(r#"{{"keys":[],"pad":"{big}"}}"#);
                    async move {
                        s.hit("/big");
                        body
                    }
                }),
            )
            .route(
                "/big-chunked",
                get(move |State(s): State<Served>| {
                    // No Content-Length: the limit must be enforced while reading.
                    let chunks = big_chunked
                        .as_bytes()
                        .chunks(1000)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>();
                    async move {
                        s.hit("/big-chunked");
                        Body::from_stream(futures_util::stream::iter(chunks))
                    }
                }),
            )
            .route(
                "/silent",
                get(|State(s): State<Served>| async move {
                    s.hit("/silent");
                    std::future::pending::<()>().await;
                    Json(json!({}))
                }),
            )
            .route(
                "/moved",
                get(|State(s): State<Served>| async move {
                    s.hit("/moved");
                    Redirect::temporary("/jwks")
                }),
            )
            .route(
                "/broken",
                get(|State(s): State<Served>| async move {
                    s.hit("/broken");
                    (http::StatusCode::INTERNAL_SERVER_ERROR, "no").into_response()
                }),
            )
            .with_state(served.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = ListenerOptions {
            shutdown_grace: Duration::from_millis(100),
            ..ListenerOptions::named("jwks")
        };
        tokio::spawn(serve_tls(listener, tls, router, options, async {
            let _ = stopped.await;
        }));
        JwksServer {
            base: format!("https://127.0.0.1:{port}"),
            ca: pki.ca_cert_der().unwrap(),
            served,
            stop: Some(stop),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    fn hits(&self, path: &str) -> usize {
        self.served
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn publish(&self, jwks: Value) {
        *self.served.jwks.lock().unwrap() = jwks;
    }

    /// A fetcher allowing `hosts` and trusting this server's CA only.
    fn fetcher(&self, hosts: &[&str], timeout: Duration, max_bytes: u64) -> JwksFetcher {
        let settings = FetchSettings {
            allowed_hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            timeout,
            max_bytes,
            cache_secs: 300,
        };
        JwksFetcher::with_roots(settings, vec![self.ca.clone()], false).unwrap()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn kid_set(kids: &[&str]) -> Value {
    json!({ "keys": kids.iter().map(|k| json!({"kty": "EC", "crv": "P-256", "kid": k, "x": "AA", "y": "AA"})).collect::<Vec<_>>() })
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn key_sets_are_cached_per_uri_until_their_ttl() {
    let server = JwksServer::start(kid_set(&["a"])).await;
    let fetcher = server.fetcher(&["127.0.0.1"], BOUND, 64 * 1024);
    let t = 1_700_000_000;
    let jwks = server.url("/jwks");
    assert_eq!(kids(&fetcher.keys(&jwks, t).await.unwrap()), ["a"]);
    server.publish(kid_set(&["b"]));
    assert_eq!(kids(&fetcher.keys(&jwks, t + 10).await.unwrap()), ["a"]);
    assert_eq!(server.hits("/jwks"), 1, "two lookups, one request");

    // Another URI has its own entry.
    assert_eq!(
        kids(&fetcher.keys(&server.url("/other"), t + 10).await.unwrap()),
        ["b"]
    );
    assert_eq!(server.hits("/other"), 1);

    // Once the TTL has passed, the set is fetched again.
    assert_eq!(kids(&fetcher.keys(&jwks, t + 300).await.unwrap()), ["b"]);
    assert_eq!(server.hits("/jwks"), 2);
}

#[tokio::test]
async fn answers_over_the_size_limit_are_refused() {
    let server = JwksServer::start(kid_set(&["a"])).await;
    let fetcher = server.fetcher(&["127.0.0.1"], BOUND, 4096);
    let t = 1_700_000_000;
    for path in ["/big", "/big-chunked"] {
        assert_eq!(
            fetcher.keys(&server.url(path), t).await,
            Err(FetchError::TooLarge(4096)),
            "{path}"
        );
        assert_eq!(server.hits(path), 1);
    }
    // Within the limit is fine.
    assert!(fetcher.keys(&server.url("/jwks"), t).await.is_ok());
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_given_up() {
    let server = JwksServer::start(kid_set(&["a"])).await;
    let fetcher = server.fetcher(&["127.0.0.1"], Duration::from_millis(300), 4096);
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(BOUND, fetcher.keys(&server.url("/silent"), 1))
        .await
        .expect("the fetcher's own timeout fires first");
    assert_eq!(result, Err(FetchError::Timeout(300)));
    assert_eq!(server.hits("/silent"), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn hosts_not_allowed_are_never_contacted() {
    let server = JwksServer::start(kid_set(&["a"])).await;
    let jwks = server.url("/jwks");
    for hosts in [
        &[][..],
        &["keys.example.com"][..],
        &["*.example.com"][..],
        &["localhost"][..],
    ] {
        let fetcher = server.fetcher(hosts, BOUND, 4096);
        assert_eq!(
            fetcher.keys(&jwks, 1).await,
            Err(FetchError::HostNotAllowed("127.0.0.1".into())),
            "{hosts:?}"
        );
        assert_eq!(
            fetcher.refetch(&jwks, 1).await,
            Err(FetchError::HostNotAllowed("127.0.0.1".into())),
            "{hosts:?}"
        );
    }
    let fetcher = server.fetcher(&["127.0.0.1"], BOUND, 4096);
    let plain = Url::parse(&jwks.as_str().replace("https:", "http:")).unwrap();
    assert_eq!(fetcher.keys(&plain, 1).await, Err(FetchError::NotHttps));
    assert_eq!(server.hits("/jwks"), 0, "no request was made");

    // Redirects are not followed (they could lead anywhere), errors are not cached as keys.
    assert_eq!(
        fetcher.keys(&server.url("/moved"), 1).await,
        Err(FetchError::Status(307))
    );
    assert_eq!(
        fetcher.keys(&server.url("/broken"), 1).await,
        Err(FetchError::Status(500))
    );
    assert_eq!(server.hits("/jwks"), 0);

    // A fetcher without the server's CA refuses the certificate.
    let untrusting = JwksFetcher::with_roots(
        FetchSettings {
            allowed_hosts: vec![HostPattern::parse("127.0.0.1").unwrap()],
            timeout: BOUND,
            max_bytes: 4096,
            cache_secs: 300,
        },
        Vec::new(),
        true,
    )
    .unwrap();
    assert!(matches!(
        untrusting.keys(&jwks, 1).await,
        Err(FetchError::Network(_))
    ));
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_a_minute() {
    let server = JwksServer::start(kid_set(&["a"])).await;
    let fetcher = server.fetcher(&["127.0.0.1"], BOUND, 4096);
    let jwks = server.url("/jwks");
    let t = 1_700_000_000;
    assert_eq!(kids(&fetcher.keys(&jwks, t).await.unwrap()), ["a"]);
    server.publish(kid_set(&["b"]));
    // Asked for within a minute of the last request: the cached set, no request.
    assert_eq!(kids(&fetcher.refetch(&jwks, t + 30).await.unwrap()), ["a"]);
    assert_eq!(server.hits("/jwks"), 1);
    // A minute later the rotated key is picked up, and the cache holds it.
    assert_eq!(kids(&fetcher.refetch(&jwks, t + 60).await.unwrap()), ["b"]);
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(kids(&fetcher.keys(&jwks, t + 61).await.unwrap()), ["b"]);
    server.publish(kid_set(&["c"]));
    for dt in [61, 70, 119] {
        assert_eq!(kids(&fetcher.refetch(&jwks, t + dt).await.unwrap()), ["b"]);
    }
    assert_eq!(
        server.hits("/jwks"),
        2,
        "made-up kids do not become requests"
    );
    assert_eq!(kids(&fetcher.refetch(&jwks, t + 120).await.unwrap()), ["c"]);
    assert_eq!(server.hits("/jwks"), 3);
}

/// A client's RSA key pair: the private JWK and the public one as published.
struct ClientKey {
    private: Jwk,
    public: Value,
}

fn client_key(kid: &str, key_use: &str) -> ClientKey {
    let pair = RsaKeyPair::generate(2048).unwrap();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    public.set_key_use(key_use);
    ClientKey {
        private: pair.to_jwk_private_key(),
        public: Value::Object(public.as_ref().clone()),
    }
}

fn sign(key: &ClientKey, claims: Value) -> String {
    let mut header = JwsHeader::new();
    header.set_key_id(key.public["kid"].as_str().unwrap());
    let Value::Object(map) = claims else {
        panic!("claims are an object")
    };
    josekit::jwt::encode_with_signer(
        &JwtPayload::from_map(map).unwrap(),
        &header,
        &PS256.signer_from_jwk(&key.private).unwrap(),
    )
    .unwrap()
}

/// An app on a fresh SQLite database whose fetcher trusts `server`'s CA.
async fn app_with_fetcher(server: &JwksServer) -> (Arc<App>, tempfile::TempDir) {
    support::init();
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::test_config(dir.path(), &support::TestDb::Sqlite);
    config.clients.jwks_uri_allowed_hosts = vec!["127.0.0.1".to_owned()];
    let mut prepared = consentry_server::serve::prepare(config, Arc::new(SystemClock))
        .await
        .unwrap();
    Arc::get_mut(&mut prepared.state.0)
        .expect("nothing else holds the fresh state")
        .jwks_fetcher = server.fetcher(&["127.0.0.1"], BOUND, 64 * 1024);
    (Arc::clone(&prepared.state.0), dir)
}

async fn register(app: &App, client_id: &str, metadata: Value) -> Client {
    let record = ClientRecord {
        client_id: client_id.to_owned(),
        client_name: None,
        profile: "fapi2-security".to_owned(),
        metadata: metadata.to_string(),
        secret_hash: None,
        status: ClientStatus::Active,
        created_at: 0,
        updated_at: 0,
    };
    app.store.insert_client(&record).await.unwrap();
    Client::from_record(record).unwrap()
}

fn issuer(app: &App) -> String {
    app.config
        .server
        .issuer
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

async fn authenticate_at(
    app: &App,
    client_id: &str,
    assertion: String,
    t: i64,
) -> Result<(), ErrorCode> {
    let form = ClientAuthForm {
        client_id: Some(client_id.to_owned()),
        client_assertion: Some(assertion),
        client_assertion_type: Some(JWT_BEARER.to_owned()),
        client_secret: None,
    };
    let caller = Caller {
        endpoint_url: "https://localhost:8444/token",
        ..Caller::default()
    };
    authenticate_client(app, &ClientTrust::default(), &form, &caller, t)
        .await
        .map(|_| ())
        .map_err(|e| e.code)
}

#[tokio::test]
async fn a_jwks_uri_client_authenticates_signs_requests_and_gets_encrypted_id_tokens() {
    let first = client_key("sig-1", "sig");
    let enc = client_key("enc-1", "enc");
    let server = JwksServer::start(json!({ "keys": [first.public, enc.public] })).await;
    let (app, _dir) = app_with_fetcher(&server).await;
    let client = register(
        &app,
        "jwks-uri-client",
        json!({
            "profile": "fapi2-security",
            "redirect_uris": ["https://tpp.example/cb"],
            "jwks_uri": server.url("/jwks").as_str(),
            "token_endpoint_auth_method": "private_key_jwt",
            "id_token_encrypted_response_alg": "RSA-OAEP-256",
            "id_token_encrypted_response_enc": "A256GCM",
        }),
    )
    .await;
    let iss = issuer(&app);
    let assertion = |key: &ClientKey, t: i64| {
        sign(
            key,
            json!({"iss": client.client_id, "sub": client.client_id, "aud": iss, "jti": uuid::Uuid::new_v4().to_string(), "iat": t, "exp": t + 60}),
        )
    };

    // Client authentication with the key at the jwks_uri; the set is fetched once.
    let t = now();
    authenticate_at(&app, &client.client_id, assertion(&first, t), t)
        .await
        .unwrap();
    authenticate_at(&app, &client.client_id, assertion(&first, t + 1), t + 1)
        .await
        .unwrap();
    assert_eq!(server.hits("/jwks"), 1);

    // The client rotates its signing key: the unknown kid triggers one refetch (a minute after
    // the last request), and the new key is accepted.
    let second = client_key("sig-2", "sig");
    server.publish(json!({ "keys": [second.public, enc.public] }));
    let t2 = t + 61;
    authenticate_at(&app, &client.client_id, assertion(&second, t2), t2)
        .await
        .unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    // A kid the set still lacks right after: refused, without another request.
    let stranger = client_key("sig-3", "sig");
    assert_eq!(
        authenticate_at(
            &app,
            &client.client_id,
            assertion(&stranger, t2 + 5),
            t2 + 5
        )
        .await,
        Err(ErrorCode::InvalidClient)
    );
    assert_eq!(server.hits("/jwks"), 2);

    // A request object signed with the rotated key verifies against the fetched set.
    let request = sign(
        &second,
        json!({"iss": client.client_id, "aud": iss, "client_id": client.client_id, "response_type": "code", "exp": t2 + 300, "nbf": t2, "scope": "openid"}),
    );
    let claims =
        consentry_server::http::oauth::request_object_claims(&app, &client, &request, t2 + 5)
            .await
            .unwrap();
    assert_eq!(claims["response_type"], "code");

    // The id token is signed by the server, then encrypted to the client's enc key.
    let grant = GrantRecord {
        id: "grant-1".to_owned(),
        client_id: client.client_id.clone(),
        subject: Some("psu-1".to_owned()),
        scope: "openid accounts".to_owned(),
        claims: None,
        acr: None,
        amr: None,
        auth_time: Some(t2),
        consent_id: None,
        created_at: t2,
        expires_at: t2 + 3600,
        revoked_at: None,
    };
    let id_token = consentry_server::protocol::token::sign_id_token(
        &app,
        &client,
        &grant,
        Some("n-1"),
        None,
        None,
        t2 + 5,
    )
    .await
    .unwrap();
    assert_eq!(id_token.split('.').count(), 5, "a compact JWE");
    let decrypter = RSA_OAEP_256.decrypter_from_jwk(&enc.private).unwrap();
    let (payload, header) = josekit::jwe::deserialize_compact(&id_token, &decrypter).unwrap();
    assert_eq!(header.content_type(), Some("JWT"));
    assert_eq!(header.key_id(), Some("enc-1"));
    assert_eq!(header.content_encryption(), Some("A256GCM"));
    let signed = String::from_utf8(payload).unwrap();
    let verified = consentry_server::protocol::jose::verify_jws(
        &signed,
        &app.keys.jwks().await.unwrap(),
        &[SigningAlg::PS256, SigningAlg::ES256],
    )
    .unwrap();
    assert_eq!(verified.claims["sub"], "psu-1");
    assert_eq!(verified.claims["nonce"], "n-1");
    assert_eq!(verified.claims["aud"], client.client_id.as_str());
}

#[tokio::test]
async fn id_tokens_are_not_issued_unencrypted_when_the_client_has_no_encryption_key() {
    let sig = client_key("sig-1", "sig");
    let server = JwksServer::start(json!({ "keys": [] })).await;
    let (app, _dir) = app_with_fetcher(&server).await;
    let client = register(
        &app,
        "no-enc-key",
        json!({
            "profile": "fapi2-security",
            "redirect_uris": ["https://tpp.example/cb"],
            "jwks": { "keys": [sig.public] },
            "id_token_encrypted_response_alg": "RSA-OAEP-256",
        }),
    )
    .await;
    let t = now();
    let grant = GrantRecord {
        id: "grant-2".to_owned(),
        client_id: client.client_id.clone(),
        subject: Some("psu-1".to_owned()),
        scope: "openid".to_owned(),
        claims: None,
        acr: None,
        amr: None,
        auth_time: Some(t),
        consent_id: None,
        created_at: t,
        expires_at: t + 3600,
        revoked_at: None,
    };
    let err = consentry_server::protocol::token::sign_id_token(
        &app, &client, &grant, None, None, None, t,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerError);
    assert!(err.internal.unwrap().contains("RSA-OAEP-256"));
    assert_eq!(server.hits("/jwks"), 0, "inline keys are never fetched");
}

#[tokio::test]
async fn a_jwks_uri_on_a_host_not_allowed_fails_client_authentication() {
    let key = client_key("sig-1", "sig");
    let server = JwksServer::start(json!({ "keys": [key.public] })).await;
    let (app, _dir) = app_with_fetcher(&server).await;
    let jwks_uri = server
        .url("/jwks")
        .as_str()
        .replace("127.0.0.1", "localhost");
    let client = register(
        &app,
        "elsewhere",
        json!({
            "profile": "fapi2-security",
            "redirect_uris": ["https://tpp.example/cb"],
            "jwks_uri": jwks_uri,
            "token_endpoint_auth_method": "private_key_jwt",
        }),
    )
    .await;
    let t = now();
    let assertion = sign(
        &key,
        json!({"iss": client.client_id, "sub": client.client_id, "aud": issuer(&app), "jti": "j-1", "iat": t, "exp": t + 60}),
    );
    assert_eq!(
        authenticate_at(&app, &client.client_id, assertion, t).await,
        Err(ErrorCode::InvalidClient)
    );
    assert_eq!(server.hits("/jwks"), 0);
}
