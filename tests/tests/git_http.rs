//! The rig's git server is real smart HTTP with basic auth: an authenticated push lands, a wrong
//! password or no password is refused and changes nothing, and large (chunked) pushes work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use git2::{Cred, FetchOptions, PushOptions, RemoteCallbacks, Repository};
use sealift_testrig::Credentials;
use sealift_testrig::git::{branch_head, commit_files, read_file};
use sealift_testrig::git_server::{GitServer, ServedRepo};
use std::cell::Cell;

fn start() -> (GitServer, ServedRepo) {
    let server = GitServer::start(Credentials::random("sealift"))
        .expect("the real git server (nginx + fcgiwrap + git http-backend) must start");
    let repo = server.create_repo("acme/gitops").unwrap();
    commit_files(
        &repo.path,
        "main",
        &[("overlays/prod/kustomization.yaml", b"images: []\n")],
        "initial",
    )
    .unwrap();
    (server, repo)
}

/// Callbacks that answer the credential prompt once: libgit2 asks again after every refusal.
fn callbacks<'a>(creds: Option<&'a Credentials>, asked: &'a Cell<u32>) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, _user, _allowed| {
        asked.set(asked.get() + 1);
        match creds {
            Some(c) if asked.get() == 1 => Cred::userpass_plaintext(&c.username, &c.password),
            _ => Err(git2::Error::from_str("no (more) credentials")),
        }
    });
    cb
}

/// A local bare clone of `main`.
fn clone(server: &GitServer, repo: &ServedRepo, dir: &std::path::Path) -> Repository {
    let local = Repository::init_bare(dir).unwrap();
    let asked = Cell::new(0);
    let mut fo = FetchOptions::new();
    fo.remote_callbacks(callbacks(Some(server.credentials()), &asked));
    local
        .remote_anonymous(&repo.url)
        .unwrap()
        .fetch(&["+refs/heads/main:refs/heads/main"], Some(&mut fo), None)
        .unwrap();
    local
}

/// Pushes `main`; returns the outcome and how many times the server demanded credentials.
fn push(
    local: &Repository,
    url: &str,
    creds: Option<&Credentials>,
) -> (Result<(), git2::Error>, u32) {
    let asked = Cell::new(0);
    let result = push_with(local, url, creds, &asked);
    (result, asked.get())
}

fn push_with(
    local: &Repository,
    url: &str,
    creds: Option<&Credentials>,
    asked: &Cell<u32>,
) -> Result<(), git2::Error> {
    let rejected = std::rc::Rc::new(Cell::new(false));
    let r = rejected.clone();
    let mut cb = callbacks(creds, asked);
    cb.push_update_reference(move |_, status| {
        if status.is_some() {
            r.set(true);
        }
        Ok(())
    });
    let mut po = PushOptions::new();
    po.remote_callbacks(cb);
    local
        .remote_anonymous(url)?
        .push(&["refs/heads/main:refs/heads/main"], Some(&mut po))?;
    if rejected.get() {
        return Err(git2::Error::from_str("server rejected the update"));
    }
    Ok(())
}

#[test]
fn a_commit_pushed_over_authenticated_http_appears_on_the_server() {
    let (server, repo) = start();
    let tmp = tempfile::tempdir().unwrap();
    let local = clone(&server, &repo, tmp.path());
    let new = commit_files(
        local.path(),
        "main",
        &[(
            "overlays/prod/kustomization.yaml",
            b"images:\n- name: app\n  digest: sha256:abc\n",
        )],
        "promote app",
    )
    .unwrap();
    let (result, asked) = push(&local, &repo.url, Some(server.credentials()));
    result.unwrap();
    assert_eq!(
        asked, 1,
        "the server demands credentials, and accepts the right ones"
    );

    assert_eq!(branch_head(&repo.path, "main").unwrap(), Some(new));
    let content = read_file(&repo.path, "main", "overlays/prod/kustomization.yaml")
        .unwrap()
        .unwrap();
    assert_eq!(content, b"images:\n- name: app\n  digest: sha256:abc\n");
}

#[test]
fn a_wrong_password_is_refused_and_changes_nothing() {
    let (server, repo) = start();
    let before = branch_head(&repo.path, "main").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = clone(&server, &repo, tmp.path());
    commit_files(
        local.path(),
        "main",
        &[("evil.txt", b"x")],
        "should not land",
    )
    .unwrap();

    let wrong = Credentials {
        username: server.credentials().username.clone(),
        password: "wrong".into(),
    };
    let (result, asked) = push(&local, &repo.url, Some(&wrong));
    assert!(result.is_err());
    assert_eq!(
        asked, 2,
        "the server answered the wrong password with another 401"
    );
    let (result, asked) = push(&local, &repo.url, None);
    assert!(result.is_err());
    assert_eq!(asked, 1, "the server demanded credentials");

    assert_eq!(branch_head(&repo.path, "main").unwrap(), before);
    assert_eq!(read_file(&repo.path, "main", "evil.txt").unwrap(), None);
}

#[test]
fn an_anonymous_clone_is_refused() {
    let (_server, repo) = start();
    let tmp = tempfile::tempdir().unwrap();
    let local = Repository::init_bare(tmp.path()).unwrap();
    let asked = Cell::new(0);
    let mut fo = FetchOptions::new();
    fo.remote_callbacks(callbacks(None, &asked));
    let err = local
        .remote_anonymous(&repo.url)
        .unwrap()
        .fetch(&["+refs/heads/main:refs/heads/main"], Some(&mut fo), None)
        .unwrap_err();
    assert_eq!(asked.get(), 1, "the server demanded credentials: {err}");
    assert_eq!(
        local.references().unwrap().count(),
        0,
        "nothing was fetched"
    );
}

#[test]
fn a_push_larger_than_one_mebibyte_is_accepted() {
    // git sends request bodies over 1 MiB chunked; the server must handle that.
    let (server, repo) = start();
    let tmp = tempfile::tempdir().unwrap();
    let local = clone(&server, &repo, tmp.path());
    // Incompressible content, so the pack really is over 1 MiB.
    let mut big = vec![0u8; 3 * 1024 * 1024];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let new = commit_files(local.path(), "main", &[("blobs/big.bin", &big)], "big").unwrap();
    push(&local, &repo.url, Some(server.credentials()))
        .0
        .unwrap();
    assert_eq!(branch_head(&repo.path, "main").unwrap(), Some(new));
    assert_eq!(
        read_file(&repo.path, "main", "blobs/big.bin")
            .unwrap()
            .unwrap()
            .len(),
        big.len()
    );
}
