//! Failure counters in Redis (feature `redis`): the throttle's counters
//! shared by every instance of a fleet.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use redis::{
    Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{
    StoreError,
    throttle::{Count, FailureCounters},
};

/// Adds one to each key, setting its expiry when it has none (a new
/// counter), and answers each key's count and milliseconds left: one atomic
/// step per call, in one round trip.
const HIT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[2 * i - 1] = n
  out[2 * i] = ttl
end
return out
";

/// Each key's count and milliseconds left, unchanged (0 and 0 for none).
const PEEK: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0') or 0
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    n = 0
    ttl = 0
  end
  out[2 * i - 1] = n
  out[2 * i] = ttl
end
return out
";

/// The throttle's failure counters in Redis, shared by every instance that
/// uses the same server and prefix.
///
/// Each call is one Lua script (an `INCR` and, for a new counter, a
/// `PEXPIRE` per key, atomically) in one round trip; nothing is sent for a
/// request that succeeds. Keys are `prefix` + a short name that holds no
/// secret (credentials and usernames appear as a SHA-256 prefix), and
/// expire with their window.
///
/// A call that fails or takes longer than the timeout (250 ms by default)
/// is an error: the [`Throttle`](crate::throttle::Throttle) then counts in
/// process and tries Redis again 5 seconds later, so valid credentials
/// never wait on Redis, and a Redis outage costs the fleet only its shared
/// view of failures. The connection is made lazily and remade on its own.
///
/// One Redis server (or a Sentinel-managed primary): the keys of one call
/// are not hash-tagged for Redis Cluster.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use papyrus_auth::{RedisCounters, http::HttpAuth};
///
/// # fn fleet(auth: HttpAuth) -> Result<HttpAuth, papyrus_auth::StoreError> {
/// let counters = RedisCounters::new("redis://127.0.0.1:6379")?;
/// let auth = auth.with_failure_counters(Arc::new(counters));
/// # Ok(auth)
/// # }
/// ```
#[derive(Clone)]
pub struct RedisCounters {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    hit: Script,
    peek: Script,
}

impl fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Counters in the Redis server at `url` (`redis://host:port/db`,
    /// `rediss://…` for TLS if the `redis` crate is built with it), keys
    /// prefixed `papyrus:fail:`. Connects on first use, not now: a server
    /// that is down at start-up is an outage like any other. Call it within
    /// a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError`] for a URL that is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(StoreError::other)?;
        let timeout = Duration::from_millis(250);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(StoreError::other)?;
        Ok(Self {
            connection,
            prefix: "papyrus:fail:".to_owned(),
            timeout,
            hit: Script::new(HIT),
            peek: Script::new(PEEK),
        })
    }

    /// Prefixes keys with `prefix` instead of `papyrus:fail:` (several
    /// deployments on one server).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Fails a call that takes longer than `timeout` (250 ms by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn run(
        &self,
        script: &Script,
        keys: &[&str],
        windows: Option<&[Duration]>,
    ) -> Result<Vec<Count>, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(format!("{}{key}", self.prefix));
        }
        for window in windows.unwrap_or_default() {
            invocation.arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await
        .map_err(|elapsed| StoreError::unavailable(std::io::Error::other(elapsed)))?
        .map_err(StoreError::unavailable)?;
        if answer.len() != keys.len() * 2 {
            return Err(StoreError::corrupt(
                "the Redis counter script answered the wrong number of values",
            ));
        }
        Ok(answer
            .chunks_exact(2)
            .map(|pair| {
                let failures = u64::try_from(pair[0]).unwrap_or(0);
                let millis = u64::try_from(pair[1]).unwrap_or(0);
                Count::new(failures, Duration::from_millis(millis))
            })
            .collect())
    }
}

#[async_trait]
impl FailureCounters for RedisCounters {
    async fn hit(&self, counters: &[(&str, Duration)]) -> Result<Vec<Count>, StoreError> {
        let keys: Vec<&str> = counters.iter().map(|(k, _)| *k).collect();
        let windows: Vec<Duration> = counters.iter().map(|(_, w)| *w).collect();
        self.run(&self.hit, &keys, Some(&windows)).await
    }

    async fn peek(&self, keys: &[&str]) -> Result<Vec<Count>, StoreError> {
        self.run(&self.peek, keys, None).await
    }
}
