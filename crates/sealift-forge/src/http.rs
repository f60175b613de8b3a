//! The one place that talks HTTP: authentication, the client-side budget, `Retry-After`, backoff
//! on 5xx and transport errors, a metric per attempt, and scrubbed error messages.
//!
//! Providers build [`ApiRequest`]s and interpret [`ApiResponse`]s; they never see a token.

use crate::clock::Clock;
use crate::config::{RequestEvent, RequestObserver};
use crate::error::ForgeError;
use crate::github::app::AppAuth;
use crate::model::ForgeKind;
use crate::ratelimit::{RateGovernor, RetryPolicy, quota_spent, reset_wait, retry_after};
use crate::secret::{SecretString, scrub};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest response body Sealift reads (a page of 100 GitHub pull requests is ~1 MiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Longest forge message copied into an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// How requests authenticate.
pub(crate) enum Auth {
    /// A static token in a header: `Authorization: Bearer …` (GitHub), `Authorization: token …`
    /// (Gitea, Forgejo), `PRIVATE-TOKEN: …` or `Authorization: Bearer …` (GitLab).
    Header {
        name: HeaderName,
        scheme: Option<&'static str>,
        token: SecretString,
    },
    /// A GitHub App installation token, minted and refreshed on demand.
    GitHubApp(Arc<AppAuth>),
}

/// A resolved credential for one request.
pub(crate) struct ResolvedAuth {
    name: HeaderName,
    value: HeaderValue,
    secret: SecretString,
}

impl ResolvedAuth {
    pub(crate) fn new(
        name: HeaderName,
        scheme: Option<&str>,
        token: &SecretString,
    ) -> Result<Self, ForgeError> {
        let raw = match scheme {
            Some(scheme) => format!("{scheme} {}", token.expose_secret()),
            None => token.expose_secret().to_owned(),
        };
        let mut value = HeaderValue::from_str(&raw).map_err(|_| {
            ForgeError::config("the forge token contains characters not allowed in an HTTP header")
        })?;
        value.set_sensitive(true);
        Ok(Self {
            name,
            value,
            secret: token.clone(),
        })
    }

    pub(crate) fn bearer(token: &SecretString) -> Result<Self, ForgeError> {
        Self::new(AUTHORIZATION, Some("Bearer"), token)
    }
}

/// One API call, relative to the forge's API base URL.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path segments, each percent-encoded on its own (so a GitLab project path `group/app`
    /// becomes one segment `group%2Fapp`).
    pub path: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// The forge's operation id (`pulls/create`, `repoCreatePullRequest`, …), for logs, metrics
    /// and error messages.
    pub operation: &'static str,
}

impl ApiRequest {
    pub(crate) fn new<S: AsRef<str>>(method: Method, operation: &'static str, path: &[S]) -> Self {
        Self {
            method,
            path: path.iter().map(|s| s.as_ref().to_owned()).collect(),
            query: Vec::new(),
            body: None,
            operation,
        }
    }

    pub(crate) fn get<S: AsRef<str>>(operation: &'static str, path: &[S]) -> Self {
        Self::new(Method::GET, operation, path)
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// Attaches a JSON body.
    pub(crate) fn body<T: serde::Serialize>(mut self, body: &T) -> Result<Self, ForgeError> {
        let value = serde_json::to_value(body).map_err(|e| {
            ForgeError::config(format!("cannot encode the {} request: {e}", self.operation))
        })?;
        self.body = Some(value);
        Ok(self)
    }
}

/// A final answer (after retries).
pub(crate) struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    body: Vec<u8>,
    /// The forge's message(s) from the body, scrubbed of credentials and truncated.
    pub message: String,
    operation: &'static str,
    forge: ForgeKind,
    host: String,
    attempts: u32,
    secrets: Vec<SecretString>,
}

