//! What `sealift verify IMAGE@DIGEST --policy FILE --secrets-dir DIR` does, against the real
//! registry: every matching policy of the file must pass; none matching is a rejection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::image::push_test_image;
use sealift_verify::{OneShot, verify_once};
use support::*;

fn policy_file(name: &str, glob: &str, secret: &str) -> String {
    format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: {name}}}\nspec:\n  \
         images: [\"{glob}\"]\n  authorities:\n  - key: {{secretRef: {{name: {secret}}}}}\n  \
         transparencyLog: {{required: false}}\n"
    )
}

#[tokio::test]
async fn every_matching_policy_of_the_file_must_pass_with_keys_read_from_the_secrets_directory() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/oneshot", "v1", "x")
        .await
        .unwrap();
    let (team, platform) = (Key::p256().unwrap(), Key::ed25519().unwrap());
    let dir = std::env::temp_dir().join(format!("sealift-oneshot-{}", rand_suffix()));
    for (secret, key) in [("team-key", &team), ("platform-key", &platform)] {
        std::fs::create_dir_all(dir.join(secret)).unwrap();
        std::fs::write(dir.join(secret).join("cosign.pub"), key.public_pem()).unwrap();
    }
    let text = format!(
        "{}---\n{}---\n{}",
        policy_file("team", &format!("{}/acme/**", registry.host()), "team-key"),
        policy_file("platform", "**", "platform-key"),
        policy_file(
            "elsewhere",
            "registry.example.com/**",
            "missing-secret-is-never-read"
        ),
    );
    let payload = simple_signing(&image.repository, &image.digest);
    let options = || OneShot {
        policy_text: text.clone(),
        secrets_dir: Some(dir.clone()),
        trusted_root: None,
        config: config_for(&registry),
    };

    push_artifact(
        &registry,
        &image,
        "sig",
        &[sig_layer(&payload, &Signer::Key(&team), None).unwrap()],
    )
    .await
    .unwrap();
    let err = verify_once(&image.by_digest(), options()).await;
    // The third policy's Secret is missing: compiling the file fails before anything is checked.
    assert_eq!(err.unwrap_err().category(), "InvalidPolicy");

    let text_without_third = text.rsplit_once("---\n").unwrap().0.to_owned();
    let options = || OneShot {
        policy_text: text_without_third.clone(),
        ..options()
    };
    let err = verify_once(&image.by_digest(), options())
        .await
        .unwrap_err();
    assert_eq!(
        err.category(),
        "SignatureInvalid",
        "the platform policy also applies: {err}"
    );

    let layers = [
        sig_layer(&payload, &Signer::Key(&team), None).unwrap(),
        sig_layer(&payload, &Signer::Key(&platform), None).unwrap(),
    ];
    push_artifact(&registry, &image, "sig", &layers)
        .await
        .unwrap();
    let evidence = verify_once(&image.by_digest(), options()).await.unwrap();
    let names: Vec<_> = evidence.iter().map(|e| e.policy.name.as_str()).collect();
    assert_eq!(names, ["team", "platform"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_image_no_policy_of_the_file_covers_is_rejected() {
    let key = Key::p256().unwrap();
    let text = key_policy_text(&key);
    let options = OneShot {
        policy_text: text,
        ..OneShot::default()
    };
    let err = verify_once(
        "registry.example.com/acme-evil/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        options,
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), "NoMatchingPolicy");
    assert!(err.is_rejection());
}

fn key_policy_text(key: &Key) -> String {
    format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: p}}\nspec:\n  \
         images: [\"registry.example.com/acme/**\"]\n  authorities:\n  - key:\n      data: |\n{}\n  \
         transparencyLog: {{required: false}}\n",
        indent(&key.public_pem(), 8)
    )
}
