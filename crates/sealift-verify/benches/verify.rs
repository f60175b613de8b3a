//! `make bench` (`cargo bench -p sealift-verify`): verifications per second cold (the rig's real
//! registry on loopback, nothing cached) and cached, and registry requests per verification.
//! Target (issue #2): a cached check under 50 µs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use sealift_testrig::image::{TestImage, push_test_image};
use sealift_testrig::registry::Registry;
use sealift_verify::{CompiledPolicy, ImageRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const IMAGES: usize = 40;
const CACHED_CHECKS: usize = 200_000;

struct Scenario {
    name: &'static str,
    images: Vec<TestImage>,
    policy: Arc<CompiledPolicy>,
}

async fn key_scenario(registry: &Registry) -> Scenario {
    let key = Key::p256().unwrap();
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let image = push_test_image(registry, "bench/key", &format!("v{i}"), &format!("key {i}"))
            .await
            .unwrap();
        let payload = simple_signing(&image.repository, &image.digest);
        push_artifact(
            registry,
            &image,
            "sig",
            &[sig_layer(&payload, &Signer::Key(&key), None).unwrap()],
        )
        .await
        .unwrap();
        images.push(image);
    }
    let policy = key_policy(
        &image_glob(&images[0]),
        &[&key],
        "  transparencyLog: {required: false}\n",
    );
    Scenario {
        name: "key .sig",
        images,
        policy,
    }
}

async fn keyless_scenario(registry: &Registry) -> Scenario {
    let (ca, rekor, key) = (
        TestCa::with_intermediate("bench-ca").unwrap(),
        TestRekor::new().unwrap(),
        Key::p256().unwrap(),
    );
    let root_json = trusted_root_json(&[(&ca, None, None)], &[&rekor]).unwrap();
    let signer = Signer::Keyless {
        key: &key,
        cert_pem: ca
            .issue(
                RELEASE_WORKFLOW,
                GITHUB_ISSUER,
                &key,
                now() - 300,
                now() + 3600,
            )
            .unwrap(),
    };
    let predicate = serde_json::json!({"buildDefinition": {"externalParameters": {"workflow": {
        "repository": "https://github.com/acme/bookstore"}}}, "runDetails": {"builder": {"id": "gha"}}});
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let image = push_test_image(
            registry,
            "bench/keyless",
            &format!("v{i}"),
            &format!("keyless {i}"),
        )
        .await
        .unwrap();
        let payload = simple_signing(&image.repository, &image.digest);
        push_artifact(
            registry,
            &image,
            "sig",
            &[sig_layer(&payload, &signer, Some((&rekor, now()))).unwrap()],
        )
        .await
        .unwrap();
        let st = statement(&image.digest, SLSA_V1, &predicate);
        push_artifact(
            registry,
            &image,
            "att",
            &[att_layer(
                &st,
                SLSA_V1,
                &signer,
                Some((&rekor, now(), EntryKind::Dsse)),
            )
            .unwrap()],
        )
        .await
        .unwrap();
        images.push(image);
    }
    let identity = format!("      - issuer: {GITHUB_ISSUER}\n        subject: {RELEASE_WORKFLOW}");
    let policy = keyless_policy(
        &image_glob(&images[0]),
        &identity,
        &root_json,
        "  attestations:\n  - predicateType: https://slsa.dev/provenance/v1\n    policy: \
         'predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/acme/bookstore\"'\n",
    );
    Scenario {
        name: "keyless .sig + SLSA .att + CEL",
        images,
        policy,
    }
}

async fn run(registry: &Registry, s: &Scenario) {
    let refs: Vec<ImageRef> = s
        .images
        .iter()
        .map(|i| ImageRef::parse(&i.by_digest()).unwrap())
        .collect();

    // Cold, sequential: every verification fetches and checks everything.
    let verifier = verifier_for(registry);
    let start = Instant::now();
    for r in &refs {
        verifier.verify_uncached(r, &s.policy).await.unwrap();
    }
    let cold = start.elapsed();
    let counts = verifier.request_counts();

    // Cold, 8 in flight.
    let verifier = verifier_for(registry);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for chunk in refs.chunks(refs.len().div_ceil(8)) {
        let (v, p, chunk) = (verifier.clone(), s.policy.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for r in &chunk {
                v.verify_uncached(r, &p).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cold_parallel = start.elapsed();

    // Cached: one warm-up, then the same question again and again.
    let verifier = verifier_for(registry);
    let image = s.images[0].by_digest();
    verifier.verify(&image, &s.policy).await.unwrap();
    let start = Instant::now();
    for _ in 0..CACHED_CHECKS {
        std::hint::black_box(verifier.verify(&image, &s.policy).await.unwrap());
    }
    let cached = start.elapsed();

    let n = refs.len() as f64;
    let per_cached = cached.as_secs_f64() * 1e6 / CACHED_CHECKS as f64;
    println!("\n{} ({} images)", s.name, refs.len());
    println!(
        "  cold, sequential   : {:>9.1} verifications/s  ({:.2} ms each)",
        n / cold.as_secs_f64(),
        ms(cold) / n
    );
    println!(
        "  cold, 8 in flight  : {:>9.1} verifications/s",
        n / cold_parallel.as_secs_f64()
    );
    println!(
        "  registry requests  : {:.1} per verification ({} manifests, {} blobs, {} token, {} auth challenges for {} verifications)",
        counts.total() as f64 / n,
        counts.manifests,
        counts.blobs,
        counts.tokens,
        counts.challenges,
        refs.len()
    );
    println!(
        "  cached             : {:>9.0} checks/s  ({per_cached:.2} µs each; target < 50 µs: {})",
        CACHED_CHECKS as f64 / cached.as_secs_f64(),
        if per_cached < 50.0 { "met" } else { "MISSED" }
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let registry = start_registry();
        println!(
            "sealift-verify benchmark: CNCF distribution on 127.0.0.1:{}",
            registry.port()
        );
        for scenario in [
            key_scenario(&registry).await,
            keyless_scenario(&registry).await,
        ] {
            run(&registry, &scenario).await;
        }
    });
}
