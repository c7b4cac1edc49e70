//! Rows as stored, and their conversion from and to records.
//!
//! Every column is a portable primitive (text, bytes, 64-bit or 16-bit
//! integer), so one row type decodes on both backends (`sqlx::FromRow` is
//! derived generically over the row type). A value that does not convert
//! back into a record is [`StoreErrorKind::Corrupt`](crate::StoreErrorKind).

use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use crate::{
    Digest, DigestVersion, ScopeSet, StoreError, TenantId,
    api_key::{ApiKeyRecord, Environment, IpAllowlist, KeyId},
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ClientId, ClientKind, CodeChallenge,
        CodeChallengeMethod, FamilyId, OAuthClient, RefreshTokenRecord, Resources,
    },
};

/// A row that decodes into a record: every row type of the schema.
pub(super) trait IntoRecord {
    /// The record.
    type Record;
    /// The record, or a [`StoreError`] of kind `Corrupt` for a row that
    /// does not decode.
    fn into_record(self) -> Result<Self::Record, StoreError>;
}

/// Implements [`IntoRecord`] for rows with an inherent `into_record`.
macro_rules! into_record {
    ($($row:ty => $record:ty),* $(,)?) => {$(
        impl IntoRecord for $row {
            type Record = $record;
            fn into_record(self) -> Result<$record, StoreError> {
                <$row>::into_record(self)
            }
        }
    )*};
}

into_record!(
    ApiKeyRow => ApiKeyRecord,
    ClientRow => OAuthClient,
    CodeRow => AuthorizationCodeRecord,
    AccessTokenRow => AccessTokenRecord,
    RefreshTokenRow => RefreshTokenRecord,
);

// ----- scalar conversions --------------------------------------------------

/// A time as stored: microseconds since the Unix epoch (floored).
pub(super) fn micros(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1000);
    // Every OffsetDateTime (years ±9999) fits; saturate rather than panic.
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

pub(super) fn opt_micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

fn time(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| StoreError::corrupt("stored time out of range"))
}

fn opt_time(us: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    us.map(time).transpose()
}

/// A duration as stored: whole microseconds.
fn duration_micros(d: Duration) -> i64 {
    let us = d.whole_microseconds();
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

/// The stored number of a digest's version.
pub(super) fn version(d: &Digest) -> i16 {
    i16::from(d.version().as_u8())
}

/// A digest's bytes, for binding.
pub(super) fn bytes(d: &Digest) -> Vec<u8> {
    d.as_bytes().to_vec()
}

pub(super) fn digest(bytes: Vec<u8>, version: i16) -> Result<Digest, StoreError> {
    let version = u8::try_from(version)
        .ok()
        .and_then(DigestVersion::from_u8)
        .ok_or(StoreError::corrupt("unknown digest version"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::corrupt("digest is not 32 bytes"))?;
    Ok(Digest::from_parts(version, bytes))
}

fn tenant(s: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(s).map_err(|_| StoreError::corrupt("invalid stored tenant id"))
}

fn scopes(s: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(s).map_err(|_| StoreError::corrupt("invalid stored scope set"))
}

fn key_id(s: &str) -> Result<KeyId, StoreError> {
    KeyId::parse(s).map_err(|_| StoreError::corrupt("invalid stored key id"))
}

fn client_id(s: &str) -> Result<ClientId, StoreError> {
    ClientId::parse(s).map_err(|_| StoreError::corrupt("invalid stored client id"))
}

// ----- API keys ------------------------------------------------------------

/// A row of `api_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    pub(super) id: String,
    pub(super) tenant: String,
    pub(super) name: String,
    pub(super) environment: String,
    pub(super) scopes: String,
    pub(super) ip_allowlist: String,
    pub(super) digest: Vec<u8>,
    pub(super) digest_version: i16,
    pub(super) hint: String,
    pub(super) created_at: i64,
    pub(super) rotation_due_at: i64,
    pub(super) rotated_at: Option<i64>,
    pub(super) rotated_from: Option<String>,
    pub(super) rotated_to: Option<String>,
    pub(super) expires_at: Option<i64>,
    pub(super) revoked_at: Option<i64>,
    pub(super) last_used_at: Option<i64>,
    pub(super) last_used_ip: Option<String>,
}

impl ApiKeyRow {
    pub(super) fn from_record(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.to_string(),
            tenant: r.tenant.to_string(),
            name: r.name.clone(),
            environment: r.environment.as_str().to_owned(),
            scopes: r.scopes.to_string(),
            ip_allowlist: r
                .ip_allowlist
                .entries()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            digest: bytes(&r.digest),
            digest_version: version(&r.digest),
            hint: r.hint.clone(),
            created_at: micros(r.created_at),
            rotation_due_at: micros(r.rotation_due_at),
            rotated_at: opt_micros(r.rotated_at),
            rotated_from: r.rotated_from.as_ref().map(ToString::to_string),
            rotated_to: r.rotated_to.as_ref().map(ToString::to_string),
            expires_at: opt_micros(r.expires_at),
            revoked_at: opt_micros(r.revoked_at),
            last_used_at: opt_micros(r.last_used_at),
            last_used_ip: r.last_used_ip.map(|ip| ip.to_string()),
        }
    }

    pub(super) fn into_record(self) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            id: key_id(&self.id)?,
            tenant: tenant(&self.tenant)?,
            name: self.name,
            environment: Environment::parse(&self.environment)
                .ok_or(StoreError::corrupt("invalid stored key environment"))?,
            scopes: scopes(&self.scopes)?,
            ip_allowlist: IpAllowlist::parse(self.ip_allowlist.split_whitespace())
                .map_err(|_| StoreError::corrupt("invalid stored IP allowlist"))?,
            digest: digest(self.digest, self.digest_version)?,
            hint: self.hint,
            created_at: time(self.created_at)?,
            rotation_due_at: time(self.rotation_due_at)?,
            rotated_at: opt_time(self.rotated_at)?,
            rotated_from: self.rotated_from.as_deref().map(key_id).transpose()?,
            rotated_to: self.rotated_to.as_deref().map(key_id).transpose()?,
            expires_at: opt_time(self.expires_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            last_used_at: opt_time(self.last_used_at)?,
            last_used_ip: self
                .last_used_ip
                .as_deref()
                .map(str::parse::<IpAddr>)
                .transpose()
                .map_err(|_| StoreError::corrupt("invalid stored IP address"))?,
        })
    }
}

