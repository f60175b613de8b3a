//! The GitHub stand-in backed by a repository the rig's git server serves: Sealift's real GitHub
//! client opens a pull request on a real branch, and merging it through GitHub's REST endpoint
//! leaves a real merge commit on the base branch, which the client then reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};
use sealift_api::PullRequestState;
use sealift_forge::{
    CommitState, CommitStatus, Credentials as ForgeCredentials, Forge, ForgeConfig, ForgeKind,
    NewPullRequest, RepoPath, SecretString, VERIFIED_CONTEXT, connect,
};
use sealift_testrig::Credentials;
use sealift_testrig::forge::{GithubOptions, GithubStandin};
use sealift_testrig::git::{branch_head, commit_files, read_file};
use sealift_testrig::git_server::{GitServer, ServedRepo};
use serde_json::{Value, json};
use std::sync::Arc;

const BASE: &str = "main";
const HEAD: &str = "sealift/bookstore/catalog-to-prod";
const FILE: &str = "overlays/prod/kustomization.yaml";
const OLD: &[u8] = b"images:\n- name: catalog\n  digest: sha256:1111\n";
const NEW: &[u8] = b"images:\n- name: catalog\n  digest: sha256:9f3c\n";

/// A served repository with `main` and a promotion branch one commit ahead of it.
fn mk_repo(server: &GitServer) -> ServedRepo {
    let repo = server.create_repo("acme/gitops").unwrap();
    commit_files(&repo.path, BASE, &[(FILE, OLD)], "initial").unwrap();
    mk_branch(&repo, HEAD, BASE);
    commit_files(&repo.path, HEAD, &[(FILE, NEW)], "promote catalog").unwrap();
    repo
}

fn mk_branch(repo: &ServedRepo, name: &str, from: &str) {
    let git = Repository::open_bare(&repo.path).unwrap();
    let tip = git.find_commit(branch_head(&repo.path, from).unwrap().unwrap());
    git.branch(name, &tip.unwrap(), false).unwrap();
}

async fn mk_standin(repo: &ServedRepo) -> GithubStandin {
    GithubStandin::start(GithubOptions::new().backed_by(&repo.path))
        .await
        .expect("the GitHub stand-in needs @octokit/openapi: scripts/install-rig.sh")
}

fn mk_forge(gh: &GithubStandin) -> Arc<dyn Forge> {
    connect(ForgeConfig::new(
        ForgeKind::GitHub,
        gh.api_url().parse().unwrap(),
        RepoPath {
            owner: gh.owner().into(),
            name: gh.repo().into(),
        },
        ForgeCredentials::Token(SecretString::new(gh.token())),
    ))
    .unwrap()
}

fn mk_new_pull(head: &str) -> NewPullRequest {
    NewPullRequest {
        head: head.into(),
        base: BASE.into(),
        title: "Promote bookstore/catalog staging → prod".into(),
        body: "Evidence: verified.".into(),
        labels: vec!["promotion".into()],
        ..NewPullRequest::default()
    }
}

