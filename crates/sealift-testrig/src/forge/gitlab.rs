//! A GitLab stand-in (`/api/v4`): project merge requests, users and commit statuses, with
//! GitLab's quirks:
//!
//! * The project is its URL-encoded path, one segment (`acme%2Fgitops`); an unencoded path is
//!   another route and 404s.
//! * A second open merge request for a source branch is a 409 whose `message` is a list.
//! * Reviewers are user ids; `reviewer_ids` replaces the set. Drafts are a `Draft: ` prefix.
//! * Re-posting a pending/running commit status is a 400 "Cannot transition status".
//! * A fast-forward merge leaves `merge_commit_sha` null.
//! * `PRIVATE-TOKEN` or `Authorization: Bearer`; pagination in `X-Next-Page` and `Link`.

use super::lock;
use super::schema::merge;
use super::server::{Behaviour, Reply, Request};
use super::spec::Spec;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};

/// The project path.
pub const PROJECT: &str = "acme/gitops";
/// The project id.
pub const PROJECT_ID: i64 = 42;
/// The id of a fork of it.
pub const FORK_ID: i64 = 43;
/// The user id of the token's account.
pub const BOT_ID: i64 = 9;

/// A merge request as the stand-in keeps it.
#[derive(Clone, Debug)]
pub struct Mr {
    /// IID (`!n`).
    pub iid: i64,
    /// Title (`Draft: ` prefix for drafts).
    pub title: String,
    /// Description.
    pub description: String,
    /// Source branch.
    pub source_branch: String,
    /// Target branch.
    pub target_branch: String,
    /// Project of the source branch.
    pub source_project_id: i64,
    /// `opened`, `closed`, `merged`, `locked`.
    pub state: String,
    /// Head commit.
    pub sha: String,
    /// Merge commit (null after a fast-forward).
    pub merge_commit_sha: Option<String>,
    /// Squash commit.
    pub squash_commit_sha: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Reviewer user ids.
    pub reviewer_ids: Vec<i64>,
    /// Author user id.
    pub author_id: i64,
    /// `remove_source_branch` as requested.
    pub remove_source_branch: bool,
}

/// The stand-in's state, open for tests to read and change.
#[derive(Default, Debug)]
pub struct GlState {
    /// Merge requests, `!n` at `n - 1`.
    pub mrs: Vec<Mr>,
    /// (id, username).
    pub users: Vec<(i64, String)>,
    /// Accepted tokens.
    pub tokens: Vec<String>,
    /// (sha, name, status).
    pub statuses: Vec<(String, String, String)>,
}

/// The GitLab behaviour behind a [`super::server::StandIn`] at `/api/v4`.
pub struct GitLabForge {
    spec: Arc<Spec>,
    /// State: merge requests, users, tokens, statuses.
    pub state: Mutex<GlState>,
    origin: OnceLock<String>,
    problems: Mutex<Vec<String>>,
}

fn message(status: u16, message: Value) -> Reply {
    Reply::json(status, json!({ "message": message }))
}

impl GitLabForge {
    /// A stand-in answering from `spec` that accepts `token`.
    pub fn new(spec: Arc<Spec>, token: &str) -> Self {
        Self {
            spec,
            problems: Mutex::new(Vec::new()),
            state: Mutex::new(GlState {
                users: vec![
                    (BOT_ID, "sealift-bot".into()),
                    (11, "alice".into()),
                    (12, "bob".into()),
                    (13, "carol".into()),
                ],
                tokens: vec![token.to_owned()],
                ..GlState::default()
            }),
            origin: OnceLock::new(),
        }
    }

    /// Where the stand-in listens (for the URLs it hands out).
    pub fn set_origin(&self, origin: &str) {
        let _ = self.origin.set(origin.to_owned());
    }

    /// Opens a merge request directly (someone else's).
    pub fn add_mr(&self, source: &str, target: &str, source_project_id: i64) -> i64 {
        let mut st = lock(&self.state);
        let iid = st.mrs.len() as i64 + 1;
        st.mrs.push(Mr {
            iid,
            title: format!("Change {source}"),
            description: String::new(),
            source_branch: source.into(),
            target_branch: target.into(),
            source_project_id,
            state: "opened".into(),
            sha: format!("{iid:0>40}"),
            merge_commit_sha: None,
            squash_commit_sha: None,
            labels: Vec::new(),
            reviewer_ids: Vec::new(),
            author_id: 13,
            remove_source_branch: false,
        });
        iid
    }

    /// Merge request `!iid`.
    pub fn mr(&self, iid: i64) -> Option<Mr> {
        let i = usize::try_from(iid.checked_sub(1)?).ok()?;
        lock(&self.state).mrs.get(i).cloned()
    }

