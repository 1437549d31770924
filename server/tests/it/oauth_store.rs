//! The store contract for OAuth artefacts: grants, codes, tokens, pushed requests, jtis. Every test
//! runs on SQLite and, when configured (always in CI), on PostgreSQL, and the single-use rules are
//! checked under real concurrency on the shared pool.

use consentry_server::crypto::secret_hash;
use consentry_server::store::{
    AccessTokenRecord, ClientRecord, ClientStatus, ClientStore, CodeRecord, CodeStore,
    EXPIRED_ROWS_KEPT_FOR, GrantRecord, GrantStore, IssuedTokens, JtiKind, JtiStore, OAuthCleanup,
    ParRecord, ParStore, Redemption, RefreshTokenRecord, Store, StoreError, TokenStore,
};
use futures_util::future::join_all;

use crate::support::all_stores;

const T0: i64 = 1_700_000_000;
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        client_name: Some("Test TPP".to_owned()),
        profile: "fapi1-advanced".to_owned(),
        metadata: r#"{"redirect_uris":["https://tpp.example/cb"]}"#.to_owned(),
        secret_hash: None,
        status: ClientStatus::Active,
        created_at: T0,
        updated_at: T0,
    }
}

fn grant(id: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        id: id.to_owned(),
        client_id: client_id.to_owned(),
        subject: Some("user-1".to_owned()),
        scope: "openid accounts".to_owned(),
        claims: Some(r#"{"id_token":{"acr":{"essential":true}}}"#.to_owned()),
        acr: Some("urn:openbanking:psd2:sca".to_owned()),
        amr: Some(r#"["pwd","otp"]"#.to_owned()),
        auth_time: Some(T0 - 5),
        consent_id: Some("consent-1".to_owned()),
        created_at: T0,
        expires_at: T0 + 90 * 86_400,
        revoked_at: None,
    }
}

fn code(secret: &str, grant_id: &str, client_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: secret_hash(secret),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        redirect_uri: "https://tpp.example/cb?x=1".to_owned(),
        code_challenge: CHALLENGE.to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: Some("af0ifjsldkj".to_owned()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".to_owned()),
        created_at: T0,
        expires_at: T0 + 60,
        consumed_at: None,
    }
}

fn access(secret: &str, grant_id: &str, client_id: &str, from: Option<&str>) -> AccessTokenRecord {
    AccessTokenRecord {
        token_hash: secret_hash(secret),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        subject: Some("user-1".to_owned()),
        scope: "openid accounts".to_owned(),
        cnf_x5t: Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".to_owned()),
        cnf_jkt: None,
        refresh_token_hash: from.map(secret_hash),
        issued_at: T0,
        expires_at: T0 + 300,
        revoked_at: None,
    }
}

fn refresh(secret: &str, grant_id: &str, client_id: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: secret_hash(secret),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid accounts".to_owned(),
        cnf_x5t: Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".to_owned()),
        cnf_jkt: None,
        issued_at: T0,
        expires_at: T0 + 30 * 86_400,
        revoked_at: None,
        replaced_by_hash: None,
    }
}

fn par(secret: &str, client_id: &str) -> ParRecord {
    ParRecord {
        request_uri_hash: secret_hash(secret),
        client_id: client_id.to_owned(),
        params: r#"{"response_type":"code","scope":"openid accounts"}"#.to_owned(),
        dpop_jkt: None,
        created_at: T0,
        expires_at: T0 + 60,
        consumed_at: None,
    }
}

/// A client `tpp` and a grant `g1` of it.
async fn seed(store: &Store) {
    store.insert_client(&client("tpp")).await.unwrap();
    store.insert_grant(&grant("g1", "tpp")).await.unwrap();
}

/// How many of the access tokens with these secrets are valid at `now`.
async fn valid_access_tokens(store: &Store, secrets: &[String], now: i64) -> usize {
    let mut n = 0;
    for s in secrets {
        if store
            .access_token(&secret_hash(s), now)
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
    }
    n
}

