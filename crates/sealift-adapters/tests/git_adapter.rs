//! The engine's git port against the rig's real authenticated git server: resolve reads the
//! source overlay, honours `name@digest` selectors and refuses tag-only images; commit writes the
//! verified digests with trailers, idempotently, to the promotion branch or the base.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use sealift_adapters::SecretSource;
use sealift_adapters::git::GitRepo;
use sealift_api::CommitRef;
use sealift_api::PromotionSpec;
use sealift_api::conditions::reasons;
use sealift_core::{CommitResult, PromotionRef, Repo, StepError};
use sealift_gitops::{Identity, RepoCache};
use sealift_testrig::Credentials;
use sealift_testrig::git::{branch_head, commit_files, read_file};
use sealift_testrig::git_server::{GitServer, ServedRepo};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Secret data as a namespace would hold it.
struct Secrets(BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>);

#[async_trait]
impl SecretSource for Secrets {
    async fn secret(&self, ns: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
        self.0
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| StepError::Rejected {
                reason: reasons::SECRET_NOT_FOUND,
                message: format!("Secret {ns}/{name} not found"),
            })
    }
}

fn setup() -> (GitServer, ServedRepo, GitRepo, tempfile::TempDir) {
    setup_with(&[])
}

/// A GitRepo with its own empty cache: another replica, or a restart on a new pod.
fn git_repo(secrets: Arc<Secrets>) -> (GitRepo, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let git = GitRepo::new(
        RepoCache::new(dir.path()),
        Identity {
            name: "Sealift".into(),
            email: "sealift@example.com".into(),
        },
        secrets,
    );
    (git, dir)
}

/// The rig's git server with a staging and a prod overlay; the repository Secret `git-creds`
/// holds the server's credentials plus `extra` keys.
fn setup_with(extra: &[(&str, &[u8])]) -> (GitServer, ServedRepo, GitRepo, tempfile::TempDir) {
    let (server, repo, secrets) = served(extra);
    let (git, dir) = git_repo(secrets);
    (server, repo, git, dir)
}

fn served(extra: &[(&str, &[u8])]) -> (GitServer, ServedRepo, Arc<Secrets>) {
    let server =
        GitServer::start(Credentials::random("sealift")).expect("the real git server must start");
    let repo = server.create_repo("acme/gitops").unwrap();
    let staging = format!(
        "images:\n- name: bookstore/catalog\n  newName: registry.example.com/bookstore/catalog\n  digest: {}\n- name: bookstore/web\n  newTag: \"2.0\"\n",
        digest('b')
    );
    commit_files(
        &repo.path,
        "main",
        &[
            ("overlays/staging/kustomization.yaml", staging.as_bytes()),
            (
                "overlays/prod/kustomization.yaml",
                b"# prod\nimages:\n- name: bookstore/catalog\n  newTag: '1.0'\n",
            ),
        ],
        "bootstrap",
    )
    .unwrap();
    let mut secret = BTreeMap::new();
    secret.insert(
        "username".to_owned(),
        server.credentials().username.clone().into_bytes(),
    );
    secret.insert(
        "password".to_owned(),
        server.credentials().password.clone().into_bytes(),
    );
    for (k, v) in extra {
        secret.insert((*k).to_owned(), v.to_vec());
    }
    let secrets = Secrets(
        [(("bookstore".to_owned(), "git-creds".to_owned()), secret)]
            .into_iter()
            .collect(),
    );
    (server, repo, Arc::new(secrets))
}

fn promotion(url: &str, images: &[&str], direct: bool) -> PromotionRef {
    let mut spec = serde_json::json!({
        "repository": {"url": url, "secretRef": {"name": "git-creds"}},
        "from": "overlays/staging", "to": "overlays/prod", "images": images,
        "policyRef": {"name": "bookstore"},
    });
    if direct {
        spec["push"] = "direct".into();
    } else {
        spec["pullRequest"] = serde_json::json!({"provider": "github", "secretRef": {"name": "t"}});
    }
    PromotionRef {
        namespace: "bookstore".into(),
        name: "catalog".into(),
        generation: 1,
        spec: serde_json::from_value::<PromotionSpec>(spec).unwrap(),
    }
}

