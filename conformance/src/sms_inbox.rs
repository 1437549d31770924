//! A stand-in for an operator's SMS gateway, on a loopback port: the server's one-time codes
//! land here instead of on a phone, and the harness's browser reads them back by the reference
//! the OTP page shows. It answers the gateway's side of the contract (`POST /messages`, JSON
//! `{"to", "from", "text"}`, 202) and lets a reader look a message up
//! (`GET /messages?reference=K7QF`).
//!
//! Only the newest [`CAPACITY`] messages are kept and bodies are small, so a compliance run of
//! any length holds bounded memory.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, oneshot};

/// Where messages are posted and looked up.
pub const PATH: &str = "/messages";

/// How many messages the inbox keeps; older ones are dropped first.
pub const CAPACITY: usize = 10_000;

/// The largest request body taken: an SMS is at most a few hundred characters.
const BODY_LIMIT: usize = 16 * 1024;

/// One SMS as the gateway took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub to: String,
    pub from: String,
    pub text: String,
    /// The run of digits the text begins with (the one-time code), `None` when it begins
    /// otherwise.
    #[serde(default)]
    pub code: Option<String>,
    /// Unix seconds when the inbox took the message.
    #[serde(default)]
    pub received_at: i64,
}

/// What the server posts: the gateway contract's body.
#[derive(Debug, Deserialize)]
struct Outgoing {
    to: String,
    /// Gateways fill in their own sender when none is given, so neither do we insist.
    #[serde(default)]
    from: String,
    text: String,
}

#[derive(Debug, Deserialize)]
struct Lookup {
    reference: Option<String>,
}

struct Shared {
    messages: Mutex<VecDeque<Message>>,
    /// The bearer token a poster must present, when the inbox was started with one.
    token: Option<String>,
    /// Every message as it arrives, for a reader that waits instead of polling.
    arrivals: broadcast::Sender<Message>,
}

impl Shared {
    fn keep(&self, message: Message) {
        let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        while messages.len() >= CAPACITY {
            messages.pop_front();
        }
        messages.push_back(message.clone());
        drop(messages);
        // Nobody listening is no error.
        let _ = self.arrivals.send(message);
    }

    fn find(&self, reference: &str) -> Option<Message> {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|m| carries_reference(&m.text, reference))
            .cloned()
    }
}

/// A running inbox. Dropping it stops the service, as [`Inbox::shutdown`] does without waiting.
pub struct Inbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the inbox on `listener`, with no token asked of posters.
pub async fn start(listener: tokio::net::TcpListener) -> std::io::Result<Inbox> {
    start_with_token(listener, None).await
}

/// Serves the inbox on `listener`; with a `token`, a `POST` must carry
/// `Authorization: Bearer <token>` (as the server sends its configured gateway token). Lookups
/// ask for none: the inbox is meant for loopback, where the harness reads it.
pub async fn start_with_token(
    listener: tokio::net::TcpListener,
    token: Option<String>,
) -> std::io::Result<Inbox> {
    let addr = listener.local_addr()?;
    let (arrivals, _) = broadcast::channel(64);
    let shared = Arc::new(Shared {
        messages: Mutex::new(VecDeque::new()),
        token: token.filter(|t| !t.is_empty()),
        arrivals,
    });
    let app = Router::new()
        .route(PATH, post(receive).get(lookup))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::clone(&shared));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender stops the service as a sent signal does.
                let _ = stopped.await;
            })
            .await
    });
    Ok(Inbox {
        addr,
        shared,
        stop,
        task,
    })
}

