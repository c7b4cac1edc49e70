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
        Self::parse_bounded(input, MAX_PARAMS, MAX_PARAM_LEN)
    }

    /// [`parse`](Self::parse) with other bounds: at most `max_params`
    /// parameters, values of at most `max_len` bytes (the consent form's
    /// are wider: a checkbox per scope, the whole authorization request).
    ///
    /// # Errors
    ///
    /// `invalid_request` past either bound.
    pub(crate) fn parse_bounded(
        input: &'a str,
        max_params: usize,
        max_len: usize,
    ) -> Result<Self, OAuthError> {
        let mut pairs = Vec::with_capacity(8);
        for piece in input.split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == max_params {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let (k, v) = (decode(k), decode(v));
            if v.len() > max_len || k.len() > 64 {
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

    /// Every non-empty value of `name`, in order (a repeatable field, such
    /// as the consent form's `scope` checkboxes).
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.pairs
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_ref())
    }

    /// The value of `name`, which must be present.
    pub(crate) fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| {
            OAuthError::invalid_request(Cow::Owned(format!("missing parameter {name}")))
        })
    }

    /// The first repeated parameter name, if any, except `resource`: it
    /// is the one parameter RFC 8707 §2 lets a request repeat.
    pub(crate) fn first_repeated(&self) -> Option<&str> {
        self.pairs.iter().enumerate().find_map(|(i, (k, v))| {
            (!v.is_empty()
                && k != "resource"
                && self.pairs[..i]
                    .iter()
                    .any(|(k2, v2)| k2 == k && !v2.is_empty()))
            .then_some(k.as_ref())
        })
    }
}

/// One `application/x-www-form-urlencoded` name or value, decoded as the
/// WHATWG URL standard's parser does (and the `form_urlencoded` crate): `+`
/// is a space, `%XX` a byte, a `%` not followed by two hex digits stays as
/// it is, and bytes that do not form UTF-8 become U+FFFD. Borrowed when
/// there is nothing to decode, which is the common case for OAuth values.
fn decode(raw: &str) -> Cow<'_, str> {
    decode_with(raw, true).unwrap_or_default()
}

/// [`decode`], except that bytes that do not form UTF-8 refuse the value
/// (`None`): for credentials, where a replaced byte would be another secret.
/// The one form decoder of the crate either way.
pub(crate) fn decode_strict(raw: &str) -> Option<Cow<'_, str>> {
    decode_with(raw, false)
}

fn decode_with(raw: &str, lossy: bool) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%' || b == b'+') else {
        return Some(Cow::Borrowed(raw));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Some(Cow::Owned(s)),
        Err(e) if lossy => Some(Cow::Owned(
            String::from_utf8_lossy(e.as_bytes()).into_owned(),
        )),
        Err(e) => {
            // The bytes may be a secret's: wiped, not just dropped.
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            None
        }
    }
}

/// The value of one hex digit.
fn hex(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `s` form-encoded (as `form_urlencoded::byte_serialize`):
/// alphanumerics and `*-._` as they are, space as `+`, every other byte as
/// `%XX`.
fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Runs of bytes that stay as they are are copied whole; such runs are
    // ASCII, so their ends are character boundaries.
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            continue;
        }
        if i > run {
            out.push_str(&s[run..i]);
        }
        run = i + 1;
        if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    if run < s.len() {
        out.push_str(&s[run..]);
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
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
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

    proptest::proptest! {
        /// The hand-written decoder and encoder agree with the
        /// `form_urlencoded` crate (WHATWG rules) on any input.
        #[test]
        fn agrees_with_form_urlencoded(input in "([a-zA-Z0-9&=+% ._~*-]|%[0-9a-fA-F]{2}|%[0-9a-fA-F]|[\\u{80}-\\u{10FFFF}])*") {
            let ours = Params::parse(&input);
            let theirs: Vec<(String, String)> = form_urlencoded::parse(input.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if let Ok(ours) = ours {
                let ours: Vec<(String, String)> = ours
                    .pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                proptest::prop_assert_eq!(ours, theirs);
            } else {
                proptest::prop_assert!(theirs.len() > MAX_PARAMS || theirs.iter().any(|(k, v)| k.len() > 64 || v.len() > MAX_PARAM_LEN));
            }
            let mut encoded = String::new();
            encode_into(&mut encoded, &input);
            let expected: String = form_urlencoded::byte_serialize(input.as_bytes()).collect();
            proptest::prop_assert_eq!(encoded, expected);
        }
    }

    #[test]
    fn decodes_edge_cases() {
        let p = Params::parse("a=%zz%4&b=%E2%82%AC&c=%FF&d=%41%42+&=v&e&&f==").unwrap();
        assert_eq!(p.get("a").unwrap(), Some("%zz%4"), "bad escapes stay");
        assert_eq!(p.get("b").unwrap(), Some("\u{20ac}"));
        assert_eq!(
            p.get("c").unwrap(),
            Some("\u{fffd}"),
            "invalid UTF-8 is replaced"
        );
        assert_eq!(p.get("d").unwrap(), Some("AB "));
        assert_eq!(p.get("").unwrap(), Some("v"));
        assert_eq!(p.get("e").unwrap(), None);
        assert_eq!(p.get("f").unwrap(), Some("="));
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
