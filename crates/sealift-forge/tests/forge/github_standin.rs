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

use super::schema::merge;
use super::server::{Behaviour, Reply, Request};
use super::spec::Spec;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sealift_forge::Clock;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};

pub const OWNER: &str = "acme";
pub const REPO: &str = "gitops";
/// The account Sealift's token belongs to (the author of what it opens).
pub const BOT: &str = "sealift-bot";
/// What GitHub reports as `merge_commit_sha` of an open pull request: its test merge commit.
pub const TEST_MERGE_SHA: &str = "e5bd3914e2e596debea16f433f57875b5b90bcd6";

#[derive(Clone, Debug)]
pub struct GhPull {
    pub number: i64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub head_owner: String,
    pub base: String,
    pub state: String,
    pub merged: bool,
    pub merge_sha: Option<String>,
    pub head_sha: String,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub teams: Vec<String>,
    pub draft: bool,
    pub author: String,
}

pub struct AppSetup {
    pub app_id: String,
    pub installation_id: u64,
    pub public_key: Vec<u8>,
    pub token_ttl_secs: i64,
}

#[derive(Default)]
pub struct GhState {
    pub pulls: Vec<GhPull>,
    /// Accepted tokens and their expiry (Unix seconds), if any.
    pub tokens: Vec<(String, Option<i64>)>,
    pub app: Option<AppSetup>,
    pub minted: Vec<String>,
    pub collaborators: Vec<String>,
    pub statuses: Vec<Value>,
    pub limit: i64,
    pub remaining: i64,
    /// When the quota resets (Unix seconds).
    pub reset_at: i64,
}

pub struct GitHubForge {
    spec: Arc<Spec>,
    clock: Arc<dyn Clock>,
    pub state: Mutex<GhState>,
    origin: OnceLock<String>,
}

fn sha_for(n: i64, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(format!("{salt}{n}"))[..20])
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

impl GitHubForge {
    pub fn new(spec: Arc<Spec>, clock: Arc<dyn Clock>, token: &str) -> Self {
        let reset_at = clock.unix_now() + 3600;
        Self {
            spec,
            clock,
            state: Mutex::new(GhState {
                tokens: vec![(token.to_owned(), None)],
                collaborators: vec!["alice".into(), "bob".into()],
                limit: 5000,
                remaining: 5000,
                reset_at,
                ..GhState::default()
            }),
            origin: OnceLock::new(),
        }
    }

    pub fn set_origin(&self, origin: &str) {
        let _ = self.origin.set(origin.to_owned());
    }

