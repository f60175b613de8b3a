//! The rig's OCI registry is real: images pushed from Rust keep their exact digest, cosign
//! key-based signatures verify with the signing key and fail with any other, and basic auth is
//! enforced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealift_testrig::Credentials;
use sealift_testrig::image::{
    CosignKeyPair, OCI_MANIFEST, TestImage, oci_client, push_test_image, registry_auth,
    sha256_digest, sign_image, verify_signature_with_key,
};
use sealift_testrig::registry::Registry;

fn start_registry() -> Registry {
    sealift_testrig::install_crypto_provider();
    Registry::start().expect("the real OCI registry (docker-registry) must start")
}

async fn verify_with_key(
    registry: &Registry,
    image: &TestImage,
    public_pem: &str,
) -> Result<usize, String> {
    verify_signature_with_key(registry, image, public_pem)
        .await
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn test_images_are_deterministic() {
    let a = TestImage::build("127.0.0.1:5000/acme/app", "v1", "hello").unwrap();
    let b = TestImage::build("127.0.0.1:6000/other/app", "v2", "hello").unwrap();
    let c = TestImage::build("127.0.0.1:5000/acme/app", "v1", "hello, world").unwrap();
    assert_eq!(
        a.digest, b.digest,
        "same content, same digest, whatever the name"
    );
    assert_ne!(a.digest, c.digest);
    assert_eq!(a.digest, sha256_digest(&a.manifest));
}

#[tokio::test]
async fn a_pushed_image_has_the_expected_digest() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/catalog", "v1", "catalog v1")
        .await
        .unwrap();

    let client = oci_client();
    let by_tag = image.by_tag().parse().unwrap();
    let (bytes, digest) = client
        .pull_manifest_raw(&by_tag, &registry_auth(&registry), &[OCI_MANIFEST])
        .await
        .unwrap();
    assert_eq!(digest, image.digest, "the registry's Docker-Content-Digest");
    assert_eq!(sha256_digest(&bytes), image.digest, "the bytes it serves");
    assert_eq!(bytes.as_ref(), image.manifest.as_slice());

    let resolved = client
        .fetch_manifest_digest(&by_tag, &registry_auth(&registry))
        .await
        .unwrap();
    assert_eq!(resolved, image.digest);
}

#[tokio::test]
async fn a_signature_verifies_with_the_signing_key_and_fails_with_another() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/catalog", "v1", "signed")
        .await
        .unwrap();
    let key = CosignKeyPair::generate().unwrap();
    let other = CosignKeyPair::generate().unwrap();

    let sig_ref = sign_image(&registry, &image, &key).await.unwrap();
    let hex = image.digest.trim_start_matches("sha256:");
    assert!(
        sig_ref.ends_with(&format!("acme/catalog:sha256-{hex}.sig")),
        "{sig_ref}"
    );

    assert_eq!(
        verify_with_key(&registry, &image, &key.public_pem).await,
        Ok(1)
    );
    let err = verify_with_key(&registry, &image, &other.public_pem)
        .await
        .unwrap_err();
    assert!(err.contains("verifies with that key"), "{err}");
}

#[tokio::test]
async fn an_unsigned_image_has_no_signature_to_verify() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/unsigned", "v1", "unsigned")
        .await
        .unwrap();
    let key = CosignKeyPair::generate().unwrap();
    let err = verify_with_key(&registry, &image, &key.public_pem)
        .await
        .unwrap_err();
    assert!(err.contains("has no cosign signature"), "{err}");
}

#[tokio::test]
async fn a_registry_with_basic_auth_refuses_anonymous_and_wrong_passwords() {
    sealift_testrig::install_crypto_provider();
    let creds = Credentials::random("ci");
    let registry = Registry::start_with_auth(creds.clone()).unwrap();
    let image = push_test_image(&registry, "acme/private", "v1", "private")
        .await
        .unwrap();

    let client = oci_client();
    let by_tag: oci_client::Reference = image.by_tag().parse().unwrap();
    let anon = oci_client::secrets::RegistryAuth::Anonymous;
    assert!(
        oci_client()
            .pull_manifest_raw(&by_tag, &anon, &[OCI_MANIFEST])
            .await
            .is_err()
    );
    let wrong = oci_client::secrets::RegistryAuth::Basic(creds.username.clone(), "wrong".into());
    assert!(
        oci_client()
            .pull_manifest_raw(&by_tag, &wrong, &[OCI_MANIFEST])
            .await
            .is_err()
    );
    let (_, digest) = client
        .pull_manifest_raw(&by_tag, &registry_auth(&registry), &[OCI_MANIFEST])
        .await
        .unwrap();
    assert_eq!(digest, image.digest);

    // Signing and verifying work through authentication too.
    let key = CosignKeyPair::generate().unwrap();
    sign_image(&registry, &image, &key).await.unwrap();
    assert_eq!(
        verify_with_key(&registry, &image, &key.public_pem).await,
        Ok(1)
    );
}

#[test]
fn a_stopped_registry_leaves_no_process_behind() {
    let registry = start_registry();
    let pid = registry.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(registry);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "registry {pid} still running: {stat}"
    );
}
