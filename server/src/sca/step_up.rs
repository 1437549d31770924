//! When an authorization asks for more than the password: the rule, with no HTTP in it.
//!
//! An authorization needs strong customer authentication when the client asks for the SCA acr
//! (`urn:openbanking:psd2:sca`, essential or not) or when it binds a UK Open Banking consent
//! (PSD2 article 97: accessing an account online and initiating a payment). A login reaches SCA
//! once its methods cover two kinds of factor ([`acr_reached`]). For an account-access consent,
//! SCA earlier in the same login counts. A payment needs a code linked to that very payment
//! (dynamic linking), whatever the login did before.
//!
//! Without a second factor to offer (no phone number, no SMS gateway), nothing is stepped up:
//! the authorization goes on at `ca`, and a client that made SCA essential gets `access_denied`
//! from [`AuthorizationRequest::acr_for`](crate::protocol::authorize::AuthorizationRequest::acr_for).
//! Exemptions (RTS articles 10 to 18) come with the SCA policy.

use crate::consent::ConsentKind;
use crate::protocol::authorize::{ACR_SCA, acr_reached};

/// What the authorization binds, as far as the rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound<'a> {
    pub consent_id: &'a str,
    pub kind: ConsentKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUp {
    /// The login is enough.
    NotNeeded,
    /// A code must be entered, linked to this consent when there is one.
    Required { linked_to: Option<String> },
    /// SCA is wanted but the customer has no second factor to use.
    Unavailable,
}

/// The login so far: its methods, and the consents codes were entered for during it.
pub struct LoginState<'a> {
    pub amr: &'a [String],
    pub linked: &'a [String],
}

pub fn step_up(
    requested_acrs: &[String],
    bound: Option<Bound<'_>>,
    login: &LoginState<'_>,
    second_factor: bool,
) -> StepUp {
    let wanted = bound.is_some() || requested_acrs.iter().any(|a| a == ACR_SCA);
    if !wanted {
        return StepUp::NotNeeded;
    }
    let done = match bound {
        Some(b) if b.kind == ConsentKind::DomesticPayment => {
            login.linked.iter().any(|id| id == b.consent_id)
        }
        _ => acr_reached(login.amr) == ACR_SCA,
    };
    if done {
        StepUp::NotNeeded
    } else if second_factor {
        StepUp::Required {
            linked_to: bound.map(|b| b.consent_id.to_owned()),
        }
    } else {
        StepUp::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::authorize::ACR_CA;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn sca_is_wanted_for_the_sca_acr_and_for_consents() {
        let pwd = strings(&["pwd"]);
        let login = LoginState {
            amr: &pwd,
            linked: &[],
        };
        assert_eq!(step_up(&[], None, &login, true), StepUp::NotNeeded);
        assert_eq!(
            step_up(&strings(&[ACR_CA]), None, &login, true),
            StepUp::NotNeeded
        );
        assert_eq!(
            step_up(&strings(&[ACR_SCA, ACR_CA]), None, &login, true),
            StepUp::Required { linked_to: None }
        );
        let accounts = Bound {
            consent_id: "c1",
            kind: ConsentKind::AccountAccess,
        };
        assert_eq!(
            step_up(&[], Some(accounts), &login, true),
            StepUp::Required {
                linked_to: Some("c1".to_owned())
            }
        );
        assert_eq!(
            step_up(&[], Some(accounts), &login, false),
            StepUp::Unavailable
        );
    }

    #[test]
    fn account_access_reuses_the_logins_sca_but_payments_need_their_own_code() {
        let both = strings(&["pwd", "sms"]);
        let earlier = strings(&["c0"]);
        let login = LoginState {
            amr: &both,
            linked: &earlier,
        };
        let accounts = Bound {
            consent_id: "c1",
            kind: ConsentKind::AccountAccess,
        };
        let payment = Bound {
            consent_id: "p1",
            kind: ConsentKind::DomesticPayment,
        };
        assert_eq!(
            step_up(&[], Some(accounts), &login, true),
            StepUp::NotNeeded
        );
        assert_eq!(
            step_up(&[], Some(payment), &login, true),
            StepUp::Required {
                linked_to: Some("p1".to_owned())
            }
        );
        let linked = strings(&["c0", "p1"]);
        let login = LoginState {
            amr: &both,
            linked: &linked,
        };
        assert_eq!(step_up(&[], Some(payment), &login, true), StepUp::NotNeeded);
    }
}
