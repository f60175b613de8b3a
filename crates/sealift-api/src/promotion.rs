//! The `Promotion` custom resource: one request to move images from one overlay to another.

use crate::evidence::Evidence;
use crate::validation::{
    API_URL_RE, BRANCH_RE, IMAGE_SELECTOR_RE, NAME_RE, REPOSITORY_URL_RE, ValidationErrors,
    is_repo_path,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a platform team asks for: promote the digests pinned in one kustomize overlay into another
/// overlay of the same Git repository, after proving them against a trust policy.
///
/// The spec is immutable once created; to promote again, create a new Promotion.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sealift.dev",
    version = "v1alpha1",
    kind = "Promotion",
    doc = "A request to promote the image digests pinned in one kustomize overlay into another, after verifying them against a trust policy.",
    plural = "promotions",
    singular = "promotion",
    shortname = "promo",
    category = "sealift",
    namespaced,
    status = "PromotionStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.from"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".spec.to"}"#,
    printcolumn = r#"{"name":"Pull Request","type":"string","jsonPath":".status.pullRequest.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend(
    "x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "spec is immutable: create a new Promotion instead"},
        {"rule": "self.from != self.to", "message": "from and to must be different overlays"}
    ],
    "oneOf" = [{"required": ["pullRequest"]}, {"required": ["push"]}]
))]
pub struct PromotionSpec {
    /// The Git repository that holds both overlays.
    pub repository: Repository,

    /// Path of the source overlay inside the repository (e.g. `overlays/staging`). The digests to
    /// promote are read from its kustomization at the head of `repository.branch`: Sealift promotes
    /// exactly what this environment runs. Relative, without `.` or `..` segments.
    #[schemars(length(min = 1, max = 1024), regex(pattern = crate::validation::PATH_PATTERN))]
    pub from: String,

    /// Path of the target overlay inside the repository (e.g. `overlays/prod`). Only the `images:`
    /// entries being promoted are changed in its kustomization. Relative, without `.` or `..`
    /// segments, and different from `from`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = crate::validation::PATH_PATTERN))]
    pub to: String,

    /// Kustomize image names to promote (the `name` of an `images:` entry, e.g.
    /// `bookstore/catalog`). Append `@sha256:<hex>` to an entry to promote only if the source
    /// overlay pins exactly that digest. Empty means every digest-pinned image of `from`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), extend("x-kubernetes-list-type" = "set"))]
    pub images: Vec<ImageSelector>,

    /// The trust policy every promoted digest must satisfy. No matching policy, no promotion.
    pub policy_ref: PolicyRef,

    /// Open a pull request for the change (the normal case: a human approves the promotion).
    /// Exactly one of `pullRequest` and `push` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestSpec>,

    /// `direct`: commit straight to `repository.branch` without a pull request, for environments
    /// that need no review (e.g. dev). Exactly one of `pullRequest` and `push` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushMode>,
}

/// A kustomize image name, optionally with `@sha256:<hex>` asserting the digest to promote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ImageSelector(
    #[schemars(length(min = 1, max = 512), regex(pattern = crate::validation::IMAGE_SELECTOR_PATTERN))]
    pub String,
);

impl ImageSelector {
    /// The kustomize image name, without any digest assertion.
    pub fn name(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(self.0.as_str(), |(name, _)| name)
    }

    /// The digest the source overlay must pin, when the selector asserts one.
    pub fn expected_digest(&self) -> Option<&str> {
        self.0.split_once('@').map(|(_, digest)| digest)
    }
}

impl From<&str> for ImageSelector {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Where the overlays live and how to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Repository {
    /// Clone URL: `https://…`, `ssh://…` or `git@host:path`. Never put credentials in the URL;
    /// reference a Secret with `secretRef`.
    #[schemars(length(min = 1, max = 2048), regex(pattern = crate::validation::REPOSITORY_URL_PATTERN))]
    pub url: String,

