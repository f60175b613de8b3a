//! A Gitea 1.27 or Forgejo 16 stand-in (`/api/v1`), with their quirks:
//!
//! * `GET /pulls/{base}/{head}` returns the first pull request ever opened for the pair, in any
//!   state (Gitea's `GetPullRequestByBaseHeadInfo` takes the first row); the head keeps its
//!   slashes (the route is `{base}/*`).
//! * A second open pull request for the same head and base is a 409.
//! * Editing answers 201. Labels are added by name through the issues API.
//! * The list filters by `base_branch` (Gitea) or `base` (Forgejo); other parameters are ignored.
//! * `Authorization: token …`; pagination in `Link` and `X-Total-Count`.

use super::lock;
use super::schema::merge;
use super::server::{Behaviour, Reply, Request};
use super::spec::Spec;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};

/// The repository owner.
pub const OWNER: &str = "acme";
/// The repository name.
pub const REPO: &str = "gitops";
/// The repository's id.
pub const REPO_ID: i64 = 7;
/// The id of a fork of it.
pub const FORK_REPO_ID: i64 = 8;

/// Which of the two related forges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Gitea 1.27: the list filters by `base_branch`.
    Gitea,
    /// Forgejo 16: the list filters by `base`.
    Forgejo,
}

/// A pull request as the stand-in keeps it.
#[derive(Clone, Debug)]
pub struct GtPull {
    /// Index.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Head branch.
    pub head: String,
    /// Repository of the head branch.
    pub head_repo_id: i64,
    /// Base branch.
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The merge commit.
    pub merge_sha: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Requested reviewers.
    pub reviewers: Vec<String>,
    /// Requested teams.
    pub teams: Vec<String>,
    /// Author login.
    pub author: String,
}

/// The stand-in's state, open for tests to read and change.
#[derive(Default, Debug)]
pub struct GtState {
    /// Pull requests, index `n` at `n - 1`.
    pub pulls: Vec<GtPull>,
    /// Labels that exist in the repository (others are ignored when added).
    pub repo_labels: Vec<String>,
    /// Users that exist.
    pub users: Vec<String>,
    /// Accepted tokens.
    pub tokens: Vec<String>,
    /// Commit statuses as posted, with `sha` added.
    pub statuses: Vec<Value>,
}

/// The Gitea / Forgejo behaviour behind a [`super::server::StandIn`] at `/api/v1`.
pub struct GiteaForge {
    /// Gitea or Forgejo.
    pub flavor: Flavor,
    spec: Arc<Spec>,
    /// State: pull requests, labels, users, tokens, statuses.
    pub state: Mutex<GtState>,
    origin: OnceLock<String>,
    problems: Mutex<Vec<String>>,
}

impl GiteaForge {
    /// A stand-in answering from `spec` (the flavor's description) that accepts `token`.
    pub fn new(flavor: Flavor, spec: Arc<Spec>, token: &str) -> Self {
        Self {
            flavor,
            spec,
            problems: Mutex::new(Vec::new()),
            state: Mutex::new(GtState {
                repo_labels: vec!["promotion".into(), "prod".into()],
                users: vec!["sealift-bot".into(), "alice".into(), "bob".into()],
                tokens: vec![token.to_owned()],
                ..GtState::default()
            }),
            origin: OnceLock::new(),
        }
    }

    /// Where the stand-in listens (for the URLs it hands out).
    pub fn set_origin(&self, origin: &str) {
        let _ = self.origin.set(origin.to_owned());
    }

