//! Gitea and Forgejo (`/api/v1`, token auth). Forgejo is a Gitea fork; the pull-request API is the
//! same apart from the list filters.
//!
//! Quirks handled here, each pinned by a test against the stand-in:
//! * `GET /pulls/{base}/{head}` returns the *first* pull request ever opened for that pair, closed
//!   or merged ones included; Sealift falls back to listing open pull requests when it is not open.
//!   The head branch keeps its slashes in the path (the route is `{base}/*`).
//! * A second pull request for the same head and base is a 409.
//! * Labels at creation are ids; Sealift adds them by name through the issues API instead.
//! * Editing a pull request answers 201, not 200.
//! * Gitea 1.27 filters the list by `base_branch`, Forgejo 16 by `base`.
//! * Drafts are a `WIP: ` title prefix.

use crate::config::RepoPath;
use crate::error::ForgeError;
use crate::github::has_next_page;
use crate::http::{ApiRequest, ApiResponse, Http};
use crate::model::{
    Capabilities, CommitState, CommitStatus, CreateOutcome, ForgeKind, NewPullRequest, PullRequest,
    PullRequestPatch, Reviewers,
};
use crate::{Forge, secret::truncate_chars};
use async_trait::async_trait;
use reqwest::Method;
use sealift_api::PullRequestState;
use std::fmt;

const MAX_PAGES: u32 = 20;
const PAGE_SIZE: &str = "50";
const DRAFT_PREFIX: &str = "WIP: ";

pub(crate) mod wire {
    //! Gitea / Forgejo wire types: exactly the fields Sealift sends and reads.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Pull {
        pub number: i64,
        pub html_url: String,
        pub title: String,
        #[serde(default)]
        pub body: Option<String>,
        /// `open` or `closed`; a merged pull request is `closed` with `merged: true`.
        pub state: String,
        #[serde(default)]
        pub merged: Option<bool>,
        #[serde(default)]
        pub merge_commit_sha: Option<String>,
        #[serde(default)]
        pub draft: Option<bool>,
        pub head: Branch,
        pub base: Branch,
        #[serde(default)]
        pub labels: Option<Vec<Label>>,
        #[serde(default)]
        pub requested_reviewers: Option<Vec<User>>,
        #[serde(default)]
        pub requested_reviewers_teams: Option<Vec<Team>>,
        #[serde(default)]
        pub user: Option<User>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Branch {
        #[serde(rename = "ref")]
        pub ref_: String,
        #[serde(default)]
        pub sha: Option<String>,
        #[serde(default)]
        pub repo_id: Option<i64>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Label {
        pub name: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct User {
        pub login: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Team {
        pub name: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Status {
        #[serde(default)]
        pub status: Option<String>,
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct CreatePull<'a> {
        pub head: &'a str,
        pub base: &'a str,
        pub title: &'a str,
        pub body: &'a str,
    }

    #[derive(Debug, Default, Serialize, JsonSchema)]
    pub(crate) struct EditPull<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub title: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub body: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub state: Option<&'a str>,
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct AddLabels<'a> {
        /// Names (the field also takes ids).
        pub labels: &'a [String],
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct ReviewRequest<'a> {
        pub reviewers: &'a [String],
        pub team_reviewers: &'a [String],
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct CreateStatus<'a> {
        pub state: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_url: Option<&'a str>,
        pub description: &'a str,
        pub context: &'a str,
    }
}

pub(crate) struct Gitea {
    http: Http,
    repo: RepoPath,
}

impl fmt::Debug for Gitea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(match self.http.forge {
            ForgeKind::Forgejo => "Forgejo",
            _ => "Gitea",
        })
        .field("api", &self.http.base.as_str())
        .field("repository", &self.repo.full_name())
        .finish()
    }
}

fn split_draft(title: &str) -> (String, bool) {
    let t = title.trim_start();
    for prefix in ["WIP:", "[WIP]"] {
        if let (Some(head), Some(rest)) = (t.get(..prefix.len()), t.get(prefix.len()..))
            && head.eq_ignore_ascii_case(prefix)
        {
            return (rest.trim_start().to_owned(), true);
        }
    }
    (title.to_owned(), false)
}

fn into_model(pull: wire::Pull) -> PullRequest {
    let (title, prefixed) = split_draft(&pull.title);
    let merged = pull.merged.unwrap_or(false);
    let state = if merged {
        PullRequestState::Merged
    } else if pull.state == "closed" {
        PullRequestState::Closed
    } else {
        PullRequestState::Open
    };
    PullRequest {
        number: pull.number,
        url: pull.html_url,
        title,
        body: pull.body.unwrap_or_default(),
        state,
        head: pull.head.ref_,
        base: pull.base.ref_,
        head_sha: pull.head.sha,
        merge_commit: if merged { pull.merge_commit_sha } else { None },
        labels: pull
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.name)
            .collect(),
        requested_reviewers: pull
            .requested_reviewers
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.login)
            .collect(),
        requested_teams: pull
            .requested_reviewers_teams
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect(),
        author: pull.user.map(|u| u.login),
        draft: pull.draft.unwrap_or(false) || prefixed,
    }
}

