//! Git side of a Sealift promotion (steps 1, 3 and 4 of `DESIGN.md`):
//!
//! - [`kustomize`]: read the `images:` of an overlay and edit one entry with exactly the meaning of
//!   `kustomize edit set image`, changing no other byte.
//! - [`overlay`]: find an overlay's kustomization in a commit, resolve the source digests, plan
//!   the target edit.
//! - [`cache`]: one persistent bare clone per repository URL, fetched incrementally.
//! - [`commit`]: build the promotion commit in memory on top of the base branch (no work tree).
//! - [`push`]: push with in-memory credentials, re-applying the edit when the base moved. Over
//!   HTTP(S) the push sends exactly the objects the commit introduced (`smart_http`); over SSH it
//!   is libgit2's.
//! - [`signing`]: SSH and OpenPGP commit signatures.
//!
//! Nothing here knows about Kubernetes: credentials arrive as plain values, paths as strings.
//! Everything is blocking (libgit2, and reqwest's blocking client for smart-HTTP pushes, which
//! must not run on an async worker thread); async callers use `spawn_blocking`.

pub mod cache;
pub mod commit;
pub mod credentials;
pub mod error;
pub mod kustomize;
pub mod overlay;
mod pktline;
pub mod push;
mod remote;
pub mod signing;
mod smart_http;

pub use cache::{CachedRepo, RepoCache};
pub use commit::{
    CommitMeta, FileChange, Identity, NewCommit, PromotedDigest, commit_changes,
    commit_changes_with_objects, commit_message,
};
pub use credentials::{GitCredentials, SecretString};
pub use error::GitError;
pub use push::{PushOutcome, PushRequest, PushTarget, RetryPolicy, Snapshot, commit_and_push};
pub use signing::{OpenPgpSigningKey, SigningKey, SshSigningKey};

/// The branch a promotion's commit is pushed to: `sealift/<namespace>/<name>` (owned by the API,
/// where the spec's validation knows it too).
pub fn promotion_branch(namespace: &str, name: &str) -> String {
    sealift_api::PromotionSpec::promotion_branch(namespace, name)
}
