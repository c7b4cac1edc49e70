//! [`HttpsMetadataFetcher`]: fetching Client ID Metadata Documents without
//! becoming a proxy into the network the server sits in (SSRF).
//!
//! A `client_id` URL is the attacker's choice. Before a byte is sent, the
//! host is resolved and **every** address it resolves to is checked
//! ([`is_forbidden_address`]): private, loopback, link-local (which holds
//! cloud metadata services at `169.254.169.254`), shared, documentation,
//! multicast and reserved ranges are refused, IPv4 inside IPv6 too. The
//! connection then goes to the checked addresses only (pinned: no second
//! resolution that could answer differently), over `https`, without a
//! system proxy; a redirect is refused, not followed; the answer is
//! limited in time and size.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use async_trait::async_trait;

use super::{ClientMetadataResolver, MetadataFetchError};

/// Options that weaken the fetcher, for tests: reached only through
/// [`HttpsMetadataFetcher::dangerous`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DangerousFetchOptions {
    /// Fetch from loopback addresses (`127.0.0.0/8`, `::1`), over plain
    /// `http` too: for a test's local server. Never in production: it lets
    /// a client id reach services on the server's own host.
    pub allow_loopback: bool,
    /// With [`allow_loopback`](Self::allow_loopback), fetch an `https` URL
    /// whose host resolves to loopback over plain `http` (a test server
    /// has no certificate for the URL's name).
    pub plain_http_to_loopback: bool,
}

/// Fetches Client ID Metadata Documents over `https` (see the module
/// docs for what it refuses). Feature `client-id-metadata`.
///
/// ```
/// use papyrus_auth::oauth::{HttpsMetadataFetcher, MetadataDocuments};
/// use std::{sync::Arc, time::Duration};
///
/// let documents = MetadataDocuments::new(Arc::new(
///     HttpsMetadataFetcher::new().with_timeout(Duration::from_secs(3)),
/// ));
/// # let _ = documents;
/// ```
#[derive(Debug, Clone)]
pub struct HttpsMetadataFetcher {
    timeout: Duration,
    max_bytes: usize,
    hosts: HashMap<String, Vec<IpAddr>>,
    dangerous: DangerousFetchOptions,
}

impl Default for HttpsMetadataFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpsMetadataFetcher {
    /// A fetcher with a 5 s limit and documents of at most 5 KiB (the
    /// draft's suggestion).
    pub fn new() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 5 * 1024,
            hosts: HashMap::new(),
            dangerous: DangerousFetchOptions::default(),
        }
    }

    /// Limits a whole fetch (connection, TLS, answer) to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refuses documents longer than `max_bytes`.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Resolves `host` to `addresses` instead of asking DNS (the addresses
    /// are checked all the same).
    pub fn with_host(mut self, host: &str, addresses: Vec<IpAddr>) -> Self {
        self.hosts.insert(host.to_ascii_lowercase(), addresses);
        self
    }

    /// The options that weaken the fetcher, to change them loudly (tests).
    pub fn dangerous(&mut self) -> &mut DangerousFetchOptions {
        &mut self.dangerous
    }

    /// The URL, host and checked addresses of a fetch: refused here, before
    /// anything is sent to `url`'s host.
    async fn target(
        &self,
        url: &str,
    ) -> Result<(reqwest::Url, String, Vec<SocketAddr>), MetadataFetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| MetadataFetchError::Url("not a URL"))?;
        let plain_http = match parsed.scheme() {
            "https" => false,
            "http" if self.dangerous.allow_loopback => true,
            _ => return Err(MetadataFetchError::Url("only https URLs are fetched")),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(MetadataFetchError::Url("user information is not allowed"));
        }
        if parsed.fragment().is_some() {
            return Err(MetadataFetchError::Url("a fragment is not allowed"));
        }
        let port = parsed
            .port_or_known_default()
            .ok_or(MetadataFetchError::Url("no port"))?;
        let name = parsed
            .host_str()
            .ok_or(MetadataFetchError::Url("no host"))?
            .to_ascii_lowercase();
        let literal = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let ips: Vec<IpAddr> = match (literal, self.hosts.get(&name)) {
            (Some(ip), _) => vec![ip],
            (None, Some(ips)) => ips.clone(),
            (None, None) => {
                tokio::time::timeout(self.timeout, tokio::net::lookup_host((name.as_str(), port)))
                    .await
                    .map_err(|_| MetadataFetchError::Timeout)?
                    .map_err(|_| MetadataFetchError::Dns)?
                    .map(|a| a.ip())
                    .collect()
            }
        };
        let host = name;
        if ips.is_empty() {
            return Err(MetadataFetchError::Dns);
        }
        for ip in &ips {
            let loopback_allowed = self.dangerous.allow_loopback && canonical(*ip).is_loopback();
            if is_forbidden_address(*ip) && !loopback_allowed {
                return Err(MetadataFetchError::ForbiddenAddress(*ip));
            }
            if plain_http && !loopback_allowed {
                return Err(MetadataFetchError::Url("only https URLs are fetched"));
            }
        }
        let mut parsed = parsed;
        if self.dangerous.allow_loopback
            && self.dangerous.plain_http_to_loopback
            && ips.iter().all(|ip| canonical(*ip).is_loopback())
        {
            parsed
                .set_scheme("http")
                .map_err(|()| MetadataFetchError::Url("cannot be fetched over http"))?;
        }
        let addrs = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        Ok((parsed, host, addrs))
    }
}

