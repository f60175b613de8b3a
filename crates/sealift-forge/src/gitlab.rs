//! GitLab merge requests (REST API v4), SaaS or self-managed.
//!
//! GitLab publishes no OpenAPI description on the registries the rig can reach; the wire types
//! follow GitLab's documented fields (`docs/forges.md`, `tests/forge/gitlab-documented.json`).
//!
//! Quirks handled here, each pinned by a test against the stand-in:
//! * The project is addressed by its URL-encoded path (`group%2Fsub%2Fproject`) — one segment.
//! * A second merge request for the same source branch is a 409 whose `message` is a list.
//! * Reviewers are user ids, not usernames, and `reviewer_ids` replaces the whole set.
//! * Drafts are a `Draft: ` title prefix.
//! * Setting the same non-final commit status twice is a 400 "Cannot transition status".
//! * A fast-forward merge has no `merge_commit_sha`; the merged head (`sha`) is what landed.

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
use sealift_api::PullRequestState;
use std::fmt;

/// Pages of 100 read when looking for a merge request.
const MAX_PAGES: u32 = 10;
const DRAFT_PREFIX: &str = "Draft: ";

pub(crate) mod wire {
    //! GitLab wire types: exactly the fields Sealift sends and reads.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct MergeRequest {
        pub iid: i64,
        pub web_url: String,
        pub title: String,
        #[serde(default)]
        pub description: Option<String>,
        /// `opened`, `closed`, `locked` or `merged`.
        pub state: String,
        #[serde(default)]
        pub draft: Option<bool>,
        pub source_branch: String,
        pub target_branch: String,
        pub source_project_id: i64,
        pub target_project_id: i64,
        #[serde(default)]
        pub sha: Option<String>,
        #[serde(default)]
        pub merge_commit_sha: Option<String>,
        #[serde(default)]
        pub squash_commit_sha: Option<String>,
        pub labels: Vec<String>,
        #[serde(default)]
        pub reviewers: Option<Vec<User>>,
        #[serde(default)]
        pub author: Option<User>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct User {
        pub id: i64,
        pub username: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    pub(crate) struct Status {
        pub status: String,
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct CreateMergeRequest<'a> {
        pub source_branch: &'a str,
        pub target_branch: &'a str,
        pub title: &'a str,
        pub description: &'a str,
        /// Comma-separated, as documented.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub labels: Option<String>,
        /// Sealift's branch is disposable once merged.
        pub remove_source_branch: bool,
    }

    #[derive(Debug, Default, Serialize, JsonSchema)]
    pub(crate) struct UpdateMergeRequest<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub title: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub description: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub add_labels: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub reviewer_ids: Option<Vec<i64>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub state_event: Option<&'a str>,
    }

    #[derive(Debug, Serialize, JsonSchema)]
    pub(crate) struct CreateStatus<'a> {
        pub state: &'a str,
        pub name: &'a str,
        pub description: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_url: Option<&'a str>,
    }
}

pub(crate) struct GitLab {
    http: Http,
    repo: RepoPath,
}

impl fmt::Debug for GitLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLab")
            .field("api", &self.http.base.as_str())
            .field("project", &self.repo.full_name())
            .finish()
    }
}

/// Strips GitLab's draft markers: `Draft:`, `[Draft]`, `(Draft)`.
fn split_draft(title: &str) -> (String, bool) {
    let t = title.trim_start();
    for prefix in ["Draft:", "[Draft]", "(Draft)", "draft:"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            return (rest.trim_start().to_owned(), true);
        }
    }
    (title.to_owned(), false)
}

fn into_model(mr: wire::MergeRequest) -> PullRequest {
    let (title, prefixed) = split_draft(&mr.title);
    let (state, merge_commit) = match mr.state.as_str() {
        // Fast-forward merges have no merge commit: the merged head is what landed.
        "merged" => (
            PullRequestState::Merged,
            mr.merge_commit_sha
                .or(mr.squash_commit_sha)
                .or_else(|| mr.sha.clone()),
        ),
        "closed" => (PullRequestState::Closed, None),
        _ => (PullRequestState::Open, None),
    };
    PullRequest {
        number: mr.iid,
        url: mr.web_url,
        title,
        body: mr.description.unwrap_or_default(),
        state,
        head: mr.source_branch,
        base: mr.target_branch,
        head_sha: mr.sha,
        merge_commit,
        labels: mr.labels,
        requested_reviewers: mr
            .reviewers
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.username)
            .collect(),
        requested_teams: Vec::new(),
        author: mr.author.map(|u| u.username),
        draft: mr.draft.unwrap_or(prefixed),
    }
}

