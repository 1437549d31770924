//! The store contract: every backend passes every test here. Each test runs on SQLite and, when
//! configured (always in CI), on PostgreSQL.

use consentry_server::store::{
    Account, BankSeed, Beneficiary, ClientRecord, ClientStatus, ClientStore, KeyStore, LedgerStore,
    MetaStore, Role, SessionRecordStore, SigningKeyRecord, StoreError, ThrottleStore, Transaction,
    User, UserStore,
};

use crate::support::all_stores;

fn user(id: &str, username: &str, role: Role) -> User {
    User {
        id: id.to_owned(),
        username: username.to_owned(),
        display_name: format!("{username} display"),
        email: Some(format!("{username}@example.com")),
        phone: None,
        role,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
        disabled_at: None,
        created_at: 1_700_000_000,
    }
}

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        client_name: Some("Test TPP".to_owned()),
        profile: "fapi1-advanced".to_owned(),
        metadata: r#"{"redirect_uris":["https://tpp.example/cb"]}"#.to_owned(),
        secret_hash: None,
        status: ClientStatus::Active,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

fn key(kid: &str, alg: &str, activates_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        private_jwk: vec![1, 2, 3, 0, 255],
        created_at: activates_at,
        activates_at,
        retires_at: None,
        unpublish_at: None,
    }
}

#[tokio::test]
async fn users_round_trip_and_usernames_are_unique() {
    for (backend, store, _dir) in all_stores().await {
        let alice = user("u1", "alice", Role::Customer);
        store.insert_user(&alice).await.unwrap();
        store
            .insert_user(&user("u2", "operator", Role::Operator))
            .await
            .unwrap();

        let found = store
            .user_by_username("alice")
            .await
            .unwrap()
            .expect(backend);
        assert_eq!(found.id, "u1", "{backend}");
        assert_eq!(found.role, Role::Customer, "{backend}");
        assert_eq!(
            found.email.as_deref(),
            Some("alice@example.com"),
            "{backend}"
        );
        assert!(
            store.user_by_username("ALICE").await.unwrap().is_none(),
            "{backend}: usernames are exact"
        );
        assert_eq!(
            store.user_by_id("u2").await.unwrap().map(|u| u.role),
            Some(Role::Operator),
            "{backend}"
        );

        let dup = store
            .insert_user(&user("u3", "alice", Role::Customer))
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { .. })),
            "{backend}: {dup:?}"
        );

        let customers = store.list_users(Role::Customer).await.unwrap();
        assert_eq!(
            customers
                .iter()
                .map(|u| u.username.as_str())
                .collect::<Vec<_>>(),
            ["alice"],
            "{backend}"
        );

        store
            .set_password_hash("u1", "$argon2id$new")
            .await
            .unwrap();
        assert_eq!(
            store.user_by_id("u1").await.unwrap().unwrap().password_hash,
            "$argon2id$new",
            "{backend}"
        );
        assert!(
            matches!(
                store.set_password_hash("nobody", "x").await,
                Err(StoreError::NotFound)
            ),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn sessions_expire_and_ids_are_single_owner() {
    for (backend, store, _dir) in all_stores().await {
        let id = [7u8; 32];
        assert!(
            store.create_session(&id, "{}", 1000).await.unwrap(),
            "{backend}"
        );
        assert!(
            !store.create_session(&id, "{\"x\":1}", 1000).await.unwrap(),
            "{backend}: taken id refused"
        );
        assert_eq!(
            store.load_session(&id, 999).await.unwrap().as_deref(),
            Some("{}"),
            "{backend}"
        );
        assert_eq!(
            store.load_session(&id, 1000).await.unwrap(),
            None,
            "{backend}: expired at its expiry"
        );

        store.save_session(&id, "{\"a\":2}", 2000).await.unwrap();
        assert_eq!(
            store.load_session(&id, 1500).await.unwrap().as_deref(),
            Some("{\"a\":2}"),
            "{backend}"
        );

        let other = [9u8; 32];
        store.save_session(&other, "{}", 500).await.unwrap();
        assert_eq!(
            store.delete_expired_sessions(1500).await.unwrap(),
            1,
            "{backend}"
        );
        store.delete_session(&id).await.unwrap();
        assert_eq!(
            store.load_session(&id, 1500).await.unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn clients_round_trip() {
    for (backend, store, _dir) in all_stores().await {
        let mut c = client("tpp-1");
        c.secret_hash = Some(vec![0xAB; 32]);
        store.insert_client(&c).await.unwrap();
        store.insert_client(&client("tpp-2")).await.unwrap();
        let got = store.client("tpp-1").await.unwrap().expect(backend);
        assert_eq!(
            got.secret_hash.as_deref(),
            Some(&[0xAB; 32][..]),
            "{backend}"
        );
        assert_eq!(got.status, ClientStatus::Active, "{backend}");
        assert_eq!(got.metadata, c.metadata, "{backend}");
        assert!(store.client("nope").await.unwrap().is_none(), "{backend}");
        assert!(
            matches!(
                store.insert_client(&c).await,
                Err(StoreError::Conflict { .. })
            ),
            "{backend}"
        );
        assert_eq!(store.list_clients().await.unwrap().len(), 2, "{backend}");
    }
}

#[tokio::test]
async fn keys_rotate_in_one_transaction() {
    for (backend, store, _dir) in all_stores().await {
        store.insert_key(&key("k1", "PS256", 100)).await.unwrap();
        store
            .rotate_key(&key("k2", "PS256", 200), "k1", 200, 900)
            .await
            .unwrap();
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys.len(), 2, "{backend}");
        let k1 = keys.iter().find(|k| k.kid == "k1").unwrap();
        assert_eq!(
            (k1.retires_at, k1.unpublish_at),
            (Some(200), Some(900)),
            "{backend}"
        );
        assert_eq!(
            keys.iter().find(|k| k.kid == "k2").unwrap().private_jwk,
            vec![1, 2, 3, 0, 255],
            "{backend}"
        );

        // k1 is already retiring: a second rotation from it changes nothing, not even the new key.
        let again = store
            .rotate_key(&key("k3", "PS256", 300), "k1", 300, 1000)
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict { .. })),
            "{backend}: {again:?}"
        );
        assert_eq!(
            store.list_keys().await.unwrap().len(),
            2,
            "{backend}: rolled back"
        );
    }
}

