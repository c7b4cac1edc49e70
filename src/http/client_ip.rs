//! The client IP of a request, for IP allowlists.
//!
//! The socket's peer address is the client, unless the peer is a trusted
//! proxy: then `Forwarded` (RFC 7239) or `X-Forwarded-For` is read **right to
//! left**, skipping trusted proxies, and the first untrusted address is the
//! client. A header sent by an untrusted peer is ignored, so a spoofed
//! `X-Forwarded-For` can never pass an allowlist.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::HeaderSource;
use crate::api_key::IpAllowlist;

/// The proxies whose forwarding headers are believed. Empty by default:
/// only the socket address counts.
///
/// # Examples
///
/// ```
/// use papyrus_auth::http::{HttpRequest, TrustedProxies};
///
/// let proxies = TrustedProxies::parse(["10.0.0.0/8"])?;
/// let mut req = HttpRequest::get("/");
/// req.headers.push(("x-forwarded-for".into(), "203.0.113.7, 10.0.0.2".into()));
///
/// // From the trusted load balancer: the header is read right to left.
/// assert_eq!(proxies.client_ip(Some("10.0.0.1".parse()?), &req), Some("203.0.113.7".parse()?));
/// // From anyone else: the header is ignored.
/// assert_eq!(proxies.client_ip(Some("198.51.100.1".parse()?), &req), Some("198.51.100.1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(IpAllowlist);

/// The longest forwarding header read; longer ones make the client IP unknown.
const MAX_FORWARDED_LEN: usize = 4096;

impl TrustedProxies {
    /// No trusted proxies: the socket address is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts proxies in these networks (`"10.0.0.0/8"`, `"127.0.0.1"`).
    ///
    /// # Errors
    ///
    /// [`crate::api_key::InvalidAllowlist`] for an entry that does not parse.
    pub fn parse<I, S>(entries: I) -> Result<Self, crate::api_key::InvalidAllowlist>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        IpAllowlist::parse(entries).map(Self)
    }

    /// Trusts proxies in these networks.
    ///
    /// # Errors
    ///
    /// [`crate::api_key::InvalidAllowlist::TooMany`] for more than 64 networks.
    pub fn from_nets(
        nets: impl IntoIterator<Item = IpNet>,
    ) -> Result<Self, crate::api_key::InvalidAllowlist> {
        IpAllowlist::from_nets(nets).map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        !self.0.is_empty() && self.0.allows(Some(ip))
    }

    /// The client IP of a request from `peer` with `headers`.
    ///
    /// `None` when the peer is unknown, or when a trusted proxy forwarded a
    /// hop that cannot be parsed or a forwarding header that cannot be read
    /// (a byte that is not visible ASCII): then no allowlist passes.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &impl HeaderSource) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        // An unreadable line of either header makes the address unknown:
        // skipping it would take the address from the other header, or from
        // the proxy itself.
        let forwarded = readable(headers.header_values("forwarded"))?;
        let x_forwarded_for = readable(headers.header_values("x-forwarded-for"))?;
        let hops: Vec<Option<IpAddr>> = if !forwarded.is_empty() {
            let joined = forwarded.join(",");
            if joined.len() > MAX_FORWARDED_LEN {
                return None;
            }
            joined.split(',').map(forwarded_for).collect()
        } else {
            let joined = x_forwarded_for.join(",");
            if joined.len() > MAX_FORWARDED_LEN {
                return None;
            }
            if joined.trim().is_empty() {
                return Some(peer);
            }
            joined.split(',').map(|h| parse_hop(h.trim())).collect()
        };
        let mut last_trusted = peer;
        for hop in hops.into_iter().rev() {
            let ip = hop?;
            if !self.trusts(ip) {
                return Some(ip);
            }
            last_trusted = ip;
        }
        Some(last_trusted)
    }
}

