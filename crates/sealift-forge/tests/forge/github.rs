//! GitHub: opening, adopting, the `head=owner:branch` quirk, statuses, state, errors, Enterprise.

use super::github_standin::{BOT, GithubOptions, GithubStandin, OWNER, REPO, TEST_MERGE_SHA};
use super::server::Reply;
use super::*;
use sealift_api::{ForgeProvider, PullRequestState};
use sealift_forge::{
    CommitState, CommitStatus, Credentials, Forge, SecretString, VERIFIED_CONTEXT, connect,
};
use serde_json::json;

pub const TOKEN: &str = "ghp_SealiftTestToken0123456789abcdefABCD";

pub struct Gh {
    pub standin: GithubStandin,
    pub clock: Arc<ManualClock>,
}

impl Drop for Gh {
    fn drop(&mut self) {
        check_on_drop(&self.standin);
    }
}

impl Gh {
    /// github.com: checked against @octokit/openapi's api.github.com description.
    pub async fn start() -> Self {
        Self::start_with(GithubOptions::new()).await
    }

    /// GitHub Enterprise Server at `/api/v3`, checked against its own description.
    pub async fn enterprise() -> Self {
        Self::start_with(GithubOptions::new().enterprise()).await
    }

    async fn start_with(options: GithubOptions) -> Self {
        let clock = mk_clock();
        let options = options.token(TOKEN).clock(standin_clock(&clock));
        let standin = GithubStandin::start(options).await.unwrap();
        Self { standin, clock }
    }

    pub fn config(&self, credentials: Credentials) -> ForgeConfig {
        config(
            ForgeKind::GitHub,
            &self.standin.url,
            repo(OWNER, REPO),
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
            ForgeProvider::Github,
            &self.forge().capabilities(),
        )
    }
}

#[tokio::test]
async fn opening_a_pull_request_sends_the_evidence_then_labels_and_reviewers() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    let new = gh.new_pull();
    let opened = forge.open(&new).await.unwrap();
    assert!(!opened.adopted);
    assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
    let pr = &opened.pull_request;
    assert_eq!(
        (pr.number, pr.state, pr.head.as_str(), pr.base.as_str()),
        (1, PullRequestState::Open, HEAD, BASE)
    );
    assert_eq!(
        pr.url,
        format!("{}/{OWNER}/{REPO}/pull/1", gh.standin.origin)
    );
    let stored = gh.standin.behaviour().pull(1).unwrap();
    assert_eq!(
        stored.title,
        "Promote bookstore/catalog sha256:9f3c1a… staging → prod"
    );
    assert!(
        stored
            .body
            .contains("`https://token.actions.githubusercontent.com`")
    );
    assert_eq!(
        body::parse_marker(&stored.body).unwrap().promotion.name,
        "catalog-to-prod"
    );
    assert_eq!(stored.labels, ["promotion"]);
    assert_eq!(stored.reviewers, ["alice"]);
    assert_eq!(stored.teams, ["platform"]);
    // Labels cannot be given at creation on GitHub: they go through the issues API afterwards.
    let create = &gh.standin.calls("pulls/create")[0];
    assert!(
        create
            .request
            .body
            .as_ref()
            .unwrap()
            .get("labels")
            .is_none()
    );
    assert_eq!(gh.standin.calls("issues/add-labels").len(), 1);
    gh.standin.assert_clean().unwrap();
}

#[tokio::test]
async fn opening_twice_for_the_same_head_adopts_the_existing_pull_request() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    let first = forge.open(&gh.new_pull()).await.unwrap();
    let second = forge.open(&gh.new_pull()).await.unwrap();
    assert!(second.adopted);
    assert_eq!(second.pull_request.number, first.pull_request.number);
    assert_eq!(second.previous.unwrap().promotion.name, "catalog-to-prod");
    assert_eq!(gh.standin.behaviour().state.lock().unwrap().pulls.len(), 1);
    assert_eq!(
        gh.standin.calls("pulls/create").len(),
        1,
        "the second open creates nothing"
    );
    assert_eq!(
        gh.standin.calls("pulls/update").len(),
        0,
        "nothing changed, nothing written"
    );
    assert_eq!(
        gh.standin.calls("pulls/request-reviewers").len(),
        1,
        "reviewers already asked"
    );
}

