//! Overlays read from real commits: the source digest is resolved, the target edit planned with
//! the kustomize editor, committed and pushed to the real git server; missing overlays, missing
//! kustomizations, tag-only sources and symbolic links are distinct errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealift_gitops::overlay::{find_kustomization, overlay_diff, plan_target, resolve_source};
use sealift_gitops::{
    CommitMeta, GitCredentials, GitError, Identity, PushOutcome, PushRequest, PushTarget,
    RepoCache, RetryPolicy, SecretString, Snapshot, commit_and_push,
};
use sealift_testrig::Credentials;
use sealift_testrig::git::{commit_files, read_file};
use sealift_testrig::git_server::{GitServer, ServedRepo};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

const STAGING: &str = "# staging runs what CI built\nimages:\n- name: bookstore/catalog # the API\n  newName: registry.example.com/bookstore/catalog\n  digest: DIGEST_B\n- name: bookstore/web\n  newTag: \"1.2\"\n";
const PROD: &str = "# prod: change only through Sealift\r\nresources:\r\n- ../../base\r\nimages:\r\n- name: bookstore/catalog\r\n  newTag: '1.0' # pinned by hand long ago\r\n- name: bookstore/web\r\n  newTag: \"1.1\"\r\n";

fn setup() -> (GitServer, ServedRepo, GitCredentials) {
    let server =
        GitServer::start(Credentials::random("sealift")).expect("the real git server must start");
    let repo = server.create_repo("acme/gitops").unwrap();
    let staging = STAGING.replace("DIGEST_B", &digest('b'));
    commit_files(
        &repo.path,
        "main",
        &[
            ("overlays/staging/kustomization.yaml", staging.as_bytes()),
            ("overlays/prod/kustomization.yaml", PROD.as_bytes()),
            ("overlays/qa/Kustomization", b"images: []\n"),
            ("overlays/empty/README.md", b"no kustomization here\n"),
            ("overlays/twice/kustomization.yaml", b"images: []\n"),
            ("overlays/twice/kustomization.yml", b"images: []\n"),
        ],
        "bootstrap",
    )
    .unwrap();
    let creds = GitCredentials::Basic {
        username: server.credentials().username.clone(),
        password: SecretString::new(server.credentials().password.clone()),
    };
    (server, repo, creds)
}

#[test]
fn the_verified_staging_digest_lands_in_prod_and_nothing_else_changes() {
    let (_server, repo, creds) = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut cached = RepoCache::new(dir.path()).open(&repo.url).unwrap();
    let base = cached.fetch_branch("main", &creds).unwrap();
    let snap = Snapshot {
        repo: cached.repository(),
        base,
        branch: "main",
    };
    let images = resolve_source(&snap, "overlays/staging", &["bookstore/catalog"]).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].reference,
        "registry.example.com/bookstore/catalog"
    );
    assert_eq!(images[0].digest, digest('b'));

    let req = PushRequest {
        base_branch: "main",
        target: PushTarget::PromotionBranch("sealift/bookstore/p".into()),
        credentials: &creds,
        meta: CommitMeta {
            identity: Identity {
                name: "Sealift".into(),
                email: "sealift@example.com".into(),
            },
            time: 1_790_000_000,
            message: "Promote bookstore/catalog to overlays/prod\n".into(),
            signing_key: None,
        },
        retry: RetryPolicy::default(),
    };
    let out = commit_and_push(&mut cached, &req, &mut |s| {
        plan_target(s, "overlays/prod", &images)
    })
    .unwrap();
    assert!(matches!(out, PushOutcome::Pushed { .. }), "{out:?}");
    let prod = String::from_utf8(
        read_file(
            &repo.path,
            "sealift/bookstore/p",
            "overlays/prod/kustomization.yaml",
        )
        .unwrap()
        .unwrap(),
    )
    .unwrap();
    // The comment on the header line and the CRLF endings survive; bookstore/web is untouched.
    assert!(
        prod.starts_with(
            "# prod: change only through Sealift\r\nresources:\r\n- ../../base\r\nimages:\r\n"
        ),
        "{prod:?}"
    );
    assert!(
        prod.contains("- name: bookstore/web\r\n  newTag: \"1.1\"\r\n"),
        "{prod:?}"
    );
    assert!(prod.contains(&digest('b')), "{prod:?}");
    assert!(!prod.contains("'1.0'"), "newTag must go: {prod:?}");
    assert!(
        !prod.contains('\n') || prod.matches('\n').count() == prod.matches("\r\n").count(),
        "mixed line endings: {prod:?}"
    );

    // Planning again on the promotion commit changes nothing: the edit is idempotent.
    let PushOutcome::Pushed { commit, .. } = out else {
        unreachable!()
    };
    let on_commit = Snapshot {
        repo: cached.repository(),
        base: commit,
        branch: "main",
    };
    assert_eq!(
        plan_target(&on_commit, "overlays/prod", &images).unwrap(),
        vec![]
    );
}