#[tokio::test]
async fn meta_is_set_once() {
    for (backend, store, _dir) in all_stores().await {
        assert_eq!(store.meta("x").await.unwrap(), None, "{backend}");
        assert!(
            store.put_meta_if_absent("x", "first").await.unwrap(),
            "{backend}"
        );
        assert!(
            !store.put_meta_if_absent("x", "second").await.unwrap(),
            "{backend}"
        );
        assert_eq!(
            store.meta("x").await.unwrap().as_deref(),
            Some("first"),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn throttle_windows_count_concurrent_hits() {
    for (backend, store, _dir) in all_stores().await {
        let hits =
            futures_util::future::join_all((0..20).map(|_| store.hit("login:alice", 60, 1000)))
                .await;
        let mut counts: Vec<i64> = hits.into_iter().map(Result::unwrap).collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=20).collect::<Vec<_>>(),
            "{backend}: every hit counted once"
        );
        assert_eq!(
            store.hits("login:alice", 60, 1059).await.unwrap(),
            20,
            "{backend}"
        );
        assert_eq!(
            store.hits("login:alice", 60, 1060).await.unwrap(),
            0,
            "{backend}: window over"
        );
        assert_eq!(
            store.hit("login:alice", 60, 1060).await.unwrap(),
            1,
            "{backend}: new window"
        );
        store.clear("login:alice").await.unwrap();
        assert_eq!(
            store.hits("login:alice", 60, 1061).await.unwrap(),
            0,
            "{backend}"
        );
        store.hit("a", 60, 10).await.unwrap();
        store.hit("b", 60, 100).await.unwrap();
        assert_eq!(
            store.delete_stale_windows(50).await.unwrap(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_bank_is_seeded_once_and_whole() {
    for (backend, store, _dir) in all_stores().await {
        let owner = user("owner", "dana", Role::Customer);
        let account = Account {
            id: "acc-1".to_owned(),
            owner_user_id: "owner".to_owned(),
            account_type: "Personal".to_owned(),
            account_subtype: "CurrentAccount".to_owned(),
            currency: "GBP".to_owned(),
            nickname: "Everyday".to_owned(),
            scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
            identification: "60161331926819".to_owned(),
            holder_name: "Dana Example".to_owned(),
            balance_minor: 1500,
            opened_at: 1_600_000_000,
        };
        let tx = |id: &str, amount: i64, at: i64, after: i64| Transaction {
            id: id.to_owned(),
            account_id: "acc-1".to_owned(),
            amount_minor: amount,
            currency: "GBP".to_owned(),
            status: "Booked".to_owned(),
            booked_at: at,
            value_at: at,
            description: "Test".to_owned(),
            counterparty: None,
            bank_code: "PMT".to_owned(),
            balance_after_minor: after,
        };
        let seed = BankSeed {
            users: vec![owner],
            accounts: vec![account],
            transactions: vec![tx("t1", 2000, 100, 2000), tx("t2", -500, 200, 1500)],
            beneficiaries: vec![Beneficiary {
                id: "b1".to_owned(),
                account_id: "acc-1".to_owned(),
                reference: "Rent".to_owned(),
                name: "Landlord Ltd".to_owned(),
                scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
                identification: "40400411111111".to_owned(),
                created_at: 100,
            }],
            clients: vec![client("demo-tpp")],
        };
        assert!(store.seed_once("demo", &seed).await.unwrap(), "{backend}");
        assert!(
            !store.seed_once("demo", &seed).await.unwrap(),
            "{backend}: second seed writes nothing"
        );
        let accounts = store.accounts_of("owner").await.unwrap();
        assert_eq!(accounts.len(), 1, "{backend}");
        assert_eq!(accounts[0].balance_minor, 1500, "{backend}");
        let txs = store.transactions("acc-1", 0, 1000).await.unwrap();
        assert_eq!(
            txs.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["t2", "t1"],
            "{backend}: newest first"
        );
        assert_eq!(
            store.transactions("acc-1", 150, 1000).await.unwrap().len(),
            1,
            "{backend}"
        );
        assert_eq!(
            store.beneficiaries("acc-1").await.unwrap()[0].name,
            "Landlord Ltd",
            "{backend}"
        );
        assert!(
            store.client("demo-tpp").await.unwrap().is_some(),
            "{backend}"
        );

        // A seed that fails half-way leaves nothing behind.
        let mut broken = seed.clone();
        broken.users = vec![user("other", "erin", Role::Customer)];
        broken.accounts[0].id = "acc-2".to_owned();
        broken.accounts[0].owner_user_id = "missing-user".to_owned();
        broken.transactions.clear();
        broken.beneficiaries.clear();
        broken.clients.clear();
        assert!(
            store.seed_once("second", &broken).await.is_err(),
            "{backend}: foreign key enforced"
        );
        assert!(
            store.user_by_username("erin").await.unwrap().is_none(),
            "{backend}: rolled back"
        );
        assert_eq!(
            store.meta("second").await.unwrap(),
            None,
            "{backend}: marker rolled back"
        );
    }
}

#[tokio::test]
async fn ping_reaches_the_database() {
    for (backend, store, _dir) in all_stores().await {
        store
            .ping()
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

mod consents {
    use consentry_server::consent::{Actor, ConsentStatus};
    use consentry_server::store::{
        AccessTokenRecord, Authorisation, BankSeed, ConsentInsert, ConsentRecord, ConsentStore,
        GrantRecord, GrantStore, LedgerStore, Store, TokenStore,
    };

    use super::{Role, client, user};
    use crate::support::all_stores;

    const NOW: i64 = 1_800_000_000;

    fn consent(id: &str, key: Option<&str>) -> ConsentRecord {
        ConsentRecord {
            id: id.to_owned(),
            kind: "account-access".to_owned(),
            client_id: "tpp".to_owned(),
            status: ConsentStatus::AwaitingAuthorisation.as_str().to_owned(),
            status_updated_at: NOW,
            created_at: NOW,
            expires_at: Some(NOW + 3600),
            user_id: None,
            permissions: Some(r#"["ReadAccountsBasic"]"#.to_owned()),
            tx_from: None,
            tx_to: None,
            debtor_account_id: None,
            amount_minor: None,
            currency: None,
            body: "{}".to_owned(),
            idempotency_key: key.map(str::to_owned),
            request_hash: Some("h".to_owned()),
            authorised_at: None,
            last_used_at: None,
        }
    }

    async fn seed(store: &Store) {
        let account = |id: &str| super::Account {
            id: id.to_owned(),
            owner_user_id: "psu".to_owned(),
            account_type: "Personal".to_owned(),
            account_subtype: "CurrentAccount".to_owned(),
            currency: "GBP".to_owned(),
            nickname: id.to_owned(),
            scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
            identification: format!("601613{id}"),
            holder_name: "P".to_owned(),
            balance_minor: 0,
            opened_at: 0,
        };
        let seed = BankSeed {
            users: vec![user("psu", "psu", Role::Customer)],
            accounts: vec![account("a1"), account("a2")],
            clients: vec![client("tpp")],
            ..BankSeed::default()
        };
        assert!(store.seed_once("consent-test", &seed).await.unwrap());
    }

    #[tokio::test]
    async fn idempotency_keys_return_the_first_consent() {
        for (backend, store, _dir) in all_stores().await {
            seed(&store).await;
            let tpp = Actor::Tpp("tpp".into());
            let first = consent("c1", Some("key-1"));
            assert_eq!(
                store.insert_consent(&first, &tpp).await.unwrap(),
                ConsentInsert::Inserted,
                "{backend}"
            );
            match store
                .insert_consent(&consent("c2", Some("key-1")), &tpp)
                .await
                .unwrap()
            {
                ConsentInsert::Existing(found) => assert_eq!(found.id, "c1", "{backend}"),
                other => panic!("{backend}: {other:?}"),
            }
            // Without a key, every request is a new consent.
            for id in ["c3", "c4"] {
                assert_eq!(
                    store
                        .insert_consent(&consent(id, None), &tpp)
                        .await
                        .unwrap(),
                    ConsentInsert::Inserted,
                    "{backend}"
                );
            }
            assert!(store.consent("c2").await.unwrap().is_none(), "{backend}");
            let history = store.consent_history("c1").await.unwrap();
            assert_eq!(history.len(), 1, "{backend}");
            assert_eq!(history[0].actor, "tpp:tpp", "{backend}");
        }
    }

    #[tokio::test]
    async fn concurrent_authorisations_authorise_once() {
        for (backend, store, _dir) in all_stores().await {
            seed(&store).await;
            store
                .insert_consent(&consent("c1", None), &Actor::Tpp("tpp".into()))
                .await
                .unwrap();
            let accounts = vec!["a1".to_owned(), "a2".to_owned()];
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let (store, accounts) = (store.clone(), accounts.clone());
                tasks.spawn(async move {
                    let a = Authorisation {
                        user_id: "psu",
                        account_ids: &accounts,
                        debtor_account_id: None,
                    };
                    store.authorise_consent("c1", &a, NOW + 5).await.unwrap()
                });
            }
            let mut won = 0;
            while let Some(r) = tasks.join_next().await {
                won += usize::from(r.unwrap());
            }
            assert_eq!(won, 1, "{backend}: exactly one authorisation");
            let c = store.consent("c1").await.unwrap().unwrap();
            assert_eq!(c.status, "Authorised", "{backend}");
            assert_eq!(c.user_id.as_deref(), Some("psu"), "{backend}");
            assert_eq!(
                store.consent_accounts("c1").await.unwrap(),
                accounts,
                "{backend}"
            );
            assert_eq!(store.consents_of_user("psu").await.unwrap().len(), 1);
            // Authorised cannot be rejected, and is not authorised twice.
            assert!(
                !store
                    .transition_consent("c1", ConsentStatus::Rejected, &Actor::System, NOW + 6)
                    .await
                    .unwrap(),
                "{backend}"
            );
        }
    }

    #[tokio::test]
    async fn revoking_a_consent_revokes_its_tokens_at_once() {
        for (backend, store, _dir) in all_stores().await {
            seed(&store).await;
            store
                .insert_consent(&consent("c1", None), &Actor::Tpp("tpp".into()))
                .await
                .unwrap();
            let a = Authorisation {
                user_id: "psu",
                account_ids: &["a1".to_owned()],
                debtor_account_id: None,
            };
            assert!(store.authorise_consent("c1", &a, NOW).await.unwrap());
            store
                .insert_grant(&GrantRecord {
                    id: "g1".into(),
                    client_id: "tpp".into(),
                    subject: Some("psu".into()),
                    scope: "openid accounts".into(),
                    claims: None,
                    acr: None,
                    amr: None,
                    auth_time: Some(NOW),
                    consent_id: Some("c1".into()),
                    created_at: NOW,
                    expires_at: NOW + 86_400,
                    revoked_at: None,
                })
                .await
                .unwrap();
            let token = AccessTokenRecord {
                token_hash: vec![7; 32],
                grant_id: "g1".into(),
                client_id: "tpp".into(),
                subject: Some("psu".into()),
                scope: "openid accounts".into(),
                cnf_x5t: None,
                cnf_jkt: None,
                refresh_token_hash: None,
                issued_at: NOW,
                expires_at: NOW + 600,
                revoked_at: None,
            };
            store.insert_access_token(&token).await.unwrap();
            assert!(
                store
                    .access_token(&[7; 32], NOW + 1)
                    .await
                    .unwrap()
                    .is_some()
            );

            assert!(
                store
                    .transition_consent(
                        "c1",
                        ConsentStatus::Revoked,
                        &Actor::Psu("psu".into()),
                        NOW + 2
                    )
                    .await
                    .unwrap(),
                "{backend}"
            );
            assert!(
                store
                    .access_token(&[7; 32], NOW + 3)
                    .await
                    .unwrap()
                    .is_none(),
                "{backend}: the token died with the consent"
            );
            assert!(
                !store
                    .transition_consent("c1", ConsentStatus::Revoked, &Actor::System, NOW + 4)
                    .await
                    .unwrap(),
                "{backend}: revoked once"
            );
            let statuses: Vec<String> = store
                .consent_history("c1")
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.status)
                .collect();
            assert_eq!(
                statuses,
                ["AwaitingAuthorisation", "Authorised", "Revoked"],
                "{backend}"
            );
        }
    }

    #[tokio::test]
    async fn consents_expire_by_time() {
        for (backend, store, _dir) in all_stores().await {
            seed(&store).await;
            let tpp = Actor::Tpp("tpp".into());
            store
                .insert_consent(&consent("c1", None), &tpp)
                .await
                .unwrap();
            let mut open = consent("c2", None);
            open.expires_at = None;
            store.insert_consent(&open, &tpp).await.unwrap();
            let c1 = store.consent("c1").await.unwrap().unwrap();
            assert_eq!(
                c1.status_at(NOW + 3600).unwrap(),
                ConsentStatus::Expired,
                "{backend}"
            );
            let a = Authorisation {
                user_id: "psu",
                account_ids: &["a1".to_owned()],
                debtor_account_id: None,
            };
            assert!(
                !store.authorise_consent("c1", &a, NOW + 3600).await.unwrap(),
                "{backend}: an expired consent cannot be authorised"
            );
            assert_eq!(
                store.expire_consents(NOW + 3600).await.unwrap(),
                ["c1"],
                "{backend}"
            );
            assert_eq!(
                store.consent("c2").await.unwrap().unwrap().status,
                "AwaitingAuthorisation"
            );
        }
    }
}

mod one_time_codes {
    use std::sync::{Arc, Mutex};

    use consentry_server::sca::config::ScaConfig;
    use consentry_server::sca::otp::{Otp, Purpose, SendOutcome, VerifyOutcome};
    use consentry_server::sca::sms::{SmsError, SmsGateway};
    use consentry_server::store::{ChallengeStore as _, Role, Store, UserStore as _};

    use super::user;
    use crate::support::all_stores;

    /// The bank's SMS provider, which is not ours: keeps the texts.
    #[derive(Debug, Default)]
    struct Phone(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl SmsGateway for Phone {
        async fn send(&self, _to: &str, text: &str) -> Result<(), SmsError> {
            self.0.lock().unwrap().push(text.to_owned());
            Ok(())
        }
    }

    fn otp<'a>(store: &'a Store, phone: &'a Phone, config: &'a ScaConfig) -> Otp<'a> {
        Otp {
            store,
            gateway: phone,
            key: zeroize::Zeroizing::new([9u8; 32]),
            config,
        }
    }

    async fn sent(store: &Store, phone: &Phone, config: &ScaConfig, at: i64) -> (String, String) {
        let mut ada = user("u-otp", "ada-otp", Role::Customer);
        ada.phone = Some("+447700900461".to_owned());
        if store.user_by_id("u-otp").await.unwrap().is_none() {
            store.insert_user(&ada).await.unwrap();
        }
        let purpose = Purpose {
            words: "let a TPP see your account information".to_owned(),
            linked_to: None,
        };
        let SendOutcome::Sent(challenge) = otp(store, phone, config)
            .send(&ada, &purpose, at)
            .await
            .unwrap()
        else {
            panic!("sent");
        };
        let text = phone.0.lock().unwrap().last().unwrap().clone();
        let code: String = text.chars().take_while(char::is_ascii_digit).collect();
        // Stored: a 32-byte MAC, in which the code's own bytes do not appear.
        assert_eq!(challenge.code_hash.len(), 32);
        assert!(
            !challenge
                .code_hash
                .windows(code.len())
                .any(|w| w == code.as_bytes()),
            "the code is not stored"
        );
        (challenge.id, code)
    }

    #[tokio::test]
    async fn a_code_is_accepted_once_among_concurrent_entries() {
        for (backend, store, _dir) in all_stores().await {
            let (phone, config) = (Phone::default(), ScaConfig::default());
            let (id, code) = sent(&store, &phone, &config, 1000).await;
            let otp = Arc::new(otp(&store, &phone, &config));
            let outcomes = futures_util::future::join_all(
                (0..20).map(|_| otp.verify(&id, "u-otp", &code, 1001)),
            )
            .await;
            let verified = outcomes
                .iter()
                .filter(|o| matches!(o.as_ref().unwrap(), VerifyOutcome::Verified(_)))
                .count();
            assert_eq!(verified, 1, "{backend}: {outcomes:?}");
        }
    }

    #[tokio::test]
    async fn concurrent_guesses_cannot_pass_the_attempt_limit() {
        for (backend, store, _dir) in all_stores().await {
            let (phone, config) = (Phone::default(), ScaConfig::default());
            let (id, code) = sent(&store, &phone, &config, 1000).await;
            let otp = otp(&store, &phone, &config);
            let wrong: String = code
                .chars()
                .map(|c| if c == '0' { '1' } else { '0' })
                .collect();
            let outcomes = futures_util::future::join_all(
                (0..20).map(|_| otp.verify(&id, "u-otp", &wrong, 1001)),
            )
            .await;
            let counted = outcomes
                .iter()
                .filter(|o| matches!(o.as_ref().unwrap(), VerifyOutcome::Wrong { .. }))
                .count();
            assert_eq!(
                counted, 5,
                "{backend}: only sca.otp_max_attempts entries count"
            );
            assert_eq!(
                otp.verify(&id, "u-otp", &code, 1002).await.unwrap(),
                VerifyOutcome::Spent,
                "{backend}: the right code after the limit"
            );
        }
    }

    #[tokio::test]
    async fn codes_expire_and_belong_to_their_customer() {
        for (backend, store, _dir) in all_stores().await {
            let (phone, config) = (Phone::default(), ScaConfig::default());
            let (id, code) = sent(&store, &phone, &config, 1000).await;
            let otp = otp(&store, &phone, &config);
            assert_eq!(
                otp.verify(&id, "someone-else", &code, 1001).await.unwrap(),
                VerifyOutcome::Spent,
                "{backend}"
            );
            assert_eq!(
                otp.verify(&id, "u-otp", &code, 1000 + config.otp_ttl_secs)
                    .await
                    .unwrap(),
                VerifyOutcome::Spent,
                "{backend}: expired"
            );
            let (id, code) = sent(&store, &phone, &config, 2000).await;
            assert!(matches!(
                otp.verify(&id, "u-otp", &code, 2001).await.unwrap(),
                VerifyOutcome::Verified(_)
            ));
            assert_eq!(
                store
                    .delete_expired_challenges(1000 + config.otp_ttl_secs + 1)
                    .await
                    .unwrap(),
                1,
                "{backend}: only the first expired"
            );
        }
    }
}
