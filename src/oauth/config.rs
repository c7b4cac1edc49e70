//! Settings of the authorization server.

use time::Duration;

use std::{collections::HashMap, sync::Arc};

use super::{Issuer, OAuthError, RegistrationPolicy, Resources, validate_resource_template};
use crate::{ScopeSet, SecretHasher, TenantId};

/// The longest an authorization code may live (RFC 6749 §4.1.2: "a maximum
/// authorization code lifetime of 10 minutes is RECOMMENDED").
pub const MAX_CODE_TTL: Duration = Duration::minutes(10);

/// The longest refresh-reuse grace window: a grace is for a client's own
/// concurrent requests, which land within seconds of each other.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::seconds(60);

/// Settings of an [`AuthorizationServer`](super::AuthorizationServer).
///
/// The [`issuer`](Self::issuer) is required; every other field has a safe
/// default, and the risky ones sit behind [`dangerous`](Self::dangerous).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizationServerConfig {
    /// The issuer identifier (RFC 8414, RFC 9207): see [`Issuer`]. No
    /// default.
    pub issuer: Issuer,
    /// Every scope the server knows; requests for others are
    /// `invalid_scope`, registering a client allowed others is refused, and
    /// the metadata lists them (`scopes_supported`). Defaults to empty,
    /// which means any RFC 6749 §3.3 scope: the library has no vocabulary
    /// of its own, and what a client may ask for is bounded by the scopes
    /// its registration allows. Declare yours to catch typos early.
    pub known_scopes: ScopeSet,
    /// Access-token lifetime. Defaults to 1 hour.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime when unused. Defaults to 30 days.
    pub refresh_token_ttl: Duration,
    /// Absolute lifetime of a token family: no refresh works past it, however
    /// often the family was refreshed. Defaults to 90 days.
    pub refresh_family_lifetime: Duration,
    /// Authorization-code lifetime. Defaults to 60 seconds; at most
    /// [`MAX_CODE_TTL`].
    pub code_ttl: Duration,
    /// For this long after a refresh token was rotated, presenting it again
    /// by the same client issues another token pair in the family instead of
    /// revoking the family: for clients that refresh concurrently. Defaults to
    /// zero (off): every reuse revokes the family, as RFC 9700 §4.14.2 asks.
    /// At most [`MAX_REFRESH_REUSE_GRACE`] is honoured. Stores keep a rotated
    /// refresh token this long and then delete it; a later replay is still
    /// recognised as a reuse by the family handle the token begins with.
    pub refresh_reuse_grace: Duration,
    /// How tokens, codes and client secrets are digested. Defaults to SHA-256.
    pub hasher: SecretHasher,
    /// Endpoint paths, for the server metadata.
    pub endpoints: Endpoints,
    /// The resource servers tokens may be bound to (RFC 8707), as
    /// templates with `{tenant}` where each tenant's URI differs
    /// (`https://{tenant}.papyrus.io/mcp`): set with
    /// [`with_resource`](Self::with_resource). A request naming another
    /// resource is `invalid_target`. Defaults to none: tokens are then
    /// never bound, and a request naming any resource is refused.
    pub resources: Vec<Arc<str>>,
    /// Who may register clients at the registration endpoint (RFC 7591):
    /// every tenant's policy, unless [`tenant_registration`](Self::tenant_registration)
    /// names it. Defaults to [`RegistrationPolicy::Off`].
    pub registration: RegistrationPolicy,
    /// Per-tenant registration policies, overriding
    /// [`registration`](Self::registration).
    pub tenant_registration: HashMap<TenantId, RegistrationPolicy>,
    /// Whether clients may be named by the `https` URL of a Client ID
    /// Metadata Document (with a resolver set on the server:
    /// [`AuthorizationServer::with_metadata_documents`](super::AuthorizationServer::with_metadata_documents)),
    /// in every tenant that [`tenant_client_id_metadata`](Self::tenant_client_id_metadata)
    /// does not name. Defaults to `false`.
    pub client_id_metadata: bool,
    /// Per-tenant overrides of [`client_id_metadata`](Self::client_id_metadata).
    pub tenant_client_id_metadata: HashMap<TenantId, bool>,
    dangerous: DangerousOptions,
}

