//! GitHub and GitHub Enterprise Server (REST API v3, `X-GitHub-Api-Version: 2022-11-28`).
//!
//! Quirks handled here, each pinned by a test against the stand-in:
//! * `GET /pulls?head=` needs `owner:branch`; a bare branch is silently ignored and every pull
//!   request comes back. Sealift sends `owner:branch` and re-checks head and base on each result.
//! * "A pull request already exists" is a 422 with the reason in `errors[].message`.
//! * Labels cannot be set at creation; they go through the issues API.
//! * `merge_commit_sha` is filled for open pull requests too (the test merge); it is only the merge
//!   commit when `merged` is true.

pub(crate) mod app;
pub(crate) mod wire;

use crate::config::RepoPath;
use crate::error::ForgeError;
use crate::http::{ApiRequest, ApiResponse, Http};
use crate::model::{
    Capabilities, CommitState, CommitStatus, CreateOutcome, ForgeKind, NewPullRequest, PullRequest,
    PullRequestPatch, Reviewers,
};
use crate::{Forge, secret::truncate_chars};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use std::fmt;

/// Pages of 100 read when looking for a pull request (the filter normally returns one).
const MAX_PAGES: u32 = 10;

pub(crate) struct GitHub {
    http: Http,
    repo: RepoPath,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api", &self.http.base.as_str())
            .field("repository", &self.repo.full_name())
            .finish()
    }
}

impl GitHub {
    pub(crate) fn new(mut http: Http, repo: RepoPath) -> Self {
        http.default_headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        http.default_headers.insert(
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        );
        Self { http, repo }
    }

    async fn send(&self, req: ApiRequest) -> Result<ApiResponse, ForgeError> {
        self.http.send(&req).await
    }

    fn is_ours(&self, pull: &wire::PullSimple, head: &str, base: &str) -> bool {
        pull.head.ref_ == head
            && pull.base.ref_ == base
            && pull
                .head
                .repo
                .as_ref()
                .is_some_and(|r| r.full_name.eq_ignore_ascii_case(&self.repo.full_name()))
    }
}

/// True when a `Link` header has a `rel="next"` page.
pub(crate) fn has_next_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| part.contains("rel=\"next\""))
}

pub(crate) fn status_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
        CommitState::Error => "error",
    }
}

#[async_trait]
impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitHub
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_body_chars: 65_536,
            labels: true,
            team_reviewers: true,
            drafts: true,
        }
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        // `head` must be `owner:branch`: a bare branch name is ignored by GitHub, which then
        // returns every open pull request (pinned by a test).
        let head_filter = format!("{}:{head}", self.repo.owner);
        for page in 1..=MAX_PAGES {
            let req = ApiRequest::get("pulls/list", &self.repo.repos_path(&["pulls"]))
                .query("state", "open")
                .query("head", head_filter.as_str())
                .query("base", base)
                .query("per_page", "100")
                .query("page", page.to_string());
            let resp = self.send(req).await?;
            let pulls: Vec<wire::PullSimple> = resp.expect(&[200], &self.repo.describe())?;
            if let Some(pull) = pulls.into_iter().find(|p| self.is_ours(p, head, base)) {
                return Ok(Some(pull.into_model()));
            }
            if !has_next_page(&resp.headers) {
                break;
            }
        }
        Ok(None)
    }

    async fn create(&self, new: &NewPullRequest) -> Result<CreateOutcome, ForgeError> {
        let body = wire::CreatePull {
            title: &new.title,
            head: &new.head,
            base: &new.base,
            body: &new.body,
            draft: new.draft,
        };
        let req = ApiRequest::new(
            Method::POST,
            "pulls/create",
            &self.repo.repos_path(&["pulls"]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        match resp.status {
            201 => Ok(CreateOutcome::Created(Box::new(
                resp.json::<wire::Pull>()?.into_model(),
            ))),
            422 if resp.message.to_ascii_lowercase().contains("already exists") => {
                Ok(CreateOutcome::AlreadyExists)
            }
            _ => Err(resp.error(&self.repo.describe())),
        }
    }

    async fn update(
        &self,
        number: i64,
        patch: &PullRequestPatch,
    ) -> Result<PullRequest, ForgeError> {
        let n = number.to_string();
        if !patch.add_labels.is_empty() {
            let req = ApiRequest::new(
                Method::POST,
                "issues/add-labels",
                &self.repo.repos_path(&["issues", &n, "labels"]),
            )
            .body(&wire::AddLabels {
                labels: &patch.add_labels,
            })?;
            let resp = self.send(req).await?;
            let _: Vec<wire::Label> = resp.expect(&[200], &self.repo.describe_pull(number))?;
        }
        if patch.title.is_none() && patch.body.is_none() {
            return self.get(number).await;
        }
        let body = wire::UpdatePull {
            title: patch.title.as_deref(),
            body: patch.body.as_deref(),
            state: None,
        };
        let req = ApiRequest::new(
            Method::PATCH,
            "pulls/update",
            &self.repo.repos_path(&["pulls", &n]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        Ok(resp
            .expect::<wire::Pull>(&[200], &self.repo.describe_pull(number))?
            .into_model())
    }

    async fn request_reviewers(
        &self,
        number: i64,
        reviewers: &Reviewers,
    ) -> Result<(), ForgeError> {
        // The upstream description requires at least one of the two lists.
        if reviewers.is_empty() {
            return Ok(());
        }
        let n = number.to_string();
        let body = wire::RequestReviewers {
            reviewers: &reviewers.users,
            team_reviewers: &reviewers.teams,
        };
        let req = ApiRequest::new(
            Method::POST,
            "pulls/request-reviewers",
            &self.repo.repos_path(&["pulls", &n, "requested_reviewers"]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        let _: wire::PullSimple = resp.expect(&[201], &self.repo.describe_pull(number))?;
        Ok(())
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
        let description = truncate_chars(&status.description, 140);
        let body = wire::CreateStatus {
            state: status_state(status.state),
            target_url: status.target_url.as_deref(),
            description: &description,
            context: &status.context,
        };
        let req = ApiRequest::new(
            Method::POST,
            "repos/create-commit-status",
            &self.repo.repos_path(&["statuses", sha]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        let set: wire::Status = resp.expect(
            &[201],
            &format!("commit {sha} in {}", self.repo.full_name()),
        )?;
        crate::model::check_status_echo(ForgeKind::GitHub, sha, body.state, Some(&set.state));
        Ok(())
    }

    async fn get(&self, number: i64) -> Result<PullRequest, ForgeError> {
        let n = number.to_string();
        let resp = self
            .send(ApiRequest::get(
                "pulls/get",
                &self.repo.repos_path(&["pulls", &n]),
            ))
            .await?;
        Ok(resp
            .expect::<wire::Pull>(&[200], &self.repo.describe_pull(number))?
            .into_model())
    }

    async fn close(&self, number: i64) -> Result<PullRequest, ForgeError> {
        let n = number.to_string();
        let body = wire::UpdatePull {
            state: Some("closed"),
            ..wire::UpdatePull::default()
        };
        let req = ApiRequest::new(
            Method::PATCH,
            "pulls/update",
            &self.repo.repos_path(&["pulls", &n]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        Ok(resp
            .expect::<wire::Pull>(&[200], &self.repo.describe_pull(number))?
            .into_model())
    }
}