impl Inbox {
    /// The address the inbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/messages`: the server's `sca.sms.gateway_url` and the harness's
    /// `sms_inbox`. An inbox on every interface is named by loopback, where both can reach it.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}{PATH}")
    }

    /// The newest message whose text carries `ref REFERENCE`.
    pub fn find(&self, reference: &str) -> Option<Message> {
        self.shared.find(reference)
    }

    /// How many messages the inbox holds.
    pub fn len(&self) -> usize {
        self.shared
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message from now on, as it arrives (a slow reader misses the oldest of a burst).
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.shared.arrivals.subscribe()
    }

    /// Stops taking connections, lets the open ones finish, and waits for the service to end.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| std::io::Error::other(format!("the SMS inbox task ended: {e}")))?
    }
}

/// The run of ASCII digits `text` begins with: the code of the gateway contract, whose text
/// begins with it (`"123456 is your … code (ref K7QF) …"`).
pub fn leading_code(text: &str) -> Option<String> {
    let code: String = text.chars().take_while(char::is_ascii_digit).collect();
    (!code.is_empty()).then_some(code)
}

/// Whether `text` carries `ref REFERENCE` as words of their own: `ref K7QF` is not in
/// `ref K7QFX` nor in `pref K7QF`, so a reference that prefixes another never picks its SMS.
pub fn carries_reference(text: &str, reference: &str) -> bool {
    if reference.is_empty() {
        return false;
    }
    let needle = format!("ref {reference}");
    text.match_indices(&needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// `POST /messages`: the server sending an SMS.
async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<Outgoing>, JsonRejection>,
) -> Response {
    if let Some(token) = &shared.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if presented != Some(token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"status": "rejected", "error": "a bearer token is required"})),
            )
                .into_response();
        }
    }
    let Json(sms) = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                e.status(),
                Json(json!({"status": "rejected", "error": e.body_text()})),
            )
                .into_response();
        }
    };
    shared.keep(Message {
        code: leading_code(&sms.text),
        to: sms.to,
        from: sms.from,
        text: sms.text,
        received_at: crate::env::now(),
    });
    (StatusCode::ACCEPTED, Json(json!({"status": "queued"}))).into_response()
}

