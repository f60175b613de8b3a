//! The REST endpoints: routing, authentication, the primary rate limit and each operation.

use super::{BOT, GhPull, GhStatus, GitHubForge, Refusal, TEST_MERGE_SHA, sha_for};
use crate::forge::backing::{self, MergeFailure, MergeMethod, MergeSpec};
use crate::forge::lock;
use crate::forge::rfc3339;
use crate::forge::schema::merge;
use crate::forge::server::{Behaviour, Reply, Request};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

fn validation_failed(errors: Value, docs: &str) -> Reply {
    Reply::json(
        422,
        json!({"message": "Validation Failed", "errors": errors, "documentation_url": docs, "status": "422"}),
    )
}

const CREATE_DOCS: &str = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request";

/// The body of `PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge`.
#[derive(Debug, Default)]
pub(super) struct MergeParams {
    commit_title: Option<String>,
    commit_message: Option<String>,
    sha: Option<String>,
    method: Option<String>,
}

impl MergeParams {
    fn from_body(body: &Value) -> Self {
        let text = |k: &str| body[k].as_str().map(str::to_owned);
        Self {
            commit_title: text("commit_title"),
            commit_message: text("commit_message"),
            sha: text("sha"),
            method: text("merge_method"),
        }
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
            ("GET", ["repos", _, _, "pulls", _, "merge"]) => "pulls/check-if-merged",
            ("PUT", ["repos", _, _, "pulls", _, "merge"]) => "pulls/merge",
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

    fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    fn handle(&self, op: &'static str, req: &Request) -> Reply {
        // The primary rate limit: a quota per credential and hour, reported on every answer;
        // once spent, a 403 until the reset time.
        let now = self.clock.unix_now();
        let spent = {
            let mut st = lock(&self.state);
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
            lock(&self.state).remaining -= 1;
            reply
        };
        let st = lock(&self.state);
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
    fn authenticate(&self, req: &Request) -> Result<(), Reply> {
        let now = self.clock.unix_now();
        let header = req.header("authorization").unwrap_or_default();
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("token "))
            .unwrap_or_default();
        let st = lock(&self.state);
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
        let mut st = lock(&self.state);
        let Some(app) = st.app.as_ref() else {
            return error(404, "Not Found");
        };
        if req.at(2) != app.installation_id.to_string() {
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
        let signed = format!(
            "{}.{}",
            parts.first().unwrap_or(&""),
            parts.get(1).unwrap_or(&"")
        );
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
        let mut v = self.filler("installation-token", &[]);
        merge(
            &mut v,
            json!({"token": token, "expires_at": rfc3339(expires)}),
        );
        Reply::json(201, v)
    }

    fn list(&self, req: &Request) -> Reply {
        let state = req.q("state").unwrap_or("open");
        // The quirk: without `owner:` the head filter is ignored entirely.
        let head = req.q("head").and_then(|h| h.split_once(':'));
        let mut pulls: Vec<GhPull> = lock(&self.state)
            .pulls
            .iter()
            .filter(|p| state == "all" || p.state == state)
            .filter(|p| {
                head.is_none_or(|(o, b)| o.eq_ignore_ascii_case(&p.head_owner) && b == p.head)
            })
            .filter(|p| req.q("base").is_none_or(|b| b == p.base))
            .cloned()
            .collect();
        pulls.reverse(); // newest first, GitHub's default sort
        let per_page = req
            .q("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30usize)
            .clamp(1, 100);
        let page = req
            .q("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let total_pages = pulls.len().div_ceil(per_page).max(1);
        let items: Vec<Value> = pulls
            .iter()
            .skip((page - 1).saturating_mul(per_page))
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
                    "<{}/repos/{}/{}/pulls?{}&page={p}>",
                    self.origin(),
                    self.owner,
                    self.repo,
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

    /// With a backing repository: both branches must exist, and the head must have commits the
    /// base lacks — GitHub's own 422s. Returns the head tip.
    fn check_branches(&self, head: &str, base: &str) -> Result<Option<String>, Reply> {
        let Some(path) = &self.backing else {
            return Ok(None);
        };
        let invalid = |field: &str| {
            validation_failed(
                json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]),
                CREATE_DOCS,
            )
        };
        match backing::has_commits_beyond(path, base, head) {
            Ok(true) => Ok(self.tip(head)),
            Ok(false) => Err(validation_failed(
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("No commits between {base} and {head}")}]),
                CREATE_DOCS,
            )),
            Err(MergeFailure::BranchMissing(b)) if b == base => Err(invalid("base")),
            Err(MergeFailure::BranchMissing(_)) => Err(invalid("head")),
            Err(e) => Err(error(500, &e.to_string())),
        }
    }

