//! A GitHub (or GitHub Enterprise Server) stand-in: the pulls, issue-labels, statuses and App
//! installation-token endpoints, with GitHub's quirks:
//!
//! * `GET /pulls?head=` honours only `owner:branch`; a bare branch name is ignored and every pull
//!   request is listed (<https://docs.github.com/rest/pulls/pulls#list-pull-requests>, `head`).
//! * A second pull request for the same head and base is a 422 "A pull request already exists".
//! * `merge_commit_sha` is set on open pull requests (the test merge commit).
//! * Requests without `User-Agent` are refused with 403.
//! * Review requests to the author or to non-collaborators are a 422.
//! * Rate-limit headers on every answer; installation tokens expire after an hour.
//!
//! Backed by a bare repository ([`GithubOptions::backed_by`]), it also behaves like GitHub towards
//! git: opening needs both branches (422 `invalid` otherwise) and commits between them (422 "No
//! commits between"); `head.sha` is the branch tip; merging (`PUT …/pulls/{n}/merge` or
//! [`GithubStandin::merge`]) writes a real merge commit on the base branch (405 on a conflict, 409
//! when `sha` is not the head tip or the base moved meanwhile). Rebase merges are disabled, as a
//! repository setting can make them (405). Without a repository, merges get a made-up commit id.

mod render;
mod rest;

use super::server::StandIn;
use super::spec::{self, Spec};
use super::{Clock, SystemClock, lock};
use anyhow::Result;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The default repository owner.
pub const OWNER: &str = "acme";
/// The default repository name.
pub const REPO: &str = "gitops";
/// The account the accepted token belongs to (the author of what Sealift opens).
pub const BOT: &str = "sealift-bot";
/// What GitHub reports as `merge_commit_sha` of an open pull request: its test merge commit.
pub const TEST_MERGE_SHA: &str = "e5bd3914e2e596debea16f433f57875b5b90bcd6";

/// A pull request as the stand-in keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhPull {
    /// `#number`.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Body (empty when none).
    pub body: String,
    /// Head branch name.
    pub head: String,
    /// Owner of the head branch's repository.
    pub head_owner: String,
    /// Base branch name.
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The merge commit (the test merge commit while open).
    pub merge_sha: Option<String>,
    /// The head commit recorded at opening (and at merging).
    pub head_sha: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Requested reviewers (logins).
    pub reviewers: Vec<String>,
    /// Requested teams (slugs).
    pub teams: Vec<String>,
    /// Draft.
    pub draft: bool,
    /// Author login.
    pub author: String,
    /// When it was merged, Unix seconds.
    pub merged_at: Option<i64>,
    /// When it was closed (merged or not), Unix seconds.
    pub closed_at: Option<i64>,
}

/// A GitHub App the stand-in mints installation tokens for.
#[derive(Clone, Debug)]
pub struct AppSetup {
    /// The App id (`iss` of the JWT).
    pub app_id: String,
    /// The installation tokens are minted for.
    pub installation_id: u64,
    /// The App's RSA public key (PKCS#1 DER) that JWTs must verify against.
    pub public_key: Vec<u8>,
    /// Lifetime of minted tokens.
    pub token_ttl_secs: i64,
}

/// A commit status as it was posted.
#[derive(Clone, Debug, PartialEq)]
pub struct GhStatus {
    /// The commit.
    pub sha: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The context (`default` when none was sent).
    pub context: String,
    /// Description, if sent.
    pub description: Option<String>,
    /// Target URL, if sent.
    pub target_url: Option<String>,
    /// The request body exactly as sent.
    pub body: Value,
}

/// The stand-in's state, open for tests to read and change.
#[derive(Default, Debug)]
pub struct GhState {
    /// Pull requests, `#n` at index `n - 1`.
    pub pulls: Vec<GhPull>,
    /// Accepted tokens and their expiry (Unix seconds), if any.
    pub tokens: Vec<(String, Option<i64>)>,
    /// The GitHub App, if installation tokens can be minted.
    pub app: Option<AppSetup>,
    /// Installation tokens minted so far.
    pub minted: Vec<String>,
    /// Who may be asked to review.
    pub collaborators: Vec<String>,
    /// Commit statuses, in order.
    pub statuses: Vec<GhStatus>,
    /// Hourly request quota.
    pub limit: i64,
    /// Requests left in this hour.
    pub remaining: i64,
    /// When the quota resets (Unix seconds).
    pub reset_at: i64,
}

/// Why the stand-in refused an operation, as GitHub would answer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status GitHub answers with.
    pub status: u16,
    /// GitHub's message.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn not_found() -> Self {
        Self::new(404, "Not Found")
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Refusal {}

