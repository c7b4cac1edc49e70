//! Credential syntax, with nothing of HTTP but the header *values* it
//! reads: the bearer token of an `Authorization` value (RFC 6750 §2.1), the
//! tenant a tenant header names, and their length limits. The HTTP layer
//! and the services both read credentials through here, so one rule holds
//! for both.

use crate::{Rejection, TenantId};

/// The longest `Authorization` header value read; longer ones are malformed.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750
/// §2.1). The scheme is case-insensitive; the token must be a `b64token`.
///
/// # Errors
///
/// [`Rejection::MissingCredentials`] when there is no header or another
/// scheme; [`Rejection::Malformed`] when the token is empty, too long or has
/// characters a `b64token` may not.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{Rejection, http::bearer_token};
///
/// assert_eq!(bearer_token(Some("Bearer abc.def")), Ok("abc.def"));
/// assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
/// assert_eq!(bearer_token(None), Err(Rejection::MissingCredentials));
/// assert_eq!(bearer_token(Some("Basic dXNlcjpwYXNz")), Err(Rejection::MissingCredentials));
/// assert_eq!(bearer_token(Some("Bearer a b")), Err(Rejection::Malformed));
/// ```
pub fn bearer_token(header: Option<&str>) -> Result<&str, Rejection> {
    let token = bearer_credential(header)?;
    if is_b64token(token) {
        Ok(token)
    } else {
        Err(Rejection::Malformed)
    }
}

/// Whether `token` is an RFC 6750 `b64token`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && crate::secret::all_in(&B64TOKEN, body.as_bytes())
}

/// The refusal of a request whose tenant is missing or invalid, for a
/// credential taken with [`bearer_credential`]: [`Rejection::Malformed`]
/// when the credential is not even a `b64token` (the order
/// [`bearer_token`] gives: the credential's syntax first), else `tenant`'s.
pub(crate) fn tenant_refusal(token: &str, tenant: Rejection) -> Rejection {
    if is_b64token(token) {
        tenant
    } else {
        Rejection::Malformed
    }
}

/// [`bearer_token`] without its character check, for callers that check the
/// credential's exact shape next (an API key's format and checksum, an
/// access token's prefix and alphabet: both narrower than `b64token`), so
/// that the hot path reads the characters once.
pub(crate) fn bearer_credential(header: Option<&str>) -> Result<&str, Rejection> {
    let header = header.ok_or(Rejection::MissingCredentials)?;
    if header.len() > MAX_AUTHORIZATION_LEN {
        return Err(Rejection::Malformed);
    }
    let (scheme, rest) = header.split_at_checked(6).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.is_empty() && !rest.starts_with(' ') {
        return Err(Rejection::MissingCredentials);
    }
    match trim_spaces(rest) {
        "" => Err(Rejection::Malformed),
        token => Ok(token),
    }
}

/// `s` without leading and trailing spaces (`' '` only: RFC 6750's `1*SP`),
/// byte by byte rather than through `str::trim_matches`'s UTF-8 decoding.
fn trim_spaces(s: &str) -> &str {
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    // A space is one byte, so both ends are character boundaries.
    s.get(start..end).unwrap_or_default()
}

/// The bytes of an RFC 6750 `b64token` (before its trailing `=`).
const B64TOKEN: [bool; 256] = crate::secret::alphanumeric_and(b"-._~+/");

/// The tenant named by an `X-Tenant-Id` header value. Surrounding ASCII
/// whitespace (HTTP's optional whitespace) is ignored; any other character
/// outside the tenant syntax refuses the value.
///
/// # Errors
///
/// [`Rejection::MissingTenant`] when absent or blank, [`Rejection::InvalidTenant`]
/// when not a valid [`TenantId`].
pub fn tenant_from_header(value: Option<&str>) -> Result<TenantId, Rejection> {
    tenant_name_from_header(value)
        .and_then(|t| TenantId::parse(t).map_err(|_| Rejection::InvalidTenant))
}

/// [`tenant_from_header`] without the allocation: the validated name.
pub(crate) fn tenant_name_from_header(value: Option<&str>) -> Result<&str, Rejection> {
    match value.map(str::trim_ascii) {
        None | Some("") => Err(Rejection::MissingTenant),
        Some(v) => crate::tenant::validate(v)
            .map(|()| v)
            .map_err(|_| Rejection::InvalidTenant),
    }
}
