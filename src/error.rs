//! Errors shared by every store backend.

use std::{error::Error as StdError, fmt};

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The backend could not be reached or did not answer (maps to HTTP 503).
    Unavailable,
    /// A uniqueness rule was broken (an id or digest already exists).
    Conflict,
    /// A stored record could not be read back (bad data in the store).
    Corrupt,
    /// Any other backend failure.
    Other,
}

/// A failure of a store backend. The backend's own error is kept as the
/// [`source`](std::error::Error::source).
///
/// At the HTTP layer every store error becomes `503 Service Unavailable`
/// with a JSON error body: a database that is down never turns into a `401`.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{StoreError, StoreErrorKind};
///
/// let io = std::io::Error::other("connection refused");
/// let err = StoreError::unavailable(io);
/// assert_eq!(err.kind(), StoreErrorKind::Unavailable);
/// assert!(std::error::Error::source(&err).is_some());
/// ```
pub struct StoreError(Box<Failure>);

/// A [`StoreError`]'s contents, boxed: an error is rare, and one pointer
/// keeps every `Result` that may carry it (each authentication's among them)
/// small enough to move in registers.
struct Failure {
    kind: StoreErrorKind,
    message: &'static str,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

// One pointer wide, so that it never widens an authentication's `Result`.
const _: () = assert!(size_of::<StoreError>() == size_of::<usize>());

impl StoreError {
    /// A store error of `kind` with a short static description and an optional cause.
    pub fn new(
        kind: StoreErrorKind,
        message: &'static str,
        source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self(Box::new(Failure {
            kind,
            message,
            source,
        }))
    }

    /// The backend is unreachable or timed out.
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::new(
            StoreErrorKind::Unavailable,
            "store unavailable",
            Some(source.into()),
        )
    }

    /// A uniqueness conflict, such as a duplicate id.
    pub fn conflict(message: &'static str) -> Self {
        Self::new(StoreErrorKind::Conflict, message, None)
    }

    /// A stored record that cannot be decoded.
    pub fn corrupt(message: &'static str) -> Self {
        Self::new(StoreErrorKind::Corrupt, message, None)
    }

    /// Any other backend failure.
    pub fn other(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::new(StoreErrorKind::Other, "store error", Some(source.into()))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.0.kind
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.message)?;
        if let Some(source) = &self.0.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
