//! What a module works with: the server's metadata, two TPP clients with their keys and
//! certificates, a browser that gets through login and consent by the configured steps, and a
//! log of every HTTP exchange for the report.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader, JwsSigner as _, PS256, RS256};
use josekit::jwt::JwtPayload;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::config::{ClientConfig, Config, Mtls, glob_matches};
use crate::html;
use crate::plan::{ClientAuth, Plan, Profile, Variant};

/// One HTTP request and its response, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_body: Option<String>,
    pub status: u16,
    pub location: Option<String>,
    pub response_body: String,
}

/// Why a module failed: the condition's name, what it saw, and the exchange that showed it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub condition: &'static str,
    pub message: String,
}

pub type Check = Result<(), Failure>;

pub fn fail(condition: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        condition,
        message: message.into(),
    }
}

/// Fails `condition` unless `ok`.
pub fn ensure(ok: bool, condition: &'static str, message: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(fail(condition, message()))
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A TPP client as the harness plays it.
pub struct Tpp {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub key: Jwk,
    pub alg: &'static str,
    /// Over TLS with this client's certificate.
    pub mtls: reqwest::Client,
    /// Over TLS without a certificate.
    pub plain: reqwest::Client,
    pub cert_der: Vec<u8>,
}

impl Tpp {
    fn new(
        client: &ClientConfig,
        mtls: &Mtls,
        ca: Option<&str>,
        default_redirect: &str,
    ) -> anyhow::Result<Tpp> {
        let key_value = client.jwks["keys"]
            .get(0)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("client {} has no key", client.client_id))?;
        let Value::Object(map) = key_value else {
            anyhow::bail!("client {} key is not an object", client.client_id)
        };
        let key = Jwk::from_map(map)?;
        let alg = if key.key_type() == "EC" {
            "ES256"
        } else {
            "PS256"
        };
        let builder = || {
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30));
            if let Some(c) = ca.and_then(|ca| reqwest::Certificate::from_pem(ca.as_bytes()).ok()) {
                b = b.tls_built_in_root_certs(false).add_root_certificate(c);
            }
            b
        };
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{}", mtls.cert, mtls.key).as_bytes())?;
        let cert_der =
            pem_body(&mtls.cert).ok_or_else(|| anyhow::anyhow!("mtls.cert is not PEM"))?;
        Ok(Tpp {
            client_id: client.client_id.clone(),
            redirect_uri: client
                .redirect_uri
                .clone()
                .unwrap_or_else(|| default_redirect.to_owned()),
            scope: client
                .scope
                .clone()
                .unwrap_or_else(|| "openid accounts".to_owned()),
            key,
            alg,
            mtls: builder().identity(identity).build()?,
            plain: builder().build()?,
            cert_der,
        })
    }

    /// Signs `claims` with this client's key (`typ` in the header when given).
    pub fn sign(&self, claims: &Value, typ: Option<&str>) -> String {
        self.sign_with(claims, typ, self.alg)
    }

    pub fn sign_with(&self, claims: &Value, typ: Option<&str>, alg: &str) -> String {
        let mut header = JwsHeader::new();
        if let Some(kid) = self.key.key_id() {
            header.set_key_id(kid);
        }
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let map = claims.as_object().cloned().unwrap_or_default();
        let payload = JwtPayload::from_map(map).unwrap_or_default();
        let signed = match alg {
            "ES256" => ES256
                .signer_from_jwk(&self.key)
                .and_then(|s| josekit::jwt::encode_with_signer(&payload, &header, &s)),
            _ => PS256
                .signer_from_jwk(&self.key)
                .and_then(|s| josekit::jwt::encode_with_signer(&payload, &header, &s)),
        };
        signed.unwrap_or_default()
    }

    /// The client's key without its `alg` member, for signing with another algorithm (RS256
    /// refusal tests): josekit refuses a key whose `alg` names a different one.
    pub fn key_for_any_alg(&self) -> Jwk {
        let mut map = self.key.as_ref().clone();
        map.remove("alg");
        Jwk::from_map(map).unwrap_or_else(|_| self.key.clone())
    }

    pub fn thumbprint(&self) -> String {
        b64url(&sha2::Sha256::digest(&self.cert_der))
    }
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

/// Where the browser ended up.
#[derive(Debug, Clone)]
pub enum Landing {
    /// Back at the client: the response parameters (JARM already verified and unpacked).
    Callback {
        params: Map<String, Value>,
        fragment: bool,
        url: String,
    },
    /// An error page of the server (no redirect).
    ErrorPage { status: u16, body: String },
}

pub struct Env {
    pub variant: Variant,
    pub config: Config,
    pub discovery: Value,
    pub issuer: String,
    pub jwks: Value,
    pub tpp1: Tpp,
    pub tpp2: Tpp,
    pub log: Arc<Mutex<Vec<Exchange>>>,
    /// UK OB profile: the claims parameter each client (by id) last asked for, which binds its
    /// consent; the id tokens of its grant are checked against it, as the suite checks them
    /// against its last `account_request_id`.
    pub requested_claims: Arc<Mutex<std::collections::HashMap<String, Value>>>,
}

