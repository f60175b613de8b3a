//! A real git smart-HTTP server with basic auth on loopback: Debian's nginx in front of
//! `git http-backend`, reached through fcgiwrap over TCP (nginx workers cannot open a root-owned
//! unix socket). http-backend accepts pushes only when nginx has authenticated the user and passes
//! `REMOTE_USER`; nginx buffers chunked request bodies, which git uses for pushes over 1 MiB.

use crate::process::{Server, free_port, port_open, with_port_retries};
use crate::registry::Credentials;
use crate::tools::{git_http_backend, run, system_binary};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// A running git server. Repositories live under its own temporary directory.
#[derive(Debug)]
pub struct GitServer {
    nginx: Server,
    fcgiwrap: Server,
    port: u16,
    credentials: Credentials,
    dir: TempDir,
}

/// A bare repository served by a [`GitServer`].
#[derive(Clone, Debug)]
pub struct ServedRepo {
    /// Path of the bare repository on disk (for direct inspection by tests).
    pub path: PathBuf,
    /// The smart-HTTP clone URL, without credentials.
    pub url: String,
}

impl GitServer {
    /// Starts nginx + fcgiwrap + git http-backend, requiring `credentials` for every request.
    pub fn start(credentials: Credentials) -> Result<GitServer> {
        let nginx_bin = system_binary("nginx")?;
        let fcgiwrap_bin = system_binary("fcgiwrap")?;
        let htpasswd_bin = system_binary("htpasswd")?;
        let backend = git_http_backend()?;
        with_port_retries(|| {
            let dir = tempfile::Builder::new().prefix("sealift-git-").tempdir()?;
            let root = dir.path();
            fs::create_dir_all(root.join("repos"))?;
            fs::create_dir_all(root.join("tmp"))?;
            let line = run(
                &htpasswd_bin,
                &["-bn", &credentials.username, &credentials.password],
            )?;
            fs::write(root.join("htpasswd"), line.trim())?;

            let fcgi_port = free_port()?;
            let fcgiwrap = Server::spawn(
                "fcgiwrap",
                &fcgiwrap_bin,
                &[
                    "-c".into(),
                    "4".into(),
                    "-s".into(),
                    format!("tcp:127.0.0.1:{fcgi_port}"),
                ],
                &root.join("fcgiwrap.log"),
            )?;
            fcgiwrap.wait_until("listening", Duration::from_secs(10), || {
                port_open(fcgi_port)
            })?;

            let port = free_port()?;
            let conf = nginx_conf(root, port, fcgi_port, &backend);
            fs::write(root.join("nginx.conf"), conf)?;
            let nginx = Server::spawn_owning(
                "nginx",
                &nginx_bin,
                &[
                    "-e".into(),
                    root.join("nginx-error.log").display().to_string(),
                    "-p".into(),
                    root.display().to_string(),
                    "-c".into(),
                    root.join("nginx.conf").display().to_string(),
                ],
                &root.join("nginx.log"),
                root,
            )?;
            nginx.wait_until("listening", Duration::from_secs(10), || port_open(port))?;
            Ok(GitServer {
                nginx,
                fcgiwrap,
                port,
                credentials: credentials.clone(),
                dir,
            })
        })
        .context("starting the git smart-HTTP server")
    }

    /// The credentials the server requires.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// PIDs of nginx and fcgiwrap.
    pub fn pids(&self) -> [u32; 2] {
        [self.nginx.pid(), self.fcgiwrap.pid()]
    }

    /// Creates an empty bare repository `name.git` whose default branch is `main`.
    pub fn create_repo(&self, name: &str) -> Result<ServedRepo> {
        if name.is_empty() || name.contains("..") || name.starts_with('/') {
            bail!("invalid repository name {name:?}");
        }
        let path = self.dir.path().join("repos").join(format!("{name}.git"));
        let repo = git2::Repository::init_opts(
            &path,
            git2::RepositoryInitOptions::new()
                .bare(true)
                .initial_head("main"),
        )
        .with_context(|| format!("creating {}", path.display()))?;
        repo.config()?.set_bool("http.receivepack", true)?;
        Ok(ServedRepo {
            path,
            url: format!("{}/{name}.git", self.base_url()),
        })
    }
}

fn nginx_conf(root: &Path, port: u16, fcgi_port: u16, backend: &Path) -> String {
    let root = root.display();
    // Workers must be able to read the htpasswd file in our 0700 temp dir.
    let user = if is_root() { "user root root;" } else { "" };
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp/body;
  fastcgi_temp_path {root}/tmp/fastcgi;
  proxy_temp_path {root}/tmp/proxy;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location / {{
      auth_basic "sealift-test-git";
      auth_basic_user_file {root}/htpasswd;
      fastcgi_pass 127.0.0.1:{fcgi_port};
      fastcgi_read_timeout 300s;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_PROJECT_ROOT {root}/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
    }}
  }}
}}
"#,
        backend = backend.display()
    )
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