impl ApiResponse {
    /// Decodes the body.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|e| ForgeError::InvalidResponse {
            forge: self.forge,
            operation: self.operation,
            detail: self.scrub(&e.to_string()),
        })
    }

    /// Decodes the body of a response that must have status `expected`; anything else becomes
    /// the matching error.
    pub(crate) fn expect<T: DeserializeOwned>(
        &self,
        expected: &[u16],
        what: &str,
    ) -> Result<T, ForgeError> {
        if expected.contains(&self.status) {
            self.json()
        } else {
            Err(self.error(what))
        }
    }

    /// Maps a non-success status to an error. `what` names the object for 404 messages.
    pub(crate) fn error(&self, what: &str) -> ForgeError {
        let (forge, operation) = (self.forge, self.operation);
        match self.status {
            401 => ForgeError::Unauthorized {
                forge,
                host: self.host.clone(),
            },
            403 => ForgeError::Forbidden {
                forge,
                operation,
                message: self.message_or("no explanation given"),
            },
            404 => ForgeError::NotFound {
                forge,
                what: what.to_owned(),
            },
            s if s >= 500 => ForgeError::Server {
                forge,
                operation,
                status: s,
                attempts: self.attempts,
            },
            s if (200..300).contains(&s) => ForgeError::InvalidResponse {
                forge,
                operation,
                detail: format!("unexpected status {s}"),
            },
            s => ForgeError::Rejected {
                forge,
                operation,
                status: s,
                message: self.message_or("no explanation given"),
            },
        }
    }

    fn message_or(&self, fallback: &str) -> String {
        if self.message.is_empty() {
            fallback.to_owned()
        } else {
            self.message.clone()
        }
    }

    fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = self
            .secrets
            .iter()
            .map(SecretString::expose_secret)
            .collect();
        scrub(text, &secrets, MAX_MESSAGE_CHARS)
    }
}

/// Everything needed to call one forge's API.
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) host: String,
    pub(crate) forge: ForgeKind,
    pub(crate) auth: Auth,
    pub(crate) quota_key: String,
    pub(crate) governor: Arc<RateGovernor>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) observer: Option<Arc<dyn RequestObserver>>,
    pub(crate) default_headers: HeaderMap,
}

impl Http {
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Sends with the configured credentials. A GitHub App installation token rejected with 401
    /// (revoked, or the app was reinstalled) is minted again once.
    pub(crate) async fn send(&self, req: &ApiRequest) -> Result<ApiResponse, ForgeError> {
        let auth = self.resolve_auth().await?;
        let resp = self.execute_with(req, &auth).await?;
        if resp.status == 401
            && let Auth::GitHubApp(app) = &self.auth
        {
            app.invalidate().await;
            let auth = self.resolve_auth().await?;
            return self.execute_with(req, &auth).await;
        }
        Ok(resp)
    }

    async fn resolve_auth(&self) -> Result<ResolvedAuth, ForgeError> {
        match &self.auth {
            Auth::Header {
                name,
                scheme,
                token,
            } => ResolvedAuth::new(name.clone(), *scheme, token),
            Auth::GitHubApp(app) => {
                let token = app.installation_token(self).await?;
                ResolvedAuth::bearer(&token)
            }
        }
    }

