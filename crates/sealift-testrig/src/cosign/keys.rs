//! Signing keys and a Fulcio-style certificate authority.

use super::now;
use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SigningKey as _,
};
use sha2::{Digest, Sha256};

/// A signing key: ECDSA P-256 (cosign's default), P-384, Ed25519 or RSA-2048.
pub struct Key(KeyPair);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A fresh ECDSA P-256 key (what `cosign generate-key-pair` makes).
    pub fn p256() -> Result<Key> {
        Ok(Key(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?))
    }

    /// A fresh ECDSA P-384 key.
    pub fn p384() -> Result<Key> {
        Ok(Key(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?))
    }

    /// A fresh Ed25519 key.
    pub fn ed25519() -> Result<Key> {
        Ok(Key(KeyPair::generate_for(&rcgen::PKCS_ED25519)?))
    }

    /// A fresh RSA-2048 key (PKCS#1 v1.5, SHA-256).
    pub fn rsa() -> Result<Key> {
        Ok(Key(KeyPair::generate_rsa_for(
            &rcgen::PKCS_RSA_SHA256,
            rcgen::RsaKeySize::_2048,
        )?))
    }

    /// The public key as PEM (`cosign.pub`).
    pub fn public_pem(&self) -> String {
        self.0.public_key_pem()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }

    /// `sha256:<hex>` of the SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.spki_der())))
    }

    /// Signs `msg` (ECDSA signatures are ASN.1 DER, as cosign's).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0.sign(msg)?)
    }
}

/// A Fulcio-style certificate authority (a root, optionally with an intermediate).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The root certificate (DER).
    pub root_der: Vec<u8>,
    /// Leaf-most first, root last, as in `trusted_root.json`.
    pub chain_der: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("chain_len", &self.chain_der.len())
            .finish_non_exhaustive()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "sealift.test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    p
}

impl TestCa {
    /// A self-signed root (ECDSA P-384, like Fulcio's) that issues the leaves itself.
    pub fn new(cn: &str) -> Result<TestCa> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
        let params = ca_params(cn);
        let root = params.self_signed(&key)?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            root_der: root.der().to_vec(),
            chain_der: vec![root.der().to_vec()],
        })
    }

    /// A root and an intermediate that issues the leaves (like Fulcio's `sigstore-intermediate`).
    pub fn with_intermediate(cn: &str) -> Result<TestCa> {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
        let root_params = ca_params(cn);
        let root = root_params.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
        let mut inter_params = ca_params(&format!("{cn}-intermediate"));
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let inter = inter_params.signed_by(&inter_key, &root_issuer)?;
        Ok(TestCa {
            issuer: Issuer::new(inter_params, inter_key),
            root_der: root.der().to_vec(),
            chain_der: vec![inter.der().to_vec(), root.der().to_vec()],
        })
    }

    /// A Fulcio-style leaf (PEM) for `subject` (a URI, or an e-mail when it contains `@` and no
    /// `://`), with both OIDC-issuer extensions, valid `[not_before, not_after]` (Unix seconds).
    pub fn issue(
        &self,
        subject: &str,
        oidc_issuer: &str,
        key: &Key,
        not_before: i64,
        not_after: i64,
    ) -> Result<String> {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.subject_alt_names = vec![if subject.contains("://") || !subject.contains('@') {
            SanType::URI(subject.try_into()?)
        } else {
            SanType::Rfc822Name(subject.try_into()?)
        }];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.not_before = time::OffsetDateTime::from_unix_timestamp(not_before)?;
        p.not_after = time::OffsetDateTime::from_unix_timestamp(not_after)?;
        p.use_authority_key_identifier_extension = true;
        // 1.3.6.1.4.1.57264.1.1: the issuer as raw bytes (v1); .1.8: as a DER UTF8String (v2).
        let len = u8::try_from(oidc_issuer.len())
            .ok()
            .filter(|l| *l < 0x80)
            .ok_or_else(|| anyhow!("OIDC issuer longer than 127 bytes: {oidc_issuer}"))?;
        let mut v2 = vec![0x0c, len];
        v2.extend_from_slice(oidc_issuer.as_bytes());
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                oidc_issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], v2),
        ];
        Ok(p.signed_by(&key.0, &self.issuer)
            .context("issuing a leaf certificate")?
            .pem())
    }

    /// A leaf valid for ten minutes around now, like Fulcio's.
    pub fn issue_now(&self, subject: &str, oidc_issuer: &str, key: &Key) -> Result<String> {
        self.issue(subject, oidc_issuer, key, now() - 300, now() + 300)
    }

    /// PEM of the chain, leaf-most first (for the `dev.sigstore.cosign/chain` annotation).
    pub fn chain_pem(&self) -> String {
        self.chain_der
            .iter()
            .map(|d| pem_encode("CERTIFICATE", d))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// PEM-encodes `der` under `label` (64-column base64 lines).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
