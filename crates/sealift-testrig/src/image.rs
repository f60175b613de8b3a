//! Deterministic test images pushed straight from Rust, and cosign key-based signatures.
//!
//! An image built here has the same bytes on every run (fixed tar headers, gzip with mtime 0,
//! hand-serialised JSON), so its digest is known before it is pushed and tests can assert the
//! registry stores exactly what was sent.

use crate::registry::Registry;
use anyhow::{Context, Result, anyhow};
use flate2::{Compression, GzBuilder};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{Constraint, CosignCapabilities, SignatureLayer, verify_constraints};
use sigstore::crypto::SigningScheme;
use sigstore::registry::OciReference;
use std::io::Write;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image's bytes, before or after it is pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestImage {
    /// `host:port/repository` (no tag, no digest).
    pub repository: String,
    /// The tag it was pushed under.
    pub tag: String,
    /// The manifest digest: `sha256:` + hex of the manifest bytes.
    pub digest: String,
    /// The exact manifest bytes.
    pub manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl TestImage {
    /// Builds a one-layer image whose only file is `sealift/hello.txt` containing `content`.
    pub fn build(repository: &str, tag: &str, content: &str) -> Result<TestImage> {
        let mut tar_bytes = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut tar_bytes);
            let mut header = tar::Header::new_ustar();
            header.set_path("sealift/hello.txt")?;
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_cksum();
            builder.append(&header, content.as_bytes())?;
            builder.finish()?;
        }
        let diff_id = sha256_digest(&tar_bytes);
        let mut gz = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::default());
        gz.write_all(&tar_bytes)?;
        let layer = gz.finish()?;
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"dev.sealift.test":"true"}}}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
            sha256_digest(&config),
            config.len(),
            sha256_digest(&layer),
            layer.len()
        )
        .into_bytes();
        Ok(TestImage {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            digest: sha256_digest(&manifest),
            manifest,
            config,
            layer,
        })
    }

    /// `repository@digest`
    pub fn by_digest(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }

    /// `repository:tag`
    pub fn by_tag(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// An OCI client for a plain-HTTP loopback registry.
pub fn oci_client() -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

/// The oci-client credentials for `registry`.
pub fn registry_auth(registry: &Registry) -> RegistryAuth {
    match registry.credentials() {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => RegistryAuth::Anonymous,
    }
}

fn sigstore_auth(registry: &Registry) -> sigstore::registry::Auth {
    match registry.credentials() {
        Some(c) => sigstore::registry::Auth::Basic(c.username.clone(), c.password.clone()),
        None => sigstore::registry::Auth::Anonymous,
    }
}

/// Builds `repo:tag` with `content` and pushes it to `registry`.
pub async fn push_test_image(
    registry: &Registry,
    repo: &str,
    tag: &str,
    content: &str,
) -> Result<TestImage> {
    let image = TestImage::build(&format!("{}/{repo}", registry.host()), tag, content)?;
    push_image(registry, &image).await?;
    Ok(image)
}

/// Pushes the blobs and the manifest of `image` (tagged `image.tag`).
pub async fn push_image(registry: &Registry, image: &TestImage) -> Result<()> {
    let client = oci_client();
    let reference: Reference = image.by_tag().parse().context("parsing image reference")?;
    client
        .auth(
            &reference,
            &registry_auth(registry),
            RegistryOperation::Push,
        )
        .await
        .context("authenticating to the registry")?;
    for blob in [&image.config, &image.layer] {
        client
            .push_blob(&reference, blob.clone(), &sha256_digest(blob))
            .await
            .context("pushing a blob")?;
    }
    client
        .push_manifest_raw(
            &reference,
            image.manifest.clone(),
            http::HeaderValue::from_static(OCI_MANIFEST),
        )
        .await
        .context("pushing the manifest")?;
    Ok(())
}

/// A cosign key pair (ECDSA P-256, cosign's default).
pub struct CosignKeyPair {
    /// PEM public key, as `cosign.pub`.
    pub public_pem: String,
    private_pem: String,
}

impl std::fmt::Debug for CosignKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignKeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl CosignKeyPair {
    /// A fresh key pair.
    pub fn generate() -> Result<CosignKeyPair> {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer()?;
        let pair = signer.to_sigstore_keypair()?;
        Ok(CosignKeyPair {
            public_pem: pair.public_key_to_pem()?,
            private_pem: pair.private_key_to_pem()?.to_string(),
        })
    }
}

/// Verifies the cosign `.sig` signatures of `image` against `public_pem`, as
/// `cosign verify --key` does for a key-based signature. Returns how many signature layers were
/// found; an error names what failed (no signature, or no layer signed by that key).
///
/// This is the rig's oracle for fixtures, not Sealift's verifier (that is `sealift-verify`).
pub async fn verify_signature_with_key(
    registry: &Registry,
    image: &TestImage,
    public_pem: &str,
) -> Result<usize> {
    let mut client = cosign_client()?;
    let reference: OciReference = image
        .by_digest()
        .parse()
        .context("parsing image reference")?;
    let layers = client
        .trusted_signature_layers(&sigstore_auth(registry), &reference)
        .await?;
    if layers.is_empty() {
        return Err(anyhow!("{} has no cosign signature", image.by_digest()));
    }
    let verifier = PublicKeyVerifier::new(public_pem.as_bytes(), &SigningScheme::default())?;
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
    verify_constraints(&layers, constraints.iter())
        .map_err(|_| anyhow!("no signature of {} verifies with that key", image.digest))?;
    Ok(layers.len())
}

fn cosign_client() -> Result<sigstore::cosign::Client> {
    Ok(sigstore::cosign::ClientBuilder::default()
        .with_oci_client_config(sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::Http,
            ..Default::default()
        })
        .build()?)
}

/// Signs `image` the way `cosign sign --key` does (a simple-signing payload in a layer of the
/// `sha256-<hex>.sig` image) and pushes the signature. Returns the signature image reference.
pub async fn sign_image(
    registry: &Registry,
    image: &TestImage,
    key: &CosignKeyPair,
) -> Result<String> {
    let auth = sigstore_auth(registry);
    let mut client = cosign_client()?;
    let image_ref: OciReference = image
        .by_digest()
        .parse()
        .context("parsing image reference")?;
    let (signature_ref, digest) = client.triangulate(&image_ref, &auth).await?;
    if digest != image.digest {
        return Err(anyhow!("registry resolved {} to {digest}", image.digest));
    }
    let mut layer = SignatureLayer::new_unsigned(&image_ref, &digest)?;
    let signer = PrivateKeySigner::new_with_raw(
        self_zeroizing(key.private_pem.as_bytes()),
        self_zeroizing(b""),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )?;
    signer.add_constraint(&mut layer)?;
    client
        .push_signature(None, &auth, &signature_ref, vec![layer])
        .await?;
    Ok(signature_ref.whole())
}

fn self_zeroizing(bytes: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(bytes.to_vec())
}
