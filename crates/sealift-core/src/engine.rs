//! The promotion pipeline as one resumable step at a time.
//!
//! [`Engine::step`] reads the current status, performs at most one side effect, and returns the
//! next status. The caller persists it before calling again, so a crash at any point resumes from
//! the last recorded step: side effects are either recorded (the commit, the pull request) or
//! idempotent when repeated (the commit id is a function of base, change and `startedAt`; opening
//! a pull request adopts an existing one).

use crate::clock::Clock;
use crate::ports::{
    CommitResult, PromotionRef, PullRequests, Repo, SourceImage, StepError, Verifier, wall_clock,
};
use crate::status::{set_condition, system_time, time};
use sealift_api::conditions::{reasons, types};
use sealift_api::{CommitRef, Phase, PromotedImage, PromotionStatus, PullRequestState};
use std::sync::Arc;
use std::time::Duration;

/// When to call [`Engine::step`] again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Right away: the step made progress.
    Now,
    /// After a delay: a retry backoff, or polling an open pull request.
    After(Duration),
    /// Never: the promotion reached a final phase.
    Done,
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Stepped {
    /// The status to persist.
    pub status: PromotionStatus,
    /// When to step again.
    pub next: Next,
}

/// Retry and polling timing.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Attempts of one step before the promotion fails.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How often an open pull request is polled.
    pub poll_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            poll_interval: Duration::from_secs(30),
        }
    }
}

/// The promotion pipeline over its ports.
#[derive(Clone)]
pub struct Engine {
    repo: Arc<dyn Repo>,
    verifier: Arc<dyn Verifier>,
    pull_requests: Arc<dyn PullRequests>,
    clock: Arc<dyn Clock>,
    timing: Timing,
}

impl Engine {
    /// An engine over the given ports.
    pub fn new(
        repo: Arc<dyn Repo>,
        verifier: Arc<dyn Verifier>,
        pull_requests: Arc<dyn PullRequests>,
        clock: Arc<dyn Clock>,
        timing: Timing,
    ) -> Engine {
        Engine {
            repo,
            verifier,
            pull_requests,
            clock,
            timing,
        }
    }