/// The value of a browser step's `text` command that stands for the one-time code the server
/// sent by SMS for the current page (see [`Env::sms_code`]).
pub const SMS_CODE: &str = "$sms_code";

/// The waits (ms) between asking the SMS inbox again for a code not there yet: about 3 s in all.
const SMS_WAITS_MS: &[u64] = &[50, 100, 200, 400, 800, 1500];

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

impl Env {
    pub async fn new(config: Config, variant: Variant) -> anyhow::Result<Env> {
        let ca = config.server_ca.clone();
        let tpp1 = Tpp::new(
            &config.client,
            &config.mtls,
            ca.as_deref(),
            "https://tpp.example/callback",
        )?;
        let tpp2 = Tpp::new(
            &config.client2,
            &config.mtls2,
            ca.as_deref(),
            "https://tpp.example/callback?dummy1=lorem&dummy2=ipsum",
        )?;
        let discovery: Value = tpp1
            .plain
            .get(&config.server.discovery_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let issuer = discovery["issuer"].as_str().unwrap_or_default().to_owned();
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let jwks: Value = tpp1.plain.get(&jwks_uri).send().await?.json().await?;
        Ok(Env {
            variant,
            config,
            discovery,
            issuer,
            jwks,
            tpp1,
            tpp2,
            log: Arc::new(Mutex::new(Vec::new())),
            requested_claims: Arc::default(),
        })
    }

    /// An environment from metadata already in hand (no request is made): for replaying
    /// recorded responses through the conditions.
    pub fn from_parts(
        config: Config,
        variant: Variant,
        discovery: Value,
        jwks: Value,
    ) -> anyhow::Result<Env> {
        let ca = config.server_ca.clone();
        let tpp1 = Tpp::new(
            &config.client,
            &config.mtls,
            ca.as_deref(),
            "https://tpp.example/callback",
        )?;
        let tpp2 = Tpp::new(
            &config.client2,
            &config.mtls2,
            ca.as_deref(),
            "https://tpp.example/callback?dummy1=lorem&dummy2=ipsum",
        )?;
        let issuer = discovery["issuer"].as_str().unwrap_or_default().to_owned();
        Ok(Env {
            variant,
            config,
            discovery,
            issuer,
            jwks,
            tpp1,
            tpp2,
            log: Arc::new(Mutex::new(Vec::new())),
            requested_claims: Arc::default(),
        })
    }

    pub fn endpoint(&self, name: &str) -> String {
        self.discovery["mtls_endpoint_aliases"][name]
            .as_str()
            .or_else(|| self.discovery[name].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn record(&self, e: Exchange) {
        if let Ok(mut log) = self.log.lock() {
            log.push(e);
        }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends a request and records the exchange.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        body_for_log: Option<String>,
    ) -> anyhow::Result<Reply> {
        let request = request.build_split();
        let (client, request) = (request.0, request.1?);
        let (method, url) = (request.method().to_string(), request.url().to_string());
        let response = client.execute(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        self.record(Exchange {
            method,
            url,
            request_body: body_for_log,
            status,
            location: location.clone(),
            response_body: body.clone(),
        });
        Ok(Reply {
            status,
            headers,
            location,
            body,
        })
    }

    /// Client authentication parameters for `tpp` at an endpoint, per the variant: a fresh
    /// assertion for private_key_jwt (audience `aud`, the issuer by default), else client_id.
    pub fn client_auth(&self, tpp: &Tpp, aud: Option<&str>) -> Vec<(String, String)> {
        let mut p = vec![("client_id".to_owned(), tpp.client_id.clone())];
        if self.variant.client_auth == ClientAuth::PrivateKeyJwt {
            let aud = aud.unwrap_or(&self.issuer);
            p.push((
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ));
            p.push((
                "client_assertion".to_owned(),
                self.assertion(tpp, json!(aud), |_| {}),
            ));
        }
        p
    }

    /// A client assertion; `adjust` may change its claims.
    pub fn assertion(
        &self,
        tpp: &Tpp,
        aud: Value,
        adjust: impl FnOnce(&mut Map<String, Value>),
    ) -> String {
        let now = now();
        let mut claims = json!({"iss": tpp.client_id, "sub": tpp.client_id, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60});
        if let Some(m) = claims.as_object_mut() {
            adjust(m);
        }
        tpp.sign(&claims, None)
    }

    /// The authorization request parameters the variant calls for, for `tpp`. In the UK Open
    /// Banking profile the suite's pre-authorization steps come first: a client_credentials
    /// token, an account-access consent, and the claims parameter that binds it (with the acr
    /// values: always in FAPI 2, for the first client in FAPI 1).
    pub async fn auth_params(&self, tpp: &Tpp) -> Result<Map<String, Value>, Failure> {
        let mut p = self.base_params(tpp);
        if self.variant.profile == Profile::OpenBankingUk {
            let first = tpp.client_id == self.tpp1.client_id;
            let intent = crate::modules::obuk::create_intent(self, tpp, !first).await?;
            let acr = (first || self.variant.plan.is_fapi2())
                .then_some(crate::modules::obuk::MULTIPLE_ACRS);
            self.request_claims(
                tpp,
                &mut p,
                crate::modules::obuk::intent_claims(&intent, acr),
            );
        }
        Ok(p)
    }

    /// Puts `claims` into the request `params` of `tpp` and remembers them for the checks of
    /// the id tokens that follow.
    pub fn request_claims(&self, tpp: &Tpp, params: &mut Map<String, Value>, claims: Value) {
        if let Ok(mut all) = self.requested_claims.lock() {
            all.insert(tpp.client_id.clone(), claims.clone());
        }
        params.insert("claims".to_owned(), claims);
    }

    /// The claims parameter `tpp` last asked for (UK OB profile), `Null` when none.
    pub fn claims_requested_by(&self, tpp: &Tpp) -> Value {
        self.requested_claims
            .lock()
            .ok()
            .and_then(|all| all.get(&tpp.client_id).cloned())
            .unwrap_or(Value::Null)
    }

    /// The authorization request parameters of the variant for `tpp`, without a profile's
    /// additions.
    pub fn base_params(&self, tpp: &Tpp) -> Map<String, Value> {
        let mut p = Map::new();
        let response_type = if self.variant.plan == Plan::Fapi1Advanced && !self.variant.jarm() {
            "code id_token"
        } else {
            "code"
        };
        p.insert("client_id".to_owned(), json!(tpp.client_id));
        p.insert("response_type".to_owned(), json!(response_type));
        p.insert("redirect_uri".to_owned(), json!(tpp.redirect_uri));
        let scope = if self.variant.openid || tpp.scope.split(' ').all(|s| s != "openid") {
            tpp.scope.clone()
        } else {
            tpp.scope
                .split(' ')
                .filter(|s| *s != "openid")
                .collect::<Vec<_>>()
                .join(" ")
        };
        p.insert("scope".to_owned(), json!(scope));
        p.insert(
            "state".to_owned(),
            json!(b64url(uuid::Uuid::new_v4().as_bytes())),
        );
        if self.variant.openid {
            p.insert(
                "nonce".to_owned(),
                json!(b64url(uuid::Uuid::new_v4().as_bytes())),
            );
        }
        p.insert("code_challenge".to_owned(), json!(CHALLENGE));
        p.insert("code_challenge_method".to_owned(), json!("S256"));
        if self.variant.jarm() {
            p.insert("response_mode".to_owned(), json!("jwt"));
        }
        p
    }

    /// A request object of `params`, signed by `tpp`.
    pub fn request_object(&self, tpp: &Tpp, params: &Map<String, Value>) -> String {
        let now = now();
        let mut claims = params.clone();
        claims.insert("iss".to_owned(), json!(tpp.client_id));
        claims.insert("aud".to_owned(), json!(self.issuer));
        claims.insert("nbf".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + 300));
        claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
        tpp.sign(&Value::Object(claims), Some("oauth-authz-req+jwt"))
    }

    /// Pushes `params` (signed when the variant signs requests, or `raw_request` as given).
    pub async fn push(
        &self,
        tpp: &Tpp,
        params: &Map<String, Value>,
        request_object: Option<String>,
        auth_aud: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let auth = self.client_auth(tpp, auth_aud);
        self.push_authenticated(tpp, params, request_object, auth)
            .await
    }

    /// Pushes `params` as [`Env::push`] does, authenticated by the parameters `auth` (a
    /// `client_id` and, for private_key_jwt, an assertion the module made).
    pub async fn push_authenticated(
        &self,
        tpp: &Tpp,
        params: &Map<String, Value>,
        request_object: Option<String>,
        auth: Vec<(String, String)>,
    ) -> anyhow::Result<Reply> {
        let url = self.endpoint("pushed_authorization_request_endpoint");
        let mut form = auth;
        if let Some(jwt) = request_object.or_else(|| {
            self.variant
                .signed_requests()
                .then(|| self.request_object(tpp, params))
        }) {
            form.push(("request".to_owned(), jwt));
        } else {
            for (k, v) in params {
                if k != "client_id" {
                    form.push((
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    ));
                }
            }
        }
        let mut req = tpp.mtls.post(&url).form(&form);
        if self.variant.dpop() {
            req = req.header(
                "DPoP",
                self.dpop_proof(&self.dpop_key(), "POST", &url, None),
            );
        }
        self.send(req, Some(form_log(&form))).await
    }

    /// The authorization URL for `params`: pushed first, or by value, per the variant.
    pub async fn authorization_url(
        &self,
        tpp: &Tpp,
        params: &Map<String, Value>,
    ) -> Result<String, Failure> {
        let endpoint = self.discovery["authorization_endpoint"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut url = url::Url::parse(&endpoint).map_err(|e| {
            fail(
                "CheckDiscoveryEndpoint",
                format!("authorization_endpoint: {e}"),
            )
        })?;
        if self.variant.pushed() {
            let reply = self
                .push(tpp, params, None, None)
                .await
                .map_err(transport)?;
            let request_uri = crate::modules::request_uri_of(&reply)?;
            url.query_pairs_mut()
                .append_pair("client_id", &tpp.client_id)
                .append_pair("request_uri", &request_uri);
        } else {
            let jwt = self.request_object(tpp, params);
            // The outer parameters OpenID Connect requires; only the request object's count.
            url.query_pairs_mut()
                .append_pair("client_id", &tpp.client_id)
                .append_pair(
                    "response_type",
                    params["response_type"].as_str().unwrap_or("code"),
                )
                .append_pair("scope", params["scope"].as_str().unwrap_or("openid"))
                .append_pair(
                    "redirect_uri",
                    params["redirect_uri"].as_str().unwrap_or_default(),
                )
                .append_pair("request", &jwt);
        }
        Ok(url.to_string())
    }

    /// The authorization URL carrying `name=value` (`request` or `request_uri`) built the way the
    /// suite builds it (`AbstractBuildRequestObjectRedirectToAuthorizationEndpoint`): `outer` are
    /// the authorization request's parameters, `inner` the request object's (or the pushed
    /// request's) claims. With `duplicates`, the parameters OAuth requires outside a request
    /// object (`response_type`, `client_id`, `scope`, `redirect_uri`) and every parameter of
    /// `outer` that `inner` lacks or gives another value; without, only `client_id`. `expose`
    /// names parameters of `outer` sent outside in any case. Only plain values travel outside.
    pub fn redirect_to_authorization_endpoint(
        &self,
        name: &str,
        value: &str,
        outer: &Map<String, Value>,
        inner: &Map<String, Value>,
        duplicates: bool,
        expose: &[&str],
    ) -> Result<String, Failure> {
        const REQUIRED_DUPLICATES: &[&str] =
            &["response_type", "client_id", "scope", "redirect_uri"];
        let endpoint = self.discovery["authorization_endpoint"]
            .as_str()
            .unwrap_or_default();
        let mut url = url::Url::parse(endpoint).map_err(|e| {
            fail(
                "CheckDiscoveryEndpoint",
                format!("authorization_endpoint: {e}"),
            )
        })?;
        let plain = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
            _ => None,
        };
        let mut params = std::collections::BTreeMap::new();
        params.insert(name.to_owned(), value.to_owned());
        for (key, outer_value) in outer {
            let Some(outside) = plain(outer_value) else {
                continue;
            };
            let inside = inner.get(key);
            if inside.is_some_and(|v| plain(v).is_none()) {
                continue;
            }
            let send = if duplicates {
                REQUIRED_DUPLICATES.contains(&key.as_str())
                    || inside.and_then(plain).as_deref() != Some(outside.as_str())
            } else {
                key == "client_id"
            };
            if send || expose.contains(&key.as_str()) {
                params.insert(key.clone(), outside);
            }
        }
        url.query_pairs_mut().extend_pairs(params);
        Ok(url.to_string())
    }

    /// Drives the browser from `url`: follows the server's redirects, fills and submits forms by
    /// the configured steps, and stops at the client's redirect URI or an error page.
    pub async fn browse(&self, url: &str, approve: bool) -> Result<Landing, Failure> {
        let browser = reqwest::Client::builder()
            .use_rustls_tls()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .tls_built_in_root_certs(self.config.server_ca.is_none());
        let browser = match &self.config.server_ca {
            Some(ca) => browser.add_root_certificate(
                reqwest::Certificate::from_pem(ca.as_bytes()).map_err(transport)?,
            ),
            None => browser,
        }
        .build()
        .map_err(transport)?;
        let mut next = Some((
            reqwest::Method::GET,
            url.to_owned(),
            Vec::<(String, String)>::new(),
        ));
        for _ in 0..20 {
            let Some((method, current, form)) = next.take() else {
                break;
            };
            if current.starts_with(&self.tpp1.redirect_uri_base())
                || current.starts_with(&self.tpp2.redirect_uri_base())
            {
                return self.callback(&current);
            }
            let req = if method == reqwest::Method::POST {
                browser.post(&current).form(&form)
            } else {
                browser.get(&current)
            };
            let reply = self
                .send(req, (!form.is_empty()).then(|| form_log(&form)))
                .await
                .map_err(transport)?;
            if let Some(location) = &reply.location {
                let target = url::Url::parse(&current)
                    .and_then(|b| b.join(location))
                    .map_err(|e| fail("FollowRedirect", e.to_string()))?;
                next = Some((reqwest::Method::GET, target.to_string(), Vec::new()));
                continue;
            }
            if reply.status >= 400 {
                return Ok(Landing::ErrorPage {
                    status: reply.status,
                    body: reply.body,
                });
            }
            // A page: run the configured task for it.
            let forms = html::forms(&reply.body);
            if let Some(form) = forms.iter().find(|f| {
                f.action.starts_with("https://")
                    && f.fields
                        .iter()
                        .any(|x| x.name.as_deref() == Some("response"))
            }) {
                // form_post back to the client.
                return self.callback_fields(&form.action, &form.submission(""));
            }
            let task = self
                .config
                .browser
                .iter()
                .filter(|f| glob_matches(&f.matches, url) || f.matches == "*")
                .flat_map(|f| f.tasks.iter())
                .find(|t| glob_matches(&t.matches, &current));
            let Some(task) = task else {
                return Err(fail(
                    "BrowserTask",
                    format!("no browser task matches {current}"),
                ));
            };
            let mut values: Vec<(String, String)> = Vec::new();
            let mut clicked = None;
            for command in &task.commands {
                let words: Vec<String> = command
                    .iter()
                    .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_owned))
                    .collect();
                match words
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["text", "id", id, value, ..] => {
                        let value = if *value == SMS_CODE {
                            self.sms_code(&browser, &reply.body, SMS_WAITS_MS).await?
                        } else {
                            (*value).to_owned()
                        };
                        values.push(((*id).to_owned(), value))
                    }
                    ["click", "id", id, ..] => clicked = Some((*id).to_owned()),
                    _ => {}
                }
            }
            let mut clicked = clicked
                .ok_or_else(|| fail("BrowserTask", format!("task {} clicks nothing", task.task)))?;
            if !approve && task.task.to_ascii_lowercase().contains("consent") {
                // The refusing button of the consent form: its other button.
                if let Some(other) = forms
                    .iter()
                    .find(|f| f.has_element(&clicked))
                    .and_then(|f| {
                        f.fields
                            .iter()
                            .find(|x| {
                                x.kind == "button" && x.id.as_deref() != Some(clicked.as_str())
                            })
                            .and_then(|x| x.id.clone())
                    })
                {
                    clicked = other;
                }
            }
            let form = forms
                .iter()
                .find(|f| f.has_element(&clicked))
                .ok_or_else(|| {
                    fail(
                        "BrowserTask",
                        format!("no form holds #{clicked} at {current}"),
                    )
                })?;
            let mut fields = form.submission(&clicked);
            for (id, value) in &values {
                let name = form
                    .fields
                    .iter()
                    .find(|f| f.id.as_deref() == Some(id.as_str()))
                    .and_then(|f| f.name.clone())
                    .unwrap_or_else(|| id.clone());
                fields.retain(|(n, _)| *n != name);
                fields.push((name, value.clone()));
            }
            let action = url::Url::parse(&current)
                .and_then(|b| b.join(&form.action))
                .map_err(|e| fail("BrowserTask", e.to_string()))?;
            next = Some((
                if form.method == "post" {
                    reqwest::Method::POST
                } else {
                    reqwest::Method::GET
                },
                action.to_string(),
                fields,
            ));
        }
        Err(fail(
            "BrowserTask",
            "the browser did not get back to the client",
        ))
    }

