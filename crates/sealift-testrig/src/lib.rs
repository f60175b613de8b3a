//! Sealift's test rig: the real components of `TESTRIG.md`, started on free loopback ports for a
//! test and stopped by PID.
//!
//! - [`registry::Registry`]: CNCF distribution, anonymous or with bcrypt basic auth.
//! - [`git_server::GitServer`]: git smart HTTP (nginx + fcgiwrap + git http-backend) with basic auth.
//! - [`ssh_server::SshServer`]: git over SSH (OpenSSH sshd) with a pinned host key.
//! - [`kube::KubeCluster`]: etcd + kube-apiserver v1.20.2 with a kubeconfig kube-rs can use.
//! - [`image`]: deterministic test images and cosign key-based signatures.
//! - [`cosign`]: signed and attested images in cosign's wire format ([`cosign::Publisher`]), keys,
//!   a test Fulcio-style CA, a test Rekor and `trusted_root.json`.
//! - [`forge`]: GitHub, GitLab, Gitea and Forgejo stand-ins checked against the forges' published
//!   API descriptions; the GitHub one can be backed by a served repository and merge for real.
//! - [`tools`]: where each component lives; a missing one is an error that says how to install it.
//!
//! Components are installed by `scripts/install-rig.sh` (`make rig`), never silently skipped.

pub mod cosign;
pub mod forge;
pub mod git;
pub mod git_server;
pub mod image;
pub mod kube;
pub mod process;
pub mod registry;
pub mod ssh_server;
pub mod tools;
pub mod world;

pub use registry::Credentials;

/// Locks a mutex, recovering from poisoning (a panicking test must not wedge the rig).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs aws-lc-rs as the process-wide rustls provider. Several crates in the tree compile a
/// provider in; rustls refuses to choose between them, so the rig (and Sealift) chooses once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
