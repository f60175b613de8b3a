//! Forge stand-ins: local HTTP servers (127.0.0.1, a free port) that behave like the pull-request
//! APIs of GitHub, GitLab, Gitea and Forgejo — quirks included — with every request and response
//! checked against the forge's own published API description (TESTRIG.md: no real forge can run
//! on the rig, so the description is the oracle).
//!
//! - [`server`]: the generic HTTP server, exchange log, fault injection and contract checks.
//! - [`spec`] / [`schema`]: the published descriptions and the JSON-Schema plumbing over them.
//! - [`github`]: [`GithubStandin`], optionally backed by a real bare repository so that merging a
//!   pull request is a real merge commit ([`backing`]).
//! - [`gitea`], [`gitlab`]: the Gitea 1.27 / Forgejo 16 and GitLab stand-ins.
//!
//! Nothing here panics on what it is sent: violations are recorded and read with
//! [`server::StandIn::violations`] / [`server::StandIn::assert_clean`].

pub mod backing;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod schema;
pub mod server;
pub mod spec;

pub use github::{GithubOptions, GithubStandin};

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time as the stand-ins see it (token expiry, rate-limit resets, merge times).
///
/// Any `Fn() -> i64` is a clock, so a test can share its own manual clock with the client:
/// `Arc::new(move || manual.unix_now())`.
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn unix_now(&self) -> i64;
}

impl<F: Fn() -> i64 + Send + Sync> Clock for F {
    fn unix_now(&self) -> i64 {
        self()
    }
}

/// The real wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// RFC 3339 in UTC, seconds precision, as the forges write timestamps.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) use crate::lock;
