//! [`PullRequests`](sealift_core::PullRequests) over `sealift-forge`: the forge named by the
//! Promotion's `spec.pullRequest`, credentials from its Secret, one client per (forge, repository,
//! credential) kept for the process so GitHub App tokens and rate budgets are shared.

use crate::SecretSource;
use async_trait::async_trait;
use sealift_api::conditions::reasons;
use sealift_api::{Evidence, PromotedImage, PullRequestRef};
use sealift_core::{PromotionRef, PullRequests, SourceImage, StepError};
use sealift_forge::body::{self, Report};
use sealift_forge::{
    CommitState, CommitStatus, Credentials, Forge, ForgeConfig, ForgeError, RateGovernor,
    RequestObserver, VERIFIED_CONTEXT,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Pull requests through the forge API.
#[derive(Clone)]
pub struct ForgePullRequests {
    secrets: Arc<dyn SecretSource>,
    governor: Arc<RateGovernor>,
    observer: Option<Arc<dyn RequestObserver>>,
    clients: Arc<Mutex<HashMap<String, Arc<dyn Forge>>>>,
}

impl ForgePullRequests {
    /// Reads forge tokens through `secrets`; one rate governor for the whole process.
    pub fn new(secrets: Arc<dyn SecretSource>) -> ForgePullRequests {
        ForgePullRequests {
            secrets,
            governor: Arc::new(RateGovernor::default()),
            observer: None,
            clients: Arc::default(),
        }
    }

    /// Spends `governor`'s per-host request budgets instead of the default one (a burst of 120,
    /// then one a second, for every host).
    pub fn with_governor(mut self, governor: Arc<RateGovernor>) -> ForgePullRequests {
        self.governor = governor;
        self
    }

    /// Reports every forge request (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> ForgePullRequests {
        self.observer = Some(observer);
        self
    }

    async fn forge(&self, p: &PromotionRef) -> Result<Arc<dyn Forge>, StepError> {
        let Some(spec) = &p.spec.pull_request else {
            return Err(StepError::Rejected {
                reason: reasons::INVALID_SPEC,
                message: "spec.pullRequest is not set".into(),
            });
        };
        let data = self
            .secrets
            .secret(&p.namespace, &spec.secret_ref.name)
            .await?;
        // The cache key carries a digest of the credential, so a rotated Secret gets a new client.
        let mut h = Sha256::new();
        for (k, v) in &data {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v);
            h.update([0]);
        }
        let key = format!(
            "{}\n{}\n{:?}\n{:?}\n{}",
            p.namespace,
            p.spec.repository.url,
            spec.api_url,
            spec.provider,
            hex::encode(h.finalize())
        );
        if let Some(forge) = self.lock().get(&key) {
            return Ok(forge.clone());
        }
        let credentials =
            Credentials::from_secret_data(&data).map_err(|e| StepError::Rejected {
                reason: reasons::INVALID_SECRET,
                message: format!("Secret {}: {e}", spec.secret_ref.name),
            })?;
        let mut config = ForgeConfig::from_spec(spec, &p.spec.repository.url, credentials)
            .map_err(|e| to_step(&e))?
            .with_governor(self.governor.clone());
        if let Some(o) = &self.observer {
            config = config.with_observer(o.clone());
        }
        let forge = sealift_forge::connect(config).map_err(|e| to_step(&e))?;
        self.lock().insert(key, forge.clone());
        Ok(forge)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn Forge>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Gives a forge failure its engine meaning. Nothing a forge says is a policy rejection: bad
/// credentials or configuration fail the promotion (after retries when the forge may recover).
pub fn to_step(e: &ForgeError) -> StepError {
    StepError::Failed {
        reason: reasons::FORGE_ERROR,
        message: format!("{} ({})", e, e.category()),
        transient: e.is_transient(),
    }
}

#[async_trait]
impl PullRequests for ForgePullRequests {
    #[tracing::instrument(name = "pull_requests.open", skip_all, fields(promotion = %p.key()))]
    async fn open(
        &self,
        p: &PromotionRef,
        branch: &str,
        head_sha: &str,
        images: &[(SourceImage, Evidence)],
        diff: Option<&str>,
    ) -> Result<PullRequestRef, StepError> {
        let forge = self.forge(p).await?;
        let Some(spec) = &p.spec.pull_request else {
            return Err(StepError::Rejected {
                reason: reasons::INVALID_SPEC,
                message: "spec.pullRequest is not set".into(),
            });
        };
        // The status first: branch protection can require it before anyone looks at the PR.
        let status = CommitStatus {
            state: CommitState::Success,
            context: VERIFIED_CONTEXT.to_owned(),
            description: format!(
                "{} image(s) verified against {:?} {}",
                images.len(),
                p.spec.policy_ref.kind,
                p.spec.policy_ref.name
            ),
            target_url: None,
        };
        forge
            .set_status(head_sha, &status)
            .await
            .map_err(|e| to_step(&e))?;
        let promoted: Vec<PromotedImage> = images
            .iter()
            .map(|(i, e)| PromotedImage {
                name: i.name.clone(),
                reference: Some(i.reference.clone()),
                digest: i.digest.clone(),
                evidence: Some(e.clone()),
            })
            .collect();
        let report = Report {
            namespace: &p.namespace,
            name: &p.name,
            from: &p.spec.from,
            to: &p.spec.to,
            images: &promoted,
            diff: diff.filter(|d| !d.is_empty()),
            commit: Some(head_sha),
        };
        let new = body::new_pull_request(
            &report,
            spec,
            branch,
            &p.spec.repository.branch,
            &forge.capabilities(),
        );
        let opened = forge.open(&new).await.map_err(|e| to_step(&e))?;
        for w in &opened.warnings {
            tracing::warn!(promotion = %p.key(), warning = %w, "pull request opened with a warning");
        }
        Ok(opened.pull_request.to_ref())
    }

    #[tracing::instrument(name = "pull_requests.state", skip_all, fields(promotion = %p.key(), pr = pr.number))]
    async fn state(
        &self,
        p: &PromotionRef,
        pr: &PullRequestRef,
    ) -> Result<PullRequestRef, StepError> {
        let forge = self.forge(p).await?;
        forge
            .get(pr.number)
            .await
            .map(|latest| latest.to_ref())
            .map_err(|e| to_step(&e))
    }
}
