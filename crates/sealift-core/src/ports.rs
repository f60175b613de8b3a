//! What the engine needs from the outside world, as narrow traits. The real implementations wrap
//! `sealift-gitops`, `sealift-verify` and `sealift-forge` (in `sealift-adapters`); unit tests use
//! in-memory fakes.

use async_trait::async_trait;
use sealift_api::{CommitRef, Evidence, PolicyRef, PromotionSpec, PullRequestRef};
use std::time::SystemTime;

/// A promotion as the engine sees it: identity plus the immutable spec.
#[derive(Clone, Debug, PartialEq)]
pub struct PromotionRef {
    /// Namespace of the Promotion (empty for the CLI's file mode).
    pub namespace: String,
    /// Name of the Promotion.
    pub name: String,
    /// `metadata.generation` the status will describe.
    pub generation: i64,
    /// The spec.
    pub spec: PromotionSpec,
}

impl PromotionRef {
    /// `namespace/name`, as used in trailers and messages.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// An image read from the source overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceImage {
    /// Kustomize image name.
    pub name: String,
    /// The repository the digest belongs to (`newName`, else `name`).
    pub reference: String,
    /// The pinned digest.
    pub digest: String,
}

/// A step failed. `Rejected` is a business outcome (terminal, nothing written); `Failed` is
/// technical (retried with backoff while `transient`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The artifact or the request failed policy.
    #[error("{message}")]
    Rejected {
        /// A reason from `sealift_api::conditions::reasons`.
        reason: &'static str,
        /// What exactly failed, for status and events (never a secret).
        message: String,
    },
    /// Something broke.
    #[error("{message}")]
    Failed {
        /// A stable CamelCase category (metric label, condition reason).
        reason: &'static str,
        /// What broke.
        message: String,
        /// Whether retrying later may help.
        transient: bool,
    },
}

/// What committing produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitResult {
    /// A commit is on the server.
    Pushed {
        /// Commit id.
        sha: String,
        /// Branch it is on.
        branch: String,
    },
    /// The target already pins every digest: nothing to do.
    UpToDate,
}

/// Git: read the source overlay, write the target overlay.
#[async_trait]
pub trait Repo: Send + Sync {
    /// The digests the source overlay pins for the selected images.
    async fn resolve(&self, p: &PromotionRef) -> Result<Vec<SourceImage>, StepError>;
    /// Commits the verified digests into the target overlay and pushes (to the promotion branch,
    /// or to the base for `push: direct`). Must be idempotent for the same inputs.
    async fn commit(
        &self,
        p: &PromotionRef,
        images: &[SourceImage],
        started_at: SystemTime,
    ) -> Result<CommitResult, StepError>;
    /// The unified diff of the target overlay that `commit` (a pushed promotion commit) made,
    /// for the pull request's report.
    async fn diff(&self, p: &PromotionRef, commit: &CommitRef) -> Result<String, StepError>;
}

/// Signature and attestation verification against the referenced policy.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// Proves `image` against the policy, or says why not.
    async fn verify(
        &self,
        namespace: &str,
        policy: &PolicyRef,
        image: &SourceImage,
    ) -> Result<Evidence, StepError>;
}

/// The forge's view of the promotion's pull request.
#[async_trait]
pub trait PullRequests: Send + Sync {
    /// Opens (or adopts) the pull request for the promotion branch, with the evidence report.
    async fn open(
        &self,
        p: &PromotionRef,
        branch: &str,
        head_sha: &str,
        images: &[(SourceImage, Evidence)],
        diff: Option<&str>,
    ) -> Result<PullRequestRef, StepError>;
    /// Current state of the pull request.
    async fn state(
        &self,
        p: &PromotionRef,
        pr: &PullRequestRef,
    ) -> Result<PullRequestRef, StepError>;
}

use crate::clock::Clock;

/// `clock`'s wall-clock time (whole seconds, as Kubernetes stores timestamps).
pub fn wall_clock(clock: &dyn Clock) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(clock.unix_now()).unwrap_or(0))
}
