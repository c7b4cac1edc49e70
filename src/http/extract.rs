//! What the adapters' extractors share: the scope requirement a handler
//! names by type, checked when the program is compiled; the check itself;
//! and the typed rejection a handler can match on.
//!
//! The axum and actix-web adapters implement their framework's extractor
//! traits for [`RequireScopes`] and their response traits for
//! [`AuthRejection`]; the rules live here once.

use std::{fmt, marker::PhantomData, ops::Deref, sync::Arc};

use super::{HttpResponse, rejection_response};
use crate::{Principal, Rejection, ScopeSet};

/// Scopes a handler requires, named by a type, for the adapters'
/// `RequireScopes<R>` extractors.
///
/// The requirement is checked when the program is compiled: a list that is
/// not valid RFC 6749 §3.3 syntax, or that looks like a typo (a comma or a
/// semicolon between scopes, an upper-case letter unless
/// [`ALLOW_UPPER_CASE`](Self::ALLOW_UPPER_CASE)), stops `cargo build` with
/// the reason, instead of answering every request with 403. See
/// [`requirement_problem`] for the rules.
///
/// # Examples
///
/// ```
/// use papyrus_auth::http::ScopeRequirement;
///
/// /// `POST /api/v1/documents` needs `documents:write`.
/// struct DocumentsWrite;
/// impl ScopeRequirement for DocumentsWrite {
///     const SCOPES: &'static str = "documents:write";
/// }
/// ```
///
/// The same code with a sound list compiles:
///
/// ```
/// use papyrus_auth::http::{RequireScopes, ScopeRequirement};
///
/// struct ReportsReadWrite;
/// impl ScopeRequirement for ReportsReadWrite {
///     const SCOPES: &'static str = "reports:read reports:write";
/// }
/// let _ = RequireScopes::<ReportsReadWrite>::scopes();
/// ```
///
/// and with a typo it does not, once an extractor (or anything else) uses
/// the requirement:
///
/// ```compile_fail
/// use papyrus_auth::http::{RequireScopes, ScopeRequirement};
///
/// struct ReportsReadWrite;
/// impl ScopeRequirement for ReportsReadWrite {
///     const SCOPES: &'static str = "reports:read,reports:write"; // meant a space
/// }
/// let _ = RequireScopes::<ReportsReadWrite>::scopes();
/// ```
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The required scopes, space-delimited (`"reports:read reports:write"`).
    const SCOPES: &'static str;

    /// Whether the requirement may name scopes with upper-case letters.
    /// Scopes compare case-sensitively (RFC 6749 §3.3), so `Documents:read`
    /// never matches a granted `documents:read`; set this only if your
    /// scopes really are mixed-case.
    const ALLOW_UPPER_CASE: bool = false;
}

/// Why `scopes` is not a sound scope requirement, or `None` when it is:
/// one or more RFC 6749 §3.3 scope tokens (`%x21 / %x23-5B / %x5D-7E`, at
/// most [`MAX_SCOPE_LEN`](crate::MAX_SCOPE_LEN) bytes each, at most
/// [`MAX_SCOPES`](crate::MAX_SCOPES) of them) separated by single spaces,
/// with no `,` or `;` (a list written with the wrong separator) and no
/// upper-case letter unless `allow_upper_case`.
///
/// A `const fn`, so [`ScopeRequirement`]s are checked at compile time and
/// [`required_scopes`] at run time by the same rule.
pub const fn requirement_problem(scopes: &str, allow_upper_case: bool) -> Option<&'static str> {
    let bytes = scopes.as_bytes();
    if bytes.is_empty() {
        return Some("the scope requirement is empty: name at least one scope");
    }
    let (mut i, mut token_len, mut tokens) = (0, 0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' {
            if token_len == 0 {
                return Some(
                    "the scope requirement has a leading or doubled space: separate scopes by one space",
                );
            }
            token_len = 0;
        } else {
            if token_len == 0 {
                tokens += 1;
            }
            token_len += 1;
            if b == b',' || b == b';' {
                return Some(
                    "the scope requirement contains `,` or `;`: scopes are separated by a space (RFC 6749 section 3.3)",
                );
            }
            if b.is_ascii_uppercase() && !allow_upper_case {
                return Some(
                    "the scope requirement contains an upper-case letter: scopes compare case-sensitively (set ALLOW_UPPER_CASE if yours are mixed-case)",
                );
            }
            if !(b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)) {
                return Some(
                    "the scope requirement contains a character RFC 6749 section 3.3 does not allow in a scope",
                );
            }
            if token_len > crate::MAX_SCOPE_LEN {
                return Some("a scope in the requirement is longer than 128 bytes");
            }
        }
        i += 1;
    }
    if token_len == 0 {
        return Some("the scope requirement ends with a space");
    }
    if tokens > crate::MAX_SCOPES {
        return Some("the scope requirement names more than 64 scopes");
    }
    None
}

