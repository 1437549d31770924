//! The OpenAPI 3 document of the bundled APIs (account information and payment initiation),
//! served without a token at [`PATH`] on the resource listener. Paths come from the same
//! constants the router uses, so the document cannot name a route that does not exist.

use axum::Json;
use axum::extract::State;
use consentry_server::http::oauth::mtls_url;
use serde_json::{Map, Value, json};

use crate::Api;
use crate::aisp;

pub const PATH: &str = "/open-banking/v3.1/openapi.json";

/// The payment-initiation paths (UK OB Payment Initiation API 3.1).
pub mod pisp_paths {
    pub const CONSENTS: &str = "/open-banking/v3.1/pisp/domestic-payment-consents";
    pub const CONSENT: &str = "/open-banking/v3.1/pisp/domestic-payment-consents/{ConsentId}";
    pub const FUNDS: &str =
        "/open-banking/v3.1/pisp/domestic-payment-consents/{ConsentId}/funds-confirmation";
    pub const PAYMENTS: &str = "/open-banking/v3.1/pisp/domestic-payments";
    pub const PAYMENT: &str = "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}";
    pub const PAYMENT_DETAILS: &str =
        "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}/payment-details";
}

/// `GET /open-banking/v3.1/openapi.json`.
pub async fn document_handler(State(api): State<Api>) -> Json<Value> {
    Json(document(
        api.app.config.resource_base_url().as_str(),
        api.app.config.server.issuer.as_str(),
        &mtls_url(&api.app, "/token"),
    ))
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn header_param(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// One operation: its summary, scheme (`tpp` for client_credentials, `psu` for an authorised
/// consent), parameters, request schema, and success status and schema.
struct Op<'a> {
    summary: &'a str,
    tag: &'a str,
    psu: bool,
    scope: &'a str,
    params: &'a [&'a str],
    request: Option<&'a str>,
    status: &'a str,
    response: Option<&'a str>,
}

impl Op<'_> {
    fn build(&self) -> Value {
        let mut parameters: Vec<Value> = self.params.iter().map(|p| header_param(p)).collect();
        for common in [
            "x-fapi-auth-date",
            "x-fapi-customer-ip-address",
            "x-fapi-interaction-id",
            "Authorization",
        ] {
            parameters.push(header_param(common));
        }
        let scheme = if self.psu {
            "PSUOAuth2Security"
        } else {
            "TPPOAuth2Security"
        };
        let mut ok = json!({
            "description": "Success",
            "headers": {"x-fapi-interaction-id": {"$ref": "#/components/headers/x-fapi-interaction-id"}},
        });
        if let Some(schema) = self.response {
            ok["content"] =
                json!({"application/json; charset=utf-8": {"schema": reference(schema)}});
        }
        let mut responses = Map::new();
        responses.insert(self.status.to_owned(), ok);
        for (status, description) in [
            ("400", "Bad request"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("404", "Not found"),
            ("405", "Method not allowed"),
            ("406", "Not acceptable"),
            ("415", "Unsupported media type"),
            ("429", "Too many requests"),
            ("500", "Internal server error"),
        ] {
            responses.insert(
                status.to_owned(),
                json!({"description": description, "content": {"application/json; charset=utf-8": {"schema": reference("OBErrorResponse1")}}}),
            );
        }
        let mut op = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "operationId": self.summary.replace(' ', ""),
            "parameters": parameters,
            "security": [{scheme: [self.scope]}],
            "responses": responses,
        });
        if let Some(schema) = self.request {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": reference(schema)}},
            });
        }
        op
    }
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

/// `{"Data": {<list>: [item]}, "Links", "Meta"}`.
fn read_list(list: &str, item: Value) -> Value {
    object(
        &["Data"],
        json!({
            "Data": object(&[], json!({list: {"type": "array", "items": item}})),
            "Links": reference("Links"),
            "Meta": reference("Meta"),
        }),
    )
}

