//! A framework-neutral request.

use std::net::IpAddr;

use crate::Rejection;

/// Read access to a request's headers. Each adapter implements it for its
/// framework's header map; [`HttpRequest`] implements it too.
pub trait HeaderSource {
    /// The first value of header `name` (case-insensitive), if present and
    /// readable (visible ASCII, as `http::HeaderValue::to_str` reads it).
    fn header(&self, name: &str) -> Option<&str>;
    /// Every value of header `name`, in order: `None` for a value that is
    /// present but not readable. Callers must not skip those: an unreadable
    /// forwarding header makes the client address unknown (which a
    /// non-empty IP allowlist refuses), where skipping it would let the
    /// address come from another header or from the proxy itself.
    fn header_values(&self, name: &str) -> Vec<Option<&str>>;
    /// The value of header `name` if it is sent at most once (`None` when
    /// absent or not UTF-8); [`Rejection::RepeatedHeader`] when it is sent
    /// more than once. The credential and tenant headers are read with it.
    /// The default counts [`header_values`](Self::header_values); the
    /// adapters' implementations do not allocate.
    ///
    /// # Errors
    ///
    /// [`Rejection::RepeatedHeader`].
    fn single_header(&self, name: &str) -> Result<Option<&str>, Rejection> {
        at_most_one(self.header_values(name).into_iter())
    }
    /// Total bytes of all header names and values (for size limits).
    fn headers_len(&self) -> usize;
    /// [`headers_len`](Self::headers_len) and the number of `Host` lines,
    /// which the middleware reads for every request: the default reads
    /// them apart; the adapters count both in one pass over the headers.
    fn header_stats(&self) -> HeaderStats {
        HeaderStats {
            bytes: self.headers_len(),
            host_lines: self.header_values("host").len(),
        }
    }
}

/// What [`HeaderSource::header_stats`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HeaderStats {
    /// Total bytes of all header names and values.
    pub bytes: usize,
    /// How many `Host` lines the request has (RFC 9112 §3.2: more than one
    /// is a 400).
    pub host_lines: usize,
}

impl HeaderStats {
    /// Counts over `(name, value length)` pairs, `is_host` telling the
    /// `Host` lines: the adapters' one pass.
    pub(crate) fn count<N>(
        headers: impl Iterator<Item = (N, usize)>,
        name_len: impl Fn(&N) -> usize,
        is_host: impl Fn(&N) -> bool,
    ) -> Self {
        headers.fold(Self::default(), |stats, (name, value_len)| Self {
            bytes: stats.bytes + name_len(&name) + value_len,
            host_lines: stats.host_lines + usize::from(is_host(&name)),
        })
    }
}

/// The one value of a header given its values in order (`None` for one that
/// is not UTF-8), or [`Rejection::RepeatedHeader`] for more than one: every
/// [`HeaderSource::single_header`].
pub(crate) fn at_most_one<'a>(
    mut values: impl Iterator<Item = Option<&'a str>>,
) -> Result<Option<&'a str>, Rejection> {
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::RepeatedHeader);
    }
    Ok(first.flatten())
}

/// A request in framework-neutral form, for the endpoint handlers.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (without `?`), possibly empty.
    pub query: String,
    /// Headers (names in any case). The adapters copy a value that is not
    /// visible ASCII with its unreadable bytes replaced by U+FFFD, so that
    /// it is refused where it is parsed (a forwarding header, a credential)
    /// rather than silently absent.
    pub headers: Vec<(String, String)>,
    /// The body (already bounded by the adapter).
    pub body: Vec<u8>,
    /// The socket's peer address.
    pub peer: Option<IpAddr>,
}

impl HttpRequest {
    /// A request with `method` and `path` (which may carry a `?query`).
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            ..Self::default()
        }
    }

    /// A `GET` request.
    pub fn get(path_and_query: &str) -> Self {
        Self::new("GET", path_and_query)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the peer address.
    pub fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// The body as UTF-8, if it is.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The value of cookie `name`, if sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_values("cookie")
            .into_iter()
            .flatten()
            .flat_map(|h| h.split(';'))
            .find_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }
}

impl HeaderSource for HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_values(&self, name: &str) -> Vec<Option<&str>> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Some(v.as_str()))
            .collect()
    }

    fn single_header(&self, name: &str) -> Result<Option<&str>, Rejection> {
        at_most_one(
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| Some(v.as_str())),
        )
    }

    fn headers_len(&self) -> usize {
        self.headers.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    fn header_stats(&self) -> HeaderStats {
        HeaderStats::count(
            self.headers.iter().map(|(n, v)| (n, v.len())),
            |n| n.len(),
            |n| n.eq_ignore_ascii_case("host"),
        )
    }
}

/// A header value as [`HttpRequest`] keeps it: the value itself when it is
/// visible ASCII, else with every unreadable byte replaced by U+FFFD (so a
/// forwarding header or credential holding one is refused where it is
/// parsed, never skipped as absent).
pub(crate) fn readable_or_replaced(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) if s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) => s.to_owned(),
        _ => value
            .iter()
            .map(|&b| {
                if b == b'\t' || (0x20..0x7f).contains(&b) {
                    char::from(b)
                } else {
                    char::REPLACEMENT_CHARACTER
                }
            })
            .collect(),
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and bodies carry credentials: never print them.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("peer", &self.peer)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}
