//! Rate limits and failures: `Retry-After`, spent quotas (`x-ratelimit-*`, `RateLimit-*`),
//! exponential backoff on 5xx, transport errors, the per-host budget, metrics. Time is a manual
//! clock: every wait is asserted exactly and none is actually slept.

use super::github::{Gh, TOKEN};
use super::github_standin::{BOT, OWNER, REPO};
use super::gitlab::Gl;
use super::server::Reply;
use super::*;
use sealift_forge::{Credentials, RequestEvent, RequestObserver, SecretString, connect};
use serde_json::json;
use std::sync::Mutex;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_retried() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    gh.standin.fail_next(
        "pulls/get",
        1,
        Reply::json(429, json!({"message": "Too Many Requests"})).header("retry-after", "7"),
    );
    gh.forge().get(n).await.unwrap();
    assert_eq!(gh.clock.sleeps(), [secs(7)]);
    assert_eq!(gh.standin.calls("pulls/get").len(), 2);
}

#[tokio::test]
async fn a_secondary_rate_limit_403_is_waited_out_not_reported_as_forbidden() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    let body = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest"});
    gh.standin.fail_next(
        "pulls/get",
        1,
        Reply::json(403, body.clone()).header("retry-after", "30"),
    );
    gh.forge().get(n).await.unwrap();
    // Without any header GitHub's guidance is "wait at least one minute".
    gh.standin.fail_next("pulls/get", 1, Reply::json(403, body));
    gh.forge().get(n).await.unwrap();
    assert_eq!(gh.clock.sleeps(), [secs(30), secs(60)]);
}

#[tokio::test]
async fn a_quota_spent_elsewhere_is_waited_out_until_its_reset() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    {
        // Another client spent the token's quota; GitHub answers 403 until the reset.
        let mut st = gh.standin.behaviour().state.lock().unwrap();
        st.remaining = 0;
        st.reset_at = NOW + 30;
    }
    gh.forge().get(n).await.unwrap();
    assert_eq!(gh.clock.sleeps(), [secs(30)]);
    let statuses: Vec<u16> = gh
        .standin
        .calls("pulls/get")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [403, 200]);
}

#[tokio::test]
async fn a_github_quota_spent_by_earlier_requests_is_waited_out_until_its_reset() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    {
        let mut st = gh.standin.behaviour().state.lock().unwrap();
        st.remaining = 2;
        st.reset_at = NOW + 120;
    }
    let patient = RetryPolicy {
        max_wait: secs(300),
        ..exact_retry()
    };
    let forge = connect(
        gh.config(Credentials::Token(SecretString::new(TOKEN)))
            .with_retry(patient),
    )
    .unwrap();
    for _ in 0..3 {
        forge.get(n).await.unwrap();
    }
    // The second answer said `remaining: 0`: Sealift waited for the reset instead of sending
    // the third request into a certain 403.
    assert_eq!(gh.clock.sleeps(), [secs(120)]);
    let statuses: Vec<u16> = gh
        .standin
        .calls("pulls/get")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [200, 200, 200]);
}

#[tokio::test]
async fn a_reset_beyond_the_longest_wait_fails_fast_and_holds_back_later_requests() {
    let gh = Gh::start().await;
    let forge = gh.forge();
    gh.standin.fail_next(
        "pulls/get",
        1,
        Reply::json(429, json!({"message": "API rate limit exceeded"}))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", (NOW + 3600).to_string()),
    );
    let err = forge.get(1).await.unwrap_err();
    assert_eq!(err.category(), "rate_limited");
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(secs(3600)));
    // The quota is known to be spent: the next call does not even reach the forge.
    let again = forge.find_open(HEAD, BASE).await.unwrap_err();
    assert_eq!(again.category(), "rate_limited");
    assert_eq!(gh.standin.exchanges().len(), 1);
    assert!(gh.clock.sleeps().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_with_exponential_backoff() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    gh.standin.fail_next(
        "pulls/get",
        2,
        Reply::json(502, json!({"message": "Server Error"})),
    );
    gh.forge().get(n).await.unwrap();
    assert_eq!(gh.clock.sleeps(), [Duration::from_millis(500), secs(1)]);
}

#[tokio::test]
async fn persistent_server_errors_end_as_a_transient_server_error() {
    let gh = Gh::start().await;
    gh.standin.fail_next(
        "pulls/get",
        4,
        Reply::json(503, json!({"message": "Service Unavailable"})),
    );
    let err = gh.forge().get(1).await.unwrap_err();
    assert_eq!(err.category(), "server_error");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains("HTTP 503") && err.to_string().contains("4 attempts"),
        "{err}"
    );
    assert_eq!(gh.standin.calls("pulls/get").len(), 4);
    assert_eq!(
        gh.clock.sleeps(),
        [Duration::from_millis(500), secs(1), secs(2)]
    );
}

