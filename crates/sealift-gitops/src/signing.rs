//! Commit signatures as `git commit -S` makes them, in the commit's `gpgsig` header: SSH
//! (`gpg.format=ssh`, an SSHSIG) or OpenPGP (`gpg.format=openpgp`, git's default, a detached
//! armored signature). Key material comes from a Secret's data and stays in memory; no key ever
//! prints in Debug output.

use crate::credentials::SecretString;
use crate::error::GitError;
use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Password, SigningKey as PgpSigningKey, Timestamp};

/// The Secret data key holding the commit signing key.
pub const SIGNING_KEY: &str = "signingKey";
/// The Secret data key holding the OpenPGP signing key's passphrase.
pub const SIGNING_KEY_PASSPHRASE: &str = "signingKeyPassphrase";

/// The key that signs promotion commits.
#[derive(Clone, Debug)]
pub enum SigningKey {
    /// An OpenSSH key (`gpg.format=ssh`).
    Ssh(SshSigningKey),
    /// An OpenPGP key (`gpg.format=openpgp`).
    OpenPgp(OpenPgpSigningKey),
}

impl SigningKey {
    /// The key that signs promotion commits, from a Secret's data: `signingKey` holds either an
    /// unencrypted OpenSSH private key (signed as `gpg.format=ssh`) or an armored OpenPGP secret
    /// key (`gpg --armor --export-secret-keys`), with its passphrase, if any, in
    /// `signingKeyPassphrase`. `None` when the Secret has no `signingKey`: commits go unsigned.
    pub fn from_secret_data(
        data: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<Option<SigningKey>, GitError> {
        let text = |key: &str| crate::credentials::secret_text(data, key);
        let Some(key) = text(SIGNING_KEY)? else {
            if data.contains_key(SIGNING_KEY_PASSPHRASE) {
                return Err(GitError::InvalidCredentials(format!(
                    "{SIGNING_KEY_PASSPHRASE} is set but {SIGNING_KEY} is not"
                )));
            }
            return Ok(None);
        };
        let passphrase = text(SIGNING_KEY_PASSPHRASE)?.map(SecretString::new);
        if key.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            if passphrase.is_some() {
                return Err(GitError::InvalidCredentials(format!(
                    "commit signing key: an OpenSSH signing key must be unencrypted; \
                     remove {SIGNING_KEY_PASSPHRASE}"
                )));
            }
            return Ok(Some(SshSigningKey::from_openssh(&key)?.into()));
        }
        if key.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Ok(Some(
                OpenPgpSigningKey::from_armored(&key, passphrase.as_ref())?.into(),
            ));
        }
        Err(GitError::InvalidCredentials(format!(
            "commit signing key: {SIGNING_KEY} is neither an OpenSSH private key \
             (-----BEGIN OPENSSH PRIVATE KEY-----) nor an armored OpenPGP secret key \
             (-----BEGIN PGP PRIVATE KEY BLOCK-----)"
        )))
    }

    /// The armored signature of the commit buffer `data`, made at `time` (seconds since the epoch:
    /// the commit's own time, so the same commit is signed the same way again).
    pub(crate) fn sign(&self, data: &[u8], time: i64) -> Result<String, GitError> {
        match self {
            SigningKey::Ssh(key) => key.sign(data),
            SigningKey::OpenPgp(key) => key.sign(data, time),
        }
    }
}

impl From<SshSigningKey> for SigningKey {
    fn from(key: SshSigningKey) -> Self {
        SigningKey::Ssh(key)
    }
}

impl From<OpenPgpSigningKey> for SigningKey {
    fn from(key: OpenPgpSigningKey) -> Self {
        SigningKey::OpenPgp(key)
    }
}

/// An OpenSSH private key that signs commits the way `git commit -S` with `gpg.format=ssh` does
/// (an SSHSIG over the commit in namespace `git`, in the `gpgsig` header). Ed25519 and ECDSA
/// signatures are deterministic, so a re-run still yields the same commit id.
#[derive(Clone)]
pub struct SshSigningKey(Box<ssh_key::PrivateKey>);

impl std::fmt::Debug for SshSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SshSigningKey(<redacted>)")
    }
}

impl SshSigningKey {
    /// Parses an unencrypted OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub fn from_openssh(pem: &str) -> Result<SshSigningKey, GitError> {
        let key = ssh_key::PrivateKey::from_openssh(pem)
            .map_err(|e| GitError::InvalidCredentials(format!("commit signing key: {e}")))?;
        if key.is_encrypted() {
            return Err(GitError::InvalidCredentials(
                "commit signing key: encrypted keys are not supported".into(),
            ));
        }
        Ok(SshSigningKey(Box::new(key)))
    }

    /// The armored SSHSIG of `data`.
    fn sign(&self, data: &[u8]) -> Result<String, GitError> {
        let sig = self
            .0
            .sign("git", ssh_key::HashAlg::Sha512, data)
            .map_err(|e| GitError::InvalidCredentials(format!("signing the commit: {e}")))?;
        sig.to_pem(ssh_key::LineEnding::LF)
            .map_err(|e| GitError::InvalidCredentials(format!("encoding the signature: {e}")))
    }
}

/// Which key of an OpenPGP certificate signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signer {
    Primary,
    Subkey(usize),
}

