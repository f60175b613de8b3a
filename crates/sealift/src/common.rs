//! Options `sealift promote` and `sealift controller` share: the engine's wiring.

use anyhow::{Context, Result};
use sealift_engine::Timing;
use sealift_engine::adapters::Wiring;
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
}

impl EngineArgs {
    pub fn wiring(&self, trusted_root: Option<Arc<TrustedRoot>>, timing: Timing) -> Result<Wiring> {
        let mut verifier = VerifierConfig::default();
        if !self.plain_http.is_empty() {
            verifier.registry.plain_http = PlainHttp::Hosts(self.plain_http.clone());
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
        })
    }
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
