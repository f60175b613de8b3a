//! [`Verifier`](sealift_core::Verifier) over `sealift-verify`: look up the referenced
//! `TrustPolicy` / `ClusterTrustPolicy`, read the Secrets it names, compile it and prove the
//! digest. Front ends supply where policies and Secrets come from: the controller reads the
//! cluster, the CLI reads files.

use crate::SecretSource;
use async_trait::async_trait;
use sealift_api::conditions::reasons;
use sealift_api::{Evidence, PolicyRef, TrustPolicySpec};
use sealift_core::{SourceImage, StepError, Verifier};
use sealift_verify::{
    CompiledPolicy, PolicyDocument, PolicyKind, PolicyMeta, TrustedRoot, VerifyError,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where trust policies come from.
#[async_trait]
pub trait PolicySource: Send + Sync {
    /// The policy `policy` names, as seen from a Promotion in `namespace` (a `TrustPolicy` lives in
    /// that namespace; a `ClusterTrustPolicy` has none). `Ok(None)`: it does not exist.
    async fn policy(
        &self,
        namespace: &str,
        policy: &PolicyRef,
    ) -> Result<Option<PolicyDocument>, StepError>;
}

/// Policies held in memory (the CLI's `--policy` files, tests).
#[derive(Clone, Debug, Default)]
pub struct StaticPolicies(pub Vec<PolicyDocument>);

#[async_trait]
impl PolicySource for StaticPolicies {
    async fn policy(
        &self,
        namespace: &str,
        policy: &PolicyRef,
    ) -> Result<Option<PolicyDocument>, StepError> {
        let kind = kind_of(policy);
        Ok(self
            .0
            .iter()
            .find(|d| {
                d.meta.kind == kind
                    && d.meta.name == policy.name
                    && (kind == PolicyKind::ClusterTrustPolicy
                        || d.meta.namespace.as_deref().unwrap_or(namespace) == namespace)
            })
            .cloned())
    }
}

/// The verifier port: policy lookup, Secret reading, compilation, verification (cached by
/// `sealift-verify` under the policy's uid, generation and fingerprint).
#[derive(Clone)]
pub struct PolicyVerifier {
    verifier: sealift_verify::Verifier,
    policies: Arc<dyn PolicySource>,
    secrets: Arc<dyn SecretSource>,
    default_root: Option<Arc<TrustedRoot>>,
    own_namespace: String,
}

impl PolicyVerifier {
    /// Verifies with `verifier`; `own_namespace` is where a ClusterTrustPolicy's Secrets live
    /// (the namespace Sealift runs in); `default_root` is the operator's Sigstore trust root.
    pub fn new(
        verifier: sealift_verify::Verifier,
        policies: Arc<dyn PolicySource>,
        secrets: Arc<dyn SecretSource>,
        default_root: Option<Arc<TrustedRoot>>,
        own_namespace: impl Into<String>,
    ) -> PolicyVerifier {
        PolicyVerifier {
            verifier,
            policies,
            secrets,
            default_root,
            own_namespace: own_namespace.into(),
        }
    }

    /// The underlying verifier (request counts, cache statistics).
    pub fn inner(&self) -> &sealift_verify::Verifier {
        &self.verifier
    }

    async fn compile(
        &self,
        namespace: &str,
        policy: &PolicyRef,
    ) -> Result<Arc<CompiledPolicy>, StepError> {
        let Some(doc) = self.policies.policy(namespace, policy).await? else {
            // Often an ordering matter (the policy is applied with the Promotion): retried with
            // backoff, then Failed. Never verified without a policy.
            return Err(StepError::Failed {
                reason: reasons::POLICY_NOT_FOUND,
                message: format!(
                    "{} {} not found",
                    kind_of(policy).as_str(),
                    describe(namespace, policy)
                ),
                transient: true,
            });
        };
        let secret_ns = match doc.meta.kind {
            PolicyKind::TrustPolicy => doc
                .meta
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_owned()),
            PolicyKind::ClusterTrustPolicy => self.own_namespace.clone(),
        };
        let mut data: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
        for name in secret_names(&doc.spec) {
            match self.secrets.secret(&secret_ns, &name).await {
                Ok(secret) => {
                    for (key, value) in secret {
                        data.insert((name.clone(), key), value);
                    }
                }
                // A missing Secret is reported by compilation, naming the field that needs it.
                Err(StepError::Failed { reason, .. } | StepError::Rejected { reason, .. })
                    if reason == reasons::SECRET_NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
        CompiledPolicy::compile(
            doc.meta.clone(),
            &doc.spec,
            &data,
            self.default_root.clone(),
        )
        .map(Arc::new)
        .map_err(|e| to_step(&e))
    }
}

fn describe(namespace: &str, policy: &PolicyRef) -> String {
    match kind_of(policy) {
        PolicyKind::TrustPolicy => format!("{namespace}/{}", policy.name),
        PolicyKind::ClusterTrustPolicy => policy.name.clone(),
    }
}

fn kind_of(policy: &PolicyRef) -> PolicyKind {
    match policy.kind {
        sealift_api::PolicyKind::TrustPolicy => PolicyKind::TrustPolicy,
        sealift_api::PolicyKind::ClusterTrustPolicy => PolicyKind::ClusterTrustPolicy,
    }
}

/// The Secrets a policy reads (key authorities and keyless trust roots), each once.
pub fn secret_names(spec: &TrustPolicySpec) -> Vec<String> {
    let mut names: Vec<String> = spec
        .authorities
        .iter()
        .flat_map(|a| {
            let key = a.key.as_ref().and_then(|k| k.secret_ref.as_ref());
            let root = a
                .keyless
                .as_ref()
                .and_then(|k| k.trust_root.as_ref())
                .and_then(|r| r.secret_ref.as_ref());
            key.into_iter().chain(root).map(|s| s.name.clone())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Gives a verification failure its engine meaning: the artifact failing policy is Rejected
/// (terminal, nothing written); an invalid policy is Failed (a human must fix it); an unreachable
/// or failing registry is a transient failure.
pub fn to_step(e: &VerifyError) -> StepError {
    let message = e.to_string();
    if e.is_rejection() {
        StepError::Rejected {
            reason: e.category(),
            message,
        }
    } else {
        StepError::Failed {
            reason: e.category(),
            message,
            transient: e.is_transient(),
        }
    }
}

#[async_trait]
impl Verifier for PolicyVerifier {
    #[tracing::instrument(name = "verifier.verify", skip_all, fields(namespace = %namespace, policy = %policy.name, digest = %image.digest))]
    async fn verify(
        &self,
        namespace: &str,
        policy: &PolicyRef,
        image: &SourceImage,
    ) -> Result<Evidence, StepError> {
        let compiled = self.compile(namespace, policy).await?;
        let reference = format!("{}@{}", image.reference, image.digest);
        self.verifier
            .verify(&reference, &compiled)
            .await
            .map_err(|e| to_step(&e))
    }
}

/// A policy document for `spec` with the given identity (what the controller builds from a
/// `TrustPolicy` / `ClusterTrustPolicy` object).
pub fn document(
    kind: PolicyKind,
    namespace: Option<String>,
    name: &str,
    uid: &str,
    generation: i64,
    spec: TrustPolicySpec,
) -> PolicyDocument {
    PolicyDocument {
        meta: PolicyMeta {
            kind,
            namespace,
            name: name.to_owned(),
            uid: uid.to_owned(),
            generation,
        },
        spec,
    }
}
