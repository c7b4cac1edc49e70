//! Bearer authentication of API requests (API keys and access tokens), for
//! the middleware of every adapter and the admin endpoints.
//!
//! The credential is verified first, always: a valid one is answered at
//! once and never meets the throttle. Only a refusal that counts (see
//! [`bearer_failure_subjects`]) is counted, and turned into `429` when one
//! of its counters is over its limit.

use std::{borrow::Cow, net::IpAddr};

use zeroize::Zeroizing;

use super::{
    HeaderSource, HttpResponse,
    auth::{HttpAuth, bearer_failure_subjects, headers_too_large},
    auth_error_response, rejection_response, too_many_requests_response,
};
use crate::{
    Answer, AuthError, Principal, Rejection, ScopeSet, TenantId,
    metrics::{self, Outcome},
    oauth::ACCESS_TOKEN_PREFIX,
    throttle::Subject,
};

/// An authentication's answer at the HTTP layer: the principal, or the
/// response to send; now (the memory stores, nearly always), or later (a
/// database, a write that must come first, or a refusal to count). A later
/// answer owns what it needs, so a middleware can keep it past the request's
/// borrow.
pub type HttpAuthentication = Answer<'static, Result<Principal, HttpResponse>>;

/// A refusal that counts toward the throttle: the reason, and what it
/// counts against (computed while the credential is still borrowed).
#[derive(Debug)]
struct Failure {
    rejection: Rejection,
    subjects: Vec<Subject>,
    tenant: Option<TenantId>,
    ip: Option<IpAddr>,
    method: &'static str,
}

/// The parts of an API request that authenticate it.
struct Presented<'h> {
    token: &'h str,
    tenant: Cow<'h, str>,
    ip: Option<IpAddr>,
}

/// [`Presented`] owned, for an answer that comes later; the credential is
/// wiped when it is dropped.
struct Owned {
    token: Zeroizing<String>,
    tenant: String,
    ip: Option<IpAddr>,
}

impl Presented<'_> {
    fn to_owned(&self) -> Owned {
        Owned {
            token: Zeroizing::new(self.token.to_owned()),
            tenant: self.tenant.clone().into_owned(),
            ip: self.ip,
        }
    }

    /// The `method` label of the credential's metrics.
    fn method(&self) -> &'static str {
        if self.token.starts_with(ACCESS_TOKEN_PREFIX) {
            "access_token"
        } else {
            "api_key"
        }
    }

    /// The failure a refusal of this credential counts as, if it counts.
    fn failure(&self, rejection: &Rejection) -> Option<Box<Failure>> {
        let subjects = bearer_failure_subjects(rejection, self.ip, self.token)?;
        Some(Box::new(Failure {
            rejection: rejection.clone(),
            subjects,
            tenant: TenantId::parse(&self.tenant).ok(),
            ip: self.ip,
            method: self.method(),
        }))
    }
}

impl Owned {
    fn presented(&self) -> Presented<'_> {
        Presented {
            token: &self.token,
            tenant: Cow::Borrowed(&self.tenant),
            ip: self.ip,
        }
    }
}

