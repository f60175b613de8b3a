//! The write path: fetch the base, apply the edit, commit in memory, push; when the base moved
//! under a direct push, fetch again, re-apply the edit on the new head and retry with bounded,
//! jittered exponential backoff. A base branch is never force-pushed, so a concurrent commit is
//! never lost: ours is rebuilt on top of it.
//!
//! Over HTTP(S) the push sends only the objects the commit introduced (`smart_http`), and its ref
//! discovery doubles as the fetch when it shows a head the cache already holds. SSH remotes are
//! fetched and pushed by libgit2.

use crate::cache::CachedRepo;
use crate::commit::{CommitMeta, FileChange, NewCommit, commit_changes_with_objects};
use crate::credentials::GitCredentials;
use crate::error::GitError;
use crate::remote::{Remote, RemoteError, classify};
use crate::smart_http::{self, RefUpdate};
use git2::{Oid, Repository};
use std::time::{Duration, Instant};

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
        let started = Instant::now();
        let (base, route) = match locate_base(cache, req) {
            Ok(found) => found,
            Err(e) if e.is_retryable_now() && attempt < attempts => {
                last = e.to_string();
                continue;
            }
            Err(e) => return Err(e),
        };
        let fetched = Instant::now();
        let snapshot = Snapshot {
            repo: &cache.repo,
            base,
            branch: req.base_branch,
        };
        let changes = edit(&snapshot)?;
        let edited = Instant::now();
        let created = commit_changes_with_objects(&cache.repo, base, &changes, &req.meta)?;
        if created.id == base {
            return Ok(PushOutcome::UpToDate { base });
        }
        let commit = created.id;
        let local = format!("refs/sealift/push/{dest}");
        cache
            .repo
            .reference(&local, commit, true, "sealift: promotion commit")?;
        let committed = Instant::now();
        let result = push_commit(cache, req.credentials, route, &created, base, &dest, force);
        tracing::debug!(
            target: "sealift_gitops::timing",
            branch = %dest,
            attempt,
            fetch_us = micros(fetched - started),
            edit_us = micros(edited - fetched),
            commit_us = micros(committed - edited),
            push_us = micros(committed.elapsed()),
            objects = created.objects.len(),
            ok = result.is_ok(),
            "promotion attempt"
        );
        match result {
            Ok(()) => {
                if !force {
                    // The server's base is now our commit: the next promotion need not fetch it.
                    cache.remember_base(req.base_branch, commit);
                }
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
                e if e.is_retryable_now() && attempt < attempts => last = e.to_string(),
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

/// How the commit will be pushed.
enum Route {
    /// Sealift's smart-HTTP client, with the ref discovery already made when it is still current.
    Http(Option<smart_http::Server>),
    /// libgit2 (SSH, or an HTTP server the smart-HTTP client cannot serve).
    Libgit2,
}

/// The base head to build on, and how to push. Over HTTP(S) the push's ref discovery comes first:
/// when it shows the head the cache already holds, a fetch would transfer nothing, so none is
/// made and the same discovery serves the push (two requests per promotion instead of three).
fn locate_base(cache: &mut CachedRepo, req: &PushRequest<'_>) -> Result<(Oid, Route), GitError> {
    let mut discovered = None;
    let mut route = Route::Libgit2;
    if smart_http::handles(&cache.url) {
        route = Route::Http(None);
        match smart_http::discover_url(&cache.url, req.credentials) {
            Ok(server) => {
                let head = server
                    .adv
                    .target(&format!("refs/heads/{}", req.base_branch));
                if let Some(head) = head
                    && cache.known_base(req.base_branch) == Some(head)
                {
                    return Ok((head, Route::Http(Some(server))));
                }
                discovered = Some((server, head));
            }
            Err(RemoteError::Unsupported(why)) => {
                tracing::info!(url = %cache.url, reason = %why, "pushing with libgit2 instead");
                route = Route::Libgit2;
            }
            Err(e) => return Err(classify(&cache.url, e, Some(req.base_branch))),
        }
    }
    let base = cache.fetch_branch(req.base_branch, req.credentials)?;
    if let (Route::Http(_), Some((server, Some(head)))) = (&route, discovered)
        && head == base
    {
        route = Route::Http(Some(server));
    }
    Ok((base, route))
}

/// Pushes `created` to `refs/heads/<dest>`: force-updating a promotion branch, or fast-forwarding
/// the base from exactly `base`. Over HTTP(S) only the commit's new objects are sent, through
/// Sealift's smart-HTTP client; libgit2 pushes `refs/sealift/push/<dest>` otherwise.
fn push_commit(
    cache: &CachedRepo,
    creds: &GitCredentials,
    route: Route,
    created: &NewCommit,
    base: Oid,
    dest: &str,
    force: bool,
) -> Result<(), RemoteError> {
    let refname = format!("refs/heads/{dest}");
    if let Route::Http(discovered) = route {
        let update = RefUpdate {
            refname: &refname,
            new: created.id,
            expected: (!force).then_some(base),
        };
        let pushed = smart_http::push(
            &cache.repo,
            &cache.url,
            creds,
            discovered,
            &created.objects,
            &update,
        );
        match pushed {
            Ok(stats) => {
                tracing::debug!(
                    target: "sealift_gitops::timing",
                    discover_us = micros(stats.discover),
                    pack_us = micros(stats.pack),
                    send_us = micros(stats.send),
                    objects = stats.objects,
                    pack_bytes = stats.pack_bytes,
                    "smart-HTTP push"
                );
                return Ok(());
            }
            Err(RemoteError::Unsupported(why)) => {
                tracing::info!(url = %cache.url, reason = %why, "pushing with libgit2 instead");
            }
            Err(e) => return Err(e),
        }
    }
    let local = format!("refs/sealift/push/{dest}");
    let refspec = format!("{}{local}:{refname}", if force { "+" } else { "" });
    Remote::new(&cache.url, creds).push(&cache.repo, &refspec)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
