//! The condition vocabulary of `Promotion` and trust-policy status.
//!
//! Types and reasons are constants so the controller, the CLI, tests and dashboards agree on the
//! spelling. Reasons follow `metav1.Condition`'s CamelCase pattern (checked by a unit test).

/// Condition types.
pub mod types {
    /// The source overlay was read and every digest to promote exists in its registry.
    pub const RESOLVED: &str = "Resolved";
    /// Every digest satisfied the trust policy.
    pub const VERIFIED: &str = "Verified";
    /// The commit carrying the change is pushed.
    pub const COMMITTED: &str = "Committed";
    /// The pull request is open (or was adopted).
    pub const PULL_REQUEST_OPENED: &str = "PullRequestOpened";
    /// The change is on the base branch.
    pub const MERGED: &str = "Merged";
    /// Summary: True once the promotion has succeeded, False once it ended any other way.
    pub const READY: &str = "Ready";
    /// Every condition type, in pipeline order.
    pub const ALL: [&str; 6] = [
        RESOLVED,
        VERIFIED,
        COMMITTED,
        PULL_REQUEST_OPENED,
        MERGED,
        READY,
    ];
}

/// Condition reasons (also used as Kubernetes Event reasons).
pub mod reasons {
    /// Waiting for a step to start.
    pub const PENDING: &str = "Pending";
    /// A step is running.
    pub const IN_PROGRESS: &str = "InProgress";
    /// The step succeeded.
    pub const SUCCEEDED: &str = "Succeeded";

    // Resolve.
    /// The spec breaks a rule the schema could not express or the API server did not enforce.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The spec changed after creation; Sealift ignores the change.
    pub const SPEC_CHANGED: &str = "SpecImmutable";
    /// A referenced Secret does not exist or lacks a key.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// A referenced Secret exists but its data is unusable: no usable set of keys, or a key
    /// (credential, commit signing key) that does not parse.
    pub const INVALID_SECRET: &str = "InvalidSecret";
    /// The source or target overlay (or its kustomization) does not exist.
    pub const OVERLAY_NOT_FOUND: &str = "OverlayNotFound";
    /// A kustomization file could not be parsed.
    pub const MALFORMED_KUSTOMIZATION: &str = "MalformedKustomization";
    /// A requested image is not listed in the source overlay.
    pub const IMAGE_NOT_IN_OVERLAY: &str = "ImageNotInOverlay";
    /// The source overlay pins the image by tag, not by digest.
    pub const IMAGE_NOT_PINNED: &str = "ImageNotPinnedByDigest";
    /// The source overlay pins a different digest than the selector asserted.
    pub const DIGEST_MISMATCH: &str = "DigestMismatch";
    /// The digest does not exist in its registry.
    pub const DIGEST_NOT_FOUND: &str = "DigestNotFound";

    // Verify.
    /// No trust policy matches the image (fail closed).
    pub const NO_MATCHING_POLICY: &str = "NoMatchingPolicy";
    /// The referenced trust policy does not exist.
    pub const POLICY_NOT_FOUND: &str = "PolicyNotFound";
    /// The image carries no signature.
    pub const SIGNATURE_MISSING: &str = "SignatureMissing";
    /// A signature exists but does not verify or does not match an authority.
    pub const SIGNATURE_INVALID: &str = "SignatureInvalid";
    /// The signer identity or issuer does not match the policy.
    pub const IDENTITY_MISMATCH: &str = "IdentityMismatch";
    /// The transparency-log evidence is missing or invalid.
    pub const TRANSPARENCY_LOG_INVALID: &str = "TransparencyLogInvalid";
    /// A required attestation is absent.
    pub const ATTESTATION_MISSING: &str = "AttestationMissing";
    /// An attestation's policy expression evaluated to false or failed.
    pub const ATTESTATION_POLICY_FAILED: &str = "AttestationPolicyFailed";

    // Verification details and registry failures (sealift-verify categories).
    /// The signing certificate does not chain to the trust root at signing time.
    pub const CERTIFICATE_UNTRUSTED: &str = "CertificateUntrusted";
    /// Fewer distinct authorities signed than the policy's threshold.
    pub const THRESHOLD_NOT_MET: &str = "ThresholdNotMet";
    /// An attestation's predicate type is not the one required.
    pub const PREDICATE_TYPE_MISMATCH: &str = "PredicateTypeMismatch";
    /// An attestation is about another digest.
    pub const ATTESTATION_SUBJECT_MISMATCH: &str = "AttestationSubjectMismatch";
    /// An attestation's envelope or statement does not verify.
    pub const ATTESTATION_INVALID: &str = "AttestationInvalid";
    /// A signature or attestation artifact cannot be parsed.
    pub const MALFORMED_ARTIFACT: &str = "MalformedArtifact";
    /// A manifest or layer exceeds the size cap.
    pub const ARTIFACT_TOO_LARGE: &str = "ArtifactTooLarge";
    /// The trust policy cannot be used (bad key, trust root or expression).
    pub const INVALID_POLICY: &str = "InvalidPolicy";
    /// The image reference is not valid.
    pub const INVALID_REFERENCE: &str = "InvalidReference";
    /// The registry did not answer.
    pub const REGISTRY_UNREACHABLE: &str = "RegistryUnreachable";
    /// The registry answered too slowly.
    pub const REGISTRY_TIMEOUT: &str = "RegistryTimeout";
    /// The registry refused the credentials.
    pub const REGISTRY_AUTH_FAILED: &str = "RegistryAuthFailed";
    /// The registry answered with an error.
    pub const REGISTRY_ERROR: &str = "RegistryError";