#[tokio::test]
async fn a_pull_request_already_exists_answer_is_resolved_by_lookup() {
    let gh = Gh::start().await;
    let existing = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    // The first lookup misses it (a race with another controller replica); creation then gets
    // GitHub's 422 and Sealift looks again instead of failing.
    gh.standin
        .fail_next("pulls/list", 1, Reply::json(200, json!([])));
    let opened = gh.forge().open(&gh.new_pull()).await.unwrap();
    assert!(opened.adopted);
    assert_eq!(opened.pull_request.number, existing);
    let create = gh.standin.calls("pulls/create");
    assert_eq!((create.len(), create[0].status), (1, 422));
    // Adoption brought the adopted pull request's title and body up to date.
    assert!(body::parse_marker(&gh.standin.behaviour().pull(existing).unwrap().body).is_some());
}

#[tokio::test]
async fn a_create_that_succeeded_behind_a_502_is_adopted_not_duplicated() {
    let gh = Gh::start().await;
    gh.standin.lose_answer(
        "pulls/create",
        Reply::json(502, json!({"message": "Server Error"})),
    );
    let opened = gh.forge().open(&gh.new_pull()).await.unwrap();
    assert!(opened.adopted);
    let statuses: Vec<u16> = gh
        .standin
        .calls("pulls/create")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        statuses,
        [502, 422],
        "the retry met GitHub's duplicate check"
    );
    assert_eq!(gh.standin.behaviour().state.lock().unwrap().pulls.len(), 1);
}

