//! Options `sealift promote` and `sealift controller` share: the engine's wiring.

use anyhow::{Context, Result};
use sealift_adapters::{BudgetConfig, ForgeBudgets, Wiring};
use sealift_core::Timing;
use sealift_gitops::Identity;
use sealift_verify::{PlainHttp, TrustedRoot, VerifierConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Secrets named by `secretRef`s, one folder per Secret: `DIR/<name>/<key>` (the layout of a
    /// mounted Secret). Git credentials: `username` + `password`, or `token`; forge: `token`.
    #[arg(long, value_name = "DIR", env = "SEALIFT_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Default Sigstore `trusted_root.json`: for keyless authorities without `trustRoot` and the
    /// Rekor keys of key-based signatures.
    #[arg(long, value_name = "FILE", env = "SEALIFT_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// Talk plain HTTP to these registries (`host:port`, repeatable): local test registries only.
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
    /// Registry credentials for reading signatures and attestations, as a Docker `config.json`
    /// (`{"auths": {"host:port": {"auth": base64("user:password")}}}`, e.g. a mounted
    /// `kubernetes.io/dockerconfigjson` Secret). Anonymous elsewhere.
    #[arg(long, value_name = "FILE", env = "SEALIFT_REGISTRY_AUTH")]
    pub registry_auth: Option<PathBuf>,
    /// The persistent repository cache (one bare clone per repository URL).
    #[arg(long, value_name = "DIR", env = "SEALIFT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Author and committer name of promotion commits.
    #[arg(long, default_value = "Sealift", env = "SEALIFT_GIT_AUTHOR_NAME")]
    pub author_name: String,
    /// Author and committer e-mail of promotion commits.
    #[arg(
        long,
        default_value = "sealift@localhost",
        env = "SEALIFT_GIT_AUTHOR_EMAIL"
    )]
    pub author_email: String,
    /// Client-side forge request budget, repeatable: `BURST,PER_SECOND` for every API host, or
    /// `HOST=BURST,PER_SECOND` for one (`host` or `host:port` of the API URL). A token bucket per
    /// host: BURST requests at once, then PER_SECOND. Default `120,1` (below GitHub's limits);
    /// raise it for a self-hosted forge, e.g. `--forge-budget gitlab.example.com=600,10`.
    #[arg(long = "forge-budget", value_name = "[HOST=]BURST,PER_SECOND", value_parser = parse_forge_budget)]
    pub forge_budget: Vec<(Option<String>, BudgetConfig)>,
}

/// Parses `[HOST=]BURST,PER_SECOND` (see `--forge-budget`).
fn parse_forge_budget(text: &str) -> Result<(Option<String>, BudgetConfig), String> {
    let (host, rest) = match text.split_once('=') {
        Some((host, rest)) if !host.trim().is_empty() => (Some(host.trim().to_owned()), rest),
        Some(_) => return Err(format!("{text:?}: the host before `=` is empty")),
        None => (None, text),
    };
    let usage = || format!("{text:?}: expected [HOST=]BURST,PER_SECOND, e.g. 120,1");
    let (burst, rate) = rest.split_once(',').ok_or_else(usage)?;
    let burst: u32 = burst.trim().parse().map_err(|_| usage())?;
    let rate: f64 = rate.trim().parse().map_err(|_| usage())?;
    if burst == 0 || !rate.is_finite() || rate <= 0.0 || rate > 10_000.0 {
        return Err(format!(
            "{text:?}: BURST must be at least 1 and PER_SECOND in (0, 10000]"
        ));
    }
    Ok((
        host,
        BudgetConfig {
            capacity: burst,
            refill_every: std::time::Duration::from_secs_f64(1.0 / rate),
            ..BudgetConfig::default()
        },
    ))
}

impl EngineArgs {
    pub fn wiring(&self, trusted_root: Option<Arc<TrustedRoot>>, timing: Timing) -> Result<Wiring> {
        let mut verifier = VerifierConfig::default();
        if !self.plain_http.is_empty() {
            verifier.registry.plain_http = PlainHttp::Hosts(self.plain_http.clone());
        }
        if let Some(path) = &self.registry_auth {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            verifier.registry.credentials = docker_auths(&text)
                .with_context(|| format!("{}: not a Docker config.json", path.display()))?;
        }
        let cache_dir = match &self.cache_dir {
            Some(d) => d.clone(),
            None => default_cache_dir(),
        };
        Ok(Wiring {
            cache_dir,
            identity: Identity {
                name: self.author_name.clone(),
                email: self.author_email.clone(),
            },
            verifier,
            trusted_root,
            own_namespace: std::env::var("POD_NAMESPACE")
                .unwrap_or_else(|_| "sealift-system".into()),
            timing,
            forge_budgets: forge_budgets(&self.forge_budget),
        })
    }
}

