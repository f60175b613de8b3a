//! Pull-request providers (GitHub, GitLab, Gitea, Forgejo) behind one [`Forge`] trait: find or open
//! the promotion's pull request, render the evidence report, set the `sealift/verified` status and
//! track the pull request until it is merged or closed.
//!
//! Steps 5 and 6 of the promotion in `DESIGN.md`; `docs/forges.md` is the reference.
//!
//! ```text
//! ForgeConfig::from_spec(spec, repo_url, Credentials::from_secret_data(..)?)?
//!     .with_governor(shared)          // one RateGovernor per process: per-host request budget
//!   → connect(config)?                // Arc<dyn Forge>
//!   → forge.open(&NewPullRequest)     // adopt-or-create, idempotent
//!   → forge.set_status(head, ..)      // sealift/verified
//!   → forge.get(number)               // open / merged (+ merge commit) / closed
//! ```

pub mod body;
/// Time, injectable: one clock for the whole pipeline, owned by `sealift-core`.
pub use sealift_core::clock;
mod config;
#[doc(hidden)]
pub mod contract;
mod error;
mod gitea;
mod github;
mod gitlab;
mod http;
mod model;
pub mod ratelimit;
mod secret;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Credentials, ForgeConfig, RepoPath, RequestEvent, RequestObserver, connect};
pub use error::ForgeError;
pub use model::{
    Capabilities, CommitState, CommitStatus, CreateOutcome, ForgeKind, NewPullRequest, Opened,
    PullRequest, PullRequestPatch, Reviewers, VERIFIED_CONTEXT,
};
pub use ratelimit::{BudgetConfig, RateGovernor, RetryPolicy};
pub use secret::SecretString;

use async_trait::async_trait;

/// A forge that hosts the repository: the pull-request half of a promotion.
///
/// One value is bound to one repository and one credential (built by [`connect`]); methods take
/// only branch names, numbers and plain data, so adding Bitbucket or Azure DevOps means a new
/// implementation, never a change for callers. Numbers are what a human types after `#` (GitHub,
/// Gitea, Forgejo; Bitbucket and Azure DevOps ids are integers too) or `!` (GitLab IID).
///
/// Every method is safe to call again after a crash: lookups are by branch, creation of a
/// duplicate is answered by adoption, status writes are idempotent.
#[async_trait]
pub trait Forge: Send + Sync + std::fmt::Debug {
    /// Which forge.
    fn kind(&self) -> ForgeKind;

    /// What it supports (body limit, labels, team reviewers, drafts).
    fn capabilities(&self) -> Capabilities;

    /// The open pull request from `head` into `base` in this repository, if there is one.
    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError>;

    /// Opens a pull request. "Already exists" is [`CreateOutcome::AlreadyExists`], not an error.
    /// Providers that can set labels at creation do; [`Forge::open`] adds what is missing.
    async fn create(&self, new: &NewPullRequest) -> Result<CreateOutcome, ForgeError>;

    /// Changes title, body and adds labels.
    async fn update(
        &self,
        number: i64,
        patch: &PullRequestPatch,
    ) -> Result<PullRequest, ForgeError>;

    /// Asks users (and, where supported, teams) to review.
    async fn request_reviewers(&self, number: i64, reviewers: &Reviewers)
    -> Result<(), ForgeError>;

    /// Sets a commit status on `sha` (idempotent: setting the same state again is not an error).
    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError>;

    /// Reads a pull request: open, merged (with the merge commit) or closed.
    async fn get(&self, number: i64) -> Result<PullRequest, ForgeError>;

    /// Closes a pull request without merging.
    async fn close(&self, number: i64) -> Result<PullRequest, ForgeError>;

    /// Finds the open pull request for `new.head` → `new.base` and adopts it, or opens one; then
    /// brings its title, body and labels up to date and requests the reviewers not yet asked.
    ///
    /// Opening twice is safe: the second call adopts. A pull request whose hidden Sealift block
    /// names a different promotion is not adopted ([`ForgeError::Conflict`]).
    async fn open(&self, new: &NewPullRequest) -> Result<Opened, ForgeError> {
        let (found, adopted) = match self.find_open(&new.head, &new.base).await? {
            Some(pr) => (pr, true),
            None => match self.create(new).await? {
                CreateOutcome::Created(pr) => (*pr, false),
                CreateOutcome::AlreadyExists => match self.find_open(&new.head, &new.base).await? {
                    Some(pr) => (pr, true),
                    None => {
                        return Err(ForgeError::Conflict {
                            detail: format!(
                                "{} says a pull request from `{}` into `{}` exists but none is open",
                                self.kind(),
                                new.head,
                                new.base
                            ),
                            transient: true,
                        });
                    }
                },
            },
        };
        let previous = body::parse_marker(&found.body);
        if let (Some(theirs), Some(ours)) = (&previous, body::parse_marker(&new.body))
            && theirs.promotion != ours.promotion
        {
            return Err(ForgeError::Conflict {
                detail: format!(
                    "pull request #{} from `{}` belongs to promotion {}/{}",
                    found.number, new.head, theirs.promotion.namespace, theirs.promotion.name
                ),
                transient: false,
            });
        }
        let caps = self.capabilities();
        let patch = PullRequestPatch {
            title: (found.title != new.title).then(|| new.title.clone()),
            body: (normalize_newlines(&found.body) != normalize_newlines(&new.body))
                .then(|| new.body.clone()),
            add_labels: if caps.labels {
                new.labels
                    .iter()
                    .filter(|l| !found.labels.iter().any(|have| have.eq_ignore_ascii_case(l)))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
        };
        let pull_request = if patch.is_empty() {
            found
        } else {
            self.update(found.number, &patch).await?
        };
        let wanted = Reviewers {
            users: new
                .reviewers
                .users
                .iter()
                .filter(|u| {
                    !pull_request
                        .requested_reviewers
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(u))
                })
                // Forges refuse a review request to the pull request's own author.
                .filter(|u| {
                    pull_request
                        .author
                        .as_deref()
                        .is_none_or(|a| !a.eq_ignore_ascii_case(u))
                })
                .cloned()
                .collect(),
            teams: if caps.team_reviewers {
                new.reviewers
                    .teams
                    .iter()
                    .filter(|t| {
                        !pull_request
                            .requested_teams
                            .iter()
                            .any(|r| r.eq_ignore_ascii_case(t))
                    })
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
        };
        let mut warnings = Vec::new();
        if !wanted.is_empty()
            && let Err(e) = self.request_reviewers(pull_request.number, &wanted).await
        {
            if e.is_transient() {
                return Err(e);
            }
            // The pull request and its evidence are in place; a reviewer the forge refuses (not a
            // collaborator, unknown user) must not fail the promotion.
            tracing::warn!(error = %e, number = pull_request.number, "reviewers not requested");
            warnings.push(format!("reviewers not requested: {e}"));
        }
        Ok(Opened {
            pull_request,
            adopted,
            previous,
            warnings,
        })
    }
}

fn normalize_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end().to_owned()
}
