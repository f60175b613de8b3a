//! Gitea 1.27 and Forgejo 16: every test runs against both stand-ins, each checked against its
//! own description.

use super::gitea_standin::{FORK_REPO_ID, Flavor, GiteaForge, OWNER, REPO};
use super::server::{Reply, StandIn};
use super::spec;
use super::*;
use sealift_api::{ForgeProvider, PullRequestState};
use sealift_forge::{
    CommitState, CommitStatus, Credentials, Forge, SecretString, VERIFIED_CONTEXT, connect,
};
use serde_json::json;
use std::future::Future;

pub const TOKEN: &str = "3f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49";

pub struct Gt {
    pub flavor: ForgeKind,
    pub standin: StandIn<GiteaForge>,
    pub clock: Arc<ManualClock>,
}

impl Drop for Gt {
    fn drop(&mut self) {
        check_on_drop(&self.standin);
    }
}

impl Gt {
    pub async fn start(flavor: ForgeKind) -> Self {
        let spec = if flavor == ForgeKind::Forgejo {
            spec::forgejo().unwrap()
        } else {
            spec::gitea().unwrap()
        };
        let standin = StandIn::start(
            GiteaForge::new(
                if flavor == ForgeKind::Forgejo {
                    Flavor::Forgejo
                } else {
                    Flavor::Gitea
                },
                spec.clone(),
                TOKEN,
            ),
            "/api/v1",
            vec![spec],
        )
        .await
        .unwrap();
        standin.behaviour().set_origin(&standin.origin);
        Self {
            flavor,
            standin,
            clock: mk_clock(),
        }
    }

