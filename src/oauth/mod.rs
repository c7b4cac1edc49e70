//! OAuth 2.0 authorization server with PKCE, for user-context apps.
//!
//! * [`AuthorizationServer`]: the endpoints as async methods;
//! * [`ClientStore`] and [`GrantStore`]: the storage traits;
//! * [`CodeChallenge`]: PKCE (S256 only unless [`DangerousOptions`] says otherwise);
//! * [`OAuthError`] / [`OAuthErrorCode`]: RFC 6749 errors.
//!
//! Choices where the RFCs leave one, following RFC 9700 (OAuth 2.0 Security
//! BCP) and the OAuth 2.1 draft:
//! * PKCE is required for every client, public or confidential, and only
//!   `S256` is accepted (RFC 9700 §2.1.1).
//! * Redirect URIs match exactly, except the port of loopback IP URIs
//!   (RFC 8252 §7.3; RFC 9700 §4.1.3).
//! * Authorization codes live 60 s and are single-use; a replay revokes the
//!   tokens issued from the code (RFC 6749 §4.1.2).
//! * Refresh tokens rotate on every use; a reused refresh token revokes its
//!   whole family (RFC 9700 §4.14.2). The new refresh token keeps the
//!   family's scope; the access token may be narrowed.
//! * The authorization response carries `iss` (RFC 9207, mix-up defence).
//! * Revocation of a token issued to another client answers 200 and does
//!   nothing. RFC 7009 §2.1 says such a request "is refused"; answering it
//!   like an unknown token (§2.2) instead means the endpoint cannot be used
//!   to learn whether a token exists — a deliberate choice.
//! * Introspection (RFC 7662) is for resource servers: a confidential client
//!   of the tenant, or an API key holding the introspection scope, may
//!   introspect any token of its own tenant; public clients may not, and a
//!   token of another tenant is always inactive. Register only resource
//!   servers you trust as confidential clients (RFC 7662 §4).

mod access;
mod authorize;
mod client;
mod client_auth;
mod client_credentials;
mod clients;
mod config;
mod error;
mod exchange;
#[cfg(test)]
mod fixtures;
mod grant;
mod grant_types;
mod introspect;
mod issuer;
mod metadata;
mod metadata_document;
#[cfg(feature = "client-id-metadata")]
mod metadata_fetch;
mod params;
mod pkce;
mod refresh;
mod registration;
mod resource;
mod revoke;
mod server;
mod token;

pub use crate::ids::{ClientId, FamilyId, InvalidClientId, MAX_METADATA_URL_LEN};
pub use access::verify_access_token;
pub use authorize::{
    AuthorizationRequest, AuthorizeError, ErrorRedirect, ValidatedAuthorization, plan_approval,
    plan_requested_scopes,
};
pub(crate) use client::is_uri_scheme;
pub use client::{
    ClientInfo, ClientKind, ClientStore, InvalidRedirectUri, MAX_REDIRECT_URI_LEN,
    MAX_REDIRECT_URIS, OAuthClient, redirect_uri_matches, validate_redirect_uri,
};
pub use client_auth::check_client;
pub(crate) use client_auth::presented_client_id;
pub use clients::{ClientError, NewClient, RegisteredClient, plan_registration};
pub use config::{
    AuthorizationServerConfig, DangerousOptions, Endpoints, MAX_CODE_TTL, MAX_REFRESH_REUSE_GRACE,
};
pub use error::{CredentialFailure, OAuthError, OAuthErrorCode};
pub use exchange::{ExchangePlan, plan_exchange};
pub use grant::{
    AccessTokenRecord, AuthorizationCodeRecord, ConsumeCode, GrantStore, InsertTokens, NewTokens,
    RefreshTokenRecord, RotateRefresh,
};
pub use grant_types::{GrantTypes, UnknownGrantType};
pub use introspect::{introspect_access, introspect_refresh, visible_to_client};
pub use issuer::{InvalidIssuer, Issuer};
pub(crate) use issuer::{PLACEHOLDER, fill_tenant};
pub use metadata::server_metadata;
pub use metadata_document::{
    ClientMetadataResolver, MetadataDocuments, MetadataFetchError, plan_metadata_client,
};
#[cfg(feature = "client-id-metadata")]
pub use metadata_fetch::{DangerousFetchOptions, HttpsMetadataFetcher, is_forbidden_address};
pub(crate) use params::Params;
pub use params::{MAX_PARAM_LEN, MAX_PARAMS};
pub use pkce::{
    CodeChallenge, CodeChallengeMethod, PKCE_MAX_LEN, PKCE_MIN_LEN, is_valid_verifier_syntax,
};
pub use refresh::{
    RefreshPlan, UnknownRefresh, forget_rotated_before, plan_refresh, plan_unknown_refresh,
};
pub use registration::{
    ClientMetadata, ClientRegistration, REGISTER_SCOPE, REGISTRATION_TOKEN_PREFIX,
    RegistrationPolicy, plan_dynamic_registration,
};
pub(crate) use resource::requested_resources;
pub use resource::{
    MAX_RESOURCE_LEN, MAX_RESOURCES, Resources, plan_new_resources, plan_resources,
    validate_resource, validate_resource_template,
};
pub use revoke::{Presented, RevokePlan, plan_revoke};
pub use server::{
    ACCESS_TOKEN_PREFIX, AuthorizationServer, CLIENT_SECRET_PREFIX, CODE_PREFIX,
    REFRESH_TOKEN_PREFIX,
};
pub use token::{Introspection, ServerMetadata, TokenRequest, TokenResponse};
