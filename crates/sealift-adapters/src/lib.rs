//! The real implementations of `sealift-core`'s ports over Sealift's libraries (git, verify,
//! forge), and [`wire`], the composition root that builds an [`Engine`] from them. The controller and the CLI differ only in where Secrets and
//! policies come from ([`SecretSource`], [`verify::PolicySource`]).

pub mod forge;
pub mod git;
pub mod observe;
pub mod verify;

use async_trait::async_trait;
use sealift_api::conditions::reasons;
use sealift_core::{Clock, PullRequests, Repo, StepError, SystemClock, Verifier};
use sealift_core::{Engine, Timing};
use sealift_gitops::{Identity, RepoCache};
use sealift_verify::{TrustedRoot, VerifierConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where Secret data comes from: the controller reads Kubernetes Secrets in the Promotion's own
/// namespace, the CLI reads a local directory. The data never leaves memory.
///
/// A Secret that does not exist is `Err(StepError::Failed { reason: SecretNotFound, transient:
/// true })`: it may be created after the Promotion.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The data of Secret `name` in `namespace`.
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StepError>;
}

/// The error a [`SecretSource`] returns for a missing Secret.
pub fn secret_not_found(namespace: &str, name: &str) -> StepError {
    let at = if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    };
    StepError::Failed {
        reason: reasons::SECRET_NOT_FOUND,
        message: format!("Secret {at} not found"),
        transient: true,
    }
}

/// Secrets as files, the layout of mounted Secrets: `DIR/<name>/<key>` (the namespace is ignored;
/// the CLI runs one promotion). Hidden entries (`..data` symlinks of a mounted Secret) are
/// skipped.
#[derive(Clone, Debug)]
pub struct DirSecrets(pub PathBuf);

#[async_trait]
impl SecretSource for DirSecrets {
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return Err(StepError::Rejected {
                reason: reasons::INVALID_SPEC,
                message: format!("invalid Secret name `{name}`"),
            });
        }
        let dir = self.0.join(name);
        let read = |e: std::io::Error| StepError::Failed {
            reason: reasons::SECRET_NOT_FOUND,
            message: format!("reading Secret {name}: {}", e.kind()),
            transient: false,
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(secret_not_found(namespace, name));
            }
            Err(e) => return Err(read(e)),
        };
        let mut data = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(read)?;
            let key = entry.file_name().to_string_lossy().into_owned();
            if key.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            data.insert(key, std::fs::read(entry.path()).map_err(read)?);
        }
        Ok(data)
    }
}

/// What [`wire`] needs besides Secrets and policies.
#[derive(Clone, Debug)]
pub struct Wiring {
    /// The repository cache directory.
    pub cache_dir: PathBuf,
    /// Author and committer of promotion commits.
    pub identity: Identity,
    /// Registries, verification cache and limits.
    pub verifier: VerifierConfig,
    /// The operator's default Sigstore trust root.
    pub trusted_root: Option<Arc<TrustedRoot>>,
    /// Where a ClusterTrustPolicy's Secrets live (Sealift's own namespace).
    pub own_namespace: String,
    /// Retry and polling timing.
    pub timing: Timing,
    /// The forge request budget: every API host's, and overrides for some hosts.
    pub forge_budgets: ForgeBudgets,
}

pub use sealift_forge::BudgetConfig;

/// Client-side forge request budgets (token buckets, one per API host).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ForgeBudgets {
    /// For every host without an override ([`BudgetConfig::default`]: a burst of 120, then one
    /// request a second, below GitHub's limits).
    pub default: BudgetConfig,
    /// Per API host (`host` or `host:port`, as in `spec.pullRequest.apiUrl`).
    pub hosts: std::collections::BTreeMap<String, BudgetConfig>,
}

impl ForgeBudgets {
    /// The process-wide governor spending these budgets.
    pub fn governor(&self) -> sealift_forge::RateGovernor {
        self.hosts.iter().fold(
            sealift_forge::RateGovernor::new(self.default),
            |g, (host, budget)| g.with_host_budget(host.clone(), *budget),
        )
    }
}

/// The ports [`wire`] built, for metrics.
#[derive(Clone)]
pub struct Wired {
    /// The engine.
    pub engine: Engine,
    /// Its verifier (registry request counts, cache statistics).
    pub verifier: verify::PolicyVerifier,
}

/// An [`Engine`] over the real git cache, verifier and forge clients.
pub fn wire(
    w: Wiring,
    secrets: Arc<dyn SecretSource>,
    policies: Arc<dyn verify::PolicySource>,
    forge_observer: Option<Arc<dyn sealift_forge::RequestObserver>>,
    port_observer: Option<Arc<dyn observe::PortObserver>>,
) -> Result<Wired, StepError> {
    let repo = git::GitRepo::new(RepoCache::new(w.cache_dir), w.identity, secrets.clone());
    let inner = sealift_verify::Verifier::new(w.verifier).map_err(|e| verify::to_step(&e))?;
    let verifier = verify::PolicyVerifier::new(
        inner,
        policies,
        secrets.clone(),
        w.trusted_root,
        w.own_namespace,
    );
    let mut prs =
        forge::ForgePullRequests::new(secrets).with_governor(Arc::new(w.forge_budgets.governor()));
    if let Some(o) = forge_observer {
        prs = prs.with_observer(o);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (repo, checker, prs): (Arc<dyn Repo>, Arc<dyn Verifier>, Arc<dyn PullRequests>) =
        match port_observer {
            Some(o) => (
                Arc::new(observe::Observed::new(Arc::new(repo), o.clone())),
                Arc::new(observe::Observed::new(
                    Arc::new(verifier.clone()),
                    o.clone(),
                )),
                Arc::new(observe::Observed::new(Arc::new(prs), o)),
            ),
            None => (Arc::new(repo), Arc::new(verifier.clone()), Arc::new(prs)),
        };
    let engine = Engine::new(repo, checker, prs, clock, w.timing);
    Ok(Wired { engine, verifier })
}

#[cfg(test)]
mod tests {
    use super::{BudgetConfig, ForgeBudgets};
    use sealift_forge::ManualClock;

    #[test]
    fn each_host_gets_its_own_budget_and_the_rest_the_default() {
        let budget = |capacity| BudgetConfig {
            capacity,
            ..BudgetConfig::default()
        };
        let budgets = ForgeBudgets {
            default: budget(7),
            hosts: [("gitlab.example.com:8443".to_owned(), budget(600))]
                .into_iter()
                .collect(),
        };
        let governor = budgets.governor();
        let clock = ManualClock::starting_at(1_790_000_000);
        assert_eq!(governor.available("gitlab.example.com:8443", &clock), 600.0);
        assert_eq!(governor.available("api.github.com", &clock), 7.0);
        assert_eq!(
            ForgeBudgets::default()
                .governor()
                .available("api.github.com", &clock),
            120.0
        );
    }
}
