//! The PostgreSQL side of the credential cache (see [`super::cache`]): the
//! lease an instance holds while it answers from memory, the invalidations
//! it hears and acknowledges, and the wait of a revocation for them.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::mpsc;

use super::{cache::CredentialCache, error::db_error};
use crate::{Digest, StoreError};

/// The background work of one caching instance; stops when the store's
/// last clone is dropped.
#[derive(Debug)]
pub(super) struct LeaseHolder {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LeaseHolder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the listening task tells the lease task.
enum Heard {
    /// Listening (again): a lease registered from now on hears every
    /// invalidation published after its registration.
    Listening,
    /// The listening connection was lost: anything may be missed.
    Down,
    /// An invalidation: its number and digest (bytes).
    Invalidation(i64, Vec<u8>),
}

impl LeaseHolder {
    /// Starts listening and holding a lease for `cache`.
    pub(super) fn start(pool: PgPool, cache: &Arc<CredentialCache>) -> Self {
        let instance = crate::secret::random_id("inst_", 20);
        let (tx, rx) = mpsc::unbounded_channel();
        let listening = tokio::spawn(listen(pool.clone(), tx));
        let holding = tokio::spawn(hold(pool, Arc::downgrade(cache), instance, rx));
        Self {
            tasks: vec![listening, holding],
        }
    }
}

/// Forwards invalidations, and says when the connection was lost.
async fn listen(pool: PgPool, heard: mpsc::UnboundedSender<Heard>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "credential cache: cannot listen; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        // The channel of this schema (`papyrus_channel()`, migration 0005).
        let channel: Result<String, _> = sqlx::query_scalar("SELECT papyrus_channel()")
            .fetch_one(&pool)
            .await;
        let listened = match channel {
            Ok(channel) => listener.listen(&channel).await,
            Err(e) => Err(e),
        };
        if let Err(e) = listened {
            tracing::warn!(error = %e, "credential cache: LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        if heard.send(Heard::Listening).is_err() {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if let Some((seq, digest)) = parse(n.payload())
                        && heard.send(Heard::Invalidation(seq, digest)).is_err()
                    {
                        return;
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!("credential cache: lost the invalidation channel");
                    if heard.send(Heard::Down).is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// `"<seq>:<hex digest>"`.
fn parse(payload: &str) -> Option<(i64, Vec<u8>)> {
    let (seq, hex) = payload.split_once(':')?;
    let seq = seq.parse().ok()?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((seq, bytes))
}

/// Holds the lease: registers it (only while listening), renews it every
/// quarter lease, evicts and acknowledges what is heard, and distrusts the
/// cache whenever it may have missed something.
async fn hold(
    pool: PgPool,
    cache: Weak<CredentialCache>,
    instance: String,
    mut heard: mpsc::UnboundedReceiver<Heard>,
) {
    let lease = match cache.upgrade() {
        Some(c) => c.config().lease,
        None => return,
    };
    let lease_us = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    let mut renew = tokio::time::interval(lease / 4);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A lease is held only while listening.
    let (mut listening, mut registered) = (false, false);
    loop {
        tokio::select! {
            message = heard.recv() => {
                let Some(cache) = cache.upgrade() else { return };
                match message {
                    None => return,
                    Some(Heard::Down) => {
                        // Something may be missed from now on: stop
                        // answering from memory until listening again.
                        cache.distrust();
                        (listening, registered) = (false, false);
                    }
                    Some(Heard::Listening) => {
                        // Start afresh: a new lease, an empty cache.
                        listening = true;
                        registered = register(&pool, &cache, &instance, lease_us).await;
                    }
                    Some(Heard::Invalidation(seq, digest)) => {
                        if let Ok(bytes) = <[u8; 32]>::try_from(digest.as_slice()) {
                            // Either digest version: evicting both is harmless.
                            cache.evict(&[
                                Digest::from_parts(crate::DigestVersion::Sha256, bytes),
                                Digest::from_parts(crate::DigestVersion::HmacSha256, bytes),
                            ]);
                        }
                        // Acknowledged only after the eviction.
                        let acked = sqlx::query(
                            "INSERT INTO cache_acks (seq, instance) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(seq)
                        .bind(&instance)
                        .execute(&pool)
                        .await;
                        if let Err(e) = acked {
                            tracing::warn!(error = %e, "credential cache: ack failed");
                        }
                    }
                }
            }
            _ = renew.tick() => {
                let Some(cache) = cache.upgrade() else { return };
                if registered {
                    registered = renew_lease(&pool, &cache, &instance, lease_us).await;
                } else if listening {
                    registered = register(&pool, &cache, &instance, lease_us).await;
                }
            }
        }
    }
}

/// A fresh lease (a new registration time: revocations published before it
/// need nothing from this instance, whose cache starts empty).
async fn register(pool: &PgPool, cache: &CredentialCache, instance: &str, lease_us: i64) -> bool {
    let asked = Instant::now();
    let done = sqlx::query(
        "INSERT INTO cache_leases (instance, registered_at, expires_at) \
         VALUES ($1, papyrus_now_us(), papyrus_now_us() + $2) \
         ON CONFLICT (instance) DO UPDATE SET registered_at = excluded.registered_at, \
         expires_at = excluded.expires_at",
    )
    .bind(instance)
    .bind(lease_us)
    .execute(pool)
    .await;
    match done {
        Ok(_) => {
            // Empty again, and a new epoch: nothing read before the
            // registration is kept.
            cache.distrust();
            cache.lease_granted(asked);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "credential cache: cannot register a lease");
            false
        }
    }
}

/// Renews a live lease; a lapsed one (this instance was paused or cut
/// off) is registered afresh, the cache emptied.
async fn renew_lease(
    pool: &PgPool,
    cache: &CredentialCache,
    instance: &str,
    lease_us: i64,
) -> bool {
    let asked = Instant::now();
    let renewed = sqlx::query(
        "UPDATE cache_leases SET expires_at = papyrus_now_us() + $2 \
         WHERE instance = $1 AND expires_at > papyrus_now_us()",
    )
    .bind(instance)
    .bind(lease_us)
    .execute(pool)
    .await;
    match renewed {
        Ok(done) if done.rows_affected() == 1 => {
            cache.lease_granted(asked);
            housekeeping(pool).await;
            true
        }
        Ok(_) => {
            tracing::warn!("credential cache: the lease lapsed; starting afresh");
            cache.distrust();
            register(pool, cache, instance, lease_us).await
        }
        Err(e) => {
            // Not renewed: the cache stops answering when the trusted
            // part of the lease ends; the next tick tries again.
            tracing::warn!(error = %e, "credential cache: cannot renew the lease");
            true
        }
    }
}

/// Forgets invalidations, acks and leases older than ten minutes (any
/// instance does it; cheap with the indexes).
async fn housekeeping(pool: &PgPool) {
    const OLD_US: i64 = 600_000_000;
    for sql in [
        "DELETE FROM cache_acks WHERE seq IN (SELECT seq FROM cache_invalidations \
         WHERE created_at < papyrus_now_us() - $1)",
        "DELETE FROM cache_invalidations WHERE created_at < papyrus_now_us() - $1",
        "DELETE FROM cache_leases WHERE expires_at < papyrus_now_us() - $1",
    ] {
        let _ = sqlx::query(sql).bind(OLD_US).execute(pool).await;
    }
}

/// After a revocation committed: publishes the invalidation of `digests`
/// and waits until every instance that held a lease at that moment has
/// acknowledged it, or its lease has expired (at most a lease). One round
/// trip when no instance caches.
pub(super) async fn invalidate(pool: &PgPool, digests: &[Digest]) -> Result<(), StoreError> {
    if digests.is_empty() {
        return Ok(());
    }
    let bytes: Vec<Vec<u8>> = digests.iter().map(|d| d.as_bytes().to_vec()).collect();
    let (seqs, published_at): (Vec<i64>, i64) =
        sqlx::query_as("SELECT seqs, published_at FROM papyrus_invalidate($1)")
            .bind(bytes)
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
    if seqs.is_empty() {
        return Ok(());
    }
    // Acks come within a few milliseconds from live instances: poll often
    // at first, then back off (a paused instance is waited for up to its
    // lease).
    let (started, mut pause) = (Instant::now(), Duration::from_micros(200));
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT papyrus_unacknowledged($1, $2)")
            .bind(&seqs)
            .bind(published_at)
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
        if waiting == 0 {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        let ceiling = if started.elapsed() < Duration::from_millis(50) {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(20)
        };
        pause = (pause * 2).min(ceiling);
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn payloads_are_parsed_or_ignored() {
        assert_eq!(parse("7:0aff"), Some((7, vec![0x0a, 0xff])));
        for bad in ["", "7", "x:00", "7:0", "7:zz"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
