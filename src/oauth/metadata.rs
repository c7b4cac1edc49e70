//! Authorization server metadata (RFC 8414).

use super::{AuthorizationServer, AuthorizationServerConfig, RegistrationPolicy, ServerMetadata};
use crate::TenantId;

impl AuthorizationServer {
    /// The server metadata of `tenant` (RFC 8414), served at
    /// `/.well-known/oauth-authorization-server`: [`server_metadata`].
    pub fn metadata(&self, tenant: &TenantId) -> ServerMetadata {
        let mut metadata = server_metadata(&self.config, tenant);
        metadata.client_id_metadata_document_supported =
            self.accepts_metadata_documents(tenant).then_some(true);
        metadata
    }
}

/// The server metadata (RFC 8414 §2) of `tenant` under `config`. Pure.
pub fn server_metadata(config: &AuthorizationServerConfig, tenant: &TenantId) -> ServerMetadata {
    let issuer = config.issuer_for(tenant);
    let base = issuer.trim_end_matches('/');
    let e = &config.endpoints;
    let mut methods = vec!["S256"];
    if config.dangerous_options().allow_plain_pkce {
        methods.push("plain");
    }
    let scopes: Vec<String> = config.known_scopes.iter().map(|s| s.to_string()).collect();
    ServerMetadata {
        authorization_endpoint: format!("{base}{}", e.authorize),
        token_endpoint: format!("{base}{}", e.token),
        revocation_endpoint: format!("{base}{}", e.revoke),
        introspection_endpoint: format!("{base}{}", e.introspect),
        registration_endpoint: (config.registration_for(tenant) != RegistrationPolicy::Off)
            .then(|| format!("{base}{}", e.register)),
        client_id_metadata_document_supported: None,
        issuer,
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        code_challenge_methods_supported: methods,
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        scopes_supported: (!scopes.is_empty()).then_some(scopes),
        authorization_response_iss_parameter_supported: true,
    }
}