    pub fn config(&self, credentials: Credentials) -> ForgeConfig {
        config(
            self.flavor,
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
        let provider = if self.flavor == ForgeKind::Forgejo {
            ForgeProvider::Forgejo
        } else {
            ForgeProvider::Gitea
        };
        mk_new_pull("catalog-to-prod", provider, &self.forge().capabilities())
    }
}

async fn both<F, Fut>(test: F)
where
    F: Fn(Gt) -> Fut,
    Fut: Future<Output = ()>,
{
    for flavor in [ForgeKind::Gitea, ForgeKind::Forgejo] {
        test(Gt::start(flavor).await).await;
    }
}

#[tokio::test]
async fn opening_a_pull_request_adds_labels_by_name_and_requests_reviewers() {
    both(|gt| async move {
        let opened = gt.forge().open(&gt.new_pull()).await.unwrap();
        assert!(!opened.adopted, "{}", gt.flavor);
        assert_eq!(
            opened.pull_request.url,
            format!("{}/{OWNER}/{REPO}/pulls/1", gt.standin.origin)
        );
        let pull = gt.standin.behaviour().pull(1).unwrap();
        assert_eq!(pull.labels, ["promotion"], "{}", gt.flavor);
        assert_eq!(pull.reviewers, ["alice"], "{}", gt.flavor);
        assert_eq!(pull.teams, ["platform"], "{}", gt.flavor);
        assert!(body::parse_marker(&pull.body).is_some());
        let create = &gt.standin.calls("repoCreatePullRequest")[0];
        assert!(
            create
                .request
                .body
                .as_ref()
                .unwrap()
                .get("labels")
                .is_none(),
            "label ids are not known; names go through the issues API"
        );
        assert_eq!(
            gt.standin.exchanges()[0].request.header("authorization"),
            Some(format!("token {TOKEN}").as_str())
        );
        gt.standin.assert_clean().unwrap();
    })
    .await;
}

#[tokio::test]
async fn opening_twice_for_the_same_head_adopts_the_existing_pull_request() {
    both(|gt| async move {
        let forge = gt.forge();
        let first = forge.open(&gt.new_pull()).await.unwrap();
        let second = forge.open(&gt.new_pull()).await.unwrap();
        assert!(second.adopted, "{}", gt.flavor);
        assert_eq!(second.pull_request.number, first.pull_request.number);
        assert_eq!(gt.standin.calls("repoCreatePullRequest").len(), 1);
        // The head branch kept its slashes in the by-base-head path.
        let lookup = &gt.standin.calls("repoGetPullRequestByBaseHead")[1];
        assert_eq!(
            lookup.request.path,
            format!("/repos/{OWNER}/{REPO}/pulls/{BASE}/{HEAD}")
        );
        assert_eq!(lookup.status, 200);
    })
    .await;
}

#[tokio::test]
async fn a_409_for_an_existing_pull_request_is_resolved_by_lookup() {
    both(|gt| async move {
        let existing = gt.standin.behaviour().add_pull(HEAD, BASE, "open");
        gt.standin.fail_next(
            "repoGetPullRequestByBaseHead",
            1,
            gt.standin.behaviour().not_found_reply(),
        );
        let opened = gt.forge().open(&gt.new_pull()).await.unwrap();
        assert!(opened.adopted, "{}", gt.flavor);
        assert_eq!(opened.pull_request.number, existing);
        let create = gt.standin.calls("repoCreatePullRequest");
        assert_eq!(create[0].status, 409);
    })
    .await;
}

#[tokio::test]
async fn an_old_closed_pull_request_for_the_branch_is_not_mistaken_for_the_open_one() {
    both(|gt| async move {
        let b = gt.standin.behaviour();
        let old = b.add_pull(HEAD, BASE, "closed");
        for i in 0..60 {
            b.add_pull(&format!("feature/{i}"), BASE, "open");
        }
        let open = b.add_pull(HEAD, BASE, "open");
        let found = gt.forge().find_open(HEAD, BASE).await.unwrap().unwrap();
        assert_eq!(found.number, open, "{}: not #{old}", gt.flavor);
        // by-base-head answers with the closed one, so Sealift lists open pull requests, page 2.
        assert_eq!(
            gt.standin.calls("repoGetPullRequestByBaseHead")[0]
                .response
                .as_ref()
                .unwrap()["number"],
            old
        );
        let lists = gt.standin.calls("repoListPullRequests");
        assert_eq!(lists.len(), 2, "{}", gt.flavor);
        let filter = if gt.flavor == ForgeKind::Forgejo {
            "base"
        } else {
            "base_branch"
        };
        assert_eq!(lists[0].request.q(filter), Some(BASE), "{}", gt.flavor);
        gt.standin.assert_clean().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_base_branch_with_a_slash_is_found_by_listing() {
    both(|gt| async move {
        let forge = gt.forge();
        let mut new = gt.new_pull();
        new.base = "release/1.0".into();
        let first = forge.open(&new).await.unwrap();
        let second = forge.open(&new).await.unwrap();
        assert!(second.adopted, "{}", gt.flavor);
        assert_eq!(second.pull_request.number, first.pull_request.number);
        assert!(
            gt.standin.calls("repoGetPullRequestByBaseHead").is_empty(),
            "the {{base}}/* route cannot carry it"
        );
    })
    .await;
}

#[tokio::test]
async fn a_pull_request_from_a_fork_with_the_same_branch_name_is_not_adopted() {
    both(|gt| async move {
        let b = gt.standin.behaviour();
        let fork = b.add_pull(HEAD, BASE, "open");
        b.state.lock().unwrap().pulls[(fork - 1) as usize].head_repo_id = FORK_REPO_ID;
        assert_eq!(
            gt.forge().find_open(HEAD, BASE).await.unwrap(),
            None,
            "{}",
            gt.flavor
        );
    })
    .await;
}

#[tokio::test]
async fn refreshing_title_and_body_accepts_the_201_an_edit_returns() {
    both(|gt| async move {
        let forge = gt.forge();
        forge.open(&gt.new_pull()).await.unwrap();
        let mut changed = gt.new_pull();
        changed.title = format!("{} (re-verified)", changed.title);
        let adopted = forge.open(&changed).await.unwrap();
        assert_eq!(adopted.pull_request.title, changed.title, "{}", gt.flavor);
        assert_eq!(gt.standin.calls("repoEditPullRequest")[0].status, 201);
    })
    .await;
}

#[tokio::test]
async fn merged_and_closed_states_are_reported_with_the_merge_commit() {
    both(|gt| async move {
        let forge = gt.forge();
        let n = forge
            .open(&gt.new_pull())
            .await
            .unwrap()
            .pull_request
            .number;
        assert_eq!(forge.get(n).await.unwrap().state, PullRequestState::Open);
        let sha = gt.standin.behaviour().merge(n).unwrap();
        let merged = forge.get(n).await.unwrap();
        assert_eq!(
            (merged.state, merged.merge_commit),
            (PullRequestState::Merged, Some(sha)),
            "{}",
            gt.flavor
        );
        let other = gt.standin.behaviour().add_pull("other", BASE, "open");
        let closed = forge.close(other).await.unwrap();
        assert_eq!(
            (closed.state, closed.merge_commit),
            (PullRequestState::Closed, None)
        );
        gt.standin.assert_clean().unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_verified_status_is_set_and_an_unknown_reviewer_is_a_warning() {
    both(|gt| async move {
        let forge = gt.forge();
        forge
            .set_status(
                HEAD_SHA,
                &CommitStatus {
                    state: CommitState::Error,
                    context: VERIFIED_CONTEXT.into(),
                    description: "x".repeat(300),
                    target_url: None,
                },
            )
            .await
            .unwrap();
        let status = gt.standin.behaviour().state.lock().unwrap().statuses[0].clone();
        assert_eq!(
            (status["state"].as_str(), status["sha"].as_str()),
            (Some("error"), Some(HEAD_SHA))
        );
        assert_eq!(status["description"].as_str().unwrap().chars().count(), 140);
        let mut new = gt.new_pull();
        new.reviewers.users = vec!["nobody".into()];
        let opened = forge.open(&new).await.unwrap();
        assert_eq!(opened.warnings.len(), 1, "{}", gt.flavor);
        assert!(
            opened.warnings[0].contains("nobody"),
            "{:?}",
            opened.warnings
        );
    })
    .await;
}

#[tokio::test]
async fn a_draft_is_opened_with_the_work_in_progress_prefix() {
    both(|gt| async move {
        let mut new = gt.new_pull();
        new.draft = true;
        let opened = gt.forge().open(&new).await.unwrap();
        assert!(opened.pull_request.draft, "{}", gt.flavor);
        assert_eq!(opened.pull_request.title, new.title);
        assert!(
            gt.standin
                .behaviour()
                .pull(1)
                .unwrap()
                .title
                .starts_with("WIP: ")
        );
    })
    .await;
}

#[tokio::test]
async fn a_rejected_create_is_a_terminal_error_with_the_forges_message() {
    both(|gt| async move {
        gt.standin.fail_next(
            "repoCreatePullRequest",
            1,
            Reply::json(422, json!({"message": "Invalid PullRequest: There are no changes between the head and the base", "url": "x"})),
        );
        let err = gt.forge().open(&gt.new_pull()).await.unwrap_err();
        assert_eq!(err.category(), "rejected", "{}", gt.flavor);
        assert!(!err.is_transient());
        assert!(err.to_string().contains("no changes between the head and the base"), "{err}");
    })
    .await;
}
