//! The `Initiation` of a domestic payment (UK OB 3.1 `OBWriteDomestic2DataInitiation`), parsed
//! from what the TPP sent: identifiers, the instructed amount in minor units, the creditor and
//! optional debtor account, the remittance information. The JSON as sent is kept alongside (it is
//! echoed in responses and compared on payment submission); this is the typed reading of it.

use consentry_server::demo::bank::{SCHEME_IBAN, SCHEME_SORT_CODE, iban_is_valid};
use serde_json::{Map, Value};

use crate::error::{ApiError, ObErrorCode};

/// Currencies the bundled bank pays in, with their minor-unit exponent.
const CURRENCIES: &[(&str, u32)] = &[("GBP", 2), ("EUR", 2)];
/// Whole-unit digits allowed by the specification's amount pattern `^\d{1,13}(\.\d{1,5})?$`.
const MAX_WHOLE_DIGITS: usize = 13;

/// An account as a payment names it (`OBCashAccountCreditor3` / `OBCashAccountDebtor4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// `UK.OBIE.SortCodeAccountNumber` or `UK.OBIE.IBAN`.
    pub scheme_name: String,
    pub identification: String,
    pub name: Option<String>,
}

/// A domestic payment's initiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiation {
    pub instruction_identification: String,
    pub end_to_end_identification: String,
    pub amount_minor: i64,
    pub currency: String,
    pub creditor: AccountRef,
    pub debtor: Option<AccountRef>,
    /// `RemittanceInformation.Reference`.
    pub reference: Option<String>,
    /// `RemittanceInformation.Unstructured`.
    pub unstructured: Option<String>,
}

impl Initiation {
    /// What the ledger postings say: the reference, else the unstructured remittance
    /// information, else the end-to-end identification.
    pub fn description(&self) -> &str {
        self.reference
            .as_deref()
            .or(self.unstructured.as_deref())
            .unwrap_or(&self.end_to_end_identification)
    }
}

fn missing(path: &str) -> ApiError {
    ApiError::field(
        ObErrorCode::FieldMissing,
        path,
        format!("{path} is required"),
    )
}

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(ObErrorCode::FieldInvalid, path, message)
}

/// The object at `name` of `parent` (whose path is `path`).
pub fn object<'v>(
    parent: &'v Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<&'v Map<String, Value>, ApiError> {
    let here = format!("{path}.{name}");
    match parent.get(name) {
        None | Some(Value::Null) => Err(missing(&here)),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(invalid(&here, format!("{here} must be an object"))),
    }
}

fn optional_object<'v>(
    parent: &'v Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<&'v Map<String, Value>>, ApiError> {
    match parent.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => object(parent, path, name).map(Some),
    }
}

/// A text of 1 to `max` characters, if present.
fn optional_text(
    parent: &Map<String, Value>,
    path: &str,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let here = format!("{path}.{name}");
    match parent.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(
            &here,
            format!("{here} must be 1 to {max} characters"),
        )),
        Some(_) => Err(invalid(&here, format!("{here} must be a string"))),
    }
}

fn text(
    parent: &Map<String, Value>,
    path: &str,
    name: &str,
    max: usize,
) -> Result<String, ApiError> {
    optional_text(parent, path, name, max)?.ok_or_else(|| missing(&format!("{path}.{name}")))
}

/// The minor units of `amount` in `currency`: a decimal above zero with at most as many
/// decimals as the currency has.
pub fn parse_amount(amount: &str, currency: &str) -> Result<i64, &'static str> {
    let exponent = CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, e)| *e)
        .ok_or("the currency is not supported")?;
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > MAX_WHOLE_DIGITS
        || !digits(whole)
        || !digits(fraction)
        || (amount.contains('.') && fraction.is_empty())
    {
        return Err("the amount must be a decimal number such as 10.50");
    }
    if fraction.len() > exponent as usize {
        return Err("the amount has more decimals than the currency");
    }
    let whole: i64 = whole.parse().map_err(|_| "the amount is too large")?;
    let mut minor = whole;
    for i in 0..exponent as usize {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(digit))
            .ok_or("the amount is too large")?;
    }
    if minor <= 0 {
        return Err("the amount must be more than zero");
    }
    Ok(minor)
}