#[async_trait]
impl ClientMetadataResolver for HttpsMetadataFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, MetadataFetchError> {
        let (url, host, addrs) = self.target(url).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .user_agent(concat!("papyrus-auth/", env!("CARGO_PKG_VERSION")))
            // Only the addresses checked above: no second resolution.
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|_| MetadataFetchError::Unreachable)?;
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                MetadataFetchError::Timeout
            } else {
                MetadataFetchError::Unreachable
            }
        };
        let mut response = client
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(MetadataFetchError::Redirect);
        }
        if status != 200 {
            return Err(MetadataFetchError::Status(status));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(MetadataFetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(MetadataFetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An IPv4 address inside IPv6 (mapped `::ffff:a.b.c.d`, or NAT64
/// `64:ff9b::a.b.c.d`) as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Whether a metadata document may not be fetched from `ip`: anything
/// but a public unicast address. Refused: unspecified, loopback, private
/// (`10/8`, `172.16/12`, `192.168/16`, `fc00::/7`), link-local
/// (`169.254/16` with the cloud metadata services, `fe80::/10`), shared
/// (`100.64/10`), `0/8`, IETF and documentation ranges, benchmarking
/// (`198.18/15`), multicast, broadcast and reserved (`240/4`); an IPv4
/// address inside IPv6 is judged as itself.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
                || s[0] == 0
                || v6 == Ipv6Addr::LOCALHOST
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn only_public_unicast_addresses_are_fetched_from() {
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "100::1",
        ] {
            assert!(is_forbidden_address(bad.parse().unwrap()), "{bad}");
        }
        for ok in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            assert!(!is_forbidden_address(ok.parse().unwrap()), "{ok}");
        }
    }

    /// Refusals that happen before anything is sent: IP literals, and
    /// names resolved here (no DNS query) to forbidden addresses.
    #[tokio::test]
    async fn forbidden_targets_are_refused_before_any_packet() {
        let f = HttpsMetadataFetcher::new()
            .with_host("internal.example", vec!["10.0.0.5".parse().unwrap()])
            .with_host(
                "rebind.example",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "127.0.0.1".parse().unwrap(),
                ],
            )
            .with_host("metadata.example", vec!["169.254.169.254".parse().unwrap()]);
        for (url, ip) in [
            ("https://10.0.0.1/c.json", "10.0.0.1"),
            ("https://127.0.0.1/c.json", "127.0.0.1"),
            ("https://[::1]/c.json", "::1"),
            (
                "https://169.254.169.254/latest/meta-data",
                "169.254.169.254",
            ),
            ("https://[fe80::1]/c.json", "fe80::1"),
            ("https://[::ffff:a00:1]/c.json", "::ffff:10.0.0.1"),
            ("https://internal.example/c.json", "10.0.0.5"),
            ("https://rebind.example/c.json", "127.0.0.1"),
            ("https://metadata.example/c.json", "169.254.169.254"),
        ] {
            assert_eq!(
                f.fetch(url).await,
                Err(MetadataFetchError::ForbiddenAddress(ip.parse().unwrap())),
                "{url}"
            );
        }
        for url in [
            "http://93.184.216.34/c.json",
            "ftp://93.184.216.34/c.json",
            "https://user:pw@93.184.216.34/c.json",
            "https://93.184.216.34/c.json#x",
            "not a url",
        ] {
            assert!(
                matches!(f.fetch(url).await, Err(MetadataFetchError::Url(_))),
                "{url}"
            );
        }
        // Loopback stays refused without the dangerous option, even over http.
        assert!(f.fetch("http://127.0.0.1:9/c.json").await.is_err());
    }

    /// A local server answering each connection with `response` after
    /// `delay`; its URL.
    async fn serve(response: Vec<u8>, delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = conn.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let _ = conn.write_all(&response).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        format!("http://{addr}/client.json")
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n").into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn redirects_oversize_and_slow_documents_are_refused() {
        let mut f = HttpsMetadataFetcher::new()
            .with_timeout(Duration::from_millis(500))
            .with_max_bytes(1024);
        f.dangerous().allow_loopback = true;
        let ok = serve(
            http(
                "200 OK",
                "Content-Type: application/json\r\n",
                b"{\"client_id\":\"x\"}",
            ),
            Duration::ZERO,
        )
        .await;
        assert_eq!(f.fetch(&ok).await.unwrap(), b"{\"client_id\":\"x\"}");
        let redirect = serve(
            http(
                "302 Found",
                "Location: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\n",
                b"",
            ),
            Duration::ZERO,
        )
        .await;
        assert_eq!(f.fetch(&redirect).await, Err(MetadataFetchError::Redirect));
        let declared = serve(
            http("200 OK", "Content-Length: 4096\r\n", &[b' '; 4096]),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            f.fetch(&declared).await,
            Err(MetadataFetchError::TooLarge(1024))
        );
        let undeclared = serve(http("200 OK", "", &[b' '; 4096]), Duration::ZERO).await;
        assert_eq!(
            f.fetch(&undeclared).await,
            Err(MetadataFetchError::TooLarge(1024))
        );
        let slow = serve(
            http("200 OK", "Content-Length: 2\r\n", b"{}"),
            Duration::from_secs(3),
        )
        .await;
        assert_eq!(f.fetch(&slow).await, Err(MetadataFetchError::Timeout));
        let missing = serve(
            http("404 Not Found", "Content-Length: 0\r\n", b""),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            f.fetch(&missing).await,
            Err(MetadataFetchError::Status(404))
        );
    }
}
