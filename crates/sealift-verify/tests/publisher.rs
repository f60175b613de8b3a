//! `sealift_testrig::cosign::Publisher`, what end-to-end tests, the demo and the benchmarks
//! publish with, checked against Sealift's verifier and the `sigstore` crate on the real registry:
//! its images verify under the policy it describes, and only under it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::image::verify_signature_with_key;
use sealift_verify::{CompiledPolicy, NoSecrets, OneShot, PolicyDocument, verify_once};
use std::sync::Arc;
use support::*;

const REPO_URL: &str = "https://github.com/acme/bookstore";
const COMMIT: &str = "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a";

fn compiled(policy: &sealift_api::ClusterTrustPolicy) -> Arc<CompiledPolicy> {
    let doc = PolicyDocument::from_value(serde_json::to_value(policy).unwrap()).unwrap();
    Arc::new(CompiledPolicy::from_document(&doc, &NoSecrets, None).unwrap())
}

#[tokio::test]
async fn a_published_image_verifies_under_its_publishers_policy_and_only_under_it() {
    let registry = start_registry();
    let (publisher, stranger) = (Publisher::new().unwrap(), Publisher::new().unwrap());
    let slsa_check = slsa_repository_policy(REPO_URL);
    let requirements = [
        (SLSA_V1, Some(slsa_check.as_str())),
        (VULN, Some(NO_CRITICAL_VULNERABILITIES)),
    ];
    let attestations = [
        (SLSA_V1, slsa_provenance(REPO_URL, COMMIT)),
        (VULN, vuln_scan(0)),
    ];
    let images = format!("{}/acme/**", registry.host());

    let published = publisher
        .publish(&registry, "acme/bookstore", "v1", &attestations)
        .await
        .unwrap();
    assert_eq!(
        published.repository,
        format!("{}/acme/bookstore", registry.host())
    );
    assert_eq!(
        published.reference,
        format!("{}@{}", published.repository, published.digest)
    );
    assert_eq!(published.tag, DEFAULT_TAG);

    let policy = compiled(&publisher.cluster_policy("bookstore", &[&images], &requirements));
    let evidence = verifier_for(&registry)
        .verify(&published.reference, &policy)
        .await
        .unwrap();
    assert_eq!(evidence.signatures.len(), 1);
    let predicate_types: Vec<_> = evidence
        .attestations
        .iter()
        .map(|a| a.predicate_type.as_str())
        .collect();
    assert_eq!(predicate_types, [SLSA_V1, VULN]);

    // The sigstore crate (cosign's own verification, independent of Sealift) accepts the `.sig`.
    let layers =
        verify_signature_with_key(&registry, &published.image, &publisher.public_key_pem())
            .await
            .unwrap();
    assert_eq!(layers, 1);

    // Another publisher's key: the same image is rejected.
    let strangers = compiled(&stranger.cluster_policy("stranger", &[&images], &requirements));
    let err = verifier_for(&registry)
        .verify(&published.reference, &strangers)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid", "{err}");

    // Unsigned: rejected, the signature is missing.
    let unsigned = publisher
        .publish_unsigned(&registry, "acme/unsigned", "v1")
        .await
        .unwrap();
    let err = verifier_for(&registry)
        .verify(&unsigned.reference, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureMissing", "{err}");

    // Signed, but the CEL check over the SLSA predicate fails (built from another repository).
    let forked = publisher
        .publish(
            &registry,
            "acme/forked",
            "v1",
            &[
                (
                    SLSA_V1,
                    slsa_provenance("https://github.com/evil/bookstore", COMMIT),
                ),
                (VULN, vuln_scan(0)),
            ],
        )
        .await
        .unwrap();
    let err = verifier_for(&registry)
        .verify(&forked.reference, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "AttestationPolicyFailed", "{err}");

    // Critical vulnerabilities fail the vuln check; a missing attestation is named.
    let vulnerable = publisher
        .publish(
            &registry,
            "acme/vulnerable",
            "v1",
            &[
                (SLSA_V1, slsa_provenance(REPO_URL, COMMIT)),
                (VULN, vuln_scan(3)),
            ],
        )
        .await
        .unwrap();
    let err = verifier_for(&registry)
        .verify(&vulnerable.reference, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "AttestationPolicyFailed", "{err}");
    let unattested = publisher
        .publish(&registry, "acme/unattested", "v1", &[])
        .await
        .unwrap();
    let err = verifier_for(&registry)
        .verify(&unattested.reference, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "AttestationMissing", "{err}");
}

#[tokio::test]
async fn with_a_test_rekor_the_transparency_log_is_required_and_checked_against_its_trust_root() {
    let registry = start_registry();
    let publisher = Publisher::with_rekor().unwrap();
    let published = publisher
        .publish_tagged(
            &registry,
            "acme/logged",
            "v2",
            "logged",
            &[(SLSA_V1, slsa_provenance(REPO_URL, COMMIT))],
        )
        .await
        .unwrap();
    assert_eq!(published.tag, "v2");
    let slsa_check = slsa_repository_policy(REPO_URL);
    let policy = publisher.cluster_policy("logged", &["**"], &[(SLSA_V1, Some(&slsa_check))]);
    assert!(policy.spec.transparency_log.required);
    let options = |trusted_root: Option<&str>| OneShot {
        policy_text: serde_json::to_string(&policy).unwrap(),
        secrets_dir: None,
        trusted_root: trusted_root.map(|r| r.as_bytes().to_vec()),
        config: config_for(&registry),
    };

    // As `sealift verify IMAGE --policy FILE --trusted-root trusted_root.json`.
    let evidence = verify_once(&published.reference, options(publisher.trusted_root_json()))
        .await
        .unwrap();
    let rekor = evidence[0].signatures[0].rekor.clone().unwrap();
    assert_eq!(
        rekor.log_id.as_deref(),
        publisher.rekor().map(|r| r.log_id.as_str())
    );
    assert_eq!(evidence[0].attestations.len(), 1);

    // Another log's trust root: the SETs do not verify.
    let other = Publisher::with_rekor().unwrap();
    let err = verify_once(&published.reference, options(other.trusted_root_json()))
        .await
        .unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid", "{err}");
}

#[test]
fn the_rigs_dsse_pae_is_sealift_verifys() {
    for (pt, body) in [
        ("application/vnd.in-toto+json", &b"{}"[..]),
        ("", b""),
        ("t", b"\x00 x"),
    ] {
        assert_eq!(pae(pt, body), sealift_verify::dsse::pae(pt, body));
    }
}