    fn create(&self, req: &Request) -> Reply {
        let body = req.body.clone().unwrap_or_default();
        let (head, base) = (
            body["head"].as_str().unwrap_or_default(),
            body["base"].as_str().unwrap_or_default(),
        );
        let (head_owner, head_branch) = head.split_once(':').unwrap_or((&self.owner, head));
        let duplicate = lock(&self.state).pulls.iter().any(|p| {
            p.state == "open"
                && p.head == head_branch
                && p.base == base
                && p.head_owner == head_owner
        });
        if duplicate {
            return validation_failed(
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {head_owner}:{head_branch}.")}]),
                CREATE_DOCS,
            );
        }
        let head_sha = match self.check_branches(head_branch, base) {
            Ok(tip) => tip,
            Err(reply) => return reply,
        };
        let mut st = lock(&self.state);
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
            head_sha: head_sha.unwrap_or_else(|| sha_for(number, "head")),
            labels: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            draft: body["draft"].as_bool().unwrap_or(false),
            author: BOT.into(),
            merged_at: None,
            closed_at: None,
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
        let Some(i) = req
            .segments
            .get(index)
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
        else {
            return error(404, "Not Found");
        };
        let Some(before) = lock(&self.state).pulls.get(i).cloned() else {
            return error(404, "Not Found");
        };
        // `f` runs unlocked (rendering asks the backing repository, which is slow); write back
        // only what it changed, so a read never undoes a merge that happened meanwhile.
        let mut pull = before.clone();
        let reply = f(self, &mut pull);
        if pull != before
            && let Some(slot) = lock(&self.state).pulls.get_mut(i)
        {
            *slot = pull;
        }
        reply
    }

