//! Bearer authentication of API requests (API keys and access tokens), for
//! the middleware of every adapter and the admin endpoints.
//!
//! The credential is verified first, always: a valid one is answered at
//! once and never meets the throttle. Only a refusal that counts (see
//! [`bearer_failure_subjects`]) is counted, and turned into `429` when one
//! of its counters is over its limit.

use std::{borrow::Cow, net::IpAddr};

use super::{
    HeaderSource, HttpResponse,
    auth::{HttpAuth, bearer_failure_subjects, headers_too_large},
    auth_error_response, rejection_response, too_many_requests_response,
};
use crate::{
    AuthError, Principal, Rejection, ScopeSet, TenantId,
    api_key::{Decided, PendingFollowUp},
    metrics::{self, Outcome},
    oauth::ACCESS_TOKEN_PREFIX,
    throttle::Subject,
};

/// What [`HttpAuth::authenticate_now`] could do without waiting.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The answer.
    Done(Result<Principal, HttpResponse>),
    /// Something must be awaited first: [`HttpAuth::complete`].
    Later(Later),
}

/// What an [`Attempt::Later`] waits for.
#[derive(Debug)]
pub(crate) enum Later {
    /// Decided; a write (last use, audit) must finish first.
    FollowUp(FollowUp),
    /// Refused: the failure must be counted (the throttle's store may be
    /// shared) before the answer, `401` or `429`, is known. (Boxed: a rare
    /// path, kept out of the size of every attempt.)
    Failed(Box<Failure>),
    /// The store must be waited on. Nothing has happened yet.
    Wait,
}

/// A decided API authentication whose follow-up write has yet to run.
#[derive(Debug)]
pub(crate) struct FollowUp {
    pending: Box<PendingFollowUp>,
    /// What a refusal counts against, when the decision is a counted refusal.
    failure: Option<Box<Failure>>,
}

/// A refusal that counts toward the throttle: the reason, and what it
/// counts against (computed while the credential is still borrowed).
#[derive(Debug)]
pub(crate) struct Failure {
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

impl Presented<'_> {
    /// The `method` label of the credential's metrics.
    fn method(&self) -> &'static str {
        method_of(self.token)
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

fn method_of(token: &str) -> &'static str {
    if token.starts_with(ACCESS_TOKEN_PREFIX) {
        "access_token"
    } else {
        "api_key"
    }
}

impl HttpAuth {
    /// Authenticates an API request (bearer API key or access token, tenant
    /// from [`HttpAuthConfig::api_tenant`](super::HttpAuthConfig::api_tenant))
    /// needing `required`: the middleware's job. On failure, the response to
    /// send.
    ///
    /// A valid credential is accepted whatever failed before from its
    /// address; a refused one is counted, and answered `429` with
    /// `Retry-After` once its address or itself is over its limit (see
    /// [`crate::throttle`]).
    ///
    /// # Errors
    ///
    /// The error response: 400 (headers too large or repeated, tenant
    /// missing or malformed), 401, 403, 429 or 503 — see the
    /// [module table](super).
    pub async fn authenticate(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, HttpResponse> {
        match self.authenticate_now(headers, peer, required) {
            Attempt::Done(result) => result,
            // Boxed: the waiting path's future is large, and with the memory
            // stores rarely taken (a due write, or a counted refusal).
            Attempt::Later(later) => Box::pin(self.complete(later, headers, peer, required)).await,
        }
    }

    /// [`HttpAuth::authenticate`] as far as it goes without waiting: the
    /// answer when the store answers synchronously and nothing must be
    /// written or counted first (with the memory stores: every accepted
    /// request but a due last-used write), so a middleware needs no boxed
    /// future. Otherwise [`Attempt::Later`], for [`HttpAuth::complete`].
    pub(crate) fn authenticate_now(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Attempt {
        let presented = match self.presented(headers, peer) {
            Ok(presented) => presented,
            Err(response) => return Attempt::Done(Err(response)),
        };
        let Some(decided) = self.inner.authenticator.authenticate_now(
            presented.token,
            &presented.tenant,
            presented.ip,
            required,
        ) else {
            return Attempt::Later(Later::Wait);
        };
        match decided {
            Decided::Done(result) => match self.concluded(result, &presented) {
                Ok(answer) => Attempt::Done(answer),
                Err(failure) => Attempt::Later(Later::Failed(failure)),
            },
            Decided::FollowUp(pending) => Attempt::Later(Later::FollowUp(FollowUp {
                failure: pending.rejection().and_then(|r| presented.failure(r)),
                pending,
            })),
        }
    }

    /// The answer of an [`Attempt::Later`], for the same request.
    pub(crate) async fn complete(
        &self,
        later: Later,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, HttpResponse> {
        match later {
            Later::FollowUp(FollowUp { pending, failure }) => {
                let result = self.inner.authenticator.finish(*pending).await;
                match (result, failure) {
                    (Err(AuthError::Rejected(_)), Some(failure)) => Err(self.refuse(failure).await),
                    (result, _) => {
                        let method = pending_method(&result);
                        self.record(method, &result);
                        result.map_err(|e| auth_error_response(&e))
                    }
                }
            }
            Later::Failed(failure) => Err(self.refuse(failure).await),
            Later::Wait => {
                let presented = self.presented(headers, peer)?;
                let result = self
                    .inner
                    .authenticator
                    .authenticate_in(presented.token, &presented.tenant, presented.ip, required)
                    .await;
                match self.concluded(result, &presented) {
                    Ok(answer) => answer,
                    Err(failure) => Err(self.refuse(failure).await),
                }
            }
        }
    }

    /// The answer to give at once, or the failure to count first.
    fn concluded(
        &self,
        result: Result<Principal, AuthError>,
        presented: &Presented<'_>,
    ) -> Result<Result<Principal, HttpResponse>, Box<Failure>> {
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

/// The `method` label of a finished authentication's metrics.
fn pending_method(result: &Result<Principal, AuthError>) -> &'static str {
    match result {
        Ok(p) => match p.method() {
            crate::AuthMethod::AccessToken { .. } => "access_token",
            _ => "api_key",
        },
        // Follow-ups are written for API keys only.
        Err(_) => "api_key",
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
