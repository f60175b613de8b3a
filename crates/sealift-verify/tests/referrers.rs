//! Sigstore bundles through the OCI referrers API. CNCF distribution 2.8 (the rig's registry) has
//! no referrers API and answers 404, which must cost one request and change nothing; a registry
//! that has one is played by a small loopback server serving the real kubewarden-controller
//! bundle produced by cosign (see `fixtures/sigstore-rs/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use sealift_testrig::image::push_test_image;
use sealift_verify::{PlainHttp, RegistryConfig, Verifier, VerifierConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BUNDLE: &str = include_str!("fixtures/sigstore-rs/bundle_v03.json");
const TRUSTED_ROOT: &str = include_str!("fixtures/sigstore-rs/sigstore_trusted_root.json");
const WORKFLOW: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Serves `path → (content type, body)`; anything else is 404.
async fn serve(routes: HashMap<String, (&'static str, Vec<u8>)>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let response = match routes.get(&path) {
                    Some((ct, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_cosign_bundle_found_through_the_referrers_api_signs_and_attests_the_image() {
    let b: Value = serde_json::from_str(BUNDLE).unwrap();
    let statement: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let image_digest = format!(
        "sha256:{}",
        statement["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
    );
    let bundle_bytes = BUNDLE.as_bytes().to_vec();
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "digest": digest(&bundle_bytes), "size": bundle_bytes.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image_digest, "size": 1}}))
    .unwrap();
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&manifest),
             "size": manifest.len(), "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(b"sbom"),
             "size": 4, "artifactType": "application/spdx+json"}]}))
    .unwrap();
    let repo = "/v2/kubewarden/kubewarden-controller";
    let mut routes = HashMap::new();
    routes.insert(
        format!("{repo}/referrers/{image_digest}"),
        ("application/vnd.oci.image.index.v1+json", index),
    );
    routes.insert(
        format!("{repo}/manifests/{}", digest(&manifest)),
        (
            "application/vnd.oci.image.manifest.v1+json",
            manifest.clone(),
        ),
    );
    routes.insert(
        format!("{repo}/blobs/{}", digest(&bundle_bytes)),
        ("application/octet-stream", bundle_bytes),
    );
    let port = serve(routes).await;

    let config = VerifierConfig {
        registry: RegistryConfig {
            plain_http: PlainHttp::Always,
            retries: 0,
            ..RegistryConfig::default()
        },
        referrers: true,
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(config).unwrap();
    let policy = keyless_policy(
        "127.0.0.1:*/kubewarden/**",
        &format!("      - issuer: {GITHUB_ISSUER}\n        subject: {WORKFLOW}"),
        &TRUSTED_ROOT.replace('\n', " "),
        "  attestations:\n  - predicateType: https://sigstore.dev/cosign/sign/v1\n",
    );

    let evidence = verifier
        .verify(
            &format!("127.0.0.1:{port}/kubewarden/kubewarden-controller@{image_digest}"),
            &policy,
        )
        .await
        .unwrap();

    assert_eq!(evidence.signatures[0].identity.as_deref(), Some(WORKFLOW));
    assert_eq!(
        evidence.signatures[0].rekor.clone().unwrap().log_index,
        1_261_105_807
    );
    let counts = verifier.request_counts();
    // .sig and .att (both 404) + referrers index + the bundle's manifest, one blob; the SBOM
    // referrer is never fetched.
    assert_eq!((counts.manifests, counts.blobs), (4, 1));
}

#[tokio::test]
async fn a_registry_without_the_referrers_api_costs_one_request_and_changes_nothing() {
    let registry = start_registry();
    let image = push_test_image(&registry, "acme/no-referrers", "v1", "x")
        .await
        .unwrap();
    let key = Key::p256().unwrap();
    push_key_signature(&registry, &image, &key).await;
    let mut config = config_for(&registry);
    config.referrers = true;
    let verifier = Verifier::new(config).unwrap();
    let policy = key_policy(
        &image_glob(&image),
        &[&key],
        "  transparencyLog: {required: false}\n",
    );
    verifier.verify(&image.by_digest(), &policy).await.unwrap();
    let counts = verifier.request_counts();
    assert_eq!((counts.manifests, counts.blobs), (2, 1));
}