    /// The base branch: overlays are read from its head and the pull request targets it.
    #[serde(default = "default_branch")]
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::validation::BRANCH_PATTERN))]
    pub branch: String,

    /// Secret in the Promotion's namespace with the Git credentials: `username` + `password` (or
    /// `token`) for HTTPS; `sshPrivateKey` and `knownHosts` for SSH. Omit for anonymous access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}

fn default_branch() -> String {
    "main".to_owned()
}

/// A Secret in the same namespace as the referring object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretReference {
    /// Name of the Secret. Secrets are only ever read from the referring object's own namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::validation::NAME_PATTERN))]
    pub name: String,
}

/// Which trust policy applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRef {
    /// `TrustPolicy` (in the Promotion's namespace) or `ClusterTrustPolicy`.
    #[serde(default)]
    pub kind: PolicyKind,

    /// Name of the policy.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::validation::NAME_PATTERN))]
    pub name: String,
}

/// The kind of trust policy a Promotion refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyKind {
    /// A namespaced `TrustPolicy` in the Promotion's own namespace.
    #[default]
    TrustPolicy,
    /// A cluster-wide `ClusterTrustPolicy`.
    ClusterTrustPolicy,
}

/// How the change is proposed when it goes through review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestSpec {
    /// The forge that hosts the repository.
    pub provider: ForgeProvider,

    /// API base URL, for GitHub Enterprise, self-managed GitLab, Gitea or Forgejo (e.g.
    /// `https://git.example.com/api/v1`). Defaults to the public service for `github` and `gitlab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = crate::validation::API_URL_PATTERN))]
    pub api_url: Option<String>,

    /// Secret in the Promotion's namespace holding the forge credentials: `token`, or for a GitHub
    /// App `appId`, `installationId` and `privateKey`.
    pub secret_ref: SecretReference,

    /// Labels added to the pull request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub labels: Vec<String>,

    /// Users asked to review the pull request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub reviewers: Vec<String>,

    /// Teams asked to review the pull request (GitHub team slugs; ignored by forges without teams).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub team_reviewers: Vec<String>,

    /// Open the pull request as a draft.
    #[serde(default)]
    pub draft: bool,
}

/// The forges Sealift can open pull requests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ForgeProvider {
    /// GitHub or GitHub Enterprise Server.
    Github,
    /// GitLab (merge requests), SaaS or self-managed.
    Gitlab,
    /// Gitea.
    Gitea,
    /// Forgejo.
    Forgejo,
}

/// `direct`: commit straight to `repository.branch` without a pull request, for environments that
/// need no review (e.g. dev). Exactly one of `pullRequest` and `push` must be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    /// Commit directly to the base branch (never force-pushed).
    Direct,
}

/// Where a promotion stands. Merged, Closed, Rejected and Failed are final.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Accepted, not started.
    #[default]
    Pending,
    /// Reading the source overlay and checking the digests exist.
    Resolving,
    /// Checking signatures and attestations against the trust policy.
    Verifying,
    /// Writing and pushing the commit.
    Committing,
    /// Waiting for the pull request to be merged or closed.
    PullRequestOpen,
    /// The change is on the base branch (merged, or pushed directly).
    Merged,
    /// The pull request was closed without merging.
    Closed,
    /// A business outcome: an artifact or the request failed policy. Terminal; nothing was written.
    Rejected,
    /// A technical outcome after bounded retries (unreachable registry, Git or forge).
    Failed,
}

impl Phase {
    /// True for the phases a promotion never leaves.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Merged | Phase::Closed | Phase::Rejected | Phase::Failed
        )
    }
}

/// What Sealift has done and proven so far. Every step is recorded here, so a restart resumes
/// without a second commit or a second pull request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Resolved, Verified, Committed, PullRequestOpened, Merged and Ready, with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Each promoted image with the digest read from the source overlay and the evidence proving it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub images: Vec<PromotedImage>,

    /// The commit that carries the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitRef>,

    /// The pull request that proposes the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,

    /// When Sealift started working on this promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,

    /// When the promotion reached a final phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,

    /// How many times the current step has been attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub attempts: Option<i32>,
}

