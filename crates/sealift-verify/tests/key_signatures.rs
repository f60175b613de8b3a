//! Key-based cosign `.sig` signatures against the real registry: every key algorithm, the
//! hostile cases a user would meet, thresholds, Rekor evidence and registry authentication.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::Credentials;
use sealift_testrig::image::{CosignKeyPair, push_test_image, sign_image};
use sealift_testrig::registry::Registry;
use sealift_verify::{Outcome, TrustedRoot, Verifier};
use std::sync::Arc;
use support::*;

const NO_TLOG: &str = "  transparencyLog: {required: false}\n";

#[tokio::test]
async fn a_signature_made_by_the_sigstore_crate_verifies_with_its_key_and_records_the_key_id() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/catalog", "v1", "catalog v1")
        .await
        .unwrap();
    let key = CosignKeyPair::generate().unwrap();
    sign_image(&registry, &image, &key).await.unwrap();
    let policy = compile(&format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\n\
         metadata: {{name: bookstore, namespace: shop, uid: u1, generation: 3}}\n\
         spec:\n  images: [\"{}\"]\n  authorities:\n  - name: ci-key\n    key:\n      data: |\n{}\n{NO_TLOG}",
        image_glob(&image),
        indent(&key.public_pem, 8)
    ))
    .unwrap();

    let evidence = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap();

    assert_eq!(evidence.digest, image.digest);
    assert_eq!(evidence.policy.kind, "TrustPolicy");
    assert_eq!(evidence.policy.namespace.as_deref(), Some("shop"));
    assert_eq!(evidence.policy.generation, Some(3));
    assert_eq!(evidence.signatures.len(), 1);
    let sig = &evidence.signatures[0];
    assert_eq!(sig.authority, "ci-key");
    let spki = sealift_verify::dsse::decode_base64(
        &key.public_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    assert_eq!(
        sig.key_id.clone().unwrap(),
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&spki)))
    );
    assert!(sig.rekor.is_none());
    assert!(evidence.verified_at.is_some());
}

use sha2::Digest as _;

#[tokio::test]
async fn signatures_by_p384_ed25519_and_rsa_keys_verify() {
    let registry = start_registry();
    let verifier = verifier_for(&registry);
    for (name, key) in [
        ("p384", Key::p384().unwrap()),
        ("ed25519", Key::ed25519().unwrap()),
        ("rsa", Key::rsa().unwrap()),
    ] {
        let image = push_test_image(&registry, &format!("acme/{name}"), "v1", name)
            .await
            .unwrap();
        push_key_signature(&registry, &image, &key).await;
        let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
        let evidence = verifier.verify(&image.by_digest(), &policy).await;
        let evidence = evidence.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            evidence.signatures[0].key_id.as_deref(),
            Some(key.fingerprint().as_str()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unsigned_image_is_rejected_as_signature_missing() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/unsigned", "v1", "nobody signed me")
        .await
        .unwrap();
    let policy = key_policy(&image_glob(&image), &[&Key::p256().unwrap()], NO_TLOG);
    let err = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureMissing");
    assert_eq!(err.outcome(), Outcome::Rejected);
    assert!(
        err.to_string().contains("carries no cosign signature"),
        "{err}"
    );
}

#[tokio::test]
async fn a_signature_by_another_key_is_rejected_and_names_the_expected_key() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/other-key", "v1", "x")
        .await
        .unwrap();
    let (signer, expected) = (Key::p256().unwrap(), Key::p256().unwrap());
    push_key_signature(&registry, &image, &signer).await;
    let policy = key_policy(&image_glob(&image), &[&expected], NO_TLOG);
    let err = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains(&expected.fingerprint()), "{err}");
}

#[tokio::test]
async fn a_payload_tampered_after_signing_is_rejected() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/tampered", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    let payload = simple_signing(&image.repository, &image.digest);
    let mut layer = sig_layer(&payload, &Signer::Key(&key), None).unwrap();
    // Same digest, same meaning, one byte changed: the signature no longer covers it.
    layer.data = simple_signing(&format!("{}x", image.repository), &image.digest);
    push_artifact(&registry, &image, "sig", &[layer])
        .await
        .unwrap();
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
    let err = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains("payload was altered"), "{err}");
}

