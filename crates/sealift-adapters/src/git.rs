//! [`Repo`] over `sealift-gitops`: the persistent repository cache, the lossless kustomize edit and
//! the in-memory commit, run on a blocking thread (libgit2 is synchronous).

use crate::SecretSource;
use async_trait::async_trait;
use sealift_api::CommitRef;
use sealift_api::conditions::reasons;
use sealift_core::{CommitResult, PromotionRef, Repo, SourceImage, StepError};
use sealift_gitops::commit::PromotedDigest;
use sealift_gitops::kustomize::PinnedImage;
use sealift_gitops::overlay::{overlay_diff, plan_target, resolve_source};
use sealift_gitops::{
    CommitMeta, GitCredentials, GitError, Identity, PushOutcome, PushRequest, PushTarget,
    RepoCache, RetryPolicy, SigningKey, Snapshot, commit_and_push, commit_message,
    promotion_branch,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Git through the repository cache.
#[derive(Clone)]
pub struct GitRepo {
    cache: RepoCache,
    identity: Identity,
    retry: RetryPolicy,
    secrets: Arc<dyn SecretSource>,
    deadline: Duration,
}

impl GitRepo {
    /// Commits as `identity`, caching clones under `cache`, credentials from `secrets`.
    pub fn new(cache: RepoCache, identity: Identity, secrets: Arc<dyn SecretSource>) -> GitRepo {
        GitRepo {
            cache,
            identity,
            retry: RetryPolicy::default(),
            secrets,
            deadline: Duration::from_secs(120),
        }
    }

    /// Overrides how long one git step (fetch, or commit + push with its retries) may take.
    pub fn with_deadline(mut self, deadline: Duration) -> GitRepo {
        self.deadline = deadline;
        self
    }

    /// Overrides the push retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> GitRepo {
        self.retry = retry;
        self
    }

    async fn credentials(&self, p: &PromotionRef) -> Result<GitCredentials, StepError> {
        Ok(self.secret(p).await?.0)
    }

    /// The repository Secret's credentials and commit signing key (`signingKey`), if any.
    async fn secret(
        &self,
        p: &PromotionRef,
    ) -> Result<(GitCredentials, Option<SigningKey>), StepError> {
        match &p.spec.repository.secret_ref {
            None => Ok((GitCredentials::Anonymous, None)),
            Some(r) => {
                let data = self.secrets.secret(&p.namespace, &r.name).await?;
                let named = |e: GitError| StepError::Rejected {
                    reason: reasons::INVALID_SECRET,
                    message: format!("Secret {}: {e}", r.name),
                };
                let creds = GitCredentials::from_secret_data(&data).map_err(named)?;
                let key = SigningKey::from_secret_data(&data).map_err(named)?;
                Ok((creds, key))
            }
        }
    }
}

/// Gives a git failure its engine meaning, variant by variant (a new variant must be decided
/// here): a wrong request is Rejected (terminal, nothing written); a broken server or network is
/// a Failed step, retried while [`GitError::is_transient`] says so.
pub fn to_step(e: &GitError) -> StepError {
    use sealift_gitops::kustomize::KustomizeError as K;
    let message = e.to_string();
    let rejected = |reason: &'static str| StepError::Rejected {
        reason,
        message: message.clone(),
    };
    let failed = |reason: &'static str| StepError::Failed {
        reason,
        message: message.clone(),
        transient: e.is_transient(),
    };
    match e {
        GitError::OverlayNotFound { .. } | GitError::KustomizationNotFound { .. } => {
            rejected(reasons::OVERLAY_NOT_FOUND)
        }
        GitError::Kustomize(k) => match k {
            K::NotPinnedByDigest { .. } => rejected(reasons::IMAGE_NOT_PINNED),
            K::ImageNotListed { .. } => rejected(reasons::IMAGE_NOT_IN_OVERLAY),
            K::NotFound { .. } => rejected(reasons::OVERLAY_NOT_FOUND),
            K::LimitExceeded { .. } => rejected(reasons::KUSTOMIZATION_LIMIT_EXCEEDED),
            // Our own edit failed its self-check: never write it, and say so loudly.
            K::SelfCheckFailed { .. } => failed(reasons::EDIT_SELF_CHECK_FAILED),
            K::Malformed { .. }
            | K::DuplicateImage { .. }
            | K::InvalidDigest { .. }
            | K::InvalidPinnedDigest { .. }
            | K::InvalidImageName { .. }
            | K::Unsupported { .. }
            | K::MultipleFiles { .. } => rejected(reasons::MALFORMED_KUSTOMIZATION),
        },
        GitError::NotText { .. } => rejected(reasons::MALFORMED_KUSTOMIZATION),
        GitError::PathEscape { .. } | GitError::BranchNotFound { .. } => {
            rejected(reasons::INVALID_SPEC)
        }
        GitError::InvalidCredentials(_) => rejected(reasons::INVALID_SECRET),
        GitError::AuthFailed { .. }
        | GitError::Rejected { .. }
        | GitError::RetriesExhausted { .. } => failed(reasons::PUSH_FAILED),
        GitError::Transport { .. } => failed(reasons::TRANSPORT_ERROR),
        GitError::Cache { .. } => failed(reasons::CACHE_ERROR),
        GitError::Git(_) => failed(reasons::GIT_ERROR),
    }
}

/// Runs libgit2 work on a blocking thread with a deadline: git2 has no per-operation timeout, so a
/// server that stops answering would otherwise hold the step forever. On expiry the step fails
/// transiently and is retried; the abandoned thread finishes on its own (the commit is
/// deterministic, so a late push and the retry's push are the same commit).
async fn bounded<T: Send + 'static>(
    deadline: Duration,
    work: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(work)).await {
        Ok(joined) => joined.map_err(blocking_failure)?,
        Err(_) => Err(StepError::Failed {
            reason: reasons::GIT_TIMEOUT,
            message: format!("git did not finish within {}s", deadline.as_secs()),
            transient: true,
        }),
    }
}

