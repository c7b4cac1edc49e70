//! The authorization endpoint's interaction: the seam where the
//! application (or the built-in [`LoginConsent`](super::LoginConsent)) says
//! who the user is and what they approve, and everything around it that
//! must not be gotten wrong.
//!
//! The library validates the authorization request before any page is
//! shown, draws and checks the CSRF token of every decision (a signed token
//! bound to a cookie, verified before the handler is asked), narrows the
//! approved scopes to those requested, issues the code, redirects (303) and
//! audits. A [`ConsentHandler`] only renders pages and decides, as
//! oxide-auth's `OwnerSolicitor` and Hydra's login and consent flow do.

use std::{net::IpAddr, sync::Mutex};

use async_trait::async_trait;

use super::{
    HttpRequest, HttpResponse,
    auth::{HttpAuth, OAuthParts, is_form, see_other},
    authorize_error_response,
    csrf::{CSRF_COOKIE, CSRF_TTL, DEVICE_COOKIE, new_nonce},
    error_page, error_redirect_response, html_escape,
    login::UserDirectory,
};
use crate::{
    ScopeSet, TenantId,
    metrics::{self, Outcome},
    oauth::{AuthorizeError, OAuthError, Params, ValidatedAuthorization},
    throttle::Subject,
};

/// Parameters of the consent form: one per requested scope (at most
/// [`crate::MAX_SCOPES`]) and a few more.
const MAX_FORM_PARAMS: usize = crate::MAX_SCOPES + 8;
/// The longest value of the consent form: the whole authorization request.
const MAX_FORM_VALUE: usize = 16 * 1024;

/// The application's side of `/oauth/authorize`: who the user is, and what
/// they approve. Given with [`HttpAuthBuilder::consent`](super::HttpAuthBuilder::consent);
/// [`HttpAuthBuilder::users`](super::HttpAuthBuilder::users) gives the
/// built-in one, [`LoginConsent`](super::LoginConsent), the
/// login-and-consent page over a [`UserDirectory`].
///
/// The library calls it only for a valid authorization request, and calls
/// [`decide`](Self::decide) only once the posted form's CSRF token checked
/// out: a page the handler shows must post back
/// [`ConsentContext::hidden_fields`] to the same URL.
///
/// # Examples
///
/// An application that knows its user from its own session cookie, and
/// renders its own consent page:
///
/// ```
/// use async_trait::async_trait;
/// use papyrus_auth::http::{ConsentContext, ConsentHandler, HttpResponse, Interaction, html_escape};
///
/// #[derive(Debug)]
/// struct SessionConsent;
///
/// #[async_trait]
/// impl ConsentHandler for SessionConsent {
///     async fn show(&self, ctx: &ConsentContext<'_>) -> Interaction {
///         let Some(user) = ctx.http().cookie("session") else {
///             return Interaction::Page(HttpResponse::redirect("/login".to_owned()));
///         };
///         Interaction::Page(HttpResponse::html(200, format!(
///             "<form method=post>{}<p>{} asks to act for {}.</p>\
///              <button name=decision value=approve>Allow</button>\
///              <button name=decision value=deny>Deny</button></form>",
///             ctx.hidden_fields(),
///             html_escape(&ctx.authorization().client.name),
///             html_escape(user),
///         )))
///     }
///
///     async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction {
///         match (ctx.http().cookie("session"), ctx.field("decision")) {
///             (Some(user), Some("approve")) => Interaction::Approve {
///                 subject: user.to_owned(),
///                 scopes: ctx.authorization().scopes.clone(),
///             },
///             (user, _) => Interaction::Deny { subject: user.map(str::to_owned) },
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait ConsentHandler: std::fmt::Debug + Send + Sync + 'static {
    /// `GET /oauth/authorize` with a valid request: the page to show (a
    /// consent form posting [`ConsentContext::hidden_fields`] back, or a
    /// redirect to the application's own login), or a decision at once.
    async fn show(&self, ctx: &ConsentContext<'_>) -> Interaction;

    /// `POST /oauth/authorize`, the form's CSRF token verified: the user's
    /// decision, or a page to show again (a wrong password, say).
    async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction;
}

/// What a [`ConsentHandler`] answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Interaction {
    /// Show this page (or follow this redirect). When it is shown, the
    /// library sets the CSRF cookie that [`ConsentContext::hidden_fields`]
    /// is bound to, and lets the page's form post to the client's origin
    /// (`form-action`).
    Page(HttpResponse),
    /// `subject` approved `scopes`: the library narrows them to those the
    /// client asked for, issues the code and redirects to the client.
    Approve {
        /// Who approved (the `sub` of the tokens).
        subject: String,
        /// What they approved.
        scopes: ScopeSet,
    },
    /// The user declined (`subject`, if the handler knows who): the library
    /// redirects to the client with `access_denied`.
    Deny {
        /// Who declined, if known.
        subject: Option<String>,
    },
}

