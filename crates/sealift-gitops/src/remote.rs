//! libgit2 remotes with Sealift's rules: credentials from memory, offered once (libgit2 asks again
//! after every refusal, forever), SSH host keys checked against pinned `known_hosts`, and the
//! server's per-ref verdict on a push captured instead of ignored.

use crate::credentials::{GitCredentials, KnownHosts};
use crate::error::GitError;
use git2::{CertificateCheckStatus, Cred, FetchOptions, PushOptions, RemoteCallbacks, Repository};
use std::cell::{Cell, RefCell};

/// What went wrong talking to a remote, before it is given a user-facing meaning.
#[derive(Debug)]
pub(crate) enum RemoteError {
    /// The server refused the credentials, or asked for some and there were none.
    Auth,
    /// The SSH host key is not pinned in known_hosts.
    UnknownHostKey(String),
    /// The server refused to update a ref.
    Rejected { refname: String, message: String },
    /// Anything else libgit2 reported.
    Git(git2::Error),
    /// Network, HTTP or protocol failure of Sealift's own smart-HTTP client.
    Transport(String),
    /// The server needs something Sealift's smart-HTTP client does not do (libgit2 takes over).
    Unsupported(String),
}

pub(crate) struct Remote<'a> {
    url: &'a str,
    creds: &'a GitCredentials,
}

impl<'a> Remote<'a> {
    pub(crate) fn new(url: &'a str, creds: &'a GitCredentials) -> Self {
        Remote { url, creds }
    }

