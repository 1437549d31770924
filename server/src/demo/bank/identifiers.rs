//! Identifiers of the demo bank: its sort code, the account identification schemes, and GB IBANs
//! with their ISO 13616 mod-97 check digits.

/// The sort code of every demo account.
pub const DEMO_SORT_CODE: &str = "608371";
/// The bank identifier inside the demo bank's IBANs.
pub const DEMO_IBAN_BANK: &str = "CNSY";

pub const SCHEME_SORT_CODE: &str = "UK.OBIE.SortCodeAccountNumber";
pub const SCHEME_IBAN: &str = "UK.OBIE.IBAN";

/// A GB IBAN for a sort code and account number at `bank`, with its mod-97 check digits.
pub fn gb_iban(bank: &str, sort_code: &str, account_number: &str) -> String {
    let bban = format!("{bank}{sort_code}{account_number}");
    let check = 98 - mod97(&format!("{bban}GB00"));
    format!("GB{check:02}{bban}")
}

/// Whether `iban` (no spaces) has valid ISO 13616 check digits.
pub fn iban_is_valid(iban: &str) -> bool {
    iban.len() >= 5
        && iban
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && mod97(&format!("{}{}", &iban[4..], &iban[..4])) == 1
}

/// The value mod 97 of an IBAN-style string, letters counting as 10 to 35.
fn mod97(s: &str) -> u32 {
    s.chars().fold(0, |rem, c| match c.to_digit(36) {
        Some(v) if v >= 10 => (rem * 100 + v) % 97,
        Some(v) => (rem * 10 + v) % 97,
        None => rem,
    })
}
