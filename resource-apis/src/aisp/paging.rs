//! Pages of a list resource (`page` query parameter, `Links.First/Prev/Next/Last`,
//! `Meta.TotalPages`) and the booking-date filters of the transaction resources.

use consentry_server::clock::UnixTime;
use serde_json::{Map, Value, json};

use super::shape::parse_filter_date_time;
use crate::error::{ApiError, ApiResult, ObErrorCode};

/// Items on one page.
pub const PAGE_SIZE: usize = 25;

/// The query of a list request: the booking-date filters, the page, and every other parameter
/// (kept in the links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub from: Option<UnixTime>,
    /// Inclusive.
    pub to: Option<UnixTime>,
    /// 1-based.
    pub page: usize,
    pub others: Vec<(String, String)>,
}

fn filter_date(name: &str, value: &str) -> ApiResult<UnixTime> {
    parse_filter_date_time(value).ok_or_else(|| {
        ApiError::field(
            ObErrorCode::FieldInvalidDate,
            name,
            format!("{name} must be an ISO 8601 date-time, e.g. 2017-04-05T10:43:07"),
        )
    })
}

/// Parses a list request's query; `dates` says whether the booking-date filters apply.
pub fn parse_query(raw: Option<&str>, dates: bool) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        from: None,
        to: None,
        page: 1,
        others: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if seen.iter().any(|s| *s == name) {
            return Err(ApiError::field(
                ObErrorCode::FieldUnexpected,
                name.as_ref(),
                format!("{name} is given more than once"),
            ));
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "fromBookingDateTime" if dates => q.from = Some(filter_date(&name, &value)?),
            "toBookingDateTime" if dates => q.to = Some(filter_date(&name, &value)?),
            "page" => {
                q.page = value
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| {
                        ApiError::field(
                            ObErrorCode::FieldInvalid,
                            "page",
                            "page must be a whole number from 1",
                        )
                    })?;
            }
            _ => q.others.push((name.into_owned(), value.into_owned())),
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError::field(
            ObErrorCode::FieldInvalidDate,
            "toBookingDateTime",
            "toBookingDateTime must not be before fromBookingDateTime",
        ));
    }
    Ok(q)
}

/// One page of `items` and the number of pages (at least 1); a page past the last is refused.
pub fn page_of<T>(items: Vec<T>, page: usize) -> ApiResult<(Vec<T>, usize)> {
    let total = items.len().div_ceil(PAGE_SIZE).max(1);
    if page > total {
        return Err(ApiError::field(
            ObErrorCode::FieldInvalid,
            "page",
            format!("there are {total} pages"),
        ));
    }
    let items = items
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Ok((items, total))
}

/// `Links` and `Meta` of page `page` of `total` of the list at `url` (an absolute URL without a
/// query), keeping the request's parameters.
pub fn links(url: &str, q: &ListQuery, page: usize, total: usize) -> (Value, Value) {
    let link = |n: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.others {
            query.append_pair(k, v);
        }
        for (name, value) in [("fromBookingDateTime", q.from), ("toBookingDateTime", q.to)] {
            if let Some(t) = value {
                query.append_pair(name, &super::shape::date_time(t));
            }
        }
        if n > 1 {
            query.append_pair("page", &n.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            url.to_owned()
        } else {
            format!("{url}?{query}")
        }
    };
    let mut out = Map::new();
    out.insert("Self".to_owned(), json!(link(page)));
    if total > 1 {
        out.insert("First".to_owned(), json!(link(1)));
        if page > 1 {
            out.insert("Prev".to_owned(), json!(link(page - 1)));
        }
        if page < total {
            out.insert("Next".to_owned(), json!(link(page + 1)));
        }
        out.insert("Last".to_owned(), json!(link(total)));
    }
    (Value::Object(out), json!({"TotalPages": total}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_parsed_and_bad_ones_refused() {
        let q = parse_query(
            Some("fromBookingDateTime=2017-09-10T00:00:00&toBookingDateTime=2017-09-11&page=2&x=y"),
            true,
        )
        .unwrap();
        assert_eq!(q.from, Some(1_505_001_600));
        assert_eq!(q.to, Some(1_505_088_000));
        assert_eq!(q.page, 2);
        assert_eq!(q.others, vec![("x".to_owned(), "y".to_owned())]);
        assert_eq!(parse_query(None, true).unwrap().page, 1);
        for (bad, code) in [
            ("page=0", ObErrorCode::FieldInvalid),
            ("page=x", ObErrorCode::FieldInvalid),
            (
                "fromBookingDateTime=yesterday",
                ObErrorCode::FieldInvalidDate,
            ),
            (
                "fromBookingDateTime=2017-09-12&toBookingDateTime=2017-09-11",
                ObErrorCode::FieldInvalidDate,
            ),
            ("page=1&page=2", ObErrorCode::FieldUnexpected),
        ] {
            let e = parse_query(Some(bad), true).unwrap_err();
            assert_eq!(e.errors[0].code, code, "{bad}");
        }
        // Without date filters the names are other parameters.
        let q = parse_query(Some("fromBookingDateTime=whenever"), false).unwrap();
        assert_eq!(q.from, None);
    }

    #[test]
    fn pages_and_their_links() {
        let items: Vec<usize> = (0..60).collect();
        let (first, total) = page_of(items.clone(), 1).unwrap();
        assert_eq!((first.len(), first[0], total), (25, 0, 3));
        let (last, _) = page_of(items.clone(), 3).unwrap();
        assert_eq!((last.len(), last[0]), (10, 50));
        assert!(page_of(items, 4).is_err());
        assert_eq!(page_of(Vec::<u8>::new(), 1).unwrap().1, 1);

        let q = parse_query(Some("fromBookingDateTime=2017-09-10&page=2"), true).unwrap();
        let (l, meta) = links("https://rs/tx", &q, 2, 3);
        assert_eq!(meta, json!({"TotalPages": 3}));
        let from = "fromBookingDateTime=2017-09-10T00%3A00%3A00%2B00%3A00";
        assert_eq!(l["Self"], format!("https://rs/tx?{from}&page=2"));
        assert_eq!(l["First"], format!("https://rs/tx?{from}"));
        assert_eq!(l["Prev"], format!("https://rs/tx?{from}"));
        assert_eq!(l["Next"], format!("https://rs/tx?{from}&page=3"));
        assert_eq!(l["Last"], format!("https://rs/tx?{from}&page=3"));
        let (single, _) = links("https://rs/tx", &parse_query(None, true).unwrap(), 1, 1);
        assert_eq!(single, json!({"Self": "https://rs/tx"}));
    }
}