/// The `--forge-budget` flags as budgets: a later flag for the same host wins.
fn forge_budgets(flags: &[(Option<String>, BudgetConfig)]) -> ForgeBudgets {
    let mut budgets = ForgeBudgets::default();
    for (host, budget) in flags {
        match host {
            None => budgets.default = *budget,
            Some(h) => {
                budgets.hosts.insert(h.clone(), *budget);
            }
        }
    }
    budgets
}

fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("sealift");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("sealift");
    }
    std::env::temp_dir().join("sealift-cache")
}

pub fn read_trusted_root(path: Option<&Path>) -> Result<Option<Arc<TrustedRoot>>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let root = TrustedRoot::from_json(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a trusted_root.json: {e}", path.display()))?;
    Ok(Some(Arc::new(root)))
}

/// The `auths` of a Docker `config.json`: `auth` (base64 `user:password`) or `username` +
/// `password` per registry host. Values never appear in errors.
pub fn docker_auths(
    text: &[u8],
) -> Result<std::collections::BTreeMap<String, sealift_verify::RegistryCredentials>> {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_slice(text).context("not JSON")?;
    let auths = v
        .get("auths")
        .and_then(|a| a.as_object())
        .context("no `auths` object")?;
    let mut out = std::collections::BTreeMap::new();
    for (host, entry) in auths {
        let host = host
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let (username, password) = match (
            entry.get("auth").and_then(|a| a.as_str()),
            entry.get("username").and_then(|u| u.as_str()),
            entry.get("password").and_then(|p| p.as_str()),
        ) {
            (Some(auth), _, _) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .with_context(|| {
                        format!("`auths.{host}.auth` is not base64 of user:password")
                    })?;
                let (u, p) = raw
                    .split_once(':')
                    .with_context(|| format!("`auths.{host}.auth` has no `:`"))?;
                (u.to_owned(), p.to_owned())
            }
            (None, Some(u), Some(p)) => (u.to_owned(), p.to_owned()),
            _ => anyhow::bail!("`auths.{host}` needs `auth`, or `username` and `password`"),
        };
        out.insert(
            host,
            sealift_verify::RegistryCredentials { username, password },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{docker_auths, forge_budgets, parse_forge_budget};
    use std::time::Duration;

    #[test]
    fn forge_budgets_parse_per_host_and_bad_ones_are_refused() {
        let all = parse_forge_budget("240,2").unwrap();
        assert_eq!(all.0, None);
        assert_eq!(
            (all.1.capacity, all.1.refill_every),
            (240, Duration::from_millis(500))
        );
        let one = parse_forge_budget("gitlab.example.com:8443=600,10").unwrap();
        assert_eq!(one.0.as_deref(), Some("gitlab.example.com:8443"));
        assert_eq!(one.1.refill_every, Duration::from_millis(100));
        let budgets = forge_budgets(&[all.clone(), one.clone()]);
        assert_eq!(budgets.default, all.1);
        assert_eq!(budgets.hosts["gitlab.example.com:8443"], one.1);
        // Unset: the library's default (120, then one a second).
        assert_eq!(forge_budgets(&[]).default, super::BudgetConfig::default());
        for bad in [
            "120", "0,1", "120,0", "120,-1", "120,inf", "=120,1", "x,1", "120,1e9",
        ] {
            assert!(parse_forge_budget(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_config_auths_are_read_and_errors_never_show_the_secret() {
        let auths = docker_auths(
            br#"{"auths": {"https://registry.example.com/": {"auth": "Ym90OnMzY3IzdA=="},
                           "127.0.0.1:5000": {"username": "ci", "password": "pw"}}}"#,
        )
        .unwrap();
        assert_eq!(auths["registry.example.com"].username, "bot");
        assert_eq!(auths["registry.example.com"].password, "s3cr3t");
        assert_eq!(auths["127.0.0.1:5000"].password, "pw");
        let err = docker_auths(br#"{"auths": {"r": {"auth": "bm9jb2xvbnNlY3JldA=="}}}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("nocolonsecret"), "{err}");
        assert!(docker_auths(b"{}").is_err());
    }
}
