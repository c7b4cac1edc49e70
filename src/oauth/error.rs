//! OAuth 2.0 error codes and errors (RFC 6749 §4.1.2.1 and §5.2).

use std::{borrow::Cow, fmt};

use serde::Serialize;

/// An OAuth 2.0 error code, serialized in snake_case as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// "The request is missing a required parameter, includes an invalid
    /// parameter value, includes a parameter more than once, or is otherwise
    /// malformed." (RFC 6749 §4.1.2.1, §5.2)
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client
    /// authentication included, or unsupported authentication method)."
    /// (§5.2; answered with 401)
    InvalidClient,
    /// "The provided authorization grant (e.g., authorization code, resource
    /// owner credentials) or refresh token is invalid, expired, revoked, does
    /// not match the redirection URI used in the authorization request, or was
    /// issued to another client." (§5.2)
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization
    /// grant type." (§5.2)
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization
    /// server." (§5.2)
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the
    /// scope granted by the resource owner." (§4.1.2.1, §5.2)
    InvalidScope,
    /// "The resource owner or authorization server denied the request."
    /// (§4.1.2.1)
    AccessDenied,
    /// "The authorization server does not support obtaining an authorization
    /// code using this method." (§4.1.2.1)
    UnsupportedResponseType,
    /// "The authorization server encountered an unexpected condition that
    /// prevented it from fulfilling the request." (§4.1.2.1)
    ServerError,
    /// "The authorization server is currently unable to handle the request due
    /// to a temporary overloading or maintenance of the server." (§4.1.2.1)
    TemporarilyUnavailable,
    /// RFC 7009 §2.2.1: "The authorization server does not support the
    /// revocation of the presented token type."
    UnsupportedTokenType,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown,
    /// or malformed."
    InvalidTarget,
    /// RFC 7591 §3.2.2: "The value of one or more redirection URIs is
    /// invalid."
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: "The value of one of the client metadata fields is
    /// invalid and the server has rejected this request."
    InvalidClientMetadata,
    /// RFC 6750 §3.1: the bearer token (here, a registration access token,
    /// RFC 7592 §2) is invalid. Answered with 401.
    InvalidToken,
}

impl OAuthErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
        }
    }

    /// The HTTP status of this error at the token, revocation and
    /// introspection endpoints: 401 for `invalid_client`, 503 for
    /// `temporarily_unavailable`, 500 for `server_error`, else 400.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::TemporarilyUnavailable => 503,
            Self::ServerError => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: a code and a human-readable description.
///
/// The description uses only the characters RFC 6749 allows in
/// `error_description` (`%x20-21 / %x23-5B / %x5D-7E`): anything else is
/// replaced by `?` when the error is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The error code.
    pub code: OAuthErrorCode,
    /// The `error_description`.
    pub description: Cow<'static, str>,
    /// For `invalid_client`: whether the client tried HTTP Basic, so the
    /// response carries `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    pub basic_challenge: bool,
    /// For a failed client authentication or a refused grant: what kind of
    /// credential failed, which says what the failure throttle counts it
    /// against (see [`crate::throttle`]). `None` for other errors.
    pub failure: Option<CredentialFailure>,
}

/// What kind of credential a token, revocation or introspection request
/// failed on: the failure throttle counts each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialFailure {
    /// Client authentication failed (unknown client, wrong or missing
    /// secret, malformed credentials): counted against the client address
    /// and the client id from that address.
    Client,
    /// A code or refresh token this server did not issue (or no longer
    /// knows): a guess, counted against the client address and the
    /// presented value.
    UnknownGrant,
    /// A code or refresh token this server issued, refused (replayed,
    /// rotated, revoked, expired, another client's, a PKCE or redirect
    /// mismatch): counted against that credential alone, never its
    /// address (the losers of a refresh race, a stale replica).
    KnownGrant,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let description = if description.bytes().all(allowed_description_byte) {
            description
        } else {
            Cow::Owned(
                description
                    .chars()
                    .map(|c| {
                        if c.is_ascii() && allowed_description_byte(c as u8) {
                            c
                        } else {
                            '?'
                        }
                    })
                    .collect(),
            )
        };
        let failure = match code {
            OAuthErrorCode::InvalidClient => Some(CredentialFailure::Client),
            OAuthErrorCode::InvalidGrant => Some(CredentialFailure::KnownGrant),
            _ => None,
        };
        Self {
            code,
            description,
            basic_challenge: false,
            failure,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    /// `invalid_grant` for a grant this server issued (see
    /// [`CredentialFailure::KnownGrant`]).
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
    /// `invalid_grant` for a code or refresh token this server does not
    /// know (see [`CredentialFailure::UnknownGrant`]).
    pub fn unknown_grant(description: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new(OAuthErrorCode::InvalidGrant, description);
        e.failure = Some(CredentialFailure::UnknownGrant);
        e
    }
    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }
    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }
    /// `invalid_target` (RFC 8707).
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidTarget, description)
    }
    /// `unauthorized_client`: the client may not use this grant.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::UnauthorizedClient, description)
    }
    /// `temporarily_unavailable`, for a failing store.
    pub fn unavailable() -> Self {
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the authorization server store is unavailable",
        )
    }

    pub(crate) fn with_basic_challenge(mut self, basic: bool) -> Self {
        self.basic_challenge = basic;
        self
    }
}

impl From<crate::StoreError> for OAuthError {
    fn from(e: crate::StoreError) -> Self {
        tracing::error!(error = %e, "store failure in the authorization server");
        Self::unavailable()
    }
}

fn allowed_description_byte(b: u8) -> bool {
    b == 0x20 || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_sanitized() {
        let e = OAuthError::invalid_request("bad \"quote\" and \\ and é\n");
        assert_eq!(e.description, "bad ?quote? and ? and ??");
        let e = OAuthError::invalid_request("fine: a-b_c.d");
        assert_eq!(e.description, "fine: a-b_c.d");
    }

    #[test]
    fn codes_and_statuses() {
        assert_eq!(OAuthErrorCode::InvalidClient.status(), 401);
        assert_eq!(OAuthErrorCode::InvalidGrant.status(), 400);
        assert_eq!(
            serde_json::to_string(&OAuthErrorCode::UnsupportedGrantType).unwrap(),
            "\"unsupported_grant_type\""
        );
        assert_eq!(OAuthErrorCode::AccessDenied.as_str(), "access_denied");
    }
}