/// `GET /messages?reference=K7QF`: the newest message carrying the reference.
async fn lookup(State(shared): State<Arc<Shared>>, Query(q): Query<Lookup>) -> Response {
    let Some(reference) = q.reference.filter(|r| !r.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "reference is required"})),
        )
            .into_response();
    };
    match shared.find(&reference) {
        Some(message) => Json(message).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no message carries ref {reference}")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests fail by panicking"
    )]

    use serde_json::{Value, json};

    use super::{CAPACITY, Inbox, carries_reference, leading_code, start, start_with_token};

    async fn local(token: Option<&str>) -> Inbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        start_with_token(listener, token.map(str::to_owned))
            .await
            .unwrap()
    }

    fn sms(code: &str, reference: &str) -> Value {
        json!({
            "to": "+447700900461",
            "from": "ExampleBank",
            "text": format!("{code} is your Example Bank code (ref {reference}) to let Acme see your account information. Never share it."),
        })
    }

    #[test]
    fn the_code_is_the_leading_digits() {
        assert_eq!(
            leading_code("123456 is your code").as_deref(),
            Some("123456")
        );
        assert_eq!(leading_code("0042 is yours").as_deref(), Some("0042"));
        assert_eq!(leading_code("1234567890 x").as_deref(), Some("1234567890"));
        assert_eq!(leading_code("Your code is 123456"), None);
        assert_eq!(leading_code(""), None);
    }

    #[test]
    fn a_reference_matches_only_as_a_whole_word() {
        let text = "123456 is your code (ref K7QF) for Acme";
        assert!(carries_reference(text, "K7QF"));
        assert!(carries_reference("123456 ref K7QF", "K7QF"));
        assert!(!carries_reference(text, "K7Q"));
        assert!(!carries_reference("123456 (ref K7QFX)", "K7QF"));
        assert!(!carries_reference("123456 (pref K7QF)", "K7QF"));
        assert!(!carries_reference(text, ""));
        // A later, whole occurrence counts though an earlier one is part of another word.
        assert!(carries_reference("ref K7QFX or ref K7QF", "K7QF"));
    }

    #[tokio::test]
    async fn a_posted_message_is_found_by_its_reference() {
        let inbox = local(None).await;
        assert!(inbox.url().starts_with("http://127.0.0.1:"));
        assert!(inbox.url().ends_with("/messages"));
        let http = reqwest::Client::new();
        let mut arrivals = inbox.subscribe();
        let posted = http
            .post(inbox.url())
            .json(&sms("123456", "K7QF"))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        assert_eq!(
            posted.json::<Value>().await.unwrap(),
            json!({"status": "queued"})
        );
        assert_eq!(
            arrivals.recv().await.unwrap().code.as_deref(),
            Some("123456")
        );
        // A newer code for the same reference (a resend) wins.
        http.post(inbox.url())
            .json(&sms("654321", "K7QF"))
            .send()
            .await
            .unwrap();
        http.post(inbox.url())
            .json(&sms("111111", "ZZ99"))
            .send()
            .await
            .unwrap();
        let found = http
            .get(format!("{}?reference=K7QF", inbox.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), 200);
        let body: Value = found.json().await.unwrap();
        assert_eq!(body["to"], "+447700900461");
        assert_eq!(body["from"], "ExampleBank");
        assert_eq!(body["code"], "654321");
        assert!(body["text"].as_str().unwrap().contains("ref K7QF"));
        assert_eq!(inbox.find("ZZ99").unwrap().code.as_deref(), Some("111111"));
        assert_eq!(inbox.len(), 3);
        inbox.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_unknown_reference_is_not_found() {
        let inbox = local(None).await;
        let http = reqwest::Client::new();
        http.post(inbox.url())
            .json(&sms("123456", "K7QF"))
            .send()
            .await
            .unwrap();
        let status = |url: String| {
            let http = http.clone();
            async move { http.get(url).send().await.unwrap().status().as_u16() }
        };
        assert_eq!(status(format!("{}?reference=AB12", inbox.url())).await, 404);
        assert_eq!(status(format!("{}?reference=K7Q", inbox.url())).await, 404);
        assert_eq!(status(inbox.url()).await, 400, "no reference");
        assert!(inbox.find("AB12").is_none());
    }

    #[tokio::test]
    async fn posts_must_be_json_messages_and_carry_the_token_when_one_is_set() {
        let inbox = local(Some("s3cret")).await;
        let http = reqwest::Client::new();
        let post = |auth: Option<&str>, body: Value| {
            let mut req = http.post(inbox.url()).json(&body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(post(None, sms("1", "AAAA")).await, 401);
        assert_eq!(post(Some("Bearer wrong"), sms("1", "AAAA")).await, 401);
        assert_eq!(post(Some("Bearer s3cret"), json!({"to": "+44"})).await, 422);
        assert_eq!(post(Some("Bearer s3cret"), sms("1", "AAAA")).await, 202);
        assert_eq!(post(Some("bearer s3cret"), sms("2", "BBBB")).await, 202);
        let not_json = http
            .post(inbox.url())
            .header("authorization", "Bearer s3cret")
            .body("hi");
        assert_eq!(not_json.send().await.unwrap().status(), 415);
        assert_eq!(inbox.len(), 2);
    }

    #[tokio::test]
    async fn only_the_newest_messages_are_kept() {
        let inbox = local(None).await;
        for n in 0..CAPACITY + 5 {
            inbox.shared.keep(super::Message {
                to: String::new(),
                from: String::new(),
                text: format!("{n} ref R{n}"),
                code: Some(n.to_string()),
                received_at: 0,
            });
        }
        assert_eq!(inbox.len(), CAPACITY);
        assert!(inbox.find("R4").is_none(), "the oldest were dropped");
        assert!(inbox.find(&format!("R{}", CAPACITY + 4)).is_some());
    }

    #[tokio::test]
    async fn a_shut_down_inbox_takes_no_more_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbox = start(listener).await.unwrap();
        let url = inbox.url();
        let http = reqwest::Client::new();
        assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
        inbox.shutdown().await.unwrap();
        assert!(reqwest::Client::new().get(&url).send().await.is_err());
    }

    /// A bank's pages as the server serves them, with the one-time code step between password
    /// and consent: its OTP page sends `482913` with `ref K7QF` to the inbox first.
    mod bank {
        use std::collections::HashMap;

        use axum::extract::State;
        use axum::http::StatusCode;
        use axum::response::{Html, IntoResponse, Redirect, Response};
        use axum::routing::get;
        use axum::{Form, Router};

        pub const CODE: &str = "482913";

        #[derive(Clone)]
        struct Bank {
            inbox: String,
            http: reqwest::Client,
        }

        type Fields = Form<HashMap<String, String>>;

        fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
            f.0.get(name).map_or("", String::as_str)
        }

        async fn login_page() -> Html<&'static str> {
            Html(
                r#"<form method="post" action="/login"><input type="hidden" name="csrf_token" value="c1">
                <input id="username" name="username"><input type="password" id="password" name="password">
                <button type="submit" id="login-submit">Sign in</button></form>"#,
            )
        }

        async fn login(f: Fields) -> Response {
            if field(&f, "username") == "alice" && field(&f, "password") == "alice-pw" {
                Redirect::to("/login/otp?return_to=%2Fauthorize%2Fresume").into_response()
            } else {
                StatusCode::BAD_REQUEST.into_response()
            }
        }

        async fn otp_page(State(bank): State<Bank>) -> Response {
            let text = format!(
                "{CODE} is your Example Bank code (ref K7QF) to let Acme see your account information. Never share it."
            );
            let sent = bank
                .http
                .post(&bank.inbox)
                .json(&serde_json::json!({"to": "+447700900461", "from": "ExampleBank", "text": text}))
                .send()
                .await;
            if !sent.is_ok_and(|r| r.status() == 202) {
                return StatusCode::BAD_GATEWAY.into_response();
            }
            Html(
                r#"<p>We sent a code to your phone, reference <strong id="otp-reference">K7QF</strong>.</p>
                <form method="post" action="/login/otp"><input type="hidden" name="csrf_token" value="c2">
                <input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code">
                <button type="submit" id="otp-submit">Continue</button></form>
                <form method="post" action="/login/otp"><input type="hidden" name="csrf_token" value="c2">
                <button type="submit" id="otp-resend" name="action" value="resend">Send a new code</button></form>"#,
            )
            .into_response()
        }

        async fn otp(f: Fields) -> Response {
            if field(&f, "otp") == CODE
                && field(&f, "csrf_token") == "c2"
                && field(&f, "action").is_empty()
            {
                Redirect::to("/authorize/resume").into_response()
            } else {
                (StatusCode::BAD_REQUEST, Html("wrong code")).into_response()
            }
        }

        async fn consent_page() -> Html<&'static str> {
            Html(
                r#"<form method="post" action="/authorize/decision"><input type="hidden" name="csrf_token" value="c3">
                <button name="decision" value="approve" id="consent-approve">Allow</button>
                <button name="decision" value="deny" id="consent-deny">Deny</button></form>"#,
            )
        }

        async fn decision(f: Fields) -> Redirect {
            match field(&f, "decision") {
                "approve" => Redirect::to("https://tpp.example/callback?code=abc&state=s1"),
                _ => Redirect::to("https://tpp.example/callback?error=access_denied&state=s1"),
            }
        }

        /// Serves the bank and returns its base URL.
        pub async fn start(inbox: String) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let app = Router::new()
                .route(
                    "/authorize",
                    get(|| async { Redirect::to("/login?return_to=%2Fauthorize%2Fresume") }),
                )
                .route("/login", get(login_page).post(login))
                .route("/login/otp", get(otp_page).post(otp))
                .route("/authorize/resume", get(consent_page))
                .route("/authorize/decision", axum::routing::post(decision))
                .with_state(Bank {
                    inbox,
                    http: reqwest::Client::new(),
                });
            tokio::spawn(async move { axum::serve(listener, app).await });
            base
        }
    }

    #[tokio::test]
    async fn the_browser_types_the_code_the_server_sent_to_the_inbox() {
        use crate::env::Landing;
        use crate::modules::testkit::{FAPI2, fixture};

        let inbox = local(None).await;
        let base = bank::start(inbox.url()).await;
        let mut f = fixture(FAPI2);
        f.env.config.browser = serde_json::from_value(crate::suite_config::browser_steps(
            &base, "alice", "alice-pw",
        ))
        .unwrap();
        f.env.config.sms_inbox = Some(inbox.url());
        for approve in [true, false] {
            match f
                .env
                .browse(&format!("{base}/authorize"), approve)
                .await
                .unwrap()
            {
                Landing::Callback { params, .. } => {
                    let expected = if approve { "code" } else { "error" };
                    assert!(params.contains_key(expected), "{params:?}");
                }
                Landing::ErrorPage { status, body } => panic!("error page {status}: {body}"),
            }
        }
        assert_eq!(inbox.len(), 2);
        let lookups = f
            .env
            .exchanges()
            .into_iter()
            .filter(|e| e.url.starts_with(&inbox.url()))
            .count();
        assert_eq!(
            lookups, 2,
            "each code is read once, as the SMS is there before the page"
        );

        // Without an inbox the browser cannot get past the page, and says why.
        f.env.config.sms_inbox = None;
        let failure = f
            .env
            .browse(&format!("{base}/authorize"), true)
            .await
            .unwrap_err();
        assert_eq!(failure.condition, "BrowserTask");
        assert!(failure.message.contains("sms_inbox"), "{}", failure.message);
    }

    #[tokio::test]
    async fn a_page_whose_sms_never_came_fails_the_browser_task() {
        use crate::modules::testkit::{FAPI2, condition, fixture};

        let inbox = local(None).await;
        let http = reqwest::Client::new();
        http.post(inbox.url())
            .json(&sms("123456", "K7QF"))
            .send()
            .await
            .unwrap();
        let mut f = fixture(FAPI2);
        f.env.config.sms_inbox = Some(inbox.url());
        let page = |reference: &str| {
            format!(r#"<p>Ref <strong id="otp-reference">{reference}</strong></p>"#)
        };
        assert_eq!(
            f.env.sms_code(&http, &page("K7QF"), &[]).await.unwrap(),
            "123456"
        );
        let missing = f
            .env
            .sms_code(&http, &page("ZZ99"), &[1, 1])
            .await
            .unwrap_err();
        assert_eq!(missing.condition, "BrowserTask");
        assert!(missing.message.contains("ref ZZ99"), "{}", missing.message);
        assert_eq!(
            f.env
                .exchanges()
                .iter()
                .filter(|e| e.url.contains("ZZ99"))
                .count(),
            3,
            "asked once, then after each wait"
        );
        assert_eq!(
            condition(f.env.sms_code(&http, "<p>no reference</p>", &[]).await),
            "BrowserTask"
        );
        let unsent = r#"<p class="error" id="otp-error">We could not send a code.</p>"#;
        let unsent = f.env.sms_code(&http, unsent, &[]).await.unwrap_err();
        assert!(
            unsent
                .message
                .contains("the page says: We could not send a code."),
            "{}",
            unsent.message
        );
        http.post(inbox.url())
            .json(&json!({"to": "+44", "from": "B", "text": "Your code is 1 (ref NOCD)"}))
            .send()
            .await
            .unwrap();
        let no_code = f.env.sms_code(&http, &page("NOCD"), &[]).await.unwrap_err();
        assert!(
            no_code.message.contains("does not begin with a code"),
            "{}",
            no_code.message
        );
    }
}
