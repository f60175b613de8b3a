//! The git write path against the rig's real authenticated smart-HTTP server: in-memory commits,
//! pushes to a promotion branch or the base, a base that moves during the promotion, refused
//! credentials, missing branches and overlays, paths that escape, and the repository cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod git_support;

use git_support::{PROD, bump, creds, fixture, request};
use git2::Oid;
use sealift_gitops::{
    FileChange, GitCredentials, GitError, PushOutcome, PushTarget, SecretString, Snapshot,
    commit_and_push, promotion_branch,
};
use sealift_testrig::git::{branch_head, commit_files, read_file};

#[test]
fn a_promotion_commit_lands_on_its_own_branch_and_changes_only_the_kustomization() {
    let f = fixture();
    let c = creds(&f.server);
    let base = branch_head(&f.repo.path, "main").unwrap().unwrap();
    let branch = promotion_branch("bookstore", "catalog-to-prod");
    let mut cached = f.cache.open(&f.repo.url).unwrap();
    let out = commit_and_push(
        &mut cached,
        &request(PushTarget::PromotionBranch(branch.clone()), &c),
        &mut bump,
    )
    .unwrap();

    let PushOutcome::Pushed {
        commit,
        base: parent,
        branch: pushed,
        attempts,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (parent, pushed.as_str(), attempts),
        (base, "sealift/bookstore/catalog-to-prod", 1)
    );
    assert_eq!(branch_head(&f.repo.path, &branch).unwrap(), Some(commit));
    assert_eq!(
        branch_head(&f.repo.path, "main").unwrap(),
        Some(base),
        "the base branch is untouched"
    );
    assert_eq!(
        read_file(&f.repo.path, &branch, PROD).unwrap().unwrap(),
        b"images:\n- name: app\n  digest: sha256:new\n"
    );

    // Exactly one blob differs; every other tree is shared with the base (no work tree rebuilt).
    let server = git2::Repository::open_bare(&f.repo.path).unwrap();
    let new = server.find_commit(commit).unwrap();
    let old = server.find_commit(base).unwrap();
    let diff = server
        .diff_tree_to_tree(Some(&old.tree().unwrap()), Some(&new.tree().unwrap()), None)
        .unwrap();
    let paths: Vec<_> = diff
        .deltas()
        .map(|d| d.new_file().path().unwrap().display().to_string())
        .collect();
    assert_eq!(paths, [PROD]);
    assert_eq!(
        new.tree().unwrap().get_name("base").unwrap().id(),
        old.tree().unwrap().get_name("base").unwrap().id()
    );

    let msg = new.message().unwrap();
    assert!(msg.starts_with("Promote app to overlays/prod\n"), "{msg}");
    assert!(
        msg.contains("\nSealift-Promotion: bookstore/catalog-to-prod\n"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("\nSealift-Image: app@sha256:{}\n", "a".repeat(64))),
        "{msg}"
    );
    assert!(
        msg.ends_with("Sealift-Policy: TrustPolicy/bookstore/bookstore\n"),
        "{msg}"
    );
    assert_eq!(new.author().name().unwrap(), "Sealift");
}

#[test]
fn running_the_same_promotion_twice_produces_the_same_commit() {
    let f = fixture();
    let c = creds(&f.server);
    let target = PushTarget::PromotionBranch(promotion_branch("ns", "p"));
    let first = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(target.clone(), &c),
        &mut bump,
    )
    .unwrap();
    let second = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(target, &c),
        &mut bump,
    )
    .unwrap();
    assert_eq!(
        first, second,
        "a resumed promotion must not create a second commit"
    );
}

#[test]
fn nothing_is_committed_when_the_target_already_pins_the_digest() {
    let f = fixture();
    let c = creds(&f.server);
    let base = branch_head(&f.repo.path, "main").unwrap().unwrap();
    let out = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(PushTarget::PromotionBranch("sealift/ns/noop".into()), &c),
        &mut |_: &Snapshot<'_>| Ok(vec![]),
    )
    .unwrap();
    assert_eq!(out, PushOutcome::UpToDate { base });
    assert_eq!(branch_head(&f.repo.path, "sealift/ns/noop").unwrap(), None);
}

