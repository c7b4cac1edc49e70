//! The axum 0.8 / tower adapter (feature `axum`).
//!
//! * [`AuthLayer`]: authenticates every request (API key or OAuth access
//!   token) and puts the [`Principal`] in the request extensions, or answers
//!   401/403/400/503 itself;
//! * extractors: [`Principal`] and [`RequireScopes<R>`](RequireScopes)
//!   (403 `insufficient_scope`), rejecting with [`AuthRejection`], whose
//!   [`reason`](AuthRejection::reason) a handler can match on;
//! * [`routes`]: the endpoints the [`HttpAuth`] serves (OAuth, metadata,
//!   the admin API), or one group at a time ([`oauth_routes`],
//!   [`metadata_routes`], [`admin_routes`]).
//!
//! The client IP comes from [`ConnectInfo`]: serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` (without it, keys
//! with an IP allowlist are refused).
//!
//! # Examples
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{Router, routing::get};
//! use papyrus_auth::{Principal, axum::{AuthLayer, routes}, http::HttpAuth};
//!
//! async fn documents(principal: Principal) -> String {
//!     format!("documents of {}", principal.tenant())
//! }
//!
//! # async fn serve(auth: HttpAuth) -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/api/v1/documents", get(documents))
//!     .layer(AuthLayer::new(auth.clone()))
//!     .merge(routes(auth));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::any,
};

use crate::{
    Answer, Principal, ScopeSet,
    http::{
        EndpointGroup, HeaderSource, HttpAuth, HttpRequest, HttpResponse, InvalidRequirement,
        ScopeRequirement, body_too_large, required_scopes,
    },
};

/// `name` as a `HeaderName`: the names the library reads without parsing
/// (`HeaderMap::get(&str)` parses the name, lower-casing `X-Tenant-Id`, on
/// every call), any other by parsing it. The same table as the actix
/// adapter's, over the `http` 1 types.
fn header_name(name: &str) -> Option<HeaderName> {
    use axum::http::header;
    // Built at compile time (`from_static` validates when called at run time).
    const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    Some(match name {
        "authorization" => header::AUTHORIZATION,
        crate::http::TENANT_HEADER | "x-tenant-id" => X_TENANT_ID,
        "host" => header::HOST,
        "content-type" => header::CONTENT_TYPE,
        "forwarded" => header::FORWARDED,
        "x-forwarded-for" => X_FORWARDED_FOR,
        _ => return HeaderName::from_bytes(name.as_bytes()).ok(),
    })
}

impl HeaderSource for HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(header_name(name)?).and_then(|v| v.to_str().ok())
    }

    fn header_values(&self, name: &str) -> Vec<Option<&str>> {
        let Some(name) = header_name(name) else {
            return Vec::new();
        };
        self.get_all(name).iter().map(|v| v.to_str().ok()).collect()
    }

    fn single_header(&self, name: &str) -> Result<Option<&str>, crate::Rejection> {
        let Some(name) = header_name(name) else {
            return Ok(None);
        };
        crate::http::at_most_one(self.get_all(name).iter().map(|v| v.to_str().ok()))
    }

    fn headers_len(&self) -> usize {
        self.iter().map(|(n, v)| n.as_str().len() + v.len()).sum()
    }

    fn header_stats(&self) -> crate::http::HeaderStats {
        crate::http::HeaderStats::count(
            self.iter().map(|(n, v)| (n, v.len())),
            |n| n.as_str().len(),
            |n| *n == axum::http::header::HOST,
        )
    }
}

/// Converts a framework-neutral response to an axum response.
pub fn into_response(r: HttpResponse) -> Response {
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in r.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn peer(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

pub use crate::http::{AuthRejection, RequireScopes};

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        into_response(self.response())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    /// The principal that [`AuthLayer`] authenticated; a 401
    /// ([`Rejection::MissingCredentials`](crate::Rejection::MissingCredentials))
    /// if there is none: the route is not behind the layer.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AuthRejection::new(crate::Rejection::MissingCredentials))
    }
}

/// The realm the layer left for the extractors' rejections, if any.
fn realm_of(parts: &Parts) -> Option<&crate::http::ChallengeRealm> {
    parts.extensions.get()
}

