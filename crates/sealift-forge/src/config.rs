//! Building a [`Forge`]: where its API is, which repository, which credentials, and the shared
//! rate-limit state. Nothing here knows Kubernetes; the controller reads the Secret and hands over
//! its data as plain bytes.

use crate::clock::{Clock, SystemClock};
use crate::error::ForgeError;
use crate::http::{Auth, Http};
use crate::model::ForgeKind;
use crate::ratelimit::{RateGovernor, RetryPolicy};
use crate::secret::SecretString;
use crate::{Forge, gitea, github, gitlab};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use sealift_api::PullRequestSpec;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which repository on the forge: `owner` and `name` (GitLab: `owner` is the full group path,
/// subgroups included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoPath {
    /// User, organisation or (GitLab) group path.
    pub owner: String,
    /// Repository (project) name.
    pub name: String,
}

impl RepoPath {
    /// Reads owner and name from a clone URL: `https://host/owner/repo(.git)`,
    /// `ssh://git@host[:port]/owner/repo.git` or `git@host:owner/repo.git`. Returns the host too.
    pub fn from_clone_url(url: &str) -> Result<(String, RepoPath), ForgeError> {
        let bad = || {
            ForgeError::config(format!(
                "cannot read owner/repository from clone URL `{url}`"
            ))
        };
        let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
            if !matches!(scheme, "https" | "http" | "ssh" | "git") {
                return Err(bad());
            }
            let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
            if authority.contains('@') && scheme.starts_with("http") {
                return Err(ForgeError::config("clone URL must not carry credentials"));
            }
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let host = if scheme == "ssh" || scheme == "git" {
                host.split(':').next().unwrap_or(host)
            } else {
                host
            };
            (host.to_owned(), path)
        } else {
            // scp-like: user@host:owner/repo.git
            let (user_host, path) = url.split_once(':').ok_or_else(bad)?;
            let host = user_host.rsplit('@').next().unwrap_or(user_host);
            (host.to_owned(), path)
        };
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let (owner, name) = path.rsplit_once('/').ok_or_else(bad)?;
        if host.is_empty() || owner.is_empty() || name.is_empty() || path.contains("..") {
            return Err(bad());
        }
        Ok((
            host,
            RepoPath {
                owner: owner.to_owned(),
                name: name.to_owned(),
            },
        ))
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// `repos/<owner>/<name>/<tail…>`: the path prefix GitHub, Gitea and Forgejo share.
    pub(crate) fn repos_path(&self, tail: &[&str]) -> Vec<String> {
        let mut path = vec!["repos".to_owned(), self.owner.clone(), self.name.clone()];
        path.extend(tail.iter().map(|s| (*s).to_owned()));
        path
    }

    /// `repository owner/name`, for error messages.
    pub(crate) fn describe(&self) -> String {
        format!("repository {}", self.full_name())
    }

    /// `pull request #N in owner/name`, for error messages.
    pub(crate) fn describe_pull(&self, number: i64) -> String {
        format!("pull request #{number} in {}", self.full_name())
    }
}

/// Forge credentials, from the Secret named by `spec.pullRequest.secretRef`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// A personal or project access token. GitHub: `Authorization: Bearer`; GitLab:
    /// `PRIVATE-TOKEN`; Gitea and Forgejo: `Authorization: token`.
    Token(SecretString),
    /// An OAuth-style bearer token (GitLab `Authorization: Bearer`; same as `Token` elsewhere).
    Bearer(SecretString),
    /// A GitHub App installation.
    GitHubApp {
        /// The App's id (or client id), the JWT's `iss`.
        app_id: String,
        /// The installation on the repository's owner.
        installation_id: u64,
        /// The App's RSA private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8).
        private_key: SecretString,
    },
}