    fn origin(&self) -> &str {
        self.origin
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// A minimal valid instance of `component`; a missing one is a problem.
    fn filler_of(&self, component: &str) -> Value {
        self.spec.filler_of(component).unwrap_or_else(|e| {
            let mut problems = lock(&self.problems);
            if !problems.contains(&e) {
                problems.push(e);
            }
            json!({})
        })
    }

    fn error(&self, status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"message": message, "url": format!("{}/api/swagger", self.origin())}),
        )
    }

    /// Opens a pull request directly (someone else's), in `state`.
    pub fn add_pull(&self, head: &str, base: &str, state: &str) -> i64 {
        let mut st = lock(&self.state);
        let number = st.pulls.len() as i64 + 1;
        st.pulls.push(GtPull {
            number,
            title: format!("Change {head}"),
            body: String::new(),
            head: head.into(),
            head_repo_id: REPO_ID,
            base: base.into(),
            state: state.into(),
            merged: false,
            merge_sha: None,
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            author: "carol".into(),
        });
        number
    }

    /// What the forge answers for something that does not exist.
    pub fn not_found_reply(&self) -> Reply {
        self.not_found()
    }

    /// Pull request `number`.
    pub fn pull(&self, number: i64) -> Option<GtPull> {
        let i = usize::try_from(number.checked_sub(1)?).ok()?;
        lock(&self.state).pulls.get(i).cloned()
    }

    /// Marks pull request `number` merged; returns its (made-up) merge commit.
    pub fn merge(&self, number: i64) -> Option<String> {
        let sha = format!("{number:0>40}").replace('0', "c");
        let i = usize::try_from(number.checked_sub(1)?).ok()?;
        let mut st = lock(&self.state);
        let p = st.pulls.get_mut(i)?;
        p.state = "closed".into();
        p.merged = true;
        p.merge_sha = Some(sha.clone());
        Some(sha)
    }

    fn user(&self, login: &str) -> Value {
        let mut u = self.filler_of("User");
        merge(&mut u, json!({"login": login, "username": login, "id": 1}));
        u
    }

    fn branch(&self, reference: &str, repo_id: i64, sha: &str) -> Value {
        let mut b = self.filler_of("PRBranchInfo");
        merge(
            &mut b,
            json!({"ref": reference, "label": reference, "sha": sha, "repo_id": repo_id, "repo": Value::Null}),
        );
        b
    }

    fn pull_json(&self, p: &GtPull) -> Value {
        let mut v = self.filler_of("PullRequest");
        merge(
            &mut v,
            json!({
                "number": p.number,
                "id": 100 + p.number,
                "title": p.title,
                "body": p.body,
                "state": p.state,
                "draft": p.title.starts_with("WIP:"),
                "merged": p.merged,
                // nil pointers are serialised as null by Gitea and Forgejo.
                "merge_commit_sha": p.merge_sha,
                "merged_at": if p.merged { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "closed_at": if p.state == "closed" { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "merged_by": Value::Null,
                "milestone": Value::Null,
                "assignee": Value::Null,
                "due_date": Value::Null,
                "html_url": format!("{}/{OWNER}/{REPO}/pulls/{}", self.origin(), p.number),
                "url": format!("{}/{OWNER}/{REPO}/pulls/{}", self.origin(), p.number),
                "head": self.branch(&p.head, p.head_repo_id, &format!("{:0>40}", p.number)),
                "base": self.branch(&p.base, REPO_ID, &"b".repeat(40)),
                "labels": self.labels_json(&p.labels),
                "requested_reviewers": p.reviewers.iter().map(|r| self.user(r)).collect::<Vec<_>>(),
                "requested_reviewers_teams": p.teams.iter().map(|t| {
                    let mut team = self.filler_of("Team");
                    merge(&mut team, json!({"name": t}));
                    team
                }).collect::<Vec<_>>(),
                "user": self.user(&p.author),
            }),
        );
        v
    }

    fn labels_json(&self, names: &[String]) -> Vec<Value> {
        names
            .iter()
            .map(|n| {
                let mut l = self.filler_of("Label");
                merge(&mut l, json!({"name": n, "color": "00aabb"}));
                l
            })
            .collect()
    }

    fn by_base_head(&self, req: &Request) -> Reply {
        let s = req.seg();
        let base = req.at(4);
        let head = s.get(5..).unwrap_or_default().join("/");
        let st = lock(&self.state);
        // The first row for the pair, whatever its state.
        match st
            .pulls
            .iter()
            .find(|p| p.base == base && p.head == head && p.head_repo_id == REPO_ID)
            .cloned()
        {
            Some(p) => {
                drop(st);
                Reply::json(200, self.pull_json(&p))
            }
            None => {
                drop(st);
                self.not_found()
            }
        }
    }

    fn list(&self, req: &Request) -> Reply {
        let base_param = if self.flavor == Flavor::Forgejo {
            "base"
        } else {
            "base_branch"
        };
        let state = req.q("state").unwrap_or("open");
        let st = lock(&self.state);
        let pulls: Vec<GtPull> = st
            .pulls
            .iter()
            .filter(|p| state == "all" || p.state == state)
            .filter(|p| req.q(base_param).is_none_or(|b| b == p.base))
            .cloned()
            .collect();
        drop(st);
        let limit = req
            .q("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30usize)
            .clamp(1, 50);
        let page = req
            .q("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let pages = pulls.len().div_ceil(limit).max(1);
        let items: Vec<Value> = pulls
            .iter()
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .map(|p| self.pull_json(p))
            .collect();
        let mut reply =
            Reply::json(200, Value::Array(items)).header("x-total-count", pulls.len().to_string());
        if page < pages {
            let url = format!(
                "{}/api/v1/repos/{OWNER}/{REPO}/pulls?limit={limit}&page={}&state={state}",
                self.origin(),
                page + 1
            );
            reply = reply.header("link", format!("<{url}>; rel=\"next\""));
        }
        reply
    }

    fn create(&self, body: &Value) -> Reply {
        let head = body["head"].as_str().unwrap_or_default().to_owned();
        let base = body["base"].as_str().unwrap_or_default().to_owned();
        let mut st = lock(&self.state);
        if let Some(p) = st.pulls.iter().find(|p| {
            p.state == "open" && p.head == head && p.base == base && p.head_repo_id == REPO_ID
        }) {
            let msg = format!(
                "pull request already exists for these targets [id: {}, issue_id: {}, head_repo_id: {REPO_ID}, base_repo_id: {REPO_ID}, head_branch: {head}, base_branch: {base}]",
                100 + p.number,
                p.number
            );
            drop(st);
            return self.error(409, &msg);
        }
        let number = st.pulls.len() as i64 + 1;
        let pull = GtPull {
            number,
            title: body["title"].as_str().unwrap_or_default().into(),
            body: body["body"].as_str().unwrap_or_default().into(),
            head,
            head_repo_id: REPO_ID,
            base,
            state: "open".into(),
            merged: false,
            merge_sha: None,
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            author: "sealift-bot".into(),
        };
        st.pulls.push(pull.clone());
        drop(st);
        Reply::json(201, self.pull_json(&pull))
    }

    fn with_pull(
        &self,
        number: i64,
        f: impl FnOnce(&mut GtPull, &GtState) -> Result<u16, Reply>,
    ) -> Result<GtPull, Reply> {
        let mut st = lock(&self.state);
        let Some(i) = usize::try_from(number - 1).ok() else {
            return Err(self.not_found());
        };
        let Some(mut pull) = st.pulls.get(i).cloned() else {
            return Err(self.not_found());
        };
        f(&mut pull, &st)?;
        if let Some(slot) = st.pulls.get_mut(i) {
            *slot = pull.clone();
        }
        Ok(pull)
    }
}

impl Behaviour for GiteaForge {
    fn route(&self, req: &Request) -> Option<&'static str> {
        let s = req.seg();
        let number = |i: usize| s.get(i).is_some_and(|n| n.parse::<i64>().is_ok());
        Some(match (req.method.as_str(), s.as_slice()) {
            ("GET", ["repos", _, _, "pulls"]) => "repoListPullRequests",
            ("POST", ["repos", _, _, "pulls"]) => "repoCreatePullRequest",
            ("GET", ["repos", _, _, "pulls", _]) if number(4) => "repoGetPullRequest",
            ("PATCH", ["repos", _, _, "pulls", _]) if number(4) => "repoEditPullRequest",
            ("POST", ["repos", _, _, "pulls", _, "requested_reviewers"]) if number(4) => {
                "repoCreatePullReviewRequests"
            }
            ("POST", ["repos", _, _, "issues", _, "labels"]) if number(4) => "issueAddLabel",
            ("POST", ["repos", _, _, "statuses", _]) => "repoCreateStatus",
            ("GET", ["repos", _, _, "pulls", _, _, ..]) => "repoGetPullRequestByBaseHead",
            _ => return None,
        })
    }

    fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    fn not_found(&self) -> Reply {
        Reply::json(
            404,
            json!({"errors": ["record not found"], "message": "The target couldn't be found.", "url": format!("{}/api/swagger", self.origin())}),
        )
    }

    fn handle(&self, op: &'static str, req: &Request) -> Reply {
        let auth = req.header("authorization").unwrap_or_default();
        let token = auth
            .strip_prefix("token ")
            .or_else(|| auth.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !lock(&self.state).tokens.iter().any(|t| t == token) {
            return self.error(401, "user does not exist [uid: 0, name: ]");
        }
        let s = req.seg();
        if req.at(1) != OWNER || req.at(2) != REPO {
            return self.not_found();
        }
        let body = req.body.clone().unwrap_or_default();
        let number = s.get(4).and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
        let result = match op {
            "repoListPullRequests" => return self.list(req),
            "repoCreatePullRequest" => return self.create(&body),
            "repoGetPullRequestByBaseHead" => return self.by_base_head(req),
            "repoGetPullRequest" => self
                .with_pull(number, |_, _| Ok(200))
                .map(|p| (200, self.pull_json(&p))),
            "repoEditPullRequest" => self
                .with_pull(number, |p, _| {
                    if let Some(t) = body["title"].as_str() {
                        p.title = t.into();
                    }
                    if let Some(b) = body["body"].as_str() {
                        p.body = b.into();
                    }
                    if let Some(state) = body["state"].as_str() {
                        p.state = state.into();
                    }
                    Ok(201)
                })
                .map(|p| (201, self.pull_json(&p))),
            "issueAddLabel" => self
                .with_pull(number, |p, st| {
                    for name in body["labels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if st.repo_labels.iter().any(|l| l == name)
                            && !p.labels.iter().any(|l| l == name)
                        {
                            p.labels.push(name.into());
                        }
                    }
                    Ok(200)
                })
                .map(|p| (200, Value::Array(self.labels_json(&p.labels)))),
            "repoCreatePullReviewRequests" => self
                .with_pull(number, |p, st| {
                    for user in body["reviewers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !st.users.iter().any(|u| u == user) {
                            return Err(self.error(
                                422,
                                &format!("user does not exist [uid: 0, name: {user}]"),
                            ));
                        }
                        if !p.reviewers.iter().any(|r| r == user) {
                            p.reviewers.push(user.into());
                        }
                    }
                    for team in body["team_reviewers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        p.teams.push(team.into());
                    }
                    Ok(201)
                })
                .map(|p| {
                    let reviews: Vec<Value> = p
                        .reviewers
                        .iter()
                        .map(|r| {
                            let mut review = self.filler_of("PullReview");
                            merge(
                                &mut review,
                                json!({"user": self.user(r), "state": "REQUEST_REVIEW"}),
                            );
                            review
                        })
                        .collect();
                    (201, Value::Array(reviews))
                }),
            "repoCreateStatus" => {
                let mut record = body.clone();
                record["sha"] = json!(req.at(4));
                lock(&self.state).statuses.push(record);
                let mut v = self.filler_of("CommitStatus");
                merge(
                    &mut v,
                    json!({"status": body["state"], "context": body["context"], "description": body["description"], "target_url": body.get("target_url").cloned().unwrap_or(json!(""))}),
                );
                Ok((201, v))
            }
            _ => Err(self.not_found()),
        };
        match result {
            Ok((status, v)) => Reply::json(status, v),
            Err(reply) => reply,
        }
    }
}