    fn origin(&self) -> &str {
        self.origin
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Opens a pull request directly (someone else's, or Sealift's from an earlier run).
    pub fn add_pull(&self, head: &str, base: &str, author: &str) -> i64 {
        let mut st = self.state.lock().unwrap();
        let number = st.pulls.len() as i64 + 1;
        st.pulls.push(GhPull {
            number,
            title: format!("Change {head}"),
            body: String::new(),
            head: head.into(),
            head_owner: OWNER.into(),
            base: base.into(),
            state: "open".into(),
            merged: false,
            merge_sha: Some(TEST_MERGE_SHA.into()),
            head_sha: sha_for(number, "head"),
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            draft: false,
            author: author.into(),
        });
        number
    }

    /// The JSON GitHub would return for pull request `number`.
    pub fn pull_json_of(&self, number: i64, simple: bool) -> Value {
        let pull = self.pull(number);
        self.pull_json(&pull, simple)
    }

    pub fn pull(&self, number: i64) -> GhPull {
        self.state.lock().unwrap().pulls[(number - 1) as usize].clone()
    }

    pub fn merge(&self, number: i64) -> String {
        let sha = sha_for(number, "merge");
        let mut st = self.state.lock().unwrap();
        let p = &mut st.pulls[(number - 1) as usize];
        p.state = "closed".into();
        p.merged = true;
        p.merge_sha = Some(sha.clone());
        sha
    }

    fn user(&self, login: &str) -> Value {
        let mut u = self.spec.filler_of("simple-user");
        merge(
            &mut u,
            json!({"login": login, "type": "User", "html_url": format!("{}/{login}", self.origin())}),
        );
        u
    }

    fn repo_json(&self) -> Value {
        let mut r = self.spec.filler_of("repository");
        merge(
            &mut r,
            json!({"name": REPO, "full_name": format!("{OWNER}/{REPO}"), "owner": self.user(OWNER)}),
        );
        r
    }

    fn branch(&self, p: &GhPull, head: bool) -> Value {
        let (reference, sha) = if head {
            (&p.head, p.head_sha.clone())
        } else {
            (&p.base, sha_for(0, "base"))
        };
        json!({"label": format!("{}:{reference}", p.head_owner), "ref": reference, "sha": sha,
               "repo": self.repo_json(), "user": self.user(&p.head_owner)})
    }

    /// Labels as embedded in `component` (`pull-request`, `pull-request-simple`), or as the
    /// `label` objects the issues API returns (`None`): the shapes differ.
    fn labels_json(&self, names: &[String], component: Option<&str>) -> Vec<Value> {
        names
            .iter()
            .map(|name| {
                let mut l = match component {
                    Some(c) => self.spec.filler_at(c, &["labels", "items"]),
                    None => self.spec.filler_of("label"),
                };
                merge(&mut l, json!({"name": name, "color": "ededed"}));
                l
            })
            .collect()
    }

    fn pull_json(&self, p: &GhPull, simple: bool) -> Value {
        let component = if simple {
            "pull-request-simple"
        } else {
            "pull-request"
        };
        let mut v = self.spec.filler_of(component);
        let closed = p.state == "closed";
        merge(
            &mut v,
            json!({
                "number": p.number,
                "state": p.state,
                "title": p.title,
                "body": if p.body.is_empty() { Value::Null } else { json!(p.body) },
                "draft": p.draft,
                "locked": false,
                "html_url": format!("{}/{OWNER}/{REPO}/pull/{}", self.origin(), p.number),
                "merged_at": if p.merged { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "closed_at": if closed { json!("2024-05-02T10:00:00Z") } else { Value::Null },
                "merge_commit_sha": p.merge_sha,
                "head": self.branch(p, true),
                "base": self.branch(p, false),
                "labels": self.labels_json(&p.labels, Some(component)),
                "requested_reviewers": p.reviewers.iter().map(|r| self.user(r)).collect::<Vec<_>>(),
                "requested_teams": p.teams.iter().map(|t| {
                    let mut team = self.spec.filler_at(component, &["requested_teams", "items"]);
                    merge(&mut team, json!({"slug": t, "name": t}));
                    team
                }).collect::<Vec<_>>(),
                "user": self.user(&p.author),
            }),
        );
        if !simple {
            merge(&mut v, json!({"merged": p.merged, "mergeable": !closed}));
        }
        v
    }

    fn authenticate(&self, req: &Request) -> Result<(), Reply> {
        let now = self.clock.unix_now();
        let header = req.header("authorization").unwrap_or_default();
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("token "))
            .unwrap_or_default();
        let st = self.state.lock().unwrap();
        let valid = st
            .tokens
            .iter()
            .any(|(t, exp)| t == token && exp.is_none_or(|e| e > now));
        if valid {
            Ok(())
        } else {
            Err(error(401, "Bad credentials"))
        }
    }

    fn mint(&self, req: &Request) -> Reply {
        let now = self.clock.unix_now();
        let header = req.header("authorization").unwrap_or_default();
        let Some(jwt) = header.strip_prefix("Bearer ") else {
            return error(401, "A JSON web token could not be decoded");
        };
        let mut st = self.state.lock().unwrap();
        let Some(app) = st.app.as_ref() else {
            return error(404, "Not Found");
        };
        if req.segments[2] != app.installation_id.to_string() {
            return error(404, "Not Found");
        }
        let parts: Vec<&str> = jwt.split('.').collect();
        let decoded = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
        let (Some(header_json), Some(claims), Some(sig)) = (
            parts.first().and_then(|p| decoded(p)),
            parts.get(1).and_then(|p| decoded(p)),
            parts.get(2).and_then(|p| decoded(p)),
        ) else {
            return error(401, "A JSON web token could not be decoded");
        };
        let header_json: Value = serde_json::from_slice(&header_json).unwrap_or_default();
        let claims: Value = serde_json::from_slice(&claims).unwrap_or_default();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &app.public_key);
        if header_json["alg"] != "RS256" || key.verify(signed.as_bytes(), &sig).is_err() {
            return error(401, "A JSON web token could not be decoded");
        }
        // GitHub accepts the app id as a string or a number.
        let iss_ok = claims["iss"].as_str() == Some(app.app_id.as_str())
            || claims["iss"].as_i64().map(|n| n.to_string()).as_deref()
                == Some(app.app_id.as_str());
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        if !iss_ok {
            return error(401, "'Issuer' claim ('iss') must be an Integer");
        }
        if iat > now + 60 {
            return error(
                401,
                "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
            );
        }
        if exp <= now || exp - now > 600 {
            return error(
                401,
                "'Expiration time' claim ('exp') is too far in the future",
            );
        }
        let token = format!("ghs_installation{}x{}", st.minted.len() + 1, now);
        let expires = now + app.token_ttl_secs;
        st.tokens.push((token.clone(), Some(expires)));
        st.minted.push(token.clone());
        drop(st);
        let mut v = self.spec.filler_of("installation-token");
        let at = chrono::DateTime::from_timestamp(expires, 0).unwrap();
        merge(
            &mut v,
            json!({"token": token, "expires_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
        );
        Reply::json(201, v)
    }

    fn list(&self, req: &Request) -> Reply {
        let st = self.state.lock().unwrap();
        let state = req.q("state").unwrap_or("open");
        // The quirk: without `owner:` the head filter is ignored entirely.
        let head = req.q("head").and_then(|h| h.split_once(':'));
        let mut pulls: Vec<&GhPull> = st
            .pulls
            .iter()
            .filter(|p| state == "all" || p.state == state)
            .filter(|p| {
                head.is_none_or(|(o, b)| o.eq_ignore_ascii_case(&p.head_owner) && b == p.head)
            })
            .filter(|p| req.q("base").is_none_or(|b| b == p.base))
            .collect();
        pulls.reverse(); // newest first, GitHub's default sort
        let per_page = req
            .q("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30usize)
            .min(100);
        let page = req
            .q("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let total_pages = pulls.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = pulls
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|p| self.pull_json(p, true))
            .collect();
        let mut reply = Reply::json(200, Value::Array(items));
        if page < total_pages {
            let base: Vec<String> = req
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let link = |p: usize| {
                format!(
                    "<{}/repos/{OWNER}/{REPO}/pulls?{}&page={p}>",
                    self.origin(),
                    base.join("&")
                )
            };
            reply = reply.header(
                "link",
                format!(
                    "{}; rel=\"next\", {}; rel=\"last\"",
                    link(page + 1),
                    link(total_pages)
                ),
            );
        }
        reply
    }

    fn create(&self, req: &Request) -> Reply {
        let body = req.body.clone().unwrap_or_default();
        let (head, base) = (
            body["head"].as_str().unwrap_or_default(),
            body["base"].as_str().unwrap_or_default(),
        );
        let (head_owner, head_branch) = head.split_once(':').unwrap_or((OWNER, head));
        let mut st = self.state.lock().unwrap();
        if st.pulls.iter().any(|p| {
            p.state == "open"
                && p.head == head_branch
                && p.base == base
                && p.head_owner == head_owner
        }) {
            return Reply::json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {head_owner}:{head_branch}.")}],
                    "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                    "status": "422"
                }),
            );
        }
        let number = st.pulls.len() as i64 + 1;
        let pull = GhPull {
            number,
            title: body["title"].as_str().unwrap_or_default().into(),
            body: body["body"].as_str().unwrap_or_default().into(),
            head: head_branch.into(),
            head_owner: head_owner.into(),
            base: base.into(),
            state: "open".into(),
            merged: false,
            merge_sha: Some(TEST_MERGE_SHA.into()),
            head_sha: sha_for(number, "head"),
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            draft: body["draft"].as_bool().unwrap_or(false),
            author: BOT.into(),
        };
        st.pulls.push(pull.clone());
        drop(st);
        Reply::json(201, self.pull_json(&pull, false))
    }

