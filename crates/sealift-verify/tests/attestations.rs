//! Attestations in cosign's wire format (`.att` tag, DSSE envelopes of in-toto statements)
//! against the real registry: key and keyless signers, `intoto` and `dsse` Rekor entries, the
//! in-toto subject, predicate types, CEL policies, facts, and hostile envelopes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::image::{TestImage, push_test_image};
use sealift_testrig::registry::Registry;
use sealift_verify::{CompiledPolicy, Limits, Verifier};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use support::*;

fn provenance_v1() -> Value {
    json!({"buildDefinition": {
            "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"ref": "refs/heads/main",
                "repository": "https://github.com/acme/bookstore", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": [{"uri": "git+https://github.com/acme/bookstore@refs/heads/main",
                                      "digest": {"gitCommit": "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a"}}]},
           "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}})
}

/// An image whose `.sig` is signed by `key`, and a policy requiring `attestations` (YAML list).
struct Fixture {
    registry: Registry,
    image: TestImage,
    key: Key,
}

impl Fixture {
    async fn new(repo: &str) -> Fixture {
        let registry = start_registry();
        let image = push_test_image(&registry, repo, "v1", repo).await.unwrap();
        let key = Key::p256().unwrap();
        push_key_signature(&registry, &image, &key).await;
        Fixture {
            registry,
            image,
            key,
        }
    }

    fn policy(&self, attestations: &str) -> Arc<CompiledPolicy> {
        key_policy(
            &image_glob(&self.image),
            &[&self.key],
            &format!("  transparencyLog: {{required: false}}\n  attestations:\n{attestations}"),
        )
    }

    fn statement(&self, predicate_type: &str, predicate: &Value) -> Vec<u8> {
        statement(&self.image.digest, predicate_type, predicate)
    }

    async fn attest(&self, layers: &[Layer]) {
        push_artifact(&self.registry, &self.image, "att", layers)
            .await
            .unwrap();
    }

    async fn verify(
        &self,
        policy: &Arc<CompiledPolicy>,
    ) -> Result<sealift_api::Evidence, sealift_verify::VerifyError> {
        verifier_for(&self.registry)
            .verify(&self.image.by_digest(), policy)
            .await
    }
}

const PROVENANCE_POLICY: &str = "  - predicateType: https://slsa.dev/provenance/v1\n    policy: \
    'predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/acme/bookstore\"'\n";

#[tokio::test]
async fn a_slsa_provenance_attestation_passes_its_cel_policy_and_its_facts_reach_the_evidence() {
    let f = Fixture::new("acme/provenance").await;
    let layer = att_layer(
        &f.statement(SLSA_V1, &provenance_v1()),
        SLSA_V1,
        &Signer::Key(&f.key),
        None,
    )
    .unwrap();
    let envelope_digest = format!("sha256:{}", hex::encode(Sha256::digest(&layer.data)));
    f.attest(&[layer]).await;

    let evidence = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap();

    let att = &evidence.attestations[0];
    assert_eq!(att.predicate_type, SLSA_V1);
    assert_eq!(att.envelope_digest, envelope_digest);
    assert_eq!(
        att.signer.as_ref().unwrap().key_id.as_deref(),
        Some(f.key.fingerprint().as_str())
    );
    assert!(
        att.policy
            .as_deref()
            .unwrap()
            .contains("workflow.repository")
    );
    assert_eq!(
        att.facts["sourceRepository"],
        "https://github.com/acme/bookstore"
    );
    assert_eq!(
        att.facts["sourceCommit"],
        "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a"
    );
    assert_eq!(
        att.facts["builderId"],
        "https://github.com/actions/runner/github-hosted"
    );
}

