//! Why a verification did not prove an image: a rejection (the artifact failed the policy) or an
//! error (something technical broke). Each variant has a static [`VerifyError::category`] used as
//! the metric label and the condition reason.

use sealift_api::conditions::reasons;

/// Whether a failure is the artifact's fault or a technical problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The artifact failed the policy (a business outcome: the promotion is Rejected).
    Rejected,
    /// Something technical failed (registry unreachable, broken policy): retry or fix the setup.
    Error,
}

/// A failed verification. Messages never contain secrets (credentials, tokens, key material).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    // ---- Rejected: the artifact failed the policy -------------------------------------------
    /// No trust policy applies to the image (fail closed).
    #[error("no trust policy matches {image} (fail closed)")]
    NoMatchingPolicy {
        /// The image repository that was looked up.
        image: String,
    },
    /// The image has no cosign signature at all.
    #[error("{image} carries no cosign signature")]
    SignatureMissing {
        /// `repository@digest`.
        image: String,
    },
    /// A signature exists but does not verify (tampered payload, other key, other digest).
    #[error("{authority}: signature rejected: {reason}")]
    SignatureInvalid {
        /// The policy authority that was tried.
        authority: String,
        /// What failed.
        reason: String,
    },
    /// A certificate is authentic but names another identity or issuer.
    #[error("{authority}: signer identity rejected: {reason}")]
    IdentityMismatch {
        /// The policy authority that was tried.
        authority: String,
        /// What failed.
        reason: String,
    },
    /// The signing certificate does not chain to the trust root at the Rekor integrated time.
    #[error("{authority}: signing certificate rejected: {reason}")]
    CertificateUntrusted {
        /// The policy authority that was tried.
        authority: String,
        /// What failed.
        reason: String,
    },
    /// The Rekor evidence is missing, forged, from an unknown log, or about another signature.
    #[error("{authority}: transparency log evidence rejected: {reason}")]
    TransparencyLogInvalid {
        /// The policy authority that was tried.
        authority: String,
        /// What failed.
        reason: String,
    },
    /// Fewer authorities signed than the policy's `threshold` requires.
    #[error("{satisfied} of the {required} required authorities signed: {details}")]
    ThresholdNotMet {
        /// The policy's threshold.
        required: usize,
        /// How many authorities were satisfied.
        satisfied: usize,
        /// Why each unsatisfied authority failed.
        details: String,
    },
    /// The image has no attestations although the policy requires one.
    #[error("attestation {predicate_type} missing: {reason}")]
    AttestationMissing {
        /// The required predicate type.
        predicate_type: String,
        /// Details.
        reason: String,
    },
    /// Attestations exist, but none with the required predicate type.
    #[error("no attestation has predicate type {required} (found: {found})")]
    PredicateTypeMismatch {
        /// The required predicate type.
        required: String,
        /// The predicate types that were found, comma-separated.
        found: String,
    },
    /// The attestation's in-toto subject is another artifact.
    #[error("attestation {predicate_type} is about another artifact: {reason}")]
    AttestationSubjectMismatch {
        /// The predicate type.
        predicate_type: String,
        /// Details.
        reason: String,
    },
    /// The attestation's envelope is not signed by any authority of the policy.
    #[error("attestation {predicate_type} rejected: {reason}")]
    AttestationInvalid {
        /// The predicate type.
        predicate_type: String,
        /// What failed.
        reason: String,
    },
    /// The attestation's CEL policy evaluated to false or failed to evaluate.
    #[error("attestation {predicate_type}: policy `{expression}` {reason}")]
    AttestationPolicyFailed {
        /// The predicate type.
        predicate_type: String,
        /// The CEL expression.
        expression: String,
        /// `evaluated to false` or the evaluation error.
        reason: String,
    },
    /// A signature or attestation artifact is not well-formed (manifest, DSSE, JSON).
    #[error("malformed {artifact}: {reason}")]
    MalformedArtifact {
        /// Which artifact.
        artifact: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest or layer exceeds the configured size cap.
    #[error("{artifact} exceeds the {limit}-byte limit")]
    ArtifactTooLarge {
        /// Which artifact.
        artifact: String,
        /// The cap in bytes.
        limit: u64,
    },

    // ---- Error: technical -------------------------------------------------------------------
    /// The trust policy is invalid (unknown field, bad key, bad regex, CEL that does not compile).
    #[error("invalid trust policy at {path}: {reason}")]
    InvalidPolicy {
        /// Where in the policy (`spec.authorities[0].key.data`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The image reference is not `registry/repository@sha256:<64 hex>`.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry could not be reached.
    #[error("registry {registry} unreachable: {reason}")]
    RegistryUnreachable {
        /// `host[:port]`.
        registry: String,
        /// The transport error.
        reason: String,
    },
    /// The registry did not answer in time.
    #[error("registry {registry} did not answer within {after_ms} ms")]
    RegistryTimeout {
        /// `host[:port]`.
        registry: String,
        /// The timeout that expired.
        after_ms: u64,
    },
    /// The registry refused the credentials (or anonymous access).
    #[error("registry {registry} refused access (HTTP {status})")]
    RegistryAuth {
        /// `host[:port]`.
        registry: String,
        /// 401 or 403.
        status: u16,
    },
    /// The registry answered with an unexpected status or protocol error.
    #[error("registry {registry}: {reason}")]
    Registry {
        /// `host[:port]`.
        registry: String,
        /// What happened.
        reason: String,
    },
}

impl VerifyError {
    /// A stable CamelCase label: the metric label and the condition/Event reason. Always one of
    /// `sealift_api::conditions::reasons` (sealift-adapters' `reasons` test checks it).
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoMatchingPolicy { .. } => reasons::NO_MATCHING_POLICY,
            Self::SignatureMissing { .. } => reasons::SIGNATURE_MISSING,
            Self::SignatureInvalid { .. } => reasons::SIGNATURE_INVALID,
            Self::IdentityMismatch { .. } => reasons::IDENTITY_MISMATCH,
            Self::CertificateUntrusted { .. } => reasons::CERTIFICATE_UNTRUSTED,
            Self::TransparencyLogInvalid { .. } => reasons::TRANSPARENCY_LOG_INVALID,
            Self::ThresholdNotMet { .. } => reasons::THRESHOLD_NOT_MET,
            Self::AttestationMissing { .. } => reasons::ATTESTATION_MISSING,
            Self::PredicateTypeMismatch { .. } => reasons::PREDICATE_TYPE_MISMATCH,
            Self::AttestationSubjectMismatch { .. } => reasons::ATTESTATION_SUBJECT_MISMATCH,
            Self::AttestationInvalid { .. } => reasons::ATTESTATION_INVALID,
            Self::AttestationPolicyFailed { .. } => reasons::ATTESTATION_POLICY_FAILED,
            Self::MalformedArtifact { .. } => reasons::MALFORMED_ARTIFACT,
            Self::ArtifactTooLarge { .. } => reasons::ARTIFACT_TOO_LARGE,
            Self::InvalidPolicy { .. } => reasons::INVALID_POLICY,
            Self::InvalidReference { .. } => reasons::INVALID_REFERENCE,
            Self::RegistryUnreachable { .. } => reasons::REGISTRY_UNREACHABLE,
            Self::RegistryTimeout { .. } => reasons::REGISTRY_TIMEOUT,
            Self::RegistryAuth { .. } => reasons::REGISTRY_AUTH_FAILED,
            Self::Registry { .. } => reasons::REGISTRY_ERROR,
        }
    }

    /// Rejected (the artifact failed the policy) or Error (technical).
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::InvalidPolicy { .. }
            | Self::InvalidReference { .. }
            | Self::RegistryUnreachable { .. }
            | Self::RegistryTimeout { .. }
            | Self::RegistryAuth { .. }
            | Self::Registry { .. } => Outcome::Error,
            _ => Outcome::Rejected,
        }
    }

    /// True for a rejection: the artifact failed the policy.
    pub fn is_rejection(&self) -> bool {
        self.outcome() == Outcome::Rejected
    }

    /// True when retrying later may succeed (the registry was unreachable, slow or failing).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RegistryUnreachable { .. } | Self::RegistryTimeout { .. } | Self::Registry { .. }
        )
    }

    pub(crate) fn invalid_policy(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidPolicy {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(artifact: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::MalformedArtifact {
            artifact: artifact.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_is_camel_case_and_rejections_are_split_from_errors() {
        let samples = [
            VerifyError::SignatureMissing { image: "i".into() },
            VerifyError::InvalidPolicy {
                path: "p".into(),
                reason: "r".into(),
            },
            VerifyError::RegistryTimeout {
                registry: "r".into(),
                after_ms: 1,
            },
        ];
        for e in &samples {
            let c = e.category();
            assert!(c.chars().next().is_some_and(|ch| ch.is_ascii_uppercase()));
            assert!(c.chars().all(|ch| ch.is_ascii_alphanumeric()));
        }
        assert!(samples[0].is_rejection());
        assert!(!samples[1].is_rejection() && !samples[1].is_transient());
        assert!(samples[2].is_transient());
    }
}