/// What a [`ConsentHandler`] is told: the validated authorization request,
/// the HTTP request, the posted form, and the CSRF fields its page must
/// post back.
pub struct ConsentContext<'a> {
    auth: &'a HttpAuth,
    tenant: &'a TenantId,
    authorization: &'a ValidatedAuthorization,
    http: &'a HttpRequest,
    form: Option<&'a Params<'a>>,
    request: &'a str,
    csrf_token: String,
    /// Cookies a helper asked to set (a device cookie).
    cookies: Mutex<Vec<String>>,
}

impl std::fmt::Debug for ConsentContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The form carries a password: names only.
        f.debug_struct("ConsentContext")
            .field("tenant", self.tenant)
            .field("client", &self.authorization.client.client_id)
            .field("form", &self.form)
            .finish_non_exhaustive()
    }
}

/// The result of [`ConsentContext::check_password`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignIn {
    /// Right: the user's subject.
    Valid(String),
    /// Wrong username or password (counted against the sign-in limits).
    Wrong,
    /// Refused before the password was checked: over a sign-in limit.
    Throttled {
        /// How long until it is not.
        retry_after: std::time::Duration,
    },
    /// The directory failed.
    Unavailable,
}

impl<'a> ConsentContext<'a> {
    /// The tenant of the request.
    pub fn tenant(&self) -> &TenantId {
        self.tenant
    }

    /// The validated authorization request: client, redirect URI, scopes.
    pub fn authorization(&self) -> &ValidatedAuthorization {
        self.authorization
    }

    /// The HTTP request (its cookies: [`HttpRequest::cookie`]).
    pub fn http(&self) -> &HttpRequest {
        self.http
    }

    /// A field of the posted form, sent once (`None` on a `GET`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form?.get(name).ok().flatten()
    }

    /// Every value of a repeated field of the posted form (checkboxes).
    pub fn fields<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.form.into_iter().flat_map(move |f| f.all(name))
    }

    /// The authorization request, as the form must post it back.
    pub fn request_field(&self) -> &str {
        self.request
    }

    /// The CSRF token, as the form must post it back.
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// The two hidden inputs a page's form posts back (`request` and
    /// `csrf_token`), HTML-escaped.
    pub fn hidden_fields(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"request\" value=\"{}\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
            html_escape(self.request),
            html_escape(&self.csrf_token)
        )
    }

    /// Checks `username` and `password` against `users`, held to the
    /// sign-in limits ([`crate::throttle::SignInLimits`]): refused before
    /// the password is checked when over a limit, counted when wrong. A
    /// right one sets a device cookie on the response (this browser is then
    /// held to its own limit only).
    pub async fn check_password(
        &self,
        users: &dyn UserDirectory,
        username: &str,
        password: &str,
    ) -> SignIn {
        let (auth, tenant) = (self.auth, self.tenant);
        let now = auth.now();
        let ip = auth.client_ip(self.http, self.http.peer);
        let device = match self.http.cookie(DEVICE_COOKIE) {
            Some(value) => match auth
                .inner
                .keys
                .verify_device(value, tenant, username, now)
                .await
            {
                Ok(nonce) => nonce,
                Err(_) => return SignIn::Unavailable,
            },
            None => None,
        };
        let subjects = sign_in_subjects(tenant, username, ip, device.as_deref());
        if let Some(refusal) = auth
            .refused_before_checking(&subjects, Some(tenant), ip)
            .await
        {
            metrics::authentication("password", Outcome::Throttled, "too_many_failures");
            return SignIn::Throttled {
                retry_after: refusal.retry_after,
            };
        }
        match users.verify_password(tenant, username, password).await {
            Ok(Some(subject)) => {
                metrics::authentication("password", Outcome::Success, "none");
                if let Some(cookie) = auth.device_cookie(tenant, username, now).await {
                    self.cookies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(cookie);
                }
                SignIn::Valid(subject)
            }
            Ok(None) => {
                metrics::authentication("password", Outcome::Rejected, "wrong_password");
                // Counted; a failure over a limit refuses the next attempt,
                // before its password is checked.
                auth.failed(&subjects, Some(tenant), ip).await;
                SignIn::Wrong
            }
            Err(e) => {
                tracing::error!(error = %e, "user directory failure");
                metrics::authentication("password", Outcome::Unavailable, "store");
                SignIn::Unavailable
            }
        }
    }
}

