//! The pipeline's behaviour, step by step, over in-memory ports: phases and conditions a user
//! sees, exactly one commit and one pull request however often a step is replayed, rejection
//! versus failure, bounded backoff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use sealift_api::conditions::{reasons, types};
use sealift_api::{
    CommitRef, Evidence, Phase, PolicyRef, PromotionSpec, PromotionStatus, PullRequestRef,
    PullRequestState,
};
use sealift_core::{
    CommitResult, Engine, ManualClock, Next, PromotionRef, PullRequests, Repo, SourceImage,
    StepError, Timing, Verifier,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn promotion(direct: bool) -> PromotionRef {
    let mut spec = serde_json::json!({
        "repository": {"url": "https://git.example.com/acme/gitops.git"},
        "from": "overlays/staging", "to": "overlays/prod", "images": ["bookstore/catalog"],
        "policyRef": {"name": "bookstore"},
    });
    if direct {
        spec["push"] = "direct".into();
    } else {
        spec["pullRequest"] = serde_json::json!({"provider": "github", "secretRef": {"name": "t"}});
    }
    PromotionRef {
        namespace: "bookstore".into(),
        name: "p".into(),
        generation: 1,
        spec: serde_json::from_value::<PromotionSpec>(spec).unwrap(),
    }
}

#[derive(Default)]
struct Fakes {
    resolve: Mutex<Vec<Result<Vec<SourceImage>, StepError>>>,
    verify: Mutex<Vec<Result<Evidence, StepError>>>,
    commit: Mutex<Vec<Result<CommitResult, StepError>>>,
    pr_state: Mutex<Vec<PullRequestState>>,
    resolves: AtomicU32,
    commits: AtomicU32,
    opens: AtomicU32,
}

fn pop<T: Clone>(v: &Mutex<Vec<T>>) -> T {
    let mut v = v.lock().unwrap();
    if v.len() > 1 {
        v.remove(0)
    } else {
        v[0].clone()
    }
}

#[async_trait]
impl Repo for Fakes {
    async fn resolve(&self, _: &PromotionRef) -> Result<Vec<SourceImage>, StepError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        pop(&self.resolve)
    }
    async fn commit(
        &self,
        _: &PromotionRef,
        images: &[SourceImage],
        _: SystemTime,
    ) -> Result<CommitResult, StepError> {
        assert!(!images.is_empty());
        self.commits.fetch_add(1, Ordering::SeqCst);
        pop(&self.commit)
    }
    async fn diff(&self, _: &PromotionRef, commit: &CommitRef) -> Result<String, StepError> {
        Ok(format!("diff of {}", commit.sha))
    }
}

#[async_trait]
impl Verifier for Fakes {
    async fn verify(&self, _: &str, _: &PolicyRef, _: &SourceImage) -> Result<Evidence, StepError> {
        pop(&self.verify)
    }
}

#[async_trait]
impl PullRequests for Fakes {
    async fn open(
        &self,
        _: &PromotionRef,
        branch: &str,
        sha: &str,
        images: &[(SourceImage, Evidence)],
        diff: Option<&str>,
    ) -> Result<PullRequestRef, StepError> {
        assert_eq!(
            images.len(),
            1,
            "the evidence travels into the pull request"
        );
        assert_eq!(
            diff,
            Some(format!("diff of {sha}").as_str()),
            "the pull request shows the diff of the commit it is opened for"
        );
        self.opens.fetch_add(1, Ordering::SeqCst);
        Ok(PullRequestRef {
            number: 7,
            url: format!("https://git.example.com/acme/gitops/pull/7?head={branch}"),
            state: PullRequestState::Open,
            head_sha: Some(sha.to_owned()),
            merge_commit: None,
        })
    }
    async fn state(
        &self,
        _: &PromotionRef,
        pr: &PullRequestRef,
    ) -> Result<PullRequestRef, StepError> {
        let state = pop(&self.pr_state);
        Ok(PullRequestRef {
            state,
            merge_commit: (state == PullRequestState::Merged).then(|| "c".repeat(40)),
            ..pr.clone()
        })
    }
}