impl Credentials {
    /// Reads a Secret's data: `token` (plus `tokenType: bearer` for a GitLab OAuth token), or a
    /// GitHub App's `appId`, `installationId` and `privateKey`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, ForgeError> {
        let text = |key: &str| -> Result<Option<String>, ForgeError> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone())
                        .map(|s| s.trim().to_owned())
                        .map_err(|_| ForgeError::config(format!("secret key `{key}` is not UTF-8")))
                })
                .transpose()
        };
        if let Some(token) = text("token")? {
            let token = SecretString::new(token);
            if token.is_blank() {
                return Err(ForgeError::config("secret key `token` is empty"));
            }
            return Ok(match text("tokenType")?.as_deref() {
                None | Some("" | "token" | "private-token") => Credentials::Token(token),
                Some("bearer") => Credentials::Bearer(token),
                Some(other) => {
                    return Err(ForgeError::config(format!(
                        "secret key `tokenType` must be `token` or `bearer`, not `{other}`"
                    )));
                }
            });
        }
        match (text("appId")?, text("installationId")?, text("privateKey")?) {
            (Some(app_id), Some(installation), Some(key)) => Ok(Credentials::GitHubApp {
                app_id,
                installation_id: installation.parse().map_err(|_| {
                    ForgeError::config("secret key `installationId` must be a number")
                })?,
                private_key: SecretString::new(key),
            }),
            _ => Err(ForgeError::config(
                "the forge secret needs `token`, or `appId`, `installationId` and `privateKey`",
            )),
        }
    }
}

/// One attempt of one API call, for metrics. Every label is bounded: the forge, a static
/// operation id, the status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestEvent {
    /// The forge.
    pub forge: ForgeKind,
    /// The API operation, e.g. `pulls/create`.
    pub operation: &'static str,
    /// HTTP status, `None` for a transport error.
    pub status: Option<u16>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Time to the response headers and body.
    pub elapsed: Duration,
}

/// Receives a [`RequestEvent`] per attempt (the controller turns them into Prometheus metrics).
pub trait RequestObserver: Send + Sync + fmt::Debug {
    /// Called after every attempt.
    fn observe(&self, event: &RequestEvent);
}

/// Everything needed to build a [`Forge`].
#[derive(Clone, Debug)]
pub struct ForgeConfig {
    /// Which forge.
    pub kind: ForgeKind,
    /// API base URL: `https://api.github.com`, `https://ghe.example.com/api/v3`,
    /// `https://gitlab.example.com/api/v4`, `https://gitea.example.com/api/v1`.
    pub api_url: Url,
    /// The repository the pull requests are opened in.
    pub repository: RepoPath,
    /// Credentials.
    pub credentials: Credentials,
    /// Shared rate-limit state; share one per process so budgets are per host, not per forge.
    pub governor: Arc<RateGovernor>,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Metrics hook.
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Per-attempt timeout (connect + response).
    pub timeout: Duration,
}

