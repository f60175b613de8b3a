//! Trust-policy documents: strict parsing whose errors name the field path, compilation errors a
//! platform team can act on, Secrets, and fail-closed selection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_verify::{
    CompiledPolicy, ImageRef, NoSecrets, PolicyDocument, PolicyKind, SecretDir, VerifyError,
    select_policies,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use support::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key_yaml(key: &Key, extra: &str) -> String {
    format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\nmetadata:\n  name: bookstore\n  namespace: shop\n  \
         labels: {{team: books}}\nspec:\n  images: [\"registry.example.com/acme/**\"]\n  authorities:\n  \
         - key:\n      data: |\n{}\n{extra}",
        indent(&key.public_pem(), 8)
    )
}

fn invalid(yaml: &str) -> (String, String) {
    match compile(yaml).unwrap_err() {
        VerifyError::InvalidPolicy { path, reason } => (path, reason),
        other => panic!("expected InvalidPolicy, got {other}"),
    }
}

#[test]
fn a_misspelt_field_is_an_error_naming_its_path() {
    let key = Key::p256().unwrap();
    let yaml = key_yaml(&key, "  transparencyLog: {requried: false}\n");
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "document 0: spec.transparencyLog.requried");
    assert!(
        reason.contains("unknown field `requried`, expected `required`"),
        "{reason}"
    );

    let yaml = key_yaml(
        &key,
        "  attestations:\n  - predicateType: x\n    polcy: 'true'\n",
    );
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "document 0: spec.attestations[0].polcy");
    assert!(reason.contains("unknown field `polcy`"), "{reason}");

    let yaml = key_yaml(&key, "").replace("kind: TrustPolicy", "kind: TrustPolicy\nspecc: {}");
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "document 0: specc");
    assert!(reason.contains("unknown field `specc`"), "{reason}");
}

#[test]
fn a_wrong_type_names_its_path_too() {
    let yaml = key_yaml(&Key::p256().unwrap(), "  threshold: two\n");
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "document 0: spec.threshold");
    assert!(reason.contains("invalid type"), "{reason}");
}

#[test]
fn both_or_neither_of_key_and_keyless_is_refused() {
    let yaml = "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {name: p}\n\
                spec:\n  images: ['**']\n  authorities:\n  - name: nothing\n";
    let (path, reason) = invalid(yaml);
    assert_eq!(path, "spec.authorities[0]");
    assert!(
        reason.contains("exactly one of `key` and `keyless`"),
        "{reason}"
    );
}

#[test]
fn a_key_that_is_not_a_pem_public_key_is_refused() {
    let yaml = "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {name: p}\n\
                spec:\n  images: ['**']\n  authorities:\n  - key: {data: 'ssh-ed25519 AAAA'}\n  \
                transparencyLog: {required: false}\n";
    let (path, reason) = invalid(yaml);
    assert_eq!(path, "spec.authorities[0].key");
    assert!(reason.contains("not a PEM public key"), "{reason}");
}

#[test]
fn an_identity_with_an_invalid_regex_or_without_a_subject_is_refused() {
    let root = trusted_root_json(
        &[(&TestCa::new("ca").unwrap(), None, None)],
        &[&TestRekor::new().unwrap()],
    )
    .unwrap();
    let yaml = keyless_policy_yaml(
        "**",
        "      - issuer: x\n        subjectRegExp: '(unclosed'",
        &root,
        "",
    );
    let (path, reason) = invalid(&yaml);
    assert_eq!(
        path,
        "spec.authorities[0].keyless.identities[0].subjectRegExp"
    );
    assert!(reason.contains("invalid regular expression"), "{reason}");
    let yaml = keyless_policy_yaml("**", "      - issuer: x", &root, "");
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "spec.authorities[0].keyless.identities[0]");
    assert!(
        reason.contains("exactly one of `subject` and `subjectRegExp`"),
        "{reason}"
    );
}

#[test]
fn a_trust_root_that_is_not_a_trusted_root_json_is_refused() {
    let yaml = keyless_policy_yaml(
        "**",
        "      - issuer: x\n        subject: someone",
        "{\"tlogs\": 3}",
        "",
    );
    let (path, reason) = invalid(&yaml);
    assert_eq!(path, "spec.authorities[0].keyless.trustRoot");
    assert!(reason.contains("trusted_root.json"), "{reason}");
}

#[test]
fn a_threshold_above_the_number_of_authorities_is_refused() {
    let (path, reason) = invalid(&key_yaml(
        &Key::p256().unwrap(),
        "  threshold: 2\n  transparencyLog: {required: false}\n",
    ));
    assert_eq!(path, "spec.threshold");
    assert!(
        reason.contains("between 1 and the number of authorities (1)"),
        "{reason}"
    );
}

#[test]
fn a_required_transparency_log_without_any_rekor_key_is_refused_for_key_authorities() {
    let (path, reason) = invalid(&key_yaml(&Key::p256().unwrap(), ""));
    assert_eq!(path, "spec.transparencyLog.required");
    assert!(reason.contains("no trust root with Rekor keys"), "{reason}");
    let root = Arc::new(
        sealift_verify::TrustedRoot::from_json(
            trusted_root_json(&[], &[&TestRekor::new().unwrap()])
                .unwrap()
                .as_bytes(),
        )
        .unwrap(),
    );
    compile_with_root(&key_yaml(&Key::p256().unwrap(), ""), Some(root)).unwrap();
}

