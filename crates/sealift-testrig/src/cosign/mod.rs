//! Signed and attested images in cosign's wire format, for tests, the demo and benchmarks.
//!
//! No cosign binary is available to the rig (`TESTRIG.md`), so everything cosign writes is built
//! here, byte for byte as cosign writes it:
//!
//! - [`Key`]: signing keys of every algorithm cosign supports (ECDSA P-256 by default).
//! - [`TestCa`]: a Fulcio-style CA issuing short-lived certificates with the OIDC-issuer
//!   extensions (keyless signing).
//! - [`TestRekor`]: a transparency log whose key signs SETs over `hashedrekord`, `intoto` and
//!   `dsse` entries; [`trusted_root_json`] describes CAs and logs as Sigstore's
//!   `trusted_root.json`.
//! - [`sig_layer`], [`att_layer`], [`push_artifact`]: `.sig` layers (simple-signing payloads) and
//!   `.att` layers (DSSE envelopes of in-toto statements) pushed to `sha256-<hex>.sig` / `.att`.
//! - [`Publisher`]: the high-level API: publish a test image with its signature and attestations
//!   in one call, and get the trust policy that accepts it.

mod artifacts;
mod keys;
mod publisher;
mod rekor;

pub use artifacts::{
    EntryKind, Layer, Signer, att_layer, envelope, pae, push_artifact, push_layers, sig_layer,
    simple_signing, statement,
};
pub use keys::{Key, TestCa, pem_encode};
pub use publisher::{
    DEFAULT_TAG, NO_CRITICAL_VULNERABILITIES, Published, Publisher, slsa_provenance,
    slsa_repository_policy, vuln_scan,
};
pub use rekor::{TestRekor, dsse_entry, hashedrekord, intoto_entry, trusted_root_json};

/// SLSA provenance v1 predicate type.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// SLSA provenance v0.2 predicate type.
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// cosign's vulnerability-scan predicate type (`cosign attest --type vuln`).
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// SPDX SBOM predicate type.
pub const SPDX: &str = "https://spdx.dev/Document";
/// CycloneDX SBOM predicate type.
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The certificate subject of a GitHub Actions release workflow, as Fulcio writes it.
pub const RELEASE_WORKFLOW: &str =
    "https://github.com/acme/bookstore/.github/workflows/release.yml@refs/heads/main";

/// The current time, Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
