//! The forge-neutral data the [`Forge`](crate::Forge) trait speaks: pull requests, what to open,
//! what to change, commit statuses and what a forge can do.

use crate::body::Marker;
use sealift_api::{ForgeProvider, PullRequestRef, PullRequestState};
use std::fmt;

/// Which forge a provider talks to. New providers (Bitbucket, Azure DevOps) add variants here;
/// callers only ever see `Arc<dyn Forge>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise Server.
    GitHub,
    /// GitLab, SaaS or self-managed (merge requests).
    GitLab,
    /// Gitea.
    Gitea,
    /// Forgejo.
    Forgejo,
}

impl ForgeKind {
    /// A stable lower-case name for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Gitea => "gitea",
            ForgeKind::Forgejo => "forgejo",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::GitLab => "GitLab",
            ForgeKind::Gitea => "Gitea",
            ForgeKind::Forgejo => "Forgejo",
        })
    }
}

impl From<ForgeProvider> for ForgeKind {
    fn from(provider: ForgeProvider) -> Self {
        match provider {
            ForgeProvider::Github => ForgeKind::GitHub,
            ForgeProvider::Gitlab => ForgeKind::GitLab,
            ForgeProvider::Gitea => ForgeKind::Gitea,
            ForgeProvider::Forgejo => ForgeKind::Forgejo,
        }
    }
}

/// A pull request (GitLab: merge request) as the forge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Number (GitHub, Gitea, Forgejo) or IID (GitLab); what a human types after `#` or `!`.
    pub number: i64,
    /// Web URL a reviewer opens.
    pub url: String,
    /// Title.
    pub title: String,
    /// Description (Markdown); empty when the forge has none.
    pub body: String,
    /// Open, merged or closed. Only `merged` on the forge's say-so: a closed pull request is
    /// never reported as merged.
    pub state: PullRequestState,
    /// The branch with the change.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// The commit at the head, when the forge reports it.
    pub head_sha: Option<String>,
    /// The commit that landed on the base branch, once merged.
    pub merge_commit: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Users whose review is requested (login / username).
    pub requested_reviewers: Vec<String>,
    /// Teams whose review is requested (slug / name).
    pub requested_teams: Vec<String>,
    /// Who opened it (login / username), when reported.
    pub author: Option<String>,
    /// Whether it is a draft.
    pub draft: bool,
}

impl PullRequest {
    /// The status record `Promotion.status.pullRequest`.
    pub fn to_ref(&self) -> PullRequestRef {
        PullRequestRef {
            number: self.number,
            url: self.url.clone(),
            state: self.state,
            head_sha: self.head_sha.clone(),
            merge_commit: self.merge_commit.clone(),
        }
    }
}

/// Users and teams to ask for a review.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reviewers {
    /// User logins / usernames.
    pub users: Vec<String>,
    /// Team slugs (GitHub, Gitea, Forgejo). Ignored by forges without teams
    /// ([`Capabilities::team_reviewers`]).
    pub teams: Vec<String>,
}

impl Reviewers {
    /// True when nobody is asked.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.teams.is_empty()
    }
}

/// What to open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewPullRequest {
    /// The branch with the change (`sealift/<namespace>/<name>`), in the same repository.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// Title; see [`crate::body::title`].
    pub title: String,
    /// Body; see [`crate::body::render`]. Must fit [`Capabilities::max_body_chars`].
    pub body: String,
    /// Label names to add (existing labels are never removed).
    pub labels: Vec<String>,
    /// Reviewers to request.
    pub reviewers: Reviewers,
    /// Open as a draft.
    pub draft: bool,
}

impl NewPullRequest {
    /// The title, with `prefix` in front when the pull request is a draft (for forges that mark
    /// drafts by title, like GitLab's `Draft: ` and Gitea's `WIP: `).
    pub(crate) fn title_with_draft_prefix(&self, prefix: &str) -> String {
        if self.draft {
            format!("{prefix}{}", self.title)
        } else {
            self.title.clone()
        }
    }
}

/// Changes to an existing pull request. `None` / empty leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullRequestPatch {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// Labels to add; labels already on the pull request stay.
    pub add_labels: Vec<String>,
}

impl PullRequestPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.body.is_none() && self.add_labels.is_empty()
    }
}

/// The state of a commit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommitState {
    /// Work in progress.
    Pending,
    /// Verified.
    Success,
    /// Verification failed.
    Failure,
    /// Verification could not run.
    Error,
}

/// A commit status (GitHub/Gitea/Forgejo "status", GitLab "external pipeline job").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// The state.
    pub state: CommitState,
    /// The name branch protection requires, e.g. `sealift/verified`.
    pub context: String,
    /// A short human description (cut to 140 characters, GitHub's limit).
    pub description: String,
    /// A link to details, if any.
    pub target_url: Option<String>,
}

/// Logs when a forge echoes a different state than the one set (it would mean the status Sealift
/// relies on for branch protection is not what it asked for).
pub(crate) fn check_status_echo(forge: ForgeKind, sha: &str, sent: &str, echoed: Option<&str>) {
    match echoed {
        Some(echoed) if echoed != sent => {
            tracing::warn!(%forge, sha, sent, echoed, "the forge recorded a different commit status state");
        }
        _ => tracing::debug!(%forge, sha, state = sent, "commit status set"),
    }
}

/// The status context Sealift sets on the head commit so branch protection can require it.
pub const VERIFIED_CONTEXT: &str = "sealift/verified";

/// What a forge supports. Callers adapt to it instead of matching on the forge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Longest body the forge accepts, in characters.
    pub max_body_chars: usize,
    /// Labels exist.
    pub labels: bool,
    /// Teams can be asked for review.
    pub team_reviewers: bool,
    /// Drafts exist (natively or by a title prefix).
    pub drafts: bool,
}

/// What [`Forge::create`](crate::Forge::create) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new pull request.
    Created(Box<PullRequest>),
    /// The forge answered "a pull request already exists" (GitHub 422, GitLab 409, Gitea and
    /// Forgejo 409). Not an error: the caller looks it up.
    AlreadyExists,
}

/// What [`Forge::open`](crate::Forge::open) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The pull request, with title, body and labels up to date.
    pub pull_request: PullRequest,
    /// True when an existing pull request was adopted instead of opening a new one.
    pub adopted: bool,
    /// The machine-readable block the adopted pull request carried before Sealift refreshed it.
    pub previous: Option<Marker>,
    /// Non-fatal problems, e.g. a reviewer the forge refused; the pull request is usable.
    pub warnings: Vec<String>,
}