    fn url(&self, req: &ApiRequest) -> Result<Url, ForgeError> {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| ForgeError::config("the forge API URL cannot be a base URL"))?;
            segments.pop_if_empty();
            segments.extend(req.path.iter());
        }
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends with an explicit credential, retrying 5xx, transport errors and rate limits.
    pub(crate) async fn execute_with(
        &self,
        req: &ApiRequest,
        auth: &ResolvedAuth,
    ) -> Result<ApiResponse, ForgeError> {
        let url = self.url(req)?;
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.governor
                .admit(
                    self.forge,
                    &self.host,
                    &self.quota_key,
                    self.clock(),
                    self.retry.max_wait,
                )
                .await?;
            let started = Instant::now();
            let result = self.send_once(&url, req, auth).await;
            let status = result.as_ref().ok().map(|r| r.0);
            self.record(req, status, attempt, started.elapsed());
            let (status, headers, body) = match result {
                Ok(parts) => parts,
                Err(detail) => {
                    let detail = scrub(&detail, &[auth.secret.expose_secret()], MAX_MESSAGE_CHARS);
                    if attempt < max {
                        let wait = self.retry.backoff(attempt);
                        tracing::warn!(forge = %self.forge, operation = req.operation, attempt, %detail, "forge unreachable; retrying");
                        self.clock.sleep(wait).await;
                        continue;
                    }
                    return Err(ForgeError::Transport {
                        host: self.host.clone(),
                        detail,
                    });
                }
            };
            self.governor
                .observe(&self.quota_key, &headers, self.clock());
            let message = scrub(
                &messages(&body),
                &[auth.secret.expose_secret()],
                MAX_MESSAGE_CHARS,
            );
            if let Some(wait) = self.rate_limit_wait(status, &headers, &message, attempt) {
                if attempt < max && wait.is_none_or(|w| w <= self.retry.max_wait) {
                    tracing::info!(forge = %self.forge, operation = req.operation, status, wait_ms = wait.map(|w| w.as_millis() as u64), "rate limited by the forge; waiting");
                    // `None`: the quota is spent; `admit` waits until the reset.
                    if let Some(wait) = wait {
                        self.clock.sleep(wait).await;
                    }
                    continue;
                }
                return Err(ForgeError::RateLimited {
                    forge: self.forge,
                    host: self.host.clone(),
                    retry_after: wait.or_else(|| reset_wait(&headers, self.clock())),
                });
            }
            if status >= 500 && attempt < max {
                let wait = self.retry.backoff(attempt);
                tracing::warn!(forge = %self.forge, operation = req.operation, status, attempt, "forge server error; retrying");
                self.clock.sleep(wait).await;
                continue;
            }
            return Ok(ApiResponse {
                status,
                headers,
                body,
                message,
                operation: req.operation,
                forge: self.forge,
                host: self.host.clone(),
                attempts: attempt,
                secrets: vec![auth.secret.clone()],
            });
        }
    }

    /// `Some(Some(wait))`: wait that long; `Some(None)`: the quota is spent, wait for its reset;
    /// `None`: not a rate limit.
    fn rate_limit_wait(
        &self,
        status: u16,
        headers: &HeaderMap,
        message: &str,
        attempt: u32,
    ) -> Option<Option<Duration>> {
        let explicit = retry_after(headers, self.clock());
        let spent = quota_spent(headers);
        // GitHub answers 403 (or 429) for both primary and secondary limits; a 403 without these
        // signs is a permission problem and must not be retried.
        let mentions_limit = message.to_ascii_lowercase().contains("rate limit");
        let limited =
            status == 429 || (status == 403 && (explicit.is_some() || spent || mentions_limit));
        if !limited {
            return None;
        }
        if let Some(wait) = explicit {
            return Some(Some(wait));
        }
        if spent && reset_wait(headers, self.clock()).is_some() {
            return Some(None);
        }
        // No headers: GitHub's guidance for secondary limits is "wait at least one minute".
        let floor = if status == 403 {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        };
        Some(Some(self.retry.backoff(attempt).max(floor)))
    }

    fn record(&self, req: &ApiRequest, status: Option<u16>, attempt: u32, elapsed: Duration) {
        tracing::debug!(forge = %self.forge, operation = req.operation, method = %req.method, status, attempt, elapsed_ms = elapsed.as_millis() as u64, "forge request");
        if let Some(observer) = &self.observer {
            observer.observe(&RequestEvent {
                forge: self.forge,
                operation: req.operation,
                status,
                attempt,
                elapsed,
            });
        }
    }

    async fn send_once(
        &self,
        url: &Url,
        req: &ApiRequest,
        auth: &ResolvedAuth,
    ) -> Result<(u16, HeaderMap, Vec<u8>), String> {
        let mut builder = self
            .client
            .request(req.method.clone(), url.clone())
            .headers(self.default_headers.clone())
            .header(auth.name.clone(), auth.value.clone());
        if let Some(body) = &req.body {
            let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }
        let mut resp = builder.send().await.map_err(|e| error_chain(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("response larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The human-readable parts of an error body, across forges: GitHub's `message` and
/// `errors[].message`, GitLab's `message` (a string, a list, or a map of lists) and `error`,
/// Gitea's and Forgejo's `message`.
pub(crate) fn messages(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let mut out = Vec::new();
    for key in ["message", "error", "error_description"] {
        collect_strings(value.get(key), &mut out);
    }
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        for e in errors {
            match e {
                serde_json::Value::String(s) => out.push(s.clone()),
                other => collect_strings(other.get("message"), &mut out),
            }
        }
    }
    out.join("; ")
}

fn collect_strings(value: Option<&serde_json::Value>, out: &mut Vec<String>) {
    match value {
        Some(serde_json::Value::String(s)) => out.push(s.clone()),
        Some(serde_json::Value::Array(items)) => {
            for item in items {
                collect_strings(Some(item), out);
            }
        }
        Some(serde_json::Value::Object(map)) => {
            for (key, item) in map {
                let mut inner = Vec::new();
                collect_strings(Some(item), &mut inner);
                out.extend(inner.into_iter().map(|s| format!("{key} {s}")));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::messages;

    #[test]
    fn error_messages_are_collected_from_every_forge_shape() {
        let github = br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:x."}]}"#;
        assert_eq!(
            messages(github),
            "Validation Failed; A pull request already exists for acme:x."
        );
        let gitlab = br#"{"message":["Another open merge request already exists for this source branch: !4"]}"#;
        assert_eq!(
            messages(gitlab),
            "Another open merge request already exists for this source branch: !4"
        );
        let gitlab_fields = br#"{"message":{"title":["is too long"]}}"#;
        assert_eq!(messages(gitlab_fields), "title is too long");
        assert_eq!(messages(b"<html>bad gateway</html>"), "");
    }
}