/// An account identification in its scheme's form: a 6-digit sort code followed by an 8-digit
/// account number, or an IBAN (upper case, no spaces, valid check digits).
fn check_identification(scheme: &str, identification: &str) -> Result<(), &'static str> {
    match scheme {
        SCHEME_SORT_CODE => {
            if identification.len() == 14 && identification.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err("a sort code and account number is 14 digits")
            }
        }
        SCHEME_IBAN => {
            if (15..=34).contains(&identification.len()) && iban_is_valid(identification) {
                Ok(())
            } else {
                Err("not a valid IBAN (upper case, no spaces, valid check digits)")
            }
        }
        _ => Err("the scheme is not supported"),
    }
}

fn account(
    parent: &Map<String, Value>,
    path: &str,
    name: &str,
    name_required: bool,
) -> Result<Option<AccountRef>, ApiError> {
    let Some(account) = optional_object(parent, path, name)? else {
        return Ok(None);
    };
    let here = format!("{path}.{name}");
    let scheme_name = text(account, &here, "SchemeName", 40)?;
    if scheme_name != SCHEME_SORT_CODE && scheme_name != SCHEME_IBAN {
        return Err(ApiError::field(
            ObErrorCode::UnsupportedScheme,
            format!("{here}.SchemeName"),
            format!("{here}.SchemeName must be {SCHEME_SORT_CODE} or {SCHEME_IBAN}"),
        ));
    }
    let identification = text(account, &here, "Identification", 256)?;
    check_identification(&scheme_name, &identification).map_err(|why| {
        ApiError::field(
            ObErrorCode::UnsupportedAccountIdentifier,
            format!("{here}.Identification"),
            format!("{here}.Identification: {why}"),
        )
    })?;
    let holder = if name_required {
        Some(text(account, &here, "Name", 70)?)
    } else {
        optional_text(account, &here, "Name", 70)?
    };
    optional_text(account, &here, "SecondaryIdentification", 34)?;
    Ok(Some(AccountRef {
        scheme_name,
        identification,
        name: holder,
    }))
}

/// Reads `Data.Initiation` (`initiation`, at `path`).
pub fn parse_initiation(
    initiation: &Map<String, Value>,
    path: &str,
) -> Result<Initiation, ApiError> {
    let instruction_identification = text(initiation, path, "InstructionIdentification", 35)?;
    let end_to_end_identification = text(initiation, path, "EndToEndIdentification", 35)?;
    optional_text(initiation, path, "LocalInstrument", 50)?;

    let amount_path = format!("{path}.InstructedAmount");
    let instructed = object(initiation, path, "InstructedAmount")?;
    let currency = text(instructed, &amount_path, "Currency", 3)?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            &format!("{amount_path}.Currency"),
            "the currency must be an ISO 4217 code such as GBP",
        ));
    }
    if !CURRENCIES.iter().any(|(c, _)| *c == currency) {
        return Err(ApiError::field(
            ObErrorCode::UnsupportedCurrency,
            format!("{amount_path}.Currency"),
            format!("payments in {currency} are not supported (GBP, EUR)"),
        ));
    }
    let amount = text(instructed, &amount_path, "Amount", 19)?;
    let amount_minor = parse_amount(&amount, &currency)
        .map_err(|why| invalid(&format!("{amount_path}.Amount"), why))?;

    let creditor = account(initiation, path, "CreditorAccount", true)?
        .ok_or_else(|| missing(&format!("{path}.CreditorAccount")))?;
    let debtor = account(initiation, path, "DebtorAccount", false)?;
    optional_object(initiation, path, "CreditorPostalAddress")?;
    let (reference, unstructured) =
        match optional_object(initiation, path, "RemittanceInformation")? {
            Some(remittance) => {
                let here = format!("{path}.RemittanceInformation");
                (
                    optional_text(remittance, &here, "Reference", 35)?,
                    optional_text(remittance, &here, "Unstructured", 140)?,
                )
            }
            None => (None, None),
        };
    Ok(Initiation {
        instruction_identification,
        end_to_end_identification,
        amount_minor,
        currency,
        creditor,
        debtor,
        reference,
        unstructured,
    })
}