    fn with_pull(
        &self,
        req: &Request,
        index: usize,
        f: impl FnOnce(&Self, &mut GhPull) -> Reply,
    ) -> Reply {
        let Some(n) = req
            .segments
            .get(index)
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return error(404, "Not Found");
        };
        let mut pull = {
            let st = self.state.lock().unwrap();
            match st.pulls.get(n.wrapping_sub(1)) {
                Some(p) => p.clone(),
                None => return error(404, "Not Found"),
            }
        };
        let reply = f(self, &mut pull);
        self.state.lock().unwrap().pulls[n - 1] = pull;
        reply
    }
}

impl Behaviour for GitHubForge {
    fn route(&self, req: &Request) -> Option<&'static str> {
        let s = req.seg();
        Some(match (req.method.as_str(), s.as_slice()) {
            ("POST", ["app", "installations", _, "access_tokens"]) => {
                "apps/create-installation-access-token"
            }
            ("GET", ["repos", _, _, "pulls"]) => "pulls/list",
            ("POST", ["repos", _, _, "pulls"]) => "pulls/create",
            ("GET", ["repos", _, _, "pulls", _]) => "pulls/get",
            ("PATCH", ["repos", _, _, "pulls", _]) => "pulls/update",
            ("POST", ["repos", _, _, "pulls", _, "requested_reviewers"]) => {
                "pulls/request-reviewers"
            }
            ("POST", ["repos", _, _, "issues", _, "labels"]) => "issues/add-labels",
            ("POST", ["repos", _, _, "statuses", _]) => "repos/create-commit-status",
            _ => return None,
        })
    }

    fn not_found(&self) -> Reply {
        error(404, "Not Found")
    }

    fn handle(&self, op: &'static str, req: &Request) -> Reply {
        // The primary rate limit: a quota per credential and hour, reported on every answer;
        // once spent, a 403 until the reset time.
        let now = self.clock.unix_now();
        let spent = {
            let mut st = self.state.lock().unwrap();
            if now >= st.reset_at {
                st.remaining = st.limit;
                st.reset_at = now + 3600;
            }
            st.remaining <= 0
        };
        let reply = if spent && op != "apps/create-installation-access-token" {
            error(403, "API rate limit exceeded for user ID 1.")
        } else {
            let reply = self.handle_inner(op, req);
            self.state.lock().unwrap().remaining -= 1;
            reply
        };
        let st = self.state.lock().unwrap();
        reply
            .header("x-ratelimit-limit", st.limit.to_string())
            .header("x-ratelimit-remaining", st.remaining.max(0).to_string())
            .header("x-ratelimit-reset", st.reset_at.to_string())
            .header(
                "x-ratelimit-used",
                (st.limit - st.remaining.max(0)).to_string(),
            )
            .header("x-ratelimit-resource", "core")
    }
}