#[tokio::test]
async fn the_per_host_budget_stops_a_runaway_promotion_before_the_forge_quota() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    let governor = Arc::new(RateGovernor::new(BudgetConfig {
        capacity: 5,
        refill_every: secs(60),
        max_queue: secs(1),
    }));
    let forge = connect(
        gh.config(Credentials::Token(SecretString::new(TOKEN)))
            .with_governor(governor.clone()),
    )
    .unwrap();
    let mut results = Vec::new();
    for _ in 0..8 {
        results.push(
            forge
                .get(n)
                .await
                .map(|_| ())
                .map_err(|e| (e.category(), e.retry_after())),
        );
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert_eq!(results[5], Err(("budget_exhausted", Some(secs(60)))));
    assert_eq!(
        gh.standin.exchanges().len(),
        5,
        "throttled requests never reach the forge"
    );
    gh.clock.advance(secs(60));
    forge.get(n).await.unwrap();
    assert!(
        gh.clock.sleeps().is_empty(),
        "an exhausted budget fails fast instead of blocking"
    );
}

#[tokio::test]
async fn repositories_on_one_host_share_a_budget_and_other_hosts_have_their_own() {
    let gh = Gh::start().await;
    let other_host = Gh::start().await;
    let governor = Arc::new(RateGovernor::new(BudgetConfig {
        capacity: 3,
        refill_every: secs(60),
        max_queue: Duration::ZERO,
    }));
    let make = |url: &str, name: &str| {
        connect(
            config(
                ForgeKind::GitHub,
                url,
                repo(OWNER, name),
                Credentials::Token(SecretString::new(TOKEN)),
                &gh.clock,
            )
            .with_governor(governor.clone()),
        )
        .unwrap()
    };
    let (gitops, other_repo, elsewhere) = (
        make(&gh.standin.url, REPO),
        make(&gh.standin.url, "other"),
        make(&other_host.standin.url, REPO),
    );
    gitops.find_open(HEAD, BASE).await.unwrap();
    gitops.find_open(HEAD, BASE).await.unwrap();
    assert_eq!(other_repo.get(1).await.unwrap_err().category(), "not_found");
    assert_eq!(
        other_repo.get(1).await.unwrap_err().category(),
        "budget_exhausted"
    );
    assert_eq!(
        gitops.find_open(HEAD, BASE).await.unwrap_err().category(),
        "budget_exhausted"
    );
    elsewhere.find_open(HEAD, BASE).await.unwrap();
    let host = gh.standin.url.trim_start_matches("http://").to_owned();
    assert!(governor.available(&host, &*gh.clock) < 1.0);
}

#[tokio::test]
async fn gitlab_ratelimit_headers_on_429_are_honoured() {
    let gl = Gl::start().await;
    let limited = |reset: i64| {
        Reply::json(429, json!({"message": "Retry later"}))
            .header("ratelimit-limit", "600")
            .header("ratelimit-remaining", "0")
            .header("ratelimit-reset", reset.to_string())
    };
    gl.standin.fail_next(
        "getApiV4ProjectsIdMergeRequests",
        1,
        limited(NOW + 12).header("retry-after", "12"),
    );
    gl.forge().find_open(HEAD, BASE).await.unwrap();
    assert_eq!(gl.clock.sleeps(), [secs(12)]);
    // Only the reset time: Sealift holds back until then.
    gl.standin
        .fail_next("getApiV4ProjectsIdMergeRequests", 1, limited(NOW + 12 + 20));
    gl.forge().find_open(HEAD, BASE).await.unwrap();
    assert_eq!(gl.clock.sleeps(), [secs(12), secs(20)]);
}

#[tokio::test]
async fn an_unreachable_forge_is_retried_then_reported_as_a_transport_error() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let clock = mk_clock();
    let forge = connect(config(
        ForgeKind::Gitea,
        &url,
        repo("a", "b"),
        Credentials::Token(SecretString::new("token-xyz-123456")),
        &clock,
    ))
    .unwrap();
    let err = forge.get(1).await.unwrap_err();
    assert_eq!(err.category(), "transport");
    assert!(err.is_transient());
    assert_eq!(
        clock.sleeps(),
        [Duration::from_millis(500), secs(1), secs(2)]
    );
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<RequestEvent>>);

impl RequestObserver for Recorder {
    fn observe(&self, event: &RequestEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test]
async fn each_attempt_is_reported_to_the_metrics_observer() {
    let gh = Gh::start().await;
    let n = gh.standin.behaviour().add_pull(HEAD, BASE, BOT);
    gh.standin
        .fail_next("pulls/get", 1, Reply::json(500, json!({"message": "boom"})));
    let recorder = Arc::new(Recorder::default());
    let forge = connect(
        gh.config(Credentials::Token(SecretString::new(TOKEN)))
            .with_observer(recorder.clone()),
    )
    .unwrap();
    forge.get(n).await.unwrap();
    let events: Vec<_> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.forge, e.operation, e.status, e.attempt))
        .collect();
    assert_eq!(
        events,
        [
            (ForgeKind::GitHub, "pulls/get", Some(500), 1),
            (ForgeKind::GitHub, "pulls/get", Some(200), 2)
        ]
    );
}
