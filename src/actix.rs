//! The actix-web 4 adapter (feature `actix`).
//!
//! * [`AuthMiddleware`]: authenticates every request (API key or OAuth access
//!   token) and puts the [`Principal`] in the request extensions, or answers
//!   401/403/400/503 itself. With
//!   [`with_required_scopes`](AuthMiddleware::with_required_scopes) it is also
//!   the *scope guard* of a whole [`web::scope`] or
//!   [`web::resource`] (403 `insufficient_scope`);
//! * extractors: [`Principal`] and [`RequireScopes<R>`](RequireScopes)
//!   (403 `insufficient_scope`), rejecting with [`AuthRejection`];
//! * [`configure`]: the OAuth endpoints, metadata and key administration.
//!
//! Every response is the framework-neutral [`HttpResponse`] copied as is, so
//! this adapter answers byte for byte like the axum one. The client IP comes
//! from the connection's peer address ([`actix_web::HttpRequest::peer_addr`]).
//!
//! # Examples
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use papyrus_auth::{Principal, actix::{AuthMiddleware, configure}, http::HttpAuth};
//!
//! async fn documents(principal: Principal) -> String {
//!     format!("documents of {}", principal.tenant())
//! }
//!
//! # async fn serve(auth: HttpAuth) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .service(
//!             web::resource("/api/v1/documents")
//!                 .wrap(AuthMiddleware::new(auth.clone()))
//!                 .route(web::get().to(documents)),
//!         )
//!         .configure(configure(auth.clone()))
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await
//! # }
//! ```
//!
//! Wrap each protected resource (or a `web::scope` holding only protected
//! resources): a middleware on a scope also runs for the scope's unmatched
//! paths, which then get a 401 rather than a 404.

use std::{
    fmt,
    future::{Future, Ready, ready},
    pin::Pin,
    rc::Rc,
};

use actix_web::{
    FromRequest, HttpMessage, ResponseError,
    body::EitherBody,
    dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{
        StatusCode,
        header::{HeaderMap, HeaderName, HeaderValue},
    },
    web,
};

use crate::{
    Answer, Principal, ScopeSet,
    http::{
        EndpointGroup, HeaderSource, HttpAuth, HttpRequest, HttpResponse, InvalidRequirement,
        ScopeRequirement, body_too_large, required_scopes,
    },
};

/// `name` as a `HeaderName`: the names the library reads without parsing
/// (actix's `HeaderMap::get(&str)` parses, and for a non-standard name such
/// as `X-Tenant-Id` allocates, on every call), any other by parsing it.
fn header_name(name: &str) -> Option<HeaderName> {
    use actix_web::http::header;
    // Built at compile time (`from_static` validates when called at run time).
    const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
    Some(match name {
        "authorization" => header::AUTHORIZATION,
        super::http::TENANT_HEADER | "x-tenant-id" => X_TENANT_ID,
        "host" => header::HOST,
        "content-type" => header::CONTENT_TYPE,
        "forwarded" => header::FORWARDED,
        "x-forwarded-for" => header::X_FORWARDED_FOR,
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
        self.get_all(name).map(|v| v.to_str().ok()).collect()
    }

    fn single_header(&self, name: &str) -> Result<Option<&str>, crate::Rejection> {
        let Some(name) = header_name(name) else {
            return Ok(None);
        };
        crate::http::at_most_one(self.get_all(name).map(|v| v.to_str().ok()))
    }

    fn headers_len(&self) -> usize {
        self.iter().map(|(n, v)| n.as_str().len() + v.len()).sum()
    }

    fn header_stats(&self) -> crate::http::HeaderStats {
        crate::http::HeaderStats::count(
            self.iter().map(|(n, v)| (n, v.len())),
            |n| n.as_str().len(),
            |n| *n == actix_web::http::header::HOST,
        )
    }
}

/// Converts a framework-neutral response to an actix-web response: the same
/// status, every header (repeated ones included, in order) and the same body.
pub fn into_response(r: HttpResponse) -> actix_web::HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = actix_web::HttpResponse::with_body(status, r.body).map_into_boxed_body();
    for (name, value) in r.headers {
        // `from_bytes` lowercases the (static, ASCII) names.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Converts an actix-web request and its body to the framework-neutral
/// request: method, path, query string, headers, body and peer IP.
pub fn to_neutral(req: &actix_web::HttpRequest, body: Vec<u8>) -> HttpRequest {
    let mut request = HttpRequest::new(req.method().as_str(), req.uri().path());
    request.query = req.uri().query().unwrap_or("").to_owned();
    request.headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                crate::http::readable_or_replaced(v.as_bytes()),
            )
        })
        .collect();
    request.body = body;
    request.peer = req.peer_addr().map(|a| a.ip());
    request
}

