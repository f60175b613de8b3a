//! Errors of the git write path. Each variant is a distinct, readable reason; none carries a secret.

use crate::kustomize::KustomizeError;

/// Why a git operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The server refused the credentials (or demanded some and none were configured).
    #[error("authentication to {url} failed: check the credentials in the referenced Secret")]
    AuthFailed {
        /// Repository URL.
        url: String,
    },
    /// The base branch does not exist on the server.
    #[error("branch {branch:?} does not exist in {url}")]
    BranchNotFound {
        /// Repository URL.
        url: String,
        /// The missing branch.
        branch: String,
    },
    /// The overlay directory does not exist at the base commit.
    #[error("overlay {path:?} does not exist on branch {branch:?}")]
    OverlayNotFound {
        /// The overlay path.
        path: String,
        /// The base branch.
        branch: String,
    },
    /// The overlay has no kustomization file.
    #[error(
        "overlay {path:?} has no kustomization file (looked for kustomization.yaml, \
         kustomization.yml, Kustomization)"
    )]
    KustomizationNotFound {
        /// The overlay path.
        path: String,
    },
    /// A path would leave the repository: `..`, absolute, or through a symbolic link.
    #[error("path {path:?} escapes the repository: {reason}")]
    PathEscape {
        /// The offending path.
        path: String,
        /// `..` segment, absolute path, or symbolic link at a given component.
        reason: String,
    },
    /// The base kept moving (or the server kept refusing the update) after every retry.
    #[error("pushing to {branch:?} failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The branch being updated.
        branch: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last reason.
        last: String,
    },
    /// The server refused the update for a reason other than a moved base (e.g. a hook).
    #[error("the server refused to update {refname}: {message}")]
    Rejected {
        /// The ref being updated.
        refname: String,
        /// The server's message.
        message: String,
    },
    /// A kustomization file is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// Repository path of the file.
        path: String,
    },
    /// The kustomization could not be read or edited.
    #[error(transparent)]
    Kustomize(#[from] KustomizeError),
    /// The credentials in the Secret are incomplete or unusable.
    #[error("invalid git credentials: {0}")]
    InvalidCredentials(String),
    /// The local repository cache could not be used (after one automatic rebuild).
    #[error("repository cache at {path}: {message}")]
    Cache {
        /// Cache directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Network or protocol failure talking to the server.
    #[error("talking to {url}: {message}")]
    Transport {
        /// Repository URL.
        url: String,
        /// libgit2's message.
        message: String,
    },
    /// Any other libgit2 failure.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

impl GitError {
    /// A stable, bounded label for metrics and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            GitError::AuthFailed { .. } => "AuthFailed",
            GitError::BranchNotFound { .. } => "BranchNotFound",
            GitError::OverlayNotFound { .. } => "OverlayNotFound",
            GitError::KustomizationNotFound { .. } => "OverlayNotFound",
            GitError::PathEscape { .. } => "PathEscape",
            GitError::RetriesExhausted { .. } => "RetriesExhausted",
            GitError::Rejected { .. } => "PushRejected",
            GitError::NotText { .. } => "MalformedKustomization",
            GitError::Kustomize(e) => e.category(),
            GitError::InvalidCredentials(_) => "InvalidCredentials",
            GitError::Cache { .. } => "CacheError",
            GitError::Transport { .. } => "TransportError",
            GitError::Git(_) => "GitError",
        }
    }

    /// True when retrying later may succeed; false when the request or its configuration must
    /// change first. The one place this is decided (the engine's retries follow it too).
    pub fn is_transient(&self) -> bool {
        match self {
            // A network or server hiccup, a cache to rebuild.
            GitError::Transport { .. } | GitError::Cache { .. } | GitError::Git(_) => true,
            // Credentials may be fixed in the Secret meanwhile; a moved base settles; the push
            // loop's own retries ran out but a later attempt may find a quiet branch.
            GitError::AuthFailed { .. }
            | GitError::Rejected { .. }
            | GitError::RetriesExhausted { .. } => true,
            GitError::BranchNotFound { .. }
            | GitError::OverlayNotFound { .. }
            | GitError::KustomizationNotFound { .. }
            | GitError::PathEscape { .. }
            | GitError::NotText { .. }
            | GitError::Kustomize(_)
            | GitError::InvalidCredentials(_) => false,
        }
    }

    /// True when the push loop inside one attempt may retry at once (a moved base is handled
    /// separately): only failures of the connection or the local cache. Authentication and a
    /// refused update wait for the engine's backoff instead.
    pub fn is_retryable_now(&self) -> bool {
        matches!(
            self,
            GitError::Transport { .. } | GitError::Cache { .. } | GitError::Git(_)
        )
    }
}
