//! The UK OB 3.1 JSON of ledger records (OBReadAccount6, OBReadBalance1, OBReadTransaction6,
//! OBReadBeneficiary5), with the fields each permission opens, and the date-time and money
//! formats of the specification.

use consentry_server::clock::UnixTime;
use consentry_server::store::{Account, Beneficiary, Transaction};
use serde_json::{Value, json};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Who issues the ledger's own transaction codes (`ProprietaryBankTransactionCode.Issuer`).
pub const CODE_ISSUER: &str = "Consentry";

const OB_DATE_TIME: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
const LOCAL_DATE_TIME: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
);
const DATE: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// An ISO 8601 date-time in UTC with its offset, as the specification's examples write it
/// (`2017-05-02T00:00:00+00:00`).
pub fn date_time(t: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(OB_DATE_TIME).ok())
        .unwrap_or_default()
}

/// An ISO 8601 date-time of a request body, which must carry its offset (`Z` or `±hh:mm`).
pub fn parse_date_time(s: &str) -> Option<UnixTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// A date-time of a query filter (`fromBookingDateTime`): the time of day is optional, and an
/// offset, if any, is ignored (Account and Transaction API 3.1, filtering).
pub fn parse_filter_date_time(s: &str) -> Option<UnixTime> {
    let s = s.trim();
    if let Ok(d) = OffsetDateTime::parse(s, &Rfc3339) {
        let local = PrimitiveDateTime::new(d.date(), d.time());
        return Some(local.assume_offset(UtcOffset::UTC).unix_timestamp());
    }
    if let Ok(d) = PrimitiveDateTime::parse(s, LOCAL_DATE_TIME) {
        return Some(d.assume_utc().unix_timestamp());
    }
    time::Date::parse(s, DATE)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

/// The number of decimal places of a currency's minor unit (ISO 4217).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "HUF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

/// An amount in minor units as the specification's decimal string (`"1230.50"`).
pub fn decimal(minor: u64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return minor.to_string();
    }
    let unit = 10_u64.pow(digits);
    format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = digits as usize
    )
}

/// `{"Amount", "Currency"}` of the absolute value of a signed amount.
pub fn amount(minor: i64, currency: &str) -> Value {
    json!({"Amount": decimal(minor.unsigned_abs(), currency), "Currency": currency})
}

/// `Credit` for money in (and zero), `Debit` for money out.
pub fn credit_debit(minor: i64) -> &'static str {
    if minor < 0 { "Debit" } else { "Credit" }
}

/// OBAccount6; `detail` (ReadAccountsDetail) adds the scheme, identification and name.
pub fn account(a: &Account, detail: bool) -> Value {
    let mut v = json!({
        "AccountId": a.id,
        "Status": "Enabled",
        "StatusUpdateDateTime": date_time(a.opened_at),
        "Currency": a.currency,
        "AccountType": a.account_type,
        "AccountSubType": a.account_subtype,
        "Nickname": a.nickname,
        "OpeningDate": date_time(a.opened_at),
    });
    if detail {
        v["Account"] = json!([{
            "SchemeName": a.scheme_name,
            "Identification": a.identification,
            "Name": a.holder_name,
        }]);
    }
    v
}

/// The balances of an account (OBReadBalance1): available and booked, the same in a ledger that
/// books at once.
pub fn balances(a: &Account, now: UnixTime) -> [Value; 2] {
    ["InterimAvailable", "InterimBooked"].map(|kind| {
        json!({
            "AccountId": a.id,
            "Amount": amount(a.balance_minor, &a.currency),
            "CreditDebitIndicator": credit_debit(a.balance_minor),
            "Type": kind,
            "DateTime": date_time(now),
        })
    })
}

/// The ISO 20022 domain family and sub-family of a ledger code, when there is one.
fn bank_transaction_code(code: &str, credit: bool) -> Option<(&'static str, &'static str)> {
    Some(match (code, credit) {
        ("PMT" | "TFR" | "SAL", true) => ("ReceivedCreditTransfers", "DomesticCreditTransfer"),
        ("PMT" | "TFR", false) => ("IssuedCreditTransfers", "DomesticCreditTransfer"),
        ("SO", false) => ("IssuedCreditTransfers", "StandingOrder"),
        ("DD", false) => ("IssuedDirectDebits", "DirectDebitPayment"),
        ("CARD", _) => ("CustomerCardTransactions", "PointOfSaleTransaction"),
        ("ATM", false) => ("CustomerCardTransactions", "CashWithdrawal"),
        _ => return None,
    })
}