fn image() -> SourceImage {
    SourceImage {
        name: "bookstore/catalog".into(),
        reference: "registry.example.com/bookstore/catalog".into(),
        digest: digest('a'),
    }
}

fn evidence() -> Evidence {
    Evidence {
        digest: digest('a'),
        ..Default::default()
    }
}

fn happy() -> Arc<Fakes> {
    let f = Fakes::default();
    *f.resolve.lock().unwrap() = vec![Ok(vec![image()])];
    *f.verify.lock().unwrap() = vec![Ok(evidence())];
    *f.commit.lock().unwrap() = vec![Ok(CommitResult::Pushed {
        sha: "b".repeat(40),
        branch: "sealift/bookstore/p".into(),
    })];
    *f.pr_state.lock().unwrap() = vec![PullRequestState::Open, PullRequestState::Merged];
    Arc::new(f)
}

fn engine(f: &Arc<Fakes>) -> Engine {
    let timing = Timing {
        max_attempts: 3,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(3),
        poll_interval: Duration::from_secs(30),
    };
    Engine::new(
        f.clone(),
        f.clone(),
        f.clone(),
        Arc::new(ManualClock::starting_at(1_790_000_000)),
        timing,
    )
}

/// Steps until Done, recording each phase and `next`. Panics after 50 steps.
async fn run(
    e: &Engine,
    p: &PromotionRef,
    mut s: Option<PromotionStatus>,
) -> (PromotionStatus, Vec<(Phase, Next)>) {
    let mut trail = vec![];
    for _ in 0..50 {
        let out = e.step(p, s.as_ref()).await;
        trail.push((out.status.phase.unwrap(), out.next));
        s = Some(out.status);
        if out.next == Next::Done {
            return (s.unwrap(), trail);
        }
    }
    panic!("no end: {trail:?}")
}

fn cond<'a>(s: &'a PromotionStatus, t: &str) -> (&'a str, &'a str) {
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no {t}: {:?}", s.conditions));
    (c.status.as_str(), c.reason.as_str())
}

