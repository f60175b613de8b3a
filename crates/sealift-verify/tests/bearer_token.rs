//! The distribution bearer-token flow against the real registry configured with token auth: a
//! 401 challenge names the realm, a token is fetched with the credentials, reused until it
//! expires, and wrong credentials are an error, never a rejection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use oci_client::secrets::RegistryAuth;
use sealift_verify::{
    ImageRef, Outcome, PlainHttp, RegistryConfig, RegistryCredentials, Verifier, VerifierConfig,
};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use support::token_registry::TokenRegistry;
use support::*;

fn config(registry: &TokenRegistry, password: &str) -> VerifierConfig {
    let mut credentials = BTreeMap::new();
    credentials.insert(
        registry.host(),
        RegistryCredentials {
            username: registry.username.clone(),
            password: password.to_owned(),
        },
    );
    VerifierConfig {
        registry: RegistryConfig {
            plain_http: PlainHttp::Always,
            credentials,
            retries: 0,
            ..RegistryConfig::default()
        },
        ..VerifierConfig::default()
    }
}

/// Pushes an image and its key signature; returns `repository@digest`.
async fn signed_image(registry: &TokenRegistry, repo: &str, key: &Key) -> String {
    let auth = RegistryAuth::Basic(registry.username.clone(), registry.password.clone());
    let content = Layer {
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        data: format!("content of {repo} {}", rand_suffix()).into_bytes(),
        annotations: BTreeMap::new(),
    };
    let repository = format!("{}/{repo}", registry.host());
    let digest = push_layers(&format!("{repository}:v1"), &auth, &[content])
        .await
        .unwrap();
    let payload = simple_signing(&repository, &digest);
    let tag = format!(
        "{repository}:sha256-{}.sig",
        digest.trim_start_matches("sha256:")
    );
    push_layers(
        &tag,
        &auth,
        &[sig_layer(&payload, &Signer::Key(key), None).unwrap()],
    )
    .await
    .unwrap();
    format!("{repository}@{digest}")
}

#[tokio::test]
async fn the_bearer_token_flow_is_followed_and_the_token_is_reused_for_the_repository() {
    let registry = TokenRegistry::start().await;
    let key = Key::p256().unwrap();
    let first = signed_image(&registry, "acme/one", &key).await;
    let second = signed_image(&registry, "acme/one", &key).await;
    let policy = key_policy(
        &format!("{}/**", registry.host()),
        &[&key],
        "  transparencyLog: {required: false}\n",
    );
    let verifier = Verifier::new(config(&registry, &registry.password)).unwrap();
    let issued_before = registry.issued.load(Ordering::Relaxed);

    verifier.verify(&first, &policy).await.unwrap();
    verifier
        .verify_uncached(&ImageRef::parse(&second).unwrap(), &policy)
        .await
        .unwrap();

    let counts = verifier.request_counts();
    assert_eq!(
        counts.challenges, 1,
        "one 401 taught the client the token realm"
    );
    assert_eq!(
        counts.tokens, 1,
        "one token for repository:acme/one:pull, reused"
    );
    assert_eq!((counts.manifests, counts.blobs), (2, 2));
    assert_eq!(registry.issued.load(Ordering::Relaxed) - issued_before, 1);
}

#[tokio::test]
async fn wrong_credentials_at_the_token_endpoint_are_an_error_not_a_rejection() {
    let registry = TokenRegistry::start().await;
    let key = Key::p256().unwrap();
    let image = signed_image(&registry, "acme/private", &key).await;
    let policy = key_policy(
        &format!("{}/**", registry.host()),
        &[&key],
        "  transparencyLog: {required: false}\n",
    );
    let verifier = Verifier::new(config(&registry, "not-the-password")).unwrap();
    let err = verifier.verify(&image, &policy).await.unwrap_err();
    assert_eq!(err.category(), "RegistryAuthFailed");
    assert_eq!(err.outcome(), Outcome::Error);
    assert!(!err.to_string().contains("not-the-password"));
}

#[tokio::test]
async fn anonymous_access_to_a_token_registry_is_refused_as_an_auth_error() {
    let registry = TokenRegistry::start().await;
    let key = Key::p256().unwrap();
    let image = signed_image(&registry, "acme/anon", &key).await;
    let policy = key_policy(
        &format!("{}/**", registry.host()),
        &[&key],
        "  transparencyLog: {required: false}\n",
    );
    let mut cfg = config(&registry, "");
    cfg.registry.credentials.clear();
    let err = Verifier::new(cfg)
        .unwrap()
        .verify(&image, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "RegistryAuthFailed");
}
