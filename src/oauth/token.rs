//! Token-endpoint wire types: client credentials, token responses,
//! introspection answers and server metadata.

use base64::Engine as _;
use serde::{Serialize, Serializer};

use super::{ClientId, OAuthError, params::Params};
use crate::{AccessToken, ClientSecret, RefreshToken, ScopeSet};

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

/// How a client presented its credentials.
#[derive(Debug)]
pub(crate) struct ClientCredentials {
    pub(crate) client_id: ClientId,
    pub(crate) secret: Option<ClientSecret>,
    /// Whether HTTP Basic was used (so failures carry a Basic challenge).
    pub(crate) basic: bool,
}

/// Reads the client's credentials from the `Authorization: Basic` header
/// (`client_secret_basic`, with the RFC 6749 §2.3.1 form-encoding before
/// base64) or the body (`client_secret_post`, or `client_id` alone for a
/// public client).
pub(crate) fn client_credentials(
    authorization: Option<&str>,
    params: &Params<'_>,
) -> Result<ClientCredentials, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    if authorization.is_some_and(|h| h.len() > crate::credential::MAX_AUTHORIZATION_LEN) {
        return Err(
            OAuthError::invalid_client("Authorization header too long").with_basic_challenge(true)
        );
    }
    let basic = match authorization {
        Some(h) => match h.split_once(' ') {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case("basic") => {
                Some(parse_basic(value.trim())?)
            }
            _ => None,
        },
        None => None,
    };
    match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            let client_id = ClientId::parse(&id).map_err(|_| {
                OAuthError::invalid_client("client authentication failed")
                    .with_basic_challenge(true)
            })?;
            Ok(ClientCredentials {
                client_id,
                secret: Some(secret),
                basic: true,
            })
        }
        None => {
            let id = body_id
                .ok_or_else(|| OAuthError::invalid_client("client authentication required"))?;
            let client_id = ClientId::parse(id)
                .map_err(|_| OAuthError::invalid_client("client authentication failed"))?;
            Ok(ClientCredentials {
                client_id,
                secret: body_secret.map(ClientSecret::new),
                basic: false,
            })
        }
    }
}

/// The client id a token, revocation or introspection request names, as
/// [`client_credentials`] reads it (the Basic user, form-decoded, else the
/// body's `client_id`), even when the request is malformed: what a failed
/// client authentication is counted against.
pub(crate) fn presented_client_id(authorization: Option<&str>, body: &str) -> String {
    let basic = authorization.and_then(|h| {
        let (scheme, value) = h.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic")
            || h.len() > crate::credential::MAX_AUTHORIZATION_LEN
        {
            return None;
        }
        parse_basic(value.trim()).ok().map(|(id, _secret)| id)
    });
    basic.unwrap_or_else(|| {
        Params::parse(body)
            .ok()
            .and_then(|p| p.get("client_id").ok().flatten().map(str::to_owned))
            .unwrap_or_default()
    })
}

fn parse_basic(value: &str) -> Result<(String, ClientSecret), OAuthError> {
    let fail =
        || OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge(true);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| fail())?;
    let decoded = zeroize::Zeroizing::new(decoded);
    let text = std::str::from_utf8(&decoded).map_err(|_| fail())?;
    let (id, secret) = text.split_once(':').ok_or_else(fail)?;
    Ok((
        form_decode(id).ok_or_else(fail)?,
        ClientSecret::new(form_decode(secret).ok_or_else(fail)?),
    ))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ))
        )
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let secret = "s3cr:t+with%odd chars";
        let h = basic("my_client", secret);
        let c = client_credentials(Some(&h), &Params::default()).unwrap();
        assert_eq!(c.client_id.as_str(), "my_client");
        assert_eq!(c.secret.unwrap().expose_secret(), secret);
        assert!(c.basic);
    }

    #[test]
    fn post_credentials_and_public_clients() {
        let p = Params::parse("client_id=abc&client_secret=xyz").unwrap();
        let c = client_credentials(None, &p).unwrap();
        assert_eq!(
            (
                c.client_id.as_str(),
                c.secret.unwrap().expose_secret(),
                c.basic
            ),
            ("abc", "xyz", false)
        );
        let p = Params::parse("client_id=abc").unwrap();
        assert!(client_credentials(None, &p).unwrap().secret.is_none());
    }

    #[test]
    fn credential_errors() {
        let both = Params::parse("client_secret=xyz").unwrap();
        let e = client_credentials(Some(&basic("a", "b")), &both).unwrap_err();
        assert_eq!(e.code, super::super::OAuthErrorCode::InvalidRequest);
        let other = Params::parse("client_id=other").unwrap();
        assert_eq!(
            client_credentials(Some(&basic("a", "b")), &other)
                .unwrap_err()
                .code,
            super::super::OAuthErrorCode::InvalidRequest
        );
        let e = client_credentials(None, &Params::default()).unwrap_err();
        assert_eq!(e.code, super::super::OAuthErrorCode::InvalidClient);
        assert!(!e.basic_challenge);
        for bad in ["Basic !!!", "Basic YWJj", "Basic /w=="] {
            let e = client_credentials(Some(bad), &Params::default()).unwrap_err();
            assert_eq!(e.code, super::super::OAuthErrorCode::InvalidClient, "{bad}");
            assert!(e.basic_challenge);
        }
    }
}
