//! The promotion as a pure state machine: resolve → verify → commit → open → track, as
//! resumable, idempotent steps over narrow [`ports`] (`Repo`, `Verifier`, `PullRequests`,
//! [`Clock`]). It knows nothing about Kubernetes, git, Sigstore or HTTP: the controller and the
//! CLI feed it a spec and the last recorded status, persist what [`Engine::step`] returns, and
//! call again when it says ([`driver`] is that loop, shared by both). The real ports live in
//! `sealift-adapters`.

pub mod clock;
pub mod driver;
pub mod engine;
pub mod ports;
pub mod status;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, Next, Stepped, Timing};
pub use ports::{
    CommitResult, PromotionRef, PullRequests, Repo, SourceImage, StepError, Verifier, wall_clock,
};

/// Exponential backoff: `initial` before the first retry (`attempt` 1), doubling per attempt,
/// never more than `max`. The one backoff of the pipeline and the controller.
pub fn backoff(
    initial: std::time::Duration,
    attempt: u32,
    max: std::time::Duration,
) -> std::time::Duration {
    initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_the_first_retry_and_stops_at_its_cap() {
        let s = Duration::from_secs;
        let delays: Vec<_> = (1..=7).map(|a| backoff(s(2), a, s(60))).collect();
        assert_eq!(delays, [s(2), s(4), s(8), s(16), s(32), s(60), s(60)]);
        assert_eq!(backoff(s(1), 0, s(300)), s(1));
        assert_eq!(backoff(s(1), u32::MAX, s(300)), s(300));
    }
}