/// An OpenPGP secret key (`gpg --armor --export-secret-keys`) that signs commits the way
/// `git commit -S` does with gpg: a detached binary-document signature over the commit, with the
/// issuer fingerprint and the commit time as its creation time (or the key's creation time, when
/// the commit is older than the key: gpg rejects signatures older than their key). The newest
/// signing subkey that is not revoked signs; without one, the primary key does.
///
/// Only v4 keys (what GnuPG 2.2 and 2.4 create) are accepted. Ed25519, ECDSA (RFC 6979) and RSA
/// signatures are deterministic, so a re-run still yields the same commit id.
#[derive(Clone)]
pub struct OpenPgpSigningKey {
    /// The certificate, with the signing key's material already unlocked (boxed: it is large).
    key: Box<SignedSecretKey>,
    signer: Signer,
}

impl std::fmt::Debug for OpenPgpSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPgpSigningKey")
            .field("fingerprint", &self.fingerprint())
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn invalid(what: impl std::fmt::Display) -> GitError {
    // rPGP's messages describe the structure, never the key material; still keep them short.
    let text: String = what.to_string().chars().take(300).collect();
    GitError::InvalidCredentials(format!("OpenPGP signing key: {text}"))
}

impl OpenPgpSigningKey {
    /// Parses an ASCII-armored secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`), unlocking
    /// the signing key with `passphrase` when it is protected by one.
    pub fn from_armored(
        armored: &str,
        passphrase: Option<&SecretString>,
    ) -> Result<OpenPgpSigningKey, GitError> {
        if !armored.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Err(invalid(
                "expected an armored secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----)",
            ));
        }
        let (mut key, _headers) = SignedSecretKey::from_string(armored)
            .map_err(|e| invalid(format!("cannot parse the key: {e}")))?;
        if key.primary_key.version() != KeyVersion::V4 {
            return Err(invalid(format!(
                "only v4 keys are supported, this one is {:?}",
                key.primary_key.version()
            )));
        }
        key.verify_bindings()
            .map_err(|e| invalid(format!("its self-signatures do not verify: {e}")))?;
        let signer = choose_signer(&key);
        let password = passphrase
            .map(|p| Password::from(p.expose()))
            .unwrap_or_else(Password::empty);
        let (encrypted, unlocked) = match signer {
            Signer::Primary => (
                key.primary_key.secret_params().is_encrypted(),
                key.primary_key.remove_password(&password),
            ),
            Signer::Subkey(i) => match key.secret_subkeys.get_mut(i) {
                Some(sub) => (
                    sub.key.secret_params().is_encrypted(),
                    sub.key.remove_password(&password),
                ),
                None => return Err(invalid("the signing subkey disappeared")),
            },
        };
        if unlocked.is_err() {
            return Err(invalid(match (encrypted, passphrase) {
                (true, None) => "the key is protected by a passphrase and none was given",
                (true, Some(_)) => "the passphrase does not unlock the key",
                (false, _) => "the secret key material is damaged",
            }));
        }
        Ok(OpenPgpSigningKey {
            key: Box::new(key),
            signer,
        })
    }

    /// The fingerprint of the key that signs (upper-case hex), as `gpg --list-keys` shows it.
    pub fn fingerprint(&self) -> String {
        match self.signer {
            Signer::Subkey(i) => match self.key.secret_subkeys.get(i) {
                Some(sub) => format!("{:X}", sub.key.fingerprint()),
                None => format!("{:X}", self.key.primary_key.fingerprint()),
            },
            Signer::Primary => format!("{:X}", self.key.primary_key.fingerprint()),
        }
    }

    /// The armored detached signature of `data`.
    fn sign(&self, data: &[u8], time: i64) -> Result<String, GitError> {
        let time = u32::try_from(time)
            .map_err(|_| invalid(format!("commit time {time} is outside OpenPGP's range")))?;
        match self.signer {
            Signer::Primary => sign_with(&self.key.primary_key, data, time),
            Signer::Subkey(i) => match self.key.secret_subkeys.get(i) {
                Some(sub) => sign_with(&sub.key, data, time),
                None => Err(invalid("the signing subkey disappeared")),
            },
        }
    }
}

/// The newest subkey whose latest binding grants signing and that is not revoked; else primary.
fn choose_signer(key: &SignedSecretKey) -> Signer {
    let mut best: Option<(u32, usize)> = None;
    for (i, sub) in key.secret_subkeys.iter().enumerate() {
        let revoked = sub
            .signatures
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
        let binding = sub
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
            .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0));
        let can_sign = binding.is_some_and(|b| b.key_flags().sign());
        if revoked || !can_sign {
            continue;
        }
        let created = sub.key.created_at().as_secs();
        if best.is_none_or(|(t, _)| created >= t) {
            best = Some((created, i));
        }
    }
    best.map_or(Signer::Primary, |(_, i)| Signer::Subkey(i))
}

fn sign_with<K: PgpSigningKey>(key: &K, data: &[u8], time: u32) -> Result<String, GitError> {
    // gpg refuses a signature made before its key existed ("public key is N days newer than the
    // signature"); a commit time before the key's birth (a promotion started before the key was
    // rotated) is signed at the key's creation instead. Both are fixed, so the result still is.
    let time = time.max(key.created_at().as_secs());
    let mut config = SignatureConfig::v4(SignatureType::Binary, key.algorithm(), key.hash_alg());
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())).map_err(invalid)?,
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
            time,
        )))
        .map_err(invalid)?,
    ];
    config.unhashed_subpackets =
        vec![Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id())).map_err(invalid)?];
    let signature = config
        .sign(key, &Password::empty(), data)
        .map_err(|e| invalid(format!("signing the commit: {e}")))?;
    DetachedSignature::new(signature)
        .to_armored_string(ArmorOptions::default())
        .map_err(|e| invalid(format!("encoding the signature: {e}")))
}
