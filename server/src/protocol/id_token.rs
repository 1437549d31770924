//! OpenID Connect id tokens: the claims. Signing is the key manager's (`kid` in the header).

use serde_json::{Map, Value, json};

use super::response::half_hash;
use crate::clock::UnixTime;

/// What an id token says.
#[derive(Debug, Clone, Default)]
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    pub acr: Option<&'a str>,
    pub amr: &'a [String],
    /// Front-channel hybrid response: `c_hash` of the code.
    pub code: Option<&'a str>,
    /// Front-channel hybrid response: `s_hash` of the state, only when state is present.
    pub state: Option<&'a str>,
    /// `at_hash` when the token endpoint returns an access token alongside.
    pub access_token: Option<&'a str>,
    /// Further claims (`openbanking_intent_id`, requested identity claims).
    pub extra: Map<String, Value>,
    pub lifetime: i64,
}

pub fn claims(input: &IdTokenInput<'_>, now: UnixTime) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".to_owned(), json!(input.issuer));
    c.insert("sub".to_owned(), json!(input.subject));
    c.insert("aud".to_owned(), json!(input.client_id));
    c.insert("azp".to_owned(), json!(input.client_id));
    c.insert("iat".to_owned(), json!(now));
    c.insert("exp".to_owned(), json!(now + input.lifetime));
    if let Some(t) = input.auth_time {
        c.insert("auth_time".to_owned(), json!(t));
    }
    if let Some(n) = input.nonce {
        c.insert("nonce".to_owned(), json!(n));
    }
    if let Some(a) = input.acr {
        c.insert("acr".to_owned(), json!(a));
    }
    if !input.amr.is_empty() {
        c.insert("amr".to_owned(), json!(input.amr));
    }
    if let Some(code) = input.code {
        c.insert("c_hash".to_owned(), json!(half_hash(code)));
    }
    if let Some(state) = input.state {
        c.insert("s_hash".to_owned(), json!(half_hash(state)));
    }
    if let Some(at) = input.access_token {
        c.insert("at_hash".to_owned(), json!(half_hash(at)));
    }
    for (k, v) in &input.extra {
        c.entry(k.clone()).or_insert_with(|| v.clone());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_tokens_hash_code_and_state_and_only_state_when_given() {
        let amr = vec!["pwd".to_owned()];
        let input = IdTokenInput {
            issuer: "https://as",
            subject: "u1",
            client_id: "c1",
            nonce: Some("n"),
            auth_time: Some(90),
            acr: Some("urn:openbanking:psd2:sca"),
            amr: &amr,
            code: Some("code-1"),
            state: Some("state-1"),
            lifetime: 600,
            ..IdTokenInput::default()
        };
        let c = claims(&input, 100);
        assert_eq!(c["c_hash"], half_hash("code-1"));
        assert_eq!(c["s_hash"], half_hash("state-1"));
        assert_eq!(
            (c["exp"].as_i64(), c["auth_time"].as_i64()),
            (Some(700), Some(90))
        );
        assert_eq!(c["nonce"], "n");
        let c = claims(
            &IdTokenInput {
                state: None,
                ..input
            },
            100,
        );
        assert!(c.get("s_hash").is_none());
    }

    #[test]
    fn extra_claims_never_override_the_standard_ones() {
        let mut extra = Map::new();
        extra.insert("sub".to_owned(), json!("attacker"));
        extra.insert("openbanking_intent_id".to_owned(), json!("consent-1"));
        let input = IdTokenInput {
            issuer: "i",
            subject: "u1",
            client_id: "c",
            extra,
            lifetime: 1,
            ..IdTokenInput::default()
        };
        let c = claims(&input, 0);
        assert_eq!(c["sub"], "u1");
        assert_eq!(c["openbanking_intent_id"], "consent-1");
    }
}