    /// Advances `p` by one step from `current` (None: never started).
    #[tracing::instrument(name = "step", skip_all, fields(promotion = %p.key(), phase = ?current.and_then(|s| s.phase).unwrap_or_default()))]
    pub async fn step(&self, p: &PromotionRef, current: Option<&PromotionStatus>) -> Stepped {
        let mut s = current.cloned().unwrap_or_default();
        let phase = s.phase.unwrap_or_default();
        let now = wall_clock(&*self.clock);
        let g = p.generation;
        // The spec is immutable, and old API servers ignore the CEL rule that says so: once a
        // promotion has started, a new generation means someone changed the spec. Never act on a
        // spec the promotion did not start with.
        if let Some(observed) = s.observed_generation
            && observed != g
            && phase != Phase::Pending
        {
            let refused = s.conditions.iter().any(|c| {
                c.type_ == types::READY
                    && c.reason == reasons::SPEC_CHANGED
                    && c.observed_generation == Some(g)
            });
            if refused {
                return Stepped {
                    status: s,
                    next: Next::Done,
                };
            }
            let message = format!(
                "spec changed after the promotion started (generation {observed} → {g}); \
                 Sealift keeps to the spec it started with: create a new Promotion instead"
            );
            set_condition(
                &mut s,
                types::READY,
                false,
                reasons::SPEC_CHANGED,
                &message,
                g,
                now,
            );
            if !phase.is_final() {
                s.phase = Some(Phase::Failed);
                s.finished_at = Some(time(now));
                s.attempts = None;
            }
            return Stepped {
                status: s,
                next: Next::Done,
            };
        }
        if phase.is_final() {
            return Stepped {
                status: s,
                next: Next::Done,
            };
        }
        s.observed_generation = Some(g);
        match phase {
            Phase::Pending => {
                // Schema validation may be missing (old API servers, the CLI's file): check here.
                if let Err(errors) = p.spec.validate() {
                    return self.fail(
                        s,
                        types::READY,
                        StepError::Rejected {
                            reason: reasons::INVALID_SPEC,
                            message: format!("invalid spec: {errors}"),
                        },
                    );
                }
                s.started_at.get_or_insert_with(|| time(now));
                s.phase = Some(Phase::Resolving);
                set_condition(
                    &mut s,
                    types::READY,
                    false,
                    reasons::IN_PROGRESS,
                    "promotion started",
                    g,
                    now,
                );
                self.ok(s, Next::Now)
            }
            Phase::Resolving => match self.repo.resolve(p).await {
                Ok(images) if images.is_empty() => self.fail(
                    s,
                    types::RESOLVED,
                    StepError::Rejected {
                        reason: reasons::IMAGE_NOT_IN_OVERLAY,
                        message: format!("{} pins no image by digest", p.spec.from),
                    },
                ),
                Ok(images) => {
                    let summary = images
                        .iter()
                        .map(|i| format!("{}@{}", i.name, i.digest))
                        .collect::<Vec<_>>()
                        .join(", ");
                    s.images = images
                        .into_iter()
                        .map(|i| PromotedImage {
                            name: i.name,
                            reference: Some(i.reference),
                            digest: i.digest,
                            evidence: None,
                        })
                        .collect();
                    set_condition(
                        &mut s,
                        types::RESOLVED,
                        true,
                        reasons::SUCCEEDED,
                        &format!("{} pins {summary}", p.spec.from),
                        g,
                        now,
                    );
                    s.phase = Some(Phase::Verifying);
                    self.ok(s, Next::Now)
                }
                Err(e) => self.fail(s, types::RESOLVED, e),
            },
            Phase::Verifying => {
                // One image per step: each verification is recorded as soon as it is proven.
                let pending = s.images.iter().position(|i| i.evidence.is_none());
                match pending {
                    Some(idx) => {
                        let image = source(&s.images[idx]);
                        match self
                            .verifier
                            .verify(&p.namespace, &p.spec.policy_ref, &image)
                            .await
                        {
                            Ok(evidence) if evidence.digest == image.digest => {
                                s.images[idx].evidence = Some(evidence);
                                self.ok(s, Next::Now)
                            }
                            // The digest proven must be byte-for-byte the digest we will write.
                            Ok(evidence) => self.fail(
                                s,
                                types::VERIFIED,
                                StepError::Failed {
                                    reason: reasons::SIGNATURE_INVALID,
                                    message: format!(
                                        "verifier proved {} instead of {}",
                                        evidence.digest, image.digest
                                    ),
                                    transient: false,
                                },
                            ),
                            Err(e) => self.fail(s, types::VERIFIED, e),
                        }
                    }
                    None => {
                        let n = s.images.len();
                        set_condition(
                            &mut s,
                            types::VERIFIED,
                            true,
                            reasons::SUCCEEDED,
                            &format!(
                                "{n} image(s) satisfy {:?} {}",
                                p.spec.policy_ref.kind, p.spec.policy_ref.name
                            ),
                            g,
                            now,
                        );
                        s.phase = Some(Phase::Committing);
                        self.ok(s, Next::Now)
                    }
                }
            }
            Phase::Committing => self.commit_or_open(p, s).await,
            Phase::PullRequestOpen => {
                let Some(pr) = s.pull_request.clone() else {
                    // Cannot happen through this engine; recover by opening again (adopts).
                    s.phase = Some(Phase::Committing);
                    return self.ok(s, Next::Now);
                };
                match self.pull_requests.state(p, &pr).await {
                    Ok(latest) => {
                        let state = latest.state;
                        s.pull_request = Some(latest);
                        match state {
                            PullRequestState::Open => {
                                self.ok(s, Next::After(self.timing.poll_interval))
                            }
                            PullRequestState::Merged => {
                                set_condition(
                                    &mut s,
                                    types::MERGED,
                                    true,
                                    reasons::PULL_REQUEST_MERGED,
                                    "the pull request was merged",
                                    g,
                                    now,
                                );
                                self.finish(
                                    s,
                                    Phase::Merged,
                                    true,
                                    reasons::PULL_REQUEST_MERGED,
                                    "promoted",
                                )
                            }
                            PullRequestState::Closed => {
                                set_condition(
                                    &mut s,
                                    types::MERGED,
                                    false,
                                    reasons::PULL_REQUEST_CLOSED,
                                    "the pull request was closed without merging",
                                    g,
                                    now,
                                );
                                self.finish(
                                    s,
                                    Phase::Closed,
                                    false,
                                    reasons::PULL_REQUEST_CLOSED,
                                    "the pull request was closed without merging",
                                )
                            }
                        }
                    }
                    Err(e) => self.fail(s, types::MERGED, e),
                }
            }
            Phase::Merged | Phase::Closed | Phase::Rejected | Phase::Failed => Stepped {
                status: s,
                next: Next::Done,
            },
        }
    }