async fn valid_refresh_tokens(store: &Store, secrets: &[String], now: i64) -> usize {
    let mut n = 0;
    for s in secrets {
        if store
            .refresh_token(&secret_hash(s), now)
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn grants_round_trip_and_need_a_known_client() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        assert_eq!(
            store.grant("g1").await.unwrap(),
            Some(grant("g1", "tpp")),
            "{backend}"
        );
        let cc = GrantRecord {
            subject: None,
            claims: None,
            acr: None,
            amr: None,
            auth_time: None,
            consent_id: None,
            ..grant("cc", "tpp")
        };
        store.insert_grant(&cc).await.unwrap();
        assert_eq!(store.grant("cc").await.unwrap(), Some(cc), "{backend}");
        assert_eq!(store.grant("nope").await.unwrap(), None, "{backend}");

        let orphan = store.insert_grant(&grant("g2", "no-such-client")).await;
        assert!(orphan.is_err(), "{backend}: {orphan:?}");
        let dup = store.insert_grant(&grant("g1", "tpp")).await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { .. })),
            "{backend}: {dup:?}"
        );
    }
}

#[tokio::test]
async fn revoking_a_grant_revokes_every_token_of_it() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store.insert_grant(&grant("g2", "tpp")).await.unwrap();
        store
            .insert_refresh_token(&refresh("r1", "g1", "tpp"))
            .await
            .unwrap();
        for a in [
            access("a1", "g1", "tpp", Some("r1")),
            access("a2", "g1", "tpp", None),
        ] {
            store.insert_access_token(&a).await.unwrap();
        }
        store
            .insert_access_token(&access("other", "g2", "tpp", None))
            .await
            .unwrap();
        store
            .revoke_access_token(&secret_hash("a2"), T0 + 1)
            .await
            .unwrap();

        assert_eq!(
            store.revoke_grant("g1", T0 + 10).await.unwrap(),
            2,
            "{backend}: a1 and r1; a2 was revoked before"
        );
        assert_eq!(
            store.grant("g1").await.unwrap().unwrap().revoked_at,
            Some(T0 + 10),
            "{backend}"
        );
        let all = ["a1".to_owned(), "a2".to_owned()];
        assert_eq!(
            valid_access_tokens(&store, &all, T0 + 11).await,
            0,
            "{backend}"
        );
        assert_eq!(
            valid_refresh_tokens(&store, &["r1".to_owned()], T0 + 11).await,
            0,
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("other"), T0 + 11)
                .await
                .unwrap()
                .is_some(),
            "{backend}: another grant's token lives on"
        );

        // Idempotent, and it keeps the first revocation time.
        assert_eq!(
            store.revoke_grant("g1", T0 + 20).await.unwrap(),
            0,
            "{backend}"
        );
        assert_eq!(
            store.grant("g1").await.unwrap().unwrap().revoked_at,
            Some(T0 + 10),
            "{backend}"
        );
        // A token stored into a revoked grant (a race with the revocation) is not honoured.
        store
            .insert_access_token(&access("late", "g1", "tpp", None))
            .await
            .unwrap();
        assert!(
            store
                .access_token(&secret_hash("late"), T0 + 21)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn codes_keep_their_pkce_and_redirect_fields() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        let c = code("the-code", "g1", "tpp");
        store.insert_code(&c).await.unwrap();
        let found = store.code(&secret_hash("the-code")).await.unwrap();
        assert_eq!(found, Some(c.clone()), "{backend}");
        let found = found.unwrap();
        assert_eq!(found.code_challenge, CHALLENGE, "{backend}");
        assert_eq!(
            found.redirect_uri, "https://tpp.example/cb?x=1",
            "{backend}"
        );
        assert_eq!(found.nonce.as_deref(), Some("n-0S6_WzA2Mj"), "{backend}");
        assert!(
            store.code(b"the-code").await.unwrap().is_none(),
            "{backend}: stored under its hash only"
        );
        let dup = store.insert_code(&c).await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { .. })),
            "{backend}: {dup:?}"
        );
        let orphan = store.insert_code(&code("x", "no-such-grant", "tpp")).await;
        assert!(orphan.is_err(), "{backend}: {orphan:?}");
    }
}