/// Extracts the [`Principal`] and requires the scopes of `R`; otherwise 403
/// `insufficient_scope` with the RFC 6750 challenge. A handler that wants
/// to answer a refusal its own way takes `Result<RequireScopes<R>,
/// AuthRejection>` and matches on [`AuthRejection::reason`].
///
/// ```
/// use papyrus_auth::{axum::{AuthRejection, RequireScopes}, http::ScopeRequirement, Rejection};
///
/// struct DocumentsWrite;
/// impl ScopeRequirement for DocumentsWrite {
///     const SCOPES: &'static str = "documents:write";
/// }
///
/// async fn create(RequireScopes { principal, .. }: RequireScopes<DocumentsWrite>) -> String {
///     format!("created by {}", principal.subject())
/// }
///
/// async fn create_or_explain(scoped: Result<RequireScopes<DocumentsWrite>, AuthRejection>) -> String {
///     match scoped {
///         Ok(scoped) => format!("created by {}", scoped.subject()),
///         Err(refused) => match refused.reason() {
///             Rejection::InsufficientScope { required } => format!("ask for {required}"),
///             _ => refused.to_string(),
///         },
///     }
/// }
/// ```
impl<S: Send + Sync, R: ScopeRequirement> FromRequestParts<S> for RequireScopes<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        Self::check(principal).map_err(|refused| refused.in_realm(realm_of(parts)))
    }
}

/// A tower [`Layer`](tower::Layer) that authenticates requests with an
/// [`HttpAuth`], optionally requiring scopes for every request it wraps.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: HttpAuth,
    required: ScopeSet,
}

impl AuthLayer {
    /// Authenticates with `auth`; requires no particular scope.
    pub fn new(auth: HttpAuth) -> Self {
        Self {
            auth,
            required: ScopeSet::empty(),
        }
    }

    /// Requires `scopes` (space-delimited) of every request: 403
    /// `insufficient_scope` otherwise.
    ///
    /// # Errors
    ///
    /// [`InvalidRequirement`] for a list that is not sound (see
    /// [`requirement_problem`](crate::http::requirement_problem)): a typo
    /// is refused here, where the layer is built, not by a 403 on every
    /// request.
    ///
    /// ```
    /// # fn layer(auth: papyrus_auth::http::HttpAuth) -> Result<(), papyrus_auth::http::InvalidRequirement> {
    /// use papyrus_auth::axum::AuthLayer;
    /// let reports = AuthLayer::new(auth.clone()).with_required_scopes("reports:read")?;
    /// assert!(AuthLayer::new(auth).with_required_scopes("reports:read,reports:write").is_err());
    /// # Ok(()) }
    /// ```
    pub fn with_required_scopes(mut self, scopes: &str) -> Result<Self, InvalidRequirement> {
        self.required = required_scopes(scopes)?;
        Ok(self)
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    /// One shared handle: a request clones one reference count, not two.
    layer: Arc<AuthLayer>,
}

impl<S> tower::Service<Request> for AuthService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let peer = peer(req.extensions());
        let layer = &self.layer;
        // With a store that answers at once (the memory stores), the request
        // is decided here and the inner service's future is returned as it
        // is: no boxed future per request.
        let pending = match layer
            .auth
            .authenticate(req.headers(), peer, &layer.required)
        {
            Answer::Now(Ok(principal)) => {
                req.extensions_mut().insert(principal);
                if let Some(realm) = layer.auth.challenge_for(req.headers()) {
                    req.extensions_mut().insert(realm);
                }
                return AuthFuture::inner(self.inner.call(req));
            }
            Answer::Now(Err(response)) => {
                // The service polled ready is not called: drop it, releasing
                // whatever its readiness reserved (a concurrency permit, a
                // buffer slot), as the boxed path does.
                let clone = self.inner.clone();
                drop(std::mem::replace(&mut self.inner, clone));
                return AuthFuture::ready(into_response(response));
            }
            Answer::Later(pending) => pending,
        };
        // The clone that was polled ready is the one we call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let realm = layer.auth.challenge_for(req.headers());
        AuthFuture::boxed(Box::pin(async move {
            match pending.await {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    if let Some(realm) = realm {
                        req.extensions_mut().insert(realm);
                    }
                    inner.call(req).await
                }
                Err(response) => Ok(into_response(response)),
            }
        }))
    }
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]: the inner service's own future when
    /// the request was decided at once, the refusal, or (when a store or
    /// the failure throttle must be waited on) a boxed future.
    pub struct AuthFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response> },
        Boxed { future: BoxedResponse },
    }
}