#[test]
fn a_direct_push_rebuilds_on_a_base_that_moved_and_keeps_the_concurrent_commit() {
    let f = fixture();
    let c = creds(&f.server);
    let mut raced = false;
    let repo_path = f.repo.path.clone();
    let mut edit = |snap: &Snapshot<'_>| {
        if !raced {
            // Another writer lands on main after our fetch, before our push.
            raced = true;
            commit_files(
                &repo_path,
                "main",
                &[("README.md", b"someone else\n")],
                "concurrent",
            )
            .unwrap();
        }
        bump(snap)
    };
    let out = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(PushTarget::Base, &c),
        &mut edit,
    )
    .unwrap();
    let PushOutcome::Pushed {
        commit,
        base,
        attempts,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(attempts, 2);
    assert_eq!(branch_head(&f.repo.path, "main").unwrap(), Some(commit));
    // Both changes are on main: the concurrent commit is our parent.
    assert_eq!(
        read_file(&f.repo.path, "main", "README.md")
            .unwrap()
            .unwrap(),
        b"someone else\n"
    );
    assert_eq!(
        read_file(&f.repo.path, "main", PROD).unwrap().unwrap(),
        b"images:\n- name: app\n  digest: sha256:new\n"
    );
    let server = git2::Repository::open_bare(&f.repo.path).unwrap();
    assert_eq!(
        server.find_commit(commit).unwrap().parent_id(0).unwrap(),
        base
    );
    assert_eq!(
        server.find_commit(base).unwrap().message().unwrap(),
        "concurrent"
    );
}

#[test]
fn a_base_that_never_stops_moving_exhausts_the_retries_without_losing_commits() {
    let f = fixture();
    let c = creds(&f.server);
    let repo_path = f.repo.path.clone();
    let mut n = 0;
    let mut edit = |snap: &Snapshot<'_>| {
        n += 1;
        commit_files(
            &repo_path,
            "main",
            &[("README.md", format!("writer {n}\n").as_bytes())],
            "busy",
        )
        .unwrap();
        bump(snap)
    };
    let err = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(PushTarget::Base, &c),
        &mut edit,
    )
    .unwrap_err();
    assert!(
        matches!(err, GitError::RetriesExhausted { attempts: 4, .. }),
        "{err}"
    );
    assert_eq!(err.category(), "RetriesExhausted");
    assert_eq!(
        read_file(&f.repo.path, "main", "README.md")
            .unwrap()
            .unwrap(),
        b"writer 4\n"
    );
    assert_eq!(
        read_file(&f.repo.path, "main", PROD).unwrap().unwrap(),
        b"images:\n- name: app\n  digest: sha256:old\n"
    );
}

#[test]
fn a_wrong_password_is_an_auth_error_that_names_no_secret() {
    let f = fixture();
    let wrong = GitCredentials::Basic {
        username: "sealift".into(),
        password: SecretString::new("hunter2-wrong"),
    };
    let err = f
        .cache
        .open(&f.repo.url)
        .unwrap()
        .fetch_branch("main", &wrong)
        .unwrap_err();
    assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    // Not retried at once inside the push loop; the engine retries it with backoff (the Secret
    // may be fixed meanwhile).
    assert!(!err.is_retryable_now());
    assert!(err.is_transient());
    let err = f
        .cache
        .open(&f.repo.url)
        .unwrap()
        .fetch_branch("main", &GitCredentials::Anonymous)
        .unwrap_err();
    assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
}

#[test]
fn a_missing_base_branch_is_named() {
    let f = fixture();
    let err = f
        .cache
        .open(&f.repo.url)
        .unwrap()
        .fetch_branch("release", &creds(&f.server))
        .unwrap_err();
    assert!(
        matches!(&err, GitError::BranchNotFound { branch, .. } if branch == "release"),
        "{err:?}"
    );
}