impl HttpAuth {
    /// Authenticates an API request (bearer API key or access token, tenant
    /// from [`HttpAuthConfig::api_tenant`](super::HttpAuthConfig::api_tenant))
    /// needing `required`: the middleware's job. The principal, or the
    /// response to send; `.await` the answer, or take it at once when it is
    /// [`Now`](Answer::Now) (with the memory stores, every accepted request
    /// but a due last-used write), so a middleware needs no boxed future.
    ///
    /// The one bearer pipeline: headers → [`Authenticator`](crate::Authenticator)
    /// (parse, look up, decide, act) → a refusal that counts is counted, and
    /// answered `429` with `Retry-After` once its address or itself is over
    /// its limit (see [`crate::throttle`]). A valid credential is accepted
    /// whatever failed before from its address.
    ///
    /// # Errors
    ///
    /// The error response: 400 (headers too large or repeated, tenant
    /// missing or malformed), 401, 403, 429 or 503 — see the
    /// [module table](super).
    pub fn authenticate(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> HttpAuthentication {
        let answer = self.authenticate_in_default_realm(headers, peer, required);
        // An accepted request needs no challenge: nothing to compute.
        if matches!(answer, Answer::Now(Ok(_))) {
            return answer;
        }
        // The same challenge the extractors' rejections name.
        let Some(challenge) = self.challenge_for(headers) else {
            return answer;
        };
        answer.map(move |result| result.map_err(|response| challenge.apply(response)))
    }

    /// The `resource_metadata` URL a challenge names (RFC 9728 §5.1), when
    /// a protected resource is configured and the request's tenant is
    /// known (or the resource is the same for every tenant).
    pub(super) fn resource_metadata_url(
        &self,
        headers: &impl HeaderSource,
    ) -> Option<std::sync::Arc<str>> {
        let resource = self.inner.config.protected_resource.as_ref()?;
        if let Some(url) = resource.fixed_metadata_url() {
            return Some(url);
        }
        let tenant = self.inner.config.api_tenant.resolve_name(headers).ok()?;
        Some(resource.metadata_url_for_name(&tenant).into())
    }

    fn authenticate_in_default_realm(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> HttpAuthentication {
        let presented = match self.presented(headers, peer) {
            Ok(presented) => presented,
            Err(response) => return Answer::Now(Err(response)),
        };
        let authenticator = &self.inner.authenticator;
        match authenticator.authenticate_parsed(
            presented.token,
            &presented.tenant,
            presented.ip,
            required,
        ) {
            Answer::Now(result) => match self.concluded(result, &presented) {
                Ok(answer) => Answer::Now(answer),
                Err(failure) => {
                    let auth = self.clone();
                    Answer::later(async move { Err(auth.refuse(failure).await) })
                }
            },
            // Nothing has happened yet: ask again from a future that owns
            // what it needs, so that the answer outlives the headers.
            Answer::Later(_) => {
                let (auth, owned, required) =
                    (self.clone(), presented.to_owned(), required.clone());
                Answer::later(async move {
                    let presented = owned.presented();
                    let result = auth
                        .inner
                        .authenticator
                        .authenticate_parsed(
                            presented.token,
                            &presented.tenant,
                            presented.ip,
                            &required,
                        )
                        .await;
                    match auth.concluded(result, &presented) {
                        Ok(answer) => answer,
                        Err(failure) => Err(auth.refuse(failure).await),
                    }
                })
            }
        }
    }

    /// The answer to give at once, or the failure to count first.
    fn concluded(
        &self,
        result: Result<Principal, AuthError>,
        presented: &Presented<'_>,
    ) -> Result<Result<Principal, HttpResponse>, Box<Failure>> {
        // RFC 8707: an access token bound to other resources (or to none,
        // unless accepted) is not for this resource server.
        let result = match (&self.inner.config.protected_resource, result) {
            (Some(resource), Ok(principal)) if !resource.admits(&principal, &presented.tenant) => {
                Err(AuthError::Rejected(Rejection::WrongAudience))
            }
            (_, result) => result,
        };
        if self.inner.throttle.is_some()
            && let Err(AuthError::Rejected(rejection)) = &result
            && let Some(failure) = presented.failure(rejection)
        {
            return Err(failure);
        }
        self.record(presented.method(), &result);
        Ok(result.map_err(|e| auth_error_response(&e)))
    }

    /// Counts a refusal; `429` when a counter it landed on is over its
    /// limit, else the refusal's own response.
    async fn refuse(&self, failure: Box<Failure>) -> HttpResponse {
        let refusal = self
            .failed(&failure.subjects, failure.tenant.as_ref(), failure.ip)
            .await;
        match refusal {
            Some(refusal) => {
                metrics::authentication(
                    failure.method,
                    Outcome::Throttled,
                    failure.rejection.as_str(),
                );
                too_many_requests_response(refusal.retry_after)
            }
            None => {
                metrics::authentication(
                    failure.method,
                    Outcome::Rejected,
                    failure.rejection.as_str(),
                );
                rejection_response(&failure.rejection)
            }
        }
    }

    /// The credential, tenant and client IP of an API request.
    fn presented<'h>(
        &'h self,
        headers: &'h impl HeaderSource,
        peer: Option<IpAddr>,
    ) -> Result<Presented<'h>, HttpResponse> {
        let stats = headers.header_stats();
        if stats.bytes > self.inner.config.max_headers {
            return Err(headers_too_large());
        }
        // RFC 9112 §3.2: a request with two `Host` lines is a 400 (counted
        // in the same pass as the size).
        if stats.host_lines > 1 {
            return Err(rejection_response(&Rejection::RepeatedHeader));
        }
        let token = headers
            .single_header("authorization")
            .and_then(super::bearer_credential)
            .map_err(|r| rejection_response(&r))?;
        // The validated name, read from the header without allocating.
        let tenant = self
            .inner
            .config
            .api_tenant
            .resolve_name(headers)
            .map_err(|r| rejection_response(&super::tenant_refusal(token, r)))?;
        Ok(Presented {
            token,
            tenant,
            ip: self.client_ip(headers, peer),
        })
    }
}

impl HttpAuth {
    /// Counts an authentication that was answered without the throttle.
    fn record(&self, method: &'static str, result: &Result<Principal, AuthError>) {
        record_outcome(&self.inner.successes, method, result);
    }
}

/// Counts an authentication that was answered without the throttle.
fn record_outcome(
    successes: &metrics::Successes,
    method: &'static str,
    result: &Result<Principal, AuthError>,
) {
    match result {
        Ok(_) => successes.count(method),
        Err(AuthError::Rejected(r)) => {
            metrics::authentication(method, Outcome::Rejected, r.as_str())
        }
        Err(AuthError::Store(_)) => {
            metrics::authentication(method, Outcome::Unavailable, "store");
            metrics::store_error("credentials");
        }
    }
}