/// A scope requirement that [`requirement_problem`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope requirement {requirement:?}: {problem}")]
pub struct InvalidRequirement {
    /// The requirement as written.
    pub requirement: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Parses a scope requirement written at run time (for
/// `AuthLayer::with_required_scopes` and the actix middleware's), by the
/// rule of [`requirement_problem`].
///
/// # Errors
///
/// [`InvalidRequirement`], saying what is wrong.
///
/// # Examples
///
/// ```
/// use papyrus_auth::http::required_scopes;
///
/// assert_eq!(required_scopes("reports:read reports:write")?.len(), 2);
/// let typo = required_scopes("reports:read,reports:write").unwrap_err();
/// assert!(typo.to_string().contains("separated by a space"));
/// # Ok::<(), papyrus_auth::http::InvalidRequirement>(())
/// ```
pub fn required_scopes(requirement: &str) -> Result<ScopeSet, InvalidRequirement> {
    let refuse = |problem| InvalidRequirement {
        requirement: requirement.to_owned(),
        problem,
    };
    if let Some(problem) = requirement_problem(requirement, true) {
        return Err(refuse(problem));
    }
    ScopeSet::parse(requirement).map_err(|_| refuse("not an RFC 6749 section 3.3 scope list"))
}

/// Checks that `principal` holds every scope in `required`.
///
/// # Errors
///
/// [`Rejection::InsufficientScope`] naming all of `required` (RFC 6750 §3).
pub fn require_scopes(principal: &Principal, required: &ScopeSet) -> Result<(), Rejection> {
    if principal.scopes().contains_all(required) {
        Ok(())
    } else {
        Err(Rejection::InsufficientScope {
            required: required.clone(),
        })
    }
}

/// The authenticated [`Principal`], holding every scope `R` requires: the
/// extractor of the axum and actix-web adapters (403 `insufficient_scope`
/// with the RFC 6750 challenge otherwise). It dereferences to the principal.
///
/// ```
/// use papyrus_auth::http::{RequireScopes, ScopeRequirement};
///
/// struct DocumentsWrite;
/// impl ScopeRequirement for DocumentsWrite {
///     const SCOPES: &'static str = "documents:write";
/// }
///
/// // As a handler argument, with the `axum` or `actix` feature:
/// async fn create(RequireScopes { principal, .. }: RequireScopes<DocumentsWrite>) -> String {
///     format!("created by {}", principal.subject())
/// }
/// ```
pub struct RequireScopes<R> {
    /// Who made the request.
    pub principal: Principal,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: ScopeRequirement> RequireScopes<R> {
    /// `R`'s scopes; a requirement that [`requirement_problem`] refuses
    /// fails the build wherever this is used (the extractors use it).
    pub fn scopes() -> ScopeSet {
        let () = Checked::<R>::OK;
        // Checked at compile time above, so this parse succeeds; were it
        // ever to fail, an impossible requirement fails closed.
        ScopeSet::parse(R::SCOPES).unwrap_or_else(|_| {
            ScopeSet::parse("unsatisfiable-scope-requirement").unwrap_or_default()
        })
    }

    /// The check the extractors run: `principal` if it holds `R`'s scopes.
    ///
    /// # Errors
    ///
    /// [`AuthRejection`] with [`Rejection::InsufficientScope`].
    pub fn check(principal: Principal) -> Result<Self, AuthRejection> {
        require_scopes(&principal, &Self::scopes()).map_err(AuthRejection::new)?;
        Ok(Self {
            principal,
            _requirement: PhantomData,
        })
    }

    /// The principal.
    pub fn into_principal(self) -> Principal {
        self.principal
    }
}

/// The compile-time check of a [`ScopeRequirement`].
struct Checked<R>(PhantomData<R>);

impl<R: ScopeRequirement> Checked<R> {
    const OK: () = match requirement_problem(R::SCOPES, R::ALLOW_UPPER_CASE) {
        None => (),
        Some(problem) => panic!("{}", problem),
    };
}

impl<R> Deref for RequireScopes<R> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<R> Clone for RequireScopes<R> {
    fn clone(&self) -> Self {
        Self {
            principal: self.principal.clone(),
            _requirement: PhantomData,
        }
    }
}

impl<R> fmt::Debug for RequireScopes<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("principal", &self.principal)
            .field("requirement", &std::any::type_name::<R>())
            .finish()
    }
}

/// Why an extractor refused a request: match on [`reason`](Self::reason).
///
/// * [`Rejection::InsufficientScope`]: the principal lacks scopes
///   (`RequireScopes`), 403 with the RFC 6750 challenge;
/// * [`Rejection::MissingCredentials`]: there is no principal in the
///   request. Behind the adapter's layer or middleware this does not happen
///   (a request without credentials is refused before the handler), so it
///   means the route is not behind it: 401.
///
/// The adapters render it as [`response`](Self::response), byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    reason: Rejection,
    /// The application's realm and resource metadata, when it named them.
    challenge: Option<ChallengeRealm>,
}

