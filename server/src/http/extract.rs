//! Our extractors reject with our errors: a malformed form on a page becomes a page, a malformed
//! OAuth request becomes `invalid_request` JSON, never axum's plain text.

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::error::PageError;
use super::listener::ConnectionInfo;
use crate::protocol::error::OAuthError;

/// A URL-encoded form on an HTML page.
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    axum::Form<T>: FromRequest<S, Rejection = FormRejection>,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| PageForm(v))
            .map_err(|e| {
                PageError::BadRequest(format!("the form could not be read: {}", e.body_text()))
            })
    }
}

/// A URL-encoded OAuth request body.
pub struct OAuthForm<T>(pub T);

impl<S, T> FromRequest<S> for OAuthForm<T>
where
    S: Send + Sync,
    axum::Form<T>: FromRequest<S, Rejection = FormRejection>,
{
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| OAuthForm(v))
            .map_err(|e| {
                OAuthError::invalid_request(format!("malformed request body: {}", e.body_text()))
            })
    }
}

/// The address of the party at the other end of the connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Requests that did not come through a listener (in-process tests) share one bucket.
        let ip = parts
            .extensions
            .get::<ConnectionInfo>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.peer_addr.ip());
        Ok(ClientAddr(ip))
    }
}