/// The paths of the OAuth endpoints (joined to the issuer in the metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// Defaults to `/oauth/authorize`.
    pub authorize: String,
    /// Defaults to `/oauth/token`.
    pub token: String,
    /// Defaults to `/oauth/revoke`.
    pub revoke: String,
    /// Defaults to `/oauth/introspect`.
    pub introspect: String,
    /// Dynamic client registration (RFC 7591). Defaults to
    /// `/oauth/register`.
    pub register: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            authorize: "/oauth/authorize".into(),
            token: "/oauth/token".into(),
            revoke: "/oauth/revoke".into(),
            introspect: "/oauth/introspect".into(),
            register: "/oauth/register".into(),
        }
    }
}

/// Options that weaken security. Reached only through
/// [`AuthorizationServerConfig::dangerous`], so that they stand out in review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DangerousOptions {
    /// Accept PKCE `plain` challenges (and requests that omit the method).
    /// RFC 9700 §2.1.1: "PKCE challenge method `plain` … SHOULD NOT be used".
    pub allow_plain_pkce: bool,
}

impl AuthorizationServerConfig {
    /// The settings of a server known to its clients as `issuer`, every
    /// other field at its default.
    pub fn new(issuer: Issuer) -> Self {
        Self {
            issuer,
            known_scopes: ScopeSet::empty(),
            access_token_ttl: Duration::hours(1),
            refresh_token_ttl: Duration::days(30),
            refresh_family_lifetime: Duration::days(90),
            code_ttl: Duration::seconds(60),
            refresh_reuse_grace: Duration::ZERO,
            hasher: SecretHasher::sha256(),
            endpoints: Endpoints::default(),
            resources: Vec::new(),
            registration: RegistrationPolicy::Off,
            tenant_registration: HashMap::new(),
            client_id_metadata: false,
            tenant_client_id_metadata: HashMap::new(),
            dangerous: DangerousOptions::default(),
        }
    }