/// One image being promoted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotedImage {
    /// The kustomize image name.
    pub name: String,

    /// The image repository the digest belongs to (the source entry's `newName`, else `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,

    /// The digest read from the source overlay; the exact digest verified and written.
    #[schemars(regex(pattern = crate::validation::DIGEST_PATTERN))]
    pub digest: String,

    /// What verification proved about this digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// The commit Sealift made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitRef {
    /// Commit id.
    #[schemars(regex(pattern = crate::validation::COMMIT_SHA_PATTERN))]
    pub sha: String,
    /// Branch it was pushed to: `sealift/<namespace>/<name>`, or the base branch for direct pushes.
    pub branch: String,
}

/// The pull request Sealift opened or adopted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestRef {
    /// Number (GitHub, Gitea, Forgejo) or IID (GitLab).
    pub number: i64,
    /// Web URL a reviewer opens.
    pub url: String,
    /// Open, merged or closed.
    pub state: PullRequestState,
    /// The commit at the pull request's head when last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::COMMIT_SHA_PATTERN))]
    pub head_sha: Option<String>,
    /// The merge commit on the base branch, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::COMMIT_SHA_PATTERN))]
    pub merge_commit: Option<String>,
}

/// State of a pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PullRequestState {
    /// Waiting for review.
    Open,
    /// Merged into the base branch.
    Merged,
    /// Closed without merging.
    Closed,
}

impl PromotionSpec {
    /// Checks every rule the CRD schema and its CEL rules enforce, for callers that have no API
    /// server in front of them (the CLI's `sealift promote -f`). Returns all violations at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let url = &self.repository.url;
        errs.check(
            url.len() <= 2048 && REPOSITORY_URL_RE.is_match(url),
            "spec.repository.url",
            "must be an https://, http://, ssh:// or user@host:path URL without credentials",
        );
        errs.check(
            self.repository.branch.len() <= 255 && BRANCH_RE.is_match(&self.repository.branch),
            "spec.repository.branch",
            "must be a plain branch name",
        );
        if let Some(secret) = &self.repository.secret_ref {
            check_name(&mut errs, "spec.repository.secretRef.name", &secret.name);
        }
        for (field, path) in [("spec.from", &self.from), ("spec.to", &self.to)] {
            errs.check(
                is_repo_path(path),
                field,
                "must be a path relative to the repository root, without `.` or `..` segments",
            );
        }
        errs.check(
            self.from != self.to,
            "spec",
            "from and to must be different overlays",
        );
        errs.check(
            self.images.len() <= 256,
            "spec.images",
            "at most 256 images",
        );
        for (i, image) in self.images.iter().enumerate() {
            errs.check(
                image.0.len() <= 512 && IMAGE_SELECTOR_RE.is_match(&image.0),
                format!("spec.images[{i}]"),
                "must be an image name, optionally followed by @sha256:<64 hex digits>",
            );
            if self.images[..i].contains(image) {
                errs.push(format!("spec.images[{i}]"), "duplicate image");
            }
        }
        check_name(&mut errs, "spec.policyRef.name", &self.policy_ref.name);
        match (&self.pull_request, &self.push) {
            (Some(pr), None) => {
                check_name(
                    &mut errs,
                    "spec.pullRequest.secretRef.name",
                    &pr.secret_ref.name,
                );
                if let Some(api) = &pr.api_url {
                    errs.check(
                        api.len() <= 2048 && API_URL_RE.is_match(api),
                        "spec.pullRequest.apiUrl",
                        "must be an http(s):// URL without credentials",
                    );
                }
            }
            (None, Some(_)) => {}
            _ => errs.push("spec", "exactly one of pullRequest and push must be set"),
        }
        errs.into_result()
    }

    /// The branch the promotion commit is pushed to, `sealift/<namespace>/<name>`.
    pub fn promotion_branch(namespace: &str, name: &str) -> String {
        format!("sealift/{namespace}/{name}")
    }
}

fn check_name(errs: &mut ValidationErrors, field: &str, name: &str) {
    errs.check(
        !name.is_empty() && name.len() <= 253 && NAME_RE.is_match(name),
        field,
        "must be a Kubernetes object name (lower-case DNS subdomain)",
    );
}
