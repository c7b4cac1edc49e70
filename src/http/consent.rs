//! The authorization endpoint's pages: validation, the login-and-consent
//! page, and its form (CSRF-protected, with the sign-in limits of
//! [`crate::throttle::SignInLimits`]).

use std::net::IpAddr;

use super::{
    HttpRequest, HttpResponse,
    auth::{HttpAuth, is_form, see_other},
    authorize_error_response,
    csrf::{CSRF_COOKIE, CSRF_TTL, DEVICE_COOKIE, new_nonce},
    error_page, error_redirect_response,
    pages::consent_page,
};
use crate::{
    Scope, ScopeSet, TenantId,
    metrics::{self, Outcome},
    oauth::{AuthorizeError, OAuthError, Params, ValidatedAuthorization},
    throttle::Subject,
};

/// Parameters of the consent form: one per requested scope (at most
/// [`crate::MAX_SCOPES`]) and six more.
const MAX_FORM_PARAMS: usize = crate::MAX_SCOPES + 8;
/// The longest value of the consent form: the whole authorization request.
const MAX_FORM_VALUE: usize = 16 * 1024;

impl HttpAuth {
    /// `GET /oauth/authorize`: validates the request and shows the
    /// login-and-consent page (or the error page or redirect).
    pub(super) async fn authorize_page(&self, req: &HttpRequest) -> HttpResponse {
        let tenant = match self.inner.config.oauth_tenant.resolve(req) {
            Ok(t) => t,
            Err(_) => {
                return error_page(&OAuthError::invalid_request(
                    "this address names no valid tenant",
                ));
            }
        };
        match self.inner.oauth.authorize(&tenant, &req.query).await {
            Ok(v) => {
                self.render_consent(&tenant, &v, &req.query, None, 200)
                    .await
            }
            Err(e) => authorize_error_response(&e),
        }
    }

    /// The login-and-consent page for `v`, with a fresh CSRF cookie and
    /// token (signed with the shared key ring, so any instance verifies it).
    async fn render_consent(
        &self,
        tenant: &TenantId,
        v: &ValidatedAuthorization,
        request: &str,
        error: Option<&str>,
        status: u16,
    ) -> HttpResponse {
        let nonce = new_nonce();
        let now = self.inner.oauth.now();
        let token = match self
            .inner
            .keys
            .csrf_token(&nonce, tenant, request, now)
            .await
        {
            Ok(token) => token,
            Err(e) => return error_page(&e.into()),
        };
        let mut page = HttpResponse::html(status, consent_page(v, request, &token, error))
            .with_header(
                "Set-Cookie",
                self.cookie(CSRF_COOKIE, &nonce, CSRF_TTL.whole_seconds()),
            );
        // The form posts here and is answered with a redirect to the client,
        // which browsers check against `form-action` too: allow its origin.
        let form_action = match csp_source(&v.redirect_uri) {
            Some(origin) => format!("; form-action 'self' {origin}"),
            None => String::new(),
        };
        for (name, value) in &mut page.headers {
            if *name == "Content-Security-Policy" {
                value.push_str(&form_action);
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

    /// `POST /oauth/authorize`: the consent form.
    pub(super) async fn consent(&self, req: &HttpRequest) -> HttpResponse {
        if !is_form(req) {
            return error_page(&OAuthError::invalid_request(
                "the consent form must be posted as a form",
            ));
        }
        let tenant = match self.inner.config.oauth_tenant.resolve(req) {
            Ok(t) => t,
            Err(_) => {
                return error_page(&OAuthError::invalid_request(
                    "this address names no valid tenant",
                ));
            }
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
        let now = self.inner.oauth.now();
        let verified = self
            .inner
            .keys
            .verify_csrf(
                one("csrf_token"),
                req.cookie(CSRF_COOKIE).unwrap_or(""),
                &tenant,
                request,
                now,
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
        let v = match self.inner.oauth.authorize(&tenant, request).await {
            Ok(v) => v,
            Err(AuthorizeError::Redirect(r)) => return see_other(error_redirect_response(&r)),
            Err(e) => return authorize_error_response(&e),
        };
        match form.get("decision").ok().flatten() {
            Some("deny") => {
                return see_other(error_redirect_response(
                    &self.inner.oauth.deny(&v, None).await,
                ));
            }
            Some("approve") => {}
            _ => {
                return error_page(&OAuthError::invalid_request(
                    "decision must be approve or deny",
                ));
            }
        }
        let (username, password) = (one("username"), one("password"));
        let ip = self.client_ip(req, req.peer);
        let device = match req.cookie(DEVICE_COOKIE) {
            Some(value) => match self
                .inner
                .keys
                .verify_device(value, &tenant, username, now)
                .await
            {
                Ok(nonce) => nonce,
                Err(e) => return error_page(&e.into()),
            },
            None => None,
        };
        let subjects = sign_in_subjects(&tenant, username, ip, device.as_deref());
        if let Some(refusal) = self
            .refused_before_checking(&subjects, Some(&tenant), ip)
            .await
        {
            metrics::authentication("password", Outcome::Throttled, "too_many_failures");
            let wait = "Too many failed sign-ins. Wait a while and try again.";
            return self
                .render_consent(&tenant, &v, request, Some(wait), 429)
                .await
                .with_header(
                    "Retry-After",
                    refusal.retry_after.as_secs().max(1).to_string(),
                );
        }
        let subject = match self
            .inner
            .users
            .verify_password(&tenant, username, password)
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => {
                metrics::authentication("password", Outcome::Rejected, "wrong_password");
                // Counted; a failure over a limit refuses the next attempt,
                // before its password is checked.
                self.failed(&subjects, Some(&tenant), ip).await;
                let wrong = "Wrong username or password.";
                return self
                    .render_consent(&tenant, &v, request, Some(wrong), 401)
                    .await;
            }
            Err(e) => {
                metrics::authentication("password", Outcome::Unavailable, "store");
                return error_page(&e.into());
            }
        };
        metrics::authentication("password", Outcome::Success, "none");
        let chosen: Vec<Scope> = form
            .all("scope")
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        let approved = ScopeSet::from_scopes(chosen)
            .unwrap_or_default()
            .intersection(&v.scopes);
        if approved.is_empty() {
            return self
                .render_consent(
                    &tenant,
                    &v,
                    request,
                    Some("Choose at least one permission, or deny."),
                    400,
                )
                .await;
        }
        let location = match self.inner.oauth.approve(&v, &subject, &approved).await {
            Ok(location) => location,
            Err(e) => return error_page(&e),
        };
        let redirect = see_other(HttpResponse::redirect(location));
        // This browser signed in as this user: from now on it is held to its
        // own limit only, not to the user's across addresses.
        match self.device_cookie(&tenant, username, now).await {
            Some(cookie) => redirect.with_header("Set-Cookie", cookie),
            None => redirect,
        }
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
}
