//! Test plans and their variants, written as the OpenID Foundation suite writes them:
//! `fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop]...`.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Fapi1Advanced,
    Fapi2Security,
    Fapi2MessageSigning,
}

impl Plan {
    pub fn name(self) -> &'static str {
        match self {
            Plan::Fapi1Advanced => "fapi1-advanced-final",
            Plan::Fapi2Security => "fapi2-security-profile-final",
            Plan::Fapi2MessageSigning => "fapi2-message-signing-final",
        }
    }

    /// The prefix of the plan's module names.
    pub fn module_prefix(self) -> &'static str {
        match self {
            Plan::Fapi1Advanced => "fapi1-advanced-final",
            Plan::Fapi2Security | Plan::Fapi2MessageSigning => "fapi2-security-profile-final",
        }
    }

    pub fn is_fapi2(self) -> bool {
        self != Plan::Fapi1Advanced
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    PrivateKeyJwt,
    Mtls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderConstrain {
    Mtls,
    Dpop,
}

/// FAPI 1 response: hybrid (`plain_response`) or JARM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Plain,
    Jarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMethod {
    ByValue,
    Pushed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    PlainFapi,
    OpenBankingUk,
}

/// A plan with every variant resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub plan: Plan,
    pub client_auth: ClientAuth,
    pub sender_constrain: SenderConstrain,
    pub response_mode: ResponseMode,
    pub request_method: RequestMethod,
    /// FAPI 2: `openid_connect` or `plain_oauth`. FAPI 1 is always OpenID Connect.
    pub openid: bool,
    pub profile: Profile,
}

impl Variant {
    /// Parses `plan[key=value]...`. Unknown plans, keys or values are errors; missing keys take
    /// the suite's defaults.
    pub fn parse(s: &str) -> Result<Variant, String> {
        let (name, rest) = s.split_once('[').map_or((s, ""), |(n, r)| (n, r));
        let plan = match name.trim() {
            "fapi1-advanced-final" => Plan::Fapi1Advanced,
            "fapi2-security-profile-final" => Plan::Fapi2Security,
            "fapi2-message-signing-final" => Plan::Fapi2MessageSigning,
            other => return Err(format!("unknown plan {other:?}")),
        };
        let mut values = BTreeMap::new();
        if !rest.is_empty() {
            let body = format!("[{rest}");
            for part in body.split('[').filter(|p| !p.is_empty()) {
                let part = part
                    .strip_suffix(']')
                    .ok_or_else(|| format!("variant {part:?} is not closed"))?;
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| format!("variant {part:?} is not key=value"))?;
                values.insert(k.to_owned(), v.to_owned());
            }
        }
        let mut take =
            |key: &str, default: &str| values.remove(key).unwrap_or_else(|| default.to_owned());
        let client_auth = match take("client_auth_type", "private_key_jwt").as_str() {
            "private_key_jwt" => ClientAuth::PrivateKeyJwt,
            "mtls" => ClientAuth::Mtls,
            v => return Err(format!("client_auth_type={v} is not known")),
        };
        let sender_constrain = match take("sender_constrain", "mtls").as_str() {
            "mtls" => SenderConstrain::Mtls,
            "dpop" if plan.is_fapi2() => SenderConstrain::Dpop,
            v => return Err(format!("sender_constrain={v} is not known for this plan")),
        };
        let response_mode = match take(
            "fapi_response_mode",
            if plan == Plan::Fapi2MessageSigning {
                "jarm"
            } else {
                "plain_response"
            },
        )
        .as_str()
        {
            "plain_response" => ResponseMode::Plain,
            "jarm" => ResponseMode::Jarm,
            v => return Err(format!("fapi_response_mode={v} is not known")),
        };
        let request_method = match take(
            "fapi_auth_request_method",
            if plan.is_fapi2() {
                "pushed"
            } else {
                "by_value"
            },
        )
        .as_str()
        {
            "by_value" if !plan.is_fapi2() => RequestMethod::ByValue,
            "pushed" => RequestMethod::Pushed,
            v => {
                return Err(format!(
                    "fapi_auth_request_method={v} is not known for this plan"
                ));
            }
        };
        let openid = match take("openid", "openid_connect").as_str() {
            "openid_connect" => true,
            "plain_oauth" if plan.is_fapi2() => false,
            v => return Err(format!("openid={v} is not known for this plan")),
        };
        let profile = match take("fapi_profile", "plain_fapi").as_str() {
            "plain_fapi" => Profile::PlainFapi,
            "openbanking_uk" => Profile::OpenBankingUk,
            v => return Err(format!("fapi_profile={v} is not known")),
        };
        // The FAPI 2 message-signing plan's request object and response signing are fixed.
        let _ = take("fapi_request_method", "signed_non_repudiation");
        if let Some(k) = values.keys().next() {
            return Err(format!("variant {k} is not known"));
        }
        Ok(Variant {
            plan,
            client_auth,
            sender_constrain,
            response_mode,
            request_method,
            openid,
            profile,
        })
    }

    /// Whether request objects are signed (FAPI 1 always; FAPI 2 message signing).
    pub fn signed_requests(&self) -> bool {
        self.plan != Plan::Fapi2Security
    }

    pub fn jarm(&self) -> bool {
        self.response_mode == ResponseMode::Jarm
    }

    pub fn dpop(&self) -> bool {
        self.sender_constrain == SenderConstrain::Dpop
    }

    pub fn pushed(&self) -> bool {
        self.request_method == RequestMethod::Pushed
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.client_auth {
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::Mtls => "mtls",
        };
        let profile = match self.profile {
            Profile::PlainFapi => "plain_fapi",
            Profile::OpenBankingUk => "openbanking_uk",
        };
        write!(f, "{}[client_auth_type={auth}]", self.plan.name())?;
        if self.plan.is_fapi2() {
            let sc = if self.dpop() { "dpop" } else { "mtls" };
            let oid = if self.openid {
                "openid_connect"
            } else {
                "plain_oauth"
            };
            write!(f, "[sender_constrain={sc}][openid={oid}]")?;
        } else {
            let rm = if self.jarm() {
                "jarm"
            } else {
                "plain_response"
            };
            let am = if self.pushed() { "pushed" } else { "by_value" };
            write!(
                f,
                "[fapi_response_mode={rm}][fapi_auth_request_method={am}]"
            )?;
        }
        write!(f, "[fapi_profile={profile}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_suites_notation() {
        let v = Variant::parse("fapi1-advanced-final[client_auth_type=mtls][fapi_response_mode=jarm][fapi_auth_request_method=pushed][fapi_profile=plain_fapi]").unwrap();
        assert_eq!(
            (v.plan, v.client_auth, v.jarm(), v.pushed()),
            (Plan::Fapi1Advanced, ClientAuth::Mtls, true, true)
        );
        let v = Variant::parse("fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop][openid=plain_oauth][fapi_profile=plain_fapi]").unwrap();
        assert!(v.dpop() && !v.openid && v.pushed() && !v.signed_requests());
        assert_eq!(Variant::parse(&v.to_string()).unwrap(), v, "round trip");
        assert!(Variant::parse("fapi1-advanced-final[sender_constrain=dpop]").is_err());
        assert!(Variant::parse("fapi2-security-profile-final[colour=blue]").is_err());
        assert!(Variant::parse("nope").is_err());
    }
}
