//! Configurations for a plan-variant: the client metadata a deployment registers for the harness
//! or the OpenID Foundation suite, and the config JSON both runners read. Key material is made by
//! the caller (it has the CA); this module only shapes it.

use serde_json::{Value, json};

use crate::plan::{ClientAuth, Plan, Profile, Variant};

/// The path of the UK Open Banking Account and Transaction API 3.1 on a resource server; with a
/// `/` at the end, as the suite appends resource names to it.
pub const OB_AISP_PATH: &str = "/open-banking/v3.1/aisp/";

/// One test client's material.
pub struct ClientMaterial {
    pub client_id: String,
    /// The private JWK (with kid), for the runner.
    pub private_jwk: Value,
    /// The public JWK, for registration.
    pub public_jwk: Value,
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate subject as an RFC 4514 string, for `tls_client_auth`.
    pub subject_dn: String,
}

/// The server profile a plan tests.
pub fn profile(variant: &Variant) -> &'static str {
    match variant.plan {
        Plan::Fapi1Advanced => "fapi1-advanced",
        Plan::Fapi2Security => "fapi2-security",
        Plan::Fapi2MessageSigning => "fapi2-message-signing",
    }
}

/// RFC 7591 metadata (with our `profile`) for a test client of `variant`.
pub fn client_metadata(variant: &Variant, m: &ClientMaterial, redirect_uris: &[String]) -> Value {
    let mut metadata = json!({
        "client_id": m.client_id,
        "client_name": format!("Conformance {}", m.client_id),
        "profile": profile(variant),
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code", "code id_token"],
        "scope": "openid accounts",
        "jwks": {"keys": [m.public_jwk]},
        "token_endpoint_auth_method": "private_key_jwt",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
    });
    if variant.client_auth == ClientAuth::Mtls {
        metadata["token_endpoint_auth_method"] = json!("tls_client_auth");
        metadata["tls_client_auth_subject_dn"] = json!(m.subject_dn);
    }
    if variant.dpop() && variant.profile != Profile::OpenBankingUk {
        metadata["dpop_bound_access_tokens"] = json!(true);
    } else {
        // The UK OB profile uses mTLS everywhere: the suite asks for its client_credentials
        // token without a DPoP proof and sends it as a Bearer token, so its clients may not be
        // DPoP-only; their authorization code tokens are still DPoP-bound in the DPoP variants
        // (a proof at the token endpoint binds them).
        metadata["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    metadata
}

/// The `resource` member of the config: for `openbanking_uk` the UK OB base URLs of the account
/// APIs on the resource listener at `resource_base` (`resourceUrl`, `resourceUrlAccountRequests`
/// and `resourceUrlAccountsResource`, each ending in `/`); otherwise the single protected
/// resource, the UserInfo endpoint on the mTLS listener at `mtls_base`.
pub fn resource(variant: &Variant, mtls_base: &str, resource_base: &str) -> Value {
    match variant.profile {
        Profile::OpenBankingUk => {
            let base = format!("{}{OB_AISP_PATH}", resource_base.trim_end_matches('/'));
            json!({
                "resourceUrl": base,
                "resourceUrlAccountRequests": base,
                "resourceUrlAccountsResource": base,
            })
        }
        Profile::PlainFapi => json!({
            "resourceUrl": format!("{}/userinfo", mtls_base.trim_end_matches('/')),
        }),
    }
}

/// The browser steps through our login, one-time code and consent pages, keyed on their
/// element ids. A page gets the first task whose `match` fits, so the one-time code page
/// (`/login/otp`) comes before the password page's `/login*`, which would match it too. Its
/// code is [`crate::env::SMS_CODE`], which our harness reads from its SMS inbox; the suite's
/// browser cannot (see `suite/README.md`).
pub fn browser_steps(public_base: &str, username: &str, password: &str) -> Value {
    json!([{
        "match": format!("{public_base}/authorize*"),
        "tasks": [
            {"task": "One-time code", "match": format!("{public_base}/login/otp*"),
             "commands": [["text", "id", "otp", crate::env::SMS_CODE], ["click", "id", "otp-submit"]]},
            {"task": "Login", "match": format!("{public_base}/login*"),
             "commands": [["text", "id", "username", username], ["text", "id", "password", password], ["click", "id", "login-submit"]]},
            {"task": "Consent", "match": format!("{public_base}/authorize/resume*"),
             "commands": [["click", "id", "consent-approve"]]},
            {"task": "Verify Complete", "match": "*/test/*/callback*", "commands": [["wait", "id", "submission_complete", 10]]}
        ]
    }])
}

/// The config JSON in the suite's shape for two clients.
pub struct SuiteConfig<'a> {
    pub alias: &'a str,
    pub discovery_url: &'a str,
    pub public_base: &'a str,
    pub clients: [&'a ClientMaterial; 2],
    pub redirect_uris: [&'a str; 2],
    /// The `resource` member (see [`resource`]).
    pub resource: Value,
    pub ca_pem: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// The harness trusts the server through this CA; the real suite needs no such member.
    pub include_server_ca: bool,
    /// The `/messages` URL of the SMS inbox the server's gateway points at, for the harness's
    /// one-time code step (`sms_inbox`); the real suite has no use for it.
    pub sms_inbox: Option<&'a str>,
}

pub fn config_json(c: &SuiteConfig<'_>) -> Value {
    let client = |m: &ClientMaterial, redirect: &str| json!({"client_id": m.client_id, "scope": "openid accounts", "jwks": {"keys": [m.private_jwk]}, "redirect_uri": redirect});
    let mtls = |m: &ClientMaterial| json!({"cert": m.cert_pem, "key": m.key_pem, "ca": c.ca_pem});
    let mut config = json!({
        "alias": c.alias,
        "description": format!("Consentry {}", c.alias),
        "server": {"discoveryUrl": c.discovery_url},
        "client": client(c.clients[0], c.redirect_uris[0]),
        "client2": client(c.clients[1], c.redirect_uris[1]),
        "mtls": mtls(c.clients[0]),
        "mtls2": mtls(c.clients[1]),
        "resource": c.resource,
        "browser": browser_steps(c.public_base, c.username, c.password),
    });
    if c.include_server_ca {
        config["server_ca"] = json!(c.ca_pem);
    }
    if let Some(inbox) = c.sms_inbox {
        config["sms_inbox"] = json!(inbox);
    }
    config
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use serde_json::json;

    use super::{
        ClientMaterial, SuiteConfig, browser_steps, client_metadata, config_json, resource,
    };
    use crate::plan::Variant;

    const OBUK_DPOP: &str = "fapi2-security-profile-final[client_auth_type=mtls][sender_constrain=dpop][openid=plain_oauth][fapi_profile=openbanking_uk]";
    const PLAIN_DPOP: &str = "fapi2-security-profile-final[client_auth_type=mtls][sender_constrain=dpop][openid=plain_oauth][fapi_profile=plain_fapi]";

    #[test]
    fn uk_ob_resource_urls_end_in_a_slash() {
        let obuk = Variant::parse(OBUK_DPOP).unwrap();
        let r = resource(
            &obuk,
            "https://mtls.bank.example/",
            "https://rs.bank.example:8445/",
        );
        let base = "https://rs.bank.example:8445/open-banking/v3.1/aisp/";
        assert_eq!(
            r,
            json!({"resourceUrl": base, "resourceUrlAccountRequests": base,
                   "resourceUrlAccountsResource": base})
        );
        let plain = Variant::parse(PLAIN_DPOP).unwrap();
        assert_eq!(
            resource(
                &plain,
                "https://mtls.bank.example/",
                "https://rs.bank.example/"
            ),
            json!({"resourceUrl": "https://mtls.bank.example/userinfo"})
        );
    }

    #[test]
    fn the_checked_in_examples_are_configs_the_harness_reads() {
        use crate::config::{Config, ObEndpoint};
        let examples = [
            include_str!("../suite/fapi1-advanced-final.example.json"),
            include_str!("../suite/fapi2-security-profile-final.example.json"),
            include_str!("../suite/fapi2-message-signing-final.example.json"),
        ];
        for text in examples {
            let config: Config = serde_json::from_str(text).unwrap();
            assert_eq!(
                task_in(
                    &config.browser,
                    "https://bank.example/login/otp?return_to=%2F"
                )
                .as_deref(),
                Some("One-time code")
            );
            assert!(
                config
                    .resource_string("resourceUrl")
                    .unwrap()
                    .ends_with("/userinfo")
            );
        }
        let obuk: Config = serde_json::from_str(include_str!(
            "../suite/fapi1-advanced-final.openbanking_uk.example.json"
        ))
        .unwrap();
        assert_eq!(
            task_in(
                &obuk.browser,
                "https://bank.example/login/otp?return_to=%2F"
            )
            .as_deref(),
            Some("One-time code")
        );
        for endpoint in [ObEndpoint::AccountRequests, ObEndpoint::AccountsResource] {
            assert!(
                obuk.ob_base_url(endpoint)
                    .unwrap()
                    .ends_with("/open-banking/v3.1/aisp/")
            );
        }
    }

    /// The task the harness's browser runs on `url` by our browser steps.
    fn task_for(url: &str) -> Option<String> {
        let flows: Vec<crate::config::BrowserFlow> =
            serde_json::from_value(browser_steps("https://bank.example", "alice", "pw")).unwrap();
        task_in(&flows, url)
    }

    /// The task the harness's browser runs on `url` by `flows`: the first whose `match` fits.
    fn task_in(flows: &[crate::config::BrowserFlow], url: &str) -> Option<String> {
        flows
            .iter()
            .filter(|f| crate::config::glob_matches(&f.matches, "https://bank.example/authorize?x"))
            .flat_map(|f| f.tasks.iter())
            .find(|t| crate::config::glob_matches(&t.matches, url))
            .map(|t| t.task.clone())
    }

    #[test]
    fn each_page_gets_its_own_browser_task() {
        let base = "https://bank.example";
        for (page, task) in [
            ("/login?return_to=%2Fauthorize%2Fresume", "Login"),
            (
                "/login/otp?return_to=%2Fauthorize%2Fresume",
                "One-time code",
            ),
            ("/login/otp", "One-time code"),
            ("/authorize/resume", "Consent"),
        ] {
            assert_eq!(
                task_for(&format!("{base}{page}")).as_deref(),
                Some(task),
                "{page}"
            );
        }
        let steps = browser_steps(base, "alice", "pw");
        let otp = &steps[0]["tasks"][0];
        assert_eq!(
            otp["commands"],
            json!([
                ["text", "id", "otp", "$sms_code"],
                ["click", "id", "otp-submit"]
            ])
        );
    }

    #[test]
    fn the_sms_inbox_is_written_only_when_given() {
        let m = ClientMaterial {
            client_id: "c1".to_owned(),
            private_jwk: json!({"kty": "RSA", "kid": "k"}),
            public_jwk: json!({"kty": "RSA"}),
            cert_pem: "CERT".to_owned(),
            key_pem: "KEY".to_owned(),
            subject_dn: "CN=c1".to_owned(),
        };
        let variant = Variant::parse(OBUK_DPOP).unwrap();
        let config = |sms_inbox| {
            config_json(&SuiteConfig {
                alias: "a",
                discovery_url: "https://bank.example/.well-known/openid-configuration",
                public_base: "https://bank.example",
                clients: [&m, &m],
                redirect_uris: ["https://tpp.example/cb", "https://tpp.example/cb?x=1"],
                resource: resource(&variant, "https://bank.example", "https://rs.bank.example"),
                ca_pem: "CA",
                username: "alice",
                password: "pw",
                include_server_ca: true,
                sms_inbox,
            })
        };
        let with = config(Some("http://127.0.0.1:9901/messages"));
        assert_eq!(with["sms_inbox"], "http://127.0.0.1:9901/messages");
        let parsed: crate::config::Config = serde_json::from_value(with).unwrap();
        assert_eq!(
            parsed.sms_inbox.as_deref(),
            Some("http://127.0.0.1:9901/messages")
        );
        let without = config(None);
        assert!(without.get("sms_inbox").is_none());
        let parsed: crate::config::Config = serde_json::from_value(without).unwrap();
        assert!(parsed.sms_inbox.is_none());
    }

    #[test]
    fn uk_ob_clients_bind_client_credentials_tokens_to_their_certificate() {
        let m = ClientMaterial {
            client_id: "c1".to_owned(),
            private_jwk: json!({}),
            public_jwk: json!({"kty": "RSA"}),
            cert_pem: String::new(),
            key_pem: String::new(),
            subject_dn: "CN=c1".to_owned(),
        };
        let redirect = ["https://tpp.example/cb".to_owned()];
        let obuk = client_metadata(&Variant::parse(OBUK_DPOP).unwrap(), &m, &redirect);
        assert_eq!(obuk["tls_client_certificate_bound_access_tokens"], true);
        assert!(obuk.get("dpop_bound_access_tokens").is_none());
        assert_eq!(obuk["tls_client_auth_subject_dn"], "CN=c1");
        let plain = client_metadata(&Variant::parse(PLAIN_DPOP).unwrap(), &m, &redirect);
        assert_eq!(plain["dpop_bound_access_tokens"], true);
    }
}
