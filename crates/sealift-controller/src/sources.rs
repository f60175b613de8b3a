//! Where the controller's engine reads Secrets and trust policies: the Kubernetes API, one `get`
//! by name. Secrets are read only in the namespace the engine asks for (the Promotion's own, or
//! Sealift's for a ClusterTrustPolicy) and only by name: the RBAC grants `get`, never `list`.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use sealift_adapters::verify::{PolicySource, document};
use sealift_adapters::{SecretSource, secret_not_found};
use sealift_api::conditions::reasons;
use sealift_api::{ClusterTrustPolicy, PolicyKind, PolicyRef, TrustPolicy};
use sealift_core::StepError;
use std::collections::BTreeMap;

/// Secrets through the API server.
#[derive(Clone)]
pub struct KubeSecrets(pub Client);

fn api_failure(what: &str, e: &kube::Error) -> StepError {
    // Forbidden means RBAC or a wrong namespace: say so, it will not fix itself quickly.
    let forbidden = matches!(e, kube::Error::Api(s) if s.code == 403);
    StepError::Failed {
        reason: if forbidden {
            reasons::FORBIDDEN
        } else {
            reasons::KUBERNETES_API_ERROR
        },
        message: format!("reading {what}: {e}"),
        transient: true,
    }
}

#[async_trait]
impl SecretSource for KubeSecrets {
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
        let api: Api<Secret> = Api::namespaced(self.0.clone(), namespace);
        match api.get_opt(name).await {
            Ok(Some(secret)) => {
                let mut data: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                for (k, v) in secret.string_data.unwrap_or_default() {
                    data.entry(k).or_insert_with(|| v.into_bytes());
                }
                Ok(data)
            }
            Ok(None) => Err(secret_not_found(namespace, name)),
            Err(e) => Err(api_failure(&format!("Secret {namespace}/{name}"), &e)),
        }
    }
}

/// TrustPolicies and ClusterTrustPolicies through the API server.
#[derive(Clone)]
pub struct KubePolicies(pub Client);

#[async_trait]
impl PolicySource for KubePolicies {
    async fn policy(
        &self,
        namespace: &str,
        policy: &PolicyRef,
    ) -> Result<Option<sealift_verify::PolicyDocument>, StepError> {
        match policy.kind {
            PolicyKind::TrustPolicy => {
                let api: Api<TrustPolicy> = Api::namespaced(self.0.clone(), namespace);
                let found = api.get_opt(&policy.name).await.map_err(|e| {
                    api_failure(&format!("TrustPolicy {namespace}/{}", policy.name), &e)
                })?;
                Ok(found.map(|p| {
                    document(
                        sealift_verify::PolicyKind::TrustPolicy,
                        Some(namespace.to_owned()),
                        &p.name_any(),
                        &p.uid().unwrap_or_default(),
                        p.metadata.generation.unwrap_or_default(),
                        p.spec,
                    )
                }))
            }
            PolicyKind::ClusterTrustPolicy => {
                let api: Api<ClusterTrustPolicy> = Api::all(self.0.clone());
                let found = api
                    .get_opt(&policy.name)
                    .await
                    .map_err(|e| api_failure(&format!("ClusterTrustPolicy {}", policy.name), &e))?;
                Ok(found.map(|p| {
                    document(
                        sealift_verify::PolicyKind::ClusterTrustPolicy,
                        None,
                        &p.name_any(),
                        &p.uid().unwrap_or_default(),
                        p.metadata.generation.unwrap_or_default(),
                        p.spec.0,
                    )
                }))
            }
        }
    }
}
