//! Dynamic client registration (RFC 7591) and its management protocol's
//! read and delete (RFC 7592): who may register ([`RegistrationPolicy`],
//! per tenant), what a registration may ask for
//! ([`plan_dynamic_registration`], pure), and the driver.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{
    AuthorizationServer, ClientId, ClientInfo, ClientKind, GrantTypes, NewClient, OAuthClient,
    OAuthError, OAuthErrorCode, RegisteredClient, validate_redirect_uri,
};
use crate::{Digest, ScopeSet, TenantId, audit::Actor, secret::random_token};

/// Prefix of registration access tokens (RFC 7592 §1).
pub const REGISTRATION_TOKEN_PREFIX: &str = "prat_";

/// Who may register clients at the registration endpoint (RFC 7591 §3),
/// per tenant ([`AuthorizationServerConfig::with_registration`](super::AuthorizationServerConfig::with_registration)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistrationPolicy {
    /// No dynamic registration (the default): the endpoint answers 404 and
    /// the metadata names none. Clients are registered by an administrator.
    #[default]
    Off,
    /// Anyone may register a **public** client whose redirect URIs are all
    /// `https`, or `http` on a loopback IP (RFC 8252 §7.3): what MCP
    /// clients and other agents expect. The client still needs a user's
    /// consent for every grant; each address may register only so many
    /// (the throttle's `registrations_per_ip`).
    Open,
    /// Only a request bearing an *initial access token* (RFC 7591 §3) may
    /// register: an API key of the tenant holding the
    /// [`REGISTER_SCOPE`] scope. Public and confidential clients; the
    /// same redirect URI rules as an administrator's registration.
    InitialAccessToken,
}

/// The scope an API key needs to serve as an initial access token.
pub const REGISTER_SCOPE: &str = "clients:register";

/// A registration request (RFC 7591 §2): the metadata this server
/// understands. Other fields are ignored, as §2 asks.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    /// Redirect URIs (required for the code grant).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `none` (a public client, the default here), `client_secret_basic`
    /// or `client_secret_post` (confidential).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Defaults to `["authorization_code"]` (RFC 7591 §2).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `["code"]` if given.
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// The name shown on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// The scopes it may ask for, space-separated. Defaults to every scope
    /// the server knows (`known_scopes`); required when it knows none.
    #[serde(default)]
    pub scope: Option<String>,
}

fn metadata_error(description: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description)
}

fn redirect_error(description: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRedirectUri, description)
}

/// The grants of client metadata (RFC 7591 §2, also a metadata
/// document's): `grant_types` by name, `authorization_code` when absent;
/// `response_types`, if given, `code` only. Else what is wrong.
pub(super) fn grant_and_response_types(
    grant_types: Option<&[String]>,
    response_types: Option<&[String]>,
) -> Result<GrantTypes, Cow<'static, str>> {
    let grants = match grant_types {
        None => GrantTypes::AUTHORIZATION_CODE,
        Some(names) => GrantTypes::from_names(names.iter().map(String::as_str))
            .map_err(|e| Cow::Owned(e.to_string()))?,
    };
    if response_types.is_some_and(|types| !types.iter().all(|t| t == "code")) {
        return Err(Cow::Borrowed("response_types must be [\"code\"]"));
    }
    Ok(grants)
}

/// Whether `uri` is `https`, or `http` on a loopback IP literal.
fn https_or_loopback(uri: &str) -> bool {
    let lower = uri
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    lower.starts_with("https://")
        || uri.starts_with("http://127.0.0.1")
        || uri.starts_with("http://[::1]")
}

