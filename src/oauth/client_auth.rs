//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3.1): reading the credentials (one Basic decoder,
//! form-decoded and zeroized), deciding them ([`check_client`], pure), and
//! the driver that audits a failure.

use std::sync::Arc;

use base64::Engine as _;

use super::{
    AuthorizationServer, ClientId, ClientKind, OAuthClient, OAuthError,
    params::{Params, decode_strict},
};
use crate::{AuditEvent, AuditEventKind, ClientSecret, SecretHasher, TenantId, audit::Actor};

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
    // RFC 6749 §2.3.1: each part form-encoded before base64, with the one
    // form decoder of the crate (strict: bytes that are not UTF-8 refuse).
    let id = decode_strict(id).ok_or_else(fail)?.into_owned();
    let secret = ClientSecret::new(decode_strict(secret).ok_or_else(fail)?.into_owned());
    Ok((id, secret))
}

/// Checks the credentials a client presented against its registration
/// (`None`: no such client in the tenant). Pure. The reason, for the audit
/// log, on failure; the secret's digest is compared in constant time.
///
/// # Errors
///
/// The reason: unknown client, a secret from a public client, none from a
/// confidential one, or a wrong one.
pub fn check_client(
    client: Option<&OAuthClient>,
    tenant: &TenantId,
    presented: &ClientId,
    secret: Option<&ClientSecret>,
    hasher: &SecretHasher,
) -> Result<(), &'static str> {
    let Some(client) = client.filter(|c| c.tenant == *tenant && c.id == *presented) else {
        return Err("unknown client");
    };
    match (client.kind, secret, &client.secret_digest) {
        (ClientKind::Public, None, _) => Ok(()),
        (ClientKind::Public, Some(_), _) => Err("public client sent a secret"),
        (ClientKind::Confidential, None, _) => Err("confidential client sent no secret"),
        (ClientKind::Confidential, Some(_), None) => Err("client has no secret registered"),
        (ClientKind::Confidential, Some(secret), Some(expected)) => {
            if hasher.digest(secret.expose_secret().as_bytes()) == *expected {
                Ok(())
            } else {
                Err("wrong client secret")
            }
        }
    }
}

impl AuthorizationServer {
    /// Authenticates the client of a token, revocation or introspection
    /// request ([`check_client`]); a failure is audited
    /// ([`AuditEventKind::ClientAuthFailed`]).
    pub(super) async fn authenticate_client(
        &self,
        tenant: &TenantId,
        authorization: Option<&str>,
        params: &Params<'_>,
    ) -> Result<Arc<OAuthClient>, OAuthError> {
        let creds = client_credentials(authorization, params)?;
        let client = self.find_client(tenant, &creds.client_id).await?;
        let outcome = check_client(
            client.as_deref(),
            tenant,
            &creds.client_id,
            creds.secret.as_ref(),
            &self.config.hasher,
        );
        match (outcome, client) {
            (Ok(()), Some(client)) => Ok(client),
            (outcome, _) => {
                let reason = outcome.err().unwrap_or("unknown client");
                self.emit(
                    AuditEvent::new(
                        self.now(),
                        tenant.clone(),
                        Actor::Client {
                            client_id: creds.client_id.clone(),
                        },
                        AuditEventKind::ClientAuthFailed {
                            reason: reason.to_owned(),
                        },
                    )
                    .with_client(creds.client_id.clone()),
                )
                .await;
                Err(OAuthError::invalid_client("client authentication failed")
                    .with_basic_challenge(creds.basic))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn confidential() -> OAuthClient {
        OAuthClient {
            id: ClientId::parse("backend").unwrap(),
            tenant: "acme".parse().unwrap(),
            name: "Backend".into(),
            kind: ClientKind::Confidential,
            secret_digest: Some(SecretHasher::sha256().digest(b"pcs_right")),
            redirect_uris: vec!["https://backend.example.com/cb".into()],
            allowed_scopes: "documents:read".parse().unwrap(),
            default_scopes: crate::ScopeSet::empty(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            created_at: datetime!(2026-06-01 12:00 UTC),
            grant_types: crate::oauth::GrantTypes::default(),
            registration_digest: None,
        }
    }

    #[test]
    fn a_client_is_what_it_registered() {
        let (acme, hasher) = ("acme".parse().unwrap(), SecretHasher::sha256());
        let c = confidential();
        let id = c.id.clone();
        let right = ClientSecret::new("pcs_right");
        let wrong = ClientSecret::new("pcs_wrong");
        assert_eq!(
            check_client(Some(&c), &acme, &id, Some(&right), &hasher),
            Ok(())
        );
        assert_eq!(
            check_client(Some(&c), &acme, &id, Some(&wrong), &hasher),
            Err("wrong client secret")
        );
        assert!(check_client(Some(&c), &acme, &id, None, &hasher).is_err());
        assert!(check_client(None, &acme, &id, Some(&right), &hasher).is_err());
        let globex = "globex".parse().unwrap();
        assert_eq!(
            check_client(Some(&c), &globex, &id, Some(&right), &hasher),
            Err("unknown client"),
            "another tenant's client is unknown"
        );
        let public = OAuthClient {
            kind: ClientKind::Public,
            secret_digest: None,
            ..confidential()
        };
        assert_eq!(
            check_client(Some(&public), &acme, &id, None, &hasher),
            Ok(())
        );
        assert!(check_client(Some(&public), &acme, &id, Some(&right), &hasher).is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_must_be_utf8() {
        let basic = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
        let (id, secret) = parse_basic(&basic(b"a%2Bb+c:s%3Ae+t")).unwrap();
        assert_eq!(id, "a+b c");
        assert_eq!(secret.expose_secret(), "s:e t");
        assert!(
            parse_basic(&basic(b"id:%FF")).is_err(),
            "not UTF-8 once decoded"
        );
        assert!(parse_basic(&basic(b"no-colon")).is_err());
        assert!(parse_basic("!!!").is_err());
    }

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
        assert_eq!(e.code, crate::oauth::OAuthErrorCode::InvalidRequest);
        let other = Params::parse("client_id=other").unwrap();
        assert_eq!(
            client_credentials(Some(&basic("a", "b")), &other)
                .unwrap_err()
                .code,
            crate::oauth::OAuthErrorCode::InvalidRequest
        );
        let e = client_credentials(None, &Params::default()).unwrap_err();
        assert_eq!(e.code, crate::oauth::OAuthErrorCode::InvalidClient);
        assert!(!e.basic_challenge);
        for bad in ["Basic !!!", "Basic YWJj", "Basic /w=="] {
            let e = client_credentials(Some(bad), &Params::default()).unwrap_err();
            assert_eq!(e.code, crate::oauth::OAuthErrorCode::InvalidClient, "{bad}");
            assert!(e.basic_challenge);
        }
    }
}