fn schemas() -> Value {
    let amount = reference("OBActiveOrHistoricCurrencyAndAmount");
    let credit_debit = json!({"type": "string", "enum": ["Credit", "Debit"]});
    let cash_account = object(
        &[],
        json!({"SchemeName": string(), "Identification": string(), "Name": string(), "SecondaryIdentification": string()}),
    );
    let permissions = json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum":
        consentry_server::consent::Permission::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()}});
    let consent_status = json!({"type": "string", "enum": ["AwaitingAuthorisation", "Authorised", "Rejected", "Revoked", "Expired", "Consumed"]});
    let initiation = object(
        &[
            "InstructionIdentification",
            "EndToEndIdentification",
            "InstructedAmount",
            "CreditorAccount",
        ],
        json!({
            "InstructionIdentification": string(),
            "EndToEndIdentification": string(),
            "LocalInstrument": string(),
            "InstructedAmount": amount,
            "DebtorAccount": cash_account,
            "CreditorAccount": cash_account,
            "RemittanceInformation": object(&[], json!({"Unstructured": string(), "Reference": string()})),
        }),
    );
    let payment_status = json!({"type": "string", "enum": [
        "Pending", "Rejected", "AcceptedSettlementInProcess", "AcceptedSettlementCompleted",
        "AcceptedWithoutPosting", "AcceptedCreditSettlementCompleted"]});
    json!({
        "OBActiveOrHistoricCurrencyAndAmount": object(&["Amount", "Currency"], json!({
            "Amount": {"type": "string", "pattern": "^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$"},
            "Currency": {"type": "string", "pattern": "^[A-Z]{3,3}$"},
        })),
        "Links": object(&["Self"], json!({"Self": string(), "First": string(), "Prev": string(), "Next": string(), "Last": string()})),
        "Meta": object(&[], json!({"TotalPages": {"type": "integer"}, "FirstAvailableDateTime": date_time(), "LastAvailableDateTime": date_time()})),
        "OBError1": object(&["ErrorCode", "Message"], json!({"ErrorCode": string(), "Message": string(), "Path": string(), "Url": string()})),
        "OBErrorResponse1": object(&["Code", "Message", "Errors"], json!({
            "Code": string(), "Id": string(), "Message": string(),
            "Errors": {"type": "array", "minItems": 1, "items": reference("OBError1")},
        })),
        "OBReadConsent1": object(&["Data", "Risk"], json!({
            "Data": object(&["Permissions"], json!({
                "Permissions": permissions,
                "ExpirationDateTime": date_time(),
                "TransactionFromDateTime": date_time(),
                "TransactionToDateTime": date_time(),
            })),
            "Risk": {"type": "object"},
        })),
        "OBReadConsentResponse1": object(&["Data", "Risk"], json!({
            "Data": object(&["ConsentId", "CreationDateTime", "Status", "StatusUpdateDateTime", "Permissions"], json!({
                "ConsentId": string(), "CreationDateTime": date_time(), "Status": consent_status,
                "StatusUpdateDateTime": date_time(), "Permissions": permissions,
                "ExpirationDateTime": date_time(), "TransactionFromDateTime": date_time(), "TransactionToDateTime": date_time(),
            })),
            "Risk": {"type": "object"},
            "Links": reference("Links"),
            "Meta": reference("Meta"),
        })),
        "OBReadAccount6": read_list("Account", object(&["AccountId", "Currency", "AccountType", "AccountSubType"], json!({
            "AccountId": string(), "Status": string(), "StatusUpdateDateTime": date_time(), "Currency": string(),
            "AccountType": {"type": "string", "enum": ["Business", "Personal"]}, "AccountSubType": string(),
            "Nickname": string(), "OpeningDate": date_time(),
            "Account": {"type": "array", "items": cash_account, "description": "With ReadAccountsDetail"},
        }))),
        "OBReadBalance1": read_list("Balance", object(&["AccountId", "Amount", "CreditDebitIndicator", "Type", "DateTime"], json!({
            "AccountId": string(), "Amount": amount, "CreditDebitIndicator": credit_debit,
            "Type": {"type": "string", "enum": ["InterimAvailable", "InterimBooked"]}, "DateTime": date_time(),
        }))),
        "OBReadTransaction6": read_list("Transaction", object(&["AccountId", "CreditDebitIndicator", "Status", "BookingDateTime", "Amount"], json!({
            "AccountId": string(), "TransactionId": string(), "CreditDebitIndicator": credit_debit,
            "Status": {"type": "string", "enum": ["Booked", "Pending"]},
            "BookingDateTime": date_time(), "ValueDateTime": date_time(), "Amount": amount,
            "BankTransactionCode": object(&["Code", "SubCode"], json!({"Code": string(), "SubCode": string()})),
            "ProprietaryBankTransactionCode": object(&["Code"], json!({"Code": string(), "Issuer": string()})),
            "TransactionInformation": {"type": "string", "description": "With ReadTransactionsDetail"},
            "Balance": object(&["Amount", "CreditDebitIndicator", "Type"], json!({"Amount": amount, "CreditDebitIndicator": credit_debit, "Type": string()})),
            "CreditorAccount": cash_account, "DebtorAccount": cash_account,
        }))),
        "OBReadBeneficiary5": read_list("Beneficiary", object(&["AccountId", "BeneficiaryId"], json!({
            "AccountId": string(), "BeneficiaryId": string(), "Reference": string(),
            "CreditorAccount": {"description": "With ReadBeneficiariesDetail", "allOf": [cash_account]},
        }))),
        "OBWriteDomesticConsent4": object(&["Data", "Risk"], json!({
            "Data": object(&["Initiation"], json!({"Initiation": initiation})),
            "Risk": {"type": "object"},
        })),
        "OBWriteDomesticConsentResponse5": object(&["Data", "Risk", "Links", "Meta"], json!({
            "Data": object(&["ConsentId", "CreationDateTime", "Status", "StatusUpdateDateTime", "Initiation"], json!({
                "ConsentId": string(), "CreationDateTime": date_time(), "Status": consent_status,
                "StatusUpdateDateTime": date_time(), "Initiation": initiation,
            })),
            "Risk": {"type": "object"}, "Links": reference("Links"), "Meta": reference("Meta"),
        })),
        "OBWriteFundsConfirmationResponse1": object(&["Data", "Links", "Meta"], json!({
            "Data": object(&[], json!({"FundsAvailableResult": object(&["FundsAvailableDateTime", "FundsAvailable"], json!({
                "FundsAvailableDateTime": date_time(), "FundsAvailable": {"type": "boolean"},
            }))})),
            "Links": reference("Links"), "Meta": reference("Meta"),
        })),
        "OBWriteDomestic2": object(&["Data", "Risk"], json!({
            "Data": object(&["ConsentId", "Initiation"], json!({"ConsentId": string(), "Initiation": initiation})),
            "Risk": {"type": "object"},
        })),
        "OBWriteDomesticResponse5": object(&["Data", "Links", "Meta"], json!({
            "Data": object(&["DomesticPaymentId", "ConsentId", "CreationDateTime", "Status", "StatusUpdateDateTime", "Initiation"], json!({
                "DomesticPaymentId": string(), "ConsentId": string(), "CreationDateTime": date_time(),
                "Status": payment_status, "StatusUpdateDateTime": date_time(), "Initiation": initiation,
            })),
            "Links": reference("Links"), "Meta": reference("Meta"),
        })),
        "OBWritePaymentDetailsResponse1": object(&["Data", "Links", "Meta"], json!({
            "Data": object(&[], json!({"PaymentStatus": {"type": "array", "items": object(&["PaymentTransactionId", "Status", "StatusUpdateDateTime"], json!({
                "PaymentTransactionId": string(), "Status": string(), "StatusUpdateDateTime": date_time(),
            }))}})),
            "Links": reference("Links"), "Meta": reference("Meta"),
        })),
    })
}

