//! The test modules. Each is an async function over an [`Env`] that passes, fails with the
//! condition that showed the fault, or ends with a warning; `applies` says for which variants it
//! runs, as the suite's variant annotations do.

mod checks;
mod dpop;
mod fapi1;
mod fapi2;
mod flows;
pub(crate) mod obuk;
mod par;
#[cfg(test)]
pub(crate) mod testkit;
mod tls;

pub(crate) use par::request_uri_of;

use futures_util::future::BoxFuture;

use crate::env::{Env, Failure};
use crate::plan::Variant;

/// How a module ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Passed,
    Failed(Failure),
    Warning(String),
    Skipped(String),
}

pub type ModuleFn = for<'a> fn(&'a Env) -> BoxFuture<'a, Result<Outcome, Failure>>;

pub struct Module {
    /// The name without the plan prefix (`happy-flow`); empty for the plan's own happy path.
    pub suffix: &'static str,
    pub applies: fn(&Variant) -> bool,
    pub run: ModuleFn,
}

impl Module {
    pub fn name(&self, variant: &Variant) -> String {
        if self.suffix.is_empty() {
            variant.plan.name().to_owned()
        } else {
            format!("{}-{}", variant.plan.module_prefix(), self.suffix)
        }
    }
}

macro_rules! module {
    ($suffix:expr, $applies:expr, $f:path) => {
        Module {
            suffix: $suffix,
            applies: $applies,
            run: |env| Box::pin($f(env)),
        }
    };
}

fn always(_: &Variant) -> bool {
    true
}
fn fapi1(v: &Variant) -> bool {
    !v.plan.is_fapi2()
}
fn fapi2(v: &Variant) -> bool {
    v.plan.is_fapi2()
}
fn fapi1_happy(v: &Variant) -> bool {
    fapi1(v)
}
fn fapi2_happy(v: &Variant) -> bool {
    fapi2(v)
}
fn pushed(v: &Variant) -> bool {
    v.pushed()
}
fn private_key_jwt(v: &Variant) -> bool {
    v.client_auth == crate::plan::ClientAuth::PrivateKeyJwt
}
fn fapi1_private_key_jwt(v: &Variant) -> bool {
    fapi1(v) && private_key_jwt(v)
}
fn fapi2_private_key_jwt(v: &Variant) -> bool {
    fapi2(v) && private_key_jwt(v)
}
fn fapi1_plain_response(v: &Variant) -> bool {
    fapi1(v) && !v.jarm()
}
fn fapi1_by_value(v: &Variant) -> bool {
    fapi1(v) && !v.pushed()
}
fn mtls_bound(v: &Variant) -> bool {
    !v.dpop()
}
fn fapi2_mtls_bound(v: &Variant) -> bool {
    fapi2(v) && !v.dpop()
}
fn fapi1_mtls_bound(v: &Variant) -> bool {
    fapi1(v)
}
fn signed_requests(v: &Variant) -> bool {
    v.signed_requests()
}
fn signed_openid_requests(v: &Variant) -> bool {
    v.signed_requests() && v.openid
}
fn fapi2_dpop(v: &Variant) -> bool {
    fapi2(v) && v.dpop()
}
fn openbanking_uk(v: &Variant) -> bool {
    v.profile == crate::plan::Profile::OpenBankingUk
}

