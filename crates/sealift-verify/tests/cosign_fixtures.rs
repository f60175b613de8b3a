//! Real material produced by cosign and the public-good Sigstore (the `sigstore` crate's published
//! test data, see `tests/fixtures/sigstore-rs/README.md`), so Sealift agrees with cosign and not
//! only with its own fixtures. Verified through the pure decision (`evaluate`), offline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sealift_verify::bundle::bundle_to_layer;
use sealift_verify::evaluate::{Artifacts, evaluate, verify_envelope_signer};
use sealift_verify::{CosignLayer, ImageRef};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use support::*;

const TRUSTED_ROOT: &str = include_str!("fixtures/sigstore-rs/sigstore_trusted_root.json");
const SIGNATURES: &str = include_str!("fixtures/sigstore-rs/cosign_signatures.json");
const KUBEWARDEN_BUNDLE: &str = include_str!("fixtures/sigstore-rs/bundle_v03.json");
const NPM_BUNDLE: &str = include_str!("fixtures/sigstore-rs/npm_slsa_bundle_v03.json");
const KUBEWARDEN_WORKFLOW: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

fn fixture(name: &str) -> Value {
    serde_json::from_str::<Value>(SIGNATURES).unwrap()[name].clone()
}

fn sig_layer_from(f: &Value, with_bundle: bool) -> CosignLayer {
    let payload = f["payload"].as_str().unwrap().as_bytes().to_vec();
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".into(),
        f["signature"].as_str().unwrap().into(),
    );
    if let Some(cert) = f.get("certificate").and_then(Value::as_str) {
        annotations.insert("dev.sigstore.cosign/certificate".into(), cert.into());
    }
    if with_bundle && let Some(b) = f.get("bundle") {
        annotations.insert("dev.sigstore.cosign/bundle".into(), b.to_string());
    }
    CosignLayer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&payload))),
        annotations,
        data: payload,
    }
}

fn image(f: &Value) -> ImageRef {
    let payload: Value = serde_json::from_str(f["payload"].as_str().unwrap()).unwrap();
    let reference = payload["critical"]["identity"]["docker-reference"]
        .as_str()
        .unwrap();
    ImageRef::parse(&format!("{reference}@{}", f["digest"].as_str().unwrap())).unwrap()
}

fn signatures(layers: Vec<CosignLayer>) -> Artifacts {
    Artifacts {
        signatures: Some(layers),
        ..Artifacts::default()
    }
}

#[test]
fn a_cosign_key_signature_verifies_with_its_public_key_and_fails_once_altered() {
    let f = fixture("key_signed");
    let key_pem = f["public_key"].as_str().unwrap();
    let policy = compile(&format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: p}}\nspec:\n  \
         images: ['registry-testing.svc.lan/**']\n  authorities:\n  - key:\n      data: |\n{}\n  \
         transparencyLog: {{required: false}}\n",
        indent(key_pem, 8)
    ))
    .unwrap();
    let image = image(&f);

    let evidence = evaluate(
        &policy,
        &image,
        &signatures(vec![sig_layer_from(&f, false)]),
        None,
    )
    .unwrap();
    assert!(
        evidence.signatures[0]
            .key_id
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );

    let mut altered = sig_layer_from(&f, false);
    altered.data = altered
        .data
        .iter()
        .map(|b| if *b == b'b' { b'B' } else { *b })
        .collect();
    let err = evaluate(&policy, &image, &signatures(vec![altered]), None).unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
}

fn keyless_policy_for(
    glob: &str,
    identity: &str,
) -> std::sync::Arc<sealift_verify::CompiledPolicy> {
    keyless_policy(
        glob,
        identity,
        &TRUSTED_ROOT.replace('\'', "''").replace('\n', " "),
        "",
    )
}

#[test]
fn a_2021_keyless_cosign_signature_verifies_against_the_public_good_trust_root() {
    let f = fixture("keyless_signed");
    let image = image(&f);
    let policy = keyless_policy_for(
        "registry-testing.svc.lan/**",
        "      - issuerRegExp: '.*'\n        subject: flavio@castelli.me",
    );

    let evidence = evaluate(
        &policy,
        &image,
        &signatures(vec![sig_layer_from(&f, true)]),
        None,
    )
    .unwrap();

    let sig = &evidence.signatures[0];
    assert_eq!(sig.identity.as_deref(), Some("flavio@castelli.me"));
    assert_eq!(
        sig.issuer, None,
        "2021 Fulcio certificates carried no OIDC issuer extension"
    );
    let rekor = sig.rekor.clone().unwrap();
    assert_eq!(
        (rekor.log_index, rekor.integrated_time),
        (783_607, 1_634_714_717)
    );
    assert_eq!(
        rekor.log_id.as_deref(),
        Some("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d")
    );
}

#[test]
fn the_real_keyless_signature_is_rejected_for_another_identity_or_an_altered_log_entry() {
    let f = fixture("keyless_signed");
    let image = image(&f);
    let policy = keyless_policy_for(
        "registry-testing.svc.lan/**",
        "      - issuerRegExp: '.*'\n        subject: mallory@example.com",
    );
    let err = evaluate(
        &policy,
        &image,
        &signatures(vec![sig_layer_from(&f, true)]),
        None,
    )
    .unwrap_err();
    assert_eq!(err.category(), "IdentityMismatch");

    let policy = keyless_policy_for(
        "registry-testing.svc.lan/**",
        "      - issuerRegExp: '.*'\n        subject: flavio@castelli.me",
    );
    let mut layer = sig_layer_from(&f, true);
    let bundle = layer
        .annotations
        .get_mut("dev.sigstore.cosign/bundle")
        .unwrap();
    *bundle = bundle.replace("783607", "783608");
    let err = evaluate(&policy, &image, &signatures(vec![layer]), None).unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid");
    assert!(err.to_string().contains("forged or altered"), "{err}");

    let err = evaluate(
        &policy,
        &image,
        &signatures(vec![sig_layer_from(&f, false)]),
        None,
    )
    .unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid");
}