/// GitHub's list filter needs `head=owner:branch`; a bare branch name is silently ignored and
/// every pull request comes back (docs.github.com/rest/pulls/pulls#list-pull-requests, `head`).
#[tokio::test]
async fn github_ignores_a_bare_head_filter_and_lists_every_pull_request() {
    let gh = Gh::start().await;
    let b = gh.standin.behaviour();
    b.add_pull("feature/one", BASE, "carol");
    b.add_pull("feature/two", BASE, "dave");
    let ours = b.add_pull(HEAD, BASE, BOT);
    let client = reqwest::Client::new();
    let list = |head: &str| {
        client
            .get(format!("{}/repos/{OWNER}/{REPO}/pulls", gh.standin.url))
            .query(&[("state", "open"), ("head", head)])
            .header("user-agent", "pin-the-quirk")
            .bearer_auth(TOKEN)
            .send()
    };
    let bare: Vec<serde_json::Value> = list(HEAD).await.unwrap().json().await.unwrap();
    assert_eq!(bare.len(), 3, "a bare branch filters nothing");
    let qualified: Vec<serde_json::Value> = list(&format!("{OWNER}:{HEAD}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(qualified.len(), 1);
    // Sealift sends the qualified form and finds its own pull request, not the newest one.
    let found = gh.forge().find_open(HEAD, BASE).await.unwrap().unwrap();
    assert_eq!(found.number, ours);
    let sent = gh
        .standin
        .calls("pulls/list")
        .last()
        .unwrap()
        .request
        .clone();
    assert_eq!(sent.q("head"), Some(format!("{OWNER}:{HEAD}").as_str()));
    assert_eq!(sent.q("base"), Some(BASE));
}

#[tokio::test]
async fn results_on_later_pages_are_found_by_following_the_link_header() {
    let gh = Gh::start().await;
    let b = gh.standin.behaviour();
    let stranger = b.add_pull("someone/else", BASE, "carol");
    let ours = b.add_pull(HEAD, BASE, BOT);
    let next = format!(
        "<{}/repos/{OWNER}/{REPO}/pulls?page=2>; rel=\"next\"",
        gh.standin.url
    );
    gh.standin.fail_next(
        "pulls/list",
        1,
        Reply::json(200, json!([b.pull_json_of(stranger, true)])).header("link", next),
    );
    gh.standin.fail_next(
        "pulls/list",
        1,
        Reply::json(200, json!([b.pull_json_of(ours, true)])),
    );
    let found = gh.forge().find_open(HEAD, BASE).await.unwrap().unwrap();
    assert_eq!(found.number, ours);
    let pages: Vec<_> = gh
        .standin
        .calls("pulls/list")
        .iter()
        .map(|e| e.request.q("page").unwrap().to_owned())
        .collect();
    assert_eq!(pages, ["1", "2"]);
}

#[tokio::test]
async fn the_verified_status_is_set_on_the_head_commit() {
    let gh = Gh::start().await;
    let status = CommitStatus {
        state: CommitState::Success,
        context: VERIFIED_CONTEXT.into(),
        description: "3 images verified against TrustPolicy bookstore/bookstore".into(),
        target_url: None,
    };
    gh.forge().set_status(HEAD_SHA, &status).await.unwrap();
    let statuses = gh.standin.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        statuses[0].body,
        json!({"state": "success", "context": "sealift/verified", "description": status.description}),
        "no target_url when there is none"
    );
    assert_eq!(
        (statuses[0].sha.as_str(), statuses[0].context.as_str()),
        (HEAD_SHA, VERIFIED_CONTEXT)
    );
}

#[tokio::test]
async fn a_merged_pull_request_reports_its_merge_commit_and_an_open_one_does_not() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    let n = forge
        .open(&gh.new_pull())
        .await
        .unwrap()
        .pull_request
        .number;
    // Quirk: GitHub fills merge_commit_sha for open pull requests with the test merge commit.
    assert_eq!(
        gh.standin.behaviour().pull(n).unwrap().merge_sha.as_deref(),
        Some(TEST_MERGE_SHA)
    );
    let open = forge.get(n).await.unwrap();
    assert_eq!(
        (open.state, open.merge_commit),
        (PullRequestState::Open, None)
    );
    let sha = gh.standin.behaviour().merge(n).unwrap();
    let merged = forge.get(n).await.unwrap();
    assert_eq!(merged.state, PullRequestState::Merged);
    assert_eq!(merged.merge_commit.as_deref(), Some(sha.as_str()));
    let reference = merged.to_ref();
    assert_eq!((reference.number, reference.merge_commit), (n, Some(sha)));
}

#[tokio::test]
async fn closing_closes_without_merging_and_a_closed_pull_request_is_not_adopted() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    let n = forge
        .open(&gh.new_pull())
        .await
        .unwrap()
        .pull_request
        .number;
    let closed = forge.close(n).await.unwrap();
    assert_eq!(
        (closed.state, closed.merge_commit),
        (PullRequestState::Closed, None)
    );
    let reopened = forge.open(&gh.new_pull()).await.unwrap();
    assert!(!reopened.adopted);
    assert_ne!(reopened.pull_request.number, n);
}

#[tokio::test]
async fn a_reviewer_github_refuses_is_a_warning_not_a_failure() {
    let gh = Gh::start().await;
    let mut new = gh.new_pull();
    new.reviewers.users = vec!["mallory".into()];
    let opened = gh.forge().open(&new).await.unwrap();
    assert_eq!(opened.warnings.len(), 1);
    assert!(
        opened.warnings[0].contains("not a collaborator"),
        "{:?}",
        opened.warnings
    );
    // The author is never asked to review their own pull request (GitHub would answer 422).
    let mut own = gh.new_pull();
    own.reviewers.users = vec![BOT.into(), "bob".into()];
    let adopted = gh.forge().open(&own).await.unwrap();
    assert!(adopted.warnings.is_empty(), "{:?}", adopted.warnings);
    let asked = gh
        .standin
        .calls("pulls/request-reviewers")
        .last()
        .unwrap()
        .request
        .clone();
    assert_eq!(asked.body.as_ref().unwrap()["reviewers"], json!(["bob"]));
}

