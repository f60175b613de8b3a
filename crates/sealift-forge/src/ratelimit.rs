//! Rate limits, from both sides.
//!
//! * **Client-side budget**: a token bucket per forge host, shared by every [`Forge`](crate::Forge)
//!   built with the same [`RateGovernor`]. One runaway promotion can spend at most the bucket, so
//!   the token's hourly quota (GitHub: 5,000 requests) survives for everyone else.
//! * **Server-side limits**: the forge's `x-ratelimit-*` (GitHub, Gitea behind proxies) and
//!   `RateLimit-*` (GitLab) headers are remembered per credential; when `remaining` hits 0 nothing
//!   is sent until the reset time. `Retry-After` on 429 / 403 is honoured by the retry loop.
//! * **Retries**: exponential backoff with jitter on 5xx and transport errors, bounded attempts.

use crate::clock::Clock;
use crate::error::ForgeError;
use crate::model::ForgeKind;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A token bucket: `capacity` requests in a burst, then one more every `refill_every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Burst size.
    pub capacity: u32,
    /// Time to earn one request back.
    pub refill_every: Duration,
    /// Longest Sealift waits for the budget before failing with
    /// [`ForgeError::BudgetExhausted`] (the caller then requeues with backoff).
    pub max_queue: Duration,
}

impl Default for BudgetConfig {
    /// 120 requests in a burst, then one a second (3,600 an hour, below GitHub's 5,000 per token),
    /// waiting at most 5 s for room.
    fn default() -> Self {
        Self {
            capacity: 120,
            refill_every: Duration::from_secs(1),
            max_queue: Duration::from_secs(5),
        }
    }
}

/// How hard to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt.
    pub initial_backoff: Duration,
    /// Cap on one backoff.
    pub max_backoff: Duration,
    /// Longest single wait Sealift honours for `Retry-After` or a rate-limit reset; a longer one
    /// fails fast with [`ForgeError::RateLimited`] so the controller requeues instead of blocking.
    pub max_wait: Duration,
    /// Randomise each backoff within [50 %, 100 %] so many controllers do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        if self.jitter {
            base.mul_f64(rand::random_range(0.5..=1.0))
        } else {
            base
        }
    }
}

#[derive(Debug)]
struct Bucket {
    config: BudgetConfig,
    tokens: f64,
    last_refill: Duration,
}

impl Bucket {
    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last_refill);
        let per = self.config.refill_every.as_secs_f64();
        if per > 0.0 {
            self.tokens =
                (self.tokens + elapsed.as_secs_f64() / per).min(f64::from(self.config.capacity));
        }
        self.last_refill = now;
    }

    /// Takes one request, or says how long until one is available.
    fn take(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(self.config.refill_every.mul_f64(missing))
        }
    }
}

/// Rate-limit state shared by every forge client of a process: one budget per host, one
/// server-reported limit per credential. Build one and pass it to every
/// [`ForgeConfig`](crate::ForgeConfig).
#[derive(Debug, Default)]
pub struct RateGovernor {
    default_budget: BudgetConfig,
    host_budgets: HashMap<String, BudgetConfig>,
    buckets: Mutex<HashMap<String, Bucket>>,
    server: Mutex<HashMap<String, Duration>>,
}

impl RateGovernor {
    /// A governor giving every host `default_budget`.
    pub fn new(default_budget: BudgetConfig) -> Self {
        Self {
            default_budget,
            ..Self::default()
        }
    }

    /// Overrides the budget for one host (`host` or `host:port`, as in the API URL).
    pub fn with_host_budget(mut self, host: impl Into<String>, budget: BudgetConfig) -> Self {
        self.host_budgets.insert(host.into(), budget);
        self
    }

    /// Requests the host's budget allows right now (for metrics and tests).
    pub fn available(&self, host: &str, clock: &dyn Clock) -> f64 {
        let mut buckets = lock(&self.buckets);
        let bucket = self.bucket(&mut buckets, host, clock.now());
        bucket.refill(clock.now());
        bucket.tokens
    }

    fn bucket<'a>(
        &self,
        buckets: &'a mut HashMap<String, Bucket>,
        host: &str,
        now: Duration,
    ) -> &'a mut Bucket {
        let config = self
            .host_budgets
            .get(host)
            .copied()
            .unwrap_or(self.default_budget);
        buckets.entry(host.to_owned()).or_insert_with(|| Bucket {
            config,
            tokens: f64::from(config.capacity),
            last_refill: now,
        })
    }

    /// Waits until a request to `host` with the credential `quota_key` may be sent, or fails
    /// fast when the wait would be too long.
    pub(crate) async fn admit(
        &self,
        forge: ForgeKind,
        host: &str,
        quota_key: &str,
        clock: &dyn Clock,
        max_wait: Duration,
    ) -> Result<(), ForgeError> {
        // Bounded: every iteration either returns or sleeps until the blocker has passed.
        for _ in 0..8 {
            let now = clock.now();
            let blocked = lock(&self.server)
                .get(quota_key)
                .and_then(|until| until.checked_sub(now))
                .filter(|w| !w.is_zero());
            if let Some(wait) = blocked {
                if wait > max_wait {
                    return Err(ForgeError::RateLimited {
                        forge,
                        host: host.to_owned(),
                        retry_after: Some(wait),
                    });
                }
                tracing::info!(%forge, host, wait_ms = wait.as_millis() as u64, "waiting for the forge's rate limit to reset");
                clock.sleep(wait).await;
                continue;
            }
            let taken = {
                let mut buckets = lock(&self.buckets);
                let bucket = self.bucket(&mut buckets, host, now);
                bucket
                    .take(now)
                    .map_err(|wait| (wait, bucket.config.max_queue))
            };
            match taken {
                Ok(()) => return Ok(()),
                Err((wait, max_queue)) if wait <= max_queue => clock.sleep(wait).await,
                Err((wait, _)) => {
                    return Err(ForgeError::BudgetExhausted {
                        host: host.to_owned(),
                        retry_after: wait,
                    });
                }
            }
        }
        Err(ForgeError::BudgetExhausted {
            host: host.to_owned(),
            retry_after: self.default_budget.refill_every,
        })
    }

    /// Remembers what the forge said about the credential's quota.
    pub(crate) fn observe(&self, quota_key: &str, headers: &HeaderMap, clock: &dyn Clock) {
        let Some(remaining) =
            header_i64(headers, &["x-ratelimit-remaining", "ratelimit-remaining"])
        else {
            return;
        };
        let mut server = lock(&self.server);
        if remaining > 0 {
            server.remove(quota_key);
            return;
        }
        if let Some(wait) = reset_wait(headers, clock) {
            server.insert(quota_key.to_owned(), clock.now() + wait);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn header_str<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

fn header_i64(headers: &HeaderMap, names: &[&str]) -> Option<i64> {
    header_str(headers, names).and_then(|v| v.parse().ok())
}

/// Unix timestamps are larger than this; smaller reset values are delta-seconds (the IETF
/// RateLimit draft's meaning), larger ones epoch seconds (GitHub's and GitLab's meaning).
const EPOCH_THRESHOLD: i64 = 1_000_000_000;

/// How long until the quota resets, from `x-ratelimit-reset` / `RateLimit-Reset`.
pub(crate) fn reset_wait(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let reset = header_i64(headers, &["x-ratelimit-reset", "ratelimit-reset"])?;
    let secs = if reset > EPOCH_THRESHOLD {
        reset - clock.unix_now()
    } else {
        reset
    };
    Some(Duration::from_secs(u64::try_from(secs.max(0)).unwrap_or(0)))
}

/// `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let value = header_str(headers, &["retry-after"])?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = date.timestamp() - clock.unix_now();
    Some(Duration::from_secs(u64::try_from(secs.max(0)).unwrap_or(0)))
}

