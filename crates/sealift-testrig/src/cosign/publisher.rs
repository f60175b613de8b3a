//! The high-level API: publish a signed and attested test image in one call, and the trust policy
//! that accepts it.

use super::artifacts::{
    EntryKind, Signer, att_layer, push_artifact, push_layers, sig_layer, simple_signing,
};
use super::keys::Key;
use super::now;
use super::rekor::{TestRekor, trusted_root_json};
use crate::image::{TestImage, push_test_image, registry_auth};
use crate::registry::Registry;
use anyhow::Result;
use sealift_api::{
    AttestationRequirement, Authority, ClusterTrustPolicy, ClusterTrustPolicySpec, ImageGlob,
    KeyAuthority, TransparencyLog, TrustPolicySpec,
};
use serde_json::{Value, json};

/// The tag [`Publisher::publish`] pushes under.
pub const DEFAULT_TAG: &str = "latest";

/// A CEL check for [`VULN`](super::VULN) attestations made by [`vuln_scan`]: no critical finding.
pub const NO_CRITICAL_VULNERABILITIES: &str = "predicate.scanner.result.summary.criticalCount == 0";

/// Publishes test images the way a CI pipeline with `cosign sign --key` and `cosign attest --key`
/// does: the image, its `.sig` (a simple-signing payload signed with an ECDSA P-256 key) and its
/// `.att` (one DSSE-enveloped in-toto statement per attestation, all layers of one manifest).
///
/// Without a transparency log (the default) the accepting policy needs
/// `transparencyLog: {required: false}` ([`Publisher::policy_spec`] says so). With
/// [`Publisher::with_rekor`] every signature and attestation also carries a Rekor bundle signed by
/// a test log, and [`Publisher::trusted_root_json`] is the trust root to verify them with (what
/// `sealift verify --trusted-root` takes).
#[derive(Debug)]
pub struct Publisher {
    key: Key,
    rekor: Option<(TestRekor, String)>,
}

/// An image [`Publisher`] pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// `host:port/repository` (no tag, no digest).
    pub repository: String,
    /// The tag the image was pushed under.
    pub tag: String,
    /// The image manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// `repository@digest`: what to verify and promote.
    pub reference: String,
    /// The image's bytes.
    pub image: TestImage,
}

impl Publisher {
    /// A publisher with a fresh key pair and no transparency log.
    pub fn new() -> Result<Publisher> {
        Ok(Publisher {
            key: Key::p256()?,
            rekor: None,
        })
    }

    /// A publisher with a fresh key pair whose signatures and attestations are logged in a test
    /// Rekor (`hashedrekord` and `dsse` entries, integrated now).
    pub fn with_rekor() -> Result<Publisher> {
        let rekor = TestRekor::new()?;
        let root = trusted_root_json(&[], &[&rekor])?;
        Ok(Publisher {
            key: Key::p256()?,
            rekor: Some((rekor, root)),
        })
    }

    /// The signing key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The public key (PEM), for a trust policy's key authority (`cosign.pub`).
    pub fn public_key_pem(&self) -> String {
        self.key.public_pem()
    }

    /// The test transparency log, when there is one.
    pub fn rekor(&self) -> Option<&TestRekor> {
        self.rekor.as_ref().map(|(r, _)| r)
    }

    /// `trusted_root.json` naming the test transparency log (no CAs), when there is one: the
    /// default trust root to verify with (`--trusted-root`).
    pub fn trusted_root_json(&self) -> Option<&str> {
        self.rekor.as_ref().map(|(_, root)| root.as_str())
    }

    /// A key authority trusting this publisher's key.
    pub fn authority(&self, name: &str) -> Authority {
        Authority {
            name: Some(name.to_owned()),
            key: Some(KeyAuthority {
                secret_ref: None,
                data: Some(self.public_key_pem()),
            }),
            keyless: None,
        }
    }

    /// A policy over `images` (globs) trusting only this publisher's key and requiring these
    /// attestations (predicate type, optional CEL check over `predicate`). The transparency log
    /// is required exactly when the publisher has one.
    pub fn policy_spec(
        &self,
        images: &[&str],
        attestations: &[(&str, Option<&str>)],
    ) -> TrustPolicySpec {
        TrustPolicySpec {
            images: images.iter().map(|g| ImageGlob((*g).to_owned())).collect(),
            authorities: vec![self.authority("publisher")],
            threshold: None,
            transparency_log: TransparencyLog {
                required: self.rekor.is_some(),
            },
            attestations: attestations
                .iter()
                .map(|(predicate_type, policy)| AttestationRequirement {
                    name: None,
                    predicate_type: (*predicate_type).to_owned(),
                    policy: policy.map(str::to_owned),
                })
                .collect(),
        }
    }

    /// [`Publisher::policy_spec`] as a `ClusterTrustPolicy` named `name`.
    pub fn cluster_policy(
        &self,
        name: &str,
        images: &[&str],
        attestations: &[(&str, Option<&str>)],
    ) -> ClusterTrustPolicy {
        ClusterTrustPolicy::new(
            name,
            ClusterTrustPolicySpec(self.policy_spec(images, attestations)),
        )
    }

    /// Pushes a deterministic test image whose only file holds `content` to
    /// `registry/repository:latest`, signs it, and attests it with each
    /// `(predicateType, predicate)`.
    pub async fn publish(
        &self,
        registry: &Registry,
        repository: &str,
        content: &str,
        attestations: &[(&str, Value)],
    ) -> Result<Published> {
        self.publish_tagged(registry, repository, DEFAULT_TAG, content, attestations)
            .await
    }