fn status_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        // GitLab has no "error" state for external statuses.
        CommitState::Failure | CommitState::Error => "failed",
    }
}

/// Labels travel comma-separated; a comma inside a name cannot be expressed and is dropped.
fn label_list(labels: &[String]) -> Option<String> {
    let clean: Vec<&str> = labels
        .iter()
        .map(String::as_str)
        .filter(|l| !l.contains(',') && !l.trim().is_empty())
        .collect();
    (!clean.is_empty()).then(|| clean.join(","))
}

impl GitLab {
    pub(crate) fn new(http: Http, repo: RepoPath) -> Self {
        Self { http, repo }
    }

    /// `projects/<url-encoded path>/…`: the path is one segment, its slashes encoded.
    fn path(&self, tail: &[&str]) -> Vec<String> {
        let mut path = vec!["projects".to_owned(), self.repo.full_name()];
        path.extend(tail.iter().map(|s| (*s).to_owned()));
        path
    }

    fn mr_what(&self, iid: i64) -> String {
        format!("merge request !{iid} in {}", self.repo.full_name())
    }

    async fn send(&self, req: ApiRequest) -> Result<ApiResponse, ForgeError> {
        self.http.send(&req).await
    }

    async fn get_raw(&self, iid: i64) -> Result<wire::MergeRequest, ForgeError> {
        let n = iid.to_string();
        let req = ApiRequest::get(
            "getApiV4ProjectsIdMergeRequestsMergeRequestIid",
            &self.path(&["merge_requests", &n]),
        );
        self.send(req).await?.expect(&[200], &self.mr_what(iid))
    }

    async fn put(
        &self,
        iid: i64,
        body: &wire::UpdateMergeRequest<'_>,
    ) -> Result<PullRequest, ForgeError> {
        let n = iid.to_string();
        let req = ApiRequest::new(
            Method::PUT,
            "putApiV4ProjectsIdMergeRequestsMergeRequestIid",
            &self.path(&["merge_requests", &n]),
        )
        .body(body)?;
        let mr: wire::MergeRequest = self.send(req).await?.expect(&[200], &self.mr_what(iid))?;
        Ok(into_model(mr))
    }

    async fn user_id(&self, username: &str) -> Result<Option<i64>, ForgeError> {
        let req = ApiRequest::get("getApiV4Users", &["users"]).query("username", username);
        let users: Vec<wire::User> = self.send(req).await?.expect(&[200], "users")?;
        Ok(users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .map(|u| u.id))
    }
}

