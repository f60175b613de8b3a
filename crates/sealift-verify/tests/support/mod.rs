//! What sealift-verify's tests share: the cosign fixtures of `sealift_testrig::cosign` (keys, a
//! test Fulcio-style CA, a test Rekor, `trusted_root.json`, `.sig` / `.att` artifacts in cosign's
//! wire format, re-exported here), and verify-specific helpers: verifiers for the rig's registry
//! and policy compilation.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod sigstore_oracle;
pub mod token_registry;

pub use sealift_testrig::cosign::*;
use sealift_testrig::image::TestImage;
use sealift_testrig::registry::Registry;
use sealift_verify::{
    CompiledPolicy, NoSecrets, PlainHttp, PolicyDocument, RegistryConfig, RegistryCredentials,
    TrustedRoot, Verifier, VerifierConfig, VerifyError,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub fn start_registry() -> Registry {
    sealift_testrig::install_crypto_provider();
    Registry::start().expect("the real OCI registry (docker-registry) must start")
}

/// A verifier for a loopback registry: plain HTTP, its credentials, short timeouts.
pub fn config_for(registry: &Registry) -> VerifierConfig {
    let mut credentials = BTreeMap::new();
    if let Some(c) = registry.credentials() {
        credentials.insert(
            registry.host(),
            RegistryCredentials {
                username: c.username.clone(),
                password: c.password.clone(),
            },
        );
    }
    VerifierConfig {
        registry: RegistryConfig {
            plain_http: PlainHttp::Always,
            credentials,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retries: 1,
            retry_backoff: Duration::from_millis(20),
        },
        ..Default::default()
    }
}

pub fn verifier_for(registry: &Registry) -> Verifier {
    Verifier::new(config_for(registry)).unwrap()
}

/// Parses and compiles a policy document.
pub fn compile(yaml: &str) -> Result<Arc<CompiledPolicy>, VerifyError> {
    compile_with_root(yaml, None)
}

pub fn compile_with_root(
    yaml: &str,
    default_root: Option<Arc<TrustedRoot>>,
) -> Result<Arc<CompiledPolicy>, VerifyError> {
    let docs = PolicyDocument::parse_all(yaml)?;
    CompiledPolicy::from_document(&docs[0], &NoSecrets, default_root).map(Arc::new)
}

/// Indents a multi-line string for a YAML block scalar.
pub fn indent(s: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A key-only policy over `glob`.
pub fn key_policy(glob: &str, keys: &[&Key], extra: &str) -> Arc<CompiledPolicy> {
    let authorities: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "  - name: key-{i}\n    key:\n      data: |\n{}\n",
                indent(&k.public_pem(), 8)
            )
        })
        .collect();
    compile(&format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: keys, uid: u-{}}}\n\
         spec:\n  images: [\"{glob}\"]\n  authorities:\n{authorities}{extra}",
        rand_suffix()
    ))
    .unwrap()
}

/// A keyless policy accepting `subject` from `issuer` under `trusted_root`.
pub fn keyless_policy(
    glob: &str,
    identity: &str,
    trusted_root: &str,
    extra: &str,
) -> Arc<CompiledPolicy> {
    compile(&keyless_policy_yaml(glob, identity, trusted_root, extra)).unwrap()
}

pub fn keyless_policy_yaml(glob: &str, identity: &str, trusted_root: &str, extra: &str) -> String {
    format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\nmetadata: {{name: keyless, namespace: shop, uid: u-{}}}\n\
         spec:\n  images: [\"{glob}\"]\n  authorities:\n  - name: release-workflow\n    keyless:\n      identities:\n{identity}\n\
         \x20     trustRoot:\n        data: '{trusted_root}'\n{extra}",
        rand_suffix()
    )
}

pub fn rand_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

pub fn image_glob(image: &TestImage) -> String {
    format!("{}/**", image.repository.split('/').next().unwrap())
}

/// Pushes `image`'s `.sig` tag: one cosign simple-signing layer for `image`, signed by `key`.
pub async fn push_key_signature(registry: &Registry, image: &TestImage, key: &Key) {
    push_key_signature_over(registry, image, image, key).await;
}

/// Pushes `image`'s `.sig` tag: one simple-signing layer that names `signed` (another image's
/// digest, to forge a copied signature), signed by `key`.
pub async fn push_key_signature_over(
    registry: &Registry,
    image: &TestImage,
    signed: &TestImage,
    key: &Key,
) {
    let payload = simple_signing(&signed.repository, &signed.digest);
    push_artifact(
        registry,
        image,
        "sig",
        &[sig_layer(&payload, &Signer::Key(key), None).unwrap()],
    )
    .await
    .unwrap();
}