/// The GitHub behaviour behind a [`StandIn`].
pub struct GitHubForge {
    spec: Arc<Spec>,
    clock: Arc<dyn Clock>,
    owner: String,
    repo: String,
    backing: Option<PathBuf>,
    /// State: pull requests, tokens, statuses, quota.
    pub state: Mutex<GhState>,
    origin: OnceLock<String>,
    problems: Mutex<Vec<String>>,
}

/// How to start a [`GithubStandin`].
#[derive(Clone)]
pub struct GithubOptions {
    /// Repository owner (default [`OWNER`]).
    pub owner: String,
    /// Repository name (default [`REPO`]).
    pub repo: String,
    /// The accepted token; a fresh random `ghp_…` one when `None`.
    pub token: Option<String>,
    /// The bare repository that backs `owner/repo`, for real branches and merges.
    pub backing: Option<PathBuf>,
    /// GitHub Enterprise Server 3.19 under `/api/v3` instead of api.github.com.
    pub enterprise: bool,
    /// The wall clock (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// Who may be asked to review (default `alice`, `bob`).
    pub collaborators: Vec<String>,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            owner: OWNER.into(),
            repo: REPO.into(),
            token: None,
            backing: None,
            enterprise: false,
            clock: Arc::new(SystemClock),
            collaborators: vec!["alice".into(), "bob".into()],
        }
    }
}

impl GithubOptions {
    /// `acme/gitops`, a random token, the system clock, no backing repository.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `owner/repo`.
    pub fn repository(mut self, owner: &str, repo: &str) -> Self {
        self.owner = owner.into();
        self.repo = repo.into();
        self
    }

    /// Accept this token.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Back the repository with the bare repository at `path` (e.g. `ServedRepo::path`).
    pub fn backed_by(mut self, path: impl Into<PathBuf>) -> Self {
        self.backing = Some(path.into());
        self
    }

    /// Be GitHub Enterprise Server (`/api/v3`, its own description).
    pub fn enterprise(mut self) -> Self {
        self.enterprise = true;
        self
    }

    /// Read time from `clock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Who may be asked to review.
    pub fn collaborators(mut self, logins: &[&str]) -> Self {
        self.collaborators = logins.iter().map(|l| (*l).to_owned()).collect();
        self
    }
}

/// A running GitHub stand-in on 127.0.0.1. Dereferences to its [`StandIn`] (exchange log, fault
/// injection, [`StandIn::violations`], [`StandIn::assert_clean`]); stops serving when dropped.
#[derive(Debug)]
pub struct GithubStandin {
    server: StandIn<GitHubForge>,
    token: String,
}

impl std::ops::Deref for GithubStandin {
    type Target = StandIn<GitHubForge>;

    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

impl GithubStandin {
    /// Starts the stand-in on a free loopback port. github.com is checked against
    /// `@octokit/openapi`'s api.github.com description, Enterprise against its GHES 3.19 one.
    /// Fails when the description is not installed (`scripts/install-rig.sh`).
    pub async fn start(options: GithubOptions) -> Result<Self> {
        let (base, spec) = if options.enterprise {
            ("/api/v3", spec::github_enterprise()?)
        } else {
            ("", spec::github_octokit()?)
        };
        let token = options.token.clone().unwrap_or_else(random_token);
        let behaviour = GitHubForge::new(spec.clone(), &options, &token);
        let server = StandIn::start(behaviour, base, vec![spec]).await?;
        let _ = server.behaviour().origin.set(server.origin.clone());
        Ok(Self { server, token })
    }

    /// The API base URL (`http://127.0.0.1:PORT`, or `…/api/v3` for Enterprise).
    pub fn api_url(&self) -> &str {
        &self.server.url
    }

    /// The token the stand-in accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The repository owner.
    pub fn owner(&self) -> &str {
        &self.server.behaviour().owner
    }

    /// The repository name.
    pub fn repo(&self) -> &str {
        &self.server.behaviour().repo
    }

    /// Every pull request, `#1` first.
    pub fn pulls(&self) -> Vec<GhPull> {
        self.server.behaviour().pulls()
    }

    /// Pull request `#number`.
    pub fn pull(&self, number: i64) -> Option<GhPull> {
        self.server.behaviour().pull(number)
    }

    /// Every commit status posted, in order.
    pub fn statuses(&self) -> Vec<GhStatus> {
        self.server.behaviour().statuses()
    }