#[tokio::test]
async fn a_code_redeems_once_and_a_replay_names_its_grant() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_code(&code("the-code", "g1", "tpp"))
            .await
            .unwrap();
        let first = IssuedTokens {
            access: access("a1", "g1", "tpp", Some("r1")),
            refresh: Some(refresh("r1", "g1", "tpp")),
        };
        assert_eq!(
            store
                .redeem_code(&secret_hash("the-code"), T0 + 5, &first)
                .await
                .unwrap(),
            Redemption::Issued,
            "{backend}"
        );
        assert_eq!(
            store
                .access_token(&secret_hash("a1"), T0 + 6)
                .await
                .unwrap(),
            Some(first.access.clone()),
            "{backend}"
        );
        assert_eq!(
            store
                .refresh_token(&secret_hash("r1"), T0 + 6)
                .await
                .unwrap(),
            first.refresh.clone(),
            "{backend}"
        );
        assert_eq!(
            store
                .code(&secret_hash("the-code"))
                .await
                .unwrap()
                .unwrap()
                .consumed_at,
            Some(T0 + 5),
            "{backend}"
        );

        let second = IssuedTokens {
            access: access("a2", "g1", "tpp", None),
            refresh: None,
        };
        assert_eq!(
            store
                .redeem_code(&secret_hash("the-code"), T0 + 6, &second)
                .await
                .unwrap(),
            Redemption::AlreadyUsed {
                grant_id: "g1".to_owned()
            },
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a2"), T0 + 7)
                .await
                .unwrap()
                .is_none(),
            "{backend}: a replay stores nothing"
        );
        // The caller then revokes the grant, which takes the first redemption's tokens with it.
        assert_eq!(
            store.revoke_grant("g1", T0 + 7).await.unwrap(),
            2,
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a1"), T0 + 8)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn expired_unknown_and_orphaned_codes_do_not_redeem() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store.insert_code(&code("c1", "g1", "tpp")).await.unwrap();
        let issue = IssuedTokens {
            access: access("a1", "g1", "tpp", None),
            refresh: None,
        };
        // Valid strictly before expires_at (T0 + 60).
        assert_eq!(
            store
                .redeem_code(&secret_hash("c1"), T0 + 60, &issue)
                .await
                .unwrap(),
            Redemption::Expired,
            "{backend}"
        );
        assert_eq!(
            store
                .redeem_code(&secret_hash("never-issued"), T0, &issue)
                .await
                .unwrap(),
            Redemption::Unknown,
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a1"), T0)
                .await
                .unwrap()
                .is_none(),
            "{backend}: nothing stored"
        );

        // Tokens that do not belong to the code's grant and client are refused, and the code
        // stays redeemable.
        store.insert_grant(&grant("g2", "tpp")).await.unwrap();
        store.insert_code(&code("c2", "g1", "tpp")).await.unwrap();
        let wrong = IssuedTokens {
            access: access("a2", "g2", "tpp", None),
            refresh: None,
        };
        let refused = store.redeem_code(&secret_hash("c2"), T0 + 1, &wrong).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{backend}: {refused:?}"
        );
        let wrong_refresh = IssuedTokens {
            access: access("a2", "g1", "tpp", None),
            refresh: Some(refresh("r2", "g2", "tpp")),
        };
        assert!(
            store
                .redeem_code(&secret_hash("c2"), T0 + 1, &wrong_refresh)
                .await
                .is_err(),
            "{backend}"
        );
        assert_eq!(
            store
                .code(&secret_hash("c2"))
                .await
                .unwrap()
                .unwrap()
                .consumed_at,
            None,
            "{backend}"
        );

        // A code whose grant was revoked meanwhile does not redeem, and is not consumed.
        store.revoke_grant("g1", T0 + 2).await.unwrap();
        assert_eq!(
            store
                .redeem_code(&secret_hash("c2"), T0 + 3, &issue)
                .await
                .unwrap(),
            Redemption::GrantInactive {
                grant_id: "g1".to_owned()
            },
            "{backend}"
        );
        assert_eq!(
            store
                .code(&secret_hash("c2"))
                .await
                .unwrap()
                .unwrap()
                .consumed_at,
            None,
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a1"), T0 + 3)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_issue_tokens_once() {
    const N: usize = 100;
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_code(&code("the-code", "g1", "tpp"))
            .await
            .unwrap();
        let access_secrets: Vec<String> = (0..N).map(|i| format!("a{i}")).collect();
        let refresh_secrets: Vec<String> = (0..N).map(|i| format!("r{i}")).collect();
        let issues: Vec<IssuedTokens> = (0..N)
            .map(|i| IssuedTokens {
                access: access(&access_secrets[i], "g1", "tpp", Some(&refresh_secrets[i])),
                refresh: Some(refresh(&refresh_secrets[i], "g1", "tpp")),
            })
            .collect();
        let code_hash = secret_hash("the-code");
        let outcomes = join_all(
            issues
                .iter()
                .map(|issue| store.redeem_code(&code_hash, T0 + 5, issue)),
        )
        .await;
        let outcomes: Vec<Redemption> = outcomes.into_iter().map(Result::unwrap).collect();
        let issued = outcomes
            .iter()
            .filter(|o| **o == Redemption::Issued)
            .count();
        let replays = outcomes
            .iter()
            .filter(|o| {
                **o == Redemption::AlreadyUsed {
                    grant_id: "g1".to_owned(),
                }
            })
            .count();
        eprintln!("{backend}: {N} concurrent redemptions: {issued} Issued, {replays} AlreadyUsed");
        assert_eq!((issued, replays), (1, N - 1), "{backend}: {outcomes:?}");

        // Exactly the winner's tokens exist: one access and one refresh token in the grant.
        assert_eq!(
            valid_access_tokens(&store, &access_secrets, T0 + 6).await,
            1,
            "{backend}"
        );
        assert_eq!(
            valid_refresh_tokens(&store, &refresh_secrets, T0 + 6).await,
            1,
            "{backend}"
        );
        assert_eq!(
            store.revoke_grant("g1", T0 + 7).await.unwrap(),
            2,
            "{backend}: the grant holds exactly one access and one refresh token"
        );
    }
}