#[tokio::test]
async fn keyless_attestations_logged_as_intoto_or_dsse_entries_verify_with_their_log_entry() {
    let f = Fixture::new("acme/keyless-att").await;
    let (ca, rekor) = (
        TestCa::with_intermediate("fulcio").unwrap(),
        TestRekor::new().unwrap(),
    );
    let root_json = trusted_root_json(&[(&ca, None, None)], &[&rekor]).unwrap();
    let signer_key = Key::p256().unwrap();
    // The image signature is keyless too: one authority signs everything.
    let cert_pem = ca
        .issue_now(RELEASE_WORKFLOW, GITHUB_ISSUER, &signer_key)
        .unwrap();
    let signer = Signer::Keyless {
        key: &signer_key,
        cert_pem,
    };
    let payload = simple_signing(&f.image.repository, &f.image.digest);
    push_artifact(
        &f.registry,
        &f.image,
        "sig",
        &[sig_layer(&payload, &signer, Some((&rekor, now()))).unwrap()],
    )
    .await
    .unwrap();
    let identity = format!("      - issuer: {GITHUB_ISSUER}\n        subject: {RELEASE_WORKFLOW}");
    let policy = keyless_policy(
        &image_glob(&f.image),
        &identity,
        &root_json,
        &format!("  attestations:\n{PROVENANCE_POLICY}"),
    );

    for kind in [EntryKind::Intoto, EntryKind::Dsse] {
        let t = now() - 5;
        f.attest(&[att_layer(
            &f.statement(SLSA_V1, &provenance_v1()),
            SLSA_V1,
            &signer,
            Some((&rekor, t, kind)),
        )
        .unwrap()])
            .await;
        let evidence = f.verify(&policy).await.unwrap();
        let signer_evidence = evidence.attestations[0].signer.clone().unwrap();
        assert_eq!(signer_evidence.identity.as_deref(), Some(RELEASE_WORKFLOW));
        assert_eq!(signer_evidence.rekor.unwrap().integrated_time, t);
    }
}

#[tokio::test]
async fn a_keyless_attestation_whose_payload_was_swapped_is_rejected() {
    let f = Fixture::new("acme/swapped-att").await;
    let (ca, rekor) = (TestCa::new("fulcio").unwrap(), TestRekor::new().unwrap());
    let root_json = trusted_root_json(&[(&ca, None, None)], &[&rekor]).unwrap();
    let k = Key::p256().unwrap();
    let signer = Signer::Keyless {
        key: &k,
        cert_pem: ca.issue_now(RELEASE_WORKFLOW, GITHUB_ISSUER, &k).unwrap(),
    };
    let payload = simple_signing(&f.image.repository, &f.image.digest);
    push_artifact(
        &f.registry,
        &f.image,
        "sig",
        &[sig_layer(&payload, &signer, Some((&rekor, now()))).unwrap()],
    )
    .await
    .unwrap();
    let mut layer = att_layer(
        &f.statement(SLSA_V1, &provenance_v1()),
        SLSA_V1,
        &signer,
        Some((&rekor, now(), EntryKind::Dsse)),
    )
    .unwrap();
    let mut env: Value = serde_json::from_slice(&layer.data).unwrap();
    let mut forged = provenance_v1();
    forged["buildDefinition"]["externalParameters"]["workflow"]["repository"] =
        json!("https://github.com/evil/fork");
    env["payload"] = json!(base64_encode(&f.statement(SLSA_V1, &forged)));
    layer.data = serde_json::to_vec(&env).unwrap();
    f.attest(&[layer]).await;
    let identity = format!("      - issuer: {GITHUB_ISSUER}\n        subject: {RELEASE_WORKFLOW}");
    let policy = keyless_policy(
        &image_glob(&f.image),
        &identity,
        &root_json,
        &format!("  attestations:\n{PROVENANCE_POLICY}"),
    );

    let err = f.verify(&policy).await.unwrap_err();

    assert_eq!(err.category(), "AttestationInvalid");
    assert!(err.to_string().contains("tampered after signing"), "{err}");
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn a_cel_policy_that_evaluates_to_false_rejects_and_quotes_the_expression() {
    let f = Fixture::new("acme/cel-false").await;
    let mut p = provenance_v1();
    p["buildDefinition"]["externalParameters"]["workflow"]["repository"] =
        json!("https://github.com/evil/fork");
    f.attest(&[att_layer(
        &f.statement(SLSA_V1, &p),
        SLSA_V1,
        &Signer::Key(&f.key),
        None,
    )
    .unwrap()])
        .await;
    let err = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap_err();
    assert_eq!(err.category(), "AttestationPolicyFailed");
    assert!(err.to_string().contains("evaluated to false"), "{err}");
    assert!(err.to_string().contains("workflow.repository =="), "{err}");
}

#[tokio::test]
async fn a_cel_policy_that_fails_to_evaluate_rejects_with_the_reason() {
    let f = Fixture::new("acme/cel-error").await;
    f.attest(&[att_layer(
        &f.statement(VULN, &json!({"scanner": {}})),
        VULN,
        &Signer::Key(&f.key),
        None,
    )
    .unwrap()])
        .await;
    let policy = f.policy(&format!(
        "  - predicateType: {VULN}\n    policy: 'predicate.scanner.result.summary.criticalCount == 0'\n"
    ));
    let err = f.verify(&policy).await.unwrap_err();
    assert_eq!(err.category(), "AttestationPolicyFailed");
    assert!(err.to_string().contains("failed to evaluate"), "{err}");
}

#[test]
fn a_cel_policy_that_does_not_compile_is_a_policy_error_naming_its_path() {
    let key = Key::p256().unwrap();
    let yaml = format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: p}}\nspec:\n  \
         images: ['**']\n  authorities:\n  - key:\n      data: |\n{}\n  transparencyLog: {{required: false}}\n  \
         attestations:\n  - predicateType: {VULN}\n  - predicateType: {SLSA_V1}\n    policy: 'predicate.a =='\n",
        indent(&key.public_pem(), 8)
    );
    let err = compile(&yaml).unwrap_err();
    assert_eq!(err.category(), "InvalidPolicy");
    assert!(!err.is_rejection());
    assert!(
        err.to_string().contains("spec.attestations[1].policy"),
        "{err}"
    );
    assert!(err.to_string().contains("CEL does not compile"), "{err}");
}

