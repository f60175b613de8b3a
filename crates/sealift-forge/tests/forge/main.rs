//! Sealift's pull-request providers against local stand-ins of GitHub, GitLab, Gitea and Forgejo
//! that behave like the real APIs (quirks included), with every request and response checked
//! against the forge's own published API description. One test binary: modules share the
//! parsed descriptions. The stand-ins themselves live in `sealift_testrig::forge` (end-to-end
//! tests and the demo use them too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod gitea;
mod gitea_contract;
mod github;
mod github_app;
mod gitlab;
mod limits;
mod secrets;

pub(crate) use sealift_testrig::forge::gitea as gitea_standin;
pub(crate) use sealift_testrig::forge::github as github_standin;
pub(crate) use sealift_testrig::forge::gitlab as gitlab_standin;
pub(crate) use sealift_testrig::forge::{schema, server, spec};

use sealift_api::{
    AttestationEvidence, Evidence, PolicyEvidence, PromotedImage, PullRequestSpec, RekorEvidence,
    SecretReference, SignatureEvidence,
};
use sealift_forge::body::{self, Report};
use sealift_forge::{
    BudgetConfig, Capabilities, ForgeConfig, ForgeKind, ManualClock, NewPullRequest, RateGovernor,
    RepoPath, RetryPolicy,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// 2024-05-01T12:00:00Z.
pub(crate) const NOW: i64 = 1_714_564_800;
pub(crate) const DIGEST: &str =
    "sha256:9f3c1a5be0f4e4c9d6b3a2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281";
pub(crate) const HEAD: &str = "sealift/bookstore/catalog-to-prod";
pub(crate) const BASE: &str = "main";
pub(crate) const HEAD_SHA: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

pub(crate) fn mk_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_at(NOW))
}

/// The stand-ins read the same manual clock as the client.
pub(crate) fn standin_clock(clock: &Arc<ManualClock>) -> Arc<dyn sealift_testrig::forge::Clock> {
    use sealift_forge::Clock as _;
    let clock = clock.clone();
    Arc::new(move || clock.unix_now())
}

/// A violation fails the test that caused it — when its stand-in is dropped at the latest.
pub(crate) fn check_on_drop<B: server::Behaviour>(standin: &server::StandIn<B>) {
    if !std::thread::panicking() {
        standin.assert_clean().unwrap();
    }
}

/// Retries without jitter, so waits can be asserted exactly.
pub(crate) fn exact_retry() -> RetryPolicy {
    RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    }
}

pub(crate) fn repo(owner: &str, name: &str) -> RepoPath {
    RepoPath {
        owner: owner.into(),
        name: name.into(),
    }
}

/// A config against a stand-in, with a manual clock and a roomy private budget.
pub(crate) fn config(
    kind: ForgeKind,
    url: &str,
    repository: RepoPath,
    credentials: sealift_forge::Credentials,
    clock: &Arc<ManualClock>,
) -> ForgeConfig {
    ForgeConfig::new(kind, url.parse().unwrap(), repository, credentials)
        .with_clock(clock.clone())
        .with_retry(exact_retry())
        .with_governor(Arc::new(RateGovernor::new(BudgetConfig {
            capacity: 1_000,
            refill_every: Duration::from_millis(10),
            max_queue: Duration::from_secs(5),
        })))
}

fn mk_signature() -> SignatureEvidence {
    SignatureEvidence {
        authority: "github-release".into(),
        identity: Some(
            "https://github.com/acme/bookstore/.github/workflows/release.yml@refs/heads/main"
                .into(),
        ),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        key_id: None,
        rekor: Some(RekorEvidence {
            log_index: 123_456_789,
            integrated_time: 1_714_564_682,
            log_id: Some("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d".into()),
        }),
    }
}

pub(crate) fn mk_image(name: &str) -> PromotedImage {
    let facts: BTreeMap<String, String> = [
        ("sourceRepository", "https://github.com/acme/bookstore"),
        ("sourceCommit", "4f1c2e0"),
        ("builderId", "https://github.com/actions/runner"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    PromotedImage {
        name: name.into(),
        reference: Some(format!("registry.example.com/acme/{name}")),
        digest: DIGEST.into(),
        evidence: Some(Evidence {
            digest: DIGEST.into(),
            policy: PolicyEvidence {
                kind: "TrustPolicy".into(),
                namespace: Some("bookstore".into()),
                name: "bookstore".into(),
                generation: Some(3),
            },
            verified_at: Some("2024-05-01T12:00:00Z".into()),
            signatures: vec![mk_signature()],
            attestations: vec![AttestationEvidence {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                envelope_digest: "sha256:aaaa".into(),
                signer: Some(mk_signature()),
                policy: Some("predicate.buildDefinition.buildType != \"\"".into()),
                facts,
            }],
        }),
    }
}

pub(crate) fn mk_spec(provider: sealift_api::ForgeProvider) -> PullRequestSpec {
    PullRequestSpec {
        provider,
        api_url: None,
        secret_ref: SecretReference {
            name: "forge-token".into(),
        },
        labels: vec!["promotion".into()],
        reviewers: vec!["alice".into()],
        team_reviewers: vec!["platform".into()],
        draft: false,
    }
}

/// The pull request the engine would open for promotion `bookstore/<name>`.
pub(crate) fn mk_new_pull(
    name: &str,
    provider: sealift_api::ForgeProvider,
    caps: &Capabilities,
) -> NewPullRequest {
    let images = [mk_image("bookstore/catalog")];
    let report = Report {
        namespace: "bookstore",
        name,
        from: "overlays/staging",
        to: "overlays/prod",
        images: &images,
        diff: Some("-  digest: sha256:1111\n+  digest: sha256:9f3c1a5b\n"),
        commit: Some(HEAD_SHA),
    };
    body::new_pull_request(&report, &mk_spec(provider), HEAD, BASE, caps)
}