#[tokio::test]
async fn a_valid_signature_copied_from_another_image_is_rejected() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/victim", "v1", "victim")
        .await
        .unwrap();
    let other = push_test_image(&registry, "acme/victim", "v0", "signed earlier")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature_over(&registry, &image, &other, &key).await;
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
    let err = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains(&other.digest), "{err}");
}

#[tokio::test]
async fn a_key_signature_logged_in_rekor_records_its_log_entry() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/logged", "v1", "x")
        .await
        .unwrap();
    let (key, rekor) = (Key::p256().unwrap(), TestRekor::new().unwrap());
    let t = now();
    let payload = simple_signing(&image.repository, &image.digest);
    push_artifact(
        &registry,
        &image,
        "sig",
        &[sig_layer(&payload, &Signer::Key(&key), Some((&rekor, t))).unwrap()],
    )
    .await
    .unwrap();
    let root = Arc::new(
        TrustedRoot::from_json(trusted_root_json(&[], &[&rekor]).unwrap().as_bytes()).unwrap(),
    );
    let yaml = format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: logged}}\n\
         spec:\n  images: [\"{}\"]\n  authorities:\n  - key:\n      data: |\n{}\n",
        image_glob(&image),
        indent(&key.public_pem(), 8)
    );
    let policy = compile_with_root(&yaml, Some(root)).unwrap();
    let evidence = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap();
    let rekor_evidence = evidence.signatures[0].rekor.clone().unwrap();
    assert_eq!(rekor_evidence.integrated_time, t);
    assert_eq!(
        rekor_evidence.log_id.as_deref(),
        Some(rekor.log_id.as_str())
    );
    assert_eq!(evidence.signatures[0].authority, "authorities[0]");
}

#[tokio::test]
async fn when_the_transparency_log_is_required_a_signature_without_bundle_or_with_a_forged_set_is_rejected()
 {
    let registry = start_registry();
    let (key, rekor, forger) = (
        Key::p256().unwrap(),
        TestRekor::new().unwrap(),
        TestRekor::new().unwrap(),
    );
    let root = Arc::new(
        TrustedRoot::from_json(trusted_root_json(&[], &[&rekor]).unwrap().as_bytes()).unwrap(),
    );
    let verifier = verifier_for(&registry);
    let cases = [
        ("no-bundle", None, "has no Rekor bundle"),
        ("forged-set", Some(&forger), "forged or altered"),
    ];
    for (name, log, needle) in cases {
        let image = push_test_image(&registry, &format!("acme/{name}"), "v1", name)
            .await
            .unwrap();
        let payload = simple_signing(&image.repository, &image.digest);
        let mut layer = sig_layer(&payload, &Signer::Key(&key), log.map(|l| (l, now()))).unwrap();
        if let Some(bundle) = layer.annotations.get_mut("dev.sigstore.cosign/bundle") {
            // The forger's log id is unknown; claim the trusted log's id instead: the SET must fail.
            let forged = bundle.replace(&forger.log_id, &rekor.log_id);
            *bundle = forged;
        }
        push_artifact(&registry, &image, "sig", &[layer])
            .await
            .unwrap();
        let yaml = format!(
            "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: {name}}}\n\
             spec:\n  images: [\"{}\"]\n  authorities:\n  - key:\n      data: |\n{}\n",
            image_glob(&image),
            indent(&key.public_pem(), 8)
        );
        let policy = compile_with_root(&yaml, Some(root.clone())).unwrap();
        let err = verifier
            .verify(&image.by_digest(), &policy)
            .await
            .unwrap_err();
        assert_eq!(err.category(), "TransparencyLogInvalid", "{name}: {err}");
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
}

#[tokio::test]
async fn a_two_of_two_threshold_needs_both_keys() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/two-keys", "v1", "x")
        .await
        .unwrap();
    let (a, b) = (Key::p256().unwrap(), Key::ed25519().unwrap());
    let payload = simple_signing(&image.repository, &image.digest);
    let policy = key_policy(
        &image_glob(&image),
        &[&a, &b],
        &format!("  threshold: 2\n{NO_TLOG}"),
    );
    let verifier = Verifier::new(config_for(&registry)).unwrap();

    push_artifact(
        &registry,
        &image,
        "sig",
        &[sig_layer(&payload, &Signer::Key(&a), None).unwrap()],
    )
    .await
    .unwrap();
    let err = verifier
        .verify_uncached(&image_ref(&image), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "ThresholdNotMet");
    assert!(
        err.to_string()
            .starts_with("1 of the 2 required authorities signed"),
        "{err}"
    );
    assert!(err.to_string().contains("key-1"), "{err}");

    let layers = [
        sig_layer(&payload, &Signer::Key(&a), None).unwrap(),
        sig_layer(&payload, &Signer::Key(&b), None).unwrap(),
    ];
    push_artifact(&registry, &image, "sig", &layers)
        .await
        .unwrap();
    let evidence = verifier
        .verify_uncached(&image_ref(&image), &policy)
        .await
        .unwrap();
    let authorities: Vec<_> = evidence
        .signatures
        .iter()
        .map(|s| s.authority.as_str())
        .collect();
    assert_eq!(authorities, ["key-0", "key-1"]);
}