#[async_trait]
impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitLab
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // "Description of the merge request. Limited to 1,048,576 characters."
            max_body_chars: 1_048_576,
            labels: true,
            team_reviewers: false,
            drafts: true,
        }
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        for page in 1..=MAX_PAGES {
            let req = ApiRequest::get(
                "getApiV4ProjectsIdMergeRequests",
                &self.path(&["merge_requests"]),
            )
            .query("state", "opened")
            .query("source_branch", head)
            .query("target_branch", base)
            .query("per_page", "100")
            .query("page", page.to_string());
            let resp = self.send(req).await?;
            let mrs: Vec<wire::MergeRequest> =
                resp.expect(&[200], &format!("project {}", self.repo.full_name()))?;
            // Same-project merge requests only: a fork can use the same branch name.
            if let Some(mr) = mrs.into_iter().find(|mr| {
                mr.source_branch == head
                    && mr.target_branch == base
                    && mr.source_project_id == mr.target_project_id
            }) {
                return Ok(Some(into_model(mr)));
            }
            let next = resp
                .headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| !v.trim().is_empty());
            if !next {
                break;
            }
        }
        Ok(None)
    }

    async fn create(&self, new: &NewPullRequest) -> Result<CreateOutcome, ForgeError> {
        let title = new.title_with_draft_prefix(DRAFT_PREFIX);
        let body = wire::CreateMergeRequest {
            source_branch: &new.head,
            target_branch: &new.base,
            title: &title,
            description: &new.body,
            labels: label_list(&new.labels),
            remove_source_branch: true,
        };
        let req = ApiRequest::new(
            Method::POST,
            "postApiV4ProjectsIdMergeRequests",
            &self.path(&["merge_requests"]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        match resp.status {
            201 => Ok(CreateOutcome::Created(Box::new(into_model(resp.json()?)))),
            // "Another open merge request already exists for this source branch: !N". The text
            // may be localised; the status is what GitLab documents.
            409 => Ok(CreateOutcome::AlreadyExists),
            _ => Err(resp.error(&format!("project {}", self.repo.full_name()))),
        }
    }

    async fn update(
        &self,
        number: i64,
        patch: &PullRequestPatch,
    ) -> Result<PullRequest, ForgeError> {
        // Keep a draft a draft when the title changes.
        let title = match &patch.title {
            Some(t) if into_model(self.get_raw(number).await?).draft => {
                Some(format!("{DRAFT_PREFIX}{t}"))
            }
            Some(t) => Some(t.clone()),
            None => None,
        };
        let body = wire::UpdateMergeRequest {
            title: title.as_deref(),
            description: patch.body.as_deref(),
            add_labels: label_list(&patch.add_labels),
            ..wire::UpdateMergeRequest::default()
        };
        self.put(number, &body).await
    }

    async fn request_reviewers(
        &self,
        number: i64,
        reviewers: &Reviewers,
    ) -> Result<(), ForgeError> {
        if reviewers.users.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for user in &reviewers.users {
            match self.user_id(user).await? {
                Some(id) => ids.push(id),
                None => unknown.push(user.clone()),
            }
        }
        if !ids.is_empty() {
            // `reviewer_ids` replaces the set: keep whoever is already asked.
            let current = self.get_raw(number).await?;
            let mut all: Vec<i64> = current
                .reviewers
                .unwrap_or_default()
                .iter()
                .map(|u| u.id)
                .collect();
            for id in ids {
                if !all.contains(&id) {
                    all.push(id);
                }
            }
            let body = wire::UpdateMergeRequest {
                reviewer_ids: Some(all),
                ..wire::UpdateMergeRequest::default()
            };
            self.put(number, &body).await?;
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ForgeError::NotFound {
                forge: ForgeKind::GitLab,
                what: format!("user(s) {}", unknown.join(", ")),
            })
        }
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
        let state = status_state(status.state);
        let description = truncate_chars(&status.description, 140);
        let body = wire::CreateStatus {
            state,
            name: &status.context,
            description: &description,
            target_url: status.target_url.as_deref(),
        };
        let req = ApiRequest::new(
            Method::POST,
            "postApiV4ProjectsIdStatusesSha",
            &self.path(&["statuses", sha]),
        )
        .body(&body)?;
        let resp = self.send(req).await?;
        // Setting a state the job is already in is a 400 "Cannot transition status via :x from
        // :<state>"; for Sealift that means "already set".
        if resp.status == 400
            && resp.message.contains("Cannot transition status")
            && resp.message.contains(&format!("from :{state}"))
        {
            return Ok(());
        }
        let set: wire::Status = resp.expect(
            &[200, 201],
            &format!("commit {sha} in {}", self.repo.full_name()),
        )?;
        crate::model::check_status_echo(ForgeKind::GitLab, sha, state, Some(&set.status));
        Ok(())
    }

    async fn get(&self, number: i64) -> Result<PullRequest, ForgeError> {
        Ok(into_model(self.get_raw(number).await?))
    }

    async fn close(&self, number: i64) -> Result<PullRequest, ForgeError> {
        let body = wire::UpdateMergeRequest {
            state_event: Some("close"),
            ..wire::UpdateMergeRequest::default()
        };
        self.put(number, &body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_prefixes_are_recognised_and_stripped() {
        assert_eq!(
            split_draft("Draft: Promote x"),
            ("Promote x".to_owned(), true)
        );
        assert_eq!(
            split_draft("[Draft] Promote x"),
            ("Promote x".to_owned(), true)
        );
        assert_eq!(
            split_draft("Promote Draft: x"),
            ("Promote Draft: x".to_owned(), false)
        );
    }

    #[test]
    fn labels_with_commas_cannot_travel_comma_separated() {
        let labels = vec!["promotion".to_owned(), "a,b".to_owned(), "prod".to_owned()];
        assert_eq!(label_list(&labels).as_deref(), Some("promotion,prod"));
        assert_eq!(label_list(&[]), None);
    }
}
