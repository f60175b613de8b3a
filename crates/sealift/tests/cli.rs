//! `sealift promote`'s contract with a CI job: exit codes and messages for input it cannot use,
//! and the file left untouched when nothing happened. (Real promotions: tests/e2e.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn sealift(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealift"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap()
}

const POLICY: &str = r#"apiVersion: sealift.dev/v1alpha1
kind: TrustPolicy
metadata: {name: bookstore}
spec:
  images: ["127.0.0.1:1/**"]
  authorities:
  - key: {data: "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"}
  transparencyLog: {required: false}
"#;

fn promotion(from: &str) -> String {
    format!(
        r#"apiVersion: sealift.dev/v1alpha1
kind: Promotion
metadata: {{name: catalog-to-prod, namespace: bookstore}}
spec:
  repository: {{url: "http://127.0.0.1:1/acme/gitops.git", branch: main}}
  from: {from}
  to: overlays/prod
  policyRef: {{kind: TrustPolicy, name: bookstore}}
  push: direct
"#
    )
}

#[test]
fn a_file_that_is_not_a_promotion_fails_with_exit_code_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "kind: Promotion\nspec: [not, a, map]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let out = sealift(
        &["promote", "-f", "p.yaml", "--policy", "policy.yaml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.yaml is not a Promotion"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("p.yaml")).unwrap(),
        "kind: Promotion\nspec: [not, a, map]\n",
        "the file is untouched"
    );
}

#[test]
fn an_invalid_spec_is_rejected_with_exit_code_1_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), promotion("../escape")).unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let out = sealift(
        &["promote", "-f", "p.yaml", "--policy", "policy.yaml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("InvalidSpec") && err.contains("spec.from"),
        "{err}"
    );
    // The state went back into the file: phase Rejected with the reason.
    let saved = std::fs::read_to_string(dir.path().join("p.yaml")).unwrap();
    assert!(saved.contains("phase: Rejected"), "{saved}");
    assert!(saved.contains("reason: InvalidSpec"), "{saved}");
}

#[test]
fn an_unreachable_repository_fails_with_exit_code_2_after_bounded_retries() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), promotion("overlays/staging")).unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let out = sealift(
        &[
            "promote",
            "-f",
            "p.yaml",
            "--policy",
            "policy.yaml",
            "--max-attempts",
            "2",
            "-o",
            "-",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("phase: Failed"), "{stdout}");
    assert!(stdout.contains("RetriesExhausted"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("p.yaml")).unwrap(),
        promotion("overlays/staging"),
        "-o - leaves the file alone"
    );
}

#[test]
fn help_teaches_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = sealift(&["promote", "--help"], dir.path());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["1 rejected", "2\nfailed", "--secrets-dir", "--wait"] {
        assert!(
            help.replace('\n', " ").contains(&needle.replace('\n', " ")),
            "{needle}: {help}"
        );
    }
}
