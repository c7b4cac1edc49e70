//! Form and query parameters: parsed once, duplicates detected, sizes bounded.

use std::borrow::Cow;

use super::OAuthError;

/// The most parameters read from one query string or form body.
pub const MAX_PARAMS: usize = 32;
/// The longest parameter value accepted, in bytes.
pub const MAX_PARAM_LEN: usize = 4096;

/// Parsed `application/x-www-form-urlencoded` parameters, borrowed from the
/// input unless a name or value had to be decoded.
#[derive(Clone, Default)]
pub(crate) struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl std::fmt::Debug for Params<'_> {
    /// Names only: values carry secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

impl<'a> Params<'a> {
    /// Parses a query string or form body.
    ///
    /// # Errors
    ///
    /// `invalid_request` for more than [`MAX_PARAMS`] parameters or a value
    /// longer than [`MAX_PARAM_LEN`].
    pub(crate) fn parse(input: &'a str) -> Result<Self, OAuthError> {
        let mut pairs = Vec::with_capacity(8);
        for (k, v) in form_urlencoded::parse(input.as_bytes()) {
            if pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if v.len() > MAX_PARAM_LEN || k.len() > 64 {
                return Err(OAuthError::invalid_request("a parameter is too long"));
            }
            pairs.push((k, v));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    ///
    /// # Errors
    ///
    /// `invalid_request` if the parameter is repeated (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(Cow::Owned(format!(
                        "parameter {name} is repeated"
                    ))));
                }
                found = Some(v.as_ref());
            }
        }
        Ok(found)
    }

    /// The value of `name`, which must be present.
    pub(crate) fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| {
            OAuthError::invalid_request(Cow::Owned(format!("missing parameter {name}")))
        })
    }

    /// The first repeated parameter name, if any.
    pub(crate) fn first_repeated(&self) -> Option<&str> {
        self.pairs.iter().enumerate().find_map(|(i, (k, v))| {
            (!v.is_empty()
                && self.pairs[..i]
                    .iter()
                    .any(|(k2, v2)| k2 == k && !v2.is_empty()))
            .then_some(k.as_ref())
        })
    }
}

/// Appends `pairs` to `uri`'s query, form-encoded.
pub(crate) fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if !uri.contains('?') {
        "?"
    } else if uri.ends_with('?') || uri.ends_with('&') {
        ""
    } else {
        "&"
    };
    let len = uri.len()
        + 1
        + pairs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
    let mut out = String::with_capacity(len);
    out.push_str(uri);
    out.push_str(sep);
    let start = out.len();
    form_urlencoded::Serializer::for_suffix(out, start)
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_detects_repeats() {
        let p = Params::parse("a=1&b=x+y%21&c=&c=").unwrap();
        assert_eq!(p.get("a").unwrap(), Some("1"));
        assert_eq!(p.get("b").unwrap(), Some("x y!"));
        assert_eq!(p.get("c").unwrap(), None, "empty counts as absent");
        assert!(p.first_repeated().is_none());
        let p = Params::parse("a=1&a=2").unwrap();
        assert!(p.get("a").is_err());
        assert_eq!(p.first_repeated(), Some("a"));
        assert!(p.require("zzz").is_err());
    }

    #[test]
    fn bounds() {
        let many: Vec<String> = (0..33).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(&many.join("&")).is_err());
        assert!(Params::parse(&format!("a={}", "x".repeat(4097))).is_err());
        assert!(Params::parse(&format!("a={}", "x".repeat(4096))).is_ok());
    }

    #[test]
    fn appends_queries() {
        assert_eq!(
            append_query("https://a/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            append_query("https://a/cb?v=1", &[("code", "x")]),
            "https://a/cb?v=1&code=x"
        );
        assert_eq!(
            append_query("https://a/cb?", &[("code", "x")]),
            "https://a/cb?code=x"
        );
    }
}