    /// Merges `#number` as a person pressing the button would; returns the merge commit.
    pub fn merge(&self, number: i64) -> Result<String, Refusal> {
        self.server.behaviour().merge(number)
    }

    /// Closes `#number` without merging.
    pub fn close(&self, number: i64) -> Result<GhPull, Refusal> {
        self.server.behaviour().close(number)
    }
}

fn random_token() -> String {
    use rand::Rng;
    let tail: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(36)
        .map(char::from)
        .collect();
    format!("ghp_{tail}")
}

fn sha_for(n: i64, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{salt}{n}"));
    hex::encode(digest.get(..20).unwrap_or_default())
}

impl GitHubForge {
    fn new(spec: Arc<Spec>, options: &GithubOptions, token: &str) -> Self {
        let reset_at = options.clock.unix_now() + 3600;
        Self {
            spec,
            clock: options.clock.clone(),
            owner: options.owner.clone(),
            repo: options.repo.clone(),
            backing: options.backing.clone(),
            state: Mutex::new(GhState {
                tokens: vec![(token.to_owned(), None)],
                collaborators: options.collaborators.clone(),
                limit: 5000,
                remaining: 5000,
                reset_at,
                ..GhState::default()
            }),
            origin: OnceLock::new(),
            problems: Mutex::new(Vec::new()),
        }
    }

    fn origin(&self) -> &str {
        self.origin
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Opens a pull request directly (someone else's, or Sealift's from an earlier run). With a
    /// backing repository, its head commit is the branch tip when the branch exists.
    pub fn add_pull(&self, head: &str, base: &str, author: &str) -> i64 {
        let head_sha = self.tip(head);
        let mut st = lock(&self.state);
        let number = st.pulls.len() as i64 + 1;
        st.pulls.push(GhPull {
            number,
            title: format!("Change {head}"),
            body: String::new(),
            head: head.into(),
            head_owner: self.owner.clone(),
            base: base.into(),
            state: "open".into(),
            merged: false,
            merge_sha: Some(TEST_MERGE_SHA.into()),
            head_sha: head_sha.unwrap_or_else(|| sha_for(number, "head")),
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            draft: false,
            author: author.into(),
            merged_at: None,
            closed_at: None,
        });
        number
    }

    /// The JSON GitHub would return for pull request `number` (`pull-request-simple` when
    /// `simple`, as lists return it).
    pub fn pull_json_of(&self, number: i64, simple: bool) -> Option<Value> {
        let pull = self.pull(number)?;
        Some(self.pull_json(&pull, simple))
    }

    /// Pull request `#number`.
    pub fn pull(&self, number: i64) -> Option<GhPull> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        lock(&self.state).pulls.get(index).cloned()
    }

    /// Every pull request, `#1` first.
    pub fn pulls(&self) -> Vec<GhPull> {
        lock(&self.state).pulls.clone()
    }

    /// Every commit status posted, in order.
    pub fn statuses(&self) -> Vec<GhStatus> {
        lock(&self.state).statuses.clone()
    }

    /// Merges `#number` with a merge commit, as the author pressing the button would. With a
    /// backing repository the merge is real; returns the merge commit id.
    pub fn merge(&self, number: i64) -> Result<String, Refusal> {
        self.merge_with(number, &rest::MergeParams::default())
    }

    /// Closes `#number` without merging.
    pub fn close(&self, number: i64) -> Result<GhPull, Refusal> {
        let now = self.clock.unix_now();
        let mut st = lock(&self.state);
        let pull = usize::try_from(number - 1)
            .ok()
            .and_then(|i| st.pulls.get_mut(i))
            .ok_or_else(Refusal::not_found)?;
        if pull.state != "closed" {
            pull.state = "closed".into();
            pull.closed_at = Some(now);
        }
        Ok(pull.clone())
    }

    /// The tip of `branch` in the backing repository; `None` without one, or when the branch
    /// does not exist.
    fn tip(&self, branch: &str) -> Option<String> {
        let path = self.backing.as_ref()?;
        match super::backing::branch_tip(path, branch) {
            Ok(tip) => tip,
            Err(e) => {
                self.problem(format!("reading {branch} in {}: {e}", path.display()));
                None
            }
        }
    }

    fn problem(&self, message: String) {
        let mut problems = lock(&self.problems);
        if !problems.contains(&message) {
            problems.push(message);
        }
    }

    /// A minimal valid instance from the description; a missing component is a problem.
    fn filler(&self, component: &str, path: &[&str]) -> Value {
        self.spec.filler_at(component, path).unwrap_or_else(|e| {
            self.problem(e);
            Value::Object(serde_json::Map::new())
        })
    }
}
