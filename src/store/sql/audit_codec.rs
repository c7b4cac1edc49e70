//! Audit events as stored: the event's own JSON.

use crate::{AuditEvent, StoreError};

/// The event as stored.
pub(super) fn encode(event: &AuditEvent) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(StoreError::other)
}

/// The event read back.
pub(super) fn decode(json: &str) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(json).map_err(|_| StoreError::corrupt("undecodable stored audit event"))
}