    /// The one-time code for the OTP page `page`: the SMS carrying the page's reference
    /// (`#otp-reference`) from the inbox of `sms_inbox`, asked for again after each of `waits`
    /// (milliseconds) while it has none. The server sends the SMS before it shows the page, so
    /// the first answer normally has it; the waits cover a gateway that queues.
    pub async fn sms_code(
        &self,
        client: &reqwest::Client,
        page: &str,
        waits: &[u64],
    ) -> Result<String, Failure> {
        let inbox = self.config.sms_inbox.as_deref().ok_or_else(|| {
            fail(
                "BrowserTask",
                format!(
                    "a browser step types {SMS_CODE} but the config names no sms_inbox (the \
                     /messages URL of `consentry-conformance sms-inbox`, the server's SMS gateway)"
                ),
            )
        })?;
        let reference = html::element_text(page, "otp-reference")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                // A page that could not send the code says why in #otp-error.
                let error = html::element_text(page, "otp-error")
                    .map(|e| format!(" (the page says: {e})"))
                    .unwrap_or_default();
                fail(
                    "BrowserTask",
                    format!(
                        "the one-time code page shows no #otp-reference, so no SMS can be told \
                         apart{error}"
                    ),
                )
            })?;
        let mut url = url::Url::parse(inbox)
            .map_err(|e| fail("BrowserTask", format!("sms_inbox {inbox}: {e}")))?;
        url.query_pairs_mut().append_pair("reference", &reference);
        let mut waits = waits.iter();
        loop {
            let reply = self
                .send(client.get(url.as_str()), None)
                .await
                .map_err(transport)?;
            if reply.status == 200 {
                let message: crate::sms_inbox::Message = serde_json::from_str(&reply.body)
                    .map_err(|e| {
                        fail(
                            "BrowserTask",
                            format!("the SMS inbox answered ref {reference} with {e}"),
                        )
                    })?;
                return message.code.ok_or_else(|| {
                    fail(
                        "BrowserTask",
                        format!(
                            "the SMS with ref {reference} does not begin with a code: {}",
                            message.text
                        ),
                    )
                });
            }
            let Some(wait) = waits.next() else {
                return Err(fail(
                    "BrowserTask",
                    format!(
                        "no SMS with the one-time code of ref {reference} reached the inbox \
                         {inbox} (last answer {})",
                        reply.status
                    ),
                ));
            };
            tokio::time::sleep(std::time::Duration::from_millis(*wait)).await;
        }
    }

    fn callback(&self, url: &str) -> Result<Landing, Failure> {
        let parsed = url::Url::parse(url).map_err(|e| fail("ExtractCallback", e.to_string()))?;
        let (part, fragment) = match parsed.fragment() {
            Some(f) => (f.to_owned(), true),
            None => (parsed.query().unwrap_or_default().to_owned(), false),
        };
        let mut params: Map<String, Value> = url::form_urlencoded::parse(part.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        if fragment {
            // The registered query of a redirect URI is not part of the response.
            for (k, _) in parsed.query_pairs() {
                if k.starts_with("dummy") {
                    params.remove(k.as_ref());
                }
            }
        }
        self.unpack_jarm(&mut params)?;
        Ok(Landing::Callback {
            params,
            fragment,
            url: url.to_owned(),
        })
    }

    fn callback_fields(&self, url: &str, fields: &[(String, String)]) -> Result<Landing, Failure> {
        let mut params: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        self.unpack_jarm(&mut params)?;
        Ok(Landing::Callback {
            params,
            fragment: false,
            url: url.to_owned(),
        })
    }

    /// Verifies a JARM `response` JWT with the server's keys and replaces it by its claims.
    fn unpack_jarm(&self, params: &mut Map<String, Value>) -> Check {
        let Some(Value::String(jwt)) = params.get("response").cloned() else {
            return Ok(());
        };
        let claims = self.verify_server_jwt(&jwt, "ValidateJARMSignature")?;
        // A missing claim is Null: indexing the claims would panic on it.
        let claim = |name: &str| claims.get(name).cloned().unwrap_or(Value::Null);
        ensure(
            claim("iss") == json!(self.issuer),
            "ValidateJARMIss",
            || format!("iss {}", claim("iss")),
        )?;
        ensure(
            claim("exp").as_i64().is_some_and(|e| e > now()),
            "ValidateJARMExp",
            || "expired or missing exp".to_owned(),
        )?;
        params.remove("response");
        params.insert("jarm_aud".to_owned(), claim("aud"));
        for (k, v) in claims {
            if !matches!(k.as_str(), "aud" | "exp" | "iat") {
                params.entry(k).or_insert(v);
            }
        }
        Ok(())
    }

    /// Verifies a JWT signed by the server (PS256/ES256, `kid` from its JWKS) and returns its claims.
    pub fn verify_server_jwt(
        &self,
        jwt: &str,
        condition: &'static str,
    ) -> Result<Map<String, Value>, Failure> {
        let header = josekit::jwt::decode_header(jwt)
            .map_err(|e| fail(condition, format!("not a JWT: {e}")))?;
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(condition, "no kid in the header"))?
            .to_owned();
        let alg = header
            .claim("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = self.jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["kid"] == json!(kid))
            .and_then(|k| k.as_object().cloned())
            .ok_or_else(|| fail(condition, format!("kid {kid} is not in the server's JWKS")))?;
        let jwk = Jwk::from_map(key).map_err(|e| fail(condition, e.to_string()))?;
        let decoded = match alg.as_str() {
            "PS256" => PS256
                .verifier_from_jwk(&jwk)
                .and_then(|v| josekit::jwt::decode_with_verifier(jwt, &v)),
            "ES256" => ES256
                .verifier_from_jwk(&jwk)
                .and_then(|v| josekit::jwt::decode_with_verifier(jwt, &v)),
            other => {
                return Err(fail(
                    condition,
                    format!("alg {other} is not PS256 or ES256"),
                ));
            }
        };
        let (payload, _) = decoded.map_err(|e| fail(condition, format!("signature: {e}")))?;
        Ok(payload.claims_set().clone())
    }

    /// The DPoP key of this run.
    pub fn dpop_key(&self) -> Jwk {
        static KEY: std::sync::OnceLock<Option<Jwk>> = std::sync::OnceLock::new();
        KEY.get_or_init(|| {
            josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
                .ok()
                .map(|k| k.to_jwk_key_pair())
        })
        .clone()
        .unwrap_or_else(|| Jwk::new("EC"))
    }

    /// A DPoP proof for `method url` (with `ath` for an access token).
    pub fn dpop_proof(
        &self,
        key: &Jwk,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        if let Ok(public) = key.to_public_key() {
            header.set_jwk(public);
        }
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": now()});
        if let Some(at) = access_token {
            claims["ath"] = json!(b64url(&sha2::Sha256::digest(at.as_bytes())));
        }
        let payload = JwtPayload::from_map(claims.as_object().cloned().unwrap_or_default())
            .unwrap_or_default();
        ES256
            .signer_from_jwk(key)
            .and_then(|s| josekit::jwt::encode_with_signer(&payload, &header, &s))
            .unwrap_or_default()
    }

    /// A token request from `tpp` with `form` (client authentication added per the variant).
    pub async fn token(
        &self,
        tpp: &Tpp,
        form: &[(&str, &str)],
        with_cert: bool,
    ) -> Result<Reply, Failure> {
        let auth = self.client_auth(tpp, None);
        self.token_authenticated(tpp, auth, form, with_cert).await
    }

    /// A token request as [`Env::token`] makes it, authenticated by the parameters `auth`.
    pub async fn token_authenticated(
        &self,
        tpp: &Tpp,
        auth: Vec<(String, String)>,
        form: &[(&str, &str)],
        with_cert: bool,
    ) -> Result<Reply, Failure> {
        let url = self.endpoint("token_endpoint");
        let mut body = auth;
        body.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let client = if with_cert { &tpp.mtls } else { &tpp.plain };
        let mut req = client.post(&url).form(&body);
        if self.variant.dpop() {
            req = req.header(
                "DPoP",
                self.dpop_proof(&self.dpop_key(), "POST", &url, None),
            );
        }
        self.send(req, Some(form_log(&body)))
            .await
            .map_err(transport)
    }

    /// The whole happy path for `tpp`: authorization, then the code at the token endpoint.
    pub async fn authorize(
        &self,
        tpp: &Tpp,
        params: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Failure> {
        let url = self.authorization_url(tpp, params).await?;
        match self.browse(&url, true).await? {
            Landing::Callback { params, .. } => Ok(params),
            Landing::ErrorPage { status, body } => Err(fail(
                "CallAuthorizationEndpoint",
                format!("error page {status}: {}", snippet(&body)),
            )),
        }
    }
}

impl Tpp {
    fn redirect_uri_base(&self) -> String {
        self.redirect_uri
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A recorded response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub location: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn error(&self) -> Option<String> {
        self.json()["error"].as_str().map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request that got no HTTP response; the message names the causes (`{:#}` of an
/// `anyhow::Error`).
pub fn transport(e: impl std::fmt::Display) -> Failure {
    fail("HttpTransport", format!("{e:#}"))
}

pub fn snippet(body: &str) -> String {
    let text: String = body.chars().take(300).collect();
    text.replace('\n', " ")
}

/// A form for the log: assertions and secrets shortened.
pub fn form_log(form: &[(String, String)]) -> String {
    form.iter()
        .map(|(k, v)| {
            let v = if v.len() > 80 {
                format!("{}…", &v[..40])
            } else {
                v.clone()
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A DPoP proof for `method url` (with `ath` for an access token) after `edit` has changed its
/// header and claims as a test wants: signed with the `alg` the header then names (ES256,
/// PS256 or RS256), else the key's own ([`dpop_alg`]); nothing is added or checked after the
/// edit, so a proof may lack any member.
pub fn dpop_proof_with(
    key: &Jwk,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>),
) -> String {
    let (mut header, mut claims) = dpop_parts(key, method, url, access_token);
    edit(&mut header, &mut claims);
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some(a @ ("ES256" | "PS256" | "RS256")) => a.to_owned(),
        _ => dpop_alg(key).to_owned(),
    };
    sign_jws(key, &alg, &header, &claims)
}

/// The algorithm a DPoP key signs with by default: ES256 for an EC key, PS256 for RSA.
pub fn dpop_alg(key: &Jwk) -> &'static str {
    if key.key_type() == "EC" {
        "ES256"
    } else {
        "PS256"
    }
}

/// The header and claims of a well-formed DPoP proof by `key` for `method url`, with `ath` for
/// an access token: `typ` `dpop+jwt`, the key's `alg`, its public `jwk`; a fresh `jti`, `htm`,
/// `htu` and `iat` now.
pub fn dpop_parts(
    key: &Jwk,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut header = Map::new();
    header.insert("typ".to_owned(), json!("dpop+jwt"));
    header.insert("alg".to_owned(), json!(dpop_alg(key)));
    if let Ok(public) = key.to_public_key() {
        header.insert("jwk".to_owned(), Value::Object(public.as_ref().clone()));
    }
    let mut claims = Map::new();
    claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("htm".to_owned(), json!(method));
    claims.insert("htu".to_owned(), json!(url));
    claims.insert("iat".to_owned(), json!(now()));
    if let Some(at) = access_token {
        claims.insert(
            "ath".to_owned(),
            json!(b64url(&sha2::Sha256::digest(at.as_bytes()))),
        );
    }
    (header, claims)
}

/// A compact JWS of exactly `header` and `claims` (nothing added, nothing checked), signed with
/// `key` by `alg` (ES256, RS256, else PS256); an empty signature when the key cannot sign so.
pub fn sign_jws(
    key: &Jwk,
    alg: &str,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> String {
    let input = format!(
        "{}.{}",
        b64url(Value::Object(header.clone()).to_string().as_bytes()),
        b64url(Value::Object(claims.clone()).to_string().as_bytes())
    );
    // josekit refuses a key whose `alg` names another algorithm (RS256 with a PS256 key).
    let mut map = key.as_ref().clone();
    map.remove("alg");
    let key = Jwk::from_map(map).unwrap_or_else(|_| key.clone());
    let signature = match alg {
        "ES256" => ES256
            .signer_from_jwk(&key)
            .and_then(|s| s.sign(input.as_bytes())),
        "RS256" => RS256
            .signer_from_jwk(&key)
            .and_then(|s| s.sign(input.as_bytes())),
        _ => PS256
            .signer_from_jwk(&key)
            .and_then(|s| s.sign(input.as_bytes())),
    };
    format!("{input}.{}", b64url(&signature.unwrap_or_default()))
}

/// The left half of SHA-256, base64url (`c_hash`, `s_hash`, `at_hash`).
pub fn half_hash(s: &str) -> String {
    b64url(&sha2::Sha256::digest(s.as_bytes())[..16])
}

/// The server-signed artefacts the harness verifies before any module sees them: JWTs of the
/// server (id tokens, JARM responses) and the JARM response at the callback.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

    use serde_json::{Map, Value, json};

    use super::{Landing, b64url, now, sign_jws};
    use crate::modules::testkit::{FAPI1_JARM, ISSUER, condition, fixture, map};

    #[test]
    fn server_jwts_need_a_known_kid_a_fapi_alg_and_the_servers_signature() {
        let f = fixture(FAPI1_JARM);
        let claims = json!({"iss": ISSUER, "sub": "u1"});
        let good = f.sign(claims.clone());
        assert_eq!(f.env.verify_server_jwt(&good, "C").unwrap()["sub"], "u1");
        let header = |h: Value| f.sign_with_header(map(h), claims.clone());
        let (signing_input, signature) = good.rsplit_once('.').unwrap();
        let forged = format!("{signing_input}.{}", b64url(&[0_u8; 256]));
        let unsigned = format!(
            "{}.{}.",
            b64url(json!({"alg": "none", "kid": "sk"}).to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        // Signed with the client's key under the server's kid.
        let mut h = Map::new();
        h.insert("alg".to_owned(), json!("PS256"));
        h.insert("kid".to_owned(), json!("sk"));
        let impostor = sign_jws(&f.env.tpp1.key, "PS256", &h, &map(claims.clone()));
        assert!(!signature.is_empty());
        for bad in [
            header(json!({"alg": "PS256"})),
            header(json!({"alg": "PS256", "kid": "retired"})),
            header(json!({"alg": "RS256", "kid": "sk"})),
            forged,
            unsigned,
            impostor,
            "not-a-jwt".to_owned(),
        ] {
            assert_eq!(condition(f.env.verify_server_jwt(&bad, "C")), "C", "{bad}");
        }
    }

    fn callback_params(landing: Landing) -> Map<String, Value> {
        match landing {
            Landing::Callback { params, .. } => params,
            Landing::ErrorPage { .. } => panic!("not a callback"),
        }
    }

    #[test]
    fn jarm_responses_are_verified_then_unpacked() {
        let f = fixture(FAPI1_JARM);
        let jarm = |claims: Value| {
            let url = format!("https://tpp.example/callback?response={}", f.sign(claims));
            f.env.callback(&url)
        };
        let good =
            json!({"iss": ISSUER, "aud": "c1", "exp": now() + 60, "code": "c", "state": "s1"});
        let params = callback_params(jarm(good.clone()).unwrap());
        assert_eq!(params["code"], "c");
        assert_eq!(params["state"], "s1");
        assert_eq!(params["iss"], ISSUER);
        assert_eq!(params["jarm_aud"], "c1");
        assert!(!params.contains_key("response") && !params.contains_key("exp"));
        let error = json!({"iss": ISSUER, "aud": "c1", "exp": now() + 60, "error": "access_denied", "state": "s1"});
        assert_eq!(
            callback_params(jarm(error).unwrap())["error"],
            "access_denied"
        );
        let with = |claim: &str, value: Value| {
            let mut claims = good.clone();
            claims[claim] = value;
            claims
        };
        assert_eq!(
            condition(jarm(with("iss", json!("https://other.example")))),
            "ValidateJARMIss"
        );
        assert_eq!(
            condition(jarm(with("exp", json!(now() - 1)))),
            "ValidateJARMExp"
        );
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(condition(jarm(no_exp)), "ValidateJARMExp");
        let forged = f.sign(good.clone()).replace(".", ".x");
        let url = format!("https://tpp.example/callback?response={forged}");
        assert_eq!(condition(f.env.callback(&url)), "ValidateJARMSignature");
        // A form_post of the JARM response is the same response.
        let fields = [("response".to_owned(), f.sign(good))];
        let posted = f
            .env
            .callback_fields("https://tpp.example/callback", &fields)
            .unwrap();
        assert_eq!(callback_params(posted)["jarm_aud"], "c1");
    }

    #[test]
    fn a_fragment_response_leaves_out_the_registered_query() {
        let f = fixture(FAPI1_JARM);
        let url = "https://tpp.example/callback?dummy1=lorem&dummy2=ipsum#code=c&state=s1";
        match f.env.callback(url).unwrap() {
            Landing::Callback {
                params, fragment, ..
            } => {
                assert!(fragment);
                assert_eq!(params, map(json!({"code": "c", "state": "s1"})));
            }
            Landing::ErrorPage { .. } => panic!("not a callback"),
        }
    }
}
