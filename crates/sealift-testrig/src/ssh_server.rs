//! git over SSH on loopback: Debian's OpenSSH `sshd` with a fresh host key and one authorized
//! client key, serving bare repositories by absolute path. Tests pin the host key through the
//! `known_hosts` line this server hands out.

use crate::process::{Server, free_port, port_open, with_port_retries};
use crate::tools::{run, system_binary};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// A running sshd.
#[derive(Debug)]
pub struct SshServer {
    server: Server,
    port: u16,
    user: String,
    dir: TempDir,
}

impl SshServer {
    /// Starts sshd on a free loopback port accepting only the generated client key.
    pub fn start() -> Result<SshServer> {
        let sshd = system_binary("sshd")?;
        let keygen = system_binary("ssh-keygen")?;
        // sshd insists on its privilege-separation directory.
        fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        with_port_retries(|| {
            let dir = tempfile::Builder::new().prefix("sealift-ssh-").tempdir()?;
            let d = dir.path();
            for key in ["host_ed25519", "client_ed25519"] {
                let path = d.join(key).display().to_string();
                run(&keygen, &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", &path])?;
            }
            fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys"))?;
            let user = run(Path::new("/usr/bin/id"), &["-un"])?.trim().to_owned();
            let port = free_port()?;
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nAllowUsers {user}\n\
                 LogLevel ERROR\n",
                d = d.display()
            );
            fs::write(d.join("sshd_config"), config)?;
            let args = vec!["-D".to_owned(), "-e".to_owned(), "-f".to_owned(), d.join("sshd_config").display().to_string()];
            let server = Server::spawn_owning("sshd", &sshd, &args, &d.join("sshd.log"), d)?;
            server.wait_until("listening", Duration::from_secs(10), || port_open(port))?;
            Ok(SshServer { server, port, user: user.clone(), dir })
        })
        .context("starting sshd")
    }

    /// `ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH` for a repository on this machine.
    pub fn url_for(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user the client logs in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `known_hosts` line pinning this server's host key.
    pub fn known_hosts_line(&self) -> Result<String> {
        let public = fs::read_to_string(self.dir.path().join("host_ed25519.pub"))?;
        let mut parts = public.split_whitespace();
        let (kind, key) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        Ok(format!("[127.0.0.1]:{} {kind} {key}\n", self.port))
    }

    /// The authorized client's private key (OpenSSH format).
    pub fn client_private_key(&self) -> Result<String> {
        Ok(fs::read_to_string(self.client_key_path())?)
    }

    /// Path of the authorized client's private key.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The sshd PID.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}