/// `PUT /repos/{owner}/{repo}/pulls/{n}/merge`, as a person's client would send it.
async fn merge_over_rest(gh: &GithubStandin, number: i64, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .put(format!(
            "{}/repos/{}/{}/pulls/{number}/merge",
            gh.api_url(),
            gh.owner(),
            gh.repo()
        ))
        .header("user-agent", "sealift-integration-test")
        .header("accept", "application/vnd.github+json")
        .bearer_auth(gh.token())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The tip of `main` as a clone over smart HTTP sees it.
fn fetched_main(server: &GitServer, repo: &ServedRepo) -> String {
    let dir = tempfile::tempdir().unwrap();
    let local = Repository::init_bare(dir.path()).unwrap();
    let mut callbacks = RemoteCallbacks::new();
    let creds = server.credentials().clone();
    callbacks
        .credentials(move |_, _, _| Cred::userpass_plaintext(&creds.username, &creds.password));
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    local
        .remote_anonymous(&repo.url)
        .unwrap()
        .fetch(
            &["+refs/heads/main:refs/heads/main"],
            Some(&mut options),
            None,
        )
        .unwrap();
    branch_head(dir.path(), BASE).unwrap().unwrap().to_string()
}

#[tokio::test]
async fn merging_through_the_rest_endpoint_writes_a_real_merge_commit_the_client_then_reports() {
    sealift_testrig::install_crypto_provider();
    let server = GitServer::start(Credentials::random("sealift")).unwrap();
    let repo = mk_repo(&server);
    let (base_tip, head_tip) = (
        branch_head(&repo.path, BASE).unwrap().unwrap(),
        branch_head(&repo.path, HEAD).unwrap().unwrap(),
    );
    let gh = mk_standin(&repo).await;
    let forge = mk_forge(&gh);

    let opened = forge.open(&mk_new_pull(HEAD)).await.unwrap();
    let pr = opened.pull_request;
    assert_eq!(
        (pr.state, pr.head_sha.clone()),
        (PullRequestState::Open, Some(head_tip.to_string()))
    );
    forge
        .set_status(
            &head_tip.to_string(),
            &CommitStatus {
                state: CommitState::Success,
                context: VERIFIED_CONTEXT.into(),
                description: "1 image verified".into(),
                target_url: None,
            },
        )
        .await
        .unwrap();

    let (status, answer) = merge_over_rest(
        &gh,
        pr.number,
        json!({"merge_method": "merge", "sha": head_tip.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let merge_sha = answer["sha"].as_str().unwrap().to_owned();

    // The base branch of the bare repository now is a merge commit of the old base and the head.
    assert_eq!(
        branch_head(&repo.path, BASE).unwrap().unwrap().to_string(),
        merge_sha
    );
    let git = Repository::open_bare(&repo.path).unwrap();
    let merge = git.find_commit(merge_sha.parse().unwrap()).unwrap();
    assert_eq!(merge.parent_ids().collect::<Vec<_>>(), [base_tip, head_tip]);
    assert!(merge.message().unwrap().starts_with(&format!(
        "Merge pull request #{} from acme/{HEAD}",
        pr.number
    )));
    assert_eq!(read_file(&repo.path, BASE, FILE).unwrap().unwrap(), NEW);
    assert_eq!(
        fetched_main(&server, &repo),
        merge_sha,
        "the git server serves the merge"
    );

    // Sealift's client sees it merged, with the real merge commit.
    let merged = forge.get(pr.number).await.unwrap();
    assert_eq!(
        (merged.state, merged.merge_commit.as_deref()),
        (PullRequestState::Merged, Some(merge_sha.as_str()))
    );
    assert!(forge.find_open(HEAD, BASE).await.unwrap().is_none());

    // What the stand-in recorded, for end-to-end assertions.
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (pulls[0].labels.as_slice(), pulls[0].body.as_str()),
        (&["promotion".to_owned()][..], "Evidence: verified.")
    );
    let statuses = gh.statuses();
    assert_eq!(
        statuses
            .iter()
            .map(|s| (s.sha.as_str(), s.context.as_str(), s.state.as_str()))
            .collect::<Vec<_>>(),
        [(head_tip.to_string().as_str(), VERIFIED_CONTEXT, "success")]
    );
    // A merged pull request cannot be merged again (GitHub: 405).
    let (again, _) = merge_over_rest(&gh, pr.number, json!({})).await;
    assert_eq!(again, 405);
    gh.assert_clean().unwrap();
    assert_eq!(gh.calls("pulls/merge").len(), 2);
}

#[tokio::test]
async fn a_conflicting_or_moved_head_is_refused_and_the_base_branch_is_left_alone() {
    sealift_testrig::install_crypto_provider();
    let server = GitServer::start(Credentials::random("sealift")).unwrap();
    let repo = mk_repo(&server);
    let gh = mk_standin(&repo).await;
    let forge = mk_forge(&gh);
    let n = forge
        .open(&mk_new_pull(HEAD))
        .await
        .unwrap()
        .pull_request
        .number;

    // The head moved after review: a merge pinned to the reviewed sha is a 409.
    let reviewed = branch_head(&repo.path, HEAD).unwrap().unwrap().to_string();
    commit_files(&repo.path, HEAD, &[("README.md", b"late\n")], "late change").unwrap();
    let (status, _) = merge_over_rest(&gh, n, json!({"sha": reviewed})).await;
    assert_eq!(status, 409);
    // head.sha follows the branch, as on GitHub.
    let moved = branch_head(&repo.path, HEAD).unwrap().unwrap().to_string();
    assert_eq!(forge.get(n).await.unwrap().head_sha, Some(moved));

    // Someone changed the same line on main: GitHub answers 405 and nothing moves.
    commit_files(&repo.path, BASE, &[(FILE, b"images: []\n")], "conflicting").unwrap();
    let base_before = branch_head(&repo.path, BASE).unwrap();
    let (status, answer) = merge_over_rest(&gh, n, json!({})).await;
    assert_eq!(status, 405, "{answer}");
    assert_eq!(branch_head(&repo.path, BASE).unwrap(), base_before);
    assert!(gh.merge(n).is_err(), "the direct merge refuses too");
    assert_eq!(forge.get(n).await.unwrap().state, PullRequestState::Open);

    // Closing without merging.
    gh.close(n).unwrap();
    assert_eq!(forge.get(n).await.unwrap().state, PullRequestState::Closed);
    gh.assert_clean().unwrap();
}

#[tokio::test]
async fn a_pull_request_needs_an_existing_head_with_commits_the_base_lacks() {
    sealift_testrig::install_crypto_provider();
    let server = GitServer::start(Credentials::random("sealift")).unwrap();
    let repo = mk_repo(&server);
    mk_branch(&repo, "sealift/bookstore/no-change", BASE);
    let gh = mk_standin(&repo).await;
    let forge = mk_forge(&gh);

    let missing = forge
        .open(&mk_new_pull("sealift/bookstore/never-pushed"))
        .await
        .unwrap_err();
    assert!(!missing.is_transient(), "{missing}");
    let empty = forge
        .open(&mk_new_pull("sealift/bookstore/no-change"))
        .await
        .unwrap_err();
    assert!(!empty.is_transient(), "{empty}");
    let answers: Vec<Value> = gh
        .calls("pulls/create")
        .into_iter()
        .filter_map(|e| e.response)
        .collect();
    assert_eq!(answers[0]["errors"][0]["field"], "head");
    assert!(
        answers[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("No commits between main and")
    );
    assert!(gh.pulls().is_empty());

    // The direct merge used by tests is the same real merge.
    let n = forge
        .open(&mk_new_pull(HEAD))
        .await
        .unwrap()
        .pull_request
        .number;
    let sha = gh.merge(n).unwrap();
    assert_eq!(
        branch_head(&repo.path, BASE).unwrap().unwrap().to_string(),
        sha
    );
    let pull = gh.pull(n).unwrap();
    assert!(pull.merged && pull.merged_at.is_some());
    assert_eq!(forge.get(n).await.unwrap().merge_commit, Some(sha));
    gh.assert_clean().unwrap();
}
