//! Fetching cosign's artifacts: the `sha256-<hex>.sig` and `sha256-<hex>.att` tags of the
//! image's repository. One manifest request per tag, one blob request per layer; nothing else
//! (the image manifest itself is never needed: the signatures are about its digest).

use crate::error::VerifyError;
use crate::reference::ImageRef;
use crate::registry::RegistryClient;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `.sig` layers.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// `.att` layers.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The signature annotation (base64; empty on attestation layers).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The Fulcio certificate annotation (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The certificate chain annotation (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor bundle annotation (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Size and count caps for hostile registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest signature or attestation layer accepted, in bytes.
    pub max_layer_bytes: u64,
    /// Most layers read from one `.sig` or `.att` manifest.
    pub max_layers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 256 * 1024,
            max_layer_bytes: 4 * 1024 * 1024,
            max_layers: 32,
        }
    }
}

/// One layer of a cosign artifact, with the annotations of its descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignLayer {
    /// The descriptor's media type.
    pub media_type: String,
    /// The descriptor's digest (checked against the bytes).
    pub digest: String,
    /// The descriptor's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The layer's bytes.
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Which cosign tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `sha256-<hex>.sig`
    Signatures,
    /// `sha256-<hex>.att`
    Attestations,
}

impl ArtifactKind {
    fn suffix(self) -> &'static str {
        match self {
            Self::Signatures => "sig",
            Self::Attestations => "att",
        }
    }
}

/// The cosign tag for `image`'s digest.
pub fn cosign_tag(image: &ImageRef, kind: ArtifactKind) -> String {
    format!("sha256-{}.{}", image.digest_hex(), kind.suffix())
}

/// Fetches the layers of `image`'s `.sig` or `.att` artifact; `Ok(None)` when the tag does not
/// exist.
pub(crate) async fn fetch_artifact(
    client: &RegistryClient,
    image: &ImageRef,
    kind: ArtifactKind,
    limits: Limits,
) -> Result<Option<Vec<CosignLayer>>, VerifyError> {
    let tag = cosign_tag(image, kind);
    let host = image.api_host();
    let Some(bytes) = client
        .manifest(host, &image.repository, &tag, limits.max_manifest_bytes)
        .await?
    else {
        return Ok(None);
    };
    let what = format!("manifest {}:{tag}", image.repository);
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::malformed(&what, format!("not an image manifest: {e}")))?;
    if manifest.schema_version != 2 || manifest.manifests.is_some() {
        return Err(VerifyError::malformed(
            &what,
            "expected an image manifest (schemaVersion 2)",
        ));
    }
    if manifest.layers.len() > limits.max_layers {
        return Err(VerifyError::malformed(
            &what,
            format!("more than {} layers", limits.max_layers),
        ));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for d in manifest.layers {
        let expected = match kind {
            ArtifactKind::Signatures => SIMPLE_SIGNING_MEDIA_TYPE,
            ArtifactKind::Attestations => DSSE_MEDIA_TYPE,
        };
        if d.media_type != expected {
            // Not a cosign layer (cosign ignores them too); never downloaded.
            continue;
        }
        if crate::reference::validate_digest(&d.digest).is_err() {
            return Err(VerifyError::malformed(
                &what,
                format!("layer digest {:?} is not sha256", d.digest),
            ));
        }
        if d.size < 0 || d.size as u64 > limits.max_layer_bytes {
            return Err(VerifyError::ArtifactTooLarge {
                artifact: format!("layer {}", d.digest),
                limit: limits.max_layer_bytes,
            });
        }
        let data = client
            .blob(host, &image.repository, &d.digest, limits.max_layer_bytes)
            .await?;
        layers.push(CosignLayer {
            media_type: d.media_type,
            digest: d.digest,
            annotations: d.annotations,
            data,
        });
    }
    Ok(Some(layers))
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    artifact_type: Option<String>,
}

/// Sigstore bundles attached to `image` as OCI referrers, converted to attestation layers.
/// Empty when the registry has no referrers API (CNCF distribution 2.8 answers 404).
pub(crate) async fn fetch_referrer_bundles(
    client: &RegistryClient,
    image: &ImageRef,
    limits: Limits,
) -> Result<Vec<CosignLayer>, VerifyError> {
    let host = image.api_host();
    let Some(bytes) = client
        .referrers(
            host,
            &image.repository,
            &image.digest,
            limits.max_manifest_bytes,
        )
        .await?
    else {
        return Ok(Vec::new());
    };
    let what = format!("referrers of {image}");
    let index: Index = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::malformed(&what, format!("not an image index: {e}")))?;
    let mut bundles = Vec::new();
    // ghcr.io lists bundles with an empty artifactType; anything else that is not a bundle is
    // skipped without a request.
    let candidates = index.manifests.into_iter().filter(|m| {
        m.artifact_type.as_deref().is_none_or(|t| {
            t.contains("sigstore.bundle") || t == "application/vnd.oci.empty.v1+json"
        })
    });
    for entry in candidates.take(limits.max_layers) {
        if crate::reference::validate_digest(&entry.digest).is_err() {
            continue;
        }
        let Some(manifest) = client
            .manifest(
                host,
                &image.repository,
                &entry.digest,
                limits.max_manifest_bytes,
            )
            .await?
        else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&manifest) else {
            continue;
        };
        for d in manifest
            .layers
            .into_iter()
            .filter(|d| d.media_type.contains("sigstore.bundle"))
        {
            if d.size < 0 || d.size as u64 > limits.max_layer_bytes {
                return Err(VerifyError::ArtifactTooLarge {
                    artifact: format!("bundle {}", d.digest),
                    limit: limits.max_layer_bytes,
                });
            }
            let data = client
                .blob(host, &image.repository, &d.digest, limits.max_layer_bytes)
                .await?;
            bundles.push(crate::bundle::bundle_to_layer(&data)?);
        }
    }
    Ok(bundles)
}