#[tokio::test]
async fn a_promotion_walks_every_phase_to_merged_with_one_commit_and_one_pull_request() {
    let f = happy();
    let (s, trail) = run(&engine(&f), &promotion(false), None).await;
    let phases: Vec<Phase> = trail.iter().map(|(p, _)| *p).collect();
    use Phase::*;
    assert_eq!(
        phases,
        [
            Resolving,
            Verifying,
            Verifying,
            Committing,
            Committing,
            PullRequestOpen,
            PullRequestOpen,
            Merged
        ]
    );
    assert_eq!(
        trail[5].1,
        Next::After(Duration::from_secs(30)),
        "then poll the pull request"
    );
    assert_eq!(
        (
            f.commits.load(Ordering::SeqCst),
            f.opens.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    assert_eq!(s.images[0].evidence, Some(evidence()));
    assert_eq!(
        s.pull_request.as_ref().unwrap().merge_commit,
        Some("c".repeat(40))
    );
    for t in [
        types::RESOLVED,
        types::VERIFIED,
        types::COMMITTED,
        types::PULL_REQUEST_OPENED,
        types::MERGED,
        types::READY,
    ] {
        assert_eq!(cond(&s, t).0, "True", "{t}");
    }
    assert!(s.started_at.is_some() && s.finished_at.is_some());
    assert_eq!(s.observed_generation, Some(1));
}

#[tokio::test]
async fn replaying_any_recorded_status_never_commits_or_opens_twice() {
    // A crash after any step: the controller restarts from the last persisted status.
    let f = happy();
    let e = engine(&f);
    let p = promotion(false);
    let mut s: Option<PromotionStatus> = None;
    let mut recorded = vec![];
    loop {
        let out = e.step(&p, s.as_ref()).await;
        recorded.push(out.status.clone());
        s = Some(out.status);
        if out.next == Next::Done {
            break;
        }
    }
    let (commits, opens) = (
        f.commits.load(Ordering::SeqCst),
        f.opens.load(Ordering::SeqCst),
    );
    // Resuming from a status recorded after the commit or the pull request repeats neither.
    for status in recorded.iter().filter(|s| s.commit.is_some()) {
        *f.pr_state.lock().unwrap() = vec![PullRequestState::Merged];
        run(&e, &p, Some(status.clone())).await;
    }
    assert_eq!(f.commits.load(Ordering::SeqCst), commits);
    assert_eq!(
        f.opens.load(Ordering::SeqCst) - opens,
        1,
        "only the status recorded before the pull request opens it (adopting)"
    );
}

#[tokio::test]
async fn a_direct_push_ends_merged_without_a_pull_request() {
    let f = happy();
    let (s, _) = run(&engine(&f), &promotion(true), None).await;
    assert_eq!(s.phase, Some(Phase::Merged));
    assert_eq!(cond(&s, types::MERGED), ("True", reasons::PUSHED_DIRECTLY));
    assert_eq!(f.opens.load(Ordering::SeqCst), 0);
    assert!(s.pull_request.is_none());
}

#[tokio::test]
async fn a_rejected_signature_stops_before_anything_is_written() {
    let f = happy();
    *f.verify.lock().unwrap() = vec![Err(StepError::Rejected {
        reason: reasons::SIGNATURE_MISSING,
        message: "no signature for sha256:aaaa…".into(),
    })];
    let (s, _) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(s.phase, Some(Phase::Rejected));
    assert_eq!(
        cond(&s, types::VERIFIED),
        ("False", reasons::SIGNATURE_MISSING)
    );
    assert_eq!(
        cond(&s, types::READY),
        ("False", reasons::SIGNATURE_MISSING)
    );
    assert_eq!(f.commits.load(Ordering::SeqCst), 0);
    assert_eq!(f.opens.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn evidence_about_another_digest_is_never_accepted() {
    let f = happy();
    *f.verify.lock().unwrap() = vec![Ok(Evidence {
        digest: digest('f'),
        ..Default::default()
    })];
    let (s, _) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(f.commits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transient_failures_back_off_exponentially_then_succeed() {
    let f = happy();
    let flaky = StepError::Failed {
        reason: "TransportError",
        message: "connection reset".into(),
        transient: true,
    };
    *f.resolve.lock().unwrap() = vec![Err(flaky.clone()), Err(flaky), Ok(vec![image()])];
    let (s, trail) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(
        trail[1],
        (Phase::Resolving, Next::After(Duration::from_secs(1)))
    );
    assert_eq!(
        trail[2],
        (Phase::Resolving, Next::After(Duration::from_secs(2)))
    );
    assert_eq!(s.phase, Some(Phase::Merged));
    assert_eq!(
        s.attempts, None,
        "a successful step resets the attempt count"
    );
}

#[tokio::test]
async fn a_step_that_keeps_failing_ends_failed_after_bounded_attempts() {
    let f = happy();
    *f.commit.lock().unwrap() = vec![Err(StepError::Failed {
        reason: "TransportError",
        message: "503".into(),
        transient: true,
    })];
    let (s, trail) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(
        cond(&s, types::COMMITTED),
        ("False", reasons::RETRIES_EXHAUSTED)
    );
    assert_eq!(f.commits.load(Ordering::SeqCst), 3);
    assert!(
        trail
            .iter()
            .all(|(_, n)| *n != Next::After(Duration::from_secs(8))),
        "backoff is capped: {trail:?}"
    );
}

#[tokio::test]
async fn a_target_that_already_pins_the_digest_ends_merged_with_nothing_written() {
    let f = happy();
    *f.commit.lock().unwrap() = vec![Ok(CommitResult::UpToDate)];
    let (s, _) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(s.phase, Some(Phase::Merged));
    assert_eq!(
        cond(&s, types::READY),
        ("True", reasons::ALREADY_UP_TO_DATE)
    );
    assert!(s.commit.is_none() && s.pull_request.is_none());
}

#[tokio::test]
async fn a_closed_pull_request_ends_closed() {
    let f = happy();
    *f.pr_state.lock().unwrap() = vec![PullRequestState::Closed];
    let (s, _) = run(&engine(&f), &promotion(false), None).await;
    assert_eq!(s.phase, Some(Phase::Closed));
    assert_eq!(
        cond(&s, types::READY),
        ("False", reasons::PULL_REQUEST_CLOSED)
    );
}

#[tokio::test]
async fn a_final_promotion_is_left_alone() {
    let f = happy();
    let done = PromotionStatus {
        phase: Some(Phase::Rejected),
        ..Default::default()
    };
    let out = engine(&f).step(&promotion(false), Some(&done)).await;
    assert_eq!(out.next, Next::Done);
    assert_eq!(out.status, done);
    assert_eq!(f.commits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn last_transition_time_moves_only_when_a_condition_flips() {
    let mut s = PromotionStatus::default();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
    let t1 = t0 + Duration::from_secs(50);
    sealift_core::status::set_condition(&mut s, "Ready", false, "InProgress", "a", 1, t0);
    sealift_core::status::set_condition(&mut s, "Ready", false, "InProgress", "b", 1, t1);
    assert_eq!(
        s.conditions[0].last_transition_time,
        sealift_core::status::time(t0)
    );
    assert_eq!(s.conditions[0].message, "b");
    sealift_core::status::set_condition(&mut s, "Ready", true, "Succeeded", "c", 1, t1);
    assert_eq!(
        s.conditions[0].last_transition_time,
        sealift_core::status::time(t1)
    );
    let long = "x".repeat(5000);
    sealift_core::status::set_condition(&mut s, "Ready", true, "Succeeded", &long, 1, t1);
    assert!(s.conditions[0].message.len() <= sealift_core::status::MAX_MESSAGE);
}

#[tokio::test]
async fn a_spec_changed_after_the_start_fails_the_promotion_and_writes_nothing() {
    // Old API servers ignore the CEL immutability rule; the engine enforces it.
    let f = happy();
    let e = engine(&f);
    let mut p = promotion(false);
    let first = e.step(&p, None).await; // Pending → Resolving, generation 1
    let second = e.step(&p, Some(&first.status)).await; // resolved
    p.generation = 2;
    p.spec.to = "overlays/elsewhere".into();
    let out = e.step(&p, Some(&second.status)).await;
    assert_eq!(out.status.phase, Some(Phase::Failed));
    assert_eq!(out.next, Next::Done);
    assert_eq!(
        cond(&out.status, types::READY),
        ("False", reasons::SPEC_CHANGED)
    );
    // Stepping again changes nothing, and nothing was ever committed.
    let again = e.step(&p, Some(&out.status)).await;
    assert_eq!(again.status, out.status);
    assert_eq!(f.commits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_invalid_spec_is_rejected_before_anything_is_read() {
    let f = happy();
    let mut p = promotion(false);
    p.spec.from = "../outside".into();
    let (s, _) = run(&engine(&f), &p, None).await;
    assert_eq!(s.phase, Some(Phase::Rejected));
    let (status, reason) = cond(&s, types::READY);
    assert_eq!((status, reason), ("False", reasons::INVALID_SPEC));
    let message = &s
        .conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .unwrap()
        .message;
    assert!(message.contains("spec.from"), "{message}");
    assert_eq!(f.resolves.load(Ordering::SeqCst), 0, "nothing read");
}