/// What the application's challenges name beyond the defaults: its realm,
/// and its protected-resource metadata (RFC 9728 §5.1). Left in a
/// request's extensions by the adapters' layer (only when there is
/// something to name) for the extractors' rejections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChallengeRealm {
    /// The realm, when not the default.
    pub(crate) realm: Option<Arc<str>>,
    /// The `resource_metadata` URL.
    pub(crate) resource_metadata: Option<Arc<str>>,
}

impl ChallengeRealm {
    /// `response` with this realm and resource metadata in its challenge.
    pub(crate) fn apply(&self, mut response: HttpResponse) -> HttpResponse {
        if let Some(realm) = &self.realm {
            response = super::in_realm(response, realm);
        }
        if let Some(url) = &self.resource_metadata {
            response = super::with_resource_metadata(response, url);
        }
        response
    }
}

impl AuthRejection {
    /// A rejection for `reason`.
    pub fn new(reason: Rejection) -> Self {
        Self {
            reason,
            challenge: None,
        }
    }

    /// The rejection, challenging in `realm` when one is given.
    pub(crate) fn in_realm(mut self, realm: Option<&ChallengeRealm>) -> Self {
        self.challenge = realm.cloned();
        self
    }

    /// Why the request was refused.
    pub fn reason(&self) -> &Rejection {
        &self.reason
    }

    /// The HTTP status: 401, 403 or 400.
    pub fn status(&self) -> u16 {
        self.response().status
    }

    /// The framework-neutral response (JSON body, `WWW-Authenticate`).
    pub fn response(&self) -> HttpResponse {
        let response = rejection_response(&self.reason);
        match &self.challenge {
            Some(challenge) => challenge.apply(response),
            None => response,
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Rejection::InsufficientScope { required } => {
                write!(f, "the credential lacks scopes; required: {required}")
            }
            Rejection::MissingCredentials => f.write_str(
                "no authenticated principal (is the route behind the authentication layer?)",
            ),
            other => write!(f, "the credential was refused: {other}"),
        }
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

impl From<Rejection> for AuthRejection {
    fn from(reason: Rejection) -> Self {
        Self::new(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sound_requirements_pass() {
        for ok in [
            "documents:read",
            "reports:read reports:write",
            "a",
            "x!#[]~",
        ] {
            assert_eq!(requirement_problem(ok, false), None, "{ok:?}");
        }
        assert_eq!(requirement_problem("User.Read", true), None);
    }

    #[test]
    fn typos_are_refused_with_the_reason() {
        for (bad, says) in [
            ("", "empty"),
            ("reports read,write", "`,`"),
            ("reports:read;reports:write", "`;`"),
            ("reports:read  reports:write", "doubled space"),
            (" reports:read", "leading"),
            ("reports:read ", "ends with a space"),
            ("Reports:read", "upper-case"),
            ("reports:\"read\"", "does not allow"),
            ("caf\u{e9}", "does not allow"),
        ] {
            let problem = requirement_problem(bad, false).unwrap_or("none");
            assert!(problem.contains(says), "{bad:?}: {problem}");
        }
        let long = "a".repeat(crate::MAX_SCOPE_LEN + 1);
        assert!(requirement_problem(&long, false).is_some());
        let many = vec!["s"; crate::MAX_SCOPES + 1].join(" ");
        assert!(requirement_problem(&many, false).is_some());
    }

    #[test]
    fn run_time_requirements_use_the_same_rule() {
        let err = required_scopes("reports read,write").unwrap_err();
        assert_eq!(err.requirement, "reports read,write");
        assert!(err.to_string().contains("separated by a space"), "{err}");
        // At run time a mixed-case scope is the caller's explicit choice.
        assert_eq!(required_scopes("User.Read").map(|s| s.len()), Ok(1));
    }

    #[test]
    fn the_rejection_says_why_and_answers_as_the_layer_does() {
        let required = required_scopes("documents:write").unwrap();
        let rejection = AuthRejection::new(Rejection::InsufficientScope {
            required: required.clone(),
        });
        assert!(matches!(
            rejection.reason(),
            Rejection::InsufficientScope { required: r } if *r == required
        ));
        assert_eq!(rejection.status(), 403);
        assert!(rejection.to_string().contains("documents:write"));
        let challenge = rejection.response();
        assert!(
            challenge
                .header("WWW-Authenticate")
                .is_some_and(|c| c.contains("insufficient_scope"))
        );
        let missing = AuthRejection::new(Rejection::MissingCredentials);
        assert_eq!(missing.status(), 401);
        assert!(std::error::Error::source(&missing).is_some());
    }
}