/// Every module, in the order the report lists them.
pub fn all() -> Vec<Module> {
    vec![
        module!("discovery-end-point-verification", always, flows::discovery),
        module!("", fapi1_happy, flows::fapi1_happy_path),
        module!("happy-flow", fapi2_happy, flows::fapi2_happy_flow),
        module!("user-rejects-authentication", always, flows::user_rejects),
        module!(
            "ensure-registered-redirect-uri",
            always,
            flows::unregistered_redirect
        ),
        module!(
            "ensure-authorization-request-without-state-success",
            fapi1,
            flows::without_state
        ),
        module!(
            "ensure-other-scope-order-succeeds",
            always,
            flows::other_scope_order
        ),
        module!(
            "ensure-request-object-with-long-nonce",
            signed_openid_requests,
            flows::long_nonce
        ),
        module!(
            "ensure-request-object-with-long-state",
            always,
            flows::long_state
        ),
        module!(
            "ensure-response-type-code-fails",
            fapi1_plain_response,
            flows::response_type_code_without_jarm
        ),
        module!(
            "ensure-authorization-request-without-request-object-fails",
            fapi1_by_value,
            flows::without_request_object
        ),
        module!(
            "ensure-response-type-code-idtoken-fails",
            fapi2,
            flows::fapi2_hybrid_refused
        ),
        module!(
            "ensure-unsigned-authorization-request-without-using-par-fails",
            fapi2,
            flows::fapi2_unpushed_refused
        ),
        module!(
            "ensure-request-object-without-exp-fails",
            signed_requests,
            flows::request_object_without_exp
        ),
        module!(
            "ensure-request-object-without-nbf-fails",
            signed_requests,
            flows::request_object_without_nbf
        ),
        module!(
            "ensure-expired-request-object-fails",
            signed_requests,
            flows::expired_request_object
        ),
        module!(
            "ensure-request-object-with-bad-aud-fails",
            signed_requests,
            flows::request_object_bad_aud
        ),
        module!(
            "ensure-request-object-with-exp-over-60-fails",
            signed_requests,
            flows::request_object_exp_over_60
        ),
        module!(
            "ensure-signed-request-object-with-RS256-fails",
            signed_requests,
            flows::request_object_rs256
        ),
        module!(
            "ensure-matching-key-in-authorization-request",
            signed_requests,
            flows::request_object_other_key
        ),
        module!(
            "ensure-request-object-with-multiple-aud-succeeds",
            signed_requests,
            flows::request_object_multiple_aud
        ),
        module!("ensure-valid-pkce-succeeds", always, flows::valid_pkce),
        module!(
            "incorrect-pkce-code-verifier-rejected",
            always,
            flows::incorrect_pkce
        ),
        module!(
            "ensure-pkce-code-verifier-required",
            always,
            flows::pkce_verifier_required
        ),
        module!(
            "ensure-client-id-in-token-endpoint",
            always,
            flows::client_id_in_token_endpoint
        ),
        module!(
            "ensure-authorization-code-is-bound-to-client",
            always,
            flows::code_bound_to_client
        ),
        module!(
            "attempt-reuse-authorisation-code-after-one-second",
            always,
            flows::code_reuse
        ),
        module!(
            "ensure-mtls-holder-of-key-required",
            fapi1_mtls_bound,
            flows::holder_of_key_required
        ),
        module!(
            "ensure-holder-of-key-required",
            fapi2_mtls_bound,
            flows::holder_of_key_required
        ),
        module!(
            "ensure-client-assertion-signature-algorithm-in-token-endpoint-request-is-RS256-fails",
            private_key_jwt,
            checks::assertion_rs256
        ),
        module!(
            "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails",
            private_key_jwt,
            checks::assertion_expired
        ),
        module!(
            "ensure-client-assertion-with-wrong-aud-fails",
            private_key_jwt,
            checks::assertion_wrong_aud
        ),
        module!(
            "ensure-client-assertion-with-no-sub-fails",
            private_key_jwt,
            checks::assertion_no_sub
        ),
        module!(
            "ensure-client-assertion-with-wrong-iss-fails",
            private_key_jwt,
            checks::assertion_wrong_iss
        ),
        module!(
            "ensure-client-assertion-with-iss-aud-succeeds",
            fapi1_private_key_jwt,
            checks::assertion_iss_aud
        ),
        module!("par-attempt-reuse-request_uri", pushed, flows::par_reuse),
        module!(
            "par-ensure-reused-request-uri-prior-to-auth-completion-succeeds",
            pushed,
            flows::par_reuse_before_completion
        ),
        module!(
            "par-attempt-to-use-request_uri-for-different-client",
            pushed,
            flows::par_other_client
        ),
        module!(
            "par-authorization-request-containing-request_uri-form-param",
            pushed,
            flows::par_with_request_uri
        ),
        module!("par-attempt-invalid-http-method", pushed, flows::par_get),
        module!("par-ensure-pkce-required", pushed, flows::par_pkce_required),
        module!("par-plain-pkce-rejected", pushed, flows::par_plain_pkce),
        module!(
            "par-test-array-as-audience-fails",
            fapi2_private_key_jwt,
            checks::par_array_aud_refused
        ),
        module!(
            "par-test-token-endpoint-url-as-audience-fails",
            fapi2_private_key_jwt,
            checks::par_token_url_aud_refused
        ),
        module!(
            "ensure-dpop-auth-code-binding-success",
            fapi2_dpop,
            flows::dpop_code_binding
        ),
        module!("refresh-token", mtls_bound, flows::refresh_token),
        // DPoP and FAPI 2
        module!("check-dpop-proof-nbf-exp", fapi2_dpop, dpop::nbf_exp),
        module!(
            "ensure-dpopproof-with-iat-10seconds-before-succeeds",
            fapi2_dpop,
            dpop::iat_10_seconds_before_succeeds
        ),
        module!(
            "ensure-dpopproof-with-iat-10seconds-after-succeeds",
            fapi2_dpop,
            dpop::iat_10_seconds_after_succeeds
        ),
        module!(
            "ensure-mismatched-dpop-jkt-fails",
            fapi2_dpop,
            dpop::mismatched_dpop_jkt_at_par
        ),
        module!(
            "ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt",
            fapi2_dpop,
            dpop::mismatched_proof_jkt_at_token
        ),
        module!(
            "ensure-token-endpoint-fails-with-mismatched-dpop-jkt",
            fapi2_dpop,
            dpop::mismatched_dpop_jkt_at_token
        ),
        module!(
            "ensure-dpopproof-at-par-endpoint-binding-success",
            fapi2_dpop,
            dpop::par_binding_success
        ),
        module!("dpop-negative-tests", fapi2_dpop, dpop::negative_tests),
        module!(
            "ensure-authorization-request-without-nonce-success",
            |v| fapi2(v) && v.openid,
            fapi2::without_nonce
        ),
        module!(
            "ensure-authorization-request-with-64-char-nonce-success",
            |v| fapi2(v) && v.openid,
            fapi2::nonce_64_chars
        ),
        module!(
            "ensure-different-state-inside-and-outside-request-object",
            fapi2,
            fapi2::different_state_outside
        ),
        module!(
            "plain-fapi-tolerate-unregistered-redirect-uri",
            |v| fapi2(v) && v.profile == crate::plan::Profile::PlainFapi,
            fapi2::tolerate_unregistered_redirect
        ),
        module!(
            "ensure-response-type-token-fails",
            fapi2,
            fapi2::response_type_token
        ),
        module!(
            "ensure-token-endpoint-fails-with-expired-auth-code",
            fapi2,
            fapi2::expired_code
        ),
        module!(
            "par-test-par-endpoint-url-as-audience-fails",
            fapi2_private_key_jwt,
            fapi2::par_url_as_audience
        ),
        module!(
            "par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted",
            fapi2_private_key_jwt,
            fapi2::assertion_8_seconds_ahead
        ),
        module!(
            "par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails",
            fapi2_private_key_jwt,
            fapi2::assertion_over_60_seconds_ahead
        ),
        module!(
            "ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted",
            |v| fapi2(v) && v.signed_requests(),
            fapi2::request_object_nbf_8_seconds_ahead
        ),
        module!(
            "ensure-unsigned-request-at-par-endpoint-fails",
            |v| fapi2(v) && v.signed_requests(),
            fapi2::unsigned_request_at_par
        ),
        module!(
            "test-claims-parameter-identity-claims",
            |v| fapi2(v) && v.openid,
            fapi2::claims_parameter_identity_claims
        ),
        // FAPI 1 and PAR
        // First of the block: it waits out the request_uri's lifetime while the others run.
        module!(
            "par-attempt-to-use-expired-request_uri",
            pushed,
            par::expired_request_uri
        ),
        module!(
            "ensure-request-object-with-64-char-nonce-success",
            fapi1,
            fapi1::with_64_char_nonce
        ),
        module!(
            "ensure-response-mode-query",
            fapi1,
            fapi1::response_mode_query
        ),
        module!(
            "ensure-different-nonce-inside-and-outside-request-object",
            fapi1::openid,
            fapi1::different_nonce_outside
        ),
        module!(
            "state-only-outside-request-object-not-used",
            always,
            fapi1::state_only_outside
        ),
        module!(
            "ensure-redirect-uri-in-authorization-request",
            always,
            fapi1::redirect_uri_in_authorization_request
        ),
        module!(
            "ensure-request-object-without-scope-fails",
            fapi1,
            fapi1::request_object_without_scope
        ),
        module!(
            "ensure-request-object-without-nonce-fails",
            fapi1,
            fapi1::request_object_without_nonce
        ),
        module!(
            "ensure-request-object-without-redirect-uri-fails",
            always,
            fapi1::request_object_without_redirect_uri
        ),
        module!(
            "ensure-request-object-with-nbf-over-60-fails",
            signed_requests,
            fapi1::request_object_nbf_over_60
        ),
        module!(
            "ensure-request-object-signature-algorithm-is-not-none",
            signed_requests,
            fapi1::request_object_alg_none
        ),
        module!(
            "ensure-request-object-with-invalid-signature-fails",
            signed_requests,
            fapi1::request_object_invalid_signature
        ),
        module!(
            "access-token-type-header-case-sensitivity",
            always,
            fapi1::access_token_type_case
        ),
        module!(
            "ensure-client-assertion-in-token-endpoint",
            private_key_jwt,
            fapi1::client_assertion_in_token_endpoint
        ),
        module!(
            "ensure-client-assertion-with-wrong-sub-fails",
            fapi1_private_key_jwt,
            fapi1::client_assertion_wrong_sub
        ),
        module!(
            "par-pushed-authorization-url-as-audience-in-request-object",
            par::fapi1_pushed,
            par::par_url_as_request_object_aud
        ),
        module!(
            "par-attempt-invalid-redirect_uri",
            par::fapi1_pushed,
            par::invalid_redirect_uri
        ),
        module!(
            "par-authorization-request-containing-request_uri",
            par::pushed_signed,
            par::request_uri_in_request_object
        ),
        module!(
            "par-without-duplicate-parameters",
            pushed,
            par::without_duplicate_parameters
        ),
        module!(
            "par-test-pushed-authorization-url-as-audience-for-client-JWT-assertion",
            par::fapi1_pushed_private_key_jwt,
            par::par_url_as_assertion_aud
        ),
        module!(
            "par-token-endpoint-url-as-audience-for-client-JWT-assertion",
            par::fapi1_pushed_private_key_jwt,
            par::token_url_as_assertion_aud
        ),
        module!(
            "test-array-as-audience-for-client-JWT-assertion",
            fapi1_private_key_jwt,
            par::array_as_assertion_aud
        ),
        module!(
            "par-ensure-client-assertion-with-wrong-aud-fails",
            par::fapi1_pushed_private_key_jwt,
            par::assertion_wrong_aud
        ),
        module!(
            "par-ensure-client-assertion-with-wrong-iss-fails",
            par::fapi1_pushed_private_key_jwt,
            par::assertion_wrong_iss
        ),
        module!(
            "par-ensure-client-assertion-with-wrong-sub-fails",
            par::fapi1_pushed_private_key_jwt,
            par::assertion_wrong_sub
        ),
        // UK Open Banking
        module!(
            "ensure-server-handles-non-matching-intent-id",
            openbanking_uk,
            obuk::non_matching_intent
        ),
        module!(
            "test-essential-acr-sca-claim",
            openbanking_uk,
            obuk::essential_acr_sca
        ),
    ]
}

/// The modules that run for `variant`.
pub fn selected(variant: &Variant) -> Vec<Module> {
    all().into_iter().filter(|m| (m.applies)(variant)).collect()
}
