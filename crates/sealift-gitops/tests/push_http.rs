//! The smart-HTTP push against the rig's real authenticated git server: it sends exactly the
//! objects a promotion commit introduced, the server ends up complete, a base the server moves
//! during the push is rebuilt on, and a promotion branch is replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod git_support;

use git_support::{PROD, bump, creds, fixture, git, request};
use git2::Oid;
use sealift_gitops::{
    CommitMeta, FileChange, Identity, PushOutcome, PushTarget, commit_and_push,
    commit_changes_with_objects,
};
use sealift_testrig::git::{branch_head, commit_files, read_file};
use std::collections::BTreeSet;
use std::path::Path;

/// The object ids of `git rev-list --objects <new> --not <base>`: what the server lacks.
fn missing_on_server(repo: &Path, new: Oid, base: &str) -> BTreeSet<String> {
    git(
        repo,
        &["rev-list", "--objects", &new.to_string(), "--not", base],
    )
    .lines()
    .map(|l| l.split(' ').next().unwrap().to_owned())
    .collect()
}

#[test]
fn an_http_push_sends_exactly_the_new_objects_and_the_server_is_complete() {
    let f = fixture();
    let c = creds(&f.server);
    let base = branch_head(&f.repo.path, "main").unwrap().unwrap();
    // Keep every received pack as it arrived, so the test can read what was sent.
    git(&f.repo.path, &["config", "receive.unpackLimit", "1"]);
    git(&f.repo.path, &["repack", "-adq"]);
    let packs_before: BTreeSet<_> = packs(&f.repo.path);

    let branch = "sealift/ns/exact";
    let out = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(PushTarget::PromotionBranch(branch.into()), &c),
        &mut bump,
    )
    .unwrap();
    let PushOutcome::Pushed { commit, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(branch_head(&f.repo.path, branch).unwrap(), Some(commit));

    let new_packs: Vec<_> = packs(&f.repo.path)
        .difference(&packs_before)
        .cloned()
        .collect();
    assert_eq!(new_packs.len(), 1, "one pack per push: {new_packs:?}");
    let idx = std::fs::read(&new_packs[0]).unwrap();
    let sent = pack_index_ids(&idx);
    // The commit, the root tree, overlays/, overlays/prod/ and the new kustomization blob.
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(
        sent,
        missing_on_server(&f.repo.path, commit, &base.to_string())
    );

    // Nothing is missing or corrupt on the server, and the commit reads back whole.
    git(&f.repo.path, &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(
        git(&f.repo.path, &["cat-file", "-t", &commit.to_string()]),
        "commit\n"
    );
    assert_eq!(
        read_file(&f.repo.path, branch, PROD).unwrap().unwrap(),
        b"images:\n- name: app\n  digest: sha256:new\n"
    );
    assert_eq!(
        read_file(&f.repo.path, branch, "README.md")
            .unwrap()
            .unwrap(),
        b"gitops\n"
    );
}

fn packs(repo: &Path) -> BTreeSet<std::path::PathBuf> {
    std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect()
}

/// The object ids listed in a version-2 pack index (`.idx`), read with `git show-index`.
fn pack_index_ids(idx: &[u8]) -> BTreeSet<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .arg("show-index")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(idx).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().to_owned())
        .collect()
}

#[test]
fn a_base_the_server_moves_during_the_push_is_refused_then_rebuilt_on() {
    let f = fixture();
    let c = creds(&f.server);
    let head = branch_head(&f.repo.path, "main").unwrap().unwrap();
    // A concurrent commit on top of main, not yet on main.
    let concurrent = commit_files(
        &f.repo.path,
        "main",
        &[("README.md", b"someone else\n")],
        "concurrent",
    )
    .unwrap();
    git(
        &f.repo.path,
        &["update-ref", "refs/heads/main", &head.to_string()],
    );
    // The first push passes ref discovery with the right old id; while the server receives it,
    // a pre-receive hook moves main, so the server's own old-id check must refuse the update.
    let hook = f.repo.path.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n[ -e race-done ] && exit 0\ntouch race-done\n\
             env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \
             git update-ref refs/heads/main {concurrent} {head}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(PushTarget::Base, &c),
        &mut bump,
    )
    .unwrap();
    assert!(f.repo.path.join("race-done").exists(), "the hook never ran");
    let PushOutcome::Pushed {
        commit,
        base,
        attempts,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!((base, attempts), (concurrent, 2));
    assert_eq!(branch_head(&f.repo.path, "main").unwrap(), Some(commit));
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
    git(&f.repo.path, &["fsck", "--no-dangling"]);
}