fn status_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
        CommitState::Error => "error",
    }
}

impl Gitea {
    pub(crate) fn new(http: Http, repo: RepoPath) -> Self {
        Self { http, repo }
    }

    async fn send(&self, req: ApiRequest) -> Result<ApiResponse, ForgeError> {
        self.http.send(&req).await
    }

    fn is_open_and_ours(pull: &wire::Pull, head: &str, base: &str) -> bool {
        pull.state == "open"
            && !pull.merged.unwrap_or(false)
            && pull.head.ref_ == head
            && pull.base.ref_ == base
            && pull.head.repo_id.is_some()
            && pull.head.repo_id == pull.base.repo_id
    }

    async fn edit(
        &self,
        number: i64,
        body: &wire::EditPull<'_>,
    ) -> Result<PullRequest, ForgeError> {
        let n = number.to_string();
        let req = ApiRequest::new(
            Method::PATCH,
            "repoEditPullRequest",
            &self.repo.repos_path(&["pulls", &n]),
        )
        .body(body)?;
        // Gitea and Forgejo answer an edit with 201 Created.
        let pull: wire::Pull = self
            .send(req)
            .await?
            .expect(&[200, 201], &self.repo.describe_pull(number))?;
        Ok(into_model(pull))
    }
}

#[async_trait]
impl Forge for Gitea {
    fn kind(&self) -> ForgeKind {
        self.http.forge
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // No documented limit (the column is LONGTEXT); GitHub's keeps bodies reviewable.
            max_body_chars: 65_536,
            labels: true,
            team_reviewers: true,
            drafts: true,
        }
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        // Fast path: one request. The head keeps its slashes (the route is `{base}/*`); a base
        // with a slash cannot be expressed in that route, so it goes straight to the list.
        if !base.contains('/') {
            let mut path = self.repo.repos_path(&["pulls", base]);
            path.extend(head.split('/').map(str::to_owned));
            let resp = self
                .send(ApiRequest::get("repoGetPullRequestByBaseHead", &path))
                .await?;
            match resp.status {
                404 => return Ok(None),
                200 => {
                    let pull: wire::Pull = resp.json()?;
                    if Self::is_open_and_ours(&pull, head, base) {
                        return Ok(Some(into_model(pull)));
                    }
                    // The pair has history; the first pull request is closed. List open ones.
                }
                _ => return Err(resp.error(&self.repo.describe())),
            }
        }
        let base_filter = match self.http.forge {
            ForgeKind::Forgejo => "base",
            _ => "base_branch",
        };
        for page in 1..=MAX_PAGES {
            let req = ApiRequest::get("repoListPullRequests", &self.repo.repos_path(&["pulls"]))
                .query("state", "open")
                .query(base_filter, base)
                .query("limit", PAGE_SIZE)
                .query("page", page.to_string());
            let resp = self.send(req).await?;
            let pulls: Vec<wire::Pull> = resp.expect(&[200], &self.repo.describe())?;
            if let Some(pull) = pulls
                .into_iter()
                .find(|p| Self::is_open_and_ours(p, head, base))
            {
                return Ok(Some(into_model(pull)));
            }
            if !has_next_page(&resp.headers) {
                break;
            }
        }
        Ok(None)
    }

    async fn create(&self, new: &NewPullRequest) -> Result<CreateOutcome, ForgeError> {
        let title = new.title_with_draft_prefix(DRAFT_PREFIX);
        let body = wire::CreatePull {
            head: &new.head,
            base: &new.base,
            title: &title,
            body: &new.body,
        };
        let req = ApiRequest::new(
            Method::POST,
            "repoCreatePullRequest",
            &self.repo.repos_path(&["pulls"]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        match resp.status {
            201 => Ok(CreateOutcome::Created(Box::new(into_model(resp.json()?)))),
            // "pull request already exists for these targets [id: …]"
            409 => Ok(CreateOutcome::AlreadyExists),
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
                "issueAddLabel",
                &self.repo.repos_path(&["issues", &n, "labels"]),
            )
            .body(&wire::AddLabels {
                labels: &patch.add_labels,
            })?;
            let _: Vec<wire::Label> = self
                .send(req)
                .await?
                .expect(&[200], &self.repo.describe_pull(number))?;
        }
        if patch.title.is_none() && patch.body.is_none() {
            return self.get(number).await;
        }
        let title = match &patch.title {
            Some(t) if self.get(number).await?.draft => Some(format!("{DRAFT_PREFIX}{t}")),
            other => other.clone(),
        };
        self.edit(
            number,
            &wire::EditPull {
                title: title.as_deref(),
                body: patch.body.as_deref(),
                state: None,
            },
        )
        .await
    }

    async fn request_reviewers(
        &self,
        number: i64,
        reviewers: &Reviewers,
    ) -> Result<(), ForgeError> {
        if reviewers.is_empty() {
            return Ok(());
        }
        let n = number.to_string();
        let req = ApiRequest::new(
            Method::POST,
            "repoCreatePullReviewRequests",
            &self.repo.repos_path(&["pulls", &n, "requested_reviewers"]),
        )
        .body(&wire::ReviewRequest {
            reviewers: &reviewers.users,
            team_reviewers: &reviewers.teams,
        })?;
        let resp = self.send(req).await?;
        if resp.status == 201 {
            Ok(())
        } else {
            Err(resp.error(&self.repo.describe_pull(number)))
        }
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
        let description = truncate_chars(&status.description, 140);
        let state = status_state(status.state);
        let req = ApiRequest::new(
            Method::POST,
            "repoCreateStatus",
            &self.repo.repos_path(&["statuses", sha]),
        )
        .body(&wire::CreateStatus {
            state,
            target_url: status.target_url.as_deref(),
            description: &description,
            context: &status.context,
        })?;
        let set: wire::Status = self.send(req).await?.expect(
            &[201],
            &format!("commit {sha} in {}", self.repo.full_name()),
        )?;
        crate::model::check_status_echo(self.http.forge, sha, state, set.status.as_deref());
        Ok(())
    }

    async fn get(&self, number: i64) -> Result<PullRequest, ForgeError> {
        let n = number.to_string();
        let resp = self
            .send(ApiRequest::get(
                "repoGetPullRequest",
                &self.repo.repos_path(&["pulls", &n]),
            ))
            .await?;
        Ok(into_model(
            resp.expect(&[200], &self.repo.describe_pull(number))?,
        ))
    }

    async fn close(&self, number: i64) -> Result<PullRequest, ForgeError> {
        self.edit(
            number,
            &wire::EditPull {
                state: Some("closed"),
                ..wire::EditPull::default()
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::split_draft;

    #[test]
    fn work_in_progress_prefixes_mark_drafts() {
        assert_eq!(
            split_draft("WIP: Promote x"),
            ("Promote x".to_owned(), true)
        );
        assert_eq!(
            split_draft("[wip] Promote x"),
            ("Promote x".to_owned(), true)
        );
        assert_eq!(split_draft("Promote x"), ("Promote x".to_owned(), false));
    }
}