    /// Sets the state (and merge commit) of `!iid`, as a person on GitLab would; false when
    /// there is no such merge request.
    pub fn set_state(&self, iid: i64, state: &str, merge_commit: Option<&str>) -> bool {
        let mut st = lock(&self.state);
        let Some(mr) = usize::try_from(iid - 1)
            .ok()
            .and_then(|i| st.mrs.get_mut(i))
        else {
            return false;
        };
        mr.state = state.into();
        mr.merge_commit_sha = merge_commit.map(str::to_owned);
        true
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

    fn user_json(&self, id: i64) -> Value {
        let st = lock(&self.state);
        let name = st
            .users
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.1.clone())
            .unwrap_or_default();
        drop(st);
        let mut u = self.filler_of("UserBasic");
        merge(
            &mut u,
            json!({"id": id, "username": name, "name": name, "state": "active", "web_url": format!("{}/{name}", self.origin())}),
        );
        u
    }

    fn origin(&self) -> &str {
        self.origin
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// The JSON GitLab would return for `mr`.
    pub fn mr_json(&self, mr: &Mr) -> Value {
        let mut v = self.filler_of("MergeRequest");
        merge(
            &mut v,
            json!({
                "id": 1000 + mr.iid,
                "iid": mr.iid,
                "project_id": PROJECT_ID,
                "title": mr.title,
                "description": mr.description,
                "state": mr.state,
                "draft": mr.title.starts_with("Draft:"),
                "source_branch": mr.source_branch,
                "target_branch": mr.target_branch,
                "source_project_id": mr.source_project_id,
                "target_project_id": PROJECT_ID,
                "sha": mr.sha,
                "merge_commit_sha": mr.merge_commit_sha,
                "squash_commit_sha": mr.squash_commit_sha,
                "labels": mr.labels,
                "reviewers": mr.reviewer_ids.iter().map(|id| self.user_json(*id)).collect::<Vec<_>>(),
                "author": self.user_json(mr.author_id),
                "web_url": format!("{}/{PROJECT}/-/merge_requests/{}", self.origin(), mr.iid),
                "should_remove_source_branch": mr.remove_source_branch,
                "merged_at": if mr.state == "merged" { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "closed_at": if mr.state == "closed" { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "merged_by": Value::Null,
                "closed_by": Value::Null,
                "references": {"short": format!("!{}", mr.iid), "relative": format!("!{}", mr.iid), "full": format!("{PROJECT}!{}", mr.iid)},
            }),
        );
        v
    }

    fn list(&self, req: &Request) -> Reply {
        let st = lock(&self.state);
        let wanted = req.q("state").unwrap_or("all");
        let mrs: Vec<Mr> = st
            .mrs
            .iter()
            .filter(|m| wanted == "all" || m.state == wanted)
            .filter(|m| req.q("source_branch").is_none_or(|s| s == m.source_branch))
            .filter(|m| req.q("target_branch").is_none_or(|t| t == m.target_branch))
            .cloned()
            .collect();
        drop(st);
        let per_page = req
            .q("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20usize)
            .clamp(1, 100);
        let page = req
            .q("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let total_pages = mrs.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = mrs
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .map(|m| self.mr_json(m))
            .collect();
        let next = if page < total_pages {
            (page + 1).to_string()
        } else {
            String::new()
        };
        Reply::json(200, Value::Array(items))
            .header("x-page", page.to_string())
            .header("x-per-page", per_page.to_string())
            .header("x-next-page", next)
            .header("x-total", mrs.len().to_string())
            .header("x-total-pages", total_pages.to_string())
    }

    fn create(&self, body: &Value) -> Reply {
        let source = body["source_branch"].as_str().unwrap_or_default();
        let target = body["target_branch"].as_str().unwrap_or_default();
        let mut st = lock(&self.state);
        if let Some(existing) = st.mrs.iter().find(|m| {
            m.state == "opened" && m.source_branch == source && m.source_project_id == PROJECT_ID
        }) {
            return message(
                409,
                json!([format!(
                    "Another open merge request already exists for this source branch: !{}",
                    existing.iid
                )]),
            );
        }
        let iid = st.mrs.len() as i64 + 1;
        let mr = Mr {
            iid,
            title: body["title"].as_str().unwrap_or_default().into(),
            description: body["description"].as_str().unwrap_or_default().into(),
            source_branch: source.into(),
            target_branch: target.into(),
            source_project_id: PROJECT_ID,
            state: "opened".into(),
            sha: format!("{iid:0>40}"),
            merge_commit_sha: None,
            squash_commit_sha: None,
            labels: body["labels"]
                .as_str()
                .map(|l| l.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            reviewer_ids: Vec::new(),
            author_id: BOT_ID,
            remove_source_branch: body["remove_source_branch"].as_bool().unwrap_or(false),
        };
        st.mrs.push(mr.clone());
        drop(st);
        Reply::json(201, self.mr_json(&mr))
    }

    fn update(&self, iid: i64, body: &Value) -> Reply {
        let mut st = lock(&self.state);
        let Some(mr) = usize::try_from(iid - 1)
            .ok()
            .and_then(|i| st.mrs.get_mut(i))
        else {
            return message(404, json!("404 Not found"));
        };
        if let Some(t) = body["title"].as_str() {
            mr.title = t.into();
        }
        if let Some(d) = body["description"].as_str() {
            mr.description = d.into();
        }
        for l in body["add_labels"]
            .as_str()
            .into_iter()
            .flat_map(|l| l.split(','))
        {
            if !mr.labels.iter().any(|x| x == l) {
                mr.labels.push(l.into());
            }
        }
        if let Some(ids) = body["reviewer_ids"].as_array() {
            mr.reviewer_ids = ids.iter().filter_map(Value::as_i64).collect();
        }
        match body["state_event"].as_str() {
            Some("close") => mr.state = "closed".into(),
            Some("reopen") => mr.state = "opened".into(),
            _ => {}
        }
        let mr = mr.clone();
        drop(st);
        Reply::json(200, self.mr_json(&mr))
    }

    fn status(&self, sha: &str, body: &Value) -> Reply {
        let state = body["state"].as_str().unwrap_or_default().to_owned();
        let name = body["name"]
            .as_str()
            .or(body["context"].as_str())
            .unwrap_or("default")
            .to_owned();
        let mut st = lock(&self.state);
        // An unfinished job with this name is found and transitioned; a finished one is replaced.
        let current = st.statuses.iter().rposition(|(s, n, st)| {
            s == sha && *n == name && matches!(st.as_str(), "pending" | "running")
        });
        if let Some(entry) = current.and_then(|i| st.statuses.get_mut(i)) {
            let from = entry.2.clone();
            if from == state {
                let event = if state == "pending" { "enqueue" } else { "run" };
                return message(
                    400,
                    json!(format!(
                        "Cannot transition status via :{event} from :{from} (Reason(s): Status cannot transition via \"{event}\")"
                    )),
                );
            }
            entry.2 = state.clone();
        } else {
            st.statuses.push((sha.into(), name.clone(), state.clone()));
        }
        drop(st);
        let mut v = self.filler_of("CommitStatus");
        merge(
            &mut v,
            json!({"sha": sha, "status": state, "name": name, "description": body["description"], "target_url": body.get("target_url").cloned().unwrap_or(Value::Null), "author": self.user_json(BOT_ID)}),
        );
        Reply::json(201, v)
    }
}

impl Behaviour for GitLabForge {
    fn route(&self, req: &Request) -> Option<&'static str> {
        let s = req.seg();
        Some(match (req.method.as_str(), s.as_slice()) {
            ("GET", ["projects", _, "merge_requests"]) => "getApiV4ProjectsIdMergeRequests",
            ("POST", ["projects", _, "merge_requests"]) => "postApiV4ProjectsIdMergeRequests",
            ("GET", ["projects", _, "merge_requests", _]) => {
                "getApiV4ProjectsIdMergeRequestsMergeRequestIid"
            }
            ("PUT", ["projects", _, "merge_requests", _]) => {
                "putApiV4ProjectsIdMergeRequestsMergeRequestIid"
            }
            ("POST", ["projects", _, "statuses", _]) => "postApiV4ProjectsIdStatusesSha",
            ("GET", ["users"]) => "getApiV4Users",
            _ => return None,
        })
    }

    fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    fn not_found(&self) -> Reply {
        Reply::json(404, json!({"error": "404 Not Found"}))
    }

    fn handle(&self, op: &'static str, req: &Request) -> Reply {
        let token = req.header("private-token").or_else(|| {
            req.header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
        });
        if !token.is_some_and(|t| lock(&self.state).tokens.iter().any(|k| k == t)) {
            return message(401, json!("401 Unauthorized"));
        }
        let s = req.seg();
        if op != "getApiV4Users"
            && !req.at(1).eq_ignore_ascii_case("acme%2Fgitops")
            && req.at(1) != PROJECT_ID.to_string()
        {
            return message(404, json!("404 Project Not Found"));
        }
        let body = req.body.clone().unwrap_or_default();
        let iid = s.get(3).and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
        match op {
            "getApiV4ProjectsIdMergeRequests" => self.list(req),
            "postApiV4ProjectsIdMergeRequests" => self.create(&body),
            "getApiV4ProjectsIdMergeRequestsMergeRequestIid" => {
                let st = lock(&self.state);
                match usize::try_from(iid - 1)
                    .ok()
                    .and_then(|i| st.mrs.get(i))
                    .cloned()
                {
                    Some(mr) => {
                        drop(st);
                        Reply::json(200, self.mr_json(&mr))
                    }
                    None => message(404, json!("404 Not found")),
                }
            }
            "putApiV4ProjectsIdMergeRequestsMergeRequestIid" => self.update(iid, &body),
            "postApiV4ProjectsIdStatusesSha" => self.status(req.at(3), &body),
            "getApiV4Users" => {
                let users: Vec<Value> = {
                    let st = lock(&self.state);
                    st.users
                        .iter()
                        .filter(|u| {
                            req.q("username")
                                .is_none_or(|n| n.eq_ignore_ascii_case(&u.1))
                        })
                        .map(|u| u.0)
                        .collect::<Vec<_>>()
                }
                .into_iter()
                .map(|id| self.user_json(id))
                .collect();
                Reply::json(200, Value::Array(users))
            }
            _ => self.not_found(),
        }
    }
}
