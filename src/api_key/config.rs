//! Settings of an [`ApiKeys`](super::ApiKeys) service.

use time::Duration;

use super::KeyFormat;
use crate::SecretHasher;

/// The longest key name accepted, in characters.
pub const MAX_NAME_LEN: usize = crate::names::MAX_NAME_LEN;

/// Settings of an [`ApiKeys`](super::ApiKeys) service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The key format (prefix). Defaults to `pk` (`pk_live_…`).
    pub format: KeyFormat,
    /// How keys are digested. Defaults to SHA-256; use
    /// [`SecretHasher::with_pepper`] for HMAC-SHA-256 with a server-side pepper.
    /// Keys are found by digest, so changing this makes existing keys unknown.
    pub hasher: SecretHasher,
    /// How long after creation a key is due for rotation. Defaults to 90 days.
    pub rotation_period: Duration,
    /// Last-used writes happen at most once per key per this window, so
    /// `last_used_at` is accurate to it. Defaults to 60 seconds.
    pub last_used_window: Duration,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            format: KeyFormat::default(),
            hasher: SecretHasher::sha256(),
            rotation_period: Duration::days(90),
            last_used_window: Duration::seconds(60),
        }
    }
}

impl ApiKeyConfig {
    /// Sets [`format`](Self::format).
    pub fn with_format(mut self, format: KeyFormat) -> Self {
        self.format = format;
        self
    }
    /// Sets [`hasher`](Self::hasher).
    pub fn with_hasher(mut self, hasher: SecretHasher) -> Self {
        self.hasher = hasher;
        self
    }
    /// Sets [`rotation_period`](Self::rotation_period).
    pub fn with_rotation_period(mut self, period: Duration) -> Self {
        self.rotation_period = period;
        self
    }
    /// Sets [`last_used_window`](Self::last_used_window).
    pub fn with_last_used_window(mut self, window: Duration) -> Self {
        self.last_used_window = window;
        self
    }
}