#[test]
fn overlays_and_kustomizations_that_do_not_exist_are_distinct_errors() {
    let (_server, repo, creds) = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut cached = RepoCache::new(dir.path()).open(&repo.url).unwrap();
    let base = cached.fetch_branch("main", &creds).unwrap();
    let snap = Snapshot {
        repo: cached.repository(),
        base,
        branch: "main",
    };

    let err = find_kustomization(&snap, "overlays/missing").unwrap_err();
    assert!(matches!(err, GitError::OverlayNotFound { .. }), "{err:?}");
    let err = find_kustomization(&snap, "overlays/empty").unwrap_err();
    assert!(
        matches!(err, GitError::KustomizationNotFound { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("kustomization.yaml, kustomization.yml, Kustomization"),
        "{err}"
    );
    // Like kustomize, an overlay with several kustomization files is refused.
    let err = find_kustomization(&snap, "overlays/twice").unwrap_err();
    assert!(err.to_string().contains("kustomization.yml"), "{err}");
    // `Kustomization` is one of the names kustomize accepts.
    assert_eq!(
        find_kustomization(&snap, "overlays/qa").unwrap().path,
        "overlays/qa/Kustomization"
    );
    let err = find_kustomization(&snap, "../overlays/prod").unwrap_err();
    assert!(matches!(err, GitError::PathEscape { .. }), "{err:?}");
}

#[test]
fn a_source_image_pinned_only_by_tag_cannot_be_promoted() {
    let (_server, repo, creds) = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut cached = RepoCache::new(dir.path()).open(&repo.url).unwrap();
    let base = cached.fetch_branch("main", &creds).unwrap();
    let snap = Snapshot {
        repo: cached.repository(),
        base,
        branch: "main",
    };
    let err = resolve_source(&snap, "overlays/staging", &["bookstore/web"]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("overlays/staging/kustomization.yaml") && msg.contains("bookstore/web"),
        "{msg}"
    );
    assert_eq!(err.category(), "ImageNotPinnedByDigest");
    // With no names, only the digest-pinned images are promotable.
    let all = resolve_source(&snap, "overlays/staging", &[]).unwrap();
    assert_eq!(
        all.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["bookstore/catalog"]
    );
}

#[test]
fn an_overlay_reached_through_a_symbolic_link_is_refused() {
    let (_server, repo, creds) = setup();
    // overlays/evil -> /etc, and overlays/link/kustomization.yaml -> ../../secret
    let r = git2::Repository::open_bare(&repo.path).unwrap();
    let head = r
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let mut overlays = r
        .treebuilder(Some(
            &r.find_tree(head.tree().unwrap().get_name("overlays").unwrap().id())
                .unwrap(),
        ))
        .unwrap();
    overlays
        .insert("evil", r.blob(b"/etc").unwrap(), 0o120000)
        .unwrap();
    let mut link = r.treebuilder(None).unwrap();
    link.insert(
        "kustomization.yaml",
        r.blob(b"../../secret").unwrap(),
        0o120000,
    )
    .unwrap();
    overlays
        .insert("link", link.write().unwrap(), 0o040000)
        .unwrap();
    let mut root = r.treebuilder(Some(&head.tree().unwrap())).unwrap();
    root.insert("overlays", overlays.write().unwrap(), 0o040000)
        .unwrap();
    let tree = r.find_tree(root.write().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    r.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "links",
        &tree,
        &[&head],
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cached = RepoCache::new(dir.path()).open(&repo.url).unwrap();
    let base = cached.fetch_branch("main", &creds).unwrap();
    let snap = Snapshot {
        repo: cached.repository(),
        base,
        branch: "main",
    };
    for overlay in ["overlays/evil", "overlays/link"] {
        let err = find_kustomization(&snap, overlay).unwrap_err();
        assert!(
            matches!(&err, GitError::PathEscape { reason, .. } if reason.contains("symbolic link")),
            "{overlay}: {err:?}"
        );
    }
}

/// `git diff --full-index <commit>^ <commit> -- <path>` from the real git binary.
fn git_diff(repo: &std::path::Path, commit: &str, path: &str) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["diff", "--no-color", "--no-ext-diff", "--full-index"])
        .arg(format!("{commit}^"))
        .arg(commit)
        .args(["--", path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_review_diff_is_what_git_shows_for_the_overlay_and_nothing_beside_it() {
    let (_server, repo, creds) = setup();
    // One commit touching prod, a sibling overlay whose name extends it, and staging.
    let prod = PROD.replace("newTag: '1.0' # pinned by hand long ago", "digest: DIGEST");
    let commit = commit_files(
        &repo.path,
        "main",
        &[
            ("overlays/prod/kustomization.yaml", prod.as_bytes()),
            ("overlays/prod-eu/kustomization.yaml", b"images: []\n"),
            ("overlays/staging/kustomization.yaml", b"images: []\n"),
        ],
        "touch three overlays",
    )
    .unwrap()
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut cached = RepoCache::new(dir.path()).open(&repo.url).unwrap();
    assert!(!cached.has_commit(&commit), "not fetched yet");
    cached.fetch_branch("main", &creds).unwrap();
    assert!(cached.has_commit(&commit));

    let diff = overlay_diff(cached.repository(), &commit, "overlays/prod").unwrap();
    assert_eq!(diff, git_diff(&repo.path, &commit, "overlays/prod/"));
    assert!(
        diff.contains("-  newTag: '1.0' # pinned by hand long ago\r\n+  digest: DIGEST\r\n"),
        "{diff}"
    );
    assert!(
        !diff.contains("prod-eu") && !diff.contains("staging"),
        "{diff}"
    );
    // A commit that did not touch the overlay has an empty diff there.
    let other = commit_files(&repo.path, "main", &[("README.md", b"hi\n")], "readme")
        .unwrap()
        .to_string();
    cached.fetch_branch("main", &creds).unwrap();
    assert_eq!(
        overlay_diff(cached.repository(), &other, "overlays/prod").unwrap(),
        ""
    );
    // Bad input is an error, not a panic.
    assert!(overlay_diff(cached.repository(), "not-a-sha", "overlays/prod").is_err());
    assert!(matches!(
        overlay_diff(cached.repository(), &commit, "../prod"),
        Err(GitError::PathEscape { .. })
    ));
}
