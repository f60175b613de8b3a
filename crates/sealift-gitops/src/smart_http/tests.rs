use super::*;

#[test]
fn only_http_and_https_urls_take_this_path() {
    assert!(handles("https://git.example.com/acme/repo.git"));
    assert!(handles("HTTP://127.0.0.1:8080/r.git"));
    assert!(!handles("ssh://git@127.0.0.1:2222/r.git"));
    assert!(!handles("git@github.com:acme/repo.git"));
    assert!(!handles("file:///tmp/r.git"));
}

#[test]
fn hook_messages_are_appended_to_the_reason_and_bounded() {
    assert_eq!(with_messages("declined".into(), ""), "declined");
    assert_eq!(
        with_messages("declined".into(), "\nno direct pushes\n  \nuse a PR\n"),
        "declined (server: no direct pushes; use a PR)"
    );
    assert!(with_messages("x".into(), &"y".repeat(2000)).len() < 600);
}

// Against the rig's real git server (nginx + git http-backend, basic auth).

use crate::commit::{CommitMeta, FileChange, Identity, commit_changes_with_objects};
use crate::credentials::SecretString;
use sealift_testrig::Credentials;
use sealift_testrig::git::{branch_head, commit_files};
use sealift_testrig::git_server::{GitServer, ServedRepo};

struct Rig {
    server: GitServer,
    repo: ServedRepo,
    local: Repository,
    _dir: tempfile::TempDir,
}

/// A served repository and a local clone of its `main` (objects only).
fn rig() -> Rig {
    let server = GitServer::start(Credentials::random("sealift")).unwrap();
    let repo = server.create_repo("acme/gitops").unwrap();
    commit_files(
        &repo.path,
        "main",
        &[
            ("overlays/prod/kustomization.yaml", b"images: []\n"),
            ("README.md", b"hi\n"),
        ],
        "bootstrap",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = Repository::init_bare(dir.path().join("local.git")).unwrap();
    let status = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(local.path())
        .args(["fetch", "-q"])
        .arg(&repo.path)
        .arg("main:refs/heads/main")
        .status()
        .unwrap();
    assert!(status.success());
    Rig {
        server,
        repo,
        local,
        _dir: dir,
    }
}

fn basic(server: &GitServer) -> GitCredentials {
    GitCredentials::Basic {
        username: server.credentials().username.clone(),
        password: SecretString::new(server.credentials().password.clone()),
    }
}

fn promote(rig: &Rig, base: Oid) -> crate::commit::NewCommit {
    let meta = CommitMeta {
        identity: Identity {
            name: "Sealift".into(),
            email: "sealift@example.com".into(),
        },
        time: 1_790_000_000,
        message: "Promote\n".into(),
        signing_key: None,
    };
    let change = FileChange {
        path: "overlays/prod/kustomization.yaml".into(),
        content: b"images:\n- name: app\n  digest: sha256:new\n".to_vec(),
    };
    commit_changes_with_objects(&rig.local, base, &[change], &meta).unwrap()
}

#[test]
fn a_pack_holds_exactly_the_objects_it_was_given() {
    let rig = rig();
    let base = rig.local.refname_to_id("refs/heads/main").unwrap();
    let created = promote(&rig, base);
    // commit, root tree, overlays/, overlays/prod/, the blob
    assert_eq!(created.objects.len(), 5, "{:?}", created.objects);
    let pack = build_pack(&rig.local, &created.objects).unwrap();
    assert_eq!(&pack[..4], b"PACK");
    assert_eq!(
        u32::from_be_bytes([pack[8], pack[9], pack[10], pack[11]]),
        5
    );
}

#[test]
fn wrong_or_missing_credentials_are_an_auth_failure_before_anything_is_sent() {
    let rig = rig();
    let base = rig.local.refname_to_id("refs/heads/main").unwrap();
    let created = promote(&rig, base);
    let update = RefUpdate {
        refname: "refs/heads/sealift/ns/p",
        new: created.id,
        expected: None,
    };
    let wrong = GitCredentials::Basic {
        username: rig.server.credentials().username.clone(),
        password: SecretString::new("hunter2-wrong"),
    };
    for creds in [wrong, GitCredentials::Anonymous] {
        let err = push(
            &rig.local,
            &rig.repo.url,
            &creds,
            None,
            &created.objects,
            &update,
        )
        .unwrap_err();
        assert!(matches!(err, RemoteError::Auth), "{err:?}");
    }
    assert_eq!(branch_head(&rig.repo.path, "sealift/ns/p").unwrap(), None);
}

#[test]
fn the_server_refuses_an_update_whose_old_id_is_stale() {
    let rig = rig();
    let base = rig.local.refname_to_id("refs/heads/main").unwrap();
    let created = promote(&rig, base);
    let creds = basic(&rig.server);
    let client = client().unwrap();
    let server = discover(&client, &rig.repo.url, &creds).unwrap();
    assert_eq!(server.adv.target("refs/heads/main"), Some(base));
    // Another writer lands between our discovery and our push.
    let moved = commit_files(&rig.repo.path, "main", &[("README.md", b"x\n")], "race").unwrap();
    let update = RefUpdate {
        refname: "refs/heads/main",
        new: created.id,
        expected: Some(base),
    };
    let pack = build_pack(&rig.local, &created.objects).unwrap();
    let err = send_pack(&client, &server, &creds, base, &update, &pack).unwrap_err();
    let RemoteError::Rejected { refname, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refname, "refs/heads/main");
    // git 2.39: "failed to update ref (server: error: cannot lock ref 'refs/heads/main': is at
    // <moved> but expected <base>)" — the hook-channel message says why.
    assert!(message.starts_with("failed to update ref"), "{message}");
    assert!(
        message.contains(&format!("is at {moved} but expected {base}")),
        "{message}"
    );
    assert_eq!(branch_head(&rig.repo.path, "main").unwrap(), Some(moved));

    // Through `push`, the moved head is seen in the advertisement and nothing is sent.
    let err = push(
        &rig.local,
        &rig.repo.url,
        &creds,
        None,
        &created.objects,
        &update,
    )
    .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Rejected { message, .. } if message.starts_with("stale info")),
        "{err:?}"
    );
}
