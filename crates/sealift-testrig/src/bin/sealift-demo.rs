//! `make demo`: starts the real components on loopback and walks through the building blocks that
//! exist today. Pass `--keep` to leave everything running until Ctrl-C (and poke at it with the
//! printed kubeconfig).
//!
//! The full promotion (verify → commit → pull request) replaces this walk-through once the engine
//! exists; until then the demo says so instead of pretending.

use anyhow::{Context, Result};
use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};
use kube::api::{Api, DynamicObject, PostParams};
use sealift_api::{Promotion, TrustPolicy};
use sealift_testrig::Credentials;
use sealift_testrig::git::{commit_files, read_file};
use sealift_testrig::git_server::GitServer;
use sealift_testrig::image::{
    CosignKeyPair, push_test_image, sign_image, verify_signature_with_key,
};
use sealift_testrig::kube::{KubeCluster, apply_crds_from_dir, test_namespace};
use sealift_testrig::registry::Registry;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

fn step(n: u32, title: &str) {
    println!("\n\x1b[1m{n}. {title}\x1b[0m");
}

#[tokio::main]
async fn main() -> Result<()> {
    let keep = std::env::args().any(|a| a == "--keep");
    let t0 = Instant::now();
    sealift_testrig::install_crypto_provider();
    println!("Sealift demo — real components on 127.0.0.1, nothing mocked.");

    step(1, "Start the rig");
    let registry = Registry::start_with_auth(Credentials::random("ci"))?;
    println!(
        "   OCI registry (distribution 2.8, basic auth)   {}",
        registry.host()
    );
    let git = GitServer::start(Credentials::random("sealift"))?;
    println!(
        "   git smart-HTTP (nginx + http-backend, auth)    {}",
        git.base_url()
    );
    let cluster = KubeCluster::start().await?;
    println!(
        "   etcd + kube-apiserver v1.20.2 (TLS, RBAC)      {}",
        cluster.url()
    );
    println!("   kubeconfig: {}", cluster.kubeconfig().display());

    step(
        2,
        "Push two releases of bookstore/catalog and sign the new one with a cosign key",
    );
    let old = push_test_image(&registry, "bookstore/catalog", "1.4.1", "catalog 1.4.1").await?;
    let new = push_test_image(&registry, "bookstore/catalog", "1.4.2", "catalog 1.4.2").await?;
    println!("   1.4.1 → {}", old.digest);
    println!("   1.4.2 → {}", new.digest);
    let key = CosignKeyPair::generate()?;
    let sig = sign_image(&registry, &new, &key).await?;
    println!("   signature pushed to {sig}");
    verify_signature_with_key(&registry, &new, &key.public_pem).await?;
    println!("   ✔ 1.4.2 verifies with the release key");
    let stranger = CosignKeyPair::generate()?;
    match verify_signature_with_key(&registry, &new, &stranger.public_pem).await {
        Err(e) => println!("   ✘ with another key: {e:#}"),
        Ok(_) => anyhow::bail!("a foreign key verified the signature"),
    }
    match verify_signature_with_key(&registry, &old, &key.public_pem).await {
        Err(e) => println!("   ✘ 1.4.1: {e:#}"),
        Ok(_) => anyhow::bail!("an unsigned image verified"),
    }

    step(
        3,
        "A GitOps repository: staging runs 1.4.2, prod still runs 1.4.1",
    );
    let repo = git.create_repo("acme/gitops")?;
    let overlay = |digest: &str| {
        format!(
            "# Managed by the platform team.\napiVersion: kustomize.config.k8s.io/v1beta1\n\
             kind: Kustomization\nresources:\n- ../../base\nimages:\n- name: bookstore/catalog\n  \
             newName: {}\n  digest: {digest}\n",
            new.repository
        )
    };
    let head = commit_files(
        &repo.path,
        "main",
        &[
            (
                "overlays/staging/kustomization.yaml",
                overlay(&new.digest).as_bytes(),
            ),
            (
                "overlays/prod/kustomization.yaml",
                overlay(&old.digest).as_bytes(),
            ),
        ],
        "Bootstrap overlays",
    )?;
    println!("   {} @ {head}", repo.url);
    let tmp = tempfile::tempdir()?;
    let local = Repository::init_bare(tmp.path())?;
    let creds = git.credentials().clone();
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_, _, _| Cred::userpass_plaintext(&creds.username, &creds.password));
    let mut fo = FetchOptions::new();
    fo.remote_callbacks(cb);
    local.remote_anonymous(&repo.url)?.fetch(
        &["+refs/heads/main:refs/heads/main"],
        Some(&mut fo),
        None,
    )?;
    println!(
        "   fetched over authenticated HTTP with libgit2: main = {}",
        local.refname_to_id("refs/heads/main")?
    );
    let prod =
        read_file(&repo.path, "main", "overlays/prod/kustomization.yaml")?.unwrap_or_default();
    println!("   overlays/prod/kustomization.yaml:");
    for line in String::from_utf8_lossy(&prod).lines() {
        println!("     │ {line}");
    }

    step(4, "Declare the promotion in Kubernetes");
    let client = cluster.client().await?;
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    for name in apply_crds_from_dir(&client, &crds).await? {
        println!("   CRD {name}: Established");
    }
    let ns = test_namespace(&client, "bookstore").await?;
    let policy: TrustPolicy = serde_json::from_value(json!({
        "apiVersion": "sealift.dev/v1alpha1", "kind": "TrustPolicy", "metadata": {"name": "bookstore"},
        "spec": {"images": [format!("{}/bookstore/**", registry.host())],
                 "authorities": [{"name": "release-key", "key": {"data": key.public_pem}}]}
    }))?;
    Api::<TrustPolicy>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &policy)
        .await?;
    println!("   TrustPolicy {ns}/bookstore: images signed by the release key");
    let spec = json!({
        "repository": {"url": repo.url, "secretRef": {"name": "git-creds"}},
        "from": "overlays/staging", "to": "overlays/prod", "images": ["bookstore/catalog"],
        "policyRef": {"name": "bookstore"},
        "pullRequest": {"provider": "github", "secretRef": {"name": "forge-token"}, "labels": ["promotion"]}
    });
    let promo: Promotion = serde_json::from_value(json!({
        "apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
        "metadata": {"name": "catalog-to-prod"}, "spec": spec
    }))?;
    let api = Api::<Promotion>::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &promo).await?;
    let req = http::Request::get(format!(
        "/apis/sealift.dev/v1alpha1/namespaces/{ns}/promotions"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())?;
    let table: serde_json::Value = serde_json::from_str(&client.request_text(req).await?)?;
    println!("   $ kubectl get promo -n {ns}");
    let cols: Vec<String> = table["columnDefinitions"]
        .as_array()
        .context("no columns")?
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_uppercase())
        .collect();
    println!(
        "   {:<18} {:<8} {:<18} {:<16} {:<14} AGE",
        cols[0], cols[1], cols[2], cols[3], cols[4]
    );
    for row in table["rows"].as_array().context("no rows")? {
        let c = |i: usize| row["cells"][i].as_str().unwrap_or("<none>").to_owned();
        println!(
            "   {:<18} {:<8} {:<18} {:<16} {:<14} {}",
            c(0),
            c(1),
            c(2),
            c(3),
            c(4),
            c(5)
        );
    }

    println!("   An escaping path is refused by the API server itself:");
    let raw = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<Promotion>(&()),
    );
    let mut evil = spec.clone();
    evil["to"] = json!("../../etc");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "evil"}, "spec": evil
    }))?;
    match raw.create(&PostParams::default(), &obj).await {
        Err(kube::Error::Api(s)) => println!(
            "   ✘ {} {}",
            s.code,
            s.message.chars().take(110).collect::<String>()
        ),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }

    step(5, "What happens next");
    println!(
        "   The libraries behind each step exist and are tested against these same servers:\n   \
         sealift-verify (signatures, attestations), sealift-gitops (lossless overlay edit,\n   \
         in-memory commit, push), sealift-forge (pull requests) and the engine's resumable\n   \
         steps. The controller and `sealift promote` that drive a Promotion through them are\n   \
         not built yet, so catalog-to-prod stays without a phase and nothing is written to Git."
    );
    println!("\nDone in {:.1} s.", t0.elapsed().as_secs_f64());
    if keep {
        println!(
            "Everything keeps running (KUBECONFIG={}); Ctrl-C stops it.",
            cluster.kubeconfig().display()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
