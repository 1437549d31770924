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
