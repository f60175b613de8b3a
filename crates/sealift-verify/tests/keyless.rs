//! Keyless cosign `.sig` signatures against the real registry: a test Fulcio-style CA, a test
//! Rekor key signing SETs and a `trusted_root.json` built from them. Includes both forgeries of
//! TESTRIG.md's trap, which the sigstore crate's identity constraints alone accept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::image::{TestImage, push_test_image};
use sealift_testrig::registry::Registry;
use support::sigstore_oracle::sigstore_identity_check_accepts;
use support::*;

struct Fixture {
    registry: Registry,
    image: TestImage,
    ca: TestCa,
    rekor: TestRekor,
    root_json: String,
    key: Key,
}

impl Fixture {
    async fn new(repo: &str) -> Fixture {
        let registry = start_registry();
        let image = push_test_image(&registry, repo, "v1", repo).await.unwrap();
        let ca = TestCa::with_intermediate("fulcio-test").unwrap();
        let rekor = TestRekor::new().unwrap();
        let root_json = trusted_root_json(&[(&ca, None, None)], &[&rekor]).unwrap();
        Fixture {
            registry,
            image,
            ca,
            rekor,
            root_json,
            key: Key::p256().unwrap(),
        }
    }

    fn payload(&self) -> Vec<u8> {
        simple_signing(&self.image.repository, &self.image.digest)
    }

    fn signer(&self, subject: &str, issuer: &str) -> Signer<'_> {
        Signer::Keyless {
            key: &self.key,
            cert_pem: self.ca.issue_now(subject, issuer, &self.key).unwrap(),
        }
    }

    async fn push(&self, layer: Layer) {
        push_artifact(&self.registry, &self.image, "sig", &[layer])
            .await
            .unwrap();
    }

    fn policy(&self, identities: &str) -> std::sync::Arc<sealift_verify::CompiledPolicy> {
        keyless_policy(&image_glob(&self.image), identities, &self.root_json, "")
    }

    fn release_policy(&self) -> std::sync::Arc<sealift_verify::CompiledPolicy> {
        self.policy(&format!(
            "      - issuer: {GITHUB_ISSUER}\n        subject: {RELEASE_WORKFLOW}"
        ))
    }

    async fn verify(
        &self,
        policy: &std::sync::Arc<sealift_verify::CompiledPolicy>,
    ) -> Result<sealift_api::Evidence, sealift_verify::VerifyError> {
        verifier_for(&self.registry)
            .verify(&self.image.by_digest(), policy)
            .await
    }

    async fn sigstore_accepts(&self) -> bool {
        sigstore_identity_check_accepts(
            &self.image,
            &self.root_json,
            RELEASE_WORKFLOW,
            GITHUB_ISSUER,
        )
        .await
    }
}

#[tokio::test]
async fn a_keyless_signature_of_the_release_workflow_verifies_and_records_identity_issuer_and_log_entry()
 {
    let f = Fixture::new("acme/keyless").await;
    let t = now();
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
            Some((&f.rekor, t)),
        )
        .unwrap(),
    )
    .await;

    let evidence = f.verify(&f.release_policy()).await.unwrap();

    let sig = &evidence.signatures[0];
    assert_eq!(sig.authority, "release-workflow");
    assert_eq!(sig.identity.as_deref(), Some(RELEASE_WORKFLOW));
    assert_eq!(sig.issuer.as_deref(), Some(GITHUB_ISSUER));
    assert!(sig.key_id.is_none());
    let rekor = sig.rekor.clone().unwrap();
    assert_eq!(
        (rekor.integrated_time, rekor.log_id),
        (t, Some(f.rekor.log_id.clone()))
    );
    assert!(
        f.sigstore_accepts().await,
        "the sigstore crate agrees the fixture is valid"
    );
}

#[tokio::test]
async fn identity_regular_expressions_and_email_subjects_match_like_cosign() {
    let f = Fixture::new("acme/regex").await;
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
            Some((&f.rekor, now())),
        )
        .unwrap(),
    )
    .await;
    let policy = f.policy(
        "      - issuerRegExp: '^https://token\\.actions\\.githubusercontent\\.com$'\n        \
         subjectRegExp: '^https://github\\.com/acme/.+/\\.github/workflows/release\\.yml@refs/heads/main$'",
    );
    f.verify(&policy).await.unwrap();

    f.push(
        sig_layer(
            &f.payload(),
            &f.signer("jane@acme.example", "https://accounts.google.com"),
            Some((&f.rekor, now())),
        )
        .unwrap(),
    )
    .await;
    let policy =
        f.policy("      - issuer: https://accounts.google.com\n        subject: jane@acme.example");
    let evidence = f.verify(&policy).await.unwrap();
    assert_eq!(
        evidence.signatures[0].identity.as_deref(),
        Some("jane@acme.example")
    );
}