#[test]
fn a_promotion_branch_is_replaced_when_the_base_moved_since_the_last_run() {
    let f = fixture();
    let c = creds(&f.server);
    let branch = "sealift/ns/again";
    let target = PushTarget::PromotionBranch(branch.into());
    let first = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(target.clone(), &c),
        &mut bump,
    )
    .unwrap();
    let moved = commit_files(&f.repo.path, "main", &[("README.md", b"v2\n")], "v2").unwrap();
    let second = commit_and_push(
        &mut f.cache.open(&f.repo.url).unwrap(),
        &request(target, &c),
        &mut bump,
    )
    .unwrap();
    let (
        PushOutcome::Pushed { commit: c1, .. },
        PushOutcome::Pushed {
            commit: c2, base, ..
        },
    ) = (&first, &second)
    else {
        panic!("{first:?} {second:?}")
    };
    assert_ne!(c1, c2);
    assert_eq!(*base, moved);
    // Not a fast-forward of the old promotion commit: the branch was replaced, as intended.
    assert_eq!(branch_head(&f.repo.path, branch).unwrap(), Some(*c2));
    assert_eq!(branch_head(&f.repo.path, "main").unwrap(), Some(moved));
}

#[test]
fn a_commit_names_exactly_the_objects_it_introduced_across_several_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.git");
    git2::Repository::init_bare(&path).unwrap();
    let base = commit_files(
        &path,
        "main",
        &[
            ("a/x/one.yaml", b"1\n"),
            ("a/x/two.yaml", b"2\n"),
            ("a/y/three.yaml", b"3\n"),
            ("b/four.yaml", b"4\n"),
            ("top.yaml", b"t\n"),
        ],
        "base",
    )
    .unwrap();
    let repo = git2::Repository::open_bare(&path).unwrap();
    let meta = CommitMeta {
        identity: Identity {
            name: "Sealift".into(),
            email: "sealift@example.com".into(),
        },
        time: 1_790_000_000,
        message: "m\n".into(),
        signing_key: None,
    };
    let change = |p: &str, c: &[u8]| FileChange {
        path: p.into(),
        content: c.to_vec(),
    };
    let created = commit_changes_with_objects(
        &repo,
        base,
        &[
            change("a/x/one.yaml", b"1b\n"),
            change("a/x/two.yaml", b"2b\n"),
            change("a/y/three.yaml", b"3\n"), // unchanged content
            change("a/z/new.yaml", b"n\n"),   // new directory
        ],
        &meta,
    )
    .unwrap();
    let named: BTreeSet<String> = created.objects.iter().map(Oid::to_string).collect();
    assert_eq!(named.len(), created.objects.len(), "no duplicates");
    assert_eq!(
        named,
        missing_on_server(&path, created.id, &base.to_string())
    );
    // commit, root, a/, a/x/, two blobs, a/z/, its blob
    assert_eq!(named.len(), 8, "{named:?}");

    let same =
        commit_changes_with_objects(&repo, base, &[change("top.yaml", b"t\n")], &meta).unwrap();
    assert_eq!((same.id, same.objects.len()), (base, 0));
}

#[test]
fn after_a_direct_push_the_next_promotion_builds_on_it_without_fetching() {
    let f = fixture();
    let c = creds(&f.server);
    let mut cached = f.cache.open(&f.repo.url).unwrap();
    let replace = |from: &'static str, to: &'static str| {
        move |snap: &sealift_gitops::Snapshot<'_>| {
            let text = sealift_gitops::overlay::find_kustomization(snap, "overlays/prod")?.text;
            Ok(vec![FileChange {
                path: PROD.into(),
                content: text.replace(from, to).into_bytes(),
            }])
        }
    };
    let first = commit_and_push(
        &mut cached,
        &request(PushTarget::Base, &c),
        &mut replace("sha256:old", "sha256:one"),
    )
    .unwrap();
    let PushOutcome::Pushed { commit: one, .. } = first else {
        panic!("{first:?}")
    };

    // With fetching (upload-pack) switched off on the server, the next promotion still lands:
    // ref discovery shows the head this cache pushed, so there is nothing to fetch.
    git(&f.repo.path, &["config", "http.uploadpack", "false"]);
    let second = commit_and_push(
        &mut cached,
        &request(PushTarget::Base, &c),
        &mut replace("sha256:one", "sha256:two"),
    )
    .unwrap();
    let PushOutcome::Pushed {
        commit: two, base, ..
    } = second
    else {
        panic!("{second:?}")
    };
    assert_eq!(base, one);
    assert_eq!(branch_head(&f.repo.path, "main").unwrap(), Some(two));

    // Someone else commits: now the head is new to the cache, and it is fetched.
    let other = commit_files(&f.repo.path, "main", &[("README.md", b"x\n")], "other").unwrap();
    let err = commit_and_push(
        &mut cached,
        &request(PushTarget::Base, &c),
        &mut replace("sha256:two", "sha256:three"),
    )
    .unwrap_err();
    // The fetch was attempted, and refused by the server (http-backend: 403 for upload-pack).
    assert!(err.to_string().contains("403"), "{err}");
    git(&f.repo.path, &["config", "http.uploadpack", "true"]);
    let third = commit_and_push(
        &mut cached,
        &request(PushTarget::Base, &c),
        &mut replace("sha256:two", "sha256:three"),
    )
    .unwrap();
    let PushOutcome::Pushed { base, .. } = third else {
        panic!("{third:?}")
    };
    assert_eq!(base, other);
    assert_eq!(
        read_file(&f.repo.path, "main", PROD).unwrap().unwrap(),
        b"images:\n- name: app\n  digest: sha256:three\n"
    );
}