impl ForgeConfig {
    /// A configuration with defaults: a private [`RateGovernor`], default retries, the system
    /// clock, a 30 s timeout.
    pub fn new(
        kind: ForgeKind,
        api_url: Url,
        repository: RepoPath,
        credentials: Credentials,
    ) -> Self {
        Self {
            kind,
            api_url,
            repository,
            credentials,
            governor: Arc::new(RateGovernor::default()),
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock::new()),
            observer: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// From a Promotion's `spec.pullRequest` and `spec.repository.url`. Without `apiUrl` the API
    /// is derived from the clone URL's host: `api.github.com` for github.com, `/api/v3` on other
    /// GitHub hosts (Enterprise Server), `/api/v4` for GitLab, `/api/v1` for Gitea and Forgejo.
    pub fn from_spec(
        spec: &PullRequestSpec,
        repository_url: &str,
        credentials: Credentials,
    ) -> Result<Self, ForgeError> {
        let kind = ForgeKind::from(spec.provider);
        let (host, repository) = RepoPath::from_clone_url(repository_url)?;
        let api = match (&spec.api_url, kind) {
            (Some(api), _) => api.clone(),
            (None, ForgeKind::GitHub) if host == "github.com" => "https://api.github.com".into(),
            (None, ForgeKind::GitHub) => format!("https://{host}/api/v3"),
            (None, ForgeKind::GitLab) => format!("https://{host}/api/v4"),
            (None, _) => format!("https://{host}/api/v1"),
        };
        let api_url = Url::parse(&api)
            .map_err(|e| ForgeError::config(format!("apiUrl `{api}` is not a URL: {e}")))?;
        Ok(Self::new(kind, api_url, repository, credentials))
    }

    /// Shares a rate governor (one per process).
    pub fn with_governor(mut self, governor: Arc<RateGovernor>) -> Self {
        self.governor = governor;
        self
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Adds a metrics hook.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// Builds the provider for `config.kind`.
pub fn connect(config: ForgeConfig) -> Result<Arc<dyn Forge>, ForgeError> {
    let ForgeConfig {
        kind,
        api_url,
        repository,
        credentials,
        governor,
        retry,
        clock,
        observer,
        timeout,
    } = config;
    if !matches!(api_url.scheme(), "https" | "http") || api_url.cannot_be_a_base() {
        return Err(ForgeError::config(format!(
            "apiUrl `{api_url}` must be an http(s) URL"
        )));
    }
    if !api_url.username().is_empty() || api_url.password().is_some() {
        return Err(ForgeError::config("apiUrl must not carry credentials"));
    }
    let host = match (api_url.host_str(), api_url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(ForgeError::config("apiUrl has no host")),
    };
    let auth = kind_auth(kind, credentials)?;
    let quota_key = match &auth {
        Auth::Header { token, .. } => {
            let digest = Sha256::digest(token.expose_secret().as_bytes());
            format!("{host}#{}", hex::encode(&digest[..8]))
        }
        Auth::GitHubApp(app) => format!("{host}#{}", app.quota_id()),
    };
    // One crypto provider (aws-lc-rs) for the whole process; already installed is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        // A redirect would re-send a POST as GET, or carry the token elsewhere; GitHub's 301 for
        // a renamed repository surfaces as an error asking to fix the URL instead.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ForgeError::config(format!("cannot build the HTTP client: {e}")))?;
    let mut default_headers = HeaderMap::new();
    default_headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("sealift/", env!("CARGO_PKG_VERSION"))),
    );
    let http = Http {
        client,
        base: api_url,
        host,
        forge: kind,
        auth,
        quota_key,
        governor,
        retry,
        clock,
        observer,
        default_headers,
    };
    Ok(match kind {
        ForgeKind::GitHub => Arc::new(github::GitHub::new(http, repository)),
        ForgeKind::GitLab => Arc::new(gitlab::GitLab::new(http, repository)),
        ForgeKind::Gitea | ForgeKind::Forgejo => Arc::new(gitea::Gitea::new(http, repository)),
    })
}

fn kind_auth(kind: ForgeKind, credentials: Credentials) -> Result<Auth, ForgeError> {
    use reqwest::header::{AUTHORIZATION, HeaderName};
    let header = |name: HeaderName, scheme, token: SecretString| {
        if token.is_blank() {
            Err(ForgeError::config("the forge token is empty"))
        } else {
            Ok(Auth::Header {
                name,
                scheme,
                token,
            })
        }
    };
    match (kind, credentials) {
        (ForgeKind::GitHub, Credentials::Token(t) | Credentials::Bearer(t)) => {
            header(AUTHORIZATION, Some("Bearer"), t)
        }
        (ForgeKind::GitLab, Credentials::Token(t)) => {
            header(HeaderName::from_static("private-token"), None, t)
        }
        (ForgeKind::GitLab, Credentials::Bearer(t)) => header(AUTHORIZATION, Some("Bearer"), t),
        (ForgeKind::Gitea | ForgeKind::Forgejo, Credentials::Token(t)) => {
            header(AUTHORIZATION, Some("token"), t)
        }
        (ForgeKind::Gitea | ForgeKind::Forgejo, Credentials::Bearer(t)) => {
            header(AUTHORIZATION, Some("Bearer"), t)
        }
        (
            ForgeKind::GitHub,
            Credentials::GitHubApp {
                app_id,
                installation_id,
                private_key,
            },
        ) => Ok(Auth::GitHubApp(Arc::new(github::app::AppAuth::new(
            &app_id,
            installation_id,
            &private_key,
        )?))),
        (kind, Credentials::GitHubApp { .. }) => Err(ForgeError::config(format!(
            "GitHub App credentials cannot be used with {kind}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(owner: &str, name: &str) -> RepoPath {
        RepoPath {
            owner: owner.into(),
            name: name.into(),
        }
    }

    #[test]
    fn owner_and_repository_are_read_from_every_clone_url_form() {
        let cases = [
            (
                "https://github.com/acme/gitops.git",
                "github.com",
                repo("acme", "gitops"),
            ),
            (
                "https://gitlab.example.com/platform/envs/gitops",
                "gitlab.example.com",
                repo("platform/envs", "gitops"),
            ),
            (
                "ssh://git@git.example.com:2222/acme/gitops.git",
                "git.example.com",
                repo("acme", "gitops"),
            ),
            (
                "git@github.com:acme/gitops.git",
                "github.com",
                repo("acme", "gitops"),
            ),
        ];
        for (url, host, expected) in cases {
            assert_eq!(
                RepoPath::from_clone_url(url).unwrap(),
                (host.to_owned(), expected),
                "{url}"
            );
        }
        for bad in [
            "https://github.com/onlyowner",
            "ftp://x/a/b",
            "https://u:p@github.com/a/b",
        ] {
            assert!(RepoPath::from_clone_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_secret_with_a_token_or_an_app_becomes_credentials() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        assert!(matches!(
            Credentials::from_secret_data(&data(&[("token", "glpat-x\n")])).unwrap(),
            Credentials::Token(t) if t.expose_secret() == "glpat-x"
        ));
        assert!(matches!(
            Credentials::from_secret_data(&data(&[("token", "t"), ("tokenType", "bearer")]))
                .unwrap(),
            Credentials::Bearer(_)
        ));
        assert!(matches!(
            Credentials::from_secret_data(&data(&[
                ("appId", "1"),
                ("installationId", "2"),
                ("privateKey", "k")
            ]))
            .unwrap(),
            Credentials::GitHubApp {
                installation_id: 2,
                ..
            }
        ));
        let err = Credentials::from_secret_data(&data(&[("password", "x")])).unwrap_err();
        assert_eq!(err.category(), "config");
        let debug = format!(
            "{:?}",
            Credentials::from_secret_data(&data(&[("token", "ghp_topsecret")])).unwrap()
        );
        assert!(!debug.contains("topsecret"), "{debug}");
    }

    #[test]
    fn the_api_url_defaults_follow_the_forge_and_the_clone_host() {
        let spec = |provider, api: Option<&str>| PullRequestSpec {
            provider,
            api_url: api.map(str::to_owned),
            secret_ref: sealift_api::promotion::SecretReference { name: "s".into() },
            labels: vec![],
            reviewers: vec![],
            team_reviewers: vec![],
            draft: false,
        };
        use sealift_api::ForgeProvider::*;
        let token = || Credentials::Token(SecretString::new("t"));
        let api = |p, api, url| {
            ForgeConfig::from_spec(&spec(p, api), url, token())
                .unwrap()
                .api_url
                .to_string()
        };
        assert_eq!(
            api(Github, None, "https://github.com/a/b"),
            "https://api.github.com/"
        );
        assert_eq!(
            api(Github, None, "https://ghe.corp/a/b"),
            "https://ghe.corp/api/v3"
        );
        assert_eq!(
            api(Gitlab, None, "git@gitlab.corp:g/s/p.git"),
            "https://gitlab.corp/api/v4"
        );
        assert_eq!(
            api(Forgejo, None, "https://code.corp/a/b.git"),
            "https://code.corp/api/v1"
        );
        assert_eq!(
            api(Gitea, Some("http://127.0.0.1:3000/api/v1"), "https://x/a/b"),
            "http://127.0.0.1:3000/api/v1"
        );
    }
}