fn parameters() -> Value {
    let header = |name: &str, required: bool, description: &str| json!({"name": name, "in": "header", "required": required, "description": description, "schema": {"type": "string"}});
    json!({
        "Authorization": header("Authorization", true, "An access token as per RFC 6750 (Bearer) or RFC 9449 (DPoP); never in the query"),
        "x-fapi-auth-date": header("x-fapi-auth-date", false, "The time when the PSU last logged in with the TPP, as an HTTP date (RFC 7231)"),
        "x-fapi-customer-ip-address": header("x-fapi-customer-ip-address", false, "The PSU's IP address (IPv4 or IPv6) if the PSU is present"),
        "x-fapi-interaction-id": header("x-fapi-interaction-id", false, "An RFC 4122 UID used as a correlation id; echoed, or generated when absent"),
        "x-idempotency-key": header("x-idempotency-key", true, "Every request is processed only once per x-idempotency-key (up to 40 characters)"),
        "x-jws-signature": header("x-jws-signature", true, "A detached JWS (b64=false) of the body, signed with the TPP's registered key"),
        "fromBookingDateTime": {"name": "fromBookingDateTime", "in": "query", "required": false, "schema": date_time()},
        "toBookingDateTime": {"name": "toBookingDateTime", "in": "query", "required": false, "schema": date_time()},
        "page": {"name": "page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1}},
    })
}

/// The document for a deployment whose resource listener is at `resource_base`, issuer at
/// `issuer` and token endpoint at `token_url`.
pub fn document(resource_base: &str, issuer: &str, token_url: &str) -> Value {
    let ais = |summary, psu, params: &'static [&'static str], request, status, response| {
        Op {
            summary,
            tag: "Account Information",
            psu,
            scope: "accounts",
            params,
            request,
            status,
            response,
        }
        .build()
    };
    let pis = |summary, psu, params: &'static [&'static str], request, status, response| {
        Op {
            summary,
            tag: "Payment Initiation",
            psu,
            scope: "payments",
            params,
            request,
            status,
            response,
        }
        .build()
    };
    let with_path = |mut op: Value, name: &str| {
        if let Some(list) = op["parameters"].as_array_mut() {
            list.insert(0, path_param(name));
        }
        op
    };
    let paging: &'static [&'static str] = &["fromBookingDateTime", "toBookingDateTime", "page"];
    let psu_read = |summary: &'static str,
                    response: &'static str,
                    path: Option<&str>,
                    params: &'static [&'static str]| {
        let op = ais(summary, true, params, None, "200", Some(response));
        match path {
            Some(name) => json!({"get": with_path(op, name)}),
            None => json!({"get": op}),
        }
    };
    let paths = json!({
        (aisp::CONSENTS): {"post": ais("Create Account Access Consents", false, &[], Some("OBReadConsent1"), "201", Some("OBReadConsentResponse1"))},
        (aisp::CONSENT): {
            "get": with_path(ais("Get Account Access Consents ConsentId", false, &[], None, "200", Some("OBReadConsentResponse1")), "ConsentId"),
            "delete": with_path(ais("Delete Account Access Consents ConsentId", false, &[], None, "204", None), "ConsentId"),
        },
        (aisp::ACCOUNTS): psu_read("Get Accounts", "OBReadAccount6", None, &[]),
        (aisp::ACCOUNT): psu_read("Get Accounts AccountId", "OBReadAccount6", Some("AccountId"), &[]),
        (aisp::BALANCES): psu_read("Get Balances", "OBReadBalance1", None, &[]),
        (aisp::ACCOUNT_BALANCES): psu_read("Get Accounts AccountId Balances", "OBReadBalance1", Some("AccountId"), &[]),
        (aisp::TRANSACTIONS): psu_read("Get Transactions", "OBReadTransaction6", None, paging),
        (aisp::ACCOUNT_TRANSACTIONS): psu_read("Get Accounts AccountId Transactions", "OBReadTransaction6", Some("AccountId"), paging),
        (aisp::BENEFICIARIES): psu_read("Get Beneficiaries", "OBReadBeneficiary5", None, &[]),
        (aisp::ACCOUNT_BENEFICIARIES): psu_read("Get Accounts AccountId Beneficiaries", "OBReadBeneficiary5", Some("AccountId"), &[]),
        (pisp_paths::CONSENTS): {"post": pis("Create Domestic Payment Consents", false, &["x-idempotency-key", "x-jws-signature"], Some("OBWriteDomesticConsent4"), "201", Some("OBWriteDomesticConsentResponse5"))},
        (pisp_paths::CONSENT): {"get": with_path(pis("Get Domestic Payment Consents ConsentId", false, &[], None, "200", Some("OBWriteDomesticConsentResponse5")), "ConsentId")},
        (pisp_paths::FUNDS): {"get": with_path(pis("Get Domestic Payment Consents ConsentId Funds Confirmation", true, &[], None, "200", Some("OBWriteFundsConfirmationResponse1")), "ConsentId")},
        (pisp_paths::PAYMENTS): {"post": pis("Create Domestic Payments", true, &["x-idempotency-key", "x-jws-signature"], Some("OBWriteDomestic2"), "201", Some("OBWriteDomesticResponse5"))},
        (pisp_paths::PAYMENT): {"get": with_path(pis("Get Domestic Payments DomesticPaymentId", false, &[], None, "200", Some("OBWriteDomesticResponse5")), "DomesticPaymentId")},
        (pisp_paths::PAYMENT_DETAILS): {"get": with_path(pis("Get Domestic Payments DomesticPaymentId Payment Details", false, &[], None, "200", Some("OBWritePaymentDetailsResponse1")), "DomesticPaymentId")},
    });
    let issuer = issuer.trim_end_matches('/');
    let scopes = json!({"accounts": "Account information", "payments": "Payment initiation"});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Consentry bundled UK Open Banking APIs",
            "description": "Account and Transaction API and Payment Initiation API, UK Open Banking Read/Write API 3.1. Every call needs mTLS with the TPP's certificate and a sender-constrained access token.",
            "version": "3.1",
        },
        "servers": [{"url": resource_base.trim_end_matches('/')}],
        "tags": [{"name": "Account Information"}, {"name": "Payment Initiation"}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "parameters": parameters(),
            "headers": {"x-fapi-interaction-id": {"description": "The interaction id of the request, or a new one", "schema": {"type": "string"}}},
            "securitySchemes": {
                "TPPOAuth2Security": {
                    "type": "oauth2",
                    "description": "A client_credentials token of the TPP (private_key_jwt or tls_client_auth, certificate-bound)",
                    "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": scopes}},
                },
                "PSUOAuth2Security": {
                    "type": "oauth2",
                    "description": "A token of an authorization of the consent by the PSU (openbanking_intent_id), certificate- or DPoP-bound",
                    "flows": {"authorizationCode": {"authorizationUrl": format!("{issuer}/authorize"), "tokenUrl": token_url, "scopes": scopes}},
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers() {
        let doc = document(
            "https://rs.example:8445/",
            "https://as.example/",
            "https://mtls.example/token",
        );
        assert_eq!(doc["servers"][0]["url"], "https://rs.example:8445");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 16);
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"].as_object().unwrap().len() >= 10,
                    "{method} {path}"
                );
                let templated = path.matches('{').count();
                let in_path = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .count();
                assert_eq!(templated, in_path, "{method} {path}");
            }
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["PSUOAuth2Security"]["flows"]["authorizationCode"]
                ["authorizationUrl"],
            "https://as.example/authorize"
        );
    }
}