/// True when the forge reports the credential's quota as spent.
pub(crate) fn quota_spent(headers: &HeaderMap) -> bool {
    header_i64(headers, &["x-ratelimit-remaining", "ratelimit-remaining"]) == Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test]
    async fn the_budget_allows_a_burst_then_fails_fast_until_it_refills() {
        let clock = ManualClock::starting_at(1_700_000_000);
        let gov = RateGovernor::new(BudgetConfig {
            capacity: 2,
            refill_every: Duration::from_secs(30),
            max_queue: Duration::from_secs(1),
        });
        for _ in 0..2 {
            gov.admit(ForgeKind::GitHub, "h", "k", &clock, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let err = gov
            .admit(ForgeKind::GitHub, "h", "k", &clock, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(err.category(), "budget_exhausted");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        clock.advance(Duration::from_secs(30));
        gov.admit(ForgeKind::GitHub, "h", "k", &clock, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test]
    async fn a_short_wait_for_the_budget_is_slept_not_failed() {
        let clock = ManualClock::starting_at(1_700_000_000);
        let gov = RateGovernor::new(BudgetConfig {
            capacity: 1,
            refill_every: Duration::from_millis(200),
            max_queue: Duration::from_secs(1),
        });
        for _ in 0..3 {
            gov.admit(ForgeKind::Gitea, "h", "k", &clock, Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(200); 2]);
    }

    #[tokio::test]
    async fn a_spent_server_quota_blocks_until_its_reset() {
        let clock = ManualClock::starting_at(1_700_000_000);
        let gov = RateGovernor::default();
        let spent = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000042"),
        ]);
        gov.observe("cred", &spent, &clock);
        gov.admit(
            ForgeKind::GitHub,
            "h",
            "cred",
            &clock,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(42)]);
        // Once the reset time has passed, the same headers no longer hold anything back.
        gov.observe("cred", &spent, &clock);
        let err = gov
            .admit(
                ForgeKind::GitHub,
                "h",
                "cred",
                &clock,
                Duration::from_secs(10),
            )
            .await;
        assert!(err.is_ok(), "the reset time has passed: {err:?}");
    }

    #[tokio::test]
    async fn a_reset_too_far_away_fails_fast_with_the_wait() {
        let clock = ManualClock::starting_at(1_700_000_000);
        let gov = RateGovernor::default();
        let spent = headers(&[
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1700003600"),
        ]);
        gov.observe("cred", &spent, &clock);
        let err = gov
            .admit(
                ForgeKind::GitLab,
                "h",
                "cred",
                &clock,
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
        gov.admit(
            ForgeKind::GitLab,
            "h",
            "other-cred",
            &clock,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let clock = ManualClock::starting_at(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), &clock),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
                &clock
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon")]), &clock),
            None
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let waits: Vec<_> = (1..=8).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        let jittered = RetryPolicy::default().backoff(3);
        assert!(jittered >= Duration::from_secs(1) && jittered <= Duration::from_secs(2));
    }
}