    /// Registers a resource server (RFC 8707) by its URI, `{tenant}` where
    /// each tenant's differs: an absolute URI without a fragment.
    ///
    /// ```
    /// use papyrus_auth::{TenantId, oauth::AuthorizationServerConfig};
    ///
    /// let config = AuthorizationServerConfig::new("https://{tenant}.papyrus.io".parse()?)
    ///     .with_resource("https://{tenant}.papyrus.io/mcp")?;
    /// let acme: TenantId = "acme".parse()?;
    /// assert!(config.resources_for(&acme).contains("https://acme.papyrus.io/mcp"));
    /// assert!(config.clone().with_resource("/mcp").is_err()); // not absolute
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_target` (with the reason) for a URI
    /// [`validate_resource_template`] refuses.
    pub fn with_resource(mut self, template: &str) -> Result<Self, OAuthError> {
        validate_resource_template(template)?;
        let template: Arc<str> = Arc::from(template);
        if !self.resources.contains(&template) {
            self.resources.push(template);
        }
        Ok(self)
    }

    /// Sets every tenant's [`registration`](Self::registration) policy.
    pub fn with_registration(mut self, policy: RegistrationPolicy) -> Self {
        self.registration = policy;
        self
    }

    /// Sets `tenant`'s registration policy, overriding the default.
    pub fn with_tenant_registration(
        mut self,
        tenant: TenantId,
        policy: RegistrationPolicy,
    ) -> Self {
        self.tenant_registration.insert(tenant, policy);
        self
    }

    /// Sets [`client_id_metadata`](Self::client_id_metadata) for every tenant.
    pub fn with_client_id_metadata(mut self, accept: bool) -> Self {
        self.client_id_metadata = accept;
        self
    }

    /// Sets whether `tenant` accepts Client ID Metadata Documents.
    pub fn with_tenant_client_id_metadata(mut self, tenant: TenantId, accept: bool) -> Self {
        self.tenant_client_id_metadata.insert(tenant, accept);
        self
    }

    /// Whether `tenant`'s policy accepts Client ID Metadata Documents.
    pub fn client_id_metadata_for(&self, tenant: &TenantId) -> bool {
        self.tenant_client_id_metadata
            .get(tenant)
            .copied()
            .unwrap_or(self.client_id_metadata)
    }

    /// The registration policy of `tenant`.
    pub fn registration_for(&self, tenant: &TenantId) -> RegistrationPolicy {
        self.tenant_registration
            .get(tenant)
            .copied()
            .unwrap_or(self.registration)
    }

    /// The resources registered for `tenant`: the templates with
    /// `{tenant}` replaced.
    pub fn resources_for(&self, tenant: &TenantId) -> Resources {
        if self.resources.is_empty() {
            return Resources::none();
        }
        Resources::from_trusted(
            self.resources
                .iter()
                .map(|t| super::issuer::fill_tenant(t, tenant.as_str())),
        )
    }

    /// Sets [`issuer`](Self::issuer).
    pub fn with_issuer(mut self, issuer: Issuer) -> Self {
        self.issuer = issuer;
        self
    }
    /// Sets [`known_scopes`](Self::known_scopes).
    pub fn with_known_scopes(mut self, scopes: ScopeSet) -> Self {
        self.known_scopes = scopes;
        self
    }
    /// Sets [`access_token_ttl`](Self::access_token_ttl).
    pub fn with_access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }
    /// Sets [`refresh_token_ttl`](Self::refresh_token_ttl).
    pub fn with_refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }
    /// Sets [`refresh_family_lifetime`](Self::refresh_family_lifetime).
    pub fn with_refresh_family_lifetime(mut self, ttl: Duration) -> Self {
        self.refresh_family_lifetime = ttl;
        self
    }
    /// Sets [`code_ttl`](Self::code_ttl), capped at [`MAX_CODE_TTL`].
    pub fn with_code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl.min(MAX_CODE_TTL);
        self
    }
    /// Sets [`refresh_reuse_grace`](Self::refresh_reuse_grace), capped at
    /// [`MAX_REFRESH_REUSE_GRACE`].
    pub fn with_refresh_reuse_grace(mut self, grace: Duration) -> Self {
        self.refresh_reuse_grace = grace.clamp(Duration::ZERO, MAX_REFRESH_REUSE_GRACE);
        self
    }
    /// Sets [`hasher`](Self::hasher).
    pub fn with_hasher(mut self, hasher: SecretHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// The options that weaken security, to change them loudly:
    ///
    /// ```
    /// use papyrus_auth::oauth::AuthorizationServerConfig;
    ///
    /// let mut config = AuthorizationServerConfig::new("https://auth.example.com".parse()?);
    /// config.dangerous().allow_plain_pkce = true;
    /// assert!(config.dangerous_options().allow_plain_pkce);
    /// # Ok::<(), papyrus_auth::oauth::InvalidIssuer>(())
    /// ```
    pub fn dangerous(&mut self) -> &mut DangerousOptions {
        &mut self.dangerous
    }

    /// The current dangerous options (all off by default).
    pub fn dangerous_options(&self) -> DangerousOptions {
        self.dangerous
    }

    /// The issuer of `tenant`.
    pub fn issuer_for(&self, tenant: &TenantId) -> String {
        self.issuer.for_tenant(tenant)
    }

    pub(crate) fn effective_grace(&self) -> Duration {
        self.refresh_reuse_grace
            .clamp(Duration::ZERO, MAX_REFRESH_REUSE_GRACE)
    }

    pub(crate) fn effective_code_ttl(&self) -> Duration {
        self.code_ttl.clamp(Duration::seconds(1), MAX_CODE_TTL)
    }
}