/// The client a registration request asks for, under `policy`, with the
/// server's `known` scopes: the same rules as an administrator's
/// registration ([`plan_registration`](super::plan_registration) runs after
/// this), plus RFC 7591's. Pure.
///
/// # Errors
///
/// `invalid_redirect_uri` for a redirect URI the rules refuse (and, under
/// [`RegistrationPolicy::Open`], one that is not `https` or loopback);
/// `invalid_client_metadata` for anything else, saying what.
pub fn plan_dynamic_registration(
    metadata: ClientMetadata,
    policy: RegistrationPolicy,
    known: &ScopeSet,
) -> Result<NewClient, OAuthError> {
    let kind = match metadata.token_endpoint_auth_method.as_deref() {
        None | Some("none") => ClientKind::Public,
        Some("client_secret_basic" | "client_secret_post") => ClientKind::Confidential,
        Some(_) => {
            return Err(metadata_error(
                "token_endpoint_auth_method must be none, client_secret_basic or \
                 client_secret_post",
            ));
        }
    };
    if policy == RegistrationPolicy::Open && kind != ClientKind::Public {
        return Err(metadata_error(
            "open registration is for public clients (token_endpoint_auth_method none)",
        ));
    }
    let grant_types = grant_and_response_types(
        metadata.grant_types.as_deref(),
        metadata.response_types.as_deref(),
    )
    .map_err(metadata_error)?;
    if metadata.redirect_uris.len() > super::MAX_REDIRECT_URIS {
        return Err(redirect_error("at most 16 redirect URIs"));
    }
    for uri in &metadata.redirect_uris {
        validate_redirect_uri(uri)
            .map_err(|e| redirect_error(Cow::Owned(format!("{uri}: {e}"))))?;
        if policy == RegistrationPolicy::Open && !https_or_loopback(uri) {
            return Err(redirect_error(Cow::Owned(format!(
                "{uri}: open registration accepts https redirect URIs, or http on 127.0.0.1 or [::1]"
            ))));
        }
    }
    if grant_types.contains(GrantTypes::AUTHORIZATION_CODE) && metadata.redirect_uris.is_empty() {
        return Err(redirect_error(
            "the code grant needs at least one redirect URI",
        ));
    }
    let scopes = match metadata.scope.as_deref() {
        Some(s) => s
            .parse::<ScopeSet>()
            .map_err(|e| metadata_error(Cow::Owned(format!("scope: {e}"))))?,
        None => known.clone(),
    };
    if scopes.is_empty() {
        return Err(metadata_error("scope is required"));
    }
    let name = metadata
        .client_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Unnamed client".to_owned());
    let mut new = NewClient::new(name, kind, "", scopes.clone())
        .with_default_scopes(scopes)
        .with_grant_types(grant_types);
    new.redirect_uris = metadata.redirect_uris;
    Ok(new)
}

/// The registration response (RFC 7591 §3.2.1, RFC 7592 §3): the client's
/// metadata as registered, its id, its secret once (confidential clients),
/// and the registration access token once, with where to use it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ClientRegistration {
    /// The client's id.
    pub client_id: ClientId,
    /// The secret (confidential clients, at registration only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When the id was issued, seconds since the epoch.
    pub client_id_issued_at: i64,
    /// `0`: the secret does not expire (present when a secret is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The token for reading and deleting this registration (at
    /// registration only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    /// Where to read or delete it (RFC 7592).
    pub registration_client_uri: String,
    /// The name.
    pub client_name: String,
    /// The redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The grants.
    pub grant_types: GrantTypes,
    /// `["code"]` with the code grant, else none.
    pub response_types: Vec<&'static str>,
    /// `none`, or `client_secret_basic`.
    pub token_endpoint_auth_method: &'static str,
    /// The scopes it may ask for.
    pub scope: ScopeSet,
}

impl ClientRegistration {
    fn of(client: &ClientInfo, registration_client_uri: String) -> Self {
        Self {
            client_id: client.client_id.clone(),
            client_secret: None,
            client_id_issued_at: client.created_at.unix_timestamp(),
            client_secret_expires_at: None,
            registration_access_token: None,
            registration_client_uri,
            client_name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            grant_types: client.grant_types,
            response_types: if client.grant_types.contains(GrantTypes::AUTHORIZATION_CODE) {
                vec!["code"]
            } else {
                Vec::new()
            },
            token_endpoint_auth_method: match client.kind {
                ClientKind::Public => "none",
                ClientKind::Confidential => "client_secret_basic",
            },
            scope: client.allowed_scopes.clone(),
        }
    }
}

impl AuthorizationServer {
    /// Where `tenant`'s clients manage a registration (RFC 7592).
    fn registration_client_uri(&self, tenant: &TenantId, id: &ClientId) -> String {
        format!(
            "{}{}/{}",
            self.config.issuer_for(tenant),
            self.config.endpoints.register,
            id
        )
    }