#[tokio::test]
async fn resolve_reads_the_digest_staging_runs() {
    let (_s, repo, git, _d) = setup();
    let images = git
        .resolve(&promotion(&repo.url, &["bookstore/catalog"], false))
        .await
        .unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].reference,
        "registry.example.com/bookstore/catalog"
    );
    assert_eq!(images[0].digest, digest('b'));
}

#[tokio::test]
async fn a_digest_selector_that_staging_does_not_pin_is_rejected() {
    let (_s, repo, git, _d) = setup();
    let selector = format!("bookstore/catalog@{}", digest('c'));
    let err = git
        .resolve(&promotion(&repo.url, &[&selector], false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StepError::Rejected { reason, .. } if *reason == reasons::DIGEST_MISMATCH),
        "{err:?}"
    );
    let ok = format!("bookstore/catalog@{}", digest('b'));
    assert_eq!(
        git.resolve(&promotion(&repo.url, &[&ok], false))
            .await
            .unwrap()[0]
            .digest,
        digest('b')
    );
}

#[tokio::test]
async fn a_tag_only_source_image_is_rejected_and_a_missing_secret_is_named() {
    let (_s, repo, git, _d) = setup();
    let err = git
        .resolve(&promotion(&repo.url, &["bookstore/web"], false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StepError::Rejected { reason, .. } if *reason == reasons::IMAGE_NOT_PINNED),
        "{err:?}"
    );
    let mut p = promotion(&repo.url, &["bookstore/catalog"], false);
    p.namespace = "other".into();
    let err = git.resolve(&p).await.unwrap_err();
    assert!(
        err.to_string().contains("Secret other/git-creds not found"),
        "{err}"
    );
}

#[tokio::test]
async fn commit_writes_the_verified_digest_once_on_the_promotion_branch() {
    let (_s, repo, git, _d) = setup();
    let p = promotion(&repo.url, &["bookstore/catalog"], false);
    let images = git.resolve(&p).await.unwrap();
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let first = git.commit(&p, &images, started).await.unwrap();
    let CommitResult::Pushed { sha, branch } = first.clone() else {
        panic!("{first:?}")
    };
    assert_eq!(branch, "sealift/bookstore/catalog");
    assert_eq!(
        branch_head(&repo.path, &branch)
            .unwrap()
            .unwrap()
            .to_string(),
        sha
    );
    let prod = String::from_utf8(
        read_file(&repo.path, &branch, "overlays/prod/kustomization.yaml")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        prod.contains(&digest('b')) && prod.contains("registry.example.com/bookstore/catalog"),
        "{prod}"
    );
    let server = git2::Repository::open_bare(&repo.path).unwrap();
    let msg = server
        .find_commit(git2::Oid::from_str(&sha).unwrap())
        .unwrap()
        .message()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains(&format!("Sealift-Image: bookstore/catalog@{}", digest('b'))),
        "{msg}"
    );
    assert!(
        msg.contains("Sealift-Policy: TrustPolicy/bookstore/bookstore"),
        "{msg}"
    );
    // A resumed promotion (same startedAt) pushes the very same commit.
    assert_eq!(git.commit(&p, &images, started).await.unwrap(), first);
}

#[tokio::test]
async fn a_direct_promotion_lands_on_the_base_branch() {
    let (_s, repo, git, _d) = setup();
    let p = promotion(&repo.url, &[], true);
    let images = git.resolve(&p).await.unwrap();
    let out = git.commit(&p, &images, SystemTime::now()).await.unwrap();
    let CommitResult::Pushed { sha, branch } = out else {
        panic!("{out:?}")
    };
    assert_eq!(branch, "main");
    assert_eq!(
        branch_head(&repo.path, "main")
            .unwrap()
            .unwrap()
            .to_string(),
        sha
    );
    assert_eq!(
        git.commit(&p, &images, SystemTime::now()).await.unwrap(),
        CommitResult::UpToDate
    );
}

