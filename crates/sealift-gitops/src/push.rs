//! The write path: fetch the base, apply the edit, commit in memory, push; when the base moved
//! under a direct push, fetch again, re-apply the edit on the new head and retry with bounded,
//! jittered exponential backoff. A base branch is never force-pushed, so a concurrent commit is
//! never lost: ours is rebuilt on top of it.

use crate::cache::CachedRepo;
use crate::commit::{CommitMeta, FileChange, commit_changes};
use crate::credentials::GitCredentials;
use crate::error::GitError;
use crate::remote::{Remote, RemoteError, classify};
use git2::{Oid, Repository};
use std::time::Duration;

/// Where the commit goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    /// A promotion branch (`sealift/<namespace>/<name>`) owned by Sealift, for a pull request.
    /// It is force-updated: it only ever holds the one promotion commit on top of the base.
    PromotionBranch(String),
    /// Straight onto the base branch (environments without review), fast-forward only.
    Base,
}

/// Bounded retries with exponential backoff.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32 << attempt.min(16));
        let capped = exp.min(self.max_backoff);
        // Up to 50% jitter so concurrent promotions of one repository do not retry in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
    }
}

/// What a push request needs besides the edit.
#[derive(Clone, Debug)]
pub struct PushRequest<'a> {
    /// The base branch.
    pub base_branch: &'a str,
    /// Promotion branch or base.
    pub target: PushTarget,
    /// Credentials for the server.
    pub credentials: &'a GitCredentials,
    /// Author, time and message of the commit.
    pub meta: CommitMeta,
    /// Retry policy for a moved base and transient failures.
    pub retry: RetryPolicy,
}

/// The base commit an edit is computed against.
pub struct Snapshot<'r> {
    /// The repository (read-only use).
    pub repo: &'r Repository,
    /// The base branch head the edit applies to.
    pub base: Oid,
    /// The base branch name (for messages).
    pub branch: &'r str,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The edit changes nothing: the target already holds it. Nothing was committed or pushed.
    UpToDate {
        /// The base commit that already holds the change.
        base: Oid,
    },
    /// The commit is on the server.
    Pushed {
        /// The promotion commit.
        commit: Oid,
        /// Its parent: the base head it was built on.
        base: Oid,
        /// The branch it was pushed to.
        branch: String,
        /// Attempts it took (1 when nothing raced).
        attempts: u32,
    },
}

/// Fetches the base, computes `edit` on it, commits and pushes, retrying as described in the
/// module docs. `edit` is called once per attempt with the current base; it returns the files to
/// change (empty: nothing to do).
pub fn commit_and_push(
    cache: &mut CachedRepo,
    req: &PushRequest<'_>,
    edit: &mut dyn FnMut(&Snapshot<'_>) -> Result<Vec<FileChange>, GitError>,
) -> Result<PushOutcome, GitError> {
    let attempts = req.retry.attempts.max(1);
    let (dest, force) = match &req.target {
        PushTarget::PromotionBranch(b) => (b.clone(), true),
        PushTarget::Base => (req.base_branch.to_owned(), false),
    };
    let mut last = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            std::thread::sleep(req.retry.delay(attempt - 2));
        }
        let base = match cache.fetch_branch(req.base_branch, req.credentials) {
            Ok(b) => b,
            Err(e) if e.is_transient() && attempt < attempts => {
                last = e.to_string();
                continue;
            }
            Err(e) => return Err(e),
        };
        let snapshot = Snapshot {
            repo: &cache.repo,
            base,
            branch: req.base_branch,
        };
        let changes = edit(&snapshot)?;
        let commit = commit_changes(&cache.repo, base, &changes, &req.meta)?;
        if commit == base {
            return Ok(PushOutcome::UpToDate { base });
        }
        let local = format!("refs/sealift/push/{dest}");
        cache
            .repo
            .reference(&local, commit, true, "sealift: promotion commit")?;
        let refspec = format!("{}{local}:refs/heads/{dest}", if force { "+" } else { "" });
        match Remote::new(&cache.url, req.credentials).push(&cache.repo, &refspec) {
            Ok(()) => {
                return Ok(PushOutcome::Pushed {
                    commit,
                    base,
                    branch: dest,
                    attempts: attempt,
                });
            }
            // The base moved between our fetch and our push: rebuild on the new head.
            Err(RemoteError::Rejected { message, .. }) if !force => last = message,
            Err(RemoteError::Git(e)) if !force && e.code() == git2::ErrorCode::NotFastForward => {
                last = e.message().to_owned();
            }
            Err(e) => match classify(&cache.url, e, None) {
                e if e.is_transient() && attempt < attempts => last = e.to_string(),
                e => return Err(e),
            },
        }
        tracing::info!(branch = %dest, attempt, reason = %last, "push refused, retrying on the new base");
    }
    Err(GitError::RetriesExhausted {
        branch: dest,
        attempts,
        last,
    })
}
