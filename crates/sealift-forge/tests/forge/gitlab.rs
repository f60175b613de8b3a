//! GitLab merge requests: encoded project path, 409 on duplicates, reviewer ids, drafts,
//! idempotent statuses, merge states (fast-forward included), both token kinds, pagination.

use super::gitlab_standin::{FORK_ID, GitLabForge, PROJECT_ID};
use super::server::{Reply, StandIn};
use super::spec;
use super::*;
use sealift_api::{ForgeProvider, PullRequestState};
use sealift_forge::{
    CommitState, CommitStatus, Credentials, Forge, SecretString, VERIFIED_CONTEXT, connect,
};
use serde_json::json;

pub const TOKEN: &str = "glpat-SealiftTestToken0123456789";

pub struct Gl {
    pub standin: StandIn<GitLabForge>,
    pub clock: Arc<ManualClock>,
}

impl Drop for Gl {
    fn drop(&mut self) {
        check_on_drop(&self.standin);
    }
}

impl Gl {
    pub async fn start() -> Self {
        let spec = spec::gitlab_documented().unwrap();
        let standin = StandIn::start(GitLabForge::new(spec.clone(), TOKEN), "/api/v4", vec![spec])
            .await
            .unwrap();
        standin.behaviour().set_origin(&standin.origin);
        Self {
            standin,
            clock: mk_clock(),
        }
    }

    pub fn config(&self, credentials: Credentials) -> ForgeConfig {
        config(
            ForgeKind::GitLab,
            &self.standin.url,
            repo("acme", "gitops"),
            credentials,
            &self.clock,
        )
    }

    pub fn forge(&self) -> Arc<dyn Forge> {
        connect(self.config(Credentials::Token(SecretString::new(TOKEN)))).unwrap()
    }

    pub fn new_pull(&self) -> NewPullRequest {
        mk_new_pull(
            "catalog-to-prod",
            ForgeProvider::Gitlab,
            &self.forge().capabilities(),
        )
    }
}

