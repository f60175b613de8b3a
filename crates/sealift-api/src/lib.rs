//! Sealift's Kubernetes API: the `Promotion`, `TrustPolicy` and `ClusterTrustPolicy` custom
//! resources (group `sealift.dev`, version `v1alpha1`), the condition vocabulary, the evidence
//! record, and the CRD YAML generated from these types.
//!
//! Validation lives in three layers that must agree: the OpenAPI schema (enforced by every API
//! server, v1.20 included), CEL rules for what only CEL can say (`from != to`, immutability; newer
//! API servers), and [`PromotionSpec::validate`] for callers without an API server.

pub mod conditions;
pub mod crd;
pub mod evidence;
pub mod policy;
pub mod promotion;
pub mod validation;

pub use evidence::{
    AttestationEvidence, Evidence, PolicyEvidence, RekorEvidence, SignatureEvidence,
};
pub use policy::{
    AttestationRequirement, Authority, ClusterTrustPolicy, ClusterTrustPolicySpec, Identity,
    ImageGlob, KeyAuthority, KeylessAuthority, SecretKeySelector, TransparencyLog, TrustPolicy,
    TrustPolicySpec, TrustPolicyStatus, TrustRoot,
};
pub use promotion::{
    CommitRef, ForgeProvider, ImageSelector, Phase, PolicyKind, PolicyRef, PromotedImage,
    Promotion, PromotionSpec, PromotionStatus, PullRequestRef, PullRequestSpec, PullRequestState,
    PushMode, Repository, SecretReference,
};

/// The API group of every Sealift resource.
pub const GROUP: &str = "sealift.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "sealift.dev/v1alpha1";
/// The field manager Sealift uses for server-side apply.
pub const FIELD_MANAGER: &str = "sealift";