    /// Registers a client dynamically (RFC 7591 §3) under the tenant's
    /// [`RegistrationPolicy`], which the caller has enforced (an
    /// [`InitialAccessToken`](RegistrationPolicy::InitialAccessToken) checked);
    /// `actor` is who registers (audited; `None`: the client itself).
    ///
    /// # Errors
    ///
    /// `invalid_redirect_uri` or `invalid_client_metadata` (400) for a
    /// request the rules refuse; `access_denied` (403) when the tenant's
    /// policy is [`Off`](RegistrationPolicy::Off);
    /// `temporarily_unavailable` when the store fails.
    pub async fn register_dynamic(
        &self,
        tenant: &TenantId,
        metadata: ClientMetadata,
        actor: Option<&Actor>,
    ) -> Result<ClientRegistration, OAuthError> {
        let policy = self.config.registration_for(tenant);
        if policy == RegistrationPolicy::Off {
            return Err(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "dynamic registration is off for this tenant",
            ));
        }
        let id = ClientId::generate();
        let new = plan_dynamic_registration(metadata, policy, &self.config.known_scopes)?
            .with_client_id(id.clone());
        let itself = Actor::Client { client_id: id };
        let token = random_token(REGISTRATION_TOKEN_PREFIX);
        let token_digest: Digest = self.digest(&token);
        let registered: RegisteredClient = self
            .register_client_with(tenant, new, actor.unwrap_or(&itself), Some(token_digest))
            .await
            .map_err(|e| match e {
                super::ClientError::Invalid(d) => metadata_error(d),
                super::ClientError::Store(_) => OAuthError::unavailable(),
                other => metadata_error(Cow::Owned(other.to_string())),
            })?;
        // The registration answered as stored (`plan_registration`'s
        // result), without reading it back.
        let client = &registered.client;
        let mut answer = ClientRegistration::of(
            client,
            self.registration_client_uri(tenant, &client.client_id),
        );
        answer.registration_access_token = Some(token);
        if let Some(secret) = registered.secret {
            answer.client_secret = Some(secret.expose_secret().to_owned());
            answer.client_secret_expires_at = Some(0);
        }
        Ok(answer)
    }

    /// The client a registration access token manages: `None` unless
    /// `token` is the one issued with the registration of `id` in `tenant`
    /// (compared in constant time, as digests).
    async fn registered_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        token: &str,
    ) -> Result<Option<std::sync::Arc<OAuthClient>>, OAuthError> {
        let Some(client) = self.clients.get(tenant, id).await? else {
            return Ok(None);
        };
        // `Digest`'s equality is constant-time.
        let matches = client
            .registration_digest
            .as_ref()
            .is_some_and(|stored| *stored == self.digest(token));
        Ok((matches && client.tenant == *tenant).then_some(client))
    }

    /// Reads a registration (RFC 7592 §2.1) with its registration access
    /// token: the metadata, without secret or token.
    ///
    /// # Errors
    ///
    /// `invalid_token` (401) unless `token` manages client `id` of
    /// `tenant`; `temporarily_unavailable` when the store fails.
    pub async fn read_registration(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        token: &str,
    ) -> Result<ClientRegistration, OAuthError> {
        let client = self
            .registered_client(tenant, id, token)
            .await?
            .ok_or_else(invalid_registration_token)?;
        Ok(ClientRegistration::of(
            &client.info(),
            self.registration_client_uri(tenant, id),
        ))
    }

    /// Deletes a registration (RFC 7592 §2.3) with its registration access
    /// token: the client is gone, so its refresh tokens and codes stop
    /// working at once (every grant looks the client up); its access
    /// tokens are revoked.
    ///
    /// # Errors
    ///
    /// `invalid_token` (401) unless `token` manages client `id` of
    /// `tenant`; `temporarily_unavailable` when the store fails.
    pub async fn delete_registration(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        token: &str,
    ) -> Result<(), OAuthError> {
        let client = self
            .registered_client(tenant, id, token)
            .await?
            .ok_or_else(invalid_registration_token)?;
        self.delete_client(
            tenant,
            &client.id,
            &Actor::Client {
                client_id: client.id.clone(),
            },
        )
        .await
        .map_err(|_| OAuthError::unavailable())
    }
}

fn invalid_registration_token() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::InvalidToken,
        "the registration access token is invalid for this client",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(json: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(json).unwrap()
    }

    fn known() -> ScopeSet {
        "documents:read documents:write".parse().unwrap()
    }

    #[test]
    fn open_registration_is_for_public_clients_with_https_or_loopback_uris() {
        let open = RegistrationPolicy::Open;
        let ok = plan_dynamic_registration(
            md(serde_json::json!({
                "redirect_uris": ["http://127.0.0.1:33418/callback"],
                "client_name": "Claude", "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "token_endpoint_auth_method": "none",
                "unknown_field": {"ignored": true},
            })),
            open,
            &known(),
        )
        .unwrap();
        assert_eq!(ok.kind, ClientKind::Public);
        assert_eq!(ok.allowed_scopes, known(), "defaults to the known scopes");
        assert_eq!(ok.name, "Claude");
        let code = |j| {
            plan_dynamic_registration(md(j), open, &known())
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(serde_json::json!({"redirect_uris": ["com.example.app:/cb"]})),
            OAuthErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(serde_json::json!({"redirect_uris": ["http://evil.example/cb"]})),
            OAuthErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(serde_json::json!({})),
            OAuthErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "scope": "a b\u{7f}"})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        // With an initial access token: confidential and private-use schemes.
        let gated = plan_dynamic_registration(
            md(serde_json::json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "client_secret_basic"})),
            RegistrationPolicy::InitialAccessToken,
            &known(),
        )
        .unwrap();
        assert_eq!(gated.kind, ClientKind::Confidential);
        assert_eq!(
            gated.grant_types,
            GrantTypes::AUTHORIZATION_CODE,
            "RFC 7591's default"
        );
        // No known scopes and none asked: refused.
        assert_eq!(
            plan_dynamic_registration(
                md(serde_json::json!({"redirect_uris": ["https://a.example/cb"]})),
                open,
                &ScopeSet::empty()
            )
            .unwrap_err()
            .code,
            OAuthErrorCode::InvalidClientMetadata
        );
    }
}
