//! `TrustPolicy` (namespaced) and `ClusterTrustPolicy` (cluster-wide): which signers and
//! attestations an image must carry before Sealift promotes it. Fail closed: an image that no
//! policy matches is never promoted.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The rules an image must satisfy. Shared by `TrustPolicy` and `ClusterTrustPolicy`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sealift.dev",
    version = "v1alpha1",
    kind = "TrustPolicy",
    doc = "Which signers and attestations an image must carry before Sealift promotes it (namespaced).",
    plural = "trustpolicies",
    singular = "trustpolicy",
    shortname = "tp",
    category = "sealift",
    namespaced,
    status = "TrustPolicyStatus",
    printcolumn = r#"{"name":"Images","type":"string","jsonPath":".spec.images"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.threshold) || self.threshold <= size(self.authorities)",
     "message": "threshold cannot exceed the number of authorities"}
]))]
pub struct TrustPolicySpec {
    /// Image references this policy applies to, as globs: `*` matches within one path segment,
    /// `**` across segments (e.g. `registry.example.com/acme/**`). `registry/acme/**` never
    /// matches `registry/acme-evil/…`.
    #[schemars(length(min = 1, max = 64))]
    pub images: Vec<ImageGlob>,

    /// Who may sign. By default any one authority suffices; set `threshold` for N-of-M.
    #[schemars(length(min = 1, max = 16))]
    pub authorities: Vec<Authority>,

    /// How many distinct authorities must have signed (N-of-M). Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub threshold: Option<u32>,

    /// Transparency-log requirements.
    #[serde(default)]
    pub transparency_log: TransparencyLog,

    /// Attestations the image must carry, each signed by one of the authorities and optionally
    /// checked by a CEL expression over its predicate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub attestations: Vec<AttestationRequirement>,
}

/// An image-reference glob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ImageGlob(
    #[schemars(
        length(min = 1, max = 512),
        regex(pattern = r"^[A-Za-z0-9*][A-Za-z0-9._:/*-]*$")
    )]
    pub String,
);

/// One party whose signature counts: a public key or a keyless (Fulcio certificate) identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["key"]}, {"required": ["keyless"]}]))]
pub struct Authority {
    /// A name for evidence and error messages. Defaults to `authorities[N]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,

    /// Signatures made with a cosign key pair. Exactly one of `key` and `keyless`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyAuthority>,

    /// Keyless signatures: a short-lived certificate from a Fulcio CA binding an OIDC identity.
    /// Exactly one of `key` and `keyless`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessAuthority>,
}

/// A public key (ECDSA P-256/P-384, Ed25519 or RSA) in PEM form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["secretRef"]}, {"required": ["data"]}]))]
pub struct KeyAuthority {
    /// A Secret in the policy's namespace holding the PEM public key (key `cosign.pub` unless
    /// `key` is given). Exactly one of `secretRef` and `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,

    /// The PEM public key inline. Exactly one of `secretRef` and `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16384))]
    pub data: Option<String>,
}

/// Keyless signing identities and the trust root that vouches for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessAuthority {
    /// Accepted identities; a certificate must match one of them.
    #[schemars(length(min = 1, max = 32))]
    pub identities: Vec<Identity>,

    /// The Sigstore trust root (`trusted_root.json`: Fulcio CAs, Rekor keys, CT logs), so that
    /// verification works offline and with a private Sigstore. Omit for the public-good instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_root: Option<TrustRoot>,
}

/// An OIDC issuer and subject, each exact or as a regular expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {"oneOf": [{"required": ["issuer"]}, {"required": ["issuerRegExp"]}]},
    {"oneOf": [{"required": ["subject"]}, {"required": ["subjectRegExp"]}]}
]))]
pub struct Identity {
    /// The OIDC issuer, exactly (e.g. `https://token.actions.githubusercontent.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub issuer: Option<String>,

    /// A regular expression the OIDC issuer must match (anchor it with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub issuer_reg_exp: Option<String>,

    /// The certificate subject, exactly (a workflow URI or an e-mail address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub subject: Option<String>,

    /// A regular expression the certificate subject must match (anchor it with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub subject_reg_exp: Option<String>,
}

/// Where a Sigstore `trusted_root.json` comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["secretRef"]}, {"required": ["data"]}]))]
pub struct TrustRoot {
    /// A Secret in the policy's namespace (key `trusted_root.json` unless `key` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,

    /// The `trusted_root.json` document inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 262144))]
    pub data: Option<String>,
}

/// A key of a Secret in the referring object's namespace. For a ClusterTrustPolicy, the namespace
/// Sealift runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeySelector {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::validation::NAME_PATTERN))]
    pub name: String,

    /// Key within the Secret's data; each use documents its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::validation::SECRET_KEY_PATTERN))]
    pub key: Option<String>,
}

/// Transparency-log requirements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparencyLog {
    /// Require every signature and attestation to carry a valid Rekor entry (signed entry
    /// timestamp). Keyless signatures always need one to prove the certificate was valid at
    /// signing time.
    #[serde(default = "default_true")]
    pub required: bool,
}

impl Default for TransparencyLog {
    fn default() -> Self {
        Self { required: true }
    }
}

fn default_true() -> bool {
    true
}

/// An attestation the image must carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationRequirement {
    /// A name for evidence and error messages. Defaults to the predicate type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,

    /// The in-toto predicate type, e.g. `https://slsa.dev/provenance/v1`,
    /// `https://spdx.dev/Document`, `https://cyclonedx.org/bom`,
    /// `https://cosign.sigstore.dev/attestation/vuln/v1`, or any custom URI.
    #[schemars(length(min = 1, max = 1024))]
    pub predicate_type: String,

    /// A CEL expression over `predicate` (the attestation's predicate) that must be true, e.g.
    /// `predicate.scanner.result.summary.criticalCount == 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8192))]
    pub policy: Option<String>,
}

/// What the controller observed about a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`: the policy parsed, its keys, trust roots and CEL expressions compiled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The cluster-wide twin of `TrustPolicy`: the same rules, applying to Promotions in every
/// namespace that reference it with `policyRef.kind: ClusterTrustPolicy`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sealift.dev",
    version = "v1alpha1",
    kind = "ClusterTrustPolicy",
    doc = "Which signers and attestations an image must carry before Sealift promotes it (cluster-wide).",
    plural = "clustertrustpolicies",
    singular = "clustertrustpolicy",
    shortname = "ctp",
    category = "sealift",
    status = "TrustPolicyStatus",
    printcolumn = r#"{"name":"Images","type":"string","jsonPath":".spec.images"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(transparent)]
pub struct ClusterTrustPolicySpec(pub TrustPolicySpec);

impl std::ops::Deref for ClusterTrustPolicySpec {
    type Target = TrustPolicySpec;
    fn deref(&self) -> &TrustPolicySpec {
        &self.0
    }
}