impl<F> AuthFuture<F> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn ready(response: Response) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn boxed(future: BoxedResponse) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F> std::fmt::Debug for AuthFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFuture").finish_non_exhaustive()
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for AuthFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            // Polled again after completion (a contract breach): a 500.
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// The library's endpoints that `auth` serves (see [`crate::http`] and
/// [`EndpointGroup`]): [`oauth_routes`] and [`metadata_routes`] with
/// OAuth, [`admin_routes`] with the admin API. Merge it into your router;
/// do not put it behind [`AuthLayer`] (the admin endpoints authenticate
/// themselves, the OAuth ones must be reachable).
///
/// # Mounting some groups, or replacing one endpoint
///
/// Mount the group functions you want instead. To serve one endpoint
/// yourself, route its exact path to your handler beside the group: a
/// path of yours is preferred to the group's wildcard (axum matches static
/// segments first), and every other path of the group is still the
/// library's. [`endpoint`] is the handler behind every group, to route a
/// path of the library's yourself.
///
/// ```
/// use axum::{Router, routing::get};
/// use papyrus_auth::{axum::{metadata_routes, oauth_routes}, http::HttpAuth};
///
/// async fn my_authorize() -> &'static str {
///     "our own authorization page"
/// }
///
/// fn app(auth: HttpAuth) -> Router {
///     Router::new()
///         .route("/oauth/authorize", get(my_authorize)) // ours
///         .merge(oauth_routes(auth.clone()))              // the rest of /oauth/*
///         .merge(metadata_routes(auth))                   // no admin API
/// }
/// ```
pub fn routes<S: Clone + Send + Sync + 'static>(auth: HttpAuth) -> Router<S> {
    let mut router = Router::new();
    if auth.serves(EndpointGroup::OAuth) {
        router = router.merge(oauth_routes(auth.clone()));
    }
    if auth.serves(EndpointGroup::Metadata) {
        router = router.merge(metadata_routes(auth.clone()));
    }
    if auth.serves(EndpointGroup::ResourceMetadata) {
        router = router.merge(resource_metadata_routes(auth.clone()));
    }
    if auth.serves(EndpointGroup::Admin) {
        router = router.merge(admin_routes(auth));
    }
    router
}

/// [`EndpointGroup::ResourceMetadata`]: `/.well-known/oauth-protected-resource`
/// and every path under it (RFC 9728 §3.1; the one of the configured
/// resource answers, the others are JSON 404s).
pub fn resource_metadata_routes<S: Clone + Send + Sync + 'static>(auth: HttpAuth) -> Router<S> {
    Router::new()
        .route("/.well-known/oauth-protected-resource", any(endpoint))
        .route(
            "/.well-known/oauth-protected-resource/{*rest}",
            any(endpoint),
        )
        .with_state(auth)
}

/// [`EndpointGroup::OAuth`]: `/oauth/*` (authorize, token, revoke,
/// introspect; any other path under it is a JSON 404).
pub fn oauth_routes<S: Clone + Send + Sync + 'static>(auth: HttpAuth) -> Router<S> {
    Router::new()
        .route("/oauth/{*rest}", any(endpoint))
        .with_state(auth)
}

/// [`EndpointGroup::Metadata`]: `/.well-known/oauth-authorization-server`
/// and `/.well-known/openid-configuration`.
pub fn metadata_routes<S: Clone + Send + Sync + 'static>(auth: HttpAuth) -> Router<S> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", any(endpoint))
        .route("/.well-known/openid-configuration", any(endpoint))
        .with_state(auth)
}

/// [`EndpointGroup::Admin`]: `/admin/api-keys…`, `/admin/audit`,
/// `/admin/clients`.
pub fn admin_routes<S: Clone + Send + Sync + 'static>(auth: HttpAuth) -> Router<S> {
    Router::new()
        .route("/admin/api-keys", any(endpoint))
        .route("/admin/api-keys/{*rest}", any(endpoint))
        .route("/admin/audit", any(endpoint))
        .route("/admin/clients", any(endpoint))
        .with_state(auth)
}

/// The handler of every library endpoint: answers whatever path of the
/// module table it gets ([`HttpAuth::handle`]), with the body read up to
/// [`HttpAuthConfig::max_body`](crate::http::HttpAuthConfig::max_body).
/// Route a path to it yourself with `.with_state(auth)`.
pub async fn endpoint(State(auth): State<HttpAuth>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, auth.config().max_body).await else {
        return into_response(body_too_large());
    };
    let request = to_neutral(&parts, body.to_vec());
    into_response(auth.handle(&request).await)
}

/// Converts request parts and a body to the framework-neutral request.
pub fn to_neutral(parts: &Parts, body: Vec<u8>) -> HttpRequest {
    let mut request = HttpRequest::new(parts.method.as_str(), parts.uri.path());
    request.query = parts.uri.query().unwrap_or("").to_owned();
    request.headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                crate::http::readable_or_replaced(v.as_bytes()),
            )
        })
        .collect();
    request.body = body;
    request.peer = peer(&parts.extensions);
    request
}