    /// Merges `#number`: a real merge in the backing repository, or a made-up commit id.
    pub(super) fn merge_with(&self, number: i64, params: &MergeParams) -> Result<String, Refusal> {
        let method = match params.method.as_deref() {
            None | Some("merge") => MergeMethod::Merge,
            Some("squash") => MergeMethod::Squash,
            Some(_) => {
                return Err(Refusal::new(
                    405,
                    "Rebase merges are not allowed on this repository.",
                ));
            }
        };
        let now = self.clock.unix_now();
        // The state stays locked through the merge: two merges of one pull request serialize.
        let mut st = lock(&self.state);
        let pull = usize::try_from(number - 1)
            .ok()
            .and_then(|i| st.pulls.get_mut(i))
            .ok_or_else(Refusal::not_found)?;
        if pull.state != "open" {
            return Err(Refusal::new(405, "Pull Request is not mergeable"));
        }
        let (sha, head_sha) = match &self.backing {
            Some(path) => {
                let title = params.commit_title.clone().unwrap_or_else(|| match method {
                    MergeMethod::Merge => format!(
                        "Merge pull request #{number} from {}/{}",
                        pull.head_owner, pull.head
                    ),
                    MergeMethod::Squash => format!("{} (#{number})", pull.title),
                });
                let detail = params
                    .commit_message
                    .clone()
                    .unwrap_or_else(|| pull.title.clone());
                let message = format!("{title}\n\n{detail}\n");
                let spec = MergeSpec {
                    base: &pull.base,
                    head: &pull.head,
                    expected_head: params.sha.as_deref(),
                    method,
                    message: &message,
                    author: "GitHub",
                    email: "noreply@github.com",
                    when: now,
                };
                backing::merge(path, &spec).map_err(|e| match e {
                    MergeFailure::HeadModified => Refusal::new(
                        409,
                        "Head branch was modified. Review and try the merge again.",
                    ),
                    MergeFailure::BaseModified => Refusal::new(
                        409,
                        "Base branch was modified. Review and try the merge again.",
                    ),
                    MergeFailure::Conflict(_) | MergeFailure::BranchMissing(_) => {
                        Refusal::new(405, "Pull Request is not mergeable")
                    }
                    MergeFailure::Git(e) => Refusal::new(500, e.to_string()),
                })?
            }
            None => {
                if params.sha.as_ref().is_some_and(|s| *s != pull.head_sha) {
                    return Err(Refusal::new(
                        409,
                        "Head branch was modified. Review and try the merge again.",
                    ));
                }
                (sha_for(number, "merge"), pull.head_sha.clone())
            }
        };
        pull.state = "closed".into();
        pull.merged = true;
        pull.merge_sha = Some(sha.clone());
        pull.head_sha = head_sha;
        pull.merged_at = Some(now);
        pull.closed_at = Some(now);
        Ok(sha)
    }

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
        if !(req.at(1).eq_ignore_ascii_case(&self.owner)
            && req.at(2).eq_ignore_ascii_case(&self.repo))
        {
            return error(404, "Not Found");
        }
        let body = req.body.clone().unwrap_or_default();
        match op {
            "pulls/list" => self.list(req),
            "pulls/create" => self.create(req),
            "pulls/get" => self.with_pull(req, 4, |me, p| Reply::json(200, me.pull_json(p, false))),
            "pulls/update" => {
                let now = self.clock.unix_now();
                self.with_pull(req, 4, |me, p| {
                    if let Some(t) = body["title"].as_str() {
                        p.title = t.into();
                    }
                    if let Some(b) = body["body"].as_str() {
                        p.body = b.into();
                    }
                    match body["state"].as_str() {
                        Some("closed") if p.state != "closed" => {
                            p.state = "closed".into();
                            p.closed_at = Some(now);
                        }
                        Some("open") if !p.merged => {
                            p.state = "open".into();
                            p.closed_at = None;
                        }
                        _ => {}
                    }
                    Reply::json(200, me.pull_json(p, false))
                })
            }
            "pulls/check-if-merged" => self.with_pull(req, 4, |_, p| {
                if p.merged {
                    Reply::empty(204)
                } else {
                    error(404, "Not Found")
                }
            }),
            "pulls/merge" => {
                let Some(number) = req.at(4).parse::<i64>().ok() else {
                    return error(404, "Not Found");
                };
                match self.merge_with(number, &MergeParams::from_body(&body)) {
                    Ok(sha) => Reply::json(
                        200,
                        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
                    ),
                    Err(refusal) => error(refusal.status, &refusal.message),
                }
            }
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
                // Needs `reviewers` or `team_reviewers`: docs.github.com/rest/pulls/review-requests
                if body.get("reviewers").is_none() && body.get("team_reviewers").is_none() {
                    self.problem(
                        "pulls/request-reviewers: the body has neither `reviewers` nor \
                         `team_reviewers`; GitHub requires one"
                            .to_owned(),
                    );
                }
                let collaborators = lock(&self.state).collaborators.clone();
                self.with_pull(req, 4, |me, p| {
                    let users: Vec<String> = body["reviewers"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                    if users.contains(&p.author) {
                        return error(422, "Review cannot be requested from pull request author.");
                    }
                    if users.iter().any(|u| !collaborators.contains(u)) {
                        return error(422, &format!("Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {}/{} repository.", me.owner, me.repo));
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
            "repos/create-commit-status" => self.create_status(req.at(4), &body),
            _ => error(404, "Not Found"),
        }
    }

    fn create_status(&self, sha: &str, body: &Value) -> Reply {
        let mut v = self.filler("status", &[]);
        merge(
            &mut v,
            json!({
                "state": body["state"], "context": body["context"], "description": body["description"],
                "target_url": body.get("target_url").cloned().unwrap_or(Value::Null),
                "creator": self.user(BOT),
            }),
        );
        let text = |k: &str| body[k].as_str().map(str::to_owned);
        lock(&self.state).statuses.push(GhStatus {
            sha: sha.to_owned(),
            state: text("state").unwrap_or_default(),
            context: text("context").unwrap_or_else(|| "default".into()),
            description: text("description"),
            target_url: text("target_url"),
            body: body.clone(),
        });
        Reply::json(201, v)
    }
}
