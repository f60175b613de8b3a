//! A minimal OCI distribution client for exactly what verification needs: one manifest by tag
//! and blobs by digest, with size caps, timeouts, bounded retries, request counters, and
//! anonymous, basic or bearer-token (distribution token flow) authentication.
//!
//! Why not `oci-client` / sigstore's client: their pull paths issue a HEAD plus the manifest twice
//! per artifact and cannot cap a hostile layer's size or count requests.

use crate::error::VerifyError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
                               application/vnd.docker.distribution.manifest.v2+json";
const INDEX_ACCEPT: &str = "application/vnd.oci.image.index.v1+json";
const TOKEN_RESPONSE_LIMIT: u64 = 64 * 1024;

/// Registry credentials. `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which registries are spoken to over plain HTTP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PlainHttp {
    /// HTTPS everywhere (the default).
    #[default]
    Never,
    /// Plain HTTP everywhere (loopback test registries).
    Always,
    /// Plain HTTP for these `host[:port]`s only.
    Hosts(Vec<String>),
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Plain-HTTP registries.
    pub plain_http: PlainHttp,
    /// Credentials per `host[:port]`; anonymous elsewhere.
    pub credentials: BTreeMap<String, RegistryCredentials>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one whole request, body included.
    pub request_timeout: Duration,
    /// Retries after a transport error, a timeout, 429 or 5xx.
    pub retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub retry_backoff: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            plain_http: PlainHttp::Never,
            credentials: BTreeMap::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            retries: 2,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// Registry requests made so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Manifest GETs.
    pub manifests: u64,
    /// Blob GETs.
    pub blobs: u64,
    /// Token-endpoint GETs (bearer flow).
    pub tokens: u64,
    /// Requests answered 401 that taught the client the auth scheme.
    pub challenges: u64,
}

impl RequestCounts {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.manifests + self.blobs + self.tokens + self.challenges
    }
}

#[derive(Default)]
struct Counters {
    manifests: AtomicU64,
    blobs: AtomicU64,
    tokens: AtomicU64,
    challenges: AtomicU64,
}

#[derive(Clone, Debug)]
enum HostAuth {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone)]
struct Token {
    value: String,
    expires: Instant,
}

/// The registry client.
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    config: RegistryConfig,
    schemes: Mutex<HashMap<String, HostAuth>>,
    tokens: Mutex<HashMap<(String, String), Token>>,
    counters: Counters,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Referrers,
    Blob,
}