/// Every value, if every one is readable: present to the adapter as
/// visible ASCII (an [`HttpRequest`](super::HttpRequest) keeps an unreadable
/// byte as U+FFFD, which is not).
fn readable(values: Vec<Option<&str>>) -> Option<Vec<&str>> {
    values
        .into_iter()
        .map(|v| v.filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))))
        .collect()
}

/// The `for=` address of one `Forwarded` element (RFC 7239 §4), if any.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(v.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpRequest;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn req(name: &str, value: &str) -> HttpRequest {
        let mut r = HttpRequest::get("/");
        r.headers.push((name.into(), value.into()));
        r
    }

    #[test]
    fn untrusted_peers_headers_are_ignored() {
        let none = TrustedProxies::none();
        let spoof = req("X-Forwarded-For", "10.1.1.1");
        assert_eq!(none.client_ip(ip("203.0.113.9"), &spoof), ip("203.0.113.9"));
        let lb = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        assert_eq!(lb.client_ip(ip("203.0.113.9"), &spoof), ip("203.0.113.9"));
        assert_eq!(lb.client_ip(None, &spoof), None);
    }

    #[test]
    fn trusted_chain_is_read_right_to_left() {
        let lb = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        // The client put a fake address first; the proxy appended the real one.
        let r = req("X-Forwarded-For", "10.9.9.9, 198.51.100.4, 10.0.0.3");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), ip("198.51.100.4"));
        let all_trusted = req("X-Forwarded-For", "10.0.0.5, 10.0.0.3");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &all_trusted), ip("10.0.0.5"));
        let no_header = HttpRequest::get("/");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &no_header), ip("10.0.0.1"));
        let garbage = req("X-Forwarded-For", "198.51.100.4, not-an-ip");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &garbage), None);
        let ports = req("X-Forwarded-For", "[2001:db8::7]:443");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &ports), ip("2001:db8::7"));
    }

    #[test]
    fn multiple_header_lines_are_one_list() {
        let lb = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let mut r = req("X-Forwarded-For", "198.51.100.1");
        r.headers
            .push(("x-forwarded-for".into(), "198.51.100.2".into()));
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), ip("198.51.100.2"));
    }

    #[test]
    fn forwarded_header_rfc7239() {
        let lb = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let r = req(
            "Forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        );
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), ip("2001:db8:cafe::17"));
        let r = req("Forwarded", "for=unknown");
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), None);
        let long = req("X-Forwarded-For", &"1.1.1.1,".repeat(1000));
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &long), None);
    }

    #[test]
    fn an_unreadable_forwarding_line_makes_the_address_unknown() {
        use crate::http::request::readable_or_replaced;
        let lb = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        // As the adapters copy a line holding a byte that is not visible ASCII.
        for (name, value) in [
            ("X-Forwarded-For", b"\xff, 198.51.100.7".as_slice()),
            ("Forwarded", b"for=\xff, for=198.51.100.7".as_slice()),
        ] {
            let mut r = HttpRequest::get("/");
            r.headers.push((name.into(), readable_or_replaced(value)));
            assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), None, "{name}");
        }
        // Not skipped in favour of the other header.
        let mut r = req("X-Forwarded-For", "198.51.100.7");
        r.headers
            .push(("Forwarded".into(), readable_or_replaced(b"for=\xff")));
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &r), None);

        /// The adapters' header maps report such a line as unreadable.
        struct Unreadable;
        impl HeaderSource for Unreadable {
            fn header(&self, _: &str) -> Option<&str> {
                None
            }
            fn header_values(&self, name: &str) -> Vec<Option<&str>> {
                match name {
                    "x-forwarded-for" => vec![None, Some("198.51.100.7")],
                    _ => Vec::new(),
                }
            }
            fn headers_len(&self) -> usize {
                0
            }
        }
        assert_eq!(lb.client_ip(ip("10.0.0.1"), &Unreadable), None);
        // From an untrusted peer nothing is read: the peer is the client.
        assert_eq!(
            lb.client_ip(ip("198.51.100.9"), &Unreadable),
            ip("198.51.100.9")
        );
    }
}
