//! Trust-policy evaluation for Sealift: cosign signatures and attestations (SLSA provenance, SBOM,
//! vulnerability scan) checked against `TrustPolicy` / `ClusterTrustPolicy`, producing the
//! per-image evidence recorded in a Promotion's status and its pull request.
//!
//! Step 2 of the promotion in `DESIGN.md`. Not implemented yet: nothing in Sealift verifies an
//! image today, so no promotion can succeed until this crate lands (fail closed).