impl HttpAuth {
    /// `GET /oauth/authorize`: validates the request and asks the handler.
    pub(super) async fn authorize_page(
        &self,
        oauth: &OAuthParts,
        req: &HttpRequest,
    ) -> HttpResponse {
        let Ok(tenant) = self.inner.config.oauth_tenant.resolve(req) else {
            return error_page(&OAuthError::invalid_request(
                "this address names no valid tenant",
            ));
        };
        match oauth.server.authorize(&tenant, &req.query).await {
            Ok(v) => {
                self.interact(oauth, &tenant, &v, req, &req.query, Step::Show)
                    .await
            }
            Err(e) => authorize_error_response(&e),
        }
    }

    /// `POST /oauth/authorize`: checks the form's CSRF token and the
    /// request, then asks the handler for the decision.
    pub(super) async fn consent(&self, oauth: &OAuthParts, req: &HttpRequest) -> HttpResponse {
        if !is_form(req) {
            return error_page(&OAuthError::invalid_request(
                "the consent form must be posted as a form",
            ));
        }
        let Ok(tenant) = self.inner.config.oauth_tenant.resolve(req) else {
            return error_page(&OAuthError::invalid_request(
                "this address names no valid tenant",
            ));
        };
        let form = match Params::parse_bounded(
            req.body_str().unwrap_or(""),
            MAX_FORM_PARAMS,
            MAX_FORM_VALUE,
        ) {
            Ok(form) => form,
            Err(e) => return error_page(&e),
        };
        let one = |name: &str| form.get(name).ok().flatten().unwrap_or("");
        let request = one("request");
        let verified = self
            .inner
            .keys
            .verify_csrf(
                one("csrf_token"),
                req.cookie(CSRF_COOKIE).unwrap_or(""),
                &tenant,
                request,
                self.now(),
            )
            .await;
        match verified {
            Ok(true) => {}
            Ok(false) => {
                let mut page = error_page(&OAuthError::invalid_request(
                    "the form expired or was not sent from this site; go back and try again",
                ));
                page.status = 403;
                return page;
            }
            Err(e) => return error_page(&e.into()),
        }
        let v = match oauth.server.authorize(&tenant, request).await {
            Ok(v) => v,
            Err(AuthorizeError::Redirect(r)) => return see_other(error_redirect_response(&r)),
            Err(e) => return authorize_error_response(&e),
        };
        self.interact(oauth, &tenant, &v, req, request, Step::Decide(&form))
            .await
    }

    /// Asks the handler at `step` with a fresh CSRF token, and acts on its
    /// answer: a page gets the CSRF cookie; an approval is narrowed, issued
    /// and redirected; a denial is redirected.
    async fn interact(
        &self,
        oauth: &OAuthParts,
        tenant: &TenantId,
        v: &ValidatedAuthorization,
        req: &HttpRequest,
        request: &str,
        step: Step<'_>,
    ) -> HttpResponse {
        let nonce = new_nonce();
        let now = self.now();
        let form = match step {
            Step::Show => None,
            Step::Decide(form) => Some(form),
        };
        let csrf_token = match self
            .inner
            .keys
            .csrf_token(&nonce, tenant, request, now)
            .await
        {
            Ok(token) => token,
            Err(e) => return error_page(&e.into()),
        };
        let ctx = ConsentContext {
            auth: self,
            tenant,
            authorization: v,
            http: req,
            form,
            request,
            csrf_token,
            cookies: Mutex::new(Vec::new()),
        };
        let answer = match step {
            Step::Show => oauth.consent.show(&ctx).await,
            Step::Decide(_) => oauth.consent.decide(&ctx).await,
        };
        let cookies = ctx.take_cookies();
        let response = match answer {
            Interaction::Page(page) => self.shown(page, v, &nonce),
            Interaction::Deny { subject } => see_other(error_redirect_response(
                &oauth.server.deny(v, subject.as_deref()).await,
            )),
            Interaction::Approve { subject, scopes } => {
                let approved = scopes.intersection(&v.scopes);
                if approved.is_empty() {
                    return error_page(&OAuthError::invalid_scope(
                        "the approval holds none of the scopes the client asked for",
                    ));
                }
                match oauth.server.approve(v, &subject, &approved).await {
                    Ok(location) => see_other(HttpResponse::redirect(location)),
                    Err(e) => error_page(&e),
                }
            }
        };
        cookies
            .into_iter()
            .fold(response, |r, cookie| r.with_header("Set-Cookie", cookie))
    }