#[tokio::test]
async fn opening_a_merge_request_addresses_the_project_by_its_encoded_path() {
    let gl = Gl::start().await;
    let opened = gl.forge().open(&gl.new_pull()).await.unwrap();
    assert!(!opened.adopted);
    let mr = gl
        .standin
        .behaviour()
        .mr(opened.pull_request.number)
        .unwrap();
    assert_eq!(mr.labels, ["promotion"], "labels are set at creation");
    assert_eq!(mr.reviewer_ids, [11], "alice, by user id");
    assert!(
        mr.remove_source_branch,
        "the promotion branch is disposable"
    );
    assert!(body::parse_marker(&mr.description).is_some());
    assert!(
        gl.standin.exchanges().iter().all(|e| e
            .request
            .path
            .starts_with("/projects/acme%2Fgitops/")
            || e.request.path == "/users"),
        "{:?}",
        gl.standin
            .exchanges()
            .iter()
            .map(|e| e.request.path.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        gl.standin.exchanges()[0].request.header("private-token"),
        Some(TOKEN)
    );
    assert_eq!(
        opened.pull_request.url,
        format!("{}/acme/gitops/-/merge_requests/1", gl.standin.origin)
    );
    gl.standin.assert_clean().unwrap();
}

#[tokio::test]
async fn opening_twice_for_the_same_branch_adopts_the_existing_merge_request() {
    let gl = Gl::start().await;
    let forge = gl.forge();
    let first = forge.open(&gl.new_pull()).await.unwrap();
    let second = forge.open(&gl.new_pull()).await.unwrap();
    assert!(second.adopted);
    assert_eq!(second.pull_request.number, first.pull_request.number);
    assert_eq!(
        gl.standin.calls("postApiV4ProjectsIdMergeRequests").len(),
        1
    );
    assert_eq!(gl.standin.behaviour().state.lock().unwrap().mrs.len(), 1);
}

#[tokio::test]
async fn a_409_for_an_existing_merge_request_is_resolved_by_lookup() {
    let gl = Gl::start().await;
    let existing = gl.standin.behaviour().add_mr(HEAD, BASE, PROJECT_ID);
    gl.standin.fail_next(
        "getApiV4ProjectsIdMergeRequests",
        1,
        Reply::json(200, json!([])).header("x-next-page", ""),
    );
    let opened = gl.forge().open(&gl.new_pull()).await.unwrap();
    assert!(opened.adopted);
    assert_eq!(opened.pull_request.number, existing);
    let create = gl.standin.calls("postApiV4ProjectsIdMergeRequests");
    assert_eq!(create[0].status, 409);
    assert!(
        create[0].response.as_ref().unwrap()["message"].is_array(),
        "GitLab's 409 message is a list"
    );
}

#[tokio::test]
async fn a_fork_merge_request_with_the_same_branch_name_is_skipped_across_pages() {
    let gl = Gl::start().await;
    let b = gl.standin.behaviour();
    for _ in 0..120 {
        b.add_mr(HEAD, BASE, FORK_ID);
    }
    let ours = b.add_mr(HEAD, BASE, PROJECT_ID);
    let found = gl.forge().find_open(HEAD, BASE).await.unwrap().unwrap();
    assert_eq!(found.number, ours);
    let pages: Vec<_> = gl
        .standin
        .calls("getApiV4ProjectsIdMergeRequests")
        .iter()
        .map(|e| e.request.q("page").unwrap().to_owned())
        .collect();
    assert_eq!(pages, ["1", "2"]);
}

#[tokio::test]
async fn reviewers_are_resolved_to_user_ids_and_added_to_those_already_asked() {
    let gl = Gl::start().await;
    let forge = gl.forge();
    let n = forge
        .open(&gl.new_pull())
        .await
        .unwrap()
        .pull_request
        .number;
    forge
        .request_reviewers(
            n,
            &sealift_forge::Reviewers {
                users: vec!["bob".into()],
                teams: vec!["ignored".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(gl.standin.behaviour().mr(n).unwrap().reviewer_ids, [11, 12]);
    let err = forge
        .request_reviewers(
            n,
            &sealift_forge::Reviewers {
                users: vec!["nobody".into()],
                teams: vec![],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.category(), "not_found");
    assert!(err.to_string().contains("nobody"));
    assert!(!forge.capabilities().team_reviewers);
}

#[tokio::test]
async fn setting_the_same_pending_status_twice_is_not_an_error() {
    let gl = Gl::start().await;
    let forge = gl.forge();
    let pending = CommitStatus {
        state: CommitState::Pending,
        context: VERIFIED_CONTEXT.into(),
        description: "verifying".into(),
        target_url: None,
    };
    forge.set_status(HEAD_SHA, &pending).await.unwrap();
    forge.set_status(HEAD_SHA, &pending).await.unwrap();
    let second = &gl.standin.calls("postApiV4ProjectsIdStatusesSha")[1];
    assert_eq!(
        second.status, 400,
        "GitLab refuses the transition; Sealift treats it as already set"
    );
    forge
        .set_status(
            HEAD_SHA,
            &CommitStatus {
                state: CommitState::Success,
                ..pending.clone()
            },
        )
        .await
        .unwrap();
    forge
        .set_status(
            HEAD_SHA,
            &CommitStatus {
                state: CommitState::Failure,
                ..pending
            },
        )
        .await
        .unwrap();
    let statuses = gl
        .standin
        .behaviour()
        .state
        .lock()
        .unwrap()
        .statuses
        .clone();
    let states: Vec<&str> = statuses.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(
        states,
        ["success", "failed"],
        "a finished job is replaced by a new one"
    );
    assert_eq!(statuses[0].1, "sealift/verified");
}

#[tokio::test]
async fn merge_states_map_to_open_merged_and_closed() {
    let gl = Gl::start().await;
    let forge = gl.forge();
    let b = gl.standin.behaviour();
    let n = forge
        .open(&gl.new_pull())
        .await
        .unwrap()
        .pull_request
        .number;
    assert_eq!(forge.get(n).await.unwrap().state, PullRequestState::Open);
    b.set_state(
        n,
        "merged",
        Some("abcdef0123456789abcdef0123456789abcdef01"),
    );
    let merged = forge.get(n).await.unwrap();
    assert_eq!(
        (merged.state, merged.merge_commit.as_deref()),
        (
            PullRequestState::Merged,
            Some("abcdef0123456789abcdef0123456789abcdef01")
        )
    );
    // Fast-forward merge: no merge commit; the merged head is what landed on the target.
    let ff = b.add_mr("other", BASE, PROJECT_ID);
    b.set_state(ff, "merged", None);
    let merged = forge.get(ff).await.unwrap();
    assert_eq!(merged.merge_commit, Some(b.mr(ff).unwrap().sha));
    let closed = forge
        .close(b.add_mr("third", BASE, PROJECT_ID))
        .await
        .unwrap();
    assert_eq!(
        (closed.state, closed.merge_commit),
        (PullRequestState::Closed, None)
    );
    gl.standin.assert_clean().unwrap();
}

#[tokio::test]
async fn a_draft_stays_a_draft_when_sealift_refreshes_its_title() {
    let gl = Gl::start().await;
    let forge = gl.forge();
    let mut new = gl.new_pull();
    new.draft = true;
    let opened = forge.open(&new).await.unwrap();
    assert!(opened.pull_request.draft);
    assert_eq!(
        opened.pull_request.title, new.title,
        "the prefix is GitLab's, not part of the title"
    );
    new.title = format!("{} (re-verified)", new.title);
    let adopted = forge.open(&new).await.unwrap();
    assert!(adopted.adopted && adopted.pull_request.draft);
    assert_eq!(
        gl.standin.behaviour().mr(1).unwrap().title,
        format!("Draft: {}", new.title)
    );
}

#[tokio::test]
async fn a_bearer_token_is_sent_as_authorization() {
    let gl = Gl::start().await;
    let forge = connect(gl.config(Credentials::Bearer(SecretString::new(TOKEN)))).unwrap();
    forge.find_open(HEAD, BASE).await.unwrap();
    let req = &gl.standin.exchanges()[0].request;
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(req.header("private-token"), None);
}

#[tokio::test]
async fn a_project_that_does_not_exist_is_not_found() {
    let gl = Gl::start().await;
    let forge = connect(config(
        ForgeKind::GitLab,
        &gl.standin.url,
        repo("acme", "nope"),
        Credentials::Token(SecretString::new(TOKEN)),
        &gl.clock,
    ))
    .unwrap();
    let err = forge.find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(err.category(), "not_found");
    assert!(err.to_string().contains("acme/nope"), "{err}");
}
