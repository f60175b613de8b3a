//! Fulcio-style signing certificates: the public key, the subject (SAN) and the OIDC issuer
//! extension, and public keys of key-based authorities.

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use sha2::{Digest, Sha256};
use sigstore::crypto::CosignVerificationKey;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

/// Fulcio's OIDC issuer extension, v1: the raw issuer string (deprecated, still emitted).
const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, v2: a DER `UTF8String`.
const OIDC_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// `id-kp-codeSigning`: Fulcio leaves carry it.
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// A parsed leaf certificate.
#[derive(Debug)]
pub(crate) struct LeafCertificate {
    /// The DER bytes.
    pub(crate) der: Vec<u8>,
    /// The certificate's public key.
    pub(crate) key: CosignVerificationKey,
    /// The SAN: URI, e-mail, or Fulcio's `otherName` username.
    pub(crate) subject: Option<String>,
    /// The OIDC issuer extension.
    pub(crate) issuer: Option<String>,
    /// Whether the extended key usage includes code signing.
    pub(crate) code_signing: bool,
}

/// Parses the first certificate of a PEM document.
pub(crate) fn parse_leaf_pem(pem: &[u8]) -> Result<LeafCertificate, String> {
    let der = CertificateDer::from_pem_slice(pem)
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    parse_leaf_der(der.as_ref())
}

/// Parses a DER certificate.
pub(crate) fn parse_leaf_der(der: &[u8]) -> Result<LeafCertificate, String> {
    let cert =
        Certificate::from_der(der).map_err(|e| format!("the certificate is not X.509: {e}"))?;
    let tbs = cert.tbs_certificate();
    let key = CosignVerificationKey::try_from(tbs.subject_public_key_info())
        .map_err(|e| format!("the certificate's key is unsupported: {e}"))?;
    let mut subject = None;
    if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
        for name in &san.0 {
            let value = match name {
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                GeneralName::Rfc822Name(email) => Some(email.to_string()),
                GeneralName::OtherName(other) => other
                    .value
                    .decode_as::<Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.as_str().to_owned()),
                _ => None,
            };
            if value.is_some() {
                subject = value;
                break;
            }
        }
    }
    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    for ext in tbs.extensions().into_iter().flatten() {
        if ext.extn_id == OIDC_ISSUER_V2 {
            issuer_v2 = Utf8StringRef::from_der(ext.extn_value.as_bytes())
                .ok()
                .map(|s| s.as_str().to_owned());
        } else if ext.extn_id == OIDC_ISSUER_V1 {
            issuer_v1 = String::from_utf8(ext.extn_value.as_bytes().to_vec()).ok();
        }
    }
    let code_signing = matches!(
        tbs.get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, eku))) if eku.0.contains(&CODE_SIGNING)
    );
    Ok(LeafCertificate {
        code_signing,
        der: der.to_vec(),
        key,
        subject,
        issuer: issuer_v2.or(issuer_v1),
    })
}

/// Parses every certificate of a PEM chain (`dev.sigstore.cosign/chain`).
pub(crate) fn parse_chain_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map_err(|e| format!("the certificate chain is not PEM: {e}")))
        .collect()
}

/// A public key of a key-based authority.
#[derive(Debug)]
pub(crate) struct PublicKey {
    /// DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
    /// The verification key (ECDSA P-256/P-384, Ed25519, RSA).
    pub(crate) key: CosignVerificationKey,
    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo.
    pub(crate) fingerprint: String,
}

/// Parses a PEM public key (`-----BEGIN PUBLIC KEY-----`).
pub(crate) fn parse_public_key(pem: &[u8]) -> Result<PublicKey, String> {
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem)
        .map_err(|_| "not a PEM public key (`-----BEGIN PUBLIC KEY-----`)".to_owned())?;
    let key = CosignVerificationKey::try_from_der(spki.as_ref())
        .map_err(|e| format!("unsupported public key: {e}"))?;
    Ok(PublicKey {
        fingerprint: format!("sha256:{}", hex::encode(Sha256::digest(spki.as_ref()))),
        spki: spki.as_ref().to_vec(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_key_or_a_certificate() {
        assert!(
            parse_public_key(b"hello")
                .unwrap_err()
                .contains("PEM public key")
        );
        assert!(parse_leaf_pem(b"hello").unwrap_err().contains("not PEM"));
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            parse_leaf_pem(bogus.as_bytes())
                .unwrap_err()
                .contains("X.509")
        );
    }
}