#[tokio::test]
async fn an_attestation_about_another_digest_is_rejected() {
    let f = Fixture::new("acme/other-subject").await;
    let other = format!("sha256:{}", "cd".repeat(32));
    f.attest(&[att_layer(
        &statement(&other, SLSA_V1, &provenance_v1()),
        SLSA_V1,
        &Signer::Key(&f.key),
        None,
    )
    .unwrap()])
        .await;
    let err = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap_err();
    assert_eq!(err.category(), "AttestationSubjectMismatch");
    assert!(err.to_string().contains(&other), "{err}");
}

#[tokio::test]
async fn an_attestation_of_another_predicate_type_is_rejected_and_the_found_types_are_named() {
    let f = Fixture::new("acme/predicate-mismatch").await;
    let spdx = json!({"spdxVersion": "SPDX-2.3", "packages": []});
    // The layer annotation lies; the signed statement is what counts.
    let mut layer = att_layer(&f.statement(SPDX, &spdx), SPDX, &Signer::Key(&f.key), None).unwrap();
    layer
        .annotations
        .insert("predicateType".into(), SLSA_V1.into());
    f.attest(&[layer]).await;
    let err = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap_err();
    assert_eq!(err.category(), "PredicateTypeMismatch");
    assert!(err.to_string().contains(&format!("found: {SPDX}")), "{err}");
}

#[tokio::test]
async fn an_image_without_attestations_is_rejected_as_attestation_missing() {
    let f = Fixture::new("acme/no-att").await;
    let err = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap_err();
    assert_eq!(err.category(), "AttestationMissing");
    assert!(err.to_string().contains("carries no attestation"), "{err}");
}

