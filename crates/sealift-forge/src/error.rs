//! The crate's error type: what went wrong talking to a forge, whether retrying can help, and a
//! bounded category for metric labels and Event reasons.
//!
//! No variant ever carries a credential. Messages that come from a forge's response body are
//! scrubbed of the credentials in use and truncated before they get here (see `http.rs`).

use crate::model::ForgeKind;
use std::time::Duration;

/// What went wrong talking to a forge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    /// HTTP 401: the forge rejected the credentials.
    #[error(
        "{forge} rejected the credentials for {host} (HTTP 401): check the token in the \
         Promotion's pull-request secret"
    )]
    Unauthorized {
        /// The forge.
        forge: ForgeKind,
        /// Host of the API.
        host: String,
    },

    /// HTTP 403 that is not a rate limit: the credentials lack a permission.
    #[error("{forge} denied {operation} (HTTP 403): {message}")]
    Forbidden {
        /// The forge.
        forge: ForgeKind,
        /// The API operation, e.g. `pulls/create`.
        operation: &'static str,
        /// The forge's explanation, scrubbed and truncated.
        message: String,
    },

    /// HTTP 404: the repository, pull request or user does not exist, or the credentials cannot
    /// see it (GitHub answers 404, not 403, for private repositories a token cannot read).
    #[error(
        "{forge}: {what} not found (HTTP 404) — it does not exist or the credentials cannot see it"
    )]
    NotFound {
        /// The forge.
        forge: ForgeKind,
        /// What was looked up, e.g. `repository acme/gitops`.
        what: String,
    },

    /// The forge's rate limit is exhausted and the wait is longer than Sealift will block for.
    #[error("{forge} rate limit reached on {host}; retry after {}", fmt_wait(*retry_after))]
    RateLimited {
        /// The forge.
        forge: ForgeKind,
        /// Host of the API.
        host: String,
        /// When the forge said the limit resets, if it said.
        retry_after: Option<Duration>,
    },

    /// Sealift's own per-host request budget is spent (a runaway promotion is being throttled).
    #[error(
        "client-side request budget for {host} exhausted; retry after {}",
        fmt_wait(Some(*retry_after))
    )]
    BudgetExhausted {
        /// Host of the API.
        host: String,
        /// When the budget has room for another request.
        retry_after: Duration,
    },

    /// HTTP 5xx that persisted through every retry.
    #[error("{forge} server error on {operation} (HTTP {status}) after {attempts} attempts")]
    Server {
        /// The forge.
        forge: ForgeKind,
        /// The API operation.
        operation: &'static str,
        /// The last status code.
        status: u16,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The forge could not be reached (DNS, connect, TLS, timeout) after every retry.
    #[error("cannot reach {host}: {detail}")]
    Transport {
        /// Host of the API.
        host: String,
        /// What failed.
        detail: String,
    },

    /// The forge refused the request as invalid (400, 409, 422, …) for a reason retrying cannot fix.
    #[error("{forge} rejected {operation} (HTTP {status}): {message}")]
    Rejected {
        /// The forge.
        forge: ForgeKind,
        /// The API operation.
        operation: &'static str,
        /// The status code.
        status: u16,
        /// The forge's explanation, scrubbed and truncated.
        message: String,
    },

    /// The forge answered with something Sealift cannot read.
    #[error("unexpected response from {forge} to {operation}: {detail}")]
    InvalidResponse {
        /// The forge.
        forge: ForgeKind,
        /// The API operation.
        operation: &'static str,
        /// What was wrong with it.
        detail: String,
    },

    /// The pull request is not in the state Sealift expected: the forge said one exists but the
    /// lookup cannot see it (a race with a close), or the branch's pull request belongs to
    /// another promotion.
    #[error("pull request conflict: {detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// Whether waiting may resolve it (a race) or not (owned by another promotion).
        transient: bool,
    },

    /// The forge settings or credentials cannot work (bad URL, unreadable private key, …).
    #[error("invalid forge configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
}

impl ForgeError {
    /// A short, bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            ForgeError::Unauthorized { .. } => "unauthorized",
            ForgeError::Forbidden { .. } => "forbidden",
            ForgeError::NotFound { .. } => "not_found",
            ForgeError::RateLimited { .. } => "rate_limited",
            ForgeError::BudgetExhausted { .. } => "budget_exhausted",
            ForgeError::Server { .. } => "server_error",
            ForgeError::Transport { .. } => "transport",
            ForgeError::Rejected { .. } => "rejected",
            ForgeError::InvalidResponse { .. } => "invalid_response",
            ForgeError::Conflict { .. } => "conflict",
            ForgeError::Config { .. } => "config",
        }
    }

    /// True when retrying later (with backoff) can succeed; false when a human must fix something
    /// (credentials, permissions, configuration) first.
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::RateLimited { .. }
            | ForgeError::BudgetExhausted { .. }
            | ForgeError::Server { .. }
            | ForgeError::Transport { .. } => true,
            ForgeError::Conflict { transient, .. } => *transient,
            ForgeError::Unauthorized { .. }
            | ForgeError::Forbidden { .. }
            | ForgeError::NotFound { .. }
            | ForgeError::Rejected { .. }
            | ForgeError::InvalidResponse { .. }
            | ForgeError::Config { .. } => false,
        }
    }

    /// How long to wait before retrying, when the forge or the budget said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ForgeError::RateLimited { retry_after, .. } => *retry_after,
            ForgeError::BudgetExhausted { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        ForgeError::Config {
            detail: detail.into(),
        }
    }
}

fn fmt_wait(wait: Option<Duration>) -> String {
    match wait {
        Some(d) if d.as_millis() < 1000 => format!("{} ms", d.as_millis()),
        Some(d) => format!("{} s", d.as_secs_f64().ceil()),
        None => "an unknown time".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_permission_failures_are_terminal_and_throttling_is_transient() {
        let unauthorized = ForgeError::Unauthorized {
            forge: ForgeKind::GitHub,
            host: "api.github.com".into(),
        };
        assert!(!unauthorized.is_transient());
        assert_eq!(unauthorized.category(), "unauthorized");
        let limited = ForgeError::RateLimited {
            forge: ForgeKind::GitLab,
            host: "gitlab.com".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert!(limited.is_transient());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            limited.to_string(),
            "GitLab rate limit reached on gitlab.com; retry after 7 s"
        );
        let owned_elsewhere = ForgeError::Conflict {
            detail: "x".into(),
            transient: false,
        };
        assert!(!owned_elsewhere.is_transient());
    }
}
