//! GitHub REST wire types: exactly the fields Sealift sends and reads. Their JSON Schemas are
//! checked against GitHub's published OpenAPI description (`tests/forge/contract.rs`).

use crate::model::PullRequest;
use schemars::JsonSchema;
use sealift_api::PullRequestState;
use serde::{Deserialize, Serialize};

/// `pull-request` (get, create, update): the list's fields plus `merged`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Pull {
    pub merged: bool,
    #[serde(flatten)]
    pub simple: PullSimple,
}

/// `pull-request-simple` (list, request-reviewers): no `merged`, only `merged_at`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct PullSimple {
    pub number: i64,
    pub html_url: String,
    pub state: String,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    /// Quirk: set for open pull requests too (the test merge commit); only meaningful once merged.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub head: Branch,
    pub base: Branch,
    pub labels: Vec<Label>,
    #[serde(default)]
    pub requested_reviewers: Option<Vec<User>>,
    #[serde(default)]
    pub requested_teams: Option<Vec<Team>>,
    #[serde(default)]
    pub user: Option<User>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Branch {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub sha: String,
    /// Null when the head repository (a fork) was deleted.
    #[serde(default)]
    pub repo: Option<Repo>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Repo {
    pub full_name: String,
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
    pub slug: String,
}

/// `apps/create-installation-access-token` response.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct InstallationToken {
    pub token: String,
    pub expires_at: String,
}

/// `repos/create-commit-status` response: Sealift only needs the state echoed back.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Status {
    pub state: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CreatePull<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub(crate) struct UpdatePull<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct AddLabels<'a> {
    pub labels: &'a [String],
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RequestReviewers<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub reviewers: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
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

impl Pull {
    pub(crate) fn into_model(self) -> PullRequest {
        self.simple.into_model_merged(self.merged)
    }
}

impl PullSimple {
    /// List items carry no `merged`; `merged_at` says it.
    pub(crate) fn into_model(self) -> PullRequest {
        let merged = self.merged_at.is_some();
        self.into_model_merged(merged)
    }

    fn into_model_merged(self, merged: bool) -> PullRequest {
        let state = if merged {
            PullRequestState::Merged
        } else if self.state == "closed" {
            PullRequestState::Closed
        } else {
            PullRequestState::Open
        };
        PullRequest {
            number: self.number,
            url: self.html_url,
            title: self.title,
            body: self.body.unwrap_or_default(),
            state,
            head: self.head.ref_,
            base: self.base.ref_,
            head_sha: Some(self.head.sha),
            merge_commit: if merged { self.merge_commit_sha } else { None },
            labels: self.labels.into_iter().map(|l| l.name).collect(),
            requested_reviewers: self
                .requested_reviewers
                .unwrap_or_default()
                .into_iter()
                .map(|u| u.login)
                .collect(),
            requested_teams: self
                .requested_teams
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.slug)
                .collect(),
            author: self.user.map(|u| u.login),
            draft: self.draft.unwrap_or(false),
        }
    }
}
