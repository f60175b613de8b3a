//! The one step driver the controller and the CLI share: step the engine until it must wait,
//! handing every changed status to a [`Record`]er before the next step (the side effect of a step
//! is only safe to build on once its status is persisted), and the one description of what a
//! recorded step changed ([`Transition`]) that becomes an Event in the cluster and a line on
//! stderr in the CLI.

use crate::engine::{Engine, Next};
use crate::ports::PromotionRef;
use async_trait::async_trait;
use sealift_api::conditions::types;
use sealift_api::{Phase, PromotionStatus};
use std::time::{Duration, Instant};

/// Persists what a step produced. Called once per changed status, in order; an error stops the
/// driver before the next step (the caller retries the whole reconciliation later).
#[async_trait]
pub trait Record: Send {
    /// Why persisting failed.
    type Error: Send;
    /// Persists `status`, the result of a step that started in phase `before` and took `took`.
    async fn record(
        &mut self,
        before: Phase,
        status: &PromotionStatus,
        took: Duration,
    ) -> Result<(), Self::Error>;
}

/// Steps `p` from `status` until the engine says to wait ([`Next::After`]) or that it is done,
/// recording every changed status. A step that changes nothing (polling an open pull request)
/// records nothing. Returns the last status and when to step again.
#[tracing::instrument(skip_all, fields(promotion = %p.key()))]
pub async fn run_until_wait<R: Record>(
    engine: &Engine,
    p: &PromotionRef,
    mut status: Option<PromotionStatus>,
    recorder: &mut R,
) -> Result<(Option<PromotionStatus>, Next), R::Error> {
    loop {
        let before = phase_of(status.as_ref());
        let started = Instant::now();
        let stepped = engine.step(p, status.as_ref()).await;
        if status.as_ref() == Some(&stepped.status) {
            return Ok((status, stepped.next));
        }
        recorder
            .record(before, &stepped.status, started.elapsed())
            .await?;
        status = Some(stepped.status);
        if stepped.next != Next::Now {
            return Ok((status, stepped.next));
        }
    }
}

/// The phase a status records (`Pending` when nothing was recorded yet).
pub fn phase_of(status: Option<&PromotionStatus>) -> Phase {
    status.and_then(|s| s.phase).unwrap_or_default()
}

/// What one recorded step changed, worth telling a person: a phase change or a retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The phase before the step.
    pub from: Phase,
    /// The phase after it (equal to `from` for a retry).
    pub to: Phase,
    /// A warning (rejected, failed, closed, retrying) rather than progress.
    pub warning: bool,
    /// A CamelCase reason (an Event reason): the final condition's reason, or the step's.
    pub reason: String,
    /// What happened, for a person (may be empty).
    pub message: String,
    /// The attempt that failed, for a retry.
    pub retry: Option<i32>,
}

impl Transition {
    /// What a step from phase `before` to `after` changed, if anything worth telling.
    pub fn of(before: Phase, after: &PromotionStatus) -> Option<Transition> {
        let to = after.phase.unwrap_or_default();
        let ready = after.conditions.iter().find(|c| c.type_ == types::READY);
        if to == before {
            let attempt = after.attempts?;
            let failing = after
                .conditions
                .iter()
                .filter(|c| c.status == "False" && c.type_ != types::READY)
                .max_by_key(|c| c.last_transition_time.0)?;
            return Some(Transition {
                from: before,
                to,
                warning: true,
                reason: failing.reason.clone(),
                message: format!("attempt {attempt} failed, retrying: {}", failing.message),
                retry: Some(attempt),
            });
        }
        let ready_reason = || ready.map(|c| c.reason.clone()).unwrap_or_default();
        let ready_message = || ready.map(|c| c.message.clone()).unwrap_or_default();
        let (warning, reason, message) = match to {
            Phase::Rejected | Phase::Failed | Phase::Closed => {
                (true, ready_reason(), ready_message())
            }
            Phase::Merged => (false, phase_name(to).to_owned(), ready_message()),
            Phase::PullRequestOpen => (
                false,
                "PullRequestOpened".to_owned(),
                after
                    .pull_request
                    .as_ref()
                    .map(|pr| format!("pull request #{} {}", pr.number, pr.url))
                    .unwrap_or_default(),
            ),
            Phase::Committing => (
                false,
                "Verified".to_owned(),
                format!(
                    "{} image(s) verified: {}",
                    after.images.len(),
                    after
                        .images
                        .iter()
                        .map(|i| format!("{}@{}", i.name, i.digest))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            other => (false, phase_name(other).to_owned(), String::new()),
        };
        Some(Transition {
            from: before,
            to,
            warning,
            reason,
            message,
            retry: None,
        })
    }
}

/// A stable label for a phase (metrics, logs, Event reasons).
pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Resolving => "Resolving",
        Phase::Verifying => "Verifying",
        Phase::Committing => "Committing",
        Phase::PullRequestOpen => "PullRequestOpen",
        Phase::Merged => "Merged",
        Phase::Closed => "Closed",
        Phase::Rejected => "Rejected",
        Phase::Failed => "Failed",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use sealift_api::PullRequestRef;

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: crate::status::time(std::time::SystemTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn a_retry_names_the_failing_condition_and_the_attempt() {
        let s = PromotionStatus {
            phase: Some(Phase::Committing),
            attempts: Some(2),
            conditions: vec![
                cond(types::READY, "False", "InProgress", "started"),
                cond(
                    types::COMMITTED,
                    "False",
                    "PushFailed",
                    "connection refused",
                ),
            ],
            ..Default::default()
        };
        let t = Transition::of(Phase::Committing, &s).unwrap();
        assert!(t.warning);
        assert_eq!(t.retry, Some(2));
        assert_eq!(t.reason, "PushFailed");
        assert_eq!(t.message, "attempt 2 failed, retrying: connection refused");
    }

    #[test]
    fn an_open_pull_request_is_progress_with_its_url() {
        let s = PromotionStatus {
            phase: Some(Phase::PullRequestOpen),
            pull_request: Some(PullRequestRef {
                number: 7,
                url: "https://forge/pr/7".into(),
                state: sealift_api::PullRequestState::Open,
                head_sha: None,
                merge_commit: None,
            }),
            ..Default::default()
        };
        let t = Transition::of(Phase::Committing, &s).unwrap();
        assert!(!t.warning);
        assert_eq!(t.reason, "PullRequestOpened");
        assert_eq!(t.message, "pull request #7 https://forge/pr/7");
    }

    #[test]
    fn a_rejection_is_a_warning_with_the_ready_reason() {
        let s = PromotionStatus {
            phase: Some(Phase::Rejected),
            conditions: vec![cond(types::READY, "False", "SignatureMissing", "no .sig")],
            ..Default::default()
        };
        let t = Transition::of(Phase::Verifying, &s).unwrap();
        assert!(t.warning);
        assert_eq!(
            (t.reason.as_str(), t.message.as_str()),
            ("SignatureMissing", "no .sig")
        );
    }

    #[test]
    fn a_step_that_neither_moved_nor_failed_tells_nothing() {
        let s = PromotionStatus {
            phase: Some(Phase::Verifying),
            ..Default::default()
        };
        assert_eq!(Transition::of(Phase::Verifying, &s), None);
    }
}