#[tokio::test]
async fn a_pull_request_on_the_branch_owned_by_another_promotion_is_not_adopted() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    let caps = forge.capabilities();
    forge
        .open(&mk_new_pull("someone-else", ForgeProvider::Github, &caps))
        .await
        .unwrap();
    let err = forge.open(&gh.new_pull()).await.unwrap_err();
    assert_eq!(err.category(), "conflict");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("bookstore/someone-else"), "{err}");
}

#[tokio::test]
async fn every_request_carries_a_user_agent_and_the_api_version() {
    let gh = Gh::start().await;
    gh.forge().find_open(HEAD, BASE).await.unwrap();
    let req = &gh.standin.exchanges()[0].request;
    assert!(req.header("user-agent").unwrap().starts_with("sealift/"));
    assert_eq!(req.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(req.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_bad_token_is_unauthorized_and_not_retried() {
    let gh = Gh::start().await;
    let forge = connect(gh.config(Credentials::Token(SecretString::new(
        "ghp_wrongwrongwrongwrong",
    ))))
    .unwrap();
    let err = forge.find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(err.category(), "unauthorized");
    assert!(!err.is_transient());
    assert_eq!(gh.standin.exchanges().len(), 1);
}

#[tokio::test]
async fn a_permission_403_is_forbidden_and_a_missing_repository_is_not_found() {
    let gh = Gh::start().await;
    gh.standin.fail_next(
        "pulls/create",
        1,
        Reply::json(403, json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"})),
    );
    let err = gh.forge().open(&gh.new_pull()).await.unwrap_err();
    assert_eq!(err.category(), "forbidden");
    assert!(
        err.to_string()
            .contains("Resource not accessible by integration"),
        "{err}"
    );
    assert_eq!(
        gh.standin.calls("pulls/create").len(),
        1,
        "a permission problem is not retried"
    );
    let elsewhere = connect(config(
        ForgeKind::GitHub,
        &gh.standin.url,
        repo(OWNER, "missing"),
        Credentials::Token(SecretString::new(TOKEN)),
        &gh.clock,
    ))
    .unwrap();
    let err = elsewhere.get(1).await.unwrap_err();
    assert_eq!(err.category(), "not_found");
    assert!(err.to_string().contains("acme/missing"), "{err}");
}

#[tokio::test]
async fn github_enterprise_server_is_reached_under_api_v3() {
    let gh = Gh::enterprise().await;
    let forge = gh.forge();
    let opened = forge.open(&gh.new_pull()).await.unwrap();
    forge
        .set_status(
            HEAD_SHA,
            &CommitStatus {
                state: CommitState::Pending,
                context: VERIFIED_CONTEXT.into(),
                description: "verifying".into(),
                target_url: Some(
                    "https://sealift.example.com/promotions/bookstore/catalog-to-prod".into(),
                ),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        forge.get(opened.pull_request.number).await.unwrap().state,
        PullRequestState::Open
    );
    assert!(
        gh.standin
            .exchanges()
            .iter()
            .all(|e| e.request.path.starts_with("/repos/"))
    );
    gh.standin.assert_clean().unwrap();
}

/// Octokit's description drops GitHub's rule that a review request names `reviewers` or
/// `team_reviewers`; the stand-in keeps it as its own check.
#[tokio::test]
async fn a_review_request_naming_neither_reviewers_nor_teams_is_a_violation() {
    let standin = GithubStandin::start(GithubOptions::new().token(TOKEN))
        .await
        .unwrap();
    let url = format!(
        "{}/repos/{OWNER}/{REPO}/pulls/1/requested_reviewers",
        standin.api_url()
    );
    let rule = |v: &[String]| {
        v.iter()
            .filter(|e| e.contains("neither `reviewers` nor `team_reviewers`"))
            .count()
    };
    for (body, broken) in [
        (json!({"team_reviewers": []}), 0),
        (json!({"reviewers": ["alice"]}), 0),
        (json!({}), 1),
    ] {
        reqwest::Client::new()
            .post(&url)
            .header("authorization", format!("token {TOKEN}"))
            .header("user-agent", "sealift-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(rule(&standin.violations()), broken, "{body}");
    }
}
