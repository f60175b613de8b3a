//! The verification engine: fetch cosign's artifacts for a digest, decide with
//! [`evaluate`](crate::evaluate::evaluate), cache and coalesce.

use crate::cache::{Cache, CacheConfig, CacheKey, CacheStats};
use crate::error::VerifyError;
use crate::evaluate::{Artifacts, evaluate};
use crate::fetch::{ArtifactKind, Limits, fetch_artifact, fetch_referrer_bundles};
use crate::policy::CompiledPolicy;
use crate::reference::ImageRef;
use crate::registry::{RegistryClient, RegistryConfig, RequestCounts};
use sealift_api::Evidence;
use std::sync::Arc;
use tracing::Instrument as _;

/// Everything a [`Verifier`] needs to know.
#[derive(Clone, Debug, Default)]
pub struct VerifierConfig {
    /// How registries are reached.
    pub registry: RegistryConfig,
    /// Result caching.
    pub cache: CacheConfig,
    /// Caps on what registries may send.
    pub limits: Limits,
    /// Also look for Sigstore bundles through the OCI referrers API (one more request per
    /// verification, 404 on registries without it). Off by default.
    pub referrers: bool,
}

/// Verifies image digests against compiled trust policies. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    client: RegistryClient,
    cache: Cache,
    limits: Limits,
    referrers: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier (installs aws-lc-rs as the rustls provider if none is).
    pub fn new(config: VerifierConfig) -> Result<Verifier, VerifyError> {
        Ok(Verifier {
            inner: Arc::new(Inner {
                client: RegistryClient::new(config.registry)?,
                cache: Cache::new(config.cache),
                limits: config.limits,
                referrers: config.referrers,
            }),
        })
    }

    /// Verifies `image` (`registry/repository@sha256:<hex>`) against `policy`, using the cache.
    /// `Ok` carries the evidence; `Err` is a rejection or an error (see
    /// [`VerifyError::outcome`]).
    pub async fn verify(
        &self,
        image: &str,
        policy: &Arc<CompiledPolicy>,
    ) -> Result<Evidence, VerifyError> {
        let image = ImageRef::parse(image)?;
        self.verify_ref(&image, policy).await
    }

    /// [`Verifier::verify`] with a parsed reference.
    pub async fn verify_ref(
        &self,
        image: &ImageRef,
        policy: &Arc<CompiledPolicy>,
    ) -> Result<Evidence, VerifyError> {
        if !policy.applies_to(image) {
            return Err(VerifyError::NoMatchingPolicy {
                image: image.name(),
            });
        }
        let key = CacheKey {
            image: image.name(),
            digest: image.digest.clone(),
            policy_uid: policy.meta().uid.clone(),
            policy_generation: policy.meta().generation,
            policy_fingerprint: policy.fingerprint().to_owned(),
        };
        let this = self.clone();
        let image = image.clone();
        let policy = policy.clone();
        self.inner
            .cache
            .get_or_verify(key, move || async move {
                this.verify_uncached(&image, &policy).await
            })
            .await
    }

    /// Verifies without reading or writing the cache.
    pub async fn verify_uncached(
        &self,
        image: &ImageRef,
        policy: &CompiledPolicy,
    ) -> Result<Evidence, VerifyError> {
        let span = tracing::info_span!(
            "verify",
            image = %image,
            policy = %policy.meta().name,
            generation = policy.meta().generation
        );
        async {
            if !policy.applies_to(image) {
                return Err(VerifyError::NoMatchingPolicy {
                    image: image.name(),
                });
            }
            let limits = self.inner.limits;
            let client = &self.inner.client;
            let signatures = fetch_artifact(client, image, ArtifactKind::Signatures, limits);
            let attestations = async {
                if policy.requires_attestations() {
                    fetch_artifact(client, image, ArtifactKind::Attestations, limits).await
                } else {
                    Ok(None)
                }
            };
            let bundles = async {
                if self.inner.referrers {
                    fetch_referrer_bundles(client, image, limits).await
                } else {
                    Ok(Vec::new())
                }
            };
            let (signatures, attestations, bundles) =
                tokio::join!(signatures, attestations, bundles);
            let (signatures, attestations, bundles) = (signatures?, attestations?, bundles?);
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let artifacts = Artifacts {
                signatures,
                attestations,
                bundles,
            };
            let result = evaluate(policy, image, &artifacts, Some(now));
            match &result {
                Ok(e) => tracing::info!(
                    signatures = e.signatures.len(),
                    attestations = e.attestations.len(),
                    "verified"
                ),
                Err(e) => tracing::info!(reason = e.category(), error = %e, "not verified"),
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Registry requests made so far (for metrics and the request budget).
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.client.counts()
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }
}
