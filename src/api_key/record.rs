//! What is stored about an API key: everything but the key itself.

use std::{fmt, net::IpAddr, sync::Arc};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::Environment;
use crate::{Digest, ScopeSet, TenantId, ids::KeyId};

/// The most entries one [`IpAllowlist`] may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 64;

/// The networks a key may be used from. Empty means "from anywhere".
///
/// Entries are IPv4 or IPv6 CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single
/// addresses. An IPv4-mapped IPv6 client address (`::ffff:10.1.2.3`, as a
/// dual-stack socket reports IPv4 peers) matches its IPv4 entry, and an
/// IPv4-mapped entry matches the IPv4 address.
///
/// # Examples
///
/// ```
/// use papyrus_auth::IpAllowlist;
///
/// let list = IpAllowlist::parse(["10.0.0.0/8", "2001:db8::1"])?;
/// assert!(list.allows(Some("10.1.2.3".parse()?)));
/// assert!(list.allows(Some("::ffff:10.1.2.3".parse()?)));
/// assert!(!list.allows(Some("192.0.2.1".parse()?)));
/// assert!(!list.allows(None), "an unknown client IP never passes a non-empty list");
/// assert!(IpAllowlist::default().allows(None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Arc<[IpNet]>);

/// Why an allowlist entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidAllowlist {
    /// An entry is neither an IP address nor a CIDR.
    #[error("not an IP address or CIDR: '{0}'")]
    Entry(String),
    /// More than [`MAX_ALLOWLIST_ENTRIES`] entries.
    #[error("more than 64 allowlist entries")]
    TooMany,
}

impl IpAllowlist {
    /// Parses entries such as `"10.0.0.0/8"` or `"192.0.2.7"`.
    ///
    /// # Errors
    ///
    /// [`InvalidAllowlist`] for an entry that does not parse, or too many entries.
    pub fn parse<I, S>(entries: I) -> Result<Self, InvalidAllowlist>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for e in entries {
            if nets.len() == MAX_ALLOWLIST_ENTRIES {
                return Err(InvalidAllowlist::TooMany);
            }
            let e = e.as_ref().trim();
            let net = e
                .parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| InvalidAllowlist::Entry(e.chars().take(64).collect()))?;
            nets.push(net);
        }
        Self::from_nets(nets)
    }

    /// Builds an allowlist from networks.
    ///
    /// # Errors
    ///
    /// [`InvalidAllowlist::TooMany`] for more than [`MAX_ALLOWLIST_ENTRIES`].
    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> Result<Self, InvalidAllowlist> {
        let mut nets: Vec<IpNet> = nets.into_iter().map(unmap_net).collect();
        if nets.len() > MAX_ALLOWLIST_ENTRIES {
            return Err(InvalidAllowlist::TooMany);
        }
        nets.dedup();
        Ok(Self(nets.into()))
    }

    /// Whether a request from `ip` may use the key. An empty list allows
    /// everything; a non-empty list refuses an unknown (`None`) address.
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(ip) = ip else { return false };
        let ip = unmap_addr(ip);
        self.0.iter().any(|net| holds(net, ip))
    }

    /// Whether the list is empty (no restriction).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries.
    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }
}

/// Whether `net` holds `ip`: `ipnet`'s `contains`, as one XOR and one mask
/// (theirs builds the network and broadcast addresses on every call).
fn holds(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(net), IpAddr::V4(ip)) => {
            // A `/0` shifts by the full width: no bit has to match.
            let mask = u32::MAX
                .checked_shl(32 - u32::from(net.prefix_len()))
                .unwrap_or(0);
            (u32::from(net.addr()) ^ u32::from(ip)) & mask == 0
        }
        (IpNet::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(net.prefix_len()))
                .unwrap_or(0);
            (u128::from(net.addr()) ^ u128::from(ip)) & mask == 0
        }
        _ => false,
    }
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; other addresses unchanged.
fn unmap_addr(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn unmap_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

impl fmt::Debug for IpAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl Serialize for IpAllowlist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for IpAllowlist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        Self::parse(v).map_err(serde::de::Error::custom)
    }
}

/// Everything stored about one API key. Never the plaintext: only its
/// [`Digest`] and a short display hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: KeyId,
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// A name for the owner's reference.
    pub name: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// Where the key may be used from (empty: anywhere).
    pub ip_allowlist: IpAllowlist,
    /// The digest of the key; the only form of the secret that is stored.
    pub digest: Digest,
    /// Prefix and first characters of the key, for display (`pk_live_Xq3v…`).
    pub hint: String,
    /// When the key was created.
    pub created_at: OffsetDateTime,
    /// When the key is due for rotation (creation + the rotation period,
    /// 90 days by default). The key keeps working after it.
    pub rotation_due_at: OffsetDateTime,
    /// When the key was rotated out (its successor was created), if it was.
    pub rotated_at: Option<OffsetDateTime>,
    /// The key this one replaced, if it was created by a rotation.
    pub rotated_from: Option<KeyId>,
    /// The key that replaced this one, if it was rotated.
    pub rotated_to: Option<KeyId>,
    /// When the key stops working on its own, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When the key was last used (accurate to the last-used window).
    pub last_used_at: Option<OffsetDateTime>,
    /// The client IP of that use, when known.
    pub last_used_ip: Option<IpAddr>,
}

/// The lifecycle state of a key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    /// Works.
    Active,
    /// Rotated out, but still works until revoked or until its grace deadline.
    RotatedOut,
    /// Past `expires_at`.
    Expired,
    /// Revoked.
    Revoked,
}