fn ssh_keygen(dir: &std::path::Path, name: &str) -> (String, String) {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(dir.join(name))
        .status()
        .expect("ssh-keygen (openssh-client) must be installed");
    assert!(status.success());
    let read = |f: String| std::fs::read_to_string(dir.join(f)).unwrap();
    (read(name.to_owned()), read(format!("{name}.pub")))
}

#[tokio::test]
async fn a_signing_key_in_the_repository_secret_signs_the_commit_and_its_diff_is_reviewable() {
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = ssh_keygen(keys.path(), "sealift");
    let (_s, repo, secrets) = served(&[("signingKey", private.as_bytes())]);
    let (git, _d) = git_repo(secrets.clone());
    let p = promotion(&repo.url, &["bookstore/catalog"], false);
    let images = git.resolve(&p).await.unwrap();
    let out = git.commit(&p, &images, SystemTime::now()).await.unwrap();
    let CommitResult::Pushed { sha, branch } = out else {
        panic!("{out:?}")
    };

    // git itself accepts the signature for the committer's e-mail.
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("sealift@example.com {public}")).unwrap();
    let verify = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&repo.path)
        .arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["verify-commit", &sha])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr).to_string();
    assert!(verify.status.success(), "{said}");
    assert!(
        said.contains("Good \"git\" signature for sealift@example.com"),
        "{said}"
    );

    // The review diff is the prod overlay's change, read from the pushed commit: from the cache
    // that made it, and from a fresh cache that must fetch the promotion branch first.
    let commit = CommitRef { sha, branch };
    let diff = git.diff(&p, &commit).await.unwrap();
    assert!(
        diff.contains("--- a/overlays/prod/kustomization.yaml"),
        "{diff}"
    );
    assert!(diff.contains("-  newTag: '1.0'\n"), "{diff}");
    assert!(
        diff.lines()
            .any(|l| l.starts_with("+  digest: ") && l.contains(&digest('b'))),
        "{diff}"
    );
    assert!(!diff.contains("staging"), "{diff}");
    let (elsewhere, _d2) = git_repo(secrets);
    assert_eq!(elsewhere.diff(&p, &commit).await.unwrap(), diff);
}

#[tokio::test]
async fn an_unusable_signing_key_rejects_the_promotion_naming_the_secret_and_writes_nothing() {
    let garbage: &[u8] =
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n";
    let (_s, repo, git, _d) = setup_with(&[("signingKey", garbage)]);
    let p = promotion(&repo.url, &["bookstore/catalog"], false);
    // Refused as soon as the Secret is read (at resolve, before any verification), and again
    // should a commit be attempted.
    let images = vec![sealift_core::SourceImage {
        name: "bookstore/catalog".into(),
        reference: "registry.example.com/bookstore/catalog".into(),
        digest: digest('b'),
    }];
    for err in [
        git.resolve(&p).await.unwrap_err(),
        git.commit(&p, &images, SystemTime::now())
            .await
            .unwrap_err(),
    ] {
        let StepError::Rejected { reason, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*reason, reasons::INVALID_SECRET);
        assert!(
            message.contains("Secret git-creds") && message.contains("signing key"),
            "{message}"
        );
        assert!(
            !message.contains("not a key"),
            "the key never prints: {message}"
        );
    }
    assert!(
        branch_head(&repo.path, "sealift/bookstore/catalog")
            .unwrap()
            .is_none(),
        "nothing pushed"
    );
    // A passphrase without a key is a mistake, not "unsigned".
    let (_s, repo, git, _d) = setup_with(&[("signingKeyPassphrase", b"hunter2")]);
    let p = promotion(&repo.url, &["bookstore/catalog"], false);
    let err = git.resolve(&p).await.unwrap_err();
    assert!(
        matches!(&err, StepError::Rejected { reason, message }
            if *reason == reasons::INVALID_SECRET && !message.contains("hunter2")),
        "{err:?}"
    );
}
