//! The promotion pipeline (resolve, verify, plan, commit, pull request, track) as resumable,
//! idempotent steps over the `Verifier`, `Repo`, `Forge` and `Clock` traits. Knows nothing about
//! Kubernetes: the controller and the CLI feed it and record its results.
//!
//! Not implemented yet.
