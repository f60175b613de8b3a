//! The cache (TTL, brief failure caching, coalescing), the request budget, and registries that
//! are unreachable, silent or hostile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sealift_testrig::image::push_test_image;
use sealift_verify::{
    CacheConfig, ImageRef, Limits, Outcome, PlainHttp, RegistryConfig, Verifier, VerifierConfig,
};
use std::time::{Duration, Instant};
use support::*;

const NO_TLOG: &str = "  transparencyLog: {required: false}\n";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_cached_verification_answers_with_the_same_evidence_and_no_registry_request() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/cached", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature(&registry, &image, &key).await;
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
    let verifier = verifier_for(&registry);

    let first = verifier.verify(&image.by_digest(), &policy).await.unwrap();
    let after_first = verifier.request_counts();
    let second = verifier.verify(&image.by_digest(), &policy).await.unwrap();

    assert_eq!(first, second);
    assert_eq!(
        verifier.request_counts(),
        after_first,
        "no request for a cached answer"
    );
    let stats = verifier.cache_stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_checks_are_coalesced_into_one_verification() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/coalesced", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature(&registry, &image, &key).await;
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
    let verifier = verifier_for(&registry);

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (verifier, policy, image) = (verifier.clone(), policy.clone(), image.by_digest());
            tokio::spawn(async move { verifier.verify(&image, &policy).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let counts = verifier.request_counts();
    assert_eq!(
        (counts.manifests, counts.blobs),
        (1, 1),
        "one verification's worth of requests"
    );
    let stats = verifier.cache_stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits + stats.coalesced, 19);
}

#[tokio::test]
async fn a_new_policy_generation_is_verified_afresh() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/generations", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature(&registry, &image, &key).await;
    let yaml = |generation: i64| {
        format!(
            "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\n\
             metadata: {{name: p, uid: fixed-uid, generation: {generation}}}\nspec:\n  images: [\"{}\"]\n  \
             authorities:\n  - key:\n      data: |\n{}\n{NO_TLOG}",
            image_glob(&image),
            indent(&key.public_pem(), 8)
        )
    };
    let verifier = verifier_for(&registry);
    let v1 = verifier
        .verify(&image.by_digest(), &compile(&yaml(1)).unwrap())
        .await
        .unwrap();
    verifier
        .verify(&image.by_digest(), &compile(&yaml(1)).unwrap())
        .await
        .unwrap();
    let v2 = verifier
        .verify(&image.by_digest(), &compile(&yaml(2)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (v1.policy.generation, v2.policy.generation),
        (Some(1), Some(2))
    );
    assert_eq!(
        verifier.request_counts().manifests,
        2,
        "generation 2 is a new question"
    );
}

#[tokio::test]
async fn a_failure_is_cached_briefly_then_checked_again() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/later-signed", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    let policy = key_policy(&image_glob(&image), &[&key], NO_TLOG);
    let mut config = config_for(&registry);
    config.cache = CacheConfig {
        failure_ttl: Duration::from_secs(1),
        ..CacheConfig::default()
    };
    let verifier = Verifier::new(config).unwrap();

    let err = verifier
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "SignatureMissing");
    let again = verifier
        .verify(&image.by_digest(), &policy)
        .await
        .unwrap_err();
    assert_eq!(again, err);
    assert_eq!(
        verifier.request_counts().manifests,
        1,
        "the rejection is served from the cache for a short while"
    );

    push_key_signature(&registry, &image, &key).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&image.by_digest(), &policy).await.unwrap();
    assert_eq!(verifier.request_counts().manifests, 2);
}

fn loopback_config(request_timeout: Duration, retries: u32) -> VerifierConfig {
    VerifierConfig {
        registry: RegistryConfig {
            plain_http: PlainHttp::Always,
            connect_timeout: Duration::from_millis(500),
            request_timeout,
            retries,
            retry_backoff: Duration::from_millis(10),
            ..RegistryConfig::default()
        },
        ..VerifierConfig::default()
    }
}