    // Commit, pull request, track.
    /// The target overlay already pins every digest: nothing to commit.
    pub const ALREADY_UP_TO_DATE: &str = "AlreadyUpToDate";
    /// Pushing failed (authentication, missing branch, retries exhausted).
    pub const PUSH_FAILED: &str = "PushFailed";
    /// The forge refused or failed a request.
    pub const FORGE_ERROR: &str = "ForgeError";
    /// The pull request was merged.
    pub const PULL_REQUEST_MERGED: &str = "PullRequestMerged";
    /// The pull request was closed without merging.
    pub const PULL_REQUEST_CLOSED: &str = "PullRequestClosed";
    /// The change was pushed straight to the base branch.
    pub const PUSHED_DIRECTLY: &str = "PushedDirectly";
    /// A technical step kept failing after bounded retries.
    pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";

    // Failures of the machinery (git, the API server, the process itself).
    /// Sealift's own overlay edit failed its self-check; nothing was written.
    pub const EDIT_SELF_CHECK_FAILED: &str = "EditSelfCheckFailed";
    /// A kustomization exceeds a limit of the editor (size, nodes, depth); nothing was written.
    pub const KUSTOMIZATION_LIMIT_EXCEEDED: &str = "KustomizationLimitExceeded";
    /// A git operation did not finish within its deadline.
    pub const GIT_TIMEOUT: &str = "GitTimeout";
    /// The git server could not be reached or broke the connection.
    pub const TRANSPORT_ERROR: &str = "TransportError";
    /// The local repository cache failed.
    pub const CACHE_ERROR: &str = "CacheError";
    /// Any other libgit2 failure.
    pub const GIT_ERROR: &str = "GitError";
    /// The Kubernetes API server refused a read (RBAC, or the wrong namespace).
    pub const FORBIDDEN: &str = "Forbidden";
    /// The Kubernetes API server failed a read.
    pub const KUBERNETES_API_ERROR: &str = "KubernetesApiError";
    /// Sealift itself failed (a worker thread died); retried.
    pub const INTERNAL_ERROR: &str = "InternalError";

    /// Every reason above.
    pub const ALL: &[&str] = &[
        PENDING,
        IN_PROGRESS,
        SUCCEEDED,
        INVALID_SPEC,
        SPEC_CHANGED,
        SECRET_NOT_FOUND,
        INVALID_SECRET,
        OVERLAY_NOT_FOUND,
        MALFORMED_KUSTOMIZATION,
        IMAGE_NOT_IN_OVERLAY,
        IMAGE_NOT_PINNED,
        DIGEST_MISMATCH,
        DIGEST_NOT_FOUND,
        NO_MATCHING_POLICY,
        POLICY_NOT_FOUND,
        SIGNATURE_MISSING,
        SIGNATURE_INVALID,
        IDENTITY_MISMATCH,
        TRANSPARENCY_LOG_INVALID,
        ATTESTATION_MISSING,
        ATTESTATION_POLICY_FAILED,
        CERTIFICATE_UNTRUSTED,
        THRESHOLD_NOT_MET,
        PREDICATE_TYPE_MISMATCH,
        ATTESTATION_SUBJECT_MISMATCH,
        ATTESTATION_INVALID,
        MALFORMED_ARTIFACT,
        ARTIFACT_TOO_LARGE,
        INVALID_POLICY,
        INVALID_REFERENCE,
        REGISTRY_UNREACHABLE,
        REGISTRY_TIMEOUT,
        REGISTRY_AUTH_FAILED,
        REGISTRY_ERROR,
        ALREADY_UP_TO_DATE,
        PUSH_FAILED,
        FORGE_ERROR,
        PULL_REQUEST_MERGED,
        PULL_REQUEST_CLOSED,
        PUSHED_DIRECTLY,
        RETRIES_EXHAUSTED,
        EDIT_SELF_CHECK_FAILED,
        KUSTOMIZATION_LIMIT_EXCEEDED,
        GIT_TIMEOUT,
        TRANSPORT_ERROR,
        CACHE_ERROR,
        GIT_ERROR,
        FORBIDDEN,
        KUBERNETES_API_ERROR,
        INTERNAL_ERROR,
    ];

    /// True when `reason` is one of [`ALL`]: every reason Sealift writes must be.
    pub fn is_known(reason: &str) -> bool {
        ALL.contains(&reason)
    }
}
