//! cosign's `.sig` and `.att` artifacts: layers byte for byte as cosign writes them, pushed to the
//! `sha256-<hex>.sig` / `.att` tags (the scheme a registry without the referrers API serves).

use super::keys::Key;
use super::rekor::{TestRekor, dsse_entry, hashedrekord, intoto_entry};
use crate::image::{OCI_MANIFEST, TestImage, oci_client, registry_auth, sha256_digest};
use crate::registry::Registry;
use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The DSSE payload type of an in-toto statement.
const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Who signs a fixture: a key, or a key with a (Fulcio-style) certificate.
#[derive(Debug)]
pub enum Signer<'a> {
    /// Key-based signing (`cosign sign --key`).
    Key(&'a Key),
    /// Keyless signing: the key the certificate was issued for, and the certificate (PEM).
    Keyless {
        /// The ephemeral key.
        key: &'a Key,
        /// The leaf certificate (PEM).
        cert_pem: String,
    },
}

impl Signer<'_> {
    /// The signing key.
    pub fn key(&self) -> &Key {
        match self {
            Signer::Key(k) => k,
            Signer::Keyless { key, .. } => key,
        }
    }

    /// The PEM Rekor records: the public key, or the certificate.
    pub fn logged_pem(&self) -> String {
        match self {
            Signer::Key(k) => k.public_pem(),
            Signer::Keyless { cert_pem, .. } => cert_pem.clone(),
        }
    }
}

/// One layer of a cosign artifact.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The layer's media type.
    pub media_type: String,
    /// The blob.
    pub data: Vec<u8>,
    /// The descriptor's annotations (signature, certificate, bundle, predicate type).
    pub annotations: BTreeMap<String, String>,
}

/// cosign's simple-signing payload for `digest`, byte for byte as cosign writes it.
pub fn simple_signing(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{docker_reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// A `.sig` layer over `payload`; `rekor` adds a bundle logged at that integrated time.
pub fn sig_layer(
    payload: &[u8],
    signer: &Signer<'_>,
    rekor: Option<(&TestRekor, i64)>,
) -> Result<Layer> {
    let signature = signer.key().sign(payload)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".to_owned(),
        B64.encode(&signature),
    );
    if let Signer::Keyless { cert_pem, .. } = signer {
        annotations.insert(
            "dev.sigstore.cosign/certificate".to_owned(),
            cert_pem.clone(),
        );
    }
    if let Some((log, t)) = rekor {
        let body = hashedrekord(payload, &signature, &signer.logged_pem());
        annotations.insert(
            "dev.sigstore.cosign/bundle".to_owned(),
            log.bundle(&body, t)?,
        );
    }
    Ok(Layer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        data: payload.to_vec(),
        annotations,
    })
}

/// An in-toto statement about `digest` (`_type` v0.1, as cosign usually writes it).
pub fn statement(digest: &str, predicate_type: &str, predicate: &Value) -> Vec<u8> {
    json!({"_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "image", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicate": predicate})
    .to_string()
    .into_bytes()
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope of `statement` signed by `key`: the envelope bytes and the signature over its
/// PAE.
pub fn envelope(statement: &[u8], key: &Key) -> Result<(Vec<u8>, Vec<u8>)> {
    let sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement))?;
    let env = json!({"payloadType": IN_TOTO_PAYLOAD_TYPE, "payload": B64.encode(statement),
                     "signatures": [{"keyid": "", "sig": B64.encode(&sig)}]});
    Ok((env.to_string().into_bytes(), sig))
}

/// Which Rekor entry kind an attestation is logged as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `intoto` 0.0.1 (`cosign attest` ≤ 2.1).
    Intoto,
    /// `dsse` 0.0.1 (`cosign attest` ≥ 2.2).
    Dsse,
}

/// A `.att` layer for `statement`, as `cosign attest` pushes it.
pub fn att_layer(
    statement: &[u8],
    predicate_type: &str,
    signer: &Signer<'_>,
    rekor: Option<(&TestRekor, i64, EntryKind)>,
) -> Result<Layer> {
    let (env, sig) = envelope(statement, signer.key())?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".to_owned(),
        String::new(),
    );
    annotations.insert("predicateType".to_owned(), predicate_type.to_owned());
    if let Signer::Keyless { cert_pem, .. } = signer {
        annotations.insert(
            "dev.sigstore.cosign/certificate".to_owned(),
            cert_pem.clone(),
        );
    }
    if let Some((log, t, kind)) = rekor {
        let body = match kind {
            EntryKind::Intoto => intoto_entry(&env, statement, &signer.logged_pem()),
            EntryKind::Dsse => dsse_entry(&env, statement, &sig, &signer.logged_pem()),
        };
        annotations.insert(
            "dev.sigstore.cosign/bundle".to_owned(),
            log.bundle(&body, t)?,
        );
    }
    Ok(Layer {
        media_type: "application/vnd.dsse.envelope.v1+json".into(),
        data: env,
        annotations,
    })
}

/// Pushes a cosign artifact (`sha256-<hex>.sig` when `suffix` is `sig`, `.att` for `att`) for
/// `image`. Replaces whatever the tag held. Returns the artifact manifest's digest.
pub async fn push_artifact(
    registry: &Registry,
    image: &TestImage,
    suffix: &str,
    layers: &[Layer],
) -> Result<String> {
    let tag = format!(
        "{}:sha256-{}.{suffix}",
        image.repository,
        image.digest.trim_start_matches("sha256:")
    );
    push_layers(&tag, &registry_auth(registry), layers).await
}

/// Pushes an image manifest (config `{}`) with these layers to `reference`; returns its digest.
pub async fn push_layers(reference: &str, auth: &RegistryAuth, layers: &[Layer]) -> Result<String> {
    let client = oci_client();
    let reference: Reference = reference
        .parse()
        .with_context(|| format!("parsing {reference}"))?;
    // Under heavy machine load the first token fetch has failed once; retry it a little before
    // giving up with the error.
    let mut attempt = 0;
    loop {
        match client.auth(&reference, auth, RegistryOperation::Push).await {
            Ok(_) => break,
            Err(e) if attempt >= 2 => {
                return Err(e).with_context(|| format!("authenticating to push {reference}"));
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    let config = b"{}".to_vec();
    client
        .push_blob(&reference, config.clone(), &sha256_digest(&config))
        .await
        .with_context(|| format!("pushing the config blob of {reference}"))?;
    let mut descriptors = Vec::new();
    for l in layers {
        let digest = sha256_digest(&l.data);
        client
            .push_blob(&reference, l.data.clone(), &digest)
            .await
            .with_context(|| format!("pushing layer {digest} of {reference}"))?;
        descriptors.push(json!({"mediaType": l.media_type, "digest": digest,
                                "size": l.data.len(), "annotations": l.annotations}));
    }
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(&config), "size": config.len()},
        "layers": descriptors});
    let bytes = manifest.to_string().into_bytes();
    client
        .push_manifest_raw(
            &reference,
            bytes.clone(),
            http::HeaderValue::from_static(OCI_MANIFEST),
        )
        .await
        .with_context(|| format!("pushing the manifest of {reference}"))?;
    Ok(sha256_digest(&bytes))
}