/// OBTransaction6; `detail` (ReadTransactionsDetail) adds the description, the balance after
/// the transaction and the counterparty.
pub fn transaction(t: &Transaction, detail: bool) -> Value {
    let credit = t.amount_minor >= 0;
    let mut v = json!({
        "AccountId": t.account_id,
        "TransactionId": t.id,
        "CreditDebitIndicator": credit_debit(t.amount_minor),
        "Status": t.status,
        "BookingDateTime": date_time(t.booked_at),
        "ValueDateTime": date_time(t.value_at),
        "Amount": amount(t.amount_minor, &t.currency),
        "ProprietaryBankTransactionCode": {"Code": t.bank_code, "Issuer": CODE_ISSUER},
    });
    if let Some((code, sub)) = bank_transaction_code(&t.bank_code, credit) {
        v["BankTransactionCode"] = json!({"Code": code, "SubCode": sub});
    }
    if detail {
        v["TransactionInformation"] = json!(t.description);
        v["Balance"] = json!({
            "Amount": amount(t.balance_after_minor, &t.currency),
            "CreditDebitIndicator": credit_debit(t.balance_after_minor),
            "Type": "InterimBooked",
        });
        if let Some(name) = &t.counterparty {
            let side = if credit {
                "DebtorAccount"
            } else {
                "CreditorAccount"
            };
            v[side] = json!({"Name": name});
        }
    }
    v
}

/// OBBeneficiary5; `detail` (ReadBeneficiariesDetail) adds the creditor account.
pub fn beneficiary(b: &Beneficiary, detail: bool) -> Value {
    let mut v = json!({
        "AccountId": b.account_id,
        "BeneficiaryId": b.id,
        "Reference": b.reference,
    });
    if detail {
        v["CreditorAccount"] = json!({
            "SchemeName": b.scheme_name,
            "Identification": b.identification,
            "Name": b.name,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(amount_minor: i64, code: &str) -> Transaction {
        Transaction {
            id: "t1".into(),
            account_id: "a1".into(),
            amount_minor,
            currency: "GBP".into(),
            status: "Booked".into(),
            booked_at: 1_505_072_611,
            value_at: 1_505_072_611,
            description: "Coffee".into(),
            counterparty: Some("Cafe Ltd".into()),
            bank_code: code.into(),
            balance_after_minor: -150,
        }
    }

    #[test]
    fn money_is_a_decimal_string_of_the_currency_minor_unit() {
        assert_eq!(decimal(12_345, "GBP"), "123.45");
        assert_eq!(decimal(5, "EUR"), "0.05");
        assert_eq!(decimal(0, "GBP"), "0.00");
        assert_eq!(decimal(1_000, "JPY"), "1000");
        assert_eq!(decimal(1_234, "KWD"), "1.234");
        assert_eq!(
            amount(-2_050, "GBP"),
            json!({"Amount": "20.50", "Currency": "GBP"})
        );
        assert_eq!(amount(i64::MIN, "GBP")["Amount"], "92233720368547758.08");
        assert_eq!(credit_debit(-1), "Debit");
        assert_eq!(credit_debit(0), "Credit");
    }

    #[test]
    fn date_times_carry_their_offset_and_filters_ignore_it() {
        assert_eq!(date_time(1_505_072_611), "2017-09-10T19:43:31+00:00");
        assert_eq!(
            parse_date_time("2017-09-10T19:43:31+00:00"),
            Some(1_505_072_611)
        );
        assert_eq!(
            parse_date_time("2017-09-10T20:43:31+01:00"),
            Some(1_505_072_611)
        );
        assert_eq!(parse_date_time("2017-09-10T19:43:31Z"), Some(1_505_072_611));
        assert_eq!(parse_date_time("2017-09-10T19:43:31"), None, "no offset");
        assert_eq!(parse_date_time("2017-09-10"), None);
        assert_eq!(parse_date_time("yesterday"), None);
        assert_eq!(
            parse_filter_date_time("2017-09-10T19:43:31"),
            Some(1_505_072_611)
        );
        assert_eq!(
            parse_filter_date_time("2017-09-10T19:43:31+05:00"),
            Some(1_505_072_611),
            "the offset is ignored"
        );
        assert_eq!(parse_filter_date_time("2017-09-10"), Some(1_505_001_600));
        assert_eq!(parse_filter_date_time("10/09/2017"), None);
    }

    #[test]
    fn detail_permissions_add_fields() {
        let basic = transaction(&tx(-250, "CARD"), false);
        assert_eq!(basic["CreditDebitIndicator"], "Debit");
        assert_eq!(basic["Amount"]["Amount"], "2.50");
        assert_eq!(
            basic["BankTransactionCode"]["Code"],
            "CustomerCardTransactions"
        );
        for absent in ["TransactionInformation", "Balance", "CreditorAccount"] {
            assert!(basic.get(absent).is_none(), "{absent}");
        }
        let detail = transaction(&tx(-250, "CARD"), true);
        assert_eq!(detail["TransactionInformation"], "Coffee");
        assert_eq!(detail["CreditorAccount"]["Name"], "Cafe Ltd");
        assert_eq!(detail["Balance"]["CreditDebitIndicator"], "Debit");
        assert_eq!(detail["Balance"]["Amount"]["Amount"], "1.50");
        let credit = transaction(&tx(250, "XYZ"), true);
        assert_eq!(credit["DebtorAccount"]["Name"], "Cafe Ltd");
        assert!(credit.get("BankTransactionCode").is_none());
        assert_eq!(credit["ProprietaryBankTransactionCode"]["Code"], "XYZ");
    }
}