impl RegistryClient {
    pub(crate) fn new(config: RegistryConfig) -> Result<RegistryClient, VerifyError> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("sealift/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VerifyError::Registry {
                registry: "(client)".into(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(RegistryClient {
            http,
            config,
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    pub(crate) fn counts(&self) -> RequestCounts {
        RequestCounts {
            manifests: self.counters.manifests.load(Ordering::Relaxed),
            blobs: self.counters.blobs.load(Ordering::Relaxed),
            tokens: self.counters.tokens.load(Ordering::Relaxed),
            challenges: self.counters.challenges.load(Ordering::Relaxed),
        }
    }

    fn scheme(&self, host: &str) -> &'static str {
        let plain = match &self.config.plain_http {
            PlainHttp::Never => false,
            PlainHttp::Always => true,
            PlainHttp::Hosts(h) => h.iter().any(|x| x == host),
        };
        if plain { "http" } else { "https" }
    }

    /// Fetches the manifest tagged `tag`; `Ok(None)` when it does not exist.
    pub(crate) async fn manifest(
        &self,
        host: &str,
        repository: &str,
        tag: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, VerifyError> {
        let url = format!(
            "{}://{host}/v2/{repository}/manifests/{tag}",
            self.scheme(host)
        );
        let what = format!("manifest {repository}:{tag}");
        match self
            .get(host, repository, &url, Kind::Manifest, &what)
            .await?
        {
            None => Ok(None),
            Some(resp) => read_capped(host, resp, limit, &what, self.config.request_timeout)
                .await
                .map(Some),
        }
    }

    /// The OCI 1.1 referrers index of `digest`; `Ok(None)` when the registry has no referrers API.
    pub(crate) async fn referrers(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, VerifyError> {
        let url = format!(
            "{}://{host}/v2/{repository}/referrers/{digest}",
            self.scheme(host)
        );
        let what = format!("referrers of {repository}@{digest}");
        match self
            .get(host, repository, &url, Kind::Referrers, &what)
            .await?
        {
            None => Ok(None),
            Some(resp) => read_capped(host, resp, limit, &what, self.config.request_timeout)
                .await
                .map(Some),
        }
    }

    /// Fetches a blob and checks it against its digest.
    pub(crate) async fn blob(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        limit: u64,
    ) -> Result<Vec<u8>, VerifyError> {
        let url = format!(
            "{}://{host}/v2/{repository}/blobs/{digest}",
            self.scheme(host)
        );
        let what = format!("layer {digest}");
        let resp = self
            .get(host, repository, &url, Kind::Blob, &what)
            .await?
            .ok_or_else(|| VerifyError::malformed(&what, "the registry does not have it (404)"))?;
        let bytes = read_capped(host, resp, limit, &what, self.config.request_timeout).await?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != digest {
            return Err(VerifyError::malformed(
                what,
                "its content does not match its digest",
            ));
        }
        Ok(bytes)
    }

    async fn auth_header(
        &self,
        host: &str,
        repository: &str,
    ) -> Result<Option<HeaderValue>, VerifyError> {
        let scheme = self.schemes.lock().ok().and_then(|s| s.get(host).cloned());
        let creds = self.config.credentials.get(host);
        match scheme {
            None => Ok(None),
            Some(HostAuth::Basic) => Ok(creds.map(basic_header).transpose()?),
            Some(HostAuth::Bearer { realm, service }) => {
                let scope = format!("repository:{repository}:pull");
                let key = (host.to_owned(), scope.clone());
                let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
                let token = match cached {
                    Some(t) if t.expires > Instant::now() => t.value,
                    _ => {
                        let t = self
                            .fetch_token(host, &realm, service.as_deref(), &scope)
                            .await?;
                        let value = t.value.clone();
                        if let Ok(mut tokens) = self.tokens.lock() {
                            tokens.insert(key, t);
                        }
                        value
                    }
                };
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map(Some)
                    .map_err(|_| VerifyError::Registry {
                        registry: host.to_owned(),
                        reason: "the token endpoint returned an unusable token".into(),
                    })
            }
        }
    }

    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Token, VerifyError> {
        self.counters.tokens.fetch_add(1, Ordering::Relaxed);
        let mut req = self.http.get(realm).query(&[("scope", scope)]);
        if let Some(s) = service {
            req = req.query(&[("service", s)]);
        }
        if let Some(c) = self.config.credentials.get(host) {
            req = req.header(AUTHORIZATION, basic_header(c)?);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(host, &e, self.config.request_timeout))?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(VerifyError::RegistryAuth {
                    registry: host.to_owned(),
                    status: resp.status().as_u16(),
                });
            }
            s => {
                return Err(VerifyError::Registry {
                    registry: host.to_owned(),
                    reason: format!("the token endpoint answered HTTP {}", s.as_u16()),
                });
            }
        }
        let body = read_capped(
            host,
            resp,
            TOKEN_RESPONSE_LIMIT,
            "token response",
            self.config.request_timeout,
        )
        .await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| VerifyError::Registry {
                registry: host.to_owned(),
                reason: "the token endpoint did not return JSON".into(),
            })?;
        let value = parsed
            .token
            .or(parsed.access_token)
            .ok_or_else(|| VerifyError::Registry {
                registry: host.to_owned(),
                reason: "the token endpoint returned no token".into(),
            })?;
        // distribution's default lifetime is 60 s; keep a margin.
        let lifetime = parsed.expires_in.unwrap_or(60).saturating_sub(10).max(1);
        Ok(Token {
            value,
            expires: Instant::now() + Duration::from_secs(lifetime),
        })
    }

    /// GET with auth, retries and counters. `Ok(None)` on 404.
    async fn get(
        &self,
        host: &str,
        repository: &str,
        url: &str,
        kind: Kind,
        what: &str,
    ) -> Result<Option<reqwest::Response>, VerifyError> {
        let mut attempt = 0;
        let mut challenged = false;
        loop {
            let mut req = self.http.get(url);
            match kind {
                Kind::Manifest => req = req.header(ACCEPT, MANIFEST_ACCEPT),
                Kind::Referrers => req = req.header(ACCEPT, INDEX_ACCEPT),
                Kind::Blob => {}
            }
            if let Some(h) = self.auth_header(host, repository).await? {
                req = req.header(AUTHORIZATION, h);
            }
            let counter = match kind {
                Kind::Manifest | Kind::Referrers => &self.counters.manifests,
                Kind::Blob => &self.counters.blobs,
            };
            let result = req.send().await;
            let retryable = match result {
                Err(e) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let err = transport_error(host, &e, self.config.request_timeout);
                    if attempt >= self.config.retries {
                        return Err(err);
                    }
                    err
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED && !challenged {
                        self.counters.challenges.fetch_add(1, Ordering::Relaxed);
                        challenged = true;
                        self.learn_challenge(host, &resp)?;
                        continue;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    match status {
                        s if s.is_success() => return Ok(Some(resp)),
                        StatusCode::NOT_FOUND => return Ok(None),
                        // Registries without the referrers API may answer 400/405 instead of 404.
                        StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED
                            if kind == Kind::Referrers =>
                        {
                            return Ok(None);
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(VerifyError::RegistryAuth {
                                registry: host.to_owned(),
                                status: status.as_u16(),
                            });
                        }
                        s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                            let err = VerifyError::Registry {
                                registry: host.to_owned(),
                                reason: format!("{what}: HTTP {}", s.as_u16()),
                            };
                            if attempt >= self.config.retries {
                                return Err(err);
                            }
                            err
                        }
                        s => {
                            return Err(VerifyError::Registry {
                                registry: host.to_owned(),
                                reason: format!("{what}: unexpected HTTP {}", s.as_u16()),
                            });
                        }
                    }
                }
            };
            tracing::debug!(registry = host, attempt, error = %retryable, "retrying registry request");
            let backoff = self
                .config
                .retry_backoff
                .saturating_mul(1 << attempt.min(6));
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    fn learn_challenge(&self, host: &str, resp: &reqwest::Response) -> Result<(), VerifyError> {
        let header = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let auth = parse_challenge(header).ok_or_else(|| VerifyError::RegistryAuth {
            registry: host.to_owned(),
            status: 401,
        })?;
        if matches!(auth, HostAuth::Basic) && !self.config.credentials.contains_key(host) {
            return Err(VerifyError::RegistryAuth {
                registry: host.to_owned(),
                status: 401,
            });
        }
        if let Ok(mut schemes) = self.schemes.lock() {
            schemes.insert(host.to_owned(), auth);
        }
        Ok(())
    }
}

fn basic_header(c: &RegistryCredentials) -> Result<HeaderValue, VerifyError> {
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        B64.encode(format!("{}:{}", c.username, c.password))
    ))
    .map_err(|_| VerifyError::Registry {
        registry: "(credentials)".into(),
        reason: "the registry credentials contain characters not allowed in a header".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Parses `Basic realm=…` or `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(header: &str) -> Option<HostAuth> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(HostAuth::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for part in split_params(params) {
        if let Some((k, v)) = part.split_once('=') {
            let v = v.trim().trim_matches('"').to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "realm" => realm = Some(v),
                "service" => service = Some(v),
                _ => {}
            }
        }
    }
    Some(HostAuth::Bearer {
        realm: realm.filter(|r| r.starts_with("http://") || r.starts_with("https://"))?,
        service,
    })
}

/// Splits on commas outside quotes (`scope="repository:a:pull,push"` has one).
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn transport_error(host: &str, e: &reqwest::Error, timeout: Duration) -> VerifyError {
    if e.is_timeout() {
        VerifyError::RegistryTimeout {
            registry: host.to_owned(),
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }
    } else {
        // The URL is ours and carries no credentials; reqwest's message names the failure.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        VerifyError::RegistryUnreachable {
            registry: host.to_owned(),
            reason,
        }
    }
}

async fn read_capped(
    host: &str,
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
    timeout: Duration,
) -> Result<Vec<u8>, VerifyError> {
    let too_large = || VerifyError::ArtifactTooLarge {
        artifact: what.to_owned(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(host, &e, timeout))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_with_quoted_commas() {
        let h = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#;
        match parse_challenge(h) {
            Some(HostAuth::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.example.com/token");
                assert_eq!(service.as_deref(), Some("registry.example.com"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Some(HostAuth::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge(r#"Bearer realm="file:///etc/passwd""#).is_none());
    }

    #[test]
    fn credentials_never_show_their_password() {
        let c = RegistryCredentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
