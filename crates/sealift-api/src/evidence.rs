//! Evidence: what verification proved about one digest.
//!
//! Plain data with no Kubernetes types, so the engine, the CLI and the pull-request renderer can use
//! it without a cluster. It is recorded in `Promotion.status.images[].evidence` and rendered into the
//! pull request body.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything verification proved about one image digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The digest that was verified; byte-for-byte the digest written to Git.
    #[schemars(regex(pattern = crate::validation::DIGEST_PATTERN))]
    pub digest: String,

    /// The policy that matched, as `Kind/name` (plus namespace for a TrustPolicy) and generation.
    pub policy: PolicyEvidence,

    /// When the verification ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,

    /// The signatures that satisfied the policy's authorities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureEvidence>,

    /// The attestations the policy required, each with the facts that were checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationEvidence>,
}

/// The trust policy a verification was made against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEvidence {
    /// `TrustPolicy` or `ClusterTrustPolicy`.
    pub kind: String,
    /// Namespace of a TrustPolicy; empty for a ClusterTrustPolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the policy.
    pub name: String,
    /// `metadata.generation` of the policy that was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Who signed, and where the signature was logged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureEvidence {
    /// The policy authority this signature satisfied (its name, or `authorities[N]`).
    pub authority: String,
    /// Keyless: the certificate's subject (workflow URI or e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Keyless: the OIDC issuer recorded in the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Key-based: the SHA-256 fingerprint of the public key (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The transparency-log entry, when one was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor: Option<RekorEvidence>,
}

/// A checked Rekor transparency-log entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RekorEvidence {
    /// Index of the entry in the log.
    pub log_index: i64,
    /// When the log integrated the entry (Unix seconds).
    pub integrated_time: i64,
    /// The log's id (hex SHA-256 of its public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
}

/// One verified attestation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestationEvidence {
    /// The in-toto predicate type, e.g. `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// SHA-256 of the DSSE envelope that carried it (`sha256:<hex>`).
    pub envelope_digest: String,
    /// Who signed the envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignatureEvidence>,
    /// The policy expression that was evaluated, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Facts read from the predicate, e.g. `sourceRepository`, `sourceCommit`, `builderId`,
    /// `sbomFormat`, `packageCount`, `critical`, `high`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}
