//! Input rules shared by the CRD schema and the code.
//!
//! Every pattern here is written once and used twice: in the OpenAPI schema, so that the API server
//! (including v1.20, which ignores CEL) refuses bad objects, and by [`crate::Promotion::validate`],
//! so that the CLI, which runs without an API server, refuses exactly the same objects. The
//! patterns use only the regular-expression subset that Go's RE2 and Rust's `regex` share.

use regex::Regex;
use std::sync::LazyLock;

/// An OCI image digest as Sealift promotes it: `sha256:` followed by 64 lower-case hex digits.
pub const DIGEST_PATTERN: &str = r"^sha256:[a-f0-9]{64}$";

/// A path inside the repository: relative, `/`-separated, with no `.` or `..` segment, no empty
/// segment, no leading or trailing `/` and no backslash. RE2 has no look-ahead, so "a segment that
/// is not `.` or `..`" is spelt out: it starts with a non-dot, or with one dot and a non-dot, or with
/// two dots followed by at least one more character.
pub const PATH_PATTERN: &str = r"^(?:[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*|\.[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*|\.\.[A-Za-z0-9._@+=,~-]+)(?:/(?:[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*|\.[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*|\.\.[A-Za-z0-9._@+=,~-]+))*$";

/// A kustomize image name (`bookstore/catalog`, `registry.example.com:5000/acme/app`), optionally
/// followed by `@sha256:<hex>` to assert which digest the source overlay must pin.
pub const IMAGE_SELECTOR_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*(?:@sha256:[a-f0-9]{64})?$";

/// A Git repository URL: `https://`, `http://` or `ssh://` with no credentials in it (they belong in
/// a Secret), or scp-like `user@host:path`.
pub const REPOSITORY_URL_PATTERN: &str = r"^(?:(?:https?|ssh)://[^/@\s]+(?:/\S*)?|ssh://[A-Za-z0-9._-]+@[^/@\s]+(?:/\S*)?|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+)$";

/// An HTTP(S) API base URL with no credentials in it.
pub const API_URL_PATTERN: &str = r"^https?://[^/@\s]+(?:/\S*)?$";

/// A Git branch name: the safe subset of `git check-ref-format --branch`.
pub const BRANCH_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$";

/// A Kubernetes object name (DNS-1123 subdomain).
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A key in a Secret's data.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";

/// A Git commit id (SHA-1 or SHA-256 object format).
pub const COMMIT_SHA_PATTERN: &str = r"^(?:[a-f0-9]{40}|[a-f0-9]{64})$";

/// The reason pattern of `metav1.Condition` (CamelCase machine-readable reasons).
pub const CONDITION_REASON_PATTERN: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

macro_rules! compiled {
    ($name:ident, $pattern:ident) => {
        pub(crate) static $name: LazyLock<Regex> = LazyLock::new(|| {
            // The patterns are constants covered by unit tests; a typo fails every test run.
            #[allow(clippy::expect_used)]
            Regex::new($pattern).expect(concat!(stringify!($pattern), " compiles"))
        });
    };
}

compiled!(DIGEST_RE, DIGEST_PATTERN);
compiled!(PATH_RE, PATH_PATTERN);
compiled!(IMAGE_SELECTOR_RE, IMAGE_SELECTOR_PATTERN);
compiled!(REPOSITORY_URL_RE, REPOSITORY_URL_PATTERN);
compiled!(API_URL_RE, API_URL_PATTERN);
compiled!(BRANCH_RE, BRANCH_PATTERN);
compiled!(NAME_RE, NAME_PATTERN);

/// True when `s` is a digest Sealift accepts (`sha256:` + 64 lower-case hex).
pub fn is_digest(s: &str) -> bool {
    DIGEST_RE.is_match(s)
}

/// True when `s` is a repository-relative path with no `.`/`..` segment.
pub fn is_repo_path(s: &str) -> bool {
    s.len() <= 1024 && PATH_RE.is_match(s)
}

/// One rule a value broke: the field path (as `kubectl` prints it) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field, e.g. `spec.images[1]`.
    pub field: String,
    /// What is wrong with it, in words a user can act on.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule a spec broke, in field order. Empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }

    pub(crate) fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}