#[test]
fn a_keyless_authority_without_trust_root_needs_a_default_one() {
    let yaml = "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {name: p}\n\
                spec:\n  images: ['**']\n  authorities:\n  - keyless:\n      identities: [{issuer: i, subject: s}]\n";
    let (path, _) = invalid(yaml);
    assert_eq!(path, "spec.authorities[0].keyless.trustRoot");
}

#[test]
fn keys_and_trust_roots_are_read_from_secrets_with_their_default_keys() {
    let key = Key::p256().unwrap();
    let root = trusted_root_json(
        &[(&TestCa::new("ca").unwrap(), None, None)],
        &[&TestRekor::new().unwrap()],
    )
    .unwrap();
    let yaml = "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\nmetadata: {name: p, namespace: shop}\n\
                spec:\n  images: ['**']\n  authorities:\n  - key: {secretRef: {name: cosign}}\n  \
                - keyless:\n      identities: [{issuer: i, subject: s}]\n      \
                trustRoot: {secretRef: {name: sigstore, key: root.json}}\n";
    let doc = &PolicyDocument::parse_all(yaml).unwrap()[0];

    let mut secrets = BTreeMap::new();
    secrets.insert(
        ("cosign".to_owned(), "cosign.pub".to_owned()),
        key.public_pem().into_bytes(),
    );
    secrets.insert(
        ("sigstore".to_owned(), "root.json".to_owned()),
        root.clone().into_bytes(),
    );
    CompiledPolicy::from_document(doc, &secrets, None).unwrap();

    let dir = tempfile_dir();
    std::fs::create_dir_all(dir.join("cosign")).unwrap();
    std::fs::write(dir.join("cosign/cosign.pub"), key.public_pem()).unwrap();
    let err = CompiledPolicy::from_document(doc, &SecretDir(dir.clone()), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("Secret sigstore has no key root.json"),
        "{err}"
    );
    std::fs::create_dir_all(dir.join("sigstore")).unwrap();
    std::fs::write(dir.join("sigstore/root.json"), root).unwrap();
    CompiledPolicy::from_document(doc, &SecretDir(dir.clone()), None).unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    let err = CompiledPolicy::from_document(doc, &NoSecrets, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid trust policy at spec.authorities[0].key.secretRef: Secret cosign has no key cosign.pub"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sealift-secrets-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn several_documents_parse_with_their_identity_and_a_file_gets_a_content_uid() {
    let key = Key::p256().unwrap();
    let text = format!(
        "{}---\n{}",
        key_yaml(&key, "  transparencyLog: {required: false}\n"),
        key_yaml(&key, "  transparencyLog: {required: false}\n")
            .replace("kind: TrustPolicy", "kind: ClusterTrustPolicy")
            .replace(
                "name: bookstore",
                "name: everything\n  uid: \"1234\"\n  generation: 7"
            )
    );
    let docs = PolicyDocument::parse_all(&text).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].meta.kind, PolicyKind::TrustPolicy);
    assert_eq!(docs[0].meta.namespace.as_deref(), Some("shop"));
    assert!(docs[0].meta.uid.starts_with("sha256:"));
    assert_eq!(
        (docs[1].meta.kind, docs[1].meta.namespace.clone()),
        (PolicyKind::ClusterTrustPolicy, None)
    );
    assert_eq!(
        (docs[1].meta.uid.as_str(), docs[1].meta.generation),
        ("1234", 7)
    );
}

#[test]
fn a_document_of_another_kind_or_version_is_refused() {
    let yaml = key_yaml(&Key::p256().unwrap(), "").replace("kind: TrustPolicy", "kind: Promotion");
    assert_eq!(invalid(&yaml).0, "document 0: kind");
    let yaml = key_yaml(&Key::p256().unwrap(), "").replace("v1alpha1", "v1");
    assert_eq!(invalid(&yaml).0, "document 0: apiVersion");
    assert!(PolicyDocument::parse_all("").is_err());
    assert!(
        PolicyDocument::parse_all("a: [unclosed")
            .unwrap_err()
            .to_string()
            .contains("not valid YAML")
    );
}

#[test]
fn selection_is_fail_closed_and_returns_every_matching_policy() {
    let key = Key::p256().unwrap();
    let policy = |glob: &str| key_policy(glob, &[&key], "  transparencyLog: {required: false}\n");
    let policies = [
        policy("registry.example.com/acme/**"),
        policy("registry.example.com/acme/catalog"),
        policy("registry.example.com/other/*"),
    ];
    let image = ImageRef::parse(&format!("registry.example.com/acme/catalog@{DIGEST}")).unwrap();
    assert_eq!(select_policies(&image, &policies).unwrap().len(), 2);
    let evil =
        ImageRef::parse(&format!("registry.example.com/acme-evil/catalog@{DIGEST}")).unwrap();
    assert_eq!(
        select_policies(&evil, &policies).unwrap_err().category(),
        "NoMatchingPolicy"
    );
}