#[tokio::test]
async fn token_lookups_honour_expiry_and_the_grant() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        let a = access("a1", "g1", "tpp", None);
        store.insert_access_token(&a).await.unwrap();
        let r = refresh("r1", "g1", "tpp");
        store.insert_refresh_token(&r).await.unwrap();
        assert_eq!(
            store.access_token(&secret_hash("a1"), T0).await.unwrap(),
            Some(a.clone()),
            "{backend}"
        );
        assert_eq!(
            store
                .access_token(&secret_hash("a1"), a.expires_at - 1)
                .await
                .unwrap()
                .map(|t| t.token_hash),
            Some(secret_hash("a1")),
            "{backend}"
        );
        assert_eq!(
            store
                .access_token(&secret_hash("a1"), a.expires_at)
                .await
                .unwrap(),
            None,
            "{backend}: expired"
        );
        assert_eq!(
            store.refresh_token(&secret_hash("r1"), T0).await.unwrap(),
            Some(r.clone()),
            "{backend}"
        );
        assert_eq!(
            store
                .refresh_token(&secret_hash("r1"), r.expires_at)
                .await
                .unwrap(),
            None,
            "{backend}: expired"
        );
        assert!(
            store.access_token(b"a1", T0).await.unwrap().is_none(),
            "{backend}: looked up by hash only"
        );

        // A grant that has ended takes its tokens with it, whatever their own expiry.
        let short = GrantRecord {
            expires_at: T0 + 100,
            ..grant("short", "tpp")
        };
        store.insert_grant(&short).await.unwrap();
        store
            .insert_access_token(&access("a2", "short", "tpp", None))
            .await
            .unwrap();
        store
            .insert_refresh_token(&refresh("r2", "short", "tpp"))
            .await
            .unwrap();
        assert!(
            store
                .access_token(&secret_hash("a2"), T0 + 99)
                .await
                .unwrap()
                .is_some(),
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a2"), T0 + 100)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        assert!(
            store
                .refresh_token(&secret_hash("r2"), T0 + 100)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );

        assert!(
            store
                .revoke_access_token(&secret_hash("a1"), T0 + 1)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            !store
                .revoke_access_token(&secret_hash("a1"), T0 + 2)
                .await
                .unwrap(),
            "{backend}: already revoked"
        );
        assert!(
            store
                .access_token(&secret_hash("a1"), T0 + 2)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn client_credentials_tokens_come_with_their_grant() {
    for (backend, store, _dir) in all_stores().await {
        store.insert_client(&client("tpp")).await.unwrap();
        let g = GrantRecord {
            subject: None,
            claims: None,
            acr: None,
            amr: None,
            auth_time: None,
            consent_id: None,
            expires_at: T0 + 300,
            ..grant("cc", "tpp")
        };
        let t = AccessTokenRecord {
            subject: None,
            ..access("cc-token", "cc", "tpp", None)
        };
        store.insert_client_credentials_token(&g, &t).await.unwrap();
        assert_eq!(
            store.grant("cc").await.unwrap(),
            Some(g.clone()),
            "{backend}"
        );
        assert_eq!(
            store
                .access_token(&secret_hash("cc-token"), T0 + 1)
                .await
                .unwrap(),
            Some(t),
            "{backend}"
        );

        // All or nothing: a token that fails to insert leaves no grant behind.
        let g2 = GrantRecord {
            id: "cc2".to_owned(),
            ..g.clone()
        };
        let clash = access("cc-token", "cc2", "tpp", None);
        let failed = store.insert_client_credentials_token(&g2, &clash).await;
        assert!(
            matches!(failed, Err(StoreError::Conflict { .. })),
            "{backend}: {failed:?}"
        );
        assert_eq!(store.grant("cc2").await.unwrap(), None, "{backend}");
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_access_tokens_issued_from_it() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_refresh_token(&refresh("r1", "g1", "tpp"))
            .await
            .unwrap();
        store
            .insert_refresh_token(&refresh("r2", "g1", "tpp"))
            .await
            .unwrap();
        for a in [
            access("from-r1-a", "g1", "tpp", Some("r1")),
            access("from-r1-b", "g1", "tpp", Some("r1")),
            access("from-r2", "g1", "tpp", Some("r2")),
            access("standalone", "g1", "tpp", None),
        ] {
            store.insert_access_token(&a).await.unwrap();
        }
        assert_eq!(
            store
                .revoke_refresh_token(&secret_hash("r1"), T0 + 1)
                .await
                .unwrap(),
            3,
            "{backend}: r1 and its two access tokens"
        );
        let from_r1 = ["from-r1-a".to_owned(), "from-r1-b".to_owned()];
        assert_eq!(
            valid_access_tokens(&store, &from_r1, T0 + 2).await,
            0,
            "{backend}"
        );
        assert_eq!(
            valid_refresh_tokens(&store, &["r1".to_owned()], T0 + 2).await,
            0,
            "{backend}"
        );
        let others = ["from-r2".to_owned(), "standalone".to_owned()];
        assert_eq!(
            valid_access_tokens(&store, &others, T0 + 2).await,
            2,
            "{backend}"
        );
        assert_eq!(
            valid_refresh_tokens(&store, &["r2".to_owned()], T0 + 2).await,
            1,
            "{backend}"
        );
        assert_eq!(
            store
                .revoke_refresh_token(&secret_hash("r1"), T0 + 3)
                .await
                .unwrap(),
            0,
            "{backend}: nothing left to revoke"
        );
        // No refresh is possible from a revoked refresh token.
        assert!(
            !store
                .issue_from_refresh(
                    &secret_hash("r1"),
                    T0 + 4,
                    &access("after", "g1", "tpp", Some("r1"))
                )
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(
            valid_access_tokens(&store, &["after".to_owned()], T0 + 4).await,
            0,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn refresh_without_rotation_needs_a_valid_refresh_token() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_refresh_token(&refresh("r1", "g1", "tpp"))
            .await
            .unwrap();
        assert!(
            store
                .issue_from_refresh(
                    &secret_hash("r1"),
                    T0 + 1,
                    &access("a1", "g1", "tpp", Some("r1"))
                )
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            store
                .issue_from_refresh(
                    &secret_hash("r1"),
                    T0 + 2,
                    &access("a2", "g1", "tpp", Some("r1"))
                )
                .await
                .unwrap(),
            "{backend}: without rotation the refresh token is reusable"
        );
        let issued = ["a1".to_owned(), "a2".to_owned()];
        assert_eq!(
            valid_access_tokens(&store, &issued, T0 + 3).await,
            2,
            "{backend}"
        );
        assert!(
            store
                .refresh_token(&secret_hash("r1"), T0 + 3)
                .await
                .unwrap()
                .is_some(),
            "{backend}: still valid"
        );
        assert!(
            !store
                .issue_from_refresh(
                    &secret_hash("unknown"),
                    T0 + 3,
                    &access("a3", "g1", "tpp", None)
                )
                .await
                .unwrap(),
            "{backend}"
        );
        let expired_at = refresh("r1", "g1", "tpp").expires_at;
        assert!(
            !store
                .issue_from_refresh(
                    &secret_hash("r1"),
                    expired_at,
                    &access("a4", "g1", "tpp", Some("r1"))
                )
                .await
                .unwrap(),
            "{backend}: expired"
        );
        store.insert_grant(&grant("g2", "tpp")).await.unwrap();
        let foreign = store
            .issue_from_refresh(&secret_hash("r1"), T0 + 4, &access("a5", "g2", "tpp", None))
            .await;
        assert!(
            matches!(foreign, Err(StoreError::Conflict { .. })),
            "{backend}: {foreign:?}"
        );
        let stored = ["a3".to_owned(), "a4".to_owned(), "a5".to_owned()];
        assert_eq!(
            valid_access_tokens(&store, &stored, T0 + 4).await,
            0,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_revocation_racing_refreshes_leaves_no_derived_token_valid() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        for round in 0..10 {
            let r = format!("r{round}");
            store
                .insert_refresh_token(&refresh(&r, "g1", "tpp"))
                .await
                .unwrap();
            let secrets: Vec<String> = (0..8).map(|i| format!("a{round}-{i}")).collect();
            let tokens: Vec<AccessTokenRecord> = secrets
                .iter()
                .map(|s| access(s, "g1", "tpp", Some(&r)))
                .collect();
            let r_hash = secret_hash(&r);
            let refreshes = join_all(
                tokens
                    .iter()
                    .map(|t| store.issue_from_refresh(&r_hash, T0 + 1, t)),
            );
            let (issued, revoked) =
                tokio::join!(refreshes, store.revoke_refresh_token(&r_hash, T0 + 1));
            let issued = issued
                .into_iter()
                .map(Result::unwrap)
                .filter(|b| *b)
                .count();
            let revoked = revoked.unwrap();
            assert_eq!(
                revoked,
                1 + issued as u64,
                "{backend} round {round}: the refresh token and every access token issued before it"
            );
            assert_eq!(
                valid_access_tokens(&store, &secrets, T0 + 2).await,
                0,
                "{backend} round {round}: {issued} issued"
            );
        }
    }
}

#[tokio::test]
async fn refresh_rotation_replaces_the_old_token() {
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_refresh_token(&refresh("r1", "g1", "tpp"))
            .await
            .unwrap();
        store
            .insert_access_token(&access("a0", "g1", "tpp", Some("r1")))
            .await
            .unwrap();
        let r2 = refresh("r2", "g1", "tpp");
        let a1 = access("a1", "g1", "tpp", Some("r2"));
        assert!(
            store
                .rotate_refresh_token(&secret_hash("r1"), T0 + 1, &r2, &a1)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            store
                .refresh_token(&secret_hash("r1"), T0 + 2)
                .await
                .unwrap()
                .is_none(),
            "{backend}: the old token is spent"
        );
        assert_eq!(
            store
                .refresh_token(&secret_hash("r2"), T0 + 2)
                .await
                .unwrap(),
            Some(r2.clone()),
            "{backend}"
        );
        assert_eq!(
            store
                .access_token(&secret_hash("a1"), T0 + 2)
                .await
                .unwrap(),
            Some(a1),
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a0"), T0 + 2)
                .await
                .unwrap()
                .is_some(),
            "{backend}: rotation does not revoke earlier access tokens"
        );

        // The spent token rotates no more, and stores nothing.
        let r3 = refresh("r3", "g1", "tpp");
        let a3 = access("a3", "g1", "tpp", Some("r3"));
        assert!(
            !store
                .rotate_refresh_token(&secret_hash("r1"), T0 + 3, &r3, &a3)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            store
                .refresh_token(&secret_hash("r3"), T0 + 3)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        // Nor does an expired one.
        assert!(
            !store
                .rotate_refresh_token(&secret_hash("r2"), r2.expires_at, &r3, &a3)
                .await
                .unwrap(),
            "{backend}"
        );
        // Nor into another grant.
        store.insert_grant(&grant("g2", "tpp")).await.unwrap();
        let foreign = store
            .rotate_refresh_token(
                &secret_hash("r2"),
                T0 + 4,
                &refresh("r4", "g2", "tpp"),
                &access("a4", "g2", "tpp", Some("r4")),
            )
            .await;
        assert!(
            matches!(foreign, Err(StoreError::Conflict { .. })),
            "{backend}: {foreign:?}"
        );
        assert!(
            store
                .refresh_token(&secret_hash("r2"), T0 + 4)
                .await
                .unwrap()
                .is_some(),
            "{backend}: a refused rotation leaves the token valid"
        );
    }
}

#[tokio::test]
async fn concurrent_rotations_of_one_refresh_token_succeed_once() {
    const N: usize = 10;
    for (backend, store, _dir) in all_stores().await {
        seed(&store).await;
        store
            .insert_refresh_token(&refresh("r0", "g1", "tpp"))
            .await
            .unwrap();
        let refresh_secrets: Vec<String> = (1..=N).map(|i| format!("r{i}")).collect();
        let access_secrets: Vec<String> = (1..=N).map(|i| format!("a{i}")).collect();
        let pairs: Vec<(RefreshTokenRecord, AccessTokenRecord)> = (0..N)
            .map(|i| {
                (
                    refresh(&refresh_secrets[i], "g1", "tpp"),
                    access(&access_secrets[i], "g1", "tpp", Some(&refresh_secrets[i])),
                )
            })
            .collect();
        let old = secret_hash("r0");
        let results = join_all(
            pairs
                .iter()
                .map(|(r, a)| store.rotate_refresh_token(&old, T0 + 1, r, a)),
        )
        .await;
        let won = results
            .into_iter()
            .map(Result::unwrap)
            .filter(|b| *b)
            .count();
        eprintln!("{backend}: {N} concurrent rotations: {won} succeeded");
        assert_eq!(won, 1, "{backend}");
        assert_eq!(
            valid_refresh_tokens(&store, &refresh_secrets, T0 + 2).await,
            1,
            "{backend}"
        );
        assert_eq!(
            valid_access_tokens(&store, &access_secrets, T0 + 2).await,
            1,
            "{backend}"
        );
        assert_eq!(
            valid_refresh_tokens(&store, &["r0".to_owned()], T0 + 2).await,
            0,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn jtis_are_single_use_per_kind_and_issuer() {
    for (backend, store, _dir) in all_stores().await {
        assert!(
            store
                .use_jti(JtiKind::ClientAssertion, "tpp", "jti-1", T0 + 60)
                .await
                .unwrap(),
            "{backend}"
        );
        assert!(
            !store
                .use_jti(JtiKind::ClientAssertion, "tpp", "jti-1", T0 + 120)
                .await
                .unwrap(),
            "{backend}: replay"
        );
        assert!(
            store
                .use_jti(JtiKind::ClientAssertion, "other-tpp", "jti-1", T0 + 60)
                .await
                .unwrap(),
            "{backend}: issuers have their own jtis"
        );
        assert!(
            store
                .use_jti(JtiKind::Dpop, "tpp", "jti-1", T0 + 60)
                .await
                .unwrap(),
            "{backend}: kinds have their own jtis"
        );

        let claims =
            join_all((0..50).map(|_| store.use_jti(JtiKind::Dpop, "thumbprint", "raced", T0 + 60)))
                .await;
        let first = claims
            .into_iter()
            .map(Result::unwrap)
            .filter(|b| *b)
            .count();
        eprintln!("{backend}: 50 concurrent use_jti: {first} true");
        assert_eq!(first, 1, "{backend}");
    }
}

#[tokio::test]
async fn a_pushed_request_is_read_repeatedly_then_consumed_once() {
    for (backend, store, _dir) in all_stores().await {
        store.insert_client(&client("tpp")).await.unwrap();
        store.insert_client(&client("other")).await.unwrap();
        let p = par("urn:ietf:params:oauth:request_uri:abc", "tpp");
        store.insert_par(&p).await.unwrap();
        let hash = secret_hash("urn:ietf:params:oauth:request_uri:abc");
        for now in [T0, T0 + 30, T0 + 59] {
            assert_eq!(
                store.par(&hash, "tpp", now).await.unwrap(),
                Some(p.clone()),
                "{backend}: readable at {now}"
            );
        }
        assert_eq!(
            store.par(&hash, "other", T0).await.unwrap(),
            None,
            "{backend}: another client's request_uri"
        );
        assert_eq!(
            store.par(&hash, "tpp", T0 + 60).await.unwrap(),
            None,
            "{backend}: expired"
        );
        assert!(
            store
                .par(b"urn:ietf:params:oauth:request_uri:abc", "tpp", T0)
                .await
                .unwrap()
                .is_none(),
            "{backend}: stored under its hash only"
        );

        let consumed = join_all((0..20).map(|_| store.consume_par(&hash, T0 + 10))).await;
        let won = consumed
            .into_iter()
            .map(Result::unwrap)
            .filter(|b| *b)
            .count();
        eprintln!("{backend}: 20 concurrent consume_par: {won} true");
        assert_eq!(won, 1, "{backend}");
        assert_eq!(
            store.par(&hash, "tpp", T0 + 11).await.unwrap(),
            None,
            "{backend}: consumed"
        );
        assert!(
            !store.consume_par(&hash, T0 + 11).await.unwrap(),
            "{backend}"
        );

        let late = par("late", "tpp");
        store.insert_par(&late).await.unwrap();
        assert!(
            !store
                .consume_par(&secret_hash("late"), late.expires_at)
                .await
                .unwrap(),
            "{backend}: an expired request is not consumed"
        );
        assert!(
            !store
                .consume_par(&secret_hash("never-pushed"), T0)
                .await
                .unwrap(),
            "{backend}"
        );
        let orphan = store.insert_par(&par("x", "no-such-client")).await;
        assert!(orphan.is_err(), "{backend}: {orphan:?}");
    }
}

#[tokio::test]
async fn expired_artefacts_are_deleted_a_day_after_expiry() {
    for (backend, store, _dir) in all_stores().await {
        store.insert_client(&client("tpp")).await.unwrap();
        // An old grant whose artefacts all expired at T0.
        let old = GrantRecord {
            expires_at: T0,
            ..grant("old", "tpp")
        };
        store.insert_grant(&old).await.unwrap();
        store
            .insert_code(&CodeRecord {
                expires_at: T0,
                ..code("c-old", "old", "tpp")
            })
            .await
            .unwrap();
        store
            .insert_access_token(&AccessTokenRecord {
                expires_at: T0,
                ..access("a-old", "old", "tpp", Some("r-old"))
            })
            .await
            .unwrap();
        store
            .insert_refresh_token(&RefreshTokenRecord {
                expires_at: T0,
                ..refresh("r-old", "old", "tpp")
            })
            .await
            .unwrap();
        store
            .insert_par(&ParRecord {
                expires_at: T0,
                ..par("p-old", "tpp")
            })
            .await
            .unwrap();
        assert!(
            store
                .use_jti(JtiKind::Dpop, "k", "j-old", T0)
                .await
                .unwrap()
        );
        // A live grant with live artefacts.
        let live_until = T0 + 10 * 86_400;
        let live = GrantRecord {
            expires_at: live_until,
            ..grant("live", "tpp")
        };
        store.insert_grant(&live).await.unwrap();
        store
            .insert_code(&CodeRecord {
                expires_at: live_until,
                ..code("c-live", "live", "tpp")
            })
            .await
            .unwrap();
        store
            .insert_access_token(&AccessTokenRecord {
                expires_at: live_until,
                ..access("a-live", "live", "tpp", None)
            })
            .await
            .unwrap();
        store
            .insert_par(&ParRecord {
                expires_at: live_until,
                ..par("p-live", "tpp")
            })
            .await
            .unwrap();
        assert!(
            store
                .use_jti(JtiKind::Dpop, "k", "j-live", live_until)
                .await
                .unwrap()
        );

        assert_eq!(
            store
                .delete_expired_oauth(T0 + EXPIRED_ROWS_KEPT_FOR)
                .await
                .unwrap(),
            0,
            "{backend}: kept for a whole day"
        );
        assert_eq!(
            store
                .redeem_code(
                    &secret_hash("c-old"),
                    T0 + 1,
                    &IssuedTokens {
                        access: access("x", "old", "tpp", None),
                        refresh: None
                    }
                )
                .await
                .unwrap(),
            Redemption::Expired,
            "{backend}: still known the day after"
        );
        assert_eq!(
            store
                .delete_expired_oauth(T0 + EXPIRED_ROWS_KEPT_FOR + 1)
                .await
                .unwrap(),
            6,
            "{backend}: the old grant, code, access and refresh token, request and jti"
        );
        assert_eq!(store.grant("old").await.unwrap(), None, "{backend}");
        assert!(
            store.code(&secret_hash("c-old")).await.unwrap().is_none(),
            "{backend}"
        );
        assert!(
            store
                .use_jti(JtiKind::Dpop, "k", "j-old", T0 + 2 * 86_400)
                .await
                .unwrap(),
            "{backend}: the forgotten jti"
        );
        assert!(
            !store
                .use_jti(JtiKind::Dpop, "k", "j-live", live_until)
                .await
                .unwrap(),
            "{backend}: the live jti is kept"
        );
        let now = T0 + EXPIRED_ROWS_KEPT_FOR + 2;
        assert!(store.grant("live").await.unwrap().is_some(), "{backend}");
        assert!(
            store.code(&secret_hash("c-live")).await.unwrap().is_some(),
            "{backend}"
        );
        assert!(
            store
                .access_token(&secret_hash("a-live"), now)
                .await
                .unwrap()
                .is_some(),
            "{backend}"
        );
        assert!(
            store
                .par(&secret_hash("p-live"), "tpp", now)
                .await
                .unwrap()
                .is_some(),
            "{backend}"
        );
        assert_eq!(
            store.delete_expired_oauth(now).await.unwrap(),
            0,
            "{backend}"
        );

        // A grant long expired is kept while something still refers to it.
        let stale = GrantRecord {
            expires_at: T0,
            ..grant("stale", "tpp")
        };
        store.insert_grant(&stale).await.unwrap();
        store
            .insert_refresh_token(&refresh("r-stale", "stale", "tpp"))
            .await
            .unwrap();
        assert_eq!(
            store.delete_expired_oauth(now).await.unwrap(),
            0,
            "{backend}"
        );
        assert!(store.grant("stale").await.unwrap().is_some(), "{backend}");
    }
}