/// A domestic-payment consent request (`OBWriteDomesticConsent4`), read.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentRequest {
    /// `Data` as sent.
    pub data: Map<String, Value>,
    /// `Risk` as sent.
    pub risk: Value,
    pub initiation: Initiation,
}

/// Reads a consent request body.
pub fn parse_consent_request(body: &Map<String, Value>) -> Result<ConsentRequest, ApiError> {
    let data = object(body, "$", "Data")?;
    let risk = object(body, "$", "Risk")?;
    let initiation = parse_initiation(object(data, "Data", "Initiation")?, "Data.Initiation")?;
    Ok(ConsentRequest {
        data: data.clone(),
        risk: Value::Object(risk.clone()),
        initiation,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request() -> Value {
        json!({
            "Data": {
                "Initiation": {
                    "InstructionIdentification": "ACME412",
                    "EndToEndIdentification": "FRESCO.21302.GFX.20",
                    "InstructedAmount": { "Amount": "165.88", "Currency": "GBP" },
                    "CreditorAccount": {
                        "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                        "Identification": "08080021325698",
                        "Name": "ACME Inc",
                        "SecondaryIdentification": "0002"
                    },
                    "RemittanceInformation": { "Reference": "FRESCO-101", "Unstructured": "Internal ops code 5120101" }
                }
            },
            "Risk": { "PaymentContextCode": "EcommerceGoods" }
        })
    }

    fn parse(v: &Value) -> Result<ConsentRequest, ApiError> {
        parse_consent_request(v.as_object().unwrap())
    }

    fn refused(v: &Value) -> (&'static str, String) {
        let e = parse(v).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        let d = &e.errors[0];
        (d.code.as_str(), d.path.clone().unwrap_or_default())
    }

    fn with(path: &[&str], value: Value) -> Value {
        let mut v = request();
        let mut at = &mut v;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        let last = path[path.len() - 1];
        if value.is_null() {
            at.as_object_mut().unwrap().remove(last);
        } else {
            at[last] = value;
        }
        v
    }

    const INIT: [&str; 2] = ["Data", "Initiation"];

    fn init(rest: &[&'static str]) -> Vec<&'static str> {
        INIT.iter().copied().chain(rest.iter().copied()).collect()
    }

    #[test]
    fn a_complete_request_is_read() {
        let r = parse(&request()).unwrap();
        let i = &r.initiation;
        assert_eq!(i.amount_minor, 16588);
        assert_eq!(i.currency, "GBP");
        assert_eq!(i.creditor.identification, "08080021325698");
        assert_eq!(i.creditor.name.as_deref(), Some("ACME Inc"));
        assert_eq!(i.debtor, None);
        assert_eq!(i.description(), "FRESCO-101");
        assert_eq!(r.risk["PaymentContextCode"], "EcommerceGoods");
        assert_eq!(r.data["Initiation"]["InstructionIdentification"], "ACME412");
    }

    #[test]
    fn amounts() {
        for (amount, currency, minor) in [
            ("165.88", "GBP", 16588),
            ("1", "GBP", 100),
            ("0.5", "EUR", 50),
            ("0001.10", "GBP", 110),
            ("9999999999999.99", "GBP", 999_999_999_999_999),
        ] {
            assert_eq!(parse_amount(amount, currency), Ok(minor), "{amount}");
        }
        for amount in [
            "0",
            "0.00",
            "-1.00",
            "1.005",
            "1.",
            ".5",
            "",
            "1e3",
            "1,00",
            " 1.00",
            "+1",
            "12345678901234",
        ] {
            assert!(parse_amount(amount, "GBP").is_err(), "{amount:?}");
        }
        assert!(parse_amount("1.00", "JPY").is_err());
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                with(&["Data"], Value::Null),
                "UK.OBIE.Field.Missing",
                "$.Data",
            ),
            (
                with(&["Risk"], Value::Null),
                "UK.OBIE.Field.Missing",
                "$.Risk",
            ),
            (
                with(&["Risk"], json!([])),
                "UK.OBIE.Field.Invalid",
                "$.Risk",
            ),
            (
                with(&init(&["InstructionIdentification"]), Value::Null),
                "UK.OBIE.Field.Missing",
                "Data.Initiation.InstructionIdentification",
            ),
            (
                with(&init(&["EndToEndIdentification"]), json!("x".repeat(36))),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.EndToEndIdentification",
            ),
            (
                with(&init(&["InstructedAmount", "Amount"]), json!("0.00")),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.InstructedAmount.Amount",
            ),
            (
                with(&init(&["InstructedAmount", "Amount"]), json!("1.001")),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.InstructedAmount.Amount",
            ),
            (
                with(&init(&["InstructedAmount", "Amount"]), json!(10.5)),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.InstructedAmount.Amount",
            ),
            (
                with(&init(&["InstructedAmount", "Currency"]), json!("gbp")),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.InstructedAmount.Currency",
            ),
            (
                with(&init(&["InstructedAmount", "Currency"]), json!("USD")),
                "UK.OBIE.Unsupported.Currency",
                "Data.Initiation.InstructedAmount.Currency",
            ),
            (
                with(&init(&["CreditorAccount"]), Value::Null),
                "UK.OBIE.Field.Missing",
                "Data.Initiation.CreditorAccount",
            ),
            (
                with(
                    &init(&["CreditorAccount", "SchemeName"]),
                    json!("UK.OBIE.PAN"),
                ),
                "UK.OBIE.Unsupported.Scheme",
                "Data.Initiation.CreditorAccount.SchemeName",
            ),
            (
                with(
                    &init(&["CreditorAccount", "Identification"]),
                    json!("0808002132569"),
                ),
                "UK.OBIE.Unsupported.AccountIdentifier",
                "Data.Initiation.CreditorAccount.Identification",
            ),
            (
                with(&init(&["CreditorAccount", "Name"]), Value::Null),
                "UK.OBIE.Field.Missing",
                "Data.Initiation.CreditorAccount.Name",
            ),
            (
                with(
                    &init(&["RemittanceInformation", "Reference"]),
                    json!("r".repeat(36)),
                ),
                "UK.OBIE.Field.Invalid",
                "Data.Initiation.RemittanceInformation.Reference",
            ),
        ];
        for (body, code, path) in cases {
            assert_eq!(refused(&body), (code, path.to_owned()), "{body}");
        }
    }

    #[test]
    fn ibans_and_debtor_accounts() {
        let iban = json!({
            "SchemeName": "UK.OBIE.IBAN",
            "Identification": "GB29NWBK60161331926819",
            "Name": "Someone"
        });
        let r = parse(&with(&init(&["CreditorAccount"]), iban.clone())).unwrap();
        assert_eq!(r.initiation.creditor.scheme_name, "UK.OBIE.IBAN");
        let mut bad = iban.clone();
        bad["Identification"] = json!("GB28NWBK60161331926819");
        assert_eq!(
            refused(&with(&init(&["CreditorAccount"]), bad)).0,
            "UK.OBIE.Unsupported.AccountIdentifier"
        );
        let mut spaced = iban;
        spaced["Identification"] = json!("GB29 NWBK 6016 1331 9268 19");
        assert_eq!(
            refused(&with(&init(&["CreditorAccount"]), spaced)).0,
            "UK.OBIE.Unsupported.AccountIdentifier"
        );
        // A debtor account needs no name.
        let debtor = json!({ "SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "60837112345678" });
        let r = parse(&with(&init(&["DebtorAccount"]), debtor)).unwrap();
        assert_eq!(
            r.initiation.debtor.map(|d| d.identification).as_deref(),
            Some("60837112345678")
        );
    }
}