// ----- clients -------------------------------------------------------------

/// A row of `clients`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClientRow {
    pub(super) id: String,
    pub(super) tenant: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) secret_digest: Option<Vec<u8>>,
    pub(super) secret_digest_version: Option<i16>,
    pub(super) redirect_uris: String,
    pub(super) allowed_scopes: String,
    pub(super) default_scopes: String,
    pub(super) access_token_ttl_us: Option<i64>,
    pub(super) refresh_token_ttl_us: Option<i64>,
    pub(super) created_at: i64,
    pub(super) grant_types: String,
    pub(super) registration_digest: Option<Vec<u8>>,
    pub(super) registration_digest_version: Option<i16>,
}

fn kind_str(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Public => "public",
        ClientKind::Confidential => "confidential",
    }
}

impl ClientRow {
    pub(super) fn from_record(c: &OAuthClient) -> Result<Self, StoreError> {
        Ok(Self {
            id: c.id.to_string(),
            tenant: c.tenant.to_string(),
            name: c.name.clone(),
            kind: kind_str(c.kind).to_owned(),
            secret_digest: c.secret_digest.as_ref().map(bytes),
            secret_digest_version: c.secret_digest.as_ref().map(version),
            redirect_uris: serde_json::to_string(&c.redirect_uris).map_err(StoreError::other)?,
            allowed_scopes: c.allowed_scopes.to_string(),
            default_scopes: c.default_scopes.to_string(),
            access_token_ttl_us: c.access_token_ttl.map(duration_micros),
            refresh_token_ttl_us: c.refresh_token_ttl.map(duration_micros),
            created_at: micros(c.created_at),
            grant_types: c.grant_types.to_string(),
            registration_digest: c.registration_digest.as_ref().map(bytes),
            registration_digest_version: c.registration_digest.as_ref().map(version),
        })
    }

