//! Git credentials held in memory only, taken from a Secret's data.

use crate::error::GitError;
use std::collections::BTreeMap;
use std::fmt;

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; only for handing to libgit2.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to authenticate to the git server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitCredentials {
    /// No credentials (public repositories, `git daemon`).
    Anonymous,
    /// HTTPS basic auth: a user name with a password or an access token.
    Basic {
        /// User name (`x-access-token` when the Secret has only a `token`).
        username: String,
        /// Password or token.
        password: SecretString,
    },
    /// SSH with a private key; the server's host key must appear in `known_hosts`.
    Ssh {
        /// SSH user (usually `git`).
        username: String,
        /// OpenSSH or PEM private key.
        private_key: SecretString,
        /// Passphrase of the private key, if it has one.
        passphrase: Option<SecretString>,
        /// `known_hosts` lines pinning the server's host key.
        known_hosts: String,
    },
}

impl GitCredentials {
    /// Reads credentials from a Secret's data: `username` + `password`, or `token` (user name
    /// `x-access-token` unless `username` is given), or `sshPrivateKey` + `knownHosts` (optional
    /// `sshPassphrase`, `username` defaulting to `git`). An empty map, or one holding only a
    /// commit signing key (see [`crate::SigningKey::from_secret_data`]), means anonymous.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, GitError> {
        let text = |key: &str| secret_text(data, key);
        if let Some(key) = text("sshPrivateKey")? {
            let known_hosts = text("knownHosts")?.ok_or_else(|| {
                GitError::InvalidCredentials(
                    "sshPrivateKey needs knownHosts: Sealift never trusts an unknown host key"
                        .into(),
                )
            })?;
            return Ok(GitCredentials::Ssh {
                username: text("username")?.unwrap_or_else(|| "git".into()),
                private_key: SecretString::new(key),
                passphrase: text("sshPassphrase")?.map(SecretString::new),
                known_hosts,
            });
        }
        let username = text("username")?;
        match (username, text("password")?, text("token")?) {
            (Some(u), Some(p), _) => Ok(GitCredentials::Basic {
                username: u,
                password: SecretString::new(p),
            }),
            (u, None, Some(t)) => Ok(GitCredentials::Basic {
                username: u.unwrap_or_else(|| "x-access-token".into()),
                password: SecretString::new(t),
            }),
            // A Secret holding only a commit signing key authenticates nobody.
            (None, None, None)
                if data.keys().all(|k| {
                    k == crate::signing::SIGNING_KEY || k == crate::signing::SIGNING_KEY_PASSPHRASE
                }) =>
            {
                Ok(GitCredentials::Anonymous)
            }
            _ => Err(GitError::InvalidCredentials(
                "expected username + password, token, or sshPrivateKey + knownHosts".into(),
            )),
        }
    }
}

/// The UTF-8 text under `key` of a Secret's data, if present.
pub(crate) fn secret_text(
    data: &BTreeMap<String, Vec<u8>>,
    key: &str,
) -> Result<Option<String>, GitError> {
    data.get(key)
        .map(|v| {
            String::from_utf8(v.clone())
                .map_err(|_| GitError::InvalidCredentials(format!("key {key:?} is not UTF-8")))
        })
        .transpose()
}

/// One `known_hosts` entry: host patterns (or a hashed host) and the raw public key.
#[derive(Clone, Debug)]
struct KnownHost {
    hosts: Vec<String>,
    hashed: Option<(Vec<u8>, Vec<u8>)>,
    key: Vec<u8>,
}

/// Parsed `known_hosts` data; matches hosts as OpenSSH does (`host`, `[host]:port`, hashed `|1|`).
#[derive(Clone, Debug, Default)]
pub struct KnownHosts(Vec<KnownHost>);

impl KnownHosts {
    /// Parses `known_hosts` text, ignoring comments, blank lines and markers it does not use.
    pub fn parse(text: &str) -> KnownHosts {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(hosts), Some(_keytype), Some(key)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(key) = b64.decode(key) else { continue };
            let hashed = hosts.strip_prefix("|1|").and_then(|rest| {
                let (salt, hash) = rest.split_once('|')?;
                Some((b64.decode(salt).ok()?, b64.decode(hash).ok()?))
            });
            let hosts = if hashed.is_some() {
                vec![]
            } else {
                hosts.split(',').map(str::to_owned).collect()
            };
            entries.push(KnownHost { hosts, hashed, key });
        }
        KnownHosts(entries)
    }

    /// True when `key` (raw SSH wire-format public key) is pinned for `host` on `port`.
    pub fn accepts(&self, host: &str, port: Option<u16>, key: &[u8]) -> bool {
        let name = match port {
            Some(p) if p != 22 => format!("[{host}]:{p}"),
            _ => host.to_owned(),
        };
        self.0.iter().any(|e| {
            let host_matches = match &e.hashed {
                Some((salt, hash)) => hmac_sha1(salt, name.as_bytes()) == *hash,
                None => e.hosts.iter().any(|h| h == &name),
            };
            host_matches && e.key == key
        })
    }
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_token_alone_becomes_basic_auth_with_the_access_token_user() {
        let c = GitCredentials::from_secret_data(&data(&[("token", "t0k")])).unwrap();
        assert_eq!(
            c,
            GitCredentials::Basic {
                username: "x-access-token".into(),
                password: SecretString::new("t0k")
            }
        );
    }

    #[test]
    fn an_ssh_key_without_known_hosts_is_refused() {
        let err = GitCredentials::from_secret_data(&data(&[("sshPrivateKey", "k")])).unwrap_err();
        assert!(err.to_string().contains("knownHosts"), "{err}");
    }

    #[test]
    fn a_username_without_password_or_token_is_refused() {
        assert!(GitCredentials::from_secret_data(&data(&[("username", "u")])).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c =
            GitCredentials::from_secret_data(&data(&[("username", "u"), ("password", "hunter2")]))
                .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn known_hosts_match_plain_bracketed_and_hashed_entries() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b"ssh-ed25519-raw-key-bytes".to_vec();
        let k = b64.encode(&key);
        let salt = b"0123456789abcdef0123".to_vec();
        let hashed = format!(
            "|1|{}|{}",
            b64.encode(&salt),
            b64.encode(hmac_sha1(&salt, b"[h3]:2222"))
        );
        let kh = KnownHosts::parse(&format!(
            "# comment\nh1,h1.example ssh-ed25519 {k}\n[127.0.0.1]:2222 ssh-ed25519 {k}\n{hashed} ssh-ed25519 {k}\n"
        ));
        assert!(kh.accepts("h1", None, &key));
        assert!(kh.accepts("h1.example", Some(22), &key));
        assert!(kh.accepts("127.0.0.1", Some(2222), &key));
        assert!(!kh.accepts("127.0.0.1", None, &key));
        assert!(kh.accepts("h3", Some(2222), &key));
        assert!(!kh.accepts("h1", None, b"another key"));
        assert!(!kh.accepts("h2", None, &key));
    }
}
