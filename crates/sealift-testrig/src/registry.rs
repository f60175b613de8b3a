//! A real OCI registry (CNCF distribution 2.8, Debian's `docker-registry`) on loopback.

use crate::process::{Server, free_port, http_status, with_port_retries};
use crate::tools::{run, system_binary};
use anyhow::{Context, Result};
use std::fs;
use std::time::Duration;
use tempfile::TempDir;

/// Basic-auth credentials for a registry or git server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// Fresh random credentials, so tests never share a password.
    pub fn random(username: &str) -> Credentials {
        use rand::Rng;
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        Credentials {
            username: username.to_owned(),
            password,
        }
    }
}

/// A running registry with its own storage directory.
#[derive(Debug)]
pub struct Registry {
    server: Server,
    port: u16,
    credentials: Option<Credentials>,
    _dir: TempDir,
}

impl Registry {
    /// Starts an anonymous registry on a free loopback port.
    pub fn start() -> Result<Registry> {
        Self::launch(None)
    }

    /// Starts a registry that requires HTTP basic auth (bcrypt htpasswd) for every request.
    pub fn start_with_auth(credentials: Credentials) -> Result<Registry> {
        Self::launch(Some(credentials))
    }

    fn launch(credentials: Option<Credentials>) -> Result<Registry> {
        let bin = system_binary("docker-registry")?;
        with_port_retries(|| {
            let dir = tempfile::Builder::new()
                .prefix("sealift-registry-")
                .tempdir()?;
            let port = free_port()?;
            let mut auth = String::new();
            if let Some(c) = &credentials {
                let htpasswd = system_binary("htpasswd")?;
                // distribution only accepts bcrypt entries.
                let line = run(&htpasswd, &["-Bbn", &c.username, &c.password])?;
                let path = dir.path().join("htpasswd");
                fs::write(&path, line.trim())?;
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: sealift-test\n    path: {}\n",
                    path.display()
                );
            }
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: sealift-test-{port}\n{auth}",
                root = dir.path().join("data").display(),
            );
            let config_path = dir.path().join("config.yml");
            fs::write(&config_path, config)?;
            let server = Server::spawn_owning(
                "docker-registry",
                &bin,
                &["serve".to_owned(), config_path.display().to_string()],
                &dir.path().join("registry.log"),
                dir.path(),
            )?;
            server.wait_until("serving /v2/", Duration::from_secs(10), || {
                matches!(http_status(port, "/v2/"), Some(200 | 401))
            })?;
            Ok(Registry {
                server,
                port,
                credentials: credentials.clone(),
                _dir: dir,
            })
        })
        .context("starting the OCI registry")
    }

    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials it requires, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// The registry process's PID.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}
