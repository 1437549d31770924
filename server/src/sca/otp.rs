//! One-time codes sent by SMS: the possession factor of strong customer authentication.
//!
//! A code is random digits, valid for `sca.otp_ttl_secs`, good for one use and for
//! `sca.otp_max_attempts` entries. The database keeps only an HMAC of it (keyed from the master key,
//! bound to the challenge id), counts each entry in the statement that reads the challenge, and
//! spends it in one conditional update: two concurrent right entries authenticate once, and
//! concurrent wrong ones cannot exceed the limit. Sends are limited per customer on every node.
//! The message names what the code authorises, PSD2 RTS article 5 dynamic linking: the payee and
//! amount of a payment, the TPP of an account access.

use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, hmac_sha256, new_id, random_chars};
use crate::store::{
    ChallengeRecord, ChallengeStore as _, Store, StoreResult, ThrottleStore as _, User,
};

use super::config::ScaConfig;
use super::sms::{SmsError, SmsGateway};

/// The master-key derivation purpose of the code HMAC key.
pub const KEY_PURPOSE: &str = "sca-otp";
/// The RFC 8176 method a verified code adds to a login's `amr`.
pub const AMR: &str = "sms";
/// Reference characters: no 0/O, 1/I/L, so a customer can read them back.
const REFERENCE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const REFERENCE_LEN: usize = 5;

/// What a code is sent for: the words the message uses and the thing it is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose {
    /// Completes "… is your code to …": `let Acme see your account information`.
    pub words: String,
    /// The consent the code authorises, if any.
    pub linked_to: Option<String>,
}

#[derive(Debug)]
pub enum SendOutcome {
    /// Recorded and accepted by the gateway.
    Sent(Box<ChallengeRecord>),
    /// The customer has no phone number to send to.
    NoPhone,
    /// Too many codes sent to this customer lately.
    Throttled,
    /// The gateway refused or failed; the recorded code was spent so it can never be used.
    NotSent(SmsError),
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyOutcome {
    Verified(Box<ChallengeRecord>),
    /// Wrong code; this many entries remain (0: the code is now spent).
    Wrong {
        attempts_left: i64,
    },
    /// Expired, already used, out of entries, or not this customer's.
    Spent,
}

/// Codes for one request: the database, the gateway, the HMAC key and the rules.
pub struct Otp<'a> {
    pub store: &'a Store,
    pub gateway: &'a dyn SmsGateway,
    pub key: zeroize::Zeroizing<[u8; 32]>,
    pub config: &'a ScaConfig,
}

impl Otp<'_> {
    /// Records a new code for `user` and sends it to their phone.
    pub async fn send(
        &self,
        user: &User,
        purpose: &Purpose,
        now: UnixTime,
    ) -> StoreResult<SendOutcome> {
        let Some(phone) = user.phone.as_deref().filter(|p| !p.trim().is_empty()) else {
            return Ok(SendOutcome::NoPhone);
        };
        let bucket = format!("otp:send:{}", user.id);
        let c = self.config;
        if self.store.hit(&bucket, c.otp_send_window_secs, now).await? > c.otp_max_sends {
            return Ok(SendOutcome::Throttled);
        }
        let code = random_chars(b"0123456789", c.otp_length as usize);
        let challenge = ChallengeRecord {
            id: new_id(),
            user_id: user.id.clone(),
            method: AMR.to_owned(),
            reference: random_chars(REFERENCE_ALPHABET, REFERENCE_LEN),
            destination: mask_phone(phone),
            code_hash: Vec::new(),
            linked_to: purpose.linked_to.clone(),
            attempts: 0,
            max_attempts: c.otp_max_attempts,
            created_at: now,
            expires_at: now + c.otp_ttl_secs,
            consumed_at: None,
        };
        let challenge = ChallengeRecord {
            code_hash: code_hash(self.key.as_slice(), &challenge.id, &code),
            ..challenge
        };
        // Recorded before it is sent: no code reaches a phone that the server cannot check.
        self.store.insert_challenge(&challenge).await?;
        let text = message(
            &code,
            &c.sms.sender,
            &challenge.reference,
            purpose,
            c.otp_ttl_secs,
        );
        match self.gateway.send(phone, &text).await {
            Ok(()) => Ok(SendOutcome::Sent(Box::new(challenge))),
            Err(e) => {
                self.store.consume_challenge(&challenge.id, now).await?;
                Ok(SendOutcome::NotSent(e))
            }
        }
    }

    /// Checks `entered` against the challenge `id` sent to `user_id`.
    pub async fn verify(
        &self,
        id: &str,
        user_id: &str,
        entered: &str,
        now: UnixTime,
    ) -> StoreResult<VerifyOutcome> {
        let entered: String = entered
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        // Counted before it is compared, in the statement that reads it.
        let Some(challenge) = self.store.attempt_challenge(id, now).await? else {
            return Ok(VerifyOutcome::Spent);
        };
        if challenge.user_id != user_id {
            return Ok(VerifyOutcome::Spent);
        }
        let right = constant_time_eq(
            &code_hash(self.key.as_slice(), &challenge.id, &entered),
            &challenge.code_hash,
        );
        if !right {
            return Ok(VerifyOutcome::Wrong {
                attempts_left: (challenge.max_attempts - challenge.attempts).max(0),
            });
        }
        if self.store.consume_challenge(id, now).await? {
            Ok(VerifyOutcome::Verified(Box::new(challenge)))
        } else {
            Ok(VerifyOutcome::Spent)
        }
    }
}

fn code_hash(key: &[u8], id: &str, code: &str) -> Vec<u8> {
    hmac_sha256(key, format!("{id}\n{code}").as_bytes()).to_vec()
}

/// The SMS text: the code first (phones offer to fill it in from there), then whose code it is,
/// the reference shown on the page, what it authorises, and the warning.
pub fn message(
    code: &str,
    sender: &str,
    reference: &str,
    purpose: &Purpose,
    ttl_secs: i64,
) -> String {
    let minutes = (ttl_secs + 59) / 60;
    format!(
        "{code} is your {sender} code (ref {reference}) to {}. It expires in {minutes} min. \
         Never share it, not even with us.",
        purpose.words
    )
}

/// `+447700900461` as `•••• 0461`: enough for the customer to recognise, no more.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("•••• {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lead_with_the_code_and_name_what_it_authorises() {
        let purpose = Purpose {
            words: "pay GBP 12.50 to Acme Energy".to_owned(),
            linked_to: Some("c1".to_owned()),
        };
        let text = message("042917", "Example Bank", "K7QF", &purpose, 300);
        assert_eq!(
            text,
            "042917 is your Example Bank code (ref K7QF) to pay GBP 12.50 to Acme Energy. \
             It expires in 5 min. Never share it, not even with us."
        );
    }

    #[test]
    fn phones_are_masked_to_their_last_four_digits() {
        assert_eq!(mask_phone("+44 7700 900461"), "•••• 0461");
        assert_eq!(mask_phone("12"), "•••• 12");
    }

    #[test]
    fn codes_hash_with_their_challenge() {
        let key = [7u8; 32];
        assert_eq!(
            code_hash(&key, "a", "123456"),
            code_hash(&key, "a", "123456")
        );
        assert_ne!(
            code_hash(&key, "a", "123456"),
            code_hash(&key, "b", "123456")
        );
        assert_ne!(
            code_hash(&key, "a", "123456"),
            code_hash(&[8u8; 32], "a", "123456")
        );
    }
}