fn blocking_failure(e: tokio::task::JoinError) -> StepError {
    StepError::Failed {
        reason: reasons::INTERNAL_ERROR,
        message: e.to_string(),
        transient: true,
    }
}

#[async_trait]
impl Repo for GitRepo {
    #[tracing::instrument(name = "repo.resolve", skip_all, fields(promotion = %p.key()))]
    async fn resolve(&self, p: &PromotionRef) -> Result<Vec<SourceImage>, StepError> {
        let creds = self.credentials(p).await?;
        let (cache, p) = (self.cache.clone(), p.clone());
        bounded(
            self.deadline,
            move || -> Result<Vec<SourceImage>, StepError> {
                let mut cached = cache
                    .open(&p.spec.repository.url)
                    .map_err(|e| to_step(&e))?;
                let branch = &p.spec.repository.branch;
                let base = cached
                    .fetch_branch(branch, &creds)
                    .map_err(|e| to_step(&e))?;
                let snap = Snapshot {
                    repo: cached.repository(),
                    base,
                    branch,
                };
                let names: Vec<&str> = p.spec.images.iter().map(|s| s.name()).collect();
                let pinned =
                    resolve_source(&snap, &p.spec.from, &names).map_err(|e| to_step(&e))?;
                // `name@sha256:…` selectors assert what the source must pin: promote only what was meant.
                for selector in &p.spec.images {
                    if let Some(expected) = selector.expected_digest() {
                        let found = pinned.iter().find(|i| i.name == selector.name());
                        if let Some(found) = found.filter(|f| f.digest != expected) {
                            return Err(StepError::Rejected {
                                reason: reasons::DIGEST_MISMATCH,
                                message: format!(
                                    "{} pins {}@{}, but the Promotion asks for {expected}",
                                    p.spec.from, found.name, found.digest
                                ),
                            });
                        }
                    }
                }
                Ok(pinned
                    .into_iter()
                    .map(|i| SourceImage {
                        name: i.name,
                        reference: i.reference,
                        digest: i.digest,
                    })
                    .collect())
            },
        )
        .await
    }

    #[tracing::instrument(name = "repo.commit", skip_all, fields(promotion = %p.key()))]
    async fn commit(
        &self,
        p: &PromotionRef,
        images: &[SourceImage],
        started_at: SystemTime,
    ) -> Result<CommitResult, StepError> {
        let (creds, signing_key) = self.secret(p).await?;
        let (cache, identity, retry, p) = (
            self.cache.clone(),
            self.identity.clone(),
            self.retry.clone(),
            p.clone(),
        );
        let pinned: Vec<PinnedImage> = images
            .iter()
            .map(|i| PinnedImage {
                name: i.name.clone(),
                reference: i.reference.clone(),
                digest: i.digest.clone(),
            })
            .collect();
        bounded(self.deadline, move || -> Result<CommitResult, StepError> {
            let policy = match p.spec.policy_ref.kind {
                sealift_api::PolicyKind::TrustPolicy => {
                    format!("TrustPolicy/{}/{}", p.namespace, p.spec.policy_ref.name)
                }
                sealift_api::PolicyKind::ClusterTrustPolicy => {
                    format!("ClusterTrustPolicy/{}", p.spec.policy_ref.name)
                }
            };
            let digests: Vec<PromotedDigest> = pinned
                .iter()
                .map(|i| PromotedDigest {
                    name: i.name.clone(),
                    digest: i.digest.clone(),
                })
                .collect();
            let time = started_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
                .unwrap_or(0);
            let target = if p.spec.push.is_some() {
                PushTarget::Base
            } else {
                PushTarget::PromotionBranch(promotion_branch(&p.namespace, &p.name))
            };
            let req = PushRequest {
                base_branch: &p.spec.repository.branch,
                target,
                credentials: &creds,
                meta: CommitMeta {
                    identity,
                    time,
                    message: commit_message(&p.key(), &p.spec.from, &p.spec.to, &digests, &policy),
                    signing_key,
                },
                retry,
            };
            let mut cached = cache
                .open(&p.spec.repository.url)
                .map_err(|e| to_step(&e))?;
            let to = p.spec.to.clone();
            let out = commit_and_push(&mut cached, &req, &mut |snap| {
                plan_target(snap, &to, &pinned)
            })
            .map_err(|e| to_step(&e))?;
            Ok(match out {
                PushOutcome::UpToDate { .. } => CommitResult::UpToDate,
                PushOutcome::Pushed { commit, branch, .. } => CommitResult::Pushed {
                    sha: commit.to_string(),
                    branch,
                },
            })
        })
        .await
    }

    #[tracing::instrument(name = "repo.diff", skip_all, fields(promotion = %p.key()))]
    async fn diff(&self, p: &PromotionRef, commit: &CommitRef) -> Result<String, StepError> {
        let (cache, p, commit) = (self.cache.clone(), p.clone(), commit.clone());
        let creds = self.credentials(&p).await?;
        bounded(self.deadline, move || -> Result<String, StepError> {
            let mut cached = cache
                .open(&p.spec.repository.url)
                .map_err(|e| to_step(&e))?;
            // Usually still in the cache that made it; after a restart elsewhere, fetch its branch.
            if !cached.has_commit(&commit.sha) {
                cached
                    .fetch_branch(&commit.branch, &creds)
                    .map_err(|e| to_step(&e))?;
            }
            overlay_diff(cached.repository(), &commit.sha, &p.spec.to).map_err(|e| to_step(&e))
        })
        .await
    }
}
