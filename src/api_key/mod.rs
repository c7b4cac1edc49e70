//! API keys for service-to-service calls.
//!
//! * [`KeyFormat`]: `pk_live_…` / `pk_test_…` keys with a checksum;
//! * [`ApiKeyRecord`]: what is stored (never the key itself);
//! * [`ApiKeyStore`]: the storage trait, with a custom-store example;
//! * [`ApiKeys`]: the service, one file per concern, each rule a pure
//!   function beside its driver:
//!
//! | concern | rule (pure) | driver |
//! |---|---|---|
//! | authenticate | [`verify`], [`last_used_write_due`], [`rejection_audit_due`] | [`ApiKeys::authenticate`] |
//! | rotate | [`plan_rotation`], [`rotation_traffic`] | [`ApiKeys::rotate`], [`ApiKeys::rotation_traffic`] |
//! | create, revoke, list | the store's atomic outcomes | [`ApiKeys::create`], [`ApiKeys::revoke`], [`ApiKeys::list`] |

mod admin;
mod authenticate;
mod config;
mod format;
mod record;
mod service;
mod store;
mod verify;

pub use crate::ids::{InvalidKeyId, KeyId};
pub use admin::{
    ApiKeyError, CreatedApiKey, NewApiKey, RotateOptions, RotationTraffic, plan_rotation,
    rotation_traffic,
};
pub use authenticate::{AuthRequest, Authentication, rejection_audit_due};
pub use config::{ApiKeyConfig, MAX_NAME_LEN};
pub use format::{Environment, InvalidPrefix, KEY_BODY_LEN, KEY_CHECKSUM_LEN, KeyFormat};
pub use record::{
    ApiKeyInfo, ApiKeyRecord, ApiKeyStatus, InvalidAllowlist, IpAllowlist, MAX_ALLOWLIST_ENTRIES,
};
pub use service::ApiKeys;
pub use store::{ApiKeyStore, RevokeOutcome, RotateOutcome};
pub(crate) use verify::verify_for;
pub use verify::{last_used_write_due, verify};
