//! What every HTML page shares: the layout's data, security headers, and the embedded assets.

use std::sync::OnceLock;

use askama::Template;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::PageError;

/// The data the base layout needs.
#[derive(Debug, Clone)]
pub struct PageMeta {
    pub title: String,
    pub stylesheet: &'static str,
}

impl PageMeta {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            stylesheet: stylesheet_href(),
        }
    }
}

/// Renders a page with the headers every page carries.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            page_headers(response.headers_mut());
            response
        }
        Err(e) => {
            let mut response = (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"),
            )
                .into_response();
            page_headers(response.headers_mut());
            response
                .extensions_mut()
                .insert(super::error::InternalCause(format!("template: {e}")));
            response
        }
    }
}

fn page_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000",
    );
}

/// Files under `assets/`, embedded in the binary.
const ASSETS: &[(&str, &str, &[u8])] = &[(
    "app.css",
    "text/css; charset=utf-8",
    include_bytes!("../../../assets/app.css"),
)];

fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, mime, bytes)| (*mime, *bytes))
}

/// The stylesheet URL, versioned by content so it can be cached for good.
pub fn stylesheet_href() -> &'static str {
    static HREF: OnceLock<String> = OnceLock::new();
    HREF.get_or_init(|| {
        let bytes = asset("app.css").map(|(_, b)| b).unwrap_or_default();
        format!(
            "/assets/app.css?v={}",
            &hex::encode(crate::crypto::sha256(bytes))[..12]
        )
    })
}

pub async fn serve_asset(Path(name): Path<String>) -> Result<Response, PageError> {
    let (mime, bytes) = asset(&name).ok_or(PageError::NotFound)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