    /// [`Publisher::publish`] under `tag`.
    pub async fn publish_tagged(
        &self,
        registry: &Registry,
        repository: &str,
        tag: &str,
        content: &str,
        attestations: &[(&str, Value)],
    ) -> Result<Published> {
        let image = push_test_image(registry, repository, tag, content).await?;
        self.sign(registry, &image).await?;
        if !attestations.is_empty() {
            self.attest(registry, &image, attestations).await?;
        }
        Ok(published(image))
    }

    /// Pushes the same test image as [`Publisher::publish`], with no signature or attestation.
    pub async fn publish_unsigned(
        &self,
        registry: &Registry,
        repository: &str,
        content: &str,
    ) -> Result<Published> {
        let image = push_test_image(registry, repository, DEFAULT_TAG, content).await?;
        Ok(published(image))
    }

    /// Signs `image` as `cosign sign --key` does and pushes the `.sig` (replacing any earlier
    /// one).
    pub async fn sign(&self, registry: &Registry, image: &TestImage) -> Result<()> {
        let payload = simple_signing(&image.repository, &image.digest);
        let rekor = self.rekor().map(|r| (r, now()));
        let layer = sig_layer(&payload, &Signer::Key(&self.key), rekor)?;
        push_artifact(registry, image, "sig", &[layer]).await?;
        Ok(())
    }

    /// Attests `image` as `cosign attest --key` does, one layer per `(predicateType, predicate)`
    /// in one `.att` manifest (replacing any earlier one).
    pub async fn attest(
        &self,
        registry: &Registry,
        image: &TestImage,
        attestations: &[(&str, Value)],
    ) -> Result<()> {
        let signer = Signer::Key(&self.key);
        let mut layers = Vec::with_capacity(attestations.len());
        for (predicate_type, predicate) in attestations {
            let statement = super::statement(&image.digest, predicate_type, predicate);
            let rekor = self.rekor().map(|r| (r, now(), EntryKind::Dsse));
            layers.push(att_layer(&statement, predicate_type, &signer, rekor)?);
        }
        push_artifact(registry, image, "att", &layers).await?;
        Ok(())
    }
}

impl Publisher {
    /// Signs an image something else pushed (`make image`'s, by skopeo), by digest, as
    /// `cosign sign --key` does: the `.sig` of `registry/repository@digest` (replacing any earlier
    /// one). Returns the signature manifest's digest.
    pub async fn sign_digest(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &str,
    ) -> Result<String> {
        let image = format!("{}/{repository}", registry.host());
        let payload = simple_signing(&image, digest);
        let rekor = self.rekor().map(|r| (r, now()));
        let layer = sig_layer(&payload, &Signer::Key(&self.key), rekor)?;
        push_layers(
            &cosign_tag(&image, digest, "sig"),
            &registry_auth(registry),
            &[layer],
        )
        .await
    }

    /// Attests an image something else pushed, by digest, as `cosign attest --key` does: one
    /// layer per `(predicateType, predicate)` in the `.att` of `registry/repository@digest`
    /// (replacing any earlier one). Returns the attestation manifest's digest.
    pub async fn attest_digest(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &str,
        attestations: &[(&str, Value)],
    ) -> Result<String> {
        let image = format!("{}/{repository}", registry.host());
        let signer = Signer::Key(&self.key);
        let mut layers = Vec::with_capacity(attestations.len());
        for (predicate_type, predicate) in attestations {
            let statement = super::statement(digest, predicate_type, predicate);
            let rekor = self.rekor().map(|r| (r, now(), EntryKind::Dsse));
            layers.push(att_layer(&statement, predicate_type, &signer, rekor)?);
        }
        push_layers(
            &cosign_tag(&image, digest, "att"),
            &registry_auth(registry),
            &layers,
        )
        .await
    }
}

/// `image:sha256-<hex>.<suffix>`, where cosign keeps the signature (`sig`) or attestations
/// (`att`) of `image@digest`.
fn cosign_tag(image: &str, digest: &str, suffix: &str) -> String {
    format!(
        "{image}:sha256-{}.{suffix}",
        digest.trim_start_matches("sha256:")
    )
}

fn published(image: TestImage) -> Published {
    Published {
        repository: image.repository.clone(),
        tag: image.tag.clone(),
        digest: image.digest.clone(),
        reference: image.by_digest(),
        image,
    }
}

/// A SLSA v1 provenance predicate ([`SLSA_V1`](super::SLSA_V1)) for a GitHub Actions build of `repo_url` (e.g.
/// `https://github.com/acme/bookstore`) at `commit`, shaped as slsa-github-generator writes it.
/// [`slsa_repository_policy`] checks it.
pub fn slsa_provenance(repo_url: &str, commit: &str) -> Value {
    json!({"buildDefinition": {
            "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"ref": "refs/heads/main",
                "repository": repo_url, "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": [{"uri": format!("git+{repo_url}@refs/heads/main"),
                                      "digest": {"gitCommit": commit}}]},
           "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}})
}

/// The CEL check that a [`slsa_provenance`] predicate was built from `repo_url`.
pub fn slsa_repository_policy(repo_url: &str) -> String {
    format!("predicate.buildDefinition.externalParameters.workflow.repository == \"{repo_url}\"")
}

/// A vulnerability-scan predicate ([`VULN`](super::VULN)) as Trivy writes it through
/// `cosign attest --type vuln`, with `critical_count` critical findings.
/// [`NO_CRITICAL_VULNERABILITIES`] checks it.
pub fn vuln_scan(critical_count: u64) -> Value {
    json!({"invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
           "scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.50.0",
                       "result": {"summary": {"criticalCount": critical_count, "highCount": 0,
                                              "mediumCount": 0, "lowCount": 0}}},
           "metadata": {"scanStartedOn": "2024-01-01T00:00:00Z",
                        "scanFinishedOn": "2024-01-01T00:00:05Z"}})
}
