//! Every call through a port, timed and classified: the controller turns these into Prometheus
//! metrics (verification / git / forge latency and errors), the CLI into `--timings`.

use async_trait::async_trait;
use sealift_api::{CommitRef, Evidence, PolicyRef, PullRequestRef};
use sealift_core::{
    CommitResult, PromotionRef, PullRequests, Repo, SourceImage, StepError, Verifier,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How a port call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// It succeeded.
    Ok,
    /// A policy rejection (with its reason).
    Rejected(&'static str),
    /// A technical failure (with its reason).
    Failed(&'static str),
}

impl CallOutcome {
    fn of<T>(r: &Result<T, StepError>) -> CallOutcome {
        match r {
            Ok(_) => CallOutcome::Ok,
            Err(StepError::Rejected { reason, .. }) => CallOutcome::Rejected(reason),
            Err(StepError::Failed { reason, .. }) => CallOutcome::Failed(reason),
        }
    }
}

/// Receives one record per port call.
pub trait PortObserver: Send + Sync {
    /// `port` is `git`, `verify` or `forge`; `operation` names the call.
    fn observe(
        &self,
        port: &'static str,
        operation: &'static str,
        elapsed: Duration,
        outcome: CallOutcome,
    );
}

/// Wraps a port and reports every call to an observer.
pub struct Observed<T: ?Sized> {
    inner: Arc<T>,
    observer: Arc<dyn PortObserver>,
}

impl<T: ?Sized> Observed<T> {
    /// Observes `inner`.
    pub fn new(inner: Arc<T>, observer: Arc<dyn PortObserver>) -> Observed<T> {
        Observed { inner, observer }
    }

    fn record<R>(
        &self,
        port: &'static str,
        op: &'static str,
        started: Instant,
        r: &Result<R, StepError>,
    ) {
        self.observer
            .observe(port, op, started.elapsed(), CallOutcome::of(r));
    }
}

#[async_trait]
impl<T: Repo + ?Sized> Repo for Observed<T> {
    async fn resolve(&self, p: &PromotionRef) -> Result<Vec<SourceImage>, StepError> {
        let t = Instant::now();
        let r = self.inner.resolve(p).await;
        self.record("git", "resolve", t, &r);
        r
    }

    async fn commit(
        &self,
        p: &PromotionRef,
        images: &[SourceImage],
        started_at: SystemTime,
    ) -> Result<CommitResult, StepError> {
        let t = Instant::now();
        let r = self.inner.commit(p, images, started_at).await;
        self.record("git", "commit", t, &r);
        r
    }

    async fn diff(&self, p: &PromotionRef, commit: &CommitRef) -> Result<String, StepError> {
        let t = Instant::now();
        let r = self.inner.diff(p, commit).await;
        self.record("git", "diff", t, &r);
        r
    }
}

#[async_trait]
impl<T: Verifier + ?Sized> Verifier for Observed<T> {
    async fn verify(
        &self,
        namespace: &str,
        policy: &PolicyRef,
        image: &SourceImage,
    ) -> Result<Evidence, StepError> {
        let t = Instant::now();
        let r = self.inner.verify(namespace, policy, image).await;
        self.record("verify", "verify", t, &r);
        r
    }
}

#[async_trait]
impl<T: PullRequests + ?Sized> PullRequests for Observed<T> {
    async fn open(
        &self,
        p: &PromotionRef,
        branch: &str,
        head_sha: &str,
        images: &[(SourceImage, Evidence)],
        diff: Option<&str>,
    ) -> Result<PullRequestRef, StepError> {
        let t = Instant::now();
        let r = self.inner.open(p, branch, head_sha, images, diff).await;
        self.record("forge", "open", t, &r);
        r
    }

    async fn state(
        &self,
        p: &PromotionRef,
        pr: &PullRequestRef,
    ) -> Result<PullRequestRef, StepError> {
        let t = Instant::now();
        let r = self.inner.state(p, pr).await;
        self.record("forge", "state", t, &r);
        r
    }
}
