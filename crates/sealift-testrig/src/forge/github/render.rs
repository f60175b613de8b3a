//! The JSON GitHub answers with: the description's minimal instance of each component, with the
//! fields Sealift reads filled in from the stand-in's state.

use super::{GhPull, GitHubForge};
use crate::forge::rfc3339;
use crate::forge::schema::merge;
use serde_json::{Value, json};

impl GitHubForge {
    pub(super) fn user(&self, login: &str) -> Value {
        let mut u = self.filler("simple-user", &[]);
        merge(
            &mut u,
            json!({"login": login, "type": "User", "html_url": format!("{}/{login}", self.origin())}),
        );
        u
    }

    fn repo_json(&self) -> Value {
        let mut r = self.filler("repository", &[]);
        merge(
            &mut r,
            json!({"name": self.repo, "full_name": format!("{}/{}", self.owner, self.repo), "owner": self.user(&self.owner)}),
        );
        r
    }

    /// `head` / `base`: with a backing repository the shas are the live branch tips while the
    /// pull request is open (a push moves `head.sha`, as on GitHub).
    fn branch(&self, p: &GhPull, head: bool) -> Value {
        let open = p.state == "open";
        let (reference, sha) = if head {
            let live = if open { self.tip(&p.head) } else { None };
            (&p.head, live.unwrap_or_else(|| p.head_sha.clone()))
        } else {
            let live = self.tip(&p.base);
            (&p.base, live.unwrap_or_else(|| super::sha_for(0, "base")))
        };
        json!({"label": format!("{}:{reference}", p.head_owner), "ref": reference, "sha": sha,
               "repo": self.repo_json(), "user": self.user(&p.head_owner)})
    }

    /// Labels as embedded in `component` (`pull-request`, `pull-request-simple`), or as the
    /// `label` objects the issues API returns (`None`): the shapes differ.
    pub(super) fn labels_json(&self, names: &[String], component: Option<&str>) -> Vec<Value> {
        names
            .iter()
            .map(|name| {
                let mut l = match component {
                    Some(c) => self.filler(c, &["labels", "items"]),
                    None => self.filler("label", &[]),
                };
                merge(&mut l, json!({"name": name, "color": "ededed"}));
                l
            })
            .collect()
    }

    /// Whether GitHub would call an open pull request mergeable: with a backing repository, a
    /// trial merge decides.
    fn mergeable(&self, p: &GhPull) -> bool {
        if p.state == "closed" {
            return false;
        }
        let Some(path) = &self.backing else {
            return true;
        };
        crate::forge::backing::mergeable(path, &p.base, &p.head).unwrap_or(false)
    }

    pub(super) fn pull_json(&self, p: &GhPull, simple: bool) -> Value {
        let component = if simple {
            "pull-request-simple"
        } else {
            "pull-request"
        };
        let mut v = self.filler(component, &[]);
        // A state set directly by a test has no time: it happened now.
        let now = self.clock.unix_now();
        let time = |happened: bool, t: Option<i64>| {
            if happened {
                json!(rfc3339(t.unwrap_or(now)))
            } else {
                Value::Null
            }
        };
        merge(
            &mut v,
            json!({
                "number": p.number,
                "state": p.state,
                "title": p.title,
                "body": if p.body.is_empty() { Value::Null } else { json!(p.body) },
                "draft": p.draft,
                "locked": false,
                "html_url": format!("{}/{}/{}/pull/{}", self.origin(), self.owner, self.repo, p.number),
                "merged_at": time(p.merged, p.merged_at),
                "closed_at": time(p.state == "closed", p.closed_at),
                "merge_commit_sha": p.merge_sha,
                "head": self.branch(p, true),
                "base": self.branch(p, false),
                "labels": self.labels_json(&p.labels, Some(component)),
                "requested_reviewers": p.reviewers.iter().map(|r| self.user(r)).collect::<Vec<_>>(),
                "requested_teams": p.teams.iter().map(|t| {
                    let mut team = self.filler(component, &["requested_teams", "items"]);
                    merge(&mut team, json!({"slug": t, "name": t}));
                    team
                }).collect::<Vec<_>>(),
                "user": self.user(&p.author),
            }),
        );
        if !simple {
            merge(
                &mut v,
                json!({"merged": p.merged, "mergeable": self.mergeable(p)}),
            );
        }
        v
    }
}
