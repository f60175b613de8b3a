//! Trust-policy evaluation for Sealift: cosign signatures and attestations (SLSA provenance, SBOM,
//! vulnerability scan) checked against `TrustPolicy` / `ClusterTrustPolicy`, producing the
//! per-image [`Evidence`](sealift_api::Evidence) recorded in a Promotion's status and its pull
//! request. Step 2 of the promotion in `DESIGN.md`; the reference is `docs/verification.md`.
//!
//! ```text
//! PolicyDocument::parse_all ─► CompiledPolicy::compile ─┐
//!                                                       ▼
//! Verifier::verify(image@digest) ─► cache ─► fetch .sig/.att ─► evaluate ─► Evidence | VerifyError
//! ```
//!
//! - [`policy`]: strict parsing (errors name the field path), compilation, fail-closed selection.
//! - [`fetch`] + [`registry`]: one manifest per cosign tag, one blob per layer, capped, timed out.
//! - [`evaluate`]: the pure decision — signatures (key or keyless, threshold), Rekor SET and
//!   entry binding, certificate chain at the integrated time, identity, attestations (DSSE,
//!   in-toto subject, predicate type, CEL) and facts.
//! - [`bundle`]: Sigstore bundles (OCI referrers) checked like attestations, plus their Merkle
//!   inclusion proof and signed checkpoint.
//! - [`cache`]: TTL cache keyed by (image, digest, policy uid, generation, fingerprint) with
//!   coalescing.
//! - [`oneshot`]: what `sealift verify IMAGE@DIGEST --policy FILE` runs.
//!
//! Nothing here panics on input from a registry or a policy; failures are [`VerifyError`]s whose
//! [`category`](VerifyError::category) is a stable reason and whose
//! [`outcome`](VerifyError::outcome) separates rejections from errors.

mod cel;
mod certificate;
mod rekor;
mod signer;

pub mod bundle;
pub mod cache;
pub mod dsse;
pub mod error;
pub mod evaluate;
pub mod facts;
pub mod fetch;
pub mod oneshot;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod trust_root;
pub mod verifier;

pub use cache::{CacheConfig, CacheKey, CacheStats};
pub use error::{Outcome, VerifyError};
pub use fetch::{CosignLayer, Limits};
pub use oneshot::{OneShot, verify_once};
pub use policy::{
    CompiledPolicy, NoSecrets, PolicyDocument, PolicyKind, PolicyMeta, SecretDir, SecretSource,
    select_policies,
};
pub use reference::ImageRef;
pub use registry::{PlainHttp, RegistryConfig, RegistryCredentials, RequestCounts};
pub use trust_root::TrustedRoot;
pub use verifier::{Verifier, VerifierConfig};
