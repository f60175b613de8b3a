//! OpenPGP-signed promotion commits, checked by git and GnuPG themselves: keys are made and
//! exported by `gpg`, commits are signed by Sealift (rPGP) and `git verify-commit` runs gpg against
//! a keyring that holds only the public key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod git_support;

use git_support::{bump, creds, fixture, request};
use git2::Oid;
use sealift_gitops::{
    CommitMeta, FileChange, GitError, Identity, OpenPgpSigningKey, PushOutcome, PushTarget,
    SecretString, commit_and_push, commit_changes,
};
use sealift_testrig::git::commit_files;
use std::path::Path;
use std::process::{Command, Output};

const UID: &str = "Sealift <sealift@example.com>";

/// A private GnuPG home. gpg starts an agent for secret-key work; it is stopped on drop.
struct GnuPg {
    home: tempfile::TempDir,
}

impl GnuPg {
    fn new() -> GnuPg {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        // gpg calibrates the passphrase hashing (S2K) to ~100 ms of optimised C; unoptimised test
        // builds of rPGP would spend seconds on it. The minimum keeps the tests quick.
        std::fs::write(home.path().join("gpg-agent.conf"), "s2k-count 65536\n").unwrap();
        GnuPg { home }
    }

    fn gpg(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gpg must be installed (scripts/install-rig.sh installs gnupg)");
        let mut input = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            input.write_all(data).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new key for `UID`: `algo` and `usage` as `gpg --quick-gen-key` takes them.
    fn generate(&self, algo: &str, usage: &str, passphrase: &str) -> String {
        self.gpg(
            &[
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                UID,
                algo,
                usage,
                "never",
            ],
            None,
        );
        self.fingerprints().remove(0)
    }

    /// Fingerprints of the primary key, then of each subkey.
    fn fingerprints(&self) -> Vec<String> {
        self.gpg(&["--with-colons", "--list-keys", UID], None)
            .lines()
            .filter_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .collect()
    }

    fn secret_key(&self, passphrase: &str) -> String {
        self.gpg(
            &[
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                UID,
            ],
            None,
        )
    }

    fn public_key(&self) -> String {
        self.gpg(&["--armor", "--export", UID], None)
    }

    /// `git verify-commit` with this home as gpg's keyring.
    fn verify_commit(&self, repo: &Path, commit: Oid) -> Output {
        Command::new("git")
            .arg("--git-dir")
            .arg(repo)
            .env("GNUPGHOME", self.home.path())
            .args(["verify-commit", &commit.to_string()])
            .output()
            .unwrap()
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        // Stops only the agent of this home (gpg started it for this test).
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// A keyring that trusts nothing but holds `public`.
fn verifier(public: &str) -> GnuPg {
    let v = GnuPg::new();
    v.gpg(&["--import"], Some(public.as_bytes()));
    v
}

#[test]
fn an_openpgp_signed_promotion_commit_verifies_with_git_and_gnupg() {
    let signer = GnuPg::new();
    let fingerprint = signer.generate("ed25519", "sign", "correct horse");
    let key = OpenPgpSigningKey::from_armored(
        &signer.secret_key("correct horse"),
        Some(&SecretString::new("correct horse")),
    )
    .unwrap();
    assert_eq!(key.fingerprint(), fingerprint);

    let f = fixture();
    let c = creds(&f.server);
    let mut req = request(PushTarget::PromotionBranch("sealift/ns/pgp".into()), &c);
    req.meta.signing_key = Some(key.into());
    let first = commit_and_push(&mut f.cache.open(&f.repo.url).unwrap(), &req, &mut bump).unwrap();
    let PushOutcome::Pushed { commit, .. } = first.clone() else {
        panic!("{first:?}")
    };

    // The commit on the server carries a PGP signature that gpg, via git, accepts.
    let raw = git_support::git(&f.repo.path, &["cat-file", "commit", &commit.to_string()]);
    assert!(
        raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----\n"),
        "{raw}"
    );
    let v = verifier(&signer.public_key());
    let out = v.verify_commit(&f.repo.path, commit);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("Good signature from \"{UID}\"")),
        "{said}"
    );
    assert!(said.contains(&fingerprint), "{said}");

    // A keyring holding another key does not accept it.
    let other = GnuPg::new();
    other.generate("ed25519", "sign", "");
    let out = verifier(&other.public_key()).verify_commit(&f.repo.path, commit);
    assert!(!out.status.success());

    // The signature time is the commit time and Ed25519 is deterministic: a resumed promotion
    // pushes the identical commit.
    let again = commit_and_push(&mut f.cache.open(&f.repo.url).unwrap(), &req, &mut bump).unwrap();
    assert_eq!(again, first);
}

fn signed_commit(repo: &Path, key: OpenPgpSigningKey) -> Oid {
    git2::Repository::init_bare(repo).unwrap();
    let base = commit_files(repo, "main", &[("a.yaml", b"a: 1\n")], "base").unwrap();
    let r = git2::Repository::open_bare(repo).unwrap();
    let meta = CommitMeta {
        identity: Identity {
            name: "Sealift".into(),
            email: "sealift@example.com".into(),
        },
        time: 1_790_000_000,
        message: "signed\n".into(),
        signing_key: Some(key.into()),
    };
    let change = FileChange {
        path: "a.yaml".into(),
        content: b"a: 2\n".to_vec(),
    };
    commit_changes(&r, base, &[change], &meta).unwrap()
}

#[test]
fn the_newest_signing_subkey_signs_and_rsa_keys_work_too() {
    // A certification-only primary key with a signing subkey, as many people keep theirs.
    let signer = GnuPg::new();
    let primary = signer.generate("ed25519", "cert", "");
    signer.gpg(
        &[
            "--passphrase",
            "",
            "--quick-add-key",
            &primary,
            "ed25519",
            "sign",
            "never",
        ],
        None,
    );
    let fingerprints = signer.fingerprints();
    assert_eq!(fingerprints.len(), 2, "{fingerprints:?}");
    let key = OpenPgpSigningKey::from_armored(&signer.secret_key(""), None).unwrap();
    assert_eq!(key.fingerprint(), fingerprints[1], "the subkey signs");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("r.git");
    let commit = signed_commit(&repo, key);
    let out = verifier(&signer.public_key()).verify_commit(&repo, commit);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&fingerprints[1]), "{said}");

    let rsa = GnuPg::new();
    rsa.generate("rsa2048", "sign", "");
    let key = OpenPgpSigningKey::from_armored(&rsa.secret_key(""), None).unwrap();
    let repo = dir.path().join("rsa.git");
    let commit = signed_commit(&repo, key);
    let out = verifier(&rsa.public_key()).verify_commit(&repo, commit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_wrong_passphrase_or_a_garbled_key_is_a_clear_error_that_shows_no_secret() {
    let signer = GnuPg::new();
    signer.generate("ed25519", "sign", "s3cret-pass");
    let armored = signer.secret_key("s3cret-pass");
    let reason = |r: Result<OpenPgpSigningKey, GitError>| match r {
        Err(e @ GitError::InvalidCredentials(_)) => {
            assert_eq!(e.category(), "InvalidCredentials");
            assert!(!e.is_transient());
            e.to_string()
        }
        other => panic!("{other:?}"),
    };

    let none = reason(OpenPgpSigningKey::from_armored(&armored, None));
    assert!(none.contains("protected by a passphrase"), "{none}");
    let wrong = reason(OpenPgpSigningKey::from_armored(
        &armored,
        Some(&SecretString::new("not-it")),
    ));
    assert!(wrong.contains("passphrase does not unlock"), "{wrong}");

    // One character of the key material changed, or half the block missing.
    let lines: Vec<&str> = armored.lines().collect();
    let mid = lines.len() / 2;
    let flipped: String = lines[mid]
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    let mut garbled = lines.clone();
    garbled[mid] = &flipped;
    let garbled = garbled.join("\n");
    let g = reason(OpenPgpSigningKey::from_armored(
        &garbled,
        Some(&SecretString::new("s3cret-pass")),
    ));
    assert!(
        g.starts_with("invalid git credentials: OpenPGP signing key:"),
        "{g}"
    );
    let truncated = lines[..mid].join("\n");
    reason(OpenPgpSigningKey::from_armored(&truncated, None));

    let public = reason(OpenPgpSigningKey::from_armored(&signer.public_key(), None));
    assert!(
        public.contains("expected an armored secret key"),
        "{public}"
    );
    let ssh = reason(OpenPgpSigningKey::from_armored(
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        None,
    ));
    assert!(ssh.contains("expected an armored secret key"), "{ssh}");

    for shown in [&none, &wrong, &g, &public] {
        assert!(
            !shown.contains("s3cret-pass") && !shown.contains(lines[mid]),
            "{shown}"
        );
    }
    let key =
        OpenPgpSigningKey::from_armored(&armored, Some(&SecretString::new("s3cret-pass"))).unwrap();
    let debug = format!(
        "{key:?} {:?}",
        sealift_gitops::SigningKey::from(key.clone())
    );
    assert!(
        !debug.contains("PRIVATE") && !debug.contains("s3cret"),
        "{debug}"
    );
    assert!(debug.contains(&key.fingerprint()), "{debug}");
}

#[test]
fn a_secret_names_its_signing_key_by_header_and_unlocks_it_with_its_passphrase() {
    use sealift_gitops::SigningKey;
    use std::collections::BTreeMap;
    let signer = GnuPg::new();
    signer.generate("ed25519", "sign", "s3cret-pass");
    let armored = signer.secret_key("s3cret-pass");
    let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    };

    // An OpenPGP key with its passphrase: the same key as parsed directly.
    let key = SigningKey::from_secret_data(&data(&[
        ("signingKey", armored.as_str()),
        ("signingKeyPassphrase", "s3cret-pass"),
        ("token", "unrelated"),
    ]))
    .unwrap();
    let direct =
        OpenPgpSigningKey::from_armored(&armored, Some(&SecretString::new("s3cret-pass"))).unwrap();
    assert!(
        matches!(&key, Some(SigningKey::OpenPgp(k)) if k.fingerprint() == direct.fingerprint()),
        "{key:?}"
    );
    // No signingKey: unsigned. Wrong passphrase, a passphrase alone, or text that is no key: errors
    // that show neither the key nor the passphrase.
    assert!(
        SigningKey::from_secret_data(&data(&[("token", "t")]))
            .unwrap()
            .is_none()
    );
    for bad in [
        data(&[
            ("signingKey", armored.as_str()),
            ("signingKeyPassphrase", "not-it"),
        ]),
        data(&[("signingKeyPassphrase", "s3cret-pass")]),
        data(&[("signingKey", "s3cret-pass is not a key")]),
    ] {
        let err = SigningKey::from_secret_data(&bad).unwrap_err();
        assert!(matches!(err, GitError::InvalidCredentials(_)), "{err:?}");
        let shown = err.to_string();
        assert!(
            !shown.contains("s3cret") && !shown.contains("not-it"),
            "{shown}"
        );
    }
}