fn kubewarden_image() -> ImageRef {
    let b: Value = serde_json::from_str(KUBEWARDEN_BUNDLE).unwrap();
    let statement: Value = serde_json::from_slice(
        &B64.decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let digest = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap();
    ImageRef::parse(&format!(
        "ghcr.io/kubewarden/kubewarden-controller@sha256:{digest}"
    ))
    .unwrap()
}

fn kubewarden_policy(extra: &str) -> std::sync::Arc<sealift_verify::CompiledPolicy> {
    keyless_policy(
        "ghcr.io/kubewarden/**",
        &format!("      - issuer: {GITHUB_ISSUER}\n        subject: {KUBEWARDEN_WORKFLOW}"),
        &TRUSTED_ROOT.replace('\n', " "),
        extra,
    )
}

#[test]
fn a_cosign_sigstore_bundle_signs_the_kubewarden_controller_image_with_set_and_inclusion_proof() {
    let layer = bundle_to_layer(KUBEWARDEN_BUNDLE.as_bytes()).unwrap();
    let artifacts = Artifacts {
        bundles: vec![layer],
        ..Artifacts::default()
    };
    let policy = kubewarden_policy(
        "  attestations:\n  - predicateType: https://sigstore.dev/cosign/sign/v1\n",
    );

    let evidence = evaluate(&policy, &kubewarden_image(), &artifacts, None).unwrap();

    let sig = &evidence.signatures[0];
    assert_eq!(sig.identity.as_deref(), Some(KUBEWARDEN_WORKFLOW));
    assert_eq!(sig.issuer.as_deref(), Some(GITHUB_ISSUER));
    let rekor = sig.rekor.clone().unwrap();
    assert_eq!(
        (rekor.log_index, rekor.integrated_time),
        (1_261_105_807, 1_775_719_409)
    );
    assert_eq!(
        evidence.attestations[0].predicate_type,
        "https://sigstore.dev/cosign/sign/v1"
    );
}

#[test]
fn the_kubewarden_bundle_is_rejected_with_a_broken_inclusion_proof_or_for_another_image() {
    let mut bundle: Value = serde_json::from_str(KUBEWARDEN_BUNDLE).unwrap();
    let hashes = &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"];
    hashes[0] = Value::String(B64.encode([7u8; 32]));
    let layer = bundle_to_layer(bundle.to_string().as_bytes()).unwrap();
    let artifacts = Artifacts {
        bundles: vec![layer],
        ..Artifacts::default()
    };
    let err = evaluate(
        &kubewarden_policy(""),
        &kubewarden_image(),
        &artifacts,
        None,
    )
    .unwrap_err();
    assert_eq!(err.category(), "TransparencyLogInvalid");
    assert!(
        err.to_string()
            .contains("inclusion proof does not lead to its root"),
        "{err}"
    );

    let other = ImageRef::parse(&format!(
        "ghcr.io/kubewarden/kubewarden-controller@sha256:{}",
        "0".repeat(64)
    ))
    .unwrap();
    let artifacts = Artifacts {
        bundles: vec![bundle_to_layer(KUBEWARDEN_BUNDLE.as_bytes()).unwrap()],
        ..Artifacts::default()
    };
    let err = evaluate(&kubewarden_policy(""), &other, &artifacts, None).unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(
        err.to_string().contains("copied from another image"),
        "{err}"
    );
}

#[test]
fn npm_slsa_provenance_from_the_public_good_instance_verifies_and_yields_its_facts() {
    let layer = bundle_to_layer(NPM_BUNDLE.as_bytes()).unwrap();
    let policy = keyless_policy(
        "**",
        &format!(
            "      - issuer: {GITHUB_ISSUER}\n        \
             subjectRegExp: '^https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main$'"
        ),
        &TRUSTED_ROOT.replace('\n', " "),
        "",
    );

    let (signer, statement) = verify_envelope_signer(&policy, &layer).unwrap();

    assert_eq!(signer.rekor.unwrap().log_index, 1_697_019_812);
    assert_eq!(statement.predicate_type, SLSA_V1);
    let facts = sealift_verify::facts::extract(SLSA_V1, &statement.predicate);
    assert_eq!(
        facts["sourceRepository"],
        "https://github.com/sigstore/sigstore-js"
    );
    assert_eq!(
        facts["sourceCommit"],
        "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a"
    );
    assert_eq!(
        facts["builderId"],
        "https://github.com/actions/runner/github-hosted"
    );

    let mut forged: Value = serde_json::from_str(NPM_BUNDLE).unwrap();
    let mut predicate = statement.predicate.clone();
    predicate["buildDefinition"]["externalParameters"]["workflow"]["repository"] =
        Value::from("https://github.com/evil/fork");
    let mut st: Value = serde_json::from_slice(
        &B64.decode(forged["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    st["predicate"] = predicate;
    forged["dsseEnvelope"]["payload"] = Value::from(B64.encode(serde_json::to_vec(&st).unwrap()));
    let err = verify_envelope_signer(
        &policy,
        &bundle_to_layer(forged.to_string().as_bytes()).unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.category(), "SignatureInvalid");
    assert!(err.to_string().contains("tampered"), "{err}");
}