    pub(super) fn into_record(self) -> Result<OAuthClient, StoreError> {
        let secret_digest = match (self.secret_digest, self.secret_digest_version) {
            (Some(b), Some(v)) => Some(digest(b, v)?),
            (None, None) => None,
            _ => return Err(StoreError::corrupt("client secret digest without version")),
        };
        Ok(OAuthClient {
            id: client_id(&self.id)?,
            tenant: tenant(&self.tenant)?,
            name: self.name,
            kind: match self.kind.as_str() {
                "public" => ClientKind::Public,
                "confidential" => ClientKind::Confidential,
                _ => return Err(StoreError::corrupt("invalid stored client kind")),
            },
            secret_digest,
            redirect_uris: serde_json::from_str(&self.redirect_uris)
                .map_err(|_| StoreError::corrupt("invalid stored redirect URIs"))?,
            allowed_scopes: scopes(&self.allowed_scopes)?,
            default_scopes: scopes(&self.default_scopes)?,
            access_token_ttl: self.access_token_ttl_us.map(Duration::microseconds),
            refresh_token_ttl: self.refresh_token_ttl_us.map(Duration::microseconds),
            created_at: time(self.created_at)?,
            grant_types: self
                .grant_types
                .parse()
                .map_err(|_| StoreError::corrupt("invalid stored grant types"))?,
            registration_digest: match (self.registration_digest, self.registration_digest_version)
            {
                (Some(b), Some(v)) => Some(digest(b, v)?),
                (None, None) => None,
                _ => return Err(StoreError::corrupt("registration digest without version")),
            },
        })
    }
}

// ----- codes and tokens ----------------------------------------------------

/// A row of `codes`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct CodeRow {
    pub(super) digest: Vec<u8>,
    pub(super) digest_version: i16,
    pub(super) family: String,
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) redirect_uri: Option<String>,
    pub(super) subject: String,
    pub(super) scopes: String,
    pub(super) challenge: String,
    pub(super) challenge_method: String,
    pub(super) issued_at: i64,
    pub(super) expires_at: i64,
    pub(super) consumed_at: Option<i64>,
    pub(super) resources: String,
}

impl CodeRow {
    pub(super) fn from_record(c: &AuthorizationCodeRecord) -> Self {
        Self {
            digest: bytes(&c.digest),
            digest_version: version(&c.digest),
            family: c.family.to_string(),
            tenant: c.tenant.to_string(),
            client_id: c.client_id.to_string(),
            redirect_uri: c.redirect_uri.clone(),
            subject: c.subject.to_string(),
            scopes: c.scopes.to_string(),
            challenge: c.challenge.as_str().to_owned(),
            challenge_method: c.challenge.method().as_str().to_owned(),
            issued_at: micros(c.issued_at),
            expires_at: micros(c.expires_at),
            consumed_at: opt_micros(c.consumed_at),
            resources: c.resources.to_string(),
        }
    }

    pub(super) fn into_record(self) -> Result<AuthorizationCodeRecord, StoreError> {
        let method = match self.challenge_method.as_str() {
            "S256" => CodeChallengeMethod::S256,
            "plain" => CodeChallengeMethod::Plain,
            _ => return Err(StoreError::corrupt("invalid stored PKCE method")),
        };
        Ok(AuthorizationCodeRecord {
            digest: digest(self.digest, self.digest_version)?,
            family: FamilyId::from_stored(&self.family),
            tenant: tenant(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            redirect_uri: self.redirect_uri,
            subject: self.subject.into(),
            scopes: scopes(&self.scopes)?,
            challenge: CodeChallenge::new(&self.challenge, method)
                .ok_or(StoreError::corrupt("invalid stored PKCE challenge"))?,
            issued_at: time(self.issued_at)?,
            expires_at: time(self.expires_at)?,
            consumed_at: opt_time(self.consumed_at)?,
            resources: Resources::from_stored(&self.resources),
        })
    }
}

/// A row of `access_tokens`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AccessTokenRow {
    pub(super) digest: Vec<u8>,
    pub(super) digest_version: i16,
    pub(super) family: String,
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scopes: String,
    pub(super) issued_at: i64,
    pub(super) expires_at: i64,
    pub(super) revoked_at: Option<i64>,
    pub(super) audience: String,
}

impl AccessTokenRow {
    pub(super) fn from_record(t: &AccessTokenRecord) -> Self {
        Self {
            digest: bytes(&t.digest),
            digest_version: version(&t.digest),
            family: t.family.to_string(),
            tenant: t.tenant.to_string(),
            client_id: t.client_id.to_string(),
            subject: t.subject.to_string(),
            scopes: t.scopes.to_string(),
            issued_at: micros(t.issued_at),
            expires_at: micros(t.expires_at),
            revoked_at: opt_micros(t.revoked_at),
            audience: t.audience.to_string(),
        }
    }