pub use crate::http::{AuthRejection, RequireScopes};

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        into_response(self.response())
    }
}

fn principal_of(req: &actix_web::HttpRequest) -> Result<Principal, AuthRejection> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| AuthRejection::new(crate::Rejection::MissingCredentials))
}

impl FromRequest for Principal {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The principal that [`AuthMiddleware`] authenticated; a 401
    /// ([`Rejection::MissingCredentials`](crate::Rejection::MissingCredentials))
    /// if there is none: the route is not behind the middleware.
    fn from_request(req: &actix_web::HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal_of(req))
    }
}

/// Extracts the [`Principal`] and requires the scopes of `R`; otherwise 403
/// `insufficient_scope` with the RFC 6750 challenge.
///
/// ```
/// use papyrus_auth::{actix::RequireScopes, http::ScopeRequirement};
///
/// struct DocumentsWrite;
/// impl ScopeRequirement for DocumentsWrite {
///     const SCOPES: &'static str = "documents:write";
/// }
///
/// async fn create(RequireScopes { principal, .. }: RequireScopes<DocumentsWrite>) -> String {
///     format!("created by {}", principal.subject())
/// }
/// ```
impl<R: ScopeRequirement> FromRequest for RequireScopes<R> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal_of(req).and_then(|principal| {
            Self::check(principal).map_err(|refused| {
                refused.in_realm(req.extensions().get::<crate::http::ChallengeRealm>())
            })
        }))
    }
}

/// An actix-web middleware ([`Transform`]) that authenticates requests with
/// an [`HttpAuth`], optionally requiring scopes for every request it wraps.
///
/// Required scopes make it the **scope guard** of whatever it wraps: a
/// credential without them gets 403 `insufficient_scope` before any handler
/// runs.
///
/// ```no_run
/// use actix_web::{App, web};
/// use papyrus_auth::{actix::AuthMiddleware, http::HttpAuth};
///
/// # fn app(auth: HttpAuth) -> Result<(), Box<dyn std::error::Error>> {
/// let admin = web::scope("/reports")
///     .wrap(AuthMiddleware::new(auth).with_required_scopes("reports:read")?)
///     .route("/daily", web::get().to(|| async { "daily report" }));
/// let _app = App::new().service(admin);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AuthMiddleware {
    auth: HttpAuth,
    required: ScopeSet,
}

impl AuthMiddleware {
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
    /// is refused here, where the middleware is built, not by a 403 on
    /// every request.
    pub fn with_required_scopes(mut self, scopes: &str) -> Result<Self, InvalidRequirement> {
        self.required = required_scopes(scopes)?;
        Ok(self)
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthService {
            service: Rc::new(service),
            config: Rc::new(self.clone()),
        }))
    }
}

/// The service [`AuthMiddleware`] makes.
#[derive(Debug)]
pub struct AuthService<S> {
    service: Rc<S>,
    config: Rc<AuthMiddleware>,
}