    /// Runs `f` with callbacks installed and maps libgit2's answer to a [`RemoteError`].
    fn with_callbacks<T>(
        &self,
        f: impl FnOnce(RemoteCallbacks<'_>) -> Result<T, git2::Error>,
        rejected: &RefCell<Option<(String, String)>>,
    ) -> Result<T, RemoteError> {
        let asked = Cell::new(0u32);
        let bad_host = RefCell::new(None::<String>);
        let mut cb = RemoteCallbacks::new();
        let creds = self.creds;
        cb.credentials(|_url, user_from_url, _allowed| {
            asked.set(asked.get() + 1);
            if asked.get() > 1 {
                return Err(git2::Error::from_str("credentials refused"));
            }
            match creds {
                GitCredentials::Anonymous => {
                    Err(git2::Error::from_str("no credentials configured"))
                }
                GitCredentials::Basic { username, password } => {
                    Cred::userpass_plaintext(username, password.expose())
                }
                GitCredentials::Ssh {
                    username,
                    private_key,
                    passphrase,
                    ..
                } => Cred::ssh_key_from_memory(
                    user_from_url.unwrap_or(username),
                    None,
                    private_key.expose(),
                    passphrase.as_ref().map(|p| p.expose()),
                ),
            }
        });
        let port = url_port(self.url);
        cb.certificate_check(|cert, host| match (cert.as_hostkey(), creds) {
            (Some(hostkey), GitCredentials::Ssh { known_hosts, .. }) => {
                let key = hostkey.hostkey().unwrap_or_default();
                if KnownHosts::parse(known_hosts).accepts(host, port, key) {
                    Ok(CertificateCheckStatus::CertificateOk)
                } else {
                    *bad_host.borrow_mut() = Some(host.to_owned());
                    Err(git2::Error::from_str("host key not in knownHosts"))
                }
            }
            (Some(_), _) => {
                *bad_host.borrow_mut() = Some(host.to_owned());
                Err(git2::Error::from_str("SSH needs knownHosts"))
            }
            // TLS: let libgit2 verify the chain as usual.
            (None, _) => Ok(CertificateCheckStatus::CertificatePassthrough),
        });
        cb.push_update_reference(|refname, status| {
            if let Some(message) = status {
                *rejected.borrow_mut() = Some((refname.to_owned(), message.to_owned()));
            }
            Ok(())
        });
        let result = f(cb);
        if let Some(host) = bad_host.borrow_mut().take() {
            return Err(RemoteError::UnknownHostKey(host));
        }
        match result {
            Ok(v) => Ok(v),
            Err(_) if asked.get() > 0 && auth_failed(&asked, creds) => Err(RemoteError::Auth),
            Err(e) if e.class() == git2::ErrorClass::Http && e.message().contains("401") => {
                Err(RemoteError::Auth)
            }
            Err(e) => Err(RemoteError::Git(e)),
        }
    }

    /// Fetches `refspec` into `repo`.
    pub(crate) fn fetch(&self, repo: &Repository, refspec: &str) -> Result<(), RemoteError> {
        let rejected = RefCell::new(None);
        self.with_callbacks(
            |cb| {
                let mut fo = FetchOptions::new();
                fo.remote_callbacks(cb);
                // Only the refspec asked for: no tags, no other branches.
                fo.download_tags(git2::AutotagOption::None);
                repo.remote_anonymous(self.url)?
                    .fetch(&[refspec], Some(&mut fo), None)
            },
            &rejected,
        )
    }

    /// Pushes `refspec` from `repo`; a ref the server refuses is an error, not a silent no-op.
    pub(crate) fn push(&self, repo: &Repository, refspec: &str) -> Result<(), RemoteError> {
        let rejected = RefCell::new(None);
        self.with_callbacks(
            |cb| {
                let mut po = PushOptions::new();
                po.remote_callbacks(cb);
                repo.remote_anonymous(self.url)?
                    .push(&[refspec], Some(&mut po))
            },
            &rejected,
        )?;
        match rejected.into_inner() {
            Some((refname, message)) => Err(RemoteError::Rejected { refname, message }),
            None => Ok(()),
        }
    }
}

/// Credentials were offered and refused (asked twice), or needed and absent (asked once with none).
fn auth_failed(asked: &Cell<u32>, creds: &GitCredentials) -> bool {
    asked.get() > 1 || matches!(creds, GitCredentials::Anonymous)
}

/// The explicit port of an `ssh://host:port/…` or `https://host:port/…` URL.
fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

/// Gives a remote failure its user-facing meaning.
pub(crate) fn classify(url: &str, e: RemoteError, branch: Option<&str>) -> GitError {
    match e {
        RemoteError::Auth => GitError::AuthFailed {
            url: url.to_owned(),
        },
        RemoteError::UnknownHostKey(host) => {
            GitError::InvalidCredentials(format!("the SSH host key of {host} is not in knownHosts"))
        }
        RemoteError::Rejected { refname, message } => GitError::Rejected { refname, message },
        RemoteError::Transport(message) => GitError::Transport {
            url: url.to_owned(),
            message,
        },
        RemoteError::Unsupported(what) => GitError::Transport {
            url: url.to_owned(),
            message: format!("unsupported by the smart-HTTP client: {what}"),
        },
        RemoteError::Git(g) => {
            let msg = g.message().to_owned();
            if let Some(branch) = branch
                && (msg.contains("couldn't find remote ref") || msg.contains("not found"))
            {
                return GitError::BranchNotFound {
                    url: url.to_owned(),
                    branch: branch.to_owned(),
                };
            }
            match g.class() {
                git2::ErrorClass::Net
                | git2::ErrorClass::Http
                | git2::ErrorClass::Ssh
                | git2::ErrorClass::Ssl => GitError::Transport {
                    url: url.to_owned(),
                    message: msg,
                },
                _ => GitError::Git(g),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_port;

    #[test]
    fn ports_are_read_from_urls_with_and_without_users() {
        assert_eq!(
            url_port("ssh://git@127.0.0.1:2222/acme/repo.git"),
            Some(2222)
        );
        assert_eq!(url_port("https://git.example.com/acme/repo.git"), None);
        assert_eq!(url_port("http://127.0.0.1:8080/r.git"), Some(8080));
        assert_eq!(url_port("git@github.com:acme/repo.git"), None);
    }
}