fn any_key_policy(glob: &str) -> std::sync::Arc<sealift_verify::CompiledPolicy> {
    key_policy(glob, &[&Key::p256().unwrap()], NO_TLOG)
}

#[tokio::test]
async fn an_unreachable_registry_is_a_transient_error_after_bounded_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let verifier = Verifier::new(loopback_config(Duration::from_secs(2), 2)).unwrap();
    let image = format!("127.0.0.1:{port}/acme/app@{DIGEST}");
    let err = verifier
        .verify(&image, &any_key_policy("127.0.0.1:*/**"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), "RegistryUnreachable");
    assert_eq!(err.outcome(), Outcome::Error);
    assert!(err.is_transient());
    assert_eq!(
        verifier.request_counts().manifests,
        3,
        "one try and two retries"
    );
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept connections and hold them open without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let verifier = Verifier::new(loopback_config(Duration::from_millis(300), 0)).unwrap();
    let start = Instant::now();
    let err = verifier
        .verify(
            &format!("127.0.0.1:{port}/acme/app@{DIGEST}"),
            &any_key_policy("127.0.0.1:*/**"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.category(), "RegistryTimeout");
    assert!(err.to_string().contains("within 300 ms"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_oversized_signature_manifest_is_refused() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/huge-manifest", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    let payload = simple_signing(&image.repository, &image.digest);
    let mut layer = sig_layer(&payload, &Signer::Key(&key), None).unwrap();
    layer
        .annotations
        .insert("padding".into(), "p".repeat(8 * 1024));
    push_artifact(&registry, &image, "sig", &[layer])
        .await
        .unwrap();
    let mut config = config_for(&registry);
    config.limits = Limits {
        max_manifest_bytes: 4 * 1024,
        ..Limits::default()
    };
    let err = Verifier::new(config)
        .unwrap()
        .verify(
            &image.by_digest(),
            &key_policy(&image_glob(&image), &[&key], NO_TLOG),
        )
        .await
        .unwrap_err();
    assert_eq!(err.category(), "ArtifactTooLarge");
    assert!(err.is_rejection());
}

#[tokio::test]
async fn a_reference_without_digest_is_an_error_not_a_rejection() {
    let verifier = Verifier::new(VerifierConfig::default()).unwrap();
    let err = verifier
        .verify(
            "registry.example.com/acme/app:latest",
            &any_key_policy("**"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.category(), "InvalidReference");
    assert_eq!(err.outcome(), Outcome::Error);
    assert!(ImageRef::parse(&format!("registry.example.com/acme/app@{DIGEST}")).is_ok());
}

#[tokio::test]
async fn a_key_rotated_in_its_secret_is_a_new_question_at_the_same_generation() {
    use sealift_verify::{CompiledPolicy, PolicyDocument};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/rotated", "v1", "x")
        .await
        .unwrap();
    let (old, new) = (Key::p256().unwrap(), Key::p256().unwrap());
    push_key_signature(&registry, &image, &old).await;
    let yaml = format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\n\
         metadata: {{name: p, namespace: shop, uid: same-uid, generation: 1}}\nspec:\n  \
         images: [\"{}\"]\n  authorities:\n  - key: {{secretRef: {{name: cosign}}}}\n{NO_TLOG}",
        image_glob(&image)
    );
    let doc = &PolicyDocument::parse_all(&yaml).unwrap()[0];
    let with_key = |key: &Key| {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            ("cosign".to_owned(), "cosign.pub".to_owned()),
            key.public_pem().into_bytes(),
        );
        Arc::new(CompiledPolicy::from_document(doc, &secrets, None).unwrap())
    };
    let verifier = verifier_for(&registry);

    verifier
        .verify(&image.by_digest(), &with_key(&old))
        .await
        .unwrap();
    let err = verifier
        .verify(&image.by_digest(), &with_key(&new))
        .await
        .unwrap_err();

    assert_eq!(err.category(), "SignatureInvalid");
    assert_eq!(verifier.cache_stats().hits, 0);
}
