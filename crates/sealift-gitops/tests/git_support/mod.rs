//! Shared set-up of the write-path, push and signing tests: one real authenticated git server and one
//! repository per test, and the prod-overlay edit.
#![allow(dead_code)]

use sealift_gitops::commit::PromotedDigest;
use sealift_gitops::{
    CommitMeta, FileChange, GitCredentials, GitError, Identity, PushRequest, PushTarget, RepoCache,
    RetryPolicy, SecretString, Snapshot, commit_message,
};
use sealift_testrig::Credentials;
use sealift_testrig::git::commit_files;
use sealift_testrig::git_server::{GitServer, ServedRepo};
use std::path::Path;
use std::time::Duration;

pub const PROD: &str = "overlays/prod/kustomization.yaml";

pub struct Fixture {
    pub server: GitServer,
    pub repo: ServedRepo,
    pub cache: RepoCache,
    pub dir: tempfile::TempDir,
}

pub fn fixture() -> Fixture {
    let server =
        GitServer::start(Credentials::random("sealift")).expect("the real git server must start");
    let repo = server.create_repo("acme/gitops").unwrap();
    commit_files(
        &repo.path,
        "main",
        &[
            (PROD, b"images:\n- name: app\n  digest: sha256:old\n"),
            ("base/deployment.yaml", b"kind: Deployment\n"),
            ("README.md", b"gitops\n"),
        ],
        "bootstrap",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = RepoCache::new(dir.path().join("cache"));
    Fixture {
        server,
        repo,
        cache,
        dir,
    }
}

pub fn creds(server: &GitServer) -> GitCredentials {
    GitCredentials::Basic {
        username: server.credentials().username.clone(),
        password: SecretString::new(server.credentials().password.clone()),
    }
}

/// A promotion commit's metadata, with Sealift's trailers.
pub fn meta() -> CommitMeta {
    CommitMeta {
        identity: Identity {
            name: "Sealift".into(),
            email: "sealift@example.com".into(),
        },
        time: 1_790_000_000,
        message: commit_message(
            "bookstore/catalog-to-prod",
            "overlays/staging",
            "overlays/prod",
            &[PromotedDigest {
                name: "app".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
            }],
            "TrustPolicy/bookstore/bookstore",
        ),
        signing_key: None,
    }
}

pub fn request<'a>(target: PushTarget, credentials: &'a GitCredentials) -> PushRequest<'a> {
    PushRequest {
        base_branch: "main",
        target,
        credentials,
        meta: meta(),
        retry: RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
    }
}

/// Replaces `sha256:old` with `sha256:new` in the prod overlay.
pub fn bump(snap: &Snapshot<'_>) -> Result<Vec<FileChange>, GitError> {
    let commit = snap.repo.find_commit(snap.base)?;
    let entry = commit.tree()?.get_path(Path::new(PROD))?;
    let text = String::from_utf8(snap.repo.find_blob(entry.id())?.content().to_vec()).unwrap();
    let next = text.replace("sha256:old", "sha256:new");
    Ok(if next == text {
        vec![]
    } else {
        vec![FileChange {
            path: PROD.into(),
            content: next.into_bytes(),
        }]
    })
}

/// `git <args>` in the bare repository `repo`; panics with git's stderr when it fails.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