impl GitHubForge {
    fn handle_inner(&self, op: &'static str, req: &Request) -> Reply {
        if req.header("user-agent").is_none_or(str::is_empty) {
            return error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
            );
        }
        if op == "apps/create-installation-access-token" {
            return self.mint(req);
        }
        if let Err(reply) = self.authenticate(req) {
            return reply;
        }
        let s = req.seg();
        if !(s[1].eq_ignore_ascii_case(OWNER) && s[2].eq_ignore_ascii_case(REPO)) {
            return error(404, "Not Found");
        }
        let body = req.body.clone().unwrap_or_default();
        match op {
            "pulls/list" => self.list(req),
            "pulls/create" => self.create(req),
            "pulls/get" => self.with_pull(req, 4, |me, p| Reply::json(200, me.pull_json(p, false))),
            "pulls/update" => self.with_pull(req, 4, |me, p| {
                if let Some(t) = body["title"].as_str() {
                    p.title = t.into();
                }
                if let Some(b) = body["body"].as_str() {
                    p.body = b.into();
                }
                if let Some(state) = body["state"].as_str() {
                    p.state = state.into();
                }
                Reply::json(200, me.pull_json(p, false))
            }),
            "issues/add-labels" => self.with_pull(req, 4, |me, p| {
                let names = body.get("labels").unwrap_or(&body);
                for name in names
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !p.labels.iter().any(|l| l == name) {
                        p.labels.push(name.into());
                    }
                }
                Reply::json(200, Value::Array(me.labels_json(&p.labels, None)))
            }),
            "pulls/request-reviewers" => {
                let collaborators = self.state.lock().unwrap().collaborators.clone();
                self.with_pull(req, 4, |me, p| {
                    let users: Vec<String> = body["reviewers"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                    if users.contains(&p.author) {
                        return error(422, "Review cannot be requested from pull request author.");
                    }
                    if users.iter().any(|u| !collaborators.contains(u)) {
                        return error(422, &format!("Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {OWNER}/{REPO} repository."));
                    }
                    p.reviewers.extend(users.into_iter().filter(|u| !p.reviewers.contains(u)).collect::<Vec<_>>());
                    for t in body["team_reviewers"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if !p.teams.iter().any(|x| x == t) {
                            p.teams.push(t.into());
                        }
                    }
                    Reply::json(201, me.pull_json(p, true))
                })
            }
            "repos/create-commit-status" => {
                let mut v = self.spec.filler_of("status");
                merge(
                    &mut v,
                    json!({
                        "state": body["state"], "context": body["context"], "description": body["description"],
                        "target_url": body.get("target_url").cloned().unwrap_or(Value::Null),
                        "creator": self.user(BOT),
                    }),
                );
                let mut record = body.clone();
                record["sha"] = json!(s[4]);
                self.state.lock().unwrap().statuses.push(record);
                Reply::json(201, v)
            }
            _ => error(404, "Not Found"),
        }
    }
}