    /// A handler's page, with the CSRF cookie its form is bound to, and its
    /// form allowed to be answered by a redirect to the client's origin.
    fn shown(
        &self,
        mut page: HttpResponse,
        v: &ValidatedAuthorization,
        nonce: &str,
    ) -> HttpResponse {
        page = page.with_header(
            "Set-Cookie",
            self.cookie(CSRF_COOKIE, nonce, CSRF_TTL.whole_seconds()),
        );
        // The form posts here and is answered with a redirect to the client,
        // which browsers check against `form-action` too: allow its origin.
        if let Some(origin) = csp_source(&v.redirect_uri) {
            for (name, value) in &mut page.headers {
                if *name == "Content-Security-Policy" && !value.contains("form-action") {
                    value.push_str(&format!("; form-action 'self' {origin}"));
                }
            }
        }
        page
    }

    /// A `Set-Cookie` value for the authorization endpoint's path.
    fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.inner.config.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{name}={value}; Path=/oauth/authorize; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        )
    }

    /// The `Set-Cookie` of a new device cookie, when the throttle is on.
    async fn device_cookie(
        &self,
        tenant: &TenantId,
        username: &str,
        now: time::OffsetDateTime,
    ) -> Option<String> {
        let lifetime = self.inner.config.throttle?.sign_in.device_lifetime;
        let lifetime = time::Duration::try_from(lifetime).ok()?;
        match self
            .inner
            .keys
            .device_cookie(tenant, username, now, lifetime)
            .await
        {
            Ok(value) => Some(self.cookie(DEVICE_COOKIE, &value, lifetime.whole_seconds())),
            Err(e) => {
                tracing::warn!(error = %e, "could not sign a device cookie");
                None
            }
        }
    }
}

/// Which of the handler's methods a request asks.
#[derive(Debug, Clone, Copy)]
enum Step<'f> {
    /// The request arrived: show a page (or decide at once).
    Show,
    /// The form (its CSRF token checked) was posted: decide.
    Decide(&'f Params<'f>),
}

impl ConsentContext<'_> {
    fn take_cookies(&self) -> Vec<String> {
        std::mem::take(&mut *self.cookies.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What a sign-in attempt is held to: its device cookie's limit when it
/// presents a valid one for this user, else the limits per address and
/// username, per address and per username.
fn sign_in_subjects(
    tenant: &TenantId,
    username: &str,
    ip: Option<IpAddr>,
    device: Option<&str>,
) -> Vec<Subject> {
    if let Some(nonce) = device {
        return vec![Subject::sign_in_device(nonce)];
    }
    let mut subjects = vec![
        Subject::sign_in_account_from(tenant.as_str(), username, ip),
        Subject::sign_in_account(tenant.as_str(), username),
    ];
    subjects.extend(ip.map(Subject::sign_in_address));
    subjects
}

/// The CSP source expression of a redirect URI's origin (`https://host:port`,
/// or `scheme:` for a private-use scheme), if every character is one a
/// policy can carry as it is; `None` otherwise (the page then sets no
/// `form-action` rather than one that would block the redirect).
fn csp_source(redirect_uri: &str) -> Option<String> {
    let (scheme, rest) = redirect_uri.split_once(':')?;
    if !crate::oauth::is_uri_scheme(scheme) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}:"));
    }
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?', '#']).next()?;
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    authority_ok.then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_replaces_the_account_limits() {
        let acme: TenantId = "acme".parse().unwrap();
        let ip = Some("192.0.2.1".parse().unwrap());
        let without = sign_in_subjects(&acme, "alice", ip, None);
        assert_eq!(without.len(), 3);
        assert!(without.contains(&Subject::sign_in_account("acme", "alice")));
        let with = sign_in_subjects(&acme, "alice", ip, Some("nonce"));
        assert_eq!(with, vec![Subject::sign_in_device("nonce")]);
    }

    #[test]
    fn csp_source_is_the_redirect_origin_or_nothing() {
        for (uri, source) in [
            (
                "https://app.example.com/cb?x=1",
                Some("https://app.example.com"),
            ),
            (
                "HTTPS://App.example.com:8443/cb",
                Some("https://App.example.com:8443"),
            ),
            (
                "http://127.0.0.1:51004/callback",
                Some("http://127.0.0.1:51004"),
            ),
            ("http://[::1]:8080/cb#f", Some("http://[::1]:8080")),
            ("com.example.app:/oauth2redirect", Some("com.example.app:")),
            // Nothing a policy could not carry as it is.
            ("https://app.example.com;script-src *", None),
            ("https://app example.com/cb", None),
            ("https:///cb", None),
            ("https:app.example.com", None),
            ("1https://x/cb", None),
            ("no-scheme", None),
        ] {
            assert_eq!(csp_source(uri).as_deref(), source, "{uri}");
        }
    }
}
