//! For contract tests only: the JSON Schema of every request body Sealift sends and of every
//! response it reads, per forge operation, generated from the very types serde uses. The tests in
//! `tests/forge/contract.rs` check each against the forge's published API description: every
//! field Sealift reads must be declared there with a compatible type (and, where the description
//! says, be required and non-null), every field it sends must be declared.

use crate::model::ForgeKind;
use crate::{gitea, github, gitlab};
use schemars::{JsonSchema, schema_for};

/// Whether a schema describes what Sealift sends or what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A request body.
    Request,
    /// A response body with this status.
    Response(u16),
}

/// One operation's body as Sealift's types see it.
#[derive(Clone, Debug)]
pub struct WireContract {
    /// The forge.
    pub forge: ForgeKind,
    /// The operation id in the forge's description.
    pub operation: &'static str,
    /// Request or response.
    pub direction: Direction,
    /// JSON Schema (2020-12) of the Rust type.
    pub schema: serde_json::Value,
}

fn c<T: JsonSchema>(
    forge: ForgeKind,
    operation: &'static str,
    direction: Direction,
) -> WireContract {
    WireContract {
        forge,
        operation,
        direction,
        schema: schema_for!(T).to_value(),
    }
}

/// Every body Sealift sends or reads, for `forge`.
pub fn wire_contracts(forge: ForgeKind) -> Vec<WireContract> {
    use Direction::{Request, Response};
    match forge {
        ForgeKind::GitHub => {
            use github::wire::*;
            let f = ForgeKind::GitHub;
            vec![
                c::<Vec<PullSimple>>(f, "pulls/list", Response(200)),
                c::<CreatePull<'static>>(f, "pulls/create", Request),
                c::<Pull>(f, "pulls/create", Response(201)),
                c::<Pull>(f, "pulls/get", Response(200)),
                c::<UpdatePull<'static>>(f, "pulls/update", Request),
                c::<Pull>(f, "pulls/update", Response(200)),
                c::<AddLabels<'static>>(f, "issues/add-labels", Request),
                c::<Vec<Label>>(f, "issues/add-labels", Response(200)),
                c::<RequestReviewers<'static>>(f, "pulls/request-reviewers", Request),
                c::<PullSimple>(f, "pulls/request-reviewers", Response(201)),
                c::<CreateStatus<'static>>(f, "repos/create-commit-status", Request),
                c::<Status>(f, "repos/create-commit-status", Response(201)),
                c::<InstallationToken>(f, "apps/create-installation-access-token", Response(201)),
            ]
        }
        ForgeKind::GitLab => {
            use gitlab::wire::*;
            let f = ForgeKind::GitLab;
            vec![
                c::<Vec<MergeRequest>>(f, "getApiV4ProjectsIdMergeRequests", Response(200)),
                c::<CreateMergeRequest<'static>>(f, "postApiV4ProjectsIdMergeRequests", Request),
                c::<MergeRequest>(f, "postApiV4ProjectsIdMergeRequests", Response(201)),
                c::<MergeRequest>(
                    f,
                    "getApiV4ProjectsIdMergeRequestsMergeRequestIid",
                    Response(200),
                ),
                c::<UpdateMergeRequest<'static>>(
                    f,
                    "putApiV4ProjectsIdMergeRequestsMergeRequestIid",
                    Request,
                ),
                c::<MergeRequest>(
                    f,
                    "putApiV4ProjectsIdMergeRequestsMergeRequestIid",
                    Response(200),
                ),
                c::<Vec<User>>(f, "getApiV4Users", Response(200)),
                c::<CreateStatus<'static>>(f, "postApiV4ProjectsIdStatusesSha", Request),
                c::<Status>(f, "postApiV4ProjectsIdStatusesSha", Response(201)),
            ]
        }
        ForgeKind::Gitea | ForgeKind::Forgejo => {
            use gitea::wire::*;
            vec![
                c::<Pull>(forge, "repoGetPullRequestByBaseHead", Response(200)),
                c::<Vec<Pull>>(forge, "repoListPullRequests", Response(200)),
                c::<CreatePull<'static>>(forge, "repoCreatePullRequest", Request),
                c::<Pull>(forge, "repoCreatePullRequest", Response(201)),
                c::<Pull>(forge, "repoGetPullRequest", Response(200)),
                c::<EditPull<'static>>(forge, "repoEditPullRequest", Request),
                c::<Pull>(forge, "repoEditPullRequest", Response(201)),
                c::<AddLabels<'static>>(forge, "issueAddLabel", Request),
                c::<Vec<Label>>(forge, "issueAddLabel", Response(200)),
                c::<ReviewRequest<'static>>(forge, "repoCreatePullReviewRequests", Request),
                c::<CreateStatus<'static>>(forge, "repoCreateStatus", Request),
                c::<Status>(forge, "repoCreateStatus", Response(201)),
            ]
        }
    }
}