#[tokio::test]
async fn a_certificate_for_another_workflow_is_rejected_as_identity_mismatch() {
    let f = Fixture::new("acme/wrong-identity").await;
    let other = "https://github.com/acme/bookstore/.github/workflows/debug.yml@refs/heads/dev";
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(other, GITHUB_ISSUER),
            Some((&f.rekor, now())),
        )
        .unwrap(),
    )
    .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "IdentityMismatch");
    assert!(err.to_string().contains("debug.yml"), "{err}");
    assert!(
        err.to_string().contains("not an accepted identity"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_oidc_issuer_is_rejected_with_an_issuer_reason() {
    let f = Fixture::new("acme/wrong-issuer").await;
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(RELEASE_WORKFLOW, "https://evil-issuer.example"),
            Some((&f.rekor, now())),
        )
        .unwrap(),
    )
    .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "IdentityMismatch");
    assert!(
        err.to_string()
            .contains("OIDC issuer \"https://evil-issuer.example\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_that_expired_before_the_rekor_integrated_time_is_rejected() {
    let f = Fixture::new("acme/expired").await;
    let cert_pem =
        f.ca.issue(
            RELEASE_WORKFLOW,
            GITHUB_ISSUER,
            &f.key,
            now() - 3600,
            now() - 3000,
        )
        .unwrap();
    let signer = Signer::Keyless {
        key: &f.key,
        cert_pem,
    };
    f.push(sig_layer(&f.payload(), &signer, Some((&f.rekor, now()))).unwrap())
        .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "CertificateUntrusted");
    assert!(
        err.to_string()
            .contains("not valid at the Rekor integrated time"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_from_a_ca_outside_the_trust_root_is_rejected() {
    let f = Fixture::new("acme/untrusted-ca").await;
    let rogue = TestCa::new("rogue-ca").unwrap();
    let signer = Signer::Keyless {
        key: &f.key,
        cert_pem: rogue
            .issue_now(RELEASE_WORKFLOW, GITHUB_ISSUER, &f.key)
            .unwrap(),
    };
    f.push(sig_layer(&f.payload(), &signer, Some((&f.rekor, now()))).unwrap())
        .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "CertificateUntrusted");
    assert!(
        err.to_string()
            .contains("not issued by a certificate authority of the trust root"),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_outside_its_trust_root_validity_window_is_not_trusted() {
    let f = Fixture::new("acme/ca-window").await;
    let root_json = trusted_root_json(
        &[(&f.ca, Some(now() - 7200), Some(now() - 3600))],
        &[&f.rekor],
    )
    .unwrap();
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
            Some((&f.rekor, now())),
        )
        .unwrap(),
    )
    .await;
    let policy = keyless_policy(
        &image_glob(&f.image),
        &format!("      - issuer: {GITHUB_ISSUER}\n        subject: {RELEASE_WORKFLOW}"),
        &root_json,
        "",
    );
    let err = f.verify(&policy).await.unwrap_err();
    assert_eq!(err.category(), "CertificateUntrusted");
    assert!(
        err.to_string()
            .contains("no certificate authority of the trust root was valid"),
        "{err}"
    );
}

#[tokio::test]
async fn a_keyless_signature_without_a_rekor_bundle_is_rejected() {
    let f = Fixture::new("acme/no-bundle").await;
    f.push(
        sig_layer(
            &f.payload(),
            &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
            None,
        )
        .unwrap(),
    )
    .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid");
    assert!(err.to_string().contains("no Rekor bundle"), "{err}");
}

#[tokio::test]
async fn a_set_signed_by_a_key_outside_the_trust_root_is_rejected_as_forged() {
    let f = Fixture::new("acme/forged-set").await;
    let forger = TestRekor::new().unwrap();
    let mut layer = sig_layer(
        &f.payload(),
        &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
        Some((&forger, now())),
    )
    .unwrap();
    let bundle = layer
        .annotations
        .get_mut("dev.sigstore.cosign/bundle")
        .unwrap();
    *bundle = bundle.replace(&forger.log_id, &f.rekor.log_id);
    f.push(layer).await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid");
    assert!(err.to_string().contains("forged or altered"), "{err}");
}

#[tokio::test]
async fn a_payload_tampered_after_signing_is_rejected_although_sigstore_identity_checks_accept_it()
{
    let f = Fixture::new("acme/trap-tampered").await;
    let mut layer = sig_layer(
        &f.payload(),
        &f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER),
        Some((&f.rekor, now())),
    )
    .unwrap();
    // Still about this digest (so sigstore's digest check passes), but not the bytes signed.
    layer.data = simple_signing("evil.example/anything", &f.image.digest);
    f.push(layer).await;

    let err = f.verify(&f.release_policy()).await.unwrap_err();

    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains("tampered after signing"), "{err}");
    assert!(
        f.sigstore_accepts().await,
        "TESTRIG.md's trap: sigstore's identity constraint alone accepts the tampered payload"
    );
}

#[tokio::test]
async fn a_rekor_bundle_copied_from_another_signature_is_rejected_although_sigstore_identity_checks_accept_it()
 {
    let f = Fixture::new("acme/trap-copied").await;
    let signer = f.signer(RELEASE_WORKFLOW, GITHUB_ISSUER);
    // A genuine, logged signature of another image by the same identity...
    let other_payload = simple_signing(&f.image.repository, &format!("sha256:{}", "ab".repeat(32)));
    let logged = sig_layer(&other_payload, &signer, Some((&f.rekor, now()))).unwrap();
    // ...whose bundle is stapled onto a signature that was never logged.
    let mut layer = sig_layer(&f.payload(), &signer, None).unwrap();
    layer.annotations.insert(
        "dev.sigstore.cosign/bundle".into(),
        logged.annotations["dev.sigstore.cosign/bundle"].clone(),
    );
    f.push(layer).await;

    let err = f.verify(&f.release_policy()).await.unwrap_err();

    assert_eq!(err.category(), "TransparencyLogInvalid");
    assert!(err.to_string().contains("records another payload"), "{err}");
    assert!(
        f.sigstore_accepts().await,
        "TESTRIG.md's trap: sigstore checks the copied SET but not that it logs this signature"
    );
}

#[tokio::test]
async fn a_keyless_layer_does_not_satisfy_a_key_authority_and_vice_versa() {
    let f = Fixture::new("acme/mixed").await;
    let key = Key::p256().unwrap();
    f.push(sig_layer(&f.payload(), &Signer::Key(&key), None).unwrap())
        .await;
    let err = f.verify(&f.release_policy()).await.unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains("no signing certificate"), "{err}");
}
