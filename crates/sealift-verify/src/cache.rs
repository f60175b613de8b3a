//! Verification results cached by (image, digest, policy uid, policy generation) with a TTL;
//! failures cached briefly; identical concurrent checks coalesced into one.
//!
//! The repository is part of the key: cosign stores signatures next to the image, so the same
//! digest in another repository is another question. So is the policy's fingerprint: Secrets
//! (keys, trust roots) can change without the policy's generation changing.

use crate::error::VerifyError;
use sealift_api::Evidence;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// What a verification result is cached under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// `registry/repository`.
    pub image: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The policy's `metadata.uid`.
    pub policy_uid: String,
    /// The policy's `metadata.generation`.
    pub policy_generation: i64,
    /// [`CompiledPolicy::fingerprint`](crate::CompiledPolicy::fingerprint): a key rotated in a
    /// Secret is a new question even at the same generation.
    pub policy_fingerprint: String,
}

/// Cache settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a successful verification is reused.
    pub ttl: Duration,
    /// How long a failure (rejection or error) is reused; zero disables.
    pub failure_ttl: Duration,
    /// Most entries kept; expired ones are purged first when full.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_secs(600),
            failure_ttl: Duration::from_secs(30),
            max_entries: 10_000,
        }
    }
}

/// Cache counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Verified afresh.
    pub misses: u64,
    /// Joined a verification already in flight.
    pub coalesced: u64,
    /// Entries currently held.
    pub entries: usize,
}

type Outcome = Result<Evidence, VerifyError>;

#[derive(Default)]
struct Slot {
    cell: OnceCell<(Outcome, Instant)>,
}

pub(crate) struct Cache {
    config: CacheConfig,
    slots: Mutex<HashMap<CacheKey, Arc<Slot>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
}

impl Cache {
    pub(crate) fn new(config: CacheConfig) -> Cache {
        Cache {
            config,
            slots: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            entries: self.slots.lock().map(|s| s.len()).unwrap_or(0),
        }
    }

    /// The cached outcome, or the outcome of `verify` shared with every concurrent caller.
    pub(crate) async fn get_or_verify<F, Fut>(&self, key: CacheKey, verify: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let slot = {
            let Ok(mut slots) = self.slots.lock() else {
                // A poisoned lock only means another thread panicked mid-update: verify uncached.
                return verify().await;
            };
            let now = Instant::now();
            match slots.get(&key) {
                Some(slot) => match slot.cell.get() {
                    Some((outcome, expires)) if *expires > now => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return outcome.clone();
                    }
                    Some(_) => {
                        self.misses.fetch_add(1, Ordering::Relaxed);
                        let fresh = Arc::new(Slot::default());
                        slots.insert(key, fresh.clone());
                        fresh
                    }
                    None => {
                        self.coalesced.fetch_add(1, Ordering::Relaxed);
                        slot.clone()
                    }
                },
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    if slots.len() >= self.config.max_entries {
                        slots.retain(|_, s| s.cell.get().is_none_or(|(_, exp)| *exp > now));
                        if slots.len() >= self.config.max_entries {
                            slots.retain(|_, s| s.cell.get().is_none());
                        }
                    }
                    let fresh = Arc::new(Slot::default());
                    slots.insert(key, fresh.clone());
                    fresh
                }
            }
        };
        let (ttl, failure_ttl) = (self.config.ttl, self.config.failure_ttl);
        let (outcome, _) = slot
            .cell
            .get_or_init(|| async move {
                let outcome = verify().await;
                let ttl = if outcome.is_ok() { ttl } else { failure_ttl };
                (outcome, Instant::now() + ttl)
            })
            .await;
        outcome.clone()
    }
}