#[tokio::test]
async fn an_attestation_signed_by_a_key_outside_the_policy_is_rejected() {
    let f = Fixture::new("acme/att-other-key").await;
    let intruder = Key::p256().unwrap();
    f.attest(&[att_layer(
        &f.statement(SLSA_V1, &provenance_v1()),
        SLSA_V1,
        &Signer::Key(&intruder),
        None,
    )
    .unwrap()])
        .await;
    let err = f.verify(&f.policy(PROVENANCE_POLICY)).await.unwrap_err();
    assert_eq!(err.category(), "AttestationInvalid");
    assert!(
        err.to_string()
            .contains("not signed by an authority of the policy"),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_envelopes_and_statements_are_rejected_as_malformed_artifacts() {
    let f = Fixture::new("acme/malformed").await;
    let good = att_layer(
        &f.statement(SLSA_V1, &provenance_v1()),
        SLSA_V1,
        &Signer::Key(&f.key),
        None,
    )
    .unwrap();
    let not_json = Layer {
        data: b"{\"payloadType\": ".to_vec(),
        ..good.clone()
    };
    let (env, _) = envelope(b"[1, 2, 3]", &f.key).unwrap();
    let not_a_statement = Layer {
        data: env,
        ..good.clone()
    };
    let verifier = verifier_for(&f.registry);
    for (layer, needle) in [
        (not_json, "not a DSSE envelope"),
        (not_a_statement, "not an in-toto statement"),
    ] {
        f.attest(&[layer]).await;
        let err = verifier
            .verify_uncached(
                &sealift_verify::ImageRef::parse(&f.image.by_digest()).unwrap(),
                &f.policy(PROVENANCE_POLICY),
            )
            .await
            .unwrap_err();
        assert_eq!(err.category(), "MalformedArtifact");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[tokio::test]
async fn an_oversized_attestation_layer_is_refused_without_being_downloaded() {
    let f = Fixture::new("acme/oversized").await;
    let big = json!({"padding": "x".repeat(64 * 1024)});
    f.attest(&[att_layer(
        &f.statement("https://example.com/big", &big),
        "https://example.com/big",
        &Signer::Key(&f.key),
        None,
    )
    .unwrap()])
        .await;
    let mut config = config_for(&f.registry);
    config.limits = Limits {
        max_layer_bytes: 16 * 1024,
        ..Limits::default()
    };
    let verifier = Verifier::new(config).unwrap();
    let policy = f.policy("  - predicateType: https://example.com/big\n");
    let err = verifier
        .verify(&f.image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "ArtifactTooLarge");
    assert!(err.to_string().contains("16384-byte limit"), "{err}");
    assert_eq!(
        verifier.request_counts().blobs,
        1,
        "only the signature layer was downloaded"
    );
}

#[tokio::test]
async fn sbom_vulnerability_and_custom_attestations_report_their_facts() {
    let f = Fixture::new("acme/facts").await;
    let custom = "https://acme.example/attestations/review/v1";
    let statements = [
        (
            SPDX,
            json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
        ),
        (
            CYCLONEDX,
            json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a"}]}),
        ),
        (
            VULN,
            json!({"scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.50.0",
                      "result": {"summary": {"criticalCount": 0, "highCount": 2, "mediumCount": 5, "lowCount": 9}}}}),
        ),
        (
            SLSA_V02,
            json!({"builder": {"id": "https://github.com/slsa-framework/slsa-github-generator"},
                          "invocation": {"configSource": {"uri": "git+https://github.com/acme/bookstore@refs/tags/v1",
                                                          "digest": {"sha1": "0123abcd"}}}}),
        ),
        (custom, json!({"approved": true})),
    ];
    let layers: Vec<Layer> = statements
        .iter()
        .map(|(pt, p)| att_layer(&f.statement(pt, p), pt, &Signer::Key(&f.key), None).unwrap())
        .collect();
    f.attest(&layers).await;
    let policy = f.policy(&format!(
        "  - predicateType: {SPDX}\n  - predicateType: {CYCLONEDX}\n  - predicateType: {VULN}\n    \
         policy: 'predicate.scanner.result.summary.criticalCount == 0'\n  - predicateType: {SLSA_V02}\n  \
         - predicateType: {custom}\n    policy: 'predicate.approved'\n"
    ));

    let evidence = f.verify(&policy).await.unwrap();

    let facts: Vec<_> = evidence
        .attestations
        .iter()
        .map(|a| (a.predicate_type.as_str(), &a.facts))
        .collect();
    assert_eq!(facts[0].1["sbomFormat"], "SPDX-2.3");
    assert_eq!(facts[0].1["packageCount"], "3");
    assert_eq!(facts[1].1["sbomFormat"], "CycloneDX-1.5");
    assert_eq!(facts[1].1["packageCount"], "1");
    assert_eq!(
        (facts[2].1["critical"].as_str(), facts[2].1["high"].as_str()),
        ("0", "2")
    );
    assert_eq!(facts[2].1["scanner"], "pkg:github/aquasecurity/trivy");
    assert_eq!(
        facts[3].1["sourceRepository"],
        "https://github.com/acme/bookstore"
    );
    assert_eq!(facts[3].1["sourceCommit"], "0123abcd");
    assert_eq!(facts[4], (custom, &Default::default()));
}
