//! The password step of a login, with throttling per account and per address kept in the
//! database so every node counts the same attempts. Wrong username and wrong password are one
//! answer, and take the same time.

use std::net::IpAddr;

use crate::clock::UnixTime;
use crate::store::{Store, StoreError, ThrottleStore as _, User, UserStore as _};

use super::password::{PasswordError, PasswordHasher};

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    pub account_max_failures: i64,
    pub address_max_failures: i64,
    pub window_secs: i64,
}

#[derive(Debug)]
pub enum LoginOutcome {
    Success(Box<User>),
    /// Unknown user, wrong password or disabled account: the caller says the same for all three.
    Rejected,
    Throttled,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

fn account_bucket(username: &str) -> String {
    format!("login:account:{}", username.trim().to_lowercase())
}

/// IPv6 clients are counted per /64, as one host usually holds the whole prefix.
fn address_bucket(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("login:address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("login:address:{v4}"),
            None => {
                let s = v6.segments();
                format!(
                    "login:address:{:x}:{:x}:{:x}:{:x}::/64",
                    s[0], s[1], s[2], s[3]
                )
            }
        },
    }
}

pub async fn authenticate(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &ThrottlePolicy,
    username: &str,
    password: &str,
    address: IpAddr,
    now: UnixTime,
) -> Result<LoginOutcome, LoginError> {
    let account = account_bucket(username);
    let addr = address_bucket(address);
    if store.hits(&addr, policy.window_secs, now).await? >= policy.address_max_failures {
        return Ok(LoginOutcome::Throttled);
    }
    // The attempt is counted before the password is checked, in one statement: concurrent guesses
    // at one account cannot all slip under the limit. A success clears the count.
    if store.hit(&account, policy.window_secs, now).await? > policy.account_max_failures {
        return Ok(LoginOutcome::Throttled);
    }
    let user = store.user_by_username(username.trim()).await?;
    let verified = hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    match user {
        Some(user) if verified && user.disabled_at.is_none() => {
            store.clear(&account).await?;
            if hasher.needs_rehash(&user.password_hash) {
                let rehashed = hasher.hash(password).await?;
                store.set_password_hash(&user.id, &rehashed).await?;
            }
            Ok(LoginOutcome::Success(Box::new(user)))
        }
        _ => {
            store.hit(&addr, policy.window_secs, now).await?;
            Ok(LoginOutcome::Rejected)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_bucket(mapped), "login:address:192.0.2.7");
    }

    #[test]
    fn account_buckets_ignore_case_and_spaces() {
        assert_eq!(account_bucket(" Alice "), account_bucket("alice"));
    }
}