#[test]
fn paths_that_escape_the_repository_are_refused_before_anything_is_written() {
    let f = fixture();
    let c = creds(&f.server);
    for (path, reason) in [
        ("../outside", "`..`"),
        ("/etc/passwd", "absolute"),
        ("overlays/../../x", "`..`"),
    ] {
        let mut edit = |_: &Snapshot<'_>| {
            Ok(vec![FileChange {
                path: path.into(),
                content: b"x".to_vec(),
            }])
        };
        let err = commit_and_push(
            &mut f.cache.open(&f.repo.url).unwrap(),
            &request(PushTarget::PromotionBranch("sealift/ns/escape".into()), &c),
            &mut edit,
        )
        .unwrap_err();
        assert!(
            matches!(&err, GitError::PathEscape { .. }),
            "{path}: {err:?}"
        );
        assert!(err.to_string().contains(reason), "{err}");
    }
    assert_eq!(
        branch_head(&f.repo.path, "sealift/ns/escape").unwrap(),
        None
    );
}

#[test]
fn one_cache_directory_serves_a_url_and_concurrent_promotions_all_land() {
    let f = fixture();
    let c = creds(&f.server);
    assert_eq!(f.cache.dir_for(&f.repo.url), f.cache.dir_for(&f.repo.url));
    assert_ne!(
        f.cache.dir_for(&f.repo.url),
        f.cache.dir_for(&format!("{}x", f.repo.url))
    );
    let heads: Vec<Oid> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (cache, url, c) = (&f.cache, &f.repo.url, &c);
                s.spawn(move || {
                    let mut cached = cache.open(url).unwrap();
                    let req = request(PushTarget::PromotionBranch(format!("sealift/ns/p{i}")), c);
                    match commit_and_push(&mut cached, &req, &mut bump).unwrap() {
                        PushOutcome::Pushed { commit, .. } => commit,
                        other => panic!("{other:?}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, head) in heads.iter().enumerate() {
        assert_eq!(
            branch_head(&f.repo.path, &format!("sealift/ns/p{i}")).unwrap(),
            Some(*head)
        );
    }
}

#[test]
fn a_corrupt_cache_is_rebuilt_automatically() {
    let f = fixture();
    let c = creds(&f.server);
    let head = f
        .cache
        .open(&f.repo.url)
        .unwrap()
        .fetch_branch("main", &c)
        .unwrap();
    let dir = f.cache.dir_for(&f.repo.url);
    // Destroy the object store: every loose object and pack goes.
    std::fs::remove_dir_all(dir.join("objects")).unwrap();
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    std::fs::write(dir.join("HEAD"), b"garbage").unwrap();
    let mut cached = f.cache.open(&f.repo.url).unwrap();
    assert_eq!(cached.fetch_branch("main", &c).unwrap(), head);
    let out = commit_and_push(
        &mut cached,
        &request(PushTarget::PromotionBranch("sealift/ns/after".into()), &c),
        &mut bump,
    )
    .unwrap();
    assert!(matches!(out, PushOutcome::Pushed { .. }));
}

#[test]
fn a_second_fetch_transfers_only_what_is_new() {
    let f = fixture();
    let c = creds(&f.server);
    let mut cached = f.cache.open(&f.repo.url).unwrap();
    cached.fetch_branch("main", &c).unwrap();
    let objects_before = count_objects(cached.path());
    let new = commit_files(&f.repo.path, "main", &[("README.md", b"v2\n")], "v2").unwrap();
    assert_eq!(cached.fetch_branch("main", &c).unwrap(), new);
    let added = count_objects(cached.path()) - objects_before;
    // One commit, one root tree, one blob (README.md sits at the root).
    assert!(added <= 3, "fetched {added} objects for a one-file change");
}

fn count_objects(repo: &std::path::Path) -> usize {
    let repo = git2::Repository::open_bare(repo).unwrap();
    let mut n = 0;
    repo.odb()
        .unwrap()
        .foreach(|_| {
            n += 1;
            true
        })
        .unwrap();
    n
}

fn ssh_creds(ssh: &sealift_testrig::ssh_server::SshServer, known_hosts: String) -> GitCredentials {
    GitCredentials::Ssh {
        username: ssh.user().to_owned(),
        private_key: SecretString::new(ssh.client_private_key().unwrap()),
        passphrase: None,
        known_hosts,
    }
}

#[test]
fn a_push_over_ssh_with_a_pinned_host_key_lands() {
    let f = fixture();
    let ssh = sealift_testrig::ssh_server::SshServer::start().expect("the real sshd must start");
    let url = ssh.url_for(&f.repo.path);
    let c = ssh_creds(&ssh, ssh.known_hosts_line().unwrap());
    let out = commit_and_push(
        &mut f.cache.open(&url).unwrap(),
        &request(PushTarget::PromotionBranch("sealift/ns/ssh".into()), &c),
        &mut bump,
    )
    .unwrap();
    let PushOutcome::Pushed { commit, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        branch_head(&f.repo.path, "sealift/ns/ssh").unwrap(),
        Some(commit)
    );
}

#[test]
fn an_ssh_host_key_that_is_not_pinned_is_refused() {
    let f = fixture();
    let ssh = sealift_testrig::ssh_server::SshServer::start().expect("the real sshd must start");
    let other = sealift_testrig::ssh_server::SshServer::start().unwrap();
    // The right host, but the key of another server: a man in the middle.
    let other_line = other.known_hosts_line().unwrap();
    let forged = format!(
        "[127.0.0.1]:{} {}",
        ssh.port(),
        other_line.split_once(' ').unwrap().1
    );
    let url = ssh.url_for(&f.repo.path);
    let err = f
        .cache
        .open(&url)
        .unwrap()
        .fetch_branch("main", &ssh_creds(&ssh, forged))
        .unwrap_err();
    assert!(err.to_string().contains("not in knownHosts"), "{err}");
    let err = f
        .cache
        .open(&url)
        .unwrap()
        .fetch_branch("main", &ssh_creds(&ssh, String::new()))
        .unwrap_err();
    assert!(err.to_string().contains("not in knownHosts"), "{err}");
}

fn git_verify_commit(
    repo: &std::path::Path,
    allowed: &std::path::Path,
    commit: Oid,
) -> std::process::Output {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["verify-commit", &commit.to_string()])
        .output()
        .unwrap()
}

#[test]
fn a_signed_promotion_commit_verifies_with_git_for_the_allowed_signer_only() {
    let f = fixture();
    let c = creds(&f.server);
    let dir = tempfile::tempdir().unwrap();
    for name in ["signing", "other"] {
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(dir.path().join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let pem = std::fs::read_to_string(dir.path().join("signing")).unwrap();
    let key = sealift_gitops::SshSigningKey::from_openssh(&pem).unwrap();
    assert!(
        !format!("{key:?}").contains("PRIVATE"),
        "the key never prints"
    );
    let mut req = request(PushTarget::PromotionBranch("sealift/ns/signed".into()), &c);
    req.meta.signing_key = Some(key.into());
    let first = commit_and_push(&mut f.cache.open(&f.repo.url).unwrap(), &req, &mut bump).unwrap();
    let PushOutcome::Pushed { commit, .. } = first.clone() else {
        panic!("{first:?}")
    };

    // git itself checks the signature against the committer's e-mail in allowed_signers.
    let allowed = dir.path().join("allowed_signers");
    let public =
        |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.pub"))).unwrap();
    std::fs::write(
        &allowed,
        format!("sealift@example.com {}", public("signing")),
    )
    .unwrap();
    let out = git_verify_commit(&f.repo.path, &allowed, commit);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Good \"git\" signature for sealift@example.com"),
        "{said}"
    );
    std::fs::write(&allowed, format!("sealift@example.com {}", public("other"))).unwrap();
    assert!(
        !git_verify_commit(&f.repo.path, &allowed, commit)
            .status
            .success()
    );

    // Ed25519 signatures are deterministic: a resumed promotion still pushes the same commit.
    let again = commit_and_push(&mut f.cache.open(&f.repo.url).unwrap(), &req, &mut bump).unwrap();
    assert_eq!(again, first);
}
