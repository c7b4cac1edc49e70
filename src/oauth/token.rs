//! Token-endpoint wire types: client credentials, token responses,
//! introspection answers and server metadata.

use serde::{Serialize, Serializer};

use super::ClientId;
use crate::{AccessToken, RefreshToken, ScopeSet};

/// What a token, revocation or introspection request carries: its
/// `Authorization` header (for `client_secret_basic`) and its form body.
///
/// `Debug` prints neither the header nor the body's values (they carry
/// client secrets, codes, verifiers and tokens), only the body's parameter names.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct TokenRequest<'a> {
    /// The `Authorization` header value, if sent.
    pub authorization: Option<&'a str>,
    /// The `application/x-www-form-urlencoded` body.
    pub body: &'a str,
}

impl std::fmt::Debug for TokenRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = form_urlencoded::parse(self.body.as_bytes())
            .take(32)
            .map(|(k, _)| k.into_owned())
            .collect();
        f.debug_struct("TokenRequest")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("body_parameters", &names)
            .finish()
    }
}

impl<'a> TokenRequest<'a> {
    /// A request with this header and body.
    pub fn new(authorization: Option<&'a str>, body: &'a str) -> Self {
        Self {
            authorization,
            body,
        }
    }
}

fn expose_access<S: Serializer>(token: &AccessToken, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose_secret())
}

fn expose_refresh<S: Serializer>(token: &Option<RefreshToken>, s: S) -> Result<S::Ok, S::Error> {
    match token {
        Some(t) => s.serialize_str(t.expose_secret()),
        None => s.serialize_none(),
    }
}

/// A successful token response (RFC 6749 §5.1). Serializes to the JSON the
/// client receives; send it with `Cache-Control: no-store` and
/// `Pragma: no-cache` ([`crate::http::token_response`] does).
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    #[serde(serialize_with = "expose_access")]
    pub access_token: AccessToken,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The new refresh token (a new one on every refresh).
    #[serde(
        serialize_with = "expose_refresh",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token: Option<RefreshToken>,
    /// The access token's scopes.
    pub scope: ScopeSet,
}

/// An introspection answer (RFC 7662 §2.2). Inactive tokens say only
/// `{"active": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// The token's scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSet>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// The user it acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `"Bearer"` for access tokens, `"refresh_token"` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The resources the token is for (RFC 7662 §2.2, RFC 8707): absent
    /// for a token bound to none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<super::Resources>,
}

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            exp: None,
            iat: None,
            token_type: None,
            iss: None,
            aud: None,
        }
    }
}

/// Authorization server metadata (RFC 8414 §2). No field is an empty array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[allow(missing_docs)] // Field names and meanings are RFC 8414's.
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    /// RFC 7591 §3: present when the tenant allows dynamic registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// draft-ietf-oauth-client-id-metadata-document: present (`true`) when
    /// the tenant accepts Client ID Metadata Documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    pub authorization_response_iss_parameter_supported: bool,
}