    pub(super) fn into_record(self) -> Result<AccessTokenRecord, StoreError> {
        Ok(AccessTokenRecord {
            digest: digest(self.digest, self.digest_version)?,
            family: FamilyId::from_stored(&self.family),
            tenant: tenant(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            subject: self.subject.into(),
            scopes: scopes(&self.scopes)?,
            issued_at: time(self.issued_at)?,
            expires_at: time(self.expires_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            audience: Resources::from_stored(&self.audience),
        })
    }
}

/// A row of `refresh_tokens`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RefreshTokenRow {
    pub(super) digest: Vec<u8>,
    pub(super) digest_version: i16,
    pub(super) family: String,
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scopes: String,
    pub(super) issued_at: i64,
    pub(super) expires_at: i64,
    pub(super) family_expires_at: i64,
    pub(super) rotated_at: Option<i64>,
    pub(super) revoked_at: Option<i64>,
    pub(super) handle: Option<Vec<u8>>,
    pub(super) handle_version: Option<i16>,
    pub(super) resources: String,
}

impl RefreshTokenRow {
    pub(super) fn from_record(t: &RefreshTokenRecord) -> Self {
        Self {
            digest: bytes(&t.digest),
            digest_version: version(&t.digest),
            family: t.family.to_string(),
            tenant: t.tenant.to_string(),
            client_id: t.client_id.to_string(),
            subject: t.subject.to_string(),
            scopes: t.scopes.to_string(),
            issued_at: micros(t.issued_at),
            expires_at: micros(t.expires_at),
            family_expires_at: micros(t.family_expires_at),
            rotated_at: opt_micros(t.rotated_at),
            revoked_at: opt_micros(t.revoked_at),
            handle: t.handle.as_ref().map(bytes),
            handle_version: t.handle.as_ref().map(version),
            resources: t.resources.to_string(),
        }
    }

    pub(super) fn into_record(self) -> Result<RefreshTokenRecord, StoreError> {
        let handle = match (self.handle, self.handle_version) {
            (Some(b), Some(v)) => Some(digest(b, v)?),
            (None, None) => None,
            _ => return Err(StoreError::corrupt("refresh token handle without version")),
        };
        Ok(RefreshTokenRecord {
            digest: digest(self.digest, self.digest_version)?,
            handle,
            family: FamilyId::from_stored(&self.family),
            tenant: tenant(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            subject: self.subject.into(),
            scopes: scopes(&self.scopes)?,
            issued_at: time(self.issued_at)?,
            expires_at: time(self.expires_at)?,
            family_expires_at: time(self.family_expires_at)?,
            rotated_at: opt_time(self.rotated_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            resources: Resources::from_stored(&self.resources),
        })
    }
}

// ----- signing keys --------------------------------------------------------

/// A `signing_keys` row: `(generation, secret, created_at)`.
pub(super) type SigningKeyRow = (i64, Vec<u8>, i64);

/// A signing key from its row.
pub(super) fn signing_key(
    (generation, secret, created_at): SigningKeyRow,
) -> Result<crate::signing::SigningKey, StoreError> {
    let secret = zeroize::Zeroizing::new(secret);
    let bytes: [u8; crate::signing::SIGNING_KEY_LEN] = secret
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::corrupt("a stored signing key has the wrong length"))?;
    let generation = u64::try_from(generation)
        .map_err(|_| StoreError::corrupt("a stored signing key has a negative generation"))?;
    Ok(crate::signing::SigningKey::from_parts(
        generation,
        time(created_at)?,
        zeroize::Zeroizing::new(bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_round_trip_to_the_microsecond() {
        let t = datetime!(2026-05-01 10:00:00.123_456_789 UTC);
        assert_eq!(
            time(micros(t)).unwrap(),
            datetime!(2026-05-01 10:00:00.123_456 UTC)
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.999_999_5 UTC);
        assert_eq!(
            micros(before_epoch),
            -1,
            "floored, not truncated toward zero"
        );
        assert!(micros(datetime!(2026-01-01 0:00 UTC)) < micros(t));
    }

    #[test]
    fn bad_digests_are_corrupt() {
        assert!(digest(vec![0; 32], 1).is_ok());
        assert!(digest(vec![0; 31], 1).is_err());
        assert!(digest(vec![0; 32], 9).is_err());
        assert!(digest(vec![0; 32], -1).is_err());
    }
}