impl<S, B> Service<ServiceRequest> for AuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = AuthFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let peer = req.peer_addr().map(|a| a.ip());
        let config = &self.config;
        // With a store that answers at once (the memory stores), the request
        // is decided here and the wrapped service's future is returned as
        // it is: no boxed future per request.
        let pending = match config
            .auth
            .authenticate(req.headers(), peer, &config.required)
        {
            Answer::Now(Ok(principal)) => {
                req.extensions_mut().insert(principal);
                if let Some(realm) = config.auth.challenge_for(req.headers()) {
                    req.extensions_mut().insert(realm);
                }
                return AuthFuture::inner(self.service.call(req));
            }
            Answer::Now(Err(response)) => {
                return AuthFuture::ready(
                    req.into_response(into_response(response))
                        .map_into_right_body(),
                );
            }
            Answer::Later(pending) => pending,
        };
        let service = Rc::clone(&self.service);
        let realm = config.auth.challenge_for(req.headers());
        AuthFuture::boxed(Box::pin(async move {
            match pending.await {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    if let Some(realm) = realm {
                        req.extensions_mut().insert(realm);
                    }
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(response) => Ok(req
                    .into_response(into_response(response))
                    .map_into_right_body()),
            }
        }))
    }
}

type BoxedResponse<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]: the wrapped service's own future when
    /// the request was decided at once, the refusal, or (when a store or
    /// the failure throttle must be waited on) a boxed future.
    pub struct AuthFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Ready { response: Option<ServiceResponse<EitherBody<B>>> },
        Boxed { future: BoxedResponse<B> },
    }
}

impl<F, B> AuthFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn ready(response: ServiceResponse<EitherBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn boxed(future: BoxedResponse<B>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F, B> fmt::Debug for AuthFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFuture").finish_non_exhaustive()
    }
}

impl<F, B> Future for AuthFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|r| r.map(ServiceResponse::map_into_left_body)),
            KindProj::Ready { response } => std::task::Poll::Ready(response.take().ok_or_else(
                // Polled again after completion: a contract breach.
                || actix_web::error::ErrorInternalServerError("AuthFuture polled after completion"),
            )),
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// The library's endpoints that `auth` serves (see [`crate::http`] and
/// [`EndpointGroup`]), every method, for
/// [`App::configure`](actix_web::App::configure) or
/// [`ServiceConfig::configure`](web::ServiceConfig::configure):
/// [`configure_group`] of each group it serves. Do not put them behind
/// [`AuthMiddleware`] (the admin endpoints authenticate themselves, the
/// OAuth ones must be reachable). To serve one endpoint yourself, register
/// its exact path before these (actix tries routes in order).
///
/// Bodies are read up to [`HttpAuthConfig::max_body`](crate::http::HttpAuthConfig::max_body)
/// (no actix `PayloadConfig` applies); a longer one gets the JSON 413 of
/// [`body_too_large`].
pub fn configure(auth: HttpAuth) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg: &mut web::ServiceConfig| {
        for group in [
            EndpointGroup::OAuth,
            EndpointGroup::Metadata,
            EndpointGroup::ResourceMetadata,
            EndpointGroup::Admin,
        ] {
            if auth.serves(group) {
                configure_group(auth.clone(), group)(cfg);
            }
        }
    }
}

/// One [`EndpointGroup`] of the library's endpoints (see [`configure`]).
pub fn configure_group(
    auth: HttpAuth,
    group: EndpointGroup,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg: &mut web::ServiceConfig| {
        // `.+`: like axum's `{*rest}`, an empty remainder (`/oauth/`) is not matched.
        let paths: &[&str] = match group {
            EndpointGroup::OAuth => &["/oauth/{rest:.+}"],
            EndpointGroup::Metadata => &[
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration",
            ],
            EndpointGroup::Admin => &[
                "/admin/api-keys",
                "/admin/api-keys/{rest:.+}",
                "/admin/audit",
                "/admin/clients",
            ],
            EndpointGroup::ResourceMetadata => &[
                "/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource/{rest:.+}",
            ],
        };
        for path in paths {
            let auth = auth.clone();
            cfg.route(
                path,
                web::route().to(move |req: actix_web::HttpRequest, body: web::Payload| {
                    endpoint(auth.clone(), req, body)
                }),
            );
        }
    }
}

async fn endpoint(
    auth: HttpAuth,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> actix_web::HttpResponse {
    let body = match body.to_bytes_limited(auth.config().max_body).await {
        Ok(Ok(body)) => body,
        _ => return into_response(body_too_large()),
    };
    let request = to_neutral(&req, body.to_vec());
    into_response(auth.handle(&request).await)
}
