//! `TrustedProxies::client_ip` over `Forwarded` / `X-Forwarded-For`, plus
//! `TenantSource::resolve` and `IpAllowlist::parse` on the same header lines.
//!
//! Input: one control byte, then header lines separated by `\n`. The control
//! byte picks the peer address and, per line, whether it is sent as
//! `Forwarded` or `X-Forwarded-For` (in varying case).

#![no_main]

mod common;

use std::{net::IpAddr, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use papyrus_auth::{
    IpAllowlist, TenantId,
    http::{HttpRequest, TenantSource, TrustedProxies},
};

const TRUSTED: [&str; 3] = ["10.0.0.0/8", "::1/128", "2001:db8::/32"];

fn proxies() -> &'static (TrustedProxies, IpAllowlist) {
    static P: OnceLock<(TrustedProxies, IpAllowlist)> = OnceLock::new();
    P.get_or_init(|| {
        (
            TrustedProxies::parse(TRUSTED).unwrap(),
            IpAllowlist::parse(TRUSTED).unwrap(),
        )
    })
}

fn peer(control: u8) -> Option<IpAddr> {
    [
        None,
        Some("10.0.0.1"),
        Some("10.255.255.254"),
        Some("::1"),
        Some("2001:db8::5"),
        Some("203.0.113.9"),
        Some("::ffff:10.0.0.1"),
        Some("2001:db9::1"),
    ][usize::from(control & 7)]
    .map(|s| s.parse().unwrap())
}

fn request(lines: &[&str], control: u8) -> HttpRequest {
    let mut req = HttpRequest::get("/");
    for (i, line) in lines.iter().enumerate() {
        let name = match (control >> 3).rotate_left(i as u32) & 3 {
            0 => "X-Forwarded-For",
            1 => "x-forwarded-for",
            2 => "Forwarded",
            _ => "FORWARDED",
        };
        req.headers.push((name.to_owned(), (*line).to_owned()));
    }
    req
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').take(8).collect();
    let (trusted, trusted_list) = proxies();
    let peer = peer(control);
    let req = request(&lines, control);

    let ip = trusted.client_ip(peer, &req);
    // Deterministic.
    assert_eq!(trusted.client_ip(peer, &req), ip);
    // No peer, no client IP; an untrusted peer is the client, whatever it sent.
    match peer {
        None => assert_eq!(ip, None),
        Some(p) if !trusted_list.allows(Some(p)) => assert_eq!(ip, Some(p)),
        Some(_) => {}
    }
    // Without trusted proxies the socket address is all that counts.
    assert_eq!(TrustedProxies::none().client_ip(peer, &req), peer);

    // Spoofing: an answer that is an untrusted address cannot be changed by
    // anything a client prepends to the first X-Forwarded-For hop list.
    let xff_only = req
        .headers
        .iter()
        .all(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"));
    if let (Some(answer), Some(p), true) = (ip, peer, xff_only) {
        if trusted_list.allows(Some(p)) && !trusted_list.allows(Some(answer)) && !lines.is_empty() {
            let mut spoofed = req.clone();
            let first = &mut spoofed.headers[0].1;
            *first = format!("198.51.100.66, 10.0.0.7, {first}");
            if spoofed
                .headers
                .iter()
                .map(|(_, v)| v.len() + 1)
                .sum::<usize>()
                < 4000
            {
                assert_eq!(
                    trusted.client_ip(peer, &spoofed),
                    ip,
                    "a prepended hop changed the answer"
                );
            }
        }
    }

    // Tenant sources over the same lines as Host / X-Tenant-Id headers.
    let mut tenant_req = HttpRequest::get("/");
    if let Some(host) = lines.first() {
        tenant_req.headers.push(("Host".into(), (*host).into()));
    }
    if let Some(t) = lines.get(1) {
        tenant_req.headers.push(("X-Tenant-Id".into(), (*t).into()));
    }
    let source = TenantSource::FirstOf(vec![
        TenantSource::HostLabel(".papyrus.io".into()),
        TenantSource::Header,
    ]);
    if let Ok(tenant) = source.resolve(&tenant_req) {
        // Whatever it names is a valid tenant id, taken from one of the headers.
        assert_eq!(TenantId::parse(tenant.as_str()).as_ref(), Ok(&tenant));
        let host = lines[0].to_ascii_lowercase();
        let from_host = host.starts_with(&format!("{tenant}.papyrus.io"));
        let from_header = lines.get(1).map(|t| t.trim()) == Some(tenant.as_str());
        assert!(from_host || from_header, "tenant {tenant} from nowhere");
    }
    if let Ok(tenant) = TenantSource::Header.resolve(&tenant_req) {
        assert_eq!(lines.get(1).map(|t| t.trim()), Some(tenant.as_str()));
    }

    // The lines as allowlist entries.
    if let Ok(list) = IpAllowlist::parse(&lines) {
        assert!(list.entries().len() <= lines.len());
        if let Some(p) = peer {
            let allowed = list.allows(Some(p));
            assert_eq!(list.allows(Some(p)), allowed);
            if list.is_empty() {
                assert!(allowed, "an empty allowlist allows every address");
            }
        }
        // Every entry allows its own network address.
        for net in list.entries() {
            assert!(list.allows(Some(net.network())), "{net}");
        }
    }
});
