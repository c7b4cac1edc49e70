//! API keys for service-to-service calls.
//!
//! * [`KeyFormat`]: `pk_live_…` / `pk_test_…` keys with a checksum;
//! * [`ApiKeyRecord`]: what is stored (never the key itself);
//! * [`verify`]: the pure decision;
//! * [`ApiKeyStore`]: the storage trait, with a custom-store example;
//! * [`ApiKeys`]: the service: create, list, rotate, revoke, authenticate.

mod format;
mod record;
mod service;
mod store;
mod verify;

pub use crate::ids::{InvalidKeyId, KeyId};
pub use format::{Environment, InvalidPrefix, KEY_BODY_LEN, KEY_CHECKSUM_LEN, KeyFormat};
pub use record::{
    ApiKeyInfo, ApiKeyRecord, ApiKeyStatus, InvalidAllowlist, IpAllowlist, MAX_ALLOWLIST_ENTRIES,
};
pub use service::{
    ApiKeyConfig, ApiKeyError, ApiKeys, AuthRequest, CreatedApiKey, MAX_NAME_LEN, NewApiKey,
    RotateOptions, RotationTraffic,
};
pub(crate) use service::{Decided, PendingFollowUp};
pub use store::{ApiKeyStore, RevokeOutcome, RotateOutcome};
pub(crate) use verify::verify_for;
pub use verify::{last_used_write_due, verify};