    async fn commit_or_open(&self, p: &PromotionRef, mut s: PromotionStatus) -> Stepped {
        let now = wall_clock(&*self.clock);
        let g = p.generation;
        let images: Vec<SourceImage> = s.images.iter().map(source).collect();
        let Some(commit) = s.commit.clone() else {
            let started = s.started_at.as_ref().map(system_time).unwrap_or(now);
            return match self.repo.commit(p, &images, started).await {
                Ok(CommitResult::UpToDate) => {
                    set_condition(
                        &mut s,
                        types::COMMITTED,
                        true,
                        reasons::ALREADY_UP_TO_DATE,
                        &format!("{} already pins every digest", p.spec.to),
                        g,
                        now,
                    );
                    self.finish(
                        s,
                        Phase::Merged,
                        true,
                        reasons::ALREADY_UP_TO_DATE,
                        "nothing to promote: the target already runs these digests",
                    )
                }
                Ok(CommitResult::Pushed { sha, branch }) => {
                    set_condition(
                        &mut s,
                        types::COMMITTED,
                        true,
                        reasons::SUCCEEDED,
                        &format!("{sha} on {branch}"),
                        g,
                        now,
                    );
                    s.commit = Some(CommitRef { sha, branch });
                    if p.spec.push.is_some() {
                        set_condition(
                            &mut s,
                            types::MERGED,
                            true,
                            reasons::PUSHED_DIRECTLY,
                            "pushed to the base branch",
                            g,
                            now,
                        );
                        return self.finish(
                            s,
                            Phase::Merged,
                            true,
                            reasons::PUSHED_DIRECTLY,
                            "promoted",
                        );
                    }
                    self.ok(s, Next::Now)
                }
                Err(e) => self.fail(s, types::COMMITTED, e),
            };
        };
        let evidence: Vec<(SourceImage, sealift_api::Evidence)> = s
            .images
            .iter()
            .filter_map(|i| i.evidence.clone().map(|e| (source(i), e)))
            .collect();
        // The reviewer reads what the pushed commit did, taken from the commit itself.
        let diff = match self.repo.diff(p, &commit).await {
            Ok(diff) => diff,
            Err(e) => return self.fail(s, types::PULL_REQUEST_OPENED, e),
        };
        match self
            .pull_requests
            .open(p, &commit.branch, &commit.sha, &evidence, Some(&diff))
            .await
        {
            Ok(pr) => {
                set_condition(
                    &mut s,
                    types::PULL_REQUEST_OPENED,
                    true,
                    reasons::SUCCEEDED,
                    &pr.url,
                    g,
                    now,
                );
                s.pull_request = Some(pr);
                s.phase = Some(Phase::PullRequestOpen);
                self.ok(s, Next::After(self.timing.poll_interval))
            }
            Err(e) => self.fail(s, types::PULL_REQUEST_OPENED, e),
        }
    }

    fn ok(&self, mut s: PromotionStatus, next: Next) -> Stepped {
        s.attempts = None;
        Stepped { status: s, next }
    }

    fn finish(
        &self,
        mut s: PromotionStatus,
        phase: Phase,
        ready: bool,
        reason: &str,
        message: &str,
    ) -> Stepped {
        let now = wall_clock(&*self.clock);
        let g = s.observed_generation.unwrap_or_default();
        set_condition(&mut s, types::READY, ready, reason, message, g, now);
        s.phase = Some(phase);
        s.finished_at = Some(time(now));
        s.attempts = None;
        Stepped {
            status: s,
            next: Next::Done,
        }
    }

    fn fail(&self, mut s: PromotionStatus, type_: &str, e: StepError) -> Stepped {
        let now = wall_clock(&*self.clock);
        let g = s.observed_generation.unwrap_or_default();
        match e {
            StepError::Rejected { reason, message } => {
                set_condition(&mut s, type_, false, reason, &message, g, now);
                self.finish(s, Phase::Rejected, false, reason, &message)
            }
            StepError::Failed {
                reason,
                message,
                transient,
            } => {
                let attempts = s.attempts.unwrap_or(0) + 1;
                set_condition(&mut s, type_, false, reason, &message, g, now);
                if !transient {
                    return self.finish(s, Phase::Failed, false, reason, &message);
                }
                if attempts >= self.timing.max_attempts {
                    let message = format!("gave up after {attempts} attempts: {message}");
                    set_condition(
                        &mut s,
                        type_,
                        false,
                        reasons::RETRIES_EXHAUSTED,
                        &message,
                        g,
                        now,
                    );
                    return self.finish(
                        s,
                        Phase::Failed,
                        false,
                        reasons::RETRIES_EXHAUSTED,
                        &message,
                    );
                }
                s.attempts = Some(attempts);
                let delay = crate::backoff(
                    self.timing.initial_backoff,
                    u32::try_from(attempts).unwrap_or(1),
                    self.timing.max_backoff,
                );
                Stepped {
                    status: s,
                    next: Next::After(delay),
                }
            }
        }
    }
}

fn source(i: &PromotedImage) -> SourceImage {
    SourceImage {
        name: i.name.clone(),
        reference: i.reference.clone().unwrap_or_else(|| i.name.clone()),
        digest: i.digest.clone(),
    }
}