fn image_ref(image: &sealift_testrig::image::TestImage) -> sealift_verify::ImageRef {
    sealift_verify::ImageRef::parse(&image.by_digest()).unwrap()
}

#[tokio::test]
async fn an_image_outside_every_policy_glob_is_rejected_fail_closed() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme-evil/app", "v1", "x")
        .await
        .unwrap();
    let glob = format!("{}/acme/**", registry.host());
    let policy = key_policy(&glob, &[&Key::p256().unwrap()], NO_TLOG);
    let err = verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "NoMatchingPolicy");
    let image_ref = image_ref(&image);
    let err = sealift_verify::select_policies(&image_ref, &[policy]).unwrap_err();
    assert_eq!(err.category(), "NoMatchingPolicy");
}

#[tokio::test]
async fn a_registry_with_basic_auth_is_read_with_the_credentials_and_refuses_wrong_ones() {
    sealift_testrig::install_crypto_provider();
    let registry = Registry::start_with_auth(Credentials::random("sealift")).unwrap();
    let image = push_test_image(&registry, "acme/private", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature(&registry, &image, &key).await;
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);

    verifier_for(&registry)
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap();

    let mut config = config_for(&registry);
    let creds = config.registry.credentials.values_mut().next().unwrap();
    creds.password = "wrong-password-value".into();
    let err = Verifier::new(config)
        .unwrap()
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "RegistryAuthFailed");
    assert_eq!(err.outcome(), Outcome::Error);
    assert!(!err.to_string().contains("wrong-password-value"));
}

#[tokio::test]
async fn an_uncached_key_verification_makes_one_manifest_request_and_one_per_signature() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/budget", "v1", "x")
        .await
        .unwrap();
    let (a, b) = (Key::p256().unwrap(), Key::p256().unwrap());
    let payload = simple_signing(&image.repository, &image.digest);
    let layers = [
        sig_layer(&payload, &Signer::Key(&a), None).unwrap(),
        sig_layer(&payload, &Signer::Key(&b), None).unwrap(),
    ];
    push_artifact(&registry, &image, "sig", &layers)
        .await
        .unwrap();
    let policy = key_policy(&image_glob(&image), &[&b], NO_TLOG);
    let verifier = verifier_for(&registry);
    verifier.verify(&image.by_digest(), &policy).await.unwrap();
    let counts = verifier.request_counts();
    assert_eq!((counts.manifests, counts.blobs, counts.total()), (1, 2, 3));
}