impl ApiKeyRecord {
    /// The key's state at `now`.
    pub fn status(&self, now: OffsetDateTime) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            ApiKeyStatus::Expired
        } else if self.rotated_to.is_some() {
            ApiKeyStatus::RotatedOut
        } else {
            ApiKeyStatus::Active
        }
    }

    /// A secret-free view of the record for lists and admin pages.
    pub fn info(&self, now: OffsetDateTime) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            name: self.name.clone(),
            environment: self.environment,
            scopes: self.scopes.clone(),
            ip_allowlist: self.ip_allowlist.clone(),
            hint: self.hint.clone(),
            status: self.status(now),
            created_at: self.created_at,
            rotation_due_at: self.rotation_due_at,
            rotation_due: self.rotated_to.is_none()
                && self.revoked_at.is_none()
                && self.rotation_due_at <= now,
            rotated_at: self.rotated_at,
            rotated_from: self.rotated_from.clone(),
            rotated_to: self.rotated_to.clone(),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
        }
    }
}

/// An API key as shown to its owner: no digest, no secret, plus the derived
/// `status` and `rotation_due`. Serializes with RFC 3339 times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[allow(missing_docs)] // Fields mirror ApiKeyRecord's, documented there.
pub struct ApiKeyInfo {
    pub id: KeyId,
    pub tenant: TenantId,
    pub name: String,
    pub environment: Environment,
    pub scopes: ScopeSet,
    pub ip_allowlist: IpAllowlist,
    pub hint: String,
    /// The key's state when the view was made.
    pub status: ApiKeyStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub rotation_due_at: OffsetDateTime,
    /// Whether the key is past its rotation date and not yet rotated or revoked.
    pub rotation_due: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
    pub rotated_from: Option<KeyId>,
    pub rotated_to: Option<KeyId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_ip: Option<IpAddr>,
}

/// An API key's principal: the key id acts.
impl crate::principal::Verified for ApiKeyRecord {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    fn subject(&self) -> &str {
        self.id.as_str()
    }
    fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }
    fn method(&self) -> crate::AuthMethod {
        crate::AuthMethod::ApiKey {
            key_id: self.id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn allowlist_matches_v4_v6_and_mapped_addresses() {
        let l = IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]).unwrap();
        assert!(l.allows(ip("10.255.0.1")));
        assert!(l.allows(ip("192.0.2.7")));
        assert!(!l.allows(ip("192.0.2.8")));
        assert!(l.allows(ip("2001:db8::42")));
        assert!(!l.allows(ip("2001:db9::42")));
        assert!(l.allows(ip("::ffff:10.0.0.1")));
        assert!(!l.allows(ip("::ffff:11.0.0.1")));
        assert!(!l.allows(None));
        let mapped = IpAllowlist::parse(["::ffff:10.0.0.0/104"]).unwrap();
        assert!(mapped.allows(ip("10.9.9.9")));
        assert!(!mapped.allows(ip("11.9.9.9")));
    }

    proptest::proptest! {
        /// The mask test agrees with `ipnet`'s `contains` for every prefix
        /// length. The address is the network's own with one bit flipped
        /// near the prefix's end (inside it, or just after), so that both
        /// answers occur and an off-by-one mask is caught.
        #[test]
        fn holds_is_ipnet_contains(
            v4 in proptest::prelude::any::<u32>(),
            v6 in proptest::prelude::any::<u128>(),
            len4 in 0u8..=32,
            len6 in 0u8..=128,
            near in -2i32..=1,
        ) {
            // The bit `near` places after the prefix's last one, counted
            // from the top (none if that falls outside the address).
            let bit = |len: u8, width: i32| {
                let from_top = i32::from(len) + near;
                (0..width).contains(&from_top).then(|| (width - 1 - from_top) as u32)
            };
            let net4 = IpNet::V4(ipnet::Ipv4Net::new(v4.into(), len4).unwrap());
            let ip4 = IpAddr::V4((v4 ^ bit(len4, 32).map_or(0, |b| 1 << b)).into());
            proptest::prop_assert_eq!(holds(&net4, ip4), net4.contains(&ip4));
            let net6 = IpNet::V6(ipnet::Ipv6Net::new(v6.into(), len6).unwrap());
            let ip6 = IpAddr::V6((v6 ^ bit(len6, 128).map_or(0, |b| 1 << b)).into());
            proptest::prop_assert_eq!(holds(&net6, ip6), net6.contains(&ip6));
            proptest::prop_assert!(!holds(&net4, ip6) && !holds(&net6, ip4));
        }
    }

    #[test]
    fn allowlist_rejects_garbage_and_excess() {
        assert!(matches!(
            IpAllowlist::parse(["10.0.0.0/33"]),
            Err(InvalidAllowlist::Entry(_))
        ));
        assert!(matches!(
            IpAllowlist::parse(["example.com"]),
            Err(InvalidAllowlist::Entry(_))
        ));
        let many: Vec<String> = (0..65).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(IpAllowlist::parse(&many), Err(InvalidAllowlist::TooMany));
    }

    #[test]
    fn key_ids_parse_strictly() {
        let id = KeyId::generate();
        assert_eq!(KeyId::parse(id.as_str()).unwrap(), id);
        for bad in ["", "key_", "key_a/b", "pk_live_x", "key_ä"] {
            assert!(KeyId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
